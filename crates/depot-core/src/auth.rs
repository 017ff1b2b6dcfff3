//! Users, passwords and who may do what.
//!
//! Passwords are stored as argon2id hashes. Verifying argon2 costs tens of milliseconds, so a
//! verified (user, password) pair is remembered in memory, keyed by the user's stored hash;
//! user rows are remembered until users change (an auth event), so a password change or a
//! deactivation takes effect on the next request.
//!
//! Authorization is `rbac`'s.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

use crate::Depot;
use crate::cache::EventCache;
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

/// How long a verified (user, password) pair is trusted without verifying again. The entry
/// is keyed by the stored hash, so a password change ends it at once; this only bounds how
/// long a password lives in memory in hashed form.
const VERIFIED_TTL: Duration = Duration::from_secs(300);
/// How long a refused (user, password) pair is refused without verifying again.
const REFUSED_TTL: Duration = Duration::from_secs(60);
/// Failed verifications per username within `FAILURE_WINDOW` before further attempts are
/// refused without verifying (until the window ends).
const MAX_FAILURES: u32 = 20;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Requests that may wait for a password verification; more answer 429 at once.
const MAX_WAITING: usize = 64;
/// How long a refusal takes to arrive. A client guessing passwords (or replaying a wrong
/// one) waits this long per attempt, so a flood of wrong passwords runs at a trickle instead
/// of taking the CPU from everyone else; a person mistyping hardly notices.
const REFUSAL_DELAY: Duration = Duration::from_millis(500);

/// What is remembered about credentials, and the bound on verifying them.
///
/// A wrong password must not cost a full argon2 verification on every request, nor slow
/// other clients: refused pairs are remembered briefly, failures per username are counted,
/// verifications run on a bounded number of blocking threads with a bounded queue, and an
/// unknown user costs the same verification as a known one (against a decoy hash), so timing
/// tells nothing about which usernames exist.
pub struct CredentialCache {
    /// per-process random key, so the caches never hold a plain digest of a password
    key: [u8; 32],
    verified: quick_cache::sync::Cache<[u8; 32], Instant>,
    refused: quick_cache::sync::Cache<[u8; 32], Instant>,
    /// who a (username, password) pair verified as, until users, groups or roles change: the
    /// path of a client that keeps sending credentials (one hash and one lookup)
    known: EventCache<[u8; 32], (User, Instant)>,
    /// failures per username: (window start, count)
    failures: quick_cache::sync::Cache<String, (Instant, u32)>,
    /// user rows by name, until users, groups or roles change
    users: EventCache<String, Option<UserRow>>,
    verifying: tokio::sync::Semaphore,
    waiting: AtomicUsize,
    decoy: OnceLock<String>,
}

impl std::fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialCache").finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(events: &depot_store::Events) -> CredentialCache {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CredentialCache {
            key,
            verified: quick_cache::sync::Cache::new(10_000),
            refused: quick_cache::sync::Cache::new(10_000),
            known: EventCache::new(events, depot_store::Topic::Auth, 10_000),
            failures: quick_cache::sync::Cache::new(10_000),
            users: EventCache::new(events, depot_store::Topic::Auth, 10_000),
            // at most half the cores hash passwords, so serving always keeps the rest
            verifying: tokio::sync::Semaphore::new((cores / 2).max(1)),
            waiting: AtomicUsize::new(0),
            decoy: OnceLock::new(),
        }
    }

    fn fingerprint(&self, username: &str, stored_hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((username.len() as u64).to_le_bytes());
        h.update(username.as_bytes());
        h.update((stored_hash.len() as u64).to_le_bytes());
        h.update(stored_hash.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn recent(
        cache: &quick_cache::sync::Cache<[u8; 32], Instant>,
        fp: &[u8; 32],
        ttl: Duration,
    ) -> bool {
        cache.get(fp).is_some_and(|t| t.elapsed() < ttl)
    }

    /// Whether `username` failed too often lately.
    fn throttled(&self, username: &str) -> bool {
        self.failures
            .get(username)
            .is_some_and(|(start, n)| start.elapsed() < FAILURE_WINDOW && n >= MAX_FAILURES)
    }

    fn count_failure(&self, username: &str) {
        let next = match self.failures.get(username) {
            Some((start, n)) if start.elapsed() < FAILURE_WINDOW => (start, n + 1),
            _ => (Instant::now(), 1),
        };
        if next.1 == MAX_FAILURES {
            tracing::warn!(
                username,
                failures = MAX_FAILURES,
                "wrong passwords: further attempts for this user are refused unchecked for a minute"
            );
        }
        self.failures.insert(username.to_string(), next);
    }

    /// A hash no password matches, for unknown users (made once, on first need).
    fn decoy(&self) -> String {
        self.decoy
            .get_or_init(|| hash_password(&generate_password()))
            .clone()
    }

    /// Verify on a blocking thread, within the bound on concurrent verifications.
    async fn verify(&self, password: &str, stored: String) -> Result<bool> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(CoreError::TooManyRequests(
                "Too many authentication attempts at once; try again shortly.".into(),
            ));
        }
        let permit = self.verifying.acquire().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let _permit = permit.map_err(|e| CoreError::Internal(e.to_string()))?;
        let pw = password.to_string();
        tokio::task::spawn_blocking(move || verify_password(&pw, &stored))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))
    }
}

impl Depot {
    /// Check a username and password. `Ok(None)` for unknown users, wrong passwords and
    /// inactive users alike (the caller answers 401 without saying which).
    pub async fn authenticate(&self, username: &str, password: &str) -> Result<Option<User>> {
        let c = &self.credentials;
        // a pair verified since the last change to users: no row to read, nothing to verify
        let pair = c.fingerprint(username, "", password);
        if let Some((u, at)) = c.known.get(&pair)
            && at.elapsed() < VERIFIED_TTL
        {
            return Ok(Some(u));
        }
        let generation = c.known.generation();
        let user = self.authenticate_row(username, password).await?;
        if let Some(u) = &user {
            c.known
                .insert(pair, (u.clone(), Instant::now()), generation);
        }
        Ok(user)
    }

    async fn authenticate_row(&self, username: &str, password: &str) -> Result<Option<User>> {
        let c = &self.credentials;
        let row = self
            .user_row_cached(username)
            .await?
            .filter(|r| r.is_active);
        let stored = match &row {
            Some(r) => r.password_hash.clone(),
            None => c.decoy(),
        };
        let fp = c.fingerprint(username, &stored, password);
        let user = row.map(|r| User {
            id: r.id,
            username: r.username,
            is_superuser: r.is_superuser,
        });
        if user.is_some() && CredentialCache::recent(&c.verified, &fp, VERIFIED_TTL) {
            return Ok(user);
        }
        if CredentialCache::recent(&c.refused, &fp, REFUSED_TTL) || c.throttled(username) {
            tokio::time::sleep(REFUSAL_DELAY).await;
            return Ok(None);
        }
        let ok = c.verify(password, stored).await?;
        match user {
            Some(u) if ok => {
                c.verified.insert(fp, Instant::now());
                Ok(Some(u))
            }
            _ => {
                c.refused.insert(fp, Instant::now());
                c.count_failure(username);
                tokio::time::sleep(REFUSAL_DELAY).await;
                Ok(None)
            }
        }
    }

    /// A user row, from memory until users change.
    async fn user_row_cached(&self, username: &str) -> Result<Option<UserRow>> {
        if let Some(row) = self.credentials.users.get(username) {
            return Ok(row);
        }
        let generation = self.credentials.users.generation();
        let row = self.db.user_by_name(username).await?;
        self.credentials
            .users
            .insert(username.to_string(), row.clone(), generation);
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
    fn fingerprints_are_keyed_by_user_stored_hash_and_password() {
        let c = CredentialCache::new(&depot_store::Events::default());
        let fp = c.fingerprint("u", "hash-v1", "pw");
        c.verified.insert(fp, Instant::now());
        assert!(CredentialCache::recent(
            &c.verified,
            &c.fingerprint("u", "hash-v1", "pw"),
            VERIFIED_TTL
        ));
        assert!(!CredentialCache::recent(
            &c.verified,
            &c.fingerprint("u", "hash-v2", "pw"),
            VERIFIED_TTL
        ));
        assert!(!CredentialCache::recent(
            &c.verified,
            &c.fingerprint("u", "hash-v1", "other"),
            VERIFIED_TTL
        ));
        assert!(!CredentialCache::recent(
            &c.verified,
            &c.fingerprint("v", "hash-v1", "pw"),
            VERIFIED_TTL
        ));
    }

    #[test]
    fn failures_throttle_one_username() {
        let c = CredentialCache::new(&depot_store::Events::default());
        for _ in 0..MAX_FAILURES {
            assert!(!c.throttled("victim"));
            c.count_failure("victim");
        }
        assert!(c.throttled("victim"));
        assert!(!c.throttled("someone-else"));
    }

    #[tokio::test]
    async fn verifications_are_bounded() {
        let c = std::sync::Arc::new(CredentialCache::new(&depot_store::Events::default()));
        let hash = hash_password("right");
        assert!(c.verify("right", hash.clone()).await.unwrap());
        assert!(!c.verify("wrong", hash.clone()).await.unwrap());
        // with every waiting place taken, the next attempt is refused at once
        c.waiting.store(MAX_WAITING, Ordering::Release);
        assert!(matches!(
            c.verify("right", hash).await,
            Err(CoreError::TooManyRequests(_))
        ));
    }

    #[test]
    fn generated_passwords_are_long_and_distinct() {
        let a = generate_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_password());
    }
}
