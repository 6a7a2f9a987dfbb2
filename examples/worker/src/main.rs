//! `worker --client-id ID --client-secret SECRET [--issuer URL] [--logging-url URL] MESSAGE...`

use clap::Parser;

#[derive(Parser)]
#[command(about = "Example worker: gets a client_credentials token and calls the logging service")]
struct Args {
    /// Gatehouse issuer.
    #[arg(long, env = "GATEHOUSE_ISSUER", default_value = "http://127.0.0.1:8080")]
    issuer: String,
    /// Client id.
    #[arg(long, env = "WORKER_CLIENT_ID", default_value = "demo")]
    client_id: String,
    /// Client secret (prefer the environment variable).
    #[arg(long, env = "WORKER_CLIENT_SECRET", hide_env_values = true)]
    client_secret: String,
    /// Logging service URL.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    logging_url: String,
    /// Messages to log.
    #[arg(default_value = "hello from the worker")]
    messages: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut w = worker::Worker::new(worker::Settings {
        token_url: format!("{}/token", args.issuer.trim_end_matches('/')),
        client_id: args.client_id,
        client_secret: args.client_secret,
        logging_url: args.logging_url,
    });
    for m in &args.messages {
        println!("{}", w.log(m).await?);
    }
    Ok(())
}
