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
use std::time::Duration;

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
    /// What this process serves.
    pub roles: Roles,
    /// Where artifact bytes live.
    pub blob_store: depot_store::BlobLocation,
    /// Answer requests for stored artifacts with a redirect to a short-lived presigned URL
    /// of the object store (after the content guard admitted them), like Pulp's
    /// `REDIRECT_TO_OBJECT_STORAGE`; otherwise stream the bytes through.
    pub redirect_to_object_storage: bool,
}

/// While blobs are being added (shared) or collected (exclusive); see
/// [`Depot::blobs_adding`].
#[derive(Debug)]
pub struct BlobGcGuard {
    _local: BlobGcLocal,
    _shared: depot_store::sql::SessionLock,
}

#[derive(Debug)]
enum BlobGcLocal {
    Adding {
        _guard: tokio::sync::OwnedRwLockReadGuard<()>,
    },
    Collecting {
        _guard: tokio::sync::OwnedRwLockWriteGuard<()>,
    },
}

/// What one `depot serve` process does: the REST API, the content app, running tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub content: bool,
    pub worker: bool,
}

impl Default for Roles {
    fn default() -> Self {
        Roles {
            api: true,
            content: true,
            worker: true,
        }
    }
}

impl Roles {
    /// `api,content,worker` (any of them, at least one).
    pub fn parse(s: &str) -> std::result::Result<Roles, String> {
        let mut r = Roles {
            api: false,
            content: false,
            worker: false,
        };
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "api" => r.api = true,
                "content" => r.content = true,
                "worker" => r.worker = true,
                other => {
                    return Err(format!(
                        "unknown role {other:?}: roles are api, content and worker"
                    ));
                }
            }
        }
        if r == (Roles {
            api: false,
            content: false,
            worker: false,
        }) {
            return Err("give at least one role: api, content, worker".into());
        }
        Ok(r)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.api {
            v.push("api");
        }
        if self.content {
            v.push("content");
        }
        if self.worker {
            v.push("worker");
        }
        v
    }
}

pub const CONTENT_PATH_PREFIX: &str = "/pulp/content/";

const WORKER_DIED: &str =
    "depot stopped while this task ran (worker died); nothing it started was kept. Run it again.";

/// Whether a process with this pid runs on this host.
fn pid_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Settings whose keys start with this are sealed with the secrets key (and re-sealed when it
/// rotates).
pub const SEALED_SETTING: &str = "sealed:";

/// The cross-process lock between blob writers and orphan cleanup.
const BLOB_GC_LOCK: &str = "depot:blob-gc";

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
    /// Held shared while blobs are added, exclusively while orphan cleanup deletes them, so
    /// a blob is never deleted between being stored and being referenced (see
    /// [`Depot::blobs_adding`]).
    blob_gc: Arc<tokio::sync::RwLock<()>>,
    /// Identifies this process in `/status/` and in the workers table (`<pid>@<host>` like
    /// Pulp).
    pub process_name: String,
    pub host: String,
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
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let process_name = format!("{}@{host}", std::process::id());
        let blobs =
            BlobStore::open_at(&config.data_dir, &config.blob_store)?.for_process(&process_name)?;
        let mut all = vec![core_tasks::plugin()];
        all.extend(plugins);
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
            blob_gc: Arc::default(),
            process_name,
            host,
        };
        Ok(Arc::new(depot))
    }

    /// Hold while storing blobs and recording what references them: orphan cleanup, in this
    /// process or any other on the same database, waits until the guard is dropped.
    pub async fn blobs_adding(&self) -> Result<BlobGcGuard> {
        let local = self.blob_gc.clone().read_owned().await;
        let shared = self.db.write.session_lock(BLOB_GC_LOCK, false).await?;
        Ok(BlobGcGuard {
            _local: BlobGcLocal::Adding { _guard: local },
            _shared: shared,
        })
    }

    /// Hold while deleting blobs: waits for every process's blob writers to finish.
    pub async fn blobs_collecting(&self) -> Result<BlobGcGuard> {
        let local = self.blob_gc.clone().write_owned().await;
        let shared = self.db.write.session_lock(BLOB_GC_LOCK, true).await?;
        Ok(BlobGcGuard {
            _local: BlobGcLocal::Collecting { _guard: local },
            _shared: shared,
        })
    }

    /// Recover from unclean stops before serving. On SQLite this process has the database
    /// to itself (the data directory is locked): every task left running failed with the
    /// previous process, and every temporary file is a leftover. On PostgreSQL only the
    /// work of processes known to be gone is recovered (see [`Depot::recover_gone_workers`]).
    pub async fn recover(&self) -> Result<()> {
        let removed = match self.db.backend() {
            depot_store::sql::Backend::Sqlite => {
                let failed = self.db.recover_after_crash(WORKER_DIED).await?;
                if !failed.is_empty() {
                    tracing::warn!(
                        count = failed.len(),
                        "marked tasks of a previous run as failed"
                    );
                }
                self.blobs.clear_tmp(true)?
            }
            depot_store::sql::Backend::Postgres => {
                self.recover_gone_workers().await?;
                self.blobs.clear_tmp(false)?
            }
        };
        if removed > 0 {
            tracing::info!(count = removed, "removed unfinished downloads");
        }
        Ok(())
    }

    /// Fail the tasks of processes that stopped heartbeating (or, on this host, whose pid
    /// is gone) and free what they held.
    pub async fn recover_gone_workers(&self) -> Result<()> {
        // tasks of workers the table no longer knows (a row removed by hand, say)
        for name in self.db.task_workers_unknown().await? {
            let failed = self.db.recover_worker(&name, WORKER_DIED).await?;
            tracing::warn!(worker = %name, failed = failed.len(), "tasks of an unknown worker failed");
        }
        let now = chrono::Utc::now();
        for w in self.db.workers().await? {
            if w.name == self.process_name {
                continue;
            }
            let silent = chrono::DateTime::parse_from_rfc3339(&w.last_heartbeat)
                .map(|t| now.signed_duration_since(t).to_std().unwrap_or_default())
                .unwrap_or(Duration::MAX);
            let dead_here = w.host == self.host && !pid_alive(w.pid);
            if silent < tasks::GONE_AFTER && !dead_here {
                continue;
            }
            let failed = self.db.recover_worker(&w.name, WORKER_DIED).await?;
            let _ = self.blobs.clear_tmp_of(&w.name);
            tracing::warn!(
                worker = %w.name,
                silent_s = silent.as_secs(),
                failed = failed.len(),
                "a depot process is gone: its running tasks failed and their resources were freed"
            );
        }
        Ok(())
    }

    /// Say this process is alive every few seconds (and, for workers, recover the work of
    /// processes that stopped saying so).
    pub fn start_presence(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let depot = self.clone();
        tokio::spawn(async move {
            let row = depot_store::tasks::WorkerRow {
                name: depot.process_name.clone(),
                roles: serde_json::to_string(&depot.config.roles.names()).expect("roles"),
                pid: std::process::id().into(),
                host: depot.host.clone(),
                started_at: depot_store::now(),
                last_heartbeat: String::new(),
            };
            loop {
                if let Err(e) = depot.db.worker_heartbeat(&row).await {
                    tracing::error!(error = %e, "heartbeat failed");
                }
                if depot.config.roles.worker
                    && depot.db.backend() == depot_store::sql::Backend::Postgres
                    && let Err(e) = depot.recover_gone_workers().await
                {
                    tracing::error!(error = %e, "recovering gone workers failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(tasks::HEARTBEAT) => {}
                    _ = depot.runner.shutdown.cancelled() => break,
                }
            }
        })
    }

    /// Say this process is alive now (before it claims any task, so no task is ever held
    /// by a worker the table does not know).
    pub async fn announce(&self) -> Result<()> {
        self.db
            .worker_heartbeat(&depot_store::tasks::WorkerRow {
                name: self.process_name.clone(),
                roles: serde_json::to_string(&self.config.roles.names()).expect("roles"),
                pid: std::process::id().into(),
                host: self.host.clone(),
                started_at: depot_store::now(),
                last_heartbeat: String::new(),
            })
            .await?;
        Ok(())
    }

    /// After the task runner stopped: fail whatever task of this process did not record its
    /// end (one claimed as the stop began), and leave the workers table.
    pub async fn retire(&self) -> Result<()> {
        let failed = self
            .db
            .recover_worker(
                &self.process_name,
                "depot was stopped while this task ran; nothing it started was kept. Run it again.",
            )
            .await?;
        if !failed.is_empty() {
            tracing::warn!(count = failed.len(), "tasks failed as depot stopped");
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
        // settings kept sealed (keys `sealed:...`, e.g. the registry's token key)
        let mut settings = Vec::new();
        for (key, stored) in db.settings_with_prefix(SEALED_SETTING).await? {
            let plain = sb
                .open(&stored)
                .map_err(|e| CoreError::Internal(format!("setting {key}: {e}")))?;
            settings.push((key, sb.seal(&plain)));
        }
        db.settings_replace(&settings).await?;
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
