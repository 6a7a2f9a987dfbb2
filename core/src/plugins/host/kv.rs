//! `kv-store`: the plugin's own namespace (its name) in the host's store, with a TTL on every
//! key and a quota (`store/plugin_kv.rs` has the rules). No grant is needed: a plugin only
//! ever sees its own keys.

use super::Ctx;
use crate::plugins::bindings::gatehouse::plugin::kv_store::Host;

impl Host for Ctx {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        let Some(store) = self.kv() else { return Ok(None) };
        match store.kv_get_value(&self.grants.name, &key, self.now_unix).await {
            Ok(v) => Ok(v),
            Err(e) => {
                tracing::warn!(plugin = %self.grants.name, error = %e, "plugin kv read failed");
                Ok(None)
            }
        }
    }

    async fn set(&mut self, key: String, value: Vec<u8>, ttl_secs: u32) -> wasmtime::Result<Result<(), String>> {
        let Some(store) = self.kv() else { return Ok(Err("no key-value store here".into())) };
        Ok(store
            .kv_set_value(&self.grants.name, &key, &value, ttl_secs, self.now_unix)
            .await
            .map_err(|e| e.to_string()))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if let Some(store) = self.kv()
            && let Err(e) = store.kv_delete_value(&self.grants.name, &key).await
        {
            tracing::warn!(plugin = %self.grants.name, error = %e, "plugin kv delete failed");
        }
        Ok(())
    }

    async fn incr(&mut self, key: String, delta: i64, ttl_secs: u32) -> wasmtime::Result<Result<i64, String>> {
        let Some(store) = self.kv() else { return Ok(Err("no key-value store here".into())) };
        Ok(store
            .kv_incr_value(&self.grants.name, &key, delta, ttl_secs, self.now_unix)
            .await
            .map_err(|e| e.to_string()))
    }
}
