//! Asks for a second factor before sensitive access: when a request names one of the
//! configured scopes or comes from one of the configured clients and the person signed in
//! with one factor, the decision is a step-up (`otp`). In a browser sign-in Gatehouse then
//! asks for the code (or has the person set up an authenticator app) and goes on; at the
//! token endpoint (a refresh asking for such a scope) the client gets
//! `interaction_required` and sends the person through `/authorize` again. With `methods =
//! ["pop"]` only a passkey will do: a sign-in without one is asked for the person's passkey
//! (and denied when they have none).
//!
//! ```toml
//! [[plugins]]
//! name = "mfa-for-payments"
//! kind = "policy"
//! path = "plugins/target/wasm32-wasip2/release/require_mfa.wasm"
//! [plugins.config]
//! scopes = ["payments"]      # any of these requested: two factors needed
//! clients = ["treasury"]     # any request of these clients: two factors needed
//! methods = ["otp"]          # what satisfies it (RFC 8176): "otp" (any second factor), "pop" (a passkey)
//! ```
//!
//! Clients acting for themselves (client_credentials, no user) are not affected.

use gatehouse_plugin::config;
use gatehouse_plugin::policy::{Decision, Policy, PolicyInput};

struct RequireMfa;

impl Policy for RequireMfa {
    fn evaluate(input: PolicyInput) -> Decision {
        let Some(subject) = input.subject.as_ref() else { return Decision::allow() };
        let list = |key: &str| config::get_as::<Vec<String>>(key).map(Option::unwrap_or_default);
        let (scopes, clients, methods) = match (list("scopes"), list("clients"), list("methods")) {
            (Ok(s), Ok(c), Ok(m)) => (s, c, if m.is_empty() { vec!["otp".to_owned()] } else { m }),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return Decision::deny(e),
        };
        let sensitive = scopes.iter().any(|s| input.requests_scope(s)) || clients.contains(&input.client_id);
        // "otp" and "mfa" ask for any second factor, which `mfa` in amr shows; other
        // methods (`pop`) must appear themselves.
        let any_factor = methods.iter().any(|m| m == "otp" || m == "mfa");
        let met = subject.amr.iter().any(|a| methods.contains(a) || (any_factor && a == "mfa"));
        if sensitive && !met {
            return Decision::step_up(methods.iter().map(String::as_str));
        }
        Decision::allow()
    }
}

gatehouse_plugin::export_policy!(RequireMfa);
