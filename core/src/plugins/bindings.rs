//! The one `bindgen!` over `wit/`: Rust types and traits for the plugin contract. These types
//! never leave `plugins/` (`convert.rs` turns them into domain types).
//!
//! The host binds `policy-plugin-net`, the policy world with the most imports; a component
//! of the smaller `policy-plugin` world instantiates against it too, and `registry.rs`
//! refuses a component whose `http`/`secrets` imports the operator did not grant.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "gatehouse:plugin/policy-plugin-net",
    imports: {
        "gatehouse:plugin/http.fetch": async,
        // The store is async (a shared database answers over the network).
        "gatehouse:plugin/kv-store.get": async | trappable,
        "gatehouse:plugin/kv-store.set": async | trappable,
        "gatehouse:plugin/kv-store.delete": async | trappable,
        "gatehouse:plugin/kv-store.incr": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

/// The package version every world is checked against at load.
pub(crate) const WIT_VERSION: &str = "0.1.0";

/// The interface a policy component must export.
pub(crate) const POLICY_EXPORT: &str = "gatehouse:plugin/policy@0.1.0";

/// Imports that need a grant, by interface name.
pub(crate) const HTTP_IMPORT: &str = "gatehouse:plugin/http@0.1.0";
/// See [`HTTP_IMPORT`].
pub(crate) const SECRETS_IMPORT: &str = "gatehouse:plugin/secrets@0.1.0";

/// The `idp-connector` world: shares the imported interfaces (and their host
/// implementations) with the policy bindings above; adds `jwt`.
pub(crate) mod connector_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gatehouse:plugin/idp-connector",
        imports: {
            "gatehouse:plugin/jwt.verify": async,
            default: trappable,
        },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::gatehouse::plugin::log,
            "gatehouse:plugin/config": super::gatehouse::plugin::config,
            "gatehouse:plugin/secrets": super::gatehouse::plugin::secrets,
            "gatehouse:plugin/http": super::gatehouse::plugin::http,
        },
    });
}

/// The interface a connector component must export.
pub(crate) const CONNECTOR_EXPORT: &str = "gatehouse:plugin/connector@0.1.0";
/// Needs `allowed_hosts` (the JWKS is fetched through the plugin's HTTP grant).
pub(crate) const JWT_IMPORT: &str = "gatehouse:plugin/jwt@0.1.0";

/// The `login-step-plugin` world: the shared interfaces, plus `kv-store`.
pub(crate) mod login_step_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gatehouse:plugin/login-step-plugin",
        imports: {
            default: trappable,
        },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::gatehouse::plugin::log,
            "gatehouse:plugin/config": super::gatehouse::plugin::config,
            "gatehouse:plugin/secrets": super::gatehouse::plugin::secrets,
            "gatehouse:plugin/http": super::gatehouse::plugin::http,
            "gatehouse:plugin/kv-store": super::gatehouse::plugin::kv_store,
        },
    });
}

/// The interface a login-step component must export.
pub(crate) const LOGIN_STEP_EXPORT: &str = "gatehouse:plugin/login-step@0.1.0";

/// The `notifier-plugin` world: the shared interfaces only.
pub(crate) mod notifier_world {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "gatehouse:plugin/notifier-plugin",
        imports: {
            default: trappable,
        },
        exports: { default: async },
        with: {
            "gatehouse:plugin/types": super::gatehouse::plugin::types,
            "gatehouse:plugin/log": super::gatehouse::plugin::log,
            "gatehouse:plugin/config": super::gatehouse::plugin::config,
            "gatehouse:plugin/secrets": super::gatehouse::plugin::secrets,
            "gatehouse:plugin/http": super::gatehouse::plugin::http,
        },
    });
}

/// The interface a notifier component must export.
pub(crate) const NOTIFIER_EXPORT: &str = "gatehouse:plugin/notifier@0.1.0";
