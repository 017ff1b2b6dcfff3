//! Opening the database: SQLite in WAL mode with reader/writer pools, or PostgreSQL with one
//! pool; migrations for each.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::Result;
use crate::events::{Events, Topic};
use crate::sql::{Backend, Pool, query_scalar};

/// Handle on the metadata database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    /// Pool for reads. On SQLite, WAL lets these run while a write is in progress.
    pub read: Pool,
    /// On SQLite a single connection for writes, so writers queue instead of failing with
    /// SQLITE_BUSY; on PostgreSQL the same pool as `read`.
    pub write: Pool,
    /// Change events, notified by the writes below them (see `events`).
    pub events: Events,
    /// Tasks of this process that staged content (the others have nothing to clear).
    pub(crate) staging: Staging,
}

/// Ids of the tasks that staged content through this handle.
#[derive(Clone, Debug, Default)]
pub(crate) struct Staging(std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>);

impl Staging {
    pub(crate) fn mark(&self, task_id: &str) {
        self.0.lock().unwrap().insert(task_id.to_string());
    }

    /// Whether the task staged anything; forgets it.
    pub(crate) fn take(&self, task_id: &str) -> bool {
        self.0.lock().unwrap().remove(task_id)
    }
}

/// Where the metadata lives: `sqlite:PATH` or `postgres://...`.
pub fn parse_url(url: &str) -> std::result::Result<Backend, String> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(format!(
            "unsupported database URL {:?}: use sqlite:PATH or postgres://USER@HOST/NAME",
            redact_url(url)
        ))
    }
}

/// A database URL without its password, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
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
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(6)
            .min_connections(1)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(None)
            .connect_with(options.read_only(true).pragma("cache_size", "-2048"))
            .await?;
        Ok(Db {
            read: Pool::Sqlite(read),
            write: Pool::Sqlite(write),
            events: Events::default(),
            staging: Staging::default(),
        })
    }

    /// Connect to the PostgreSQL database at `url` and run migrations (many processes may
    /// start at once: the migrator serialises them with an advisory lock).
    pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<Db> {
        let events = Events::default();
        // the origin of this process's notifications, also for those the database's
        // triggers send (`depot-<origin>`, as pg_stat_activity shows it)
        let options =
            PgConnectOptions::from_str(url)?.application_name(&format!("depot-{}", events.origin));
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .idle_timeout(Some(Duration::from_secs(600)))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let pool = Pool::Postgres(pool);
        Ok(Db {
            read: pool.clone(),
            write: pool,
            events,
            staging: Staging::default(),
        })
    }

    /// Open the database a URL names: `sqlite:PATH` or `postgres://...`.
    pub async fn connect(url: &str) -> Result<Db> {
        match parse_url(url).map_err(crate::StoreError::Conflict)? {
            Backend::Sqlite => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                Db::open(Path::new(path)).await
            }
            Backend::Postgres => Db::connect_postgres(url, 16).await,
        }
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.write.backend()
    }

    /// Record that something under `topic` changed: caches of this process forget at
    /// once; on PostgreSQL every other process hears it through `NOTIFY` (see
    /// [`Db::listen`]).
    pub fn changed(&self, topic: Topic) {
        self.events.notify(topic);
        if let Pool::Postgres(pool) = &self.write {
            let pool = pool.clone();
            let payload = format!("{}:{}", topic.name(), self.events.origin);
            tokio::spawn(async move {
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::events::CHANNEL)
                    .bind(&payload)
                    .execute(&pool)
                    .await
                {
                    tracing::warn!(error = %e, "telling other processes of a change failed");
                }
            });
        }
    }

    /// Tell every other process that `topic` changed, and wait until the database has it
    /// (for a short-lived process, such as an admin command, that may exit right after).
    pub async fn announce(&self, topic: Topic) -> Result<()> {
        if let Pool::Postgres(pool) = &self.write {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(crate::events::CHANNEL)
                .bind(format!("{}:{}", topic.name(), self.events.origin))
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, hear the changes other processes make and forget what they make
    /// stale. Should the connection drop, every cache is forgotten once it is back (what
    /// was said meanwhile is lost). Nothing to do on SQLite (one process).
    pub fn listen(&self) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.write else {
            return None;
        };
        let pool = pool.clone();
        let events = self.events.clone();
        Some(tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for other processes' changes");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                };
                if let Err(e) = listener.listen(crate::events::CHANNEL).await {
                    tracing::warn!(error = %e, "cannot listen for other processes' changes");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                // whatever changed while nobody listened
                for topic in Topic::ALL {
                    events.notify(topic);
                }
                loop {
                    match listener.try_recv().await {
                        Ok(Some(n)) => {
                            let (topic, origin) =
                                n.payload().split_once(':').unwrap_or((n.payload(), ""));
                            if origin != &*events.origin
                                && let Some(t) = Topic::from_name(topic)
                            {
                                events.notify(t);
                            }
                        }
                        // the connection dropped: listen again, forgetting everything
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "listening for changes failed");
                            break;
                        }
                    }
                }
            }
        }))
    }

    /// Whether the database answers (for `/status/`).
    pub async fn ping(&self) -> bool {
        query_scalar::<i64>("SELECT CAST(1 AS BIGINT)")
            .fetch_one(&self.read)
            .await
            .is_ok()
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}
