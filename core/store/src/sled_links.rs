//! The sled backend's federated links (`links.rs`): `links` maps issuer\0subject to the
//! record, `user_links` indexes them by user. Writes that touch users and links are one
//! transaction over the trees involved.

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::links::{self, LinkRecord, SyncLinks, link_key, user_link_key};
use super::sled::{SledStore, io};
use super::{StoreError, UserRecord, decode, encode};

/// Tree of links by issuer and subject.
pub(super) const LINKS: &str = "links";
/// Tree of `user id \0 issuer \0 subject` → nothing.
pub(super) const USER_LINKS: &str = "user_links";

/// Why a transaction gave up.
enum Abort {
    Linked,
    NoUser,
    UserTaken,
}

fn settle(
    r: Result<(), TransactionError<Abort>>,
    link: &LinkRecord,
    user: Option<&UserRecord>,
) -> Result<(), StoreError> {
    match r {
        Ok(()) => Ok(()),
        Err(TransactionError::Abort(Abort::Linked)) => Err(links::taken(link)),
        Err(TransactionError::Abort(Abort::NoUser)) => Err(links::no_user(&link.user_id)),
        Err(TransactionError::Abort(Abort::UserTaken)) => {
            Err(StoreError::Conflict(format!("user `{}` or its email", user.map_or("", |u| u.username.as_str()))))
        }
        Err(TransactionError::Storage(e)) => Err(io(e)),
    }
}

impl SyncLinks for SledStore {
    fn find_link(&self, issuer: &str, subject: &str) -> Result<Option<LinkRecord>, StoreError> {
        match self.links.get(link_key(issuer, subject)).map_err(io)? {
            Some(v) => decode(LINKS, &v).map(Some),
            None => Ok(None),
        }
    }

    fn user_links(&self, user_id: &str) -> Result<Vec<LinkRecord>, StoreError> {
        let mut prefix = user_id.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for entry in self.user_links.scan_prefix(&prefix) {
            let (k, _) = entry.map_err(io)?;
            if let Some(v) = self.links.get(&k[prefix.len()..]).map_err(io)? {
                let link: LinkRecord = decode(LINKS, &v)?;
                if link.user_id == user_id {
                    out.push(link);
                }
            }
        }
        Ok(out)
    }

    fn add_link(&self, link: &LinkRecord) -> Result<(), StoreError> {
        links::valid(link)?;
        let _w = self.writing()?;
        let value = encode(link)?;
        let key = link_key(&link.issuer, &link.subject);
        let index = user_link_key(&link.user_id, &link.issuer, &link.subject);
        let r = (&self.users, &self.links, &self.user_links).transaction(|(users, links, user_links)| {
            if users.get(link.user_id.as_bytes())?.is_none() {
                return Err(ConflictableTransactionError::Abort(Abort::NoUser));
            }
            if links.get(&key)?.is_some() {
                return Err(ConflictableTransactionError::Abort(Abort::Linked));
            }
            links.insert(key.as_slice(), value.clone())?;
            user_links.insert(index.as_slice(), &[][..])?;
            Ok(())
        });
        settle(r, link, None)
    }

    fn create_linked_user(&self, user: &UserRecord, link: &LinkRecord) -> Result<(), StoreError> {
        let link = LinkRecord { user_id: user.id.clone(), ..link.clone() };
        links::valid(&link)?;
        let _w = self.writing()?;
        let (user_value, link_value) = (encode(user)?, encode(&link)?);
        let key = link_key(&link.issuer, &link.subject);
        let index = user_link_key(&user.id, &link.issuer, &link.subject);
        let trees = (&self.users, &self.user_names, &self.user_emails, &self.links, &self.user_links);
        let r = trees.transaction(|(users, names, emails, links, user_links)| {
            let abort = |a| Err(ConflictableTransactionError::Abort(a));
            if links.get(&key)?.is_some() {
                return abort(Abort::Linked);
            }
            if users.get(user.id.as_bytes())?.is_some() || names.get(user.username.as_bytes())?.is_some() {
                return abort(Abort::UserTaken);
            }
            if let Some(email) = &user.email {
                if emails.get(email.as_bytes())?.is_some() {
                    return abort(Abort::UserTaken);
                }
                emails.insert(email.as_bytes(), user.id.as_bytes())?;
            }
            names.insert(user.username.as_bytes(), user.id.as_bytes())?;
            users.insert(user.id.as_bytes(), user_value.clone())?;
            links.insert(key.as_slice(), link_value.clone())?;
            user_links.insert(index.as_slice(), &[][..])?;
            Ok(())
        });
        settle(r, &link, Some(user))
    }

    fn remove_link(&self, user_id: &str, issuer: &str, subject: &str) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        let key = link_key(issuer, subject);
        let index = user_link_key(user_id, issuer, subject);
        let r = (&self.links, &self.user_links).transaction(|(links, user_links)| {
            let Some(v) = links.get(&key)? else { return Ok(false) };
            let link: LinkRecord = decode(LINKS, &v).map_err(ConflictableTransactionError::Abort)?;
            if link.user_id != user_id {
                return Ok(false);
            }
            links.remove(key.as_slice())?;
            user_links.remove(index.as_slice())?;
            Ok(true)
        });
        match r {
            Ok(removed) => Ok(removed),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }

    fn touch_link(&self, issuer: &str, subject: &str, now: i64) -> Result<bool, StoreError> {
        let _w = self.writing()?;
        let mut found = false;
        self.links
            .fetch_and_update(link_key(issuer, subject), |old| {
                let old = old?;
                // An undecodable record stays as it is (reading it reports the corruption).
                let Ok(mut link) = decode::<LinkRecord>(LINKS, old) else { return Some(old.to_vec()) };
                found = true;
                link.last_used = now;
                Some(encode(&link).unwrap_or_else(|_| old.to_vec()))
            })
            .map_err(io)?;
        Ok(found)
    }
}
