//! Opening the database: SQLite in WAL mode, migrations, and the reader/writer pools.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::Result;
use crate::events::{Events, Topic};

/// Handle on the metadata database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    /// Pool for reads; WAL lets these run while a write is in progress.
    pub read: SqlitePool,
    /// A single connection for writes, so writers queue instead of failing with SQLITE_BUSY.
    pub write: SqlitePool,
    /// Change events, notified by the writes below them (see `events`).
    pub events: Events,
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
            events: Events::default(),
        })
    }

    /// Record that something under `topic` changed.
    pub fn changed(&self, topic: Topic) {
        self.events.notify(topic);
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
