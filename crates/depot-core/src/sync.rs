//! The sync engine, shared by every content type.
//!
//! A content type's sync function reads upstream metadata (fetched with
//! [`SyncRun::fetch_metadata`]) as a stream and hands the units it declares to
//! [`SyncRun::declare`] in batches. The engine matches them against stored content, records
//! where their artifacts can be fetched, and stages them for the task. With policy
//! `immediate` [`SyncRun::download_artifacts`] then fetches every missing artifact with the
//! remote's concurrency, verifying each; finally [`SyncRun::commit`] turns the staged set into
//! one new repository version, atomically, or into none when nothing changed.
//!
//! Memory stays bounded: units flow through in batches, pending downloads are read back in
//! pages, and the version difference is computed in SQL.

use std::sync::Arc;

use futures::TryStreamExt;
use serde_json::{Value, json};

use crate::Depot;
use crate::download::Downloader;
use crate::error::CoreError;
use crate::tasks::{Progress, TaskCtx, TaskError};
use depot_store::content::NewUnit;
use depot_store::records::{RemoteRow, RepositoryRow};
use depot_store::versions::CommitMode;
use depot_store::{Digests, ExpectedDigests, TempBlob};

/// Units per `declare` batch a content type should aim for.
pub const BATCH: usize = 1000;

/// Download policy of a remote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Immediate,
    OnDemand,
    Streamed,
}

impl Policy {
    pub fn parse(s: &str) -> Policy {
        match s {
            "on_demand" => Policy::OnDemand,
            "streamed" => Policy::Streamed,
            _ => Policy::Immediate,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Immediate => "immediate",
            Policy::OnDemand => "on_demand",
            Policy::Streamed => "streamed",
        }
    }
}

/// One sync of one repository from one remote.
pub struct SyncRun {
    pub ctx: TaskCtx,
    pub repository: RepositoryRow,
    pub remote: RemoteRow,
    pub downloader: Arc<Downloader>,
    pub policy: Policy,
    parsed: Option<Progress>,
}

impl SyncRun {
    /// Load the repository and remote named by the task's `repository` and `remote` arguments.
    pub async fn start(ctx: &TaskCtx) -> Result<SyncRun, TaskError> {
        let depot = &ctx.depot;
        let repo_id = ctx.require("repository")?;
        let remote_id = ctx.require("remote")?;
        let repository =
            depot.db.repository_get(repo_id).await?.ok_or_else(|| {
                TaskError::failed("the repository was deleted before the sync ran")
            })?;
        let remote = depot
            .db
            .remote_get(remote_id)
            .await?
            .ok_or_else(|| TaskError::failed("the remote was deleted before the sync ran"))?;
        let downloader = depot
            .downloaders
            .get(&remote)
            .map_err(|e| TaskError::failed(format!("remote '{}': {e}", remote.name)))?;
        let policy = Policy::parse(&remote.policy);
        Ok(SyncRun {
            ctx: ctx.clone(),
            repository,
            remote,
            downloader,
            policy,
            parsed: None,
        })
    }

    pub fn depot(&self) -> &Arc<Depot> {
        &self.ctx.depot
    }

    /// Fetch a metadata file into a temp blob (not stored as an artifact), verifying what is
    /// known about it, and report it under "Downloading Metadata".
    pub async fn fetch_metadata(
        &self,
        url: &str,
        expected: &ExpectedDigests,
    ) -> Result<(TempBlob, Digests), TaskError> {
        let p = self
            .ctx
            .progress("sync.downloading.metadata", "Downloading Metadata", None);
        let r = self
            .downloader
            .download(&self.depot().blobs, url, expected)
            .await
            .map_err(|e| TaskError::Failed(e.to_string()))?;
        p.increment(1);
        p.finish();
        Ok(r)
    }

    /// Declare a batch of units found upstream and stage them for the new version.
    pub async fn declare(&mut self, units: Vec<NewUnit>) -> Result<(), TaskError> {
        self.ctx.check_canceled()?;
        let n = units.len() as i64;
        self.depot()
            .db
            .declare_units(&units, Some(&self.ctx.id))
            .await
            .map_err(CoreError::from)?;
        let p = self.parsed.get_or_insert_with(|| {
            self.ctx
                .progress("sync.parsing.metadata", "Parsing Metadata Lines", None)
        });
        p.increment(n);
        Ok(())
    }

    /// Mark parsing done with its total.
    pub fn parsed_all(&mut self) {
        if let Some(p) = &self.parsed {
            p.set_total(p.done());
            p.finish();
        } else {
            let p = self
                .ctx
                .progress("sync.parsing.metadata", "Parsing Metadata Lines", Some(0));
            p.finish();
        }
    }

    /// Download every staged artifact this remote can provide that is not stored yet.
    ///
    /// Downloads flow without pauses: pending rows are read page by page as the download
    /// stream needs them, and finished downloads are recorded in the database in batches by
    /// a separate writer, so neither a page boundary nor a database write stalls the
    /// transfers in flight.
    pub async fn download_artifacts(&self) -> Result<(), TaskError> {
        let depot = self.depot().clone();
        let task = self.ctx.id.clone();
        let remote = self.remote.id.clone();
        let total = depot
            .db
            .pending_download_count(&task, &remote)
            .await
            .map_err(CoreError::from)?;
        let p = self.ctx.progress(
            "sync.downloading.artifacts",
            "Downloading Artifacts",
            Some(total),
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, Digests)>(1024);

        let writer = {
            let depot = depot.clone();
            async move {
                let mut batch = Vec::with_capacity(256);
                while let Some(first) = rx.recv().await {
                    batch.push(first);
                    while batch.len() < 256 {
                        match rx.try_recv() {
                            Ok(item) => batch.push(item),
                            Err(_) => break,
                        }
                    }
                    depot
                        .db
                        .record_downloads(&batch)
                        .await
                        .map_err(CoreError::from)?;
                    batch.clear();
                }
                Ok::<_, TaskError>(())
            }
        };

        let pages = futures::stream::unfold(Some(String::new()), {
            let depot = depot.clone();
            move |after| {
                let depot = depot.clone();
                let (task, remote) = (task.clone(), remote.clone());
                async move {
                    let after = after?;
                    match depot
                        .db
                        .pending_downloads(&task, &remote, &after, 500)
                        .await
                    {
                        Ok(page) if page.is_empty() => None,
                        Ok(page) => {
                            let next = page.last().map(|l| l.content_artifact_id.clone());
                            Some((Ok(page), next))
                        }
                        Err(e) => Some((Err(TaskError::from(e)), None)),
                    }
                }
            }
        });
        let downloads = pages
            .map_ok(|page| futures::stream::iter(page.into_iter().map(Ok::<_, TaskError>)))
            .try_flatten()
            .map_ok(|pending| {
                let downloader = self.downloader.clone();
                let depot = depot.clone();
                let cancel = self.ctx.cancel.clone();
                async move {
                    if cancel.is_cancelled() {
                        return Err(TaskError::Canceled);
                    }
                    let (blob, digests) = downloader
                        .download(&depot.blobs, &pending.url, &pending.expected())
                        .await
                        .map_err(|e| TaskError::Failed(e.to_string()))?;
                    depot
                        .blobs
                        .commit(blob, &digests.sha256)
                        .await
                        .map_err(|e| TaskError::failed(format!("storing artifact: {e}")))?;
                    Ok((pending.content_artifact_id, digests))
                }
            })
            .try_buffer_unordered(self.downloader.concurrency())
            .try_for_each({
                let progress = p.clone();
                move |done| {
                    let tx = tx.clone();
                    let p = progress.clone();
                    async move {
                        p.increment(1);
                        tx.send(done)
                            .await
                            .map_err(|_| TaskError::failed("recording downloads stopped"))
                    }
                }
            });
        let _gc = depot.blobs_adding().await?;
        tokio::try_join!(downloads, writer)?;
        p.finish();
        Ok(())
    }

    /// Whether the repository's latest content lacks bytes it should have with the
    /// `immediate` policy (so an otherwise unchanged upstream must still be synced).
    pub async fn missing_artifacts(&self) -> Result<bool, TaskError> {
        self.ctx
            .depot
            .db
            .repository_missing_artifacts(&self.repository.id)
            .await
            .map_err(|e| TaskError::failed(e.to_string()))
    }

    /// Create the new version from the staged units (`mirror`: exactly them; otherwise added
    /// to the current content). Returns the new version number, if one was created.
    pub async fn commit(&self, mirror: bool) -> Result<Option<i64>, TaskError> {
        self.ctx.check_canceled()?;
        let p = self
            .ctx
            .progress("associating.content", "Associating Content", None);
        let mode = if mirror {
            CommitMode::Exact
        } else {
            CommitMode::Add
        };
        let repo_key = self
            .depot()
            .plugins
            .repository(&self.repository.pulp_type)
            .and_then(|r| r.repo_key);
        let number = self
            .depot()
            .db
            .commit_version(&self.ctx.id, &self.repository.id, mode, None, repo_key)
            .await
            .map_err(crate::core_tasks::conflict)?;
        p.finish();
        Ok(number)
    }
}

/// The summary a sync leaves on the repository so an unchanged upstream can be skipped
/// next time (Pulp's `optimize`).
pub fn sync_details(
    url: &str,
    mirror: bool,
    remote: &RemoteRow,
    metadata_checksum: &str,
    version: i64,
) -> Value {
    json!({
        "url": url,
        "mirror": mirror,
        "remote_pk": remote.id,
        "remote_last_updated": remote.pulp_last_updated,
        "download_policy": remote.policy,
        "manifest_checksum": metadata_checksum,
        "most_recent_version": version,
    })
}
