//! Users, passwords and who may do what.
//!
//! Passwords are stored as argon2id hashes. Verifying argon2 costs tens of milliseconds, so a
//! verified (user, password) pair is remembered in memory — keyed by the user's current stored
//! hash, which is re-read on every request: a password change or a deactivation therefore
//! takes effect on the next request, in this process and in any other sharing the database.
//!
//! Authorization is `rbac`'s.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::Depot;
use crate::error::{CoreError, Result};
use depot_store::records::UserRow;

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub is_superuser: bool,
}

pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for the first admin: 24 characters from an unambiguous alphabet.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 24];
    OsRng.fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// Remembers users and successful verifications for a while.
#[derive(Debug)]
pub struct CredentialCache {
    /// per-process random key, so the cache never holds a plain digest of a password
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
    /// user rows by name, valid for one auth epoch (any user/group/role write ends it)
    users: Mutex<UserCache>,
    ttl: Duration,
}

/// (auth epoch, username -> (when read, row))
type UserCache = (u64, HashMap<String, (Instant, Option<UserRow>)>);

/// How long a cached user row is trusted when nothing in this process changed users: other
/// processes sharing the database are noticed within this time.
const USER_TTL: Duration = Duration::from_secs(5);

impl Default for CredentialCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        CredentialCache {
            key,
            entries: Mutex::new(HashMap::new()),
            users: Mutex::new((0, HashMap::new())),
            ttl: Duration::from_secs(300),
        }
    }
}

impl CredentialCache {
    fn fingerprint(&self, user_id: i64, stored_hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(user_id.to_le_bytes());
        h.update(stored_hash.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn hit(&self, fp: &[u8; 32]) -> bool {
        let entries = self.entries.lock().unwrap();
        matches!(entries.get(fp), Some(t) if t.elapsed() < self.ttl)
    }

    fn remember(&self, fp: [u8; 32]) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() > 10_000 {
            let ttl = self.ttl;
            entries.retain(|_, t| t.elapsed() < ttl);
        }
        entries.insert(fp, Instant::now());
    }
}

impl Depot {
    /// Check a username and password. `Ok(None)` for unknown users, wrong passwords and
    /// inactive users alike (the caller answers 401 without saying which).
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>> {
        let Some(row) = self.user_row_cached(username).await? else {
            return Ok(None);
        };
        if !row.is_active {
            return Ok(None);
        }
        let fp = self
            .credentials
            .fingerprint(row.id, &row.password_hash, password);
        if !self.credentials.hit(&fp) {
            let stored = row.password_hash.clone();
            let pw = password.to_string();
            let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &stored))
                .await
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            if !ok {
                return Ok(None);
            }
            self.credentials.remember(fp);
        }
        Ok(Some(User {
            id: row.id,
            username: row.username,
            is_superuser: row.is_superuser,
        }))
    }

    /// A user row, from memory while users are unchanged.
    async fn user_row_cached(&self, username: &str) -> Result<Option<UserRow>> {
        let epoch = self.db.auth_epoch();
        {
            let mut users = self.credentials.users.lock().unwrap();
            if users.0 != epoch {
                users.0 = epoch;
                users.1.clear();
            } else if let Some((at, row)) = users.1.get(username)
                && at.elapsed() < USER_TTL
            {
                return Ok(row.clone());
            }
        }
        let row = self.db.user_by_name(username).await?;
        let mut users = self.credentials.users.lock().unwrap();
        if users.0 == epoch {
            if users.1.len() > 10_000 {
                users.1.clear();
            }
            users
                .1
                .insert(username.to_string(), (Instant::now(), row.clone()));
        }
        Ok(row)
    }

    /// Create the first superuser if there is no user yet. Returns the generated password
    /// when none was given.
    pub async fn ensure_admin(&self, password: Option<&str>) -> Result<Option<String>> {
        if self.db.user_count().await? > 0 {
            return Ok(None);
        }
        let (pw, generated) = match password {
            Some(p) if !p.is_empty() => (p.to_string(), false),
            _ => (generate_password(), true),
        };
        let hash = tokio::task::spawn_blocking(move || {
            let h = hash_password(&pw);
            (h, pw)
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        self.db.user_insert("admin", &hash.0, true).await?;
        Ok(generated.then_some(hash.1))
    }

    pub async fn set_password(&self, username: &str, password: &str) -> Result<()> {
        let pw = password.to_string();
        let hash = tokio::task::spawn_blocking(move || hash_password(&pw))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        match self.db.user_set_password(username, &hash).await {
            Err(depot_store::StoreError::NotFound) => {
                Err(CoreError::NotFound(format!("no user named '{username}'")))
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let a = hash_password("s3cret");
        let b = hash_password("s3cret");
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &a));
        assert!(!verify_password("wrong", &a));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn cache_is_keyed_by_stored_hash() {
        let c = CredentialCache::default();
        let fp = c.fingerprint(1, "hash-v1", "pw");
        c.remember(fp);
        assert!(c.hit(&c.fingerprint(1, "hash-v1", "pw")));
        assert!(!c.hit(&c.fingerprint(1, "hash-v2", "pw")));
        assert!(!c.hit(&c.fingerprint(1, "hash-v1", "other")));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_password());
    }
}
