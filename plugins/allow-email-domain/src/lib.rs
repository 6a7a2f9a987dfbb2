//! Lets in only users whose email address is in one of the allowed domains.
//!
//! ```toml
//! [[plugins]]
//! name = "email-domain"
//! kind = "policy"
//! path = "plugins/target/wasm32-wasip2/release/allow_email_domain.wasm"
//! [plugins.config]
//! allowed_email_domain = "example.com"        # or allowed_email_domains = ["a.com", "b.org"]
//! require_verified = false                    # deny unverified addresses when true
//! ```
//!
//! Clients acting for themselves (client_credentials, no user) are not affected.

use gatehouse_plugin::config;
use gatehouse_plugin::policy::{Decision, Policy, PolicyInput};

struct AllowEmailDomain;

impl Policy for AllowEmailDomain {
    fn evaluate(input: PolicyInput) -> Decision {
        let Some(subject) = input.subject.as_ref() else { return Decision::allow() };
        let domains = match allowed_domains() {
            Ok(d) if !d.is_empty() => d,
            Ok(_) => return Decision::deny("allowed_email_domain is not configured"),
            Err(e) => return Decision::deny(e),
        };
        let Some(domain) = subject.email_domain() else {
            return Decision::deny("the user has no email address");
        };
        if !domains.contains(&domain) {
            return Decision::deny(format!("email domain {domain} is not allowed"));
        }
        let require_verified = config::get_as::<bool>("require_verified").ok().flatten().unwrap_or(false);
        if require_verified && !subject.email_verified {
            return Decision::deny("the email address is not verified");
        }
        Decision::allow()
    }
}

/// `allowed_email_domain` (one) and `allowed_email_domains` (a list), lower-cased.
fn allowed_domains() -> Result<Vec<String>, String> {
    let mut out: Vec<String> = config::get("allowed_email_domain").into_iter().collect();
    if let Some(list) = config::get_as::<Vec<String>>("allowed_email_domains")? {
        out.extend(list);
    }
    Ok(out.into_iter().map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase()).collect())
}

gatehouse_plugin::export_policy!(AllowEmailDomain);
