//! Hot reload of the plugin set on a running server (SIGHUP and `POST
//! /admin/plugins/reload`): the config file is read again, its `[[plugins]]` are loaded and
//! checked off the request path, and the new set replaces the old one atomically. If
//! anything fails, the old set stays and the failure is logged and audited. Calls in flight
//! finish on the version they started with. Other sections of the file are not reloaded
//! (a restart applies them), nor is `[plugin_runtime]`.

use std::path::Path;

use crate::audit::{Actor, AuditEvent};
use crate::config::Config;
use crate::plugins::PluginInfo;
use crate::state::AppState;

/// Reloads the plugins from the config file the server started with.
pub async fn reload_plugins(state: &AppState, actor: Actor, trigger: &str) -> Result<Vec<PluginInfo>, String> {
    let now = state.clock.now();
    let result = load_and_swap(state).await;
    match &result {
        Ok(loaded) => {
            let names: Vec<String> = loaded.iter().map(crate::server::plugin_label).collect();
            tracing::info!(trigger, plugins = %names.join(", "), "plugins reloaded");
            state.audit.emit(actor, AuditEvent::PluginsLoaded { plugins: names, trigger: trigger.to_owned() }, now);
        }
        Err(reason) => {
            tracing::error!(trigger, %reason, "plugin reload failed; the previous plugins stay");
            state.audit.emit(actor, AuditEvent::PluginReloadFailed { reason: reason.clone() }, now);
        }
    }
    result
}

async fn load_and_swap(state: &AppState) -> Result<Vec<PluginInfo>, String> {
    let source = state.config.source.clone();
    if source.starts_with('<') {
        return Err(format!("the server runs on {source}: there is no file to reload"));
    }
    let config = tokio::task::spawn_blocking(move || Config::load(Path::new(&source)))
        .await
        .map_err(|e| format!("reading the config failed: {e}"))?
        .map_err(|e| e.to_string().trim_end().to_owned())?;
    state.plugins.reload(&config.plugins).await.map_err(|e| format!("{}: {e}", config.source))
}
