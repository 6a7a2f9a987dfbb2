//! Secrets the operator granted by name (`secrets = ["NAME"]` in the plugin's config). A
//! plugin that calls this needs that grant or it is refused at load.

/// The secret's value; `None` when it was not granted or is not set.
pub fn get(name: &str) -> Option<String> {
    crate::bindings::gatehouse::plugin::secrets::get(name)
}
