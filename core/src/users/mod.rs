//! Users: normalisation rules for usernames and emails, password hashing (argon2id on a
//! bounded pool, `password.rs`) and the bootstrap of `[[users]]` from the config.

mod password;
pub mod profile;
pub mod sessions;

use time::OffsetDateTime;

pub use password::{PasswordError, Passwords};

use crate::config::{UserConfig, UserPassword};
use crate::store::{Db, StoreError, UserRecord};

/// Longest accepted password (bounds hashing work per request).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// Shortest password accepted from the CLI (NIST SP 800-63B §5.1.1.2).
pub const MIN_PASSWORD_LEN: usize = 8;

/// Normalises a username: trimmed, lower-case, 1-64 of `a-z 0-9 . _ -` (no `@`, so a
/// username can never be mistaken for an email at sign-in).
pub fn normalize_username(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim().to_lowercase();
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        return Err("may contain only letters, digits, '.', '_' and '-'");
    }
    Ok(name)
}

/// Checks a group name: 1-64 printable characters without spaces (policies compare them as
/// they are written).
pub fn check_group(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("may not contain spaces or control characters");
    }
    Ok(())
}

/// Normalises an email: trimmed, lower-case, one `@` with text on both sides, no spaces.
pub fn normalize_email(raw: &str) -> Result<String, &'static str> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(char::is_whitespace)
        && email.split('@').count() == 2
        && email.split('@').all(|p| !p.is_empty())
        && email.rsplit('@').next().is_some_and(|d| d.contains('.') || d == "localhost");
    if valid { Ok(email) } else { Err("is not an email address") }
}

/// Checks a new password's length.
pub fn check_new_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        Err(format!("the password must have at least {MIN_PASSWORD_LEN} characters"))
    } else if password.len() > MAX_PASSWORD_LEN {
        Err(format!("the password must have at most {MAX_PASSWORD_LEN} bytes"))
    } else {
        Ok(())
    }
}

/// A new user record with a fresh id.
pub fn new_user(username: String, email: Option<String>, password_hash: String, now: OffsetDateTime) -> UserRecord {
    UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        username,
        email,
        email_verified: false,
        password_hash,
        disabled: false,
        groups: Vec::new(),
        created_at: now.unix_timestamp(),
        updated_at: now.unix_timestamp(),
        version: 1,
        profile: crate::store::Profile::default(),
        external_id: None,
        roles: Vec::new(),
    }
}

/// Why the bootstrap of configured users failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Hashing failed.
    #[error("hashing the password of bootstrap user `{0}` failed: {1}")]
    Hash(String, PasswordError),
    /// The store refused (e.g. the email belongs to another user).
    #[error("creating bootstrap user `{0}`: {1}")]
    Store(String, StoreError),
}

/// Creates the configured users that do not exist yet (by username); existing ones are left
/// as they are, so passwords changed later are not reset by a restart. Returns the names created.
pub async fn bootstrap(
    db: &Db,
    passwords: &Passwords,
    users: &[UserConfig],
    now: OffsetDateTime,
) -> Result<Vec<String>, BootstrapError> {
    let mut created = Vec::new();
    let mut updated = false;
    for u in users {
        let exists =
            db.users().find_user(&u.username).await.map_err(|e| BootstrapError::Store(u.username.clone(), e))?;
        if let Some(existing) = exists {
            // The file stays the source of a configured user's profile, when it gives one.
            if u.profile != crate::store::Profile::default() && existing.profile != u.profile {
                db.users()
                    .set_user_profile(&existing.id, &u.profile, now.unix_timestamp())
                    .await
                    .map_err(|e| BootstrapError::Store(u.username.clone(), e))?;
                updated = true;
            }
            // The file stays the source of a configured user's groups.
            if existing.groups != u.groups {
                db.users()
                    .set_user_groups(&existing.id, &u.groups, now.unix_timestamp())
                    .await
                    .map_err(|e| BootstrapError::Store(u.username.clone(), e))?;
                updated = true;
            }
            continue;
        }
        let hash = match &u.password {
            UserPassword::Hash(h) => h.clone(),
            UserPassword::Plain(p) => {
                passwords.hash(p.clone()).await.map_err(|e| BootstrapError::Hash(u.username.clone(), e))?
            }
        };
        let mut record = new_user(u.username.clone(), u.email.clone(), hash, now);
        record.groups = u.groups.clone();
        record.profile = u.profile.clone();
        match db.users().create_user(&record).await {
            Ok(()) => created.push(u.username.clone()),
            // Another instance starting at the same moment created it first.
            Err(StoreError::Conflict(_))
                if db.users().find_user(&u.username).await.is_ok_and(|found| found.is_some()) => {}
            Err(e) => return Err(BootstrapError::Store(u.username.clone(), e)),
        }
    }
    if !created.is_empty() || updated {
        db.durable().await.map_err(|e| BootstrapError::Store(created.join(", "), e))?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_normalised() {
        assert_eq!(normalize_username("  Alice.B-1 ").unwrap(), "alice.b-1");
        assert!(normalize_username("a@b").is_err());
        assert!(normalize_username("").is_err());
        assert!(normalize_username("has space").is_err());
        assert_eq!(normalize_email(" Alice@Example.COM ").unwrap(), "alice@example.com");
        for bad in ["alice", "@example.com", "a@", "a@@b.c", "a b@c.d", "a@nodot"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_passwords_have_bounded_length() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough").is_ok());
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_LEN + 1)).is_err());
    }
}
