//! depot's storage layer: metadata in SQL, artifacts content-addressed by sha256 in a blob store.
//!
//! This crate knows SQL and files and nothing about HTTP or Pulp's JSON shapes. Every query
//! depot runs lives here, so that a second SQL backend only has to re-implement this crate.
//! Writes go through a single connection (SQLite allows one writer at a time; queueing them in
//! the pool is cheaper than retrying on `SQLITE_BUSY`), reads through a pool.

pub mod blobs;
pub mod container;
pub mod content;
pub mod db;
pub mod events;
pub mod list;
pub mod lock;
pub mod metadata;
pub mod migrate;
pub mod rbac;
pub mod records;
pub mod secrets;
pub mod signing;
pub mod sql;
pub mod tasks;
pub mod versions;

pub use blobs::{
    BlobLocation, BlobStore, BlobStream, Committed, Digests, ExpectedDigests, LocalBlob, S3Config,
    TempBlob,
};
pub use db::Db;
pub use events::{Events, Topic};
pub use list::{Filter, KeyTest, ListQuery, Page};

use thiserror::Error;

/// Errors of the storage layer. Unique-constraint violations are reported separately so the
/// HTTP layer can turn them into Pulp's `{"name": ["This field must be unique."]}`.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("storage i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{column} must be unique")]
    Unique { column: String },
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// Classify a sqlx error, picking out unique-constraint violations.
    pub fn from_sqlx(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            let column = match (db.constraint(), db.table()) {
                // PostgreSQL names the constraint: "remotes_name_key" on table "remotes"
                (Some(c), Some(t)) => c
                    .strip_prefix(t)
                    .and_then(|c| c.strip_prefix('_'))
                    .and_then(|c| c.strip_suffix("_key"))
                    .unwrap_or("name")
                    .to_string(),
                // SQLite says "UNIQUE constraint failed: remotes.name"
                _ => db
                    .message()
                    .rsplit('.')
                    .next()
                    .unwrap_or("name")
                    .to_string(),
            };
            return StoreError::Unique { column };
        }
        StoreError::Sql(e)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The current time as Pulp renders it: `2026-11-25T16:35:35.820060Z`.
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

pub fn format_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// A new primary key. UUIDv7 like Pulp: time-ordered, so inserts append to the index.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
