//! `gatehouse users ...`: accounts in a stopped server's store.

use super::UsersCommand;
use super::audited;
use crate::audit::AuditEvent;
use crate::clock::system_now;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::{Db, UserStore};
use crate::users;
/// Reads a new password: a hidden prompt (typed twice) on a terminal, else one stdin line.
pub(super) fn read_new_password() -> Result<Secret, String> {
    use std::io::IsTerminal as _;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("New password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Repeat it: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords differ".into());
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password from stdin: {e}"))?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    users::check_new_password(&password)?;
    Ok(Secret::new(password))
}

/// Group names as the config takes them (`users.rs`), deduplicated in order.
fn check_groups(groups: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for g in groups {
        users::check_group(&g).map_err(|why| format!("group `{g}` {why}"))?;
        if !out.contains(&g) {
            out.push(g);
        }
    }
    Ok(out)
}

async fn find_user(store: &dyn UserStore, login: &str) -> Result<crate::store::UserRecord, String> {
    let key = login.trim().to_lowercase();
    store.find_user(&key).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no user `{key}`"))
}

pub(super) async fn users_cmd(config: &Config, db: &Db, action: UsersCommand) -> Result<(), String> {
    let store = db.users();
    let now = system_now();
    let passwords = users::Passwords::new(&config.password_hashing).map_err(|e| e.to_string())?;
    match action {
        UsersCommand::Add { username, email, groups } => {
            let username =
                users::normalize_username(&username).map_err(|why| format!("username `{username}` {why}"))?;
            let email =
                email.map(|e| users::normalize_email(&e).map_err(|why| format!("email `{e}` {why}"))).transpose()?;
            let groups = check_groups(groups)?;
            let password = read_new_password()?;
            let hash = passwords.hash_blocking(&password).map_err(|e| e.to_string())?;
            let user = crate::store::UserRecord { groups, ..users::new_user(username.clone(), email, hash, now) };
            store.create_user(&user).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::UserCreated { username: username.clone() }).await?;
            println!("added user `{username}`");
        }
        UsersCommand::SetGroups { user, groups } => {
            let u = find_user(store, &user).await?;
            if config.users.iter().any(|c| c.username == u.username) {
                return Err(format!("user `{}` is defined in {}; set its groups there", u.username, config.source));
            }
            let groups = check_groups(groups)?;
            store.set_user_groups(&u.id, &groups, now.unix_timestamp()).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::UserGroupsChanged { username: u.username.clone(), groups: groups.clone() }).await?;
            println!(
                "groups of `{}`: {}",
                u.username,
                if groups.is_empty() { "none".into() } else { groups.join(", ") }
            );
        }
        UsersCommand::List => {
            for u in store.list_users().await.map_err(|e| e.to_string())? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                let groups = if u.groups.is_empty() { "-".to_owned() } else { u.groups.join(",") };
                println!("{}\t{}\t{state}\t{}\tgroups={groups}", u.username, u.email.as_deref().unwrap_or("-"), u.id);
            }
        }
        UsersCommand::Disable { user } => {
            let u = find_user(store, &user).await?;
            store.set_user_disabled(&u.id, true, now.unix_timestamp()).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::UserStatusChanged { username: u.username.clone(), disabled: true }).await?;
            println!("disabled user `{}`", u.username);
        }
        UsersCommand::Enable { user } => {
            let u = find_user(store, &user).await?;
            store.set_user_disabled(&u.id, false, now.unix_timestamp()).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::UserStatusChanged { username: u.username.clone(), disabled: false }).await?;
            println!("enabled user `{}`", u.username);
        }
        UsersCommand::Show { user } => {
            let u = find_user(store, &user).await?;
            println!("username\t{}", u.username);
            println!("id\t{}", u.id);
            println!(
                "email\t{}{}",
                u.email.as_deref().unwrap_or("-"),
                if u.email_verified { " (verified)" } else { "" }
            );
            for (label, value) in u.profile.fields() {
                if let Some(v) = value {
                    println!("{label}\t{v}");
                }
            }
            println!("version\t{}", u.version);
            println!("status\t{}", if u.disabled { "disabled" } else { "enabled" });
            println!("password\t{}", if u.password_hash.is_empty() { "none" } else { "set" });
            println!("groups\t{}", if u.groups.is_empty() { "-".to_owned() } else { u.groups.join(",") });
            println!("roles\t{}", if u.roles.is_empty() { "-".to_owned() } else { u.roles.join(",") });
            let factors = db.shared_factors().get_factors(&u.id).await.map_err(|e| e.to_string())?.unwrap_or_default();
            match &factors.totp {
                Some(_) => println!("mfa\ttotp, {} recovery codes left", factors.recovery_codes.len()),
                None => println!("mfa\tnone"),
            }
            for l in db.links().user_links(&u.id).await.map_err(|e| e.to_string())? {
                let at = |t: i64| crate::audit::format_time_ms(t.saturating_mul(1000));
                println!(
                    "link\t{}\t{}\t{}\tlinked {}\tlast used {}",
                    l.connector_id,
                    l.issuer,
                    l.subject,
                    at(l.linked_at),
                    at(l.last_used)
                );
            }
        }
        UsersCommand::Unlink { user, issuer, subject } => {
            let u = find_user(store, &user).await?;
            let links = db.links().user_links(&u.id).await.map_err(|e| e.to_string())?;
            let Some(link) = links.into_iter().find(|l| l.issuer == issuer && l.subject == subject) else {
                return Err(format!(
                    "user `{}` has no link to {subject} at {issuer} (see `gatehouse users show`)",
                    u.username
                ));
            };
            db.links().remove_link(&u.id, &issuer, &subject).await.map_err(|e| e.to_string())?;
            let event = AuditEvent::IdentityUnlinked {
                connector_id: link.connector_id,
                issuer: link.issuer,
                subject: link.subject,
                user_id: u.id.clone(),
            };
            audited(db, event).await?;
            println!("unlinked {subject} at {issuer} from `{}`", u.username);
        }
        UsersCommand::ResetMfa { user } => {
            let u = find_user(store, &user).await?;
            let mfa = crate::mfa::Mfa::new(db.shared_factors(), config.mfa.clone(), "");
            if mfa.remove_all(&u.id, now.unix_timestamp()).await.map_err(|e| e.to_string())? {
                audited(db, AuditEvent::MfaRemoved { user_id: u.id.clone(), by: "admin".to_owned() }).await?;
                println!("removed the second factors of `{}`", u.username);
            } else {
                println!("`{}` has no second factor; nothing changed", u.username);
            }
        }
        UsersCommand::SetPassword { user } => {
            let u = find_user(store, &user).await?;
            let password = read_new_password()?;
            let hash = passwords.hash_blocking(&password).map_err(|e| e.to_string())?;
            store.set_user_password(&u.id, &hash, now.unix_timestamp()).await.map_err(|e| e.to_string())?;
            audited(db, AuditEvent::PasswordChanged { username: u.username.clone() }).await?;
            println!("set the password of `{}`", u.username);
        }
    }
    Ok(())
}
