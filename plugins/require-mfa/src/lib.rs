//! Asks for a second factor before sensitive access: when a request names one of the
//! configured scopes or comes from one of the configured clients and the person signed in
//! with one factor, the decision is a step-up (`otp`). In a browser sign-in Gatehouse then
//! asks for the code (or has the person set up an authenticator app) and goes on; at the
//! token endpoint (a refresh asking for such a scope) the client gets
//! `interaction_required` and sends the person through `/authorize` again.
//!
//! ```toml
//! [[plugins]]
//! name = "mfa-for-payments"
//! kind = "policy"
//! path = "plugins/target/wasm32-wasip2/release/require_mfa.wasm"
//! [plugins.config]
//! scopes = ["payments"]      # any of these requested: two factors needed
//! clients = ["treasury"]     # any request of these clients: two factors needed
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
        let (scopes, clients) = match (list("scopes"), list("clients")) {
            (Ok(s), Ok(c)) => (s, c),
            (Err(e), _) | (_, Err(e)) => return Decision::deny(e),
        };
        let sensitive = scopes.iter().any(|s| input.requests_scope(s)) || clients.contains(&input.client_id);
        if sensitive && !subject.amr.iter().any(|m| m == "mfa") {
            return Decision::step_up(["otp"]);
        }
        Decision::allow()
    }
}

gatehouse_plugin::export_policy!(RequireMfa);
