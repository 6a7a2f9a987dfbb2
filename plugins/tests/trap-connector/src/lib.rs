//! A connector that traps on purpose (`trap = "begin"` or `"complete"` in its config), so the
//! federation tests can show that a connector's failure fails that sign-in and nothing else.

use gatehouse_plugin::config;
use gatehouse_plugin::connector::{
    BeginRequest, BeginResponse, CompleteRequest, Connector, ExternalIdentity, Info, PluginError,
};

struct Trap;

impl Connector for Trap {
    fn describe() -> Info {
        Info { id: "trap".into(), display_name: "Trap".into(), icon_url: None, default_scopes: vec!["openid".into()] }
    }

    fn begin(req: BeginRequest) -> Result<BeginResponse, PluginError> {
        if config::get("trap").as_deref() == Some("begin") {
            panic!("the trap connector traps in begin");
        }
        // Straight back to the callback, as a provider that approved at once would.
        let url = format!("{}?code=c&state={}", req.redirect_uri, req.state);
        Ok(BeginResponse { authorization_url: url, flow_data: None })
    }

    fn complete(_req: CompleteRequest) -> Result<ExternalIdentity, PluginError> {
        panic!("the trap connector traps in complete");
    }
}

gatehouse_plugin::export_connector!(Trap);
