//! `secrets`: only the names the operator listed for this plugin (resolved at load).

use super::Ctx;
use crate::plugins::bindings::gatehouse::plugin::secrets::Host;

impl Host for Ctx {
    fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        Ok(self.grants.secrets.iter().find(|(n, _)| *n == name).map(|(_, s)| s.expose().to_owned()))
    }
}
