//! Opening the database: SQLite in WAL mode, migrations, and the reader/writer pools.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Result;

/// Handle on the metadata database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    /// Pool for reads; WAL lets these run while a write is in progress.
    pub read: SqlitePool,
    /// A single connection for writes, so writers queue instead of failing with SQLITE_BUSY.
    pub write: SqlitePool,
    /// Bumped by every write that changes what the content app serves (versions,
    /// publications, distributions, guards), so its caches know when to reload.
    epoch: Arc<AtomicU64>,
    /// Bumped by every write to users, groups, memberships, roles and role assignments, so
    /// cached credentials and permissions are dropped at once.
    auth_epoch: Arc<AtomicU64>,
}

impl Db {
    /// Open (creating if needed) the SQLite database at `path` and run migrations.
    pub async fn open(path: &Path) -> Result<Db> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory");
        // Page cache: 8 MiB for the writer, 2 MiB per reader; memory stays bounded whatever
        // the database grows to (the OS page cache still holds the file).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone().pragma("cache_size", "-8192"))
            .await?;
        sqlx::migrate!("./migrations").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(6)
            .min_connections(1)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(None)
            .connect_with(options.read_only(true).pragma("cache_size", "-2048"))
            .await?;
        Ok(Db {
            read,
            write,
            epoch: Arc::new(AtomicU64::new(1)),
            auth_epoch: Arc::new(AtomicU64::new(1)),
        })
    }

    /// The current authentication/authorization epoch (see `touch_auth`).
    pub fn auth_epoch(&self) -> u64 {
        self.auth_epoch.load(Ordering::Acquire)
    }

    /// Record that users, groups or roles changed.
    pub fn touch_auth(&self) {
        self.auth_epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The current serving epoch (see `touch`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Record that what the content app serves has changed.
    pub fn touch(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether the database answers (for `/status/`).
    pub async fn ping(&self) -> bool {
        sqlx::query_scalar::<_, i64>("SELECT 1")
            .fetch_one(&self.read)
            .await
            .is_ok()
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
