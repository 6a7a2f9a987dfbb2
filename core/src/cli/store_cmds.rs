//! `gatehouse clients ...` and `gatehouse keys ...`: clients and signing keys in a stopped
//! server's store.

use super::{ClientsCommand, KeysCommand, audited};
use crate::audit::AuditEvent;
use crate::clock::system_now;
use crate::config::Config;
use crate::secret::{Secret, random_token, sha256_hex};
use crate::store::{ClientRecord, Db};
use crate::tokens::keys;

/// The flag that sets a client field, for messages about CLI-made clients.
fn flag_of(key: &str) -> &str {
    match key.trim_start_matches("client.") {
        "redirect_uris" => "--redirect-uri",
        "grant_types" => "--grant-type",
        "scopes" => "--scope",
        "audiences" => "--audience",
        "id" => "ID",
        _ => key,
    }
}

pub(super) async fn clients(config: &Config, db: &Db, action: ClientsCommand) -> Result<(), String> {
    let store = db.clients();
    match action {
        ClientsCommand::Add { id, scopes, audiences, grant_types, redirect_uris, public, can_introspect } => {
            if config.clients.iter().any(|c| c.id == id) {
                return Err(format!("client `{id}` is defined in {}; edit it there", config.source));
            }
            let secret = if public { None } else { Some(Secret::new(random_token().map_err(|e| e.to_string())?)) };
            let grant_types = if grant_types.is_empty() {
                vec![if public { "authorization_code" } else { "client_credentials" }.to_owned()]
            } else {
                grant_types
            };
            let record = ClientRecord {
                id: id.clone(),
                secret_sha256: secret.as_ref().map(|s| sha256_hex(s.expose().as_bytes())),
                public,
                redirect_uris,
                grant_types,
                scopes,
                audiences,
                can_introspect,
                created_at: system_now().unix_timestamp(),
                ..Default::default()
            };
            // The rules of [[clients]]: a client that could not be used is not stored.
            if let Err(problems) = config.check_client(&record) {
                let lines: Vec<String> =
                    problems.iter().map(|p| format!("  {}: {}", flag_of(&p.key), p.message)).collect();
                return Err(format!("client `{id}` was not added:\n{}", lines.join("\n")));
            }
            store.create_client(&record).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::ClientCreated { client_id: id.clone() }).await?;
            println!("added client `{id}`");
            if let Some(s) = secret {
                println!("client_secret: {}", s.expose());
                println!("(shown once; only its SHA-256 is stored)");
            }
            Ok(())
        }
        ClientsCommand::List => {
            for c in &config.clients {
                print_client(c, "config");
            }
            for c in store.list_clients().await.map_err(|e| e.to_string())? {
                if !config.clients.iter().any(|x| x.id == c.id) {
                    print_client(&c, "store");
                }
            }
            Ok(())
        }
        ClientsCommand::Remove { id } => {
            if config.clients.iter().any(|c| c.id == id) {
                return Err(format!("client `{id}` is defined in {}; remove it there", config.source));
            }
            if store.remove_client(&id).await.map_err(|e| e.to_string())? {
                audited(db, AuditEvent::ClientRemoved { client_id: id.clone() }).await?;
                println!("removed client `{id}`");
                Ok(())
            } else {
                Err(format!("no client `{id}` in the store"))
            }
        }
        ClientsCommand::RotateSecret { id } => {
            if config.clients.iter().any(|c| c.id == id) {
                return Err(format!("client `{id}` is defined in {}; set its secret there", config.source));
            }
            let Some(client) = store.get_client(&id).await.map_err(|e| e.to_string())? else {
                return Err(format!("no client `{id}` in the store"));
            };
            if client.public {
                return Err(format!("client `{id}` is public: it has no secret"));
            }
            let secret = Secret::new(random_token().map_err(|e| e.to_string())?);
            store.set_client_secret(&id, &sha256_hex(secret.expose().as_bytes())).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::ClientSecretRotated { client_id: id.clone() }).await?;
            println!("new secret for client `{id}` (the old one no longer works)");
            println!("client_secret: {}", secret.expose());
            println!("(shown once; only its SHA-256 is stored)");
            Ok(())
        }
    }
}

fn print_client(c: &ClientRecord, source: &str) {
    println!(
        "{}\t{}\t{}\tgrants={}\tscopes={}\taudiences={}",
        c.id,
        source,
        if c.public { "public" } else { "confidential" },
        c.grant_types.join(","),
        c.scopes.join(","),
        c.audiences.join(",")
    );
}

/// Unix seconds as RFC 3339.
fn rfc3339(secs: i64) -> String {
    crate::audit::format_time_ms(secs.saturating_mul(1000))
}

pub(super) async fn keys_cmd(config: &Config, db: &Db, action: KeysCommand) -> Result<(), String> {
    match action {
        KeysCommand::List => {
            let records = db.keys().load_keys().await.map_err(|e| e.to_string())?.keys;
            if records.is_empty() {
                println!("no keys yet (they are generated at first start)");
            }
            for r in records {
                let state = match (r.retired_at, r.publish_until) {
                    (None, _) => "active".to_owned(),
                    (Some(_), Some(until)) => format!("retired, published until {}", rfc3339(until)),
                    (Some(_), None) => "retired".to_owned(),
                };
                println!("{}\t{}\tcreated {}\t{state}", r.kid, r.alg, rfc3339(r.created_at));
            }
            Ok(())
        }
        KeysCommand::Rotate => {
            let s = keys::rotate_offline(db, system_now().unix_timestamp(), config.key_retention())
                .await
                .map_err(|e| e.to_string())?;
            audited(db, AuditEvent::KeysRotated { trigger: "cli".into(), active: s.active.clone() }).await?;
            println!("rotated: active {}; still published {}", s.active.join(", "), s.retired.join(", "));
            Ok(())
        }
    }
}

/// `gatehouse store migrate`: opening the store applied the migrations; report the result.
pub(super) async fn migrate(config: &Config, db: &Db) -> Result<(), String> {
    match &config.store {
        crate::config::StoreBackend::Sled => {
            println!("the sled store at {} needs no migration", config.store_path.display());
        }
        crate::config::StoreBackend::Postgres(pg) => {
            // A fresh pool of one: the version as the database reports it.
            let opts =
                crate::store::pg::PgOptions { pool_size: 1, ..crate::store::pg::PgOptions::new(pg.url.expose()) };
            let store = crate::store::pg::PgStore::pool(&opts).map_err(|e| e.to_string())?;
            let version = crate::store::pg::schema_version(&store).await.map_err(|e| e.to_string())?;
            println!(
                "the database {} is at schema version {version} (this gatehouse writes {})",
                crate::store::pg::describe_url(pg.url.expose()),
                crate::store::pg::SCHEMA_VERSION
            );
        }
    }
    db.maintenance().ping().await.map_err(|e| e.to_string())
}
