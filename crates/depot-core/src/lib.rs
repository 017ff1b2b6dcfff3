//! depot's domain: repositories and their immutable versions, remotes, publications,
//! distributions, users, tasks, the sync engine and content serving rules.
//!
//! Nothing here knows HTTP. The HTTP layer parses a request, calls a method of [`Depot`] and
//! renders what it gets back; content types plug in through [`plugin::Plugin`].

pub mod auth;
pub mod cache;
pub mod check;
pub mod core_tasks;
pub mod download;
pub mod error;
pub mod fields;
pub mod href;
pub mod ondemand;
pub mod plugin;
pub mod rbac;
pub mod resources;
pub mod serving;
pub mod signing;
pub mod sync;
pub mod tasks;

use std::path::PathBuf;
use std::sync::Arc;

pub use error::{CoreError, Result};
pub use plugin::{Family, Plugin, Plugins};

use depot_store::{BlobStore, Db};

/// Settings the domain needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Public origin of the content app, e.g. `http://127.0.0.1:24817`; used in `base_url`.
    pub content_origin: String,
    /// Concurrent tasks.
    pub workers: usize,
    /// The key file for secrets at rest (created when missing).
    pub secret_key_file: PathBuf,
    /// The metadata database (`sqlite:...`, `postgres://...`); `None`: SQLite in the data
    /// directory.
    pub database: Option<String>,
}

pub const CONTENT_PATH_PREFIX: &str = "/pulp/content/";

/// The running depot: storage, registered content types, task runner and caches.
#[derive(Debug)]
pub struct Depot {
    pub db: Db,
    pub blobs: BlobStore,
    pub plugins: Plugins,
    pub config: Config,
    pub runner: tasks::Runner,
    pub credentials: auth::CredentialCache,
    pub permissions: rbac::PermissionCache,
    pub downloaders: download::DownloaderCache,
    /// Encrypts remote secrets at rest.
    pub secrets: Arc<depot_store::secrets::SecretBox>,
    pub fetches: ondemand::Fetches,
    pub serving: serving::ServingCache,
    /// Held for reading while blobs are added, for writing while orphan cleanup deletes them,
    /// so a blob is never deleted between being stored and being referenced.
    pub blob_gc: tokio::sync::RwLock<()>,
    /// Identifies this process in `/status/` (`<pid>@<host>` like Pulp).
    pub process_name: String,
}

impl Depot {
    /// Open storage under the data directory and recover from an unclean stop: tasks that were
    /// running are marked failed and whatever they had staged is removed. Does not start the
    /// task scheduler (see [`Depot::start_workers`]).
    pub async fn open(config: Config, plugins: Vec<Plugin>) -> Result<Arc<Depot>> {
        std::fs::create_dir_all(&config.data_dir)?;
        let db = match &config.database {
            Some(url) => Db::connect(url).await?,
            None => Db::open(&config.data_dir.join("depot.sqlite3")).await?,
        };
        let blobs = BlobStore::open(&config.data_dir)?;
        let mut all = vec![core_tasks::plugin()];
        all.extend(plugins);
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let secrets = Arc::new(
            depot_store::secrets::SecretBox::load_or_create(&config.secret_key_file)
                .map_err(CoreError::Internal)?,
        );
        let credentials = auth::CredentialCache::new(&db.events);
        let permissions = rbac::PermissionCache::new(&db.events);
        let serving = serving::ServingCache::new(&db.events);
        let depot = Depot {
            db,
            blobs,
            plugins: Plugins::new(all),
            runner: tasks::Runner::new(config.workers),
            config,
            credentials,
            permissions,
            downloaders: download::DownloaderCache::new(secrets.clone()),
            secrets,
            fetches: ondemand::Fetches::default(),
            serving,
            blob_gc: tokio::sync::RwLock::new(()),
            process_name: format!("{}@{host}", std::process::id()),
        };
        Ok(Arc::new(depot))
    }

    /// Fail tasks left running by a previous process and clear temporary files. Only call
    /// when no other process shares this data directory's database.
    pub async fn recover(&self) -> Result<()> {
        let failed = self
            .db
            .recover_after_crash(
                "depot stopped while this task ran (worker died); nothing it started was kept. \
                 Run it again.",
            )
            .await?;
        if !failed.is_empty() {
            tracing::warn!(
                count = failed.len(),
                "marked tasks of a previous run as failed"
            );
        }
        let removed = self.blobs.clear_tmp()?;
        if removed > 0 {
            tracing::info!(count = removed, "removed unfinished downloads");
        }
        Ok(())
    }

    /// Rotate the key of secrets at rest: a new key first in the key file, every remote's
    /// secrets sealed with it, then the old keys dropped. Run with the data directory to
    /// oneself (no server on it); safe to run again after an interruption. Returns
    /// (rows re-encrypted, old key ids, new key id).
    pub async fn rotate_secret_key(
        db: &Db,
        key_file: &std::path::Path,
    ) -> Result<(usize, String, String)> {
        let mut sb = depot_store::secrets::SecretBox::load_or_create(key_file)
            .map_err(CoreError::Internal)?;
        let old = sb.current_id().to_string();
        sb.begin_rotation().map_err(CoreError::Internal)?;
        let mut rows = Vec::new();
        for (id, stored) in db.remote_secrets_all().await? {
            let plain = sb
                .open(&stored)
                .map_err(|e| CoreError::Internal(format!("remote {id}: {e}")))?;
            rows.push((id, sb.seal(&plain)));
        }
        db.remote_set_secrets(&rows).await?;
        sb.finish_rotation().map_err(CoreError::Internal)?;
        Ok((rows.len(), old, sb.current_id().to_string()))
    }

    /// Start the task scheduler.
    pub fn start_workers(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(tasks::run_scheduler(self.clone()))
    }

    /// `base_url` of a distribution.
    pub fn base_url(&self, base_path: &str) -> String {
        format!(
            "{}{CONTENT_PATH_PREFIX}{base_path}/",
            self.config.content_origin.trim_end_matches('/')
        )
    }
}
