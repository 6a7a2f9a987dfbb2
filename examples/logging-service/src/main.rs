//! `logging-service --issuer URL [--bind ADDR] [--audience NAME]`

use clap::Parser;

#[derive(Parser)]
#[command(about = "Example resource server that verifies Gatehouse access tokens locally")]
struct Args {
    /// Gatehouse issuer, e.g. http://127.0.0.1:8080
    #[arg(long, env = "GATEHOUSE_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8090")]
    bind: String,
    /// The audience tokens must name.
    #[arg(long, default_value = "logging-service")]
    audience: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // What it accepts and refuses shows at the default level; RUST_LOG changes the filter.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let args = Args::parse();
    let issuer = args.issuer.trim_end_matches('/').to_owned();
    let settings = logging_service::Settings { jwks_url: format!("{issuer}/jwks"), issuer, audience: args.audience };
    let (app, _) = logging_service::router(settings);
    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    println!("logging-service listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
