//! The local user of an external identity: its link when there is one; never an existing
//! account found by email without that account's password (a verified email that matches
//! asks for it; an unverified one is never used to find a user); otherwise a user made just
//! in time (unless the connector's `provision_users` is off), written with its link at once.

use time::OffsetDateTime;

use super::flow::ErrorKind;
use super::service::SignIn;
use crate::audit::AuditEvent;
use crate::oauth::RequestMeta;
use crate::plugins::ExternalIdentity;
use crate::store::browser::PendingLink;
use crate::store::links::LinkRecord;
use crate::store::{StoreError, UserRecord};
use crate::users::{new_user, normalize_email, normalize_username};

/// What an identity turned into.
pub enum Resolved {
    /// Sign this user in.
    User(Box<UserRecord>),
    /// A local account has the verified email: its password first, then the link.
    LinkFirst(PendingLink),
    /// No sign-in.
    Refused {
        /// For the log and audit.
        reason: String,
        /// The page's status.
        kind: ErrorKind,
        /// Heading.
        title: &'static str,
        /// Explanation.
        message: &'static str,
    },
}

fn unavailable(what: &str, e: &StoreError) -> Resolved {
    tracing::error!(request_id = %crate::logctx::current(), error = %e, "{what} failed");
    Resolved::Refused {
        reason: format!("{what}: {e}"),
        kind: ErrorKind::Unavailable,
        title: "Temporarily unavailable",
        message: "The service is temporarily unavailable. Please try again in a moment.",
    }
}

/// `identity_linked` of `link`.
pub(super) fn linked_event(link: &LinkRecord) -> AuditEvent {
    AuditEvent::IdentityLinked {
        connector_id: link.connector_id.clone(),
        issuer: link.issuer.clone(),
        subject: link.subject.clone(),
        user_id: link.user_id.clone(),
    }
}

/// `federated_login` through `link`.
pub(super) fn login_event(link: &LinkRecord) -> AuditEvent {
    AuditEvent::FederatedLogin {
        connector_id: link.connector_id.clone(),
        issuer: link.issuer.clone(),
        subject: link.subject.clone(),
        user_id: link.user_id.clone(),
    }
}

fn refused(reason: &str, kind: ErrorKind, title: &'static str, message: &'static str) -> Resolved {
    Resolved::Refused { reason: reason.to_owned(), kind, title, message }
}

/// The user for `identity` from `connector` (see the module text).
pub async fn resolve(
    svc: &SignIn,
    connector: &str,
    identity: &ExternalIdentity,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Resolved {
    match svc.links.find_link(&identity.issuer, &identity.subject).await {
        Ok(Some(link)) => return linked(svc, &link, meta, now).await,
        Ok(None) => {}
        Err(e) => return unavailable("link lookup", &e),
    }
    let email = identity.email.as_deref().and_then(|e| normalize_email(e).ok());
    if let Some(email) = &email {
        match svc.users.find_user(email).await {
            Ok(Some(_)) if identity.email_verified && svc.password_login => {
                svc.metrics.federated_login(connector, "link_required");
                let display_name =
                    svc.plugins.connector_info(connector).map_or_else(|| connector.to_owned(), |(i, _)| i.display_name);
                return Resolved::LinkFirst(PendingLink {
                    connector: connector.to_owned(),
                    display_name,
                    issuer: identity.issuer.clone(),
                    subject: identity.subject.clone(),
                });
            }
            Ok(Some(_)) if identity.email_verified => {
                return refused(
                    "the verified email belongs to an account without password sign-in",
                    ErrorKind::Forbidden,
                    "Account exists",
                    "An account with this email address already exists. Ask your administrator to link it to this way of signing in.",
                );
            }
            Ok(Some(_)) => {
                return refused(
                    "an unverified email matches an account",
                    ErrorKind::Forbidden,
                    "Cannot sign you in",
                    "An account with this email address exists, but the sign-in provider has not verified the address. Sign in to the account another way.",
                );
            }
            Ok(None) => {}
            Err(e) => return unavailable("user lookup", &e),
        }
    }
    let provision = svc.plugins.connector_info(connector).is_some_and(|(_, p)| p);
    if !provision {
        return refused(
            "no account, and the connector does not provision users",
            ErrorKind::Forbidden,
            "No account",
            "There is no account for you here. Ask your administrator for one.",
        );
    }
    provision_user(svc, connector, identity, email, meta, now).await
}

/// An identity already linked: its user, if they may sign in.
async fn linked(svc: &SignIn, link: &LinkRecord, meta: &RequestMeta, now: OffsetDateTime) -> Resolved {
    let user = match svc.users.get_user(&link.user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return refused(
                "the linked user is gone",
                ErrorKind::Forbidden,
                "No account",
                "The account linked to this sign-in no longer exists.",
            );
        }
        Err(e) => return unavailable("user lookup", &e),
    };
    if user.disabled {
        svc.metrics.federated_login(&link.connector_id, "refused");
        return refused(
            "the linked user is disabled",
            ErrorKind::Forbidden,
            "Account disabled",
            "This account is disabled. Contact your administrator.",
        );
    }
    if let Err(e) = svc.links.touch_link(&link.issuer, &link.subject, now.unix_timestamp()).await {
        tracing::warn!(error = %e, "recording the use of a link failed");
    }
    svc.metrics.federated_login(&link.connector_id, "signed_in");
    svc.audit.emit(meta.actor(format!("user:{}", user.id)), login_event(link), now);
    Resolved::User(Box::new(user))
}

/// A username from what the provider says: its preferred name, the name, or the email's
/// local part, made to fit the username rules.
fn username_base(identity: &ExternalIdentity) -> String {
    let preferred = identity.claims.get("preferred_username").and_then(|v| v.as_str());
    let local = identity.email.as_deref().and_then(|e| e.split('@').next());
    for raw in [preferred, local, identity.name.as_deref()].into_iter().flatten() {
        let slug: String = raw
            .trim()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '-' })
            .collect::<String>()
            .trim_matches(|c| c == '-' || c == '.')
            .chars()
            .take(48)
            .collect();
        if let Ok(name) = normalize_username(&slug) {
            return name;
        }
    }
    "user".to_owned()
}

/// Makes the user and its link in one write; a name that is taken gets a suffix.
async fn provision_user(
    svc: &SignIn,
    connector: &str,
    identity: &ExternalIdentity,
    email: Option<String>,
    meta: &RequestMeta,
    now: OffsetDateTime,
) -> Resolved {
    let base = username_base(identity);
    let t = now.unix_timestamp();
    for attempt in 0..6 {
        let name = if attempt == 0 { base.clone() } else { format!("{base}-{}", &crate::secret::unique_id()[..6]) };
        let name = name.to_lowercase();
        match svc.users.find_user(&name).await {
            Ok(Some(_)) => continue,
            Ok(None) => {}
            Err(e) => return unavailable("user lookup", &e),
        }
        let mut user = new_user(name, email.clone(), String::new(), now);
        user.email_verified = email.is_some() && identity.email_verified;
        user.profile = crate::users::profile::from_provider(identity);
        let link = LinkRecord::new(connector, &identity.issuer, &identity.subject, &user.id, t);
        match svc.links.create_linked_user(&user, &link).await {
            Ok(()) => {
                let actor = meta.actor(format!("user:{}", user.id));
                let (c, i, s, u) =
                    (connector.to_owned(), identity.issuer.clone(), identity.subject.clone(), user.id.clone());
                let events = [
                    AuditEvent::UserProvisioned {
                        connector_id: c.clone(),
                        issuer: i.clone(),
                        subject: s.clone(),
                        user_id: u.clone(),
                        username: user.username.clone(),
                    },
                    AuditEvent::IdentityLinked {
                        connector_id: c.clone(),
                        issuer: i.clone(),
                        subject: s.clone(),
                        user_id: u.clone(),
                    },
                    AuditEvent::FederatedLogin { connector_id: c, issuer: i, subject: s, user_id: u },
                ];
                for event in events {
                    svc.audit.emit(actor.clone(), event, now);
                }
                svc.metrics.federated_login(connector, "provisioned");
                return Resolved::User(Box::new(user));
            }
            Err(StoreError::Conflict(_)) => {
                // Linked meanwhile (a second callback for the same new person), or the email
                // or the name was taken meanwhile.
                match svc.links.find_link(&identity.issuer, &identity.subject).await {
                    Ok(Some(link)) => return linked(svc, &link, meta, now).await,
                    Ok(None) => {}
                    Err(e) => return unavailable("link lookup", &e),
                }
                if let Some(email) = &email
                    && let Ok(Some(_)) = svc.users.find_user(email).await
                {
                    return refused(
                        "the email was taken meanwhile",
                        ErrorKind::Forbidden,
                        "Cannot sign you in",
                        "An account with this email address exists. Sign in to it another way.",
                    );
                }
            }
            Err(e) => return unavailable("creating a user", &e),
        }
    }
    unavailable("choosing a username", &StoreError::Conflict("every candidate username".into()))
}
