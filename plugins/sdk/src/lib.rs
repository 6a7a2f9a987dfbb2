//! Write Gatehouse plugins in Rust.
//!
//! A policy plugin is a type that implements [`Policy`], exported with [`export_policy!`]:
//!
//! ```ignore
//! use gatehouse_plugin::policy::{Decision, Policy, PolicyInput};
//!
//! struct OnlyStaff;
//!
//! impl Policy for OnlyStaff {
//!     fn evaluate(input: PolicyInput) -> Decision {
//!         match input.subject {
//!             Some(s) if s.groups.iter().any(|g| g == "staff") => Decision::allow(),
//!             Some(_) => Decision::deny("not staff"),
//!             None => Decision::allow(), // a client acting for itself
//!         }
//!     }
//! }
//!
//! gatehouse_plugin::export_policy!(OnlyStaff);
//! ```
//!
//! Build with `cargo build --release --target wasm32-wasip2`; the `.wasm` file in
//! `target/wasm32-wasip2/release/` is the component the operator enables. The host calls
//! every export with a fresh instance: keep no state between calls. Only what you call ends
//! up imported by the component, so a plugin that never calls [`http`] or [`secrets`] needs
//! no grant for them.
//!
//! Modules: [`policy`] (the trait and its types), [`login_step`] (steps in the browser
//! sign-in), [`notifier`] (email, SMS, webhooks), [`connector`] (identity-provider
//! connectors), [`config`] (the operator's `[plugins.config]` table), [`log`], [`http`]
//! (outbound requests to `allowed_hosts`), [`secrets`], [`kv`] (the plugin's own key-value
//! store).

// The generated code names the SDK by its crate name, also from inside the SDK.
extern crate self as gatehouse_plugin;

// wit-bindgen's generated glue (and the export macros that expand it in plugin crates)
// is `unsafe` FFI between the component ABI and Rust; nothing else in the SDK is.
#[allow(unsafe_code, reason = "wit-bindgen generated ABI glue")]
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gatehouse:plugin/policy-plugin-net@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_policy_world",
        default_bindings_module: "gatehouse_plugin::bindings",
        runtime_path: "gatehouse_plugin::__private::wit_bindgen::rt",
    });
}

/// The `idp-connector` world; shares the imported interfaces with [`bindings`].
#[allow(unsafe_code, reason = "wit-bindgen generated ABI glue")]
#[doc(hidden)]
pub mod connector_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gatehouse:plugin/idp-connector@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_connector_world",
        default_bindings_module: "gatehouse_plugin::connector_bindings",
        runtime_path: "gatehouse_plugin::__private::wit_bindgen::rt",
        with: {
            "gatehouse:plugin/types@0.1.0": crate::bindings::gatehouse::plugin::types,
            "gatehouse:plugin/log@0.1.0": crate::bindings::gatehouse::plugin::log,
            "gatehouse:plugin/config@0.1.0": crate::bindings::gatehouse::plugin::config,
            "gatehouse:plugin/secrets@0.1.0": crate::bindings::gatehouse::plugin::secrets,
            "gatehouse:plugin/http@0.1.0": crate::bindings::gatehouse::plugin::http,
        },
    });
}

/// The `login-step-plugin` world; shares the imported interfaces with [`bindings`].
#[allow(unsafe_code, reason = "wit-bindgen generated ABI glue")]
#[doc(hidden)]
pub mod login_step_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gatehouse:plugin/login-step-plugin@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_login_step_world",
        default_bindings_module: "gatehouse_plugin::login_step_bindings",
        runtime_path: "gatehouse_plugin::__private::wit_bindgen::rt",
        with: {
            "gatehouse:plugin/types@0.1.0": crate::bindings::gatehouse::plugin::types,
            "gatehouse:plugin/log@0.1.0": crate::bindings::gatehouse::plugin::log,
            "gatehouse:plugin/config@0.1.0": crate::bindings::gatehouse::plugin::config,
            "gatehouse:plugin/secrets@0.1.0": crate::bindings::gatehouse::plugin::secrets,
            "gatehouse:plugin/http@0.1.0": crate::bindings::gatehouse::plugin::http,
            "gatehouse:plugin/kv-store@0.1.0": crate::bindings::gatehouse::plugin::kv_store,
        },
    });
}

/// The `notifier-plugin` world; shares the imported interfaces with [`bindings`].
#[allow(unsafe_code, reason = "wit-bindgen generated ABI glue")]
#[doc(hidden)]
pub mod notifier_bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gatehouse:plugin/notifier-plugin@0.1.0",
        pub_export_macro: true,
        export_macro_name: "__export_notifier_world",
        default_bindings_module: "gatehouse_plugin::notifier_bindings",
        runtime_path: "gatehouse_plugin::__private::wit_bindgen::rt",
        with: {
            "gatehouse:plugin/types@0.1.0": crate::bindings::gatehouse::plugin::types,
            "gatehouse:plugin/log@0.1.0": crate::bindings::gatehouse::plugin::log,
            "gatehouse:plugin/config@0.1.0": crate::bindings::gatehouse::plugin::config,
            "gatehouse:plugin/secrets@0.1.0": crate::bindings::gatehouse::plugin::secrets,
            "gatehouse:plugin/http@0.1.0": crate::bindings::gatehouse::plugin::http,
        },
    });
}

pub mod config;
pub mod connector;
pub mod http;
pub mod kv;
pub mod log;
pub mod login_step;
pub mod notifier;
pub mod policy;
pub mod secrets;

pub use policy::{Decision, Policy, PolicyInput};

/// Re-exports used by the macros; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;
}
