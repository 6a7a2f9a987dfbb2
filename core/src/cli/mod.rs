//! The `gatehouse` command line. Verbs that open the store (`clients`, `keys`) need the
//! server stopped (sled locks its directory) and say so plainly when it is running; `users`
//! and `clients` also work on a running server through its admin API (`--url`, `remote.rs`).

mod audit_cmds;
mod backup;
mod plugin_cmds;
mod remote;
mod replay_cmd;
mod serve;
mod store_cmds;
mod user_cmds;

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::audit::{Actor, AuditEvent};
use crate::clock::system_now;
use crate::config::{Config, LoadMode};
use crate::store::Db;

/// Command-line interface.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about = "OAuth 2.0 / OpenID Connect identity provider")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (without --config: the built-in dev configuration, store in ./data).
    Serve {
        /// Configuration file.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address, overriding server.bind (port 0 picks a free port).
        #[arg(long)]
        bind: Option<SocketAddr>,
    },
    /// Check a configuration file and explain every problem.
    CheckConfig {
        /// Configuration file (or give it as --config).
        file: Option<PathBuf>,
        /// Configuration file.
        #[arg(long = "config")]
        config_flag: Option<PathBuf>,
    },
    /// Manage clients in the store (server stopped), or those of a running server (`--url`).
    Clients {
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// A running server's base URL: work through its admin API, with the credential in
        /// GATEHOUSE_ADMIN_TOKEN (role client-admin).
        #[arg(long, global = true, conflicts_with = "config")]
        url: Option<String>,
        #[command(subcommand)]
        action: ClientsCommand,
    },
    /// Manage users in the store (server stopped), or those of a running server (`--url`).
    /// Passwords come from a prompt, or one line of standard input when it is not a
    /// terminal; never from the command line.
    Users {
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        /// A running server's base URL: work through its admin API, with the credential in
        /// GATEHOUSE_ADMIN_TOKEN (role user-admin).
        #[arg(long, global = true, conflicts_with = "config")]
        url: Option<String>,
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// Verify or export the audit log (server stopped; a running server has GET /admin/audit/verify).
    Audit {
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Write a consistent backup of the store to FILE (server stopped; a running server has
    /// POST /admin/backup). `-` writes to standard output.
    Backup {
        /// Where to write.
        file: PathBuf,
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Restore a backup into an empty store (server stopped).
    Restore {
        /// The backup file.
        file: PathBuf,
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Work with plugin components.
    Plugins {
        #[command(subcommand)]
        action: PluginsCommand,
    },
    /// Work with the configured policy plugins.
    Policy {
        #[command(subcommand)]
        action: PolicyCommand,
    },
    /// The store itself: `migrate` applies the database schema (postgres); `copy` moves
    /// every record into another (empty) store.
    Store {
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: StoreCommand,
    },
    /// Manage signing keys in the store (server stopped).
    Keys {
        /// Configuration file naming the store (default: the built-in dev configuration).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Register a client; a confidential client's secret is generated and shown once.
    Add {
        /// Client id.
        id: String,
        /// A scope the client may ask for (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// An audience the client may ask tokens for (repeatable).
        #[arg(long = "audience")]
        audiences: Vec<String>,
        /// A grant type (repeatable; default client_credentials, or authorization_code for --public).
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (no secret).
        #[arg(long)]
        public: bool,
        /// May introspect any token.
        #[arg(long)]
        can_introspect: bool,
    },
    /// List clients (from the config file and the store).
    List,
    /// Remove a stored client.
    Remove {
        /// Client id.
        id: String,
    },
    /// Issue a new secret for a stored confidential client (shown once; the old one stops
    /// working).
    RotateSecret {
        /// Client id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum UsersCommand {
    /// Add a user (asks for the password).
    Add {
        /// Username (letters, digits, '.', '_', '-'; stored lower-case).
        username: String,
        /// Email address (unique).
        #[arg(long)]
        email: Option<String>,
        /// A group (repeatable; policy plugins read them).
        #[arg(long = "group")]
        groups: Vec<String>,
    },
    /// List users.
    List,
    /// Replace a user's groups (none given: no groups).
    SetGroups {
        /// Username or email.
        user: String,
        /// The groups.
        groups: Vec<String>,
    },
    /// Disable a user: no new sign-ins.
    Disable {
        /// Username or email.
        user: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username or email.
        user: String,
    },
    /// Set a new password (asks for it).
    SetPassword {
        /// Username or email.
        user: String,
    },
    /// Show a user and the sign-in providers linked to it.
    Show {
        /// Username or email.
        user: String,
    },
    /// Remove a sign-in provider's link from a user (the identity may then be linked again).
    Unlink {
        /// Username or email.
        user: String,
        /// The provider's issuer (as `users show` prints it).
        issuer: String,
        /// The provider's subject.
        subject: String,
    },
    /// Remove every second factor of a user (authenticator app, recovery codes), e.g. after a
    /// lost phone; with `[mfa] require = "always"` they enrol again at their next sign-in.
    ResetMfa {
        /// Username or email.
        user: String,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain and check it against the signed checkpoints; exit 1 naming
    /// the first record that does not verify.
    Verify {
        /// Check against checkpoints exported earlier (`audit checkpoints`) instead of the
        /// ones in the store: proves truncation or rewriting even of a changed store.
        #[arg(long)]
        checkpoints: Option<PathBuf>,
    },
    /// Print the signed checkpoints and the audit public key (JSON), to keep elsewhere.
    Checkpoints,
    /// Write records as JSON lines to standard output.
    Export {
        /// Only records at or after this time (RFC 3339, e.g. 2026-11-22T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only records before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// Validate a component against the contract of a plugin kind; prints its sha256 and the
    /// grants it needs.
    Check {
        /// The .wasm component.
        file: PathBuf,
        /// policy, login-step, notifier or idp-connector.
        #[arg(long, default_value = "policy")]
        kind: String,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Run the configured policy plugins on an input (JSON) and print each decision and its time.
    Eval {
        /// Configuration file with the [[plugins]].
        #[arg(long)]
        config: PathBuf,
        /// The input: {"stage", "client_id", "subject": {...}, "grant_type", "scopes", "audiences", "attributes"}.
        #[arg(long)]
        input: PathBuf,
    },
    /// Re-run recorded decisions of a policy plugin against a candidate component (at their
    /// recorded time) and report which would change: from a stopped server's store, a backup
    /// file, or a running server (--url, admin token in GATEHOUSE_ADMIN_TOKEN).
    Replay {
        /// The candidate component (.wasm).
        #[arg(long)]
        plugin: PathBuf,
        /// The plugin whose decisions to replay (default: the configuration's only policy);
        /// the candidate runs with its settings.
        #[arg(long)]
        name: Option<String>,
        /// Records from this time on (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Records before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Configuration naming the store and the plugin's settings (default: the built-in dev configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Read the records from this backup file instead of the store.
        #[arg(long, conflicts_with = "url")]
        backup: Option<PathBuf>,
        /// Replay on this running server (its base URL).
        #[arg(long)]
        url: Option<String>,
        /// Replay at most this many decisions.
        #[arg(long)]
        limit: Option<u64>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Apply the embedded schema migrations to the postgres database (servers also apply
    /// them at start); report the schema version.
    Migrate,
    /// Copy every record of one store into another, empty one (sled to postgres or back);
    /// with sled as the source, its server must be stopped.
    Copy {
        /// The configuration naming the store to read.
        #[arg(long)]
        from: PathBuf,
        /// The configuration naming the (empty) store to fill.
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys.
    List,
    /// Rotate: new keys sign from the next start; old ones stay published until their tokens expire.
    Rotate,
}

/// Runs the CLI with `args` (argv including the program name).
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let result = match cli.command {
        Command::Serve { config, bind } => serve::serve(config.as_deref(), bind),
        Command::CheckConfig { file, config_flag } => check_config(file.or(config_flag)),
        Command::Clients { url: Some(url), action, .. } => remote::clients(&url, action),
        Command::Clients { config, action, .. } => {
            with_store(config.as_deref(), |cfg, db| Box::pin(store_cmds::clients(cfg, db, action)))
        }
        Command::Users { url: Some(url), action, .. } => remote::users(&url, action),
        Command::Users { config, action, .. } => {
            with_store(config.as_deref(), |cfg, db| Box::pin(user_cmds::users_cmd(cfg, db, action)))
        }
        Command::Audit { config, action } => {
            with_store(config.as_deref(), |_, db| Box::pin(audit_cmds::audit_cmd(db, action)))
        }
        Command::Plugins { action: PluginsCommand::Check { file, kind } } => plugin_cmds::plugins_check(&file, &kind),
        Command::Policy { action: PolicyCommand::Eval { config, input } } => plugin_cmds::policy_eval(&config, &input),
        Command::Policy {
            action: PolicyCommand::Replay { plugin, name, since, until, config, backup, url, limit, json },
        } => {
            replay_cmd::replay(replay_cmd::ReplayArgs { plugin, name, since, until, config, backup, url, limit, json })
        }
        Command::Keys { config, action } => {
            with_store(config.as_deref(), |cfg, db| Box::pin(store_cmds::keys_cmd(cfg, db, action)))
        }
        Command::Store { config, action: StoreCommand::Migrate } => {
            with_store(config.as_deref(), |cfg, db| Box::pin(store_cmds::migrate(cfg, db)))
        }
        Command::Store { action: StoreCommand::Copy { from, to }, .. } => backup::copy(&from, &to),
        Command::Backup { file, config } => {
            with_store(config.as_deref(), |_, db| Box::pin(async move { backup::backup(db, &file).await }))
        }
        Command::Restore { file, config } => {
            with_store(config.as_deref(), |cfg, db| Box::pin(async move { backup::restore(cfg, db, &file).await }))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("gatehouse: {}", message.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn load(path: Option<&Path>) -> Result<Config, String> {
    load_for(path, LoadMode::Serve)
}

/// Loads for `mode`: verbs that only work on the store do not need secrets from the
/// environment.
fn load_for(path: Option<&Path>, mode: LoadMode) -> Result<Config, String> {
    let config = match path {
        Some(p) => Config::load_for(p, mode),
        None => Config::dev_default(),
    }
    .map_err(|e| e.to_string())?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    Ok(config)
}

fn check_config(path: Option<PathBuf>) -> Result<(), String> {
    let path = path.ok_or("check-config needs a file: gatehouse check-config FILE")?;
    let config = load(Some(&path))?;
    // The same checks `serve` runs before it opens the store: pages, hashing, plugins.
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let prepared = runtime.block_on(crate::server::Prepared::new(&config)).map_err(|e| e.to_string())?;
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let plugins = prepared.plugins().len();
    let store = match &config.store {
        crate::config::StoreBackend::Sled => config.store_path.display().to_string(),
        crate::config::StoreBackend::Postgres(pg) => {
            format!("postgres {} (not contacted)", crate::store::pg::describe_url(pg.url.expose()))
        }
    };
    println!(
        "{}: ok ({} client{}, {} user{}, {plugins} plugin{}, store {store})",
        path.display(),
        config.clients.len(),
        plural(config.clients.len()),
        config.users.len(),
        plural(config.users.len()),
        plural(plugins),
    );
    Ok(())
}

/// What a store verb runs: borrowing the configuration and the store for its whole run.
type StoreVerb<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>;

/// Runs `f` on the store `path` names (a runtime of its own: the store is async).
fn with_store(path: Option<&Path>, f: impl for<'a> FnOnce(&'a Config, &'a Db) -> StoreVerb<'a>) -> Result<(), String> {
    let config = load_for(path, LoadMode::Offline)?;
    let runtime = tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let backend = crate::server::open_store(&config).await.map_err(|e| e.to_string())?;
        let db = Db::new(backend);
        f(&config, &db).await
    })
}

/// Appends `event` to the audit chain of a stopped server's store, durably (which also
/// makes the change it records durable).
pub(super) async fn audited(db: &Db, event: AuditEvent) -> Result<(), String> {
    crate::audit::append_offline(db, Actor::cli(), event, system_now()).await.map_err(|e| e.to_string())
}
