//! `config`: the plugin's own `[plugins.config]` table, nothing else.

use super::Ctx;
use crate::plugins::bindings::gatehouse::plugin::config::Host;

impl Host for Ctx {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.grants.config.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()))
    }

    fn get_all(&mut self) -> wasmtime::Result<String> {
        Ok(self.grants.config_json.clone())
    }
}
