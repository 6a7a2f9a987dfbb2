//! Users on sled beyond the plain reads: a page of a listing from the indexes, and removal.
//!
//! Removing a user: one transaction over the user, its name and email index, its
//! factors and passkey index, and the links found for it; then a second sweep of the
//! per-user link index (a link written just before the transaction) and the consents.
//! Once the user is gone no link or factor can be added for it (those writes check the
//! user in their own transaction).

use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::browser::consent_key;
use crate::factors::FactorsRecord;
use crate::sled::{SledStore, io};
use crate::{StoreError, UserRecord, decode};

impl SledStore {
    /// The keys of `user_id`'s entries in the per-user link index.
    fn link_keys(&self, user_id: &str) -> Result<Vec<sled::IVec>, StoreError> {
        let mut prefix = user_id.as_bytes().to_vec();
        prefix.push(0);
        self.user_links.scan_prefix(&prefix).keys().map(|k| k.map_err(io)).collect()
    }

    /// Removes the links the index `keys` name, and the index entries.
    fn remove_links(&self, user_id: &str, keys: &[sled::IVec]) -> Result<(), StoreError> {
        let skip = user_id.len() + 1;
        for k in keys {
            self.links.remove(&k[skip..]).map_err(io)?;
            self.user_links.remove(k).map_err(io)?;
        }
        Ok(())
    }

    pub(super) fn delete_user_records(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let _w = self.writing()?;
        let links = self.link_keys(id)?;
        let trees = (&self.users, &self.user_names, &self.user_emails, &self.factors, &self.passkey_ids, &self.links);
        let r = trees.transaction(|(users, names, emails, factors, passkeys, all_links)| {
            let abort = |e| ConflictableTransactionError::Abort(e);
            let Some(v) = users.remove(id.as_bytes())? else { return Ok(None) };
            let user: UserRecord = decode("users", &v).map_err(abort)?;
            names.remove(user.username.as_bytes())?;
            if let Some(email) = &user.email {
                emails.remove(email.as_bytes())?;
            }
            if let Some(v) = factors.remove(id.as_bytes())? {
                let record: FactorsRecord = decode("factors", &v).map_err(abort)?;
                for cred in record.credential_ids() {
                    passkeys.remove(cred.as_bytes())?;
                }
            }
            for k in &links {
                all_links.remove(&k[id.len() + 1..])?;
            }
            Ok(Some(user))
        });
        let user = match r {
            Ok(u) => u,
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(io(e)),
        };
        if user.is_some() {
            self.remove_links(id, &links)?;
            let late = self.link_keys(id)?;
            self.remove_links(id, &late)?;
            let prefix = consent_key(id, "");
            for k in self.browser().consents.scan_prefix(&prefix).keys() {
                self.browser().consents.remove(k.map_err(io)?).map_err(io)?;
            }
        }
        Ok(user)
    }
}

impl SledStore {
    /// A page of users from the name and email indexes: only the keys are read outside the
    /// page (and the records of email matches, for their usernames).
    pub(super) fn users_page_by_index(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserRecord>, StoreError> {
        let p = prefix.unwrap_or_default().as_bytes();
        let after = after.unwrap_or_default();
        // Usernames in order: from the cursor (or the prefix), while the prefix holds.
        let start: &[u8] = if after.as_bytes() > p { after.as_bytes() } else { p };
        let mut picked: Vec<(String, Option<UserRecord>, sled::IVec)> = Vec::new();
        for entry in self.user_names.range(start..) {
            let (name, id) = entry.map_err(io)?;
            if !name.starts_with(p) || picked.len() >= limit {
                break;
            }
            if &*name > after.as_bytes() {
                picked.push((String::from_utf8_lossy(&name).into_owned(), None, id));
            }
        }
        if prefix.is_some() {
            for entry in self.user_emails.scan_prefix(p) {
                let (_, id) = entry.map_err(io)?;
                let Some(v) = self.users.get(&id).map_err(io)? else { continue };
                let user: UserRecord = decode("users", &v)?;
                if user.username.as_str() > after && !picked.iter().any(|(n, _, _)| *n == user.username) {
                    picked.push((user.username.clone(), Some(user), id));
                }
            }
            picked.sort_by(|a, b| a.0.cmp(&b.0));
        }
        picked.truncate(limit);
        let mut out = Vec::with_capacity(picked.len());
        for (_, user, id) in picked {
            match user {
                Some(u) => out.push(u),
                None => {
                    if let Some(v) = self.users.get(&id).map_err(io)? {
                        out.push(decode("users", &v)?);
                    }
                }
            }
        }
        Ok(out)
    }
}
