//! `gatehouse serve`: logging (and the OpenTelemetry export), the server, the signals that
//! stop it.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::server::Server;

/// Logs go to stderr; `GATEHOUSE_LOG` is the filter (default `info`), `[telemetry]
/// log_format` the shape. With `[telemetry] otlp_endpoint` (and the `otel` feature) the
/// server's spans are also exported; they are recorded whatever the log filter says. The
/// returned guard flushes the export when dropped.
fn init_logging(server: &crate::config::ServerConfig) -> Result<Option<Box<dyn std::any::Any>>, String> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal, and never when NO_COLOR is set (no-color.org):
    // a log file or a pipe gets plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(colour);
    let fmt = match server.log_format {
        crate::config::LogFormat::Json => fmt.json().flatten_event(true).with_current_span(true).boxed(),
        crate::config::LogFormat::Text => fmt.boxed(),
    };
    let registry = tracing_subscriber::registry().with(fmt.with_filter(filter));
    #[cfg(feature = "otel")]
    if let Some(otlp) = &server.otlp {
        let (layer, export) = crate::telemetry::layer(otlp)?;
        let spans = tracing_subscriber::filter::Targets::new().with_target("gatehouse", tracing::Level::DEBUG);
        let _ = registry.with(layer.with_filter(spans)).try_init();
        return Ok(Some(Box::new(export)));
    }
    let _ = registry.try_init();
    Ok(None)
}

pub(super) fn serve(config_path: Option<&Path>, bind: Option<SocketAddr>) -> Result<(), String> {
    let mut config = super::load(config_path)?;
    let _export = init_logging(&config.server)?;
    if let Some(b) = bind {
        config = config.with_bind(b);
    }
    if config_path.is_none() {
        let store = match &config.store {
            crate::config::StoreBackend::Sled => format!("store in {}", config.store_path.display()),
            crate::config::StoreBackend::Postgres(pg) => {
                format!("store postgres {}", crate::store::pg::describe_url(pg.url.expose()))
            }
        };
        eprintln!("gatehouse: no --config given; running the built-in dev configuration (dev_mode, {store})");
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let on_sled = matches!(config.store, crate::config::StoreBackend::Sled);
    runtime.block_on(async move {
        let server = Server::bind(config, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        if let Some(id) = &server.kept_demo_client {
            // sled locks its directory; a shared database takes the CLI beside running servers.
            let stop = if on_sled { "stop the server and " } else { "" };
            let _ = writeln!(
                out,
                "client `{id}` exists from an earlier start (its secret was shown then); to get a new one, {stop}run: gatehouse clients rotate-secret {id}{}",
                config_flag(config_path)
            );
        }
        if let Some((id, secret)) = &server.demo_client {
            let _ = writeln!(
                out,
                "created demo client: client_id={id} client_secret={} (shown once; stored hashed)",
                secret.expose()
            );
            let _ = writeln!(
                out,
                "try: curl -u {id}:{} -d grant_type=client_credentials http://{}/token",
                secret.expose(),
                server.local_addr()
            );
        }
        // Printed last: tools wait for this line to know the server is ready.
        let _ = writeln!(out, "gatehouse listening on http://{} (issuer {})", server.local_addr(), server.issuer());
        let _ = out.flush();
        drop(out);
        server.run(shutdown_signal()).await.map_err(|e| e.to_string())
    })
}

/// ` --config FILE` for a command line to show, when one was given.
fn config_flag(path: Option<&Path>) -> String {
    path.map(|p| format!(" --config {}", p.display())).unwrap_or_default()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
