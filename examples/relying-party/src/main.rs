//! `relying-party`: an example web app signing people in with Gatehouse.
//!
//! ```text
//! relying-party --issuer http://127.0.0.1:8080 --client-id example-app \
//!     --client-secret "$SECRET" --listen 127.0.0.1:3000
//! ```

use clap::Parser;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "Example web app that signs people in with Gatehouse (OpenID Connect)")]
struct Args {
    /// Gatehouse's issuer URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// Client id registered at Gatehouse.
    #[arg(long, default_value = "example-app")]
    client_id: String,
    /// Client secret (or RP_CLIENT_SECRET).
    #[arg(long, env = "RP_CLIENT_SECRET")]
    client_secret: String,
    /// Address to listen on; the redirect URI is http://<listen>/callback.
    #[arg(long, default_value = "127.0.0.1:3000")]
    listen: std::net::SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let settings = relying_party::Settings {
        issuer: args.issuer,
        client_id: args.client_id,
        client_secret: args.client_secret,
        base_url: format!("http://{}", listener.local_addr()?),
    };
    let app = relying_party::App::new(settings.clone()).await?;
    println!("example app on {}/ (sign in with Gatehouse at {})", settings.base_url, settings.issuer);
    axum::serve(listener, relying_party::router(app)).await?;
    Ok(())
}
