//! Fetching on_demand and streamed content on first request.
//!
//! The first request for a missing artifact starts one download (tried against each remote
//! that can provide it); every concurrent request for the same artifact reads the same bytes
//! from the file being written, so the upstream sees one request however many clients wait.
//! Bytes are verified while they arrive. Readers are held back by one byte until the whole
//! file has been verified: a client never receives a complete body whose digest is wrong —
//! on a mismatch its connection is cut short instead. With policy `immediate` or `on_demand`
//! the verified file is stored as an artifact; with `streamed` it is only passed through.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::sync::watch;

use crate::Depot;
use crate::error::{CoreError, Result};
use crate::sync::Policy;
use depot_store::content::RemoteArtifactRow;

/// A remote that failed to deliver an artifact is not asked again for this long.
const FAILURE_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchState {
    /// `readable` bytes may be read from the temp file.
    Running {
        readable: u64,
    },
    /// All `size` bytes verified. `stored` is where the artifact now lives, if kept.
    Done {
        size: u64,
        stored: Option<PathBuf>,
    },
    Failed(String),
}

/// One download in flight.
#[derive(Debug)]
pub struct Fetch {
    temp_path: PathBuf,
    /// Expected size, when the remote declared one.
    pub size: Option<u64>,
    state: watch::Receiver<FetchState>,
}

/// Downloads in flight, by content artifact id.
#[derive(Debug, Default)]
pub struct Fetches {
    map: Mutex<HashMap<String, Arc<Fetch>>>,
}

/// A reader of a fetch, from `pos` up to `end` (exclusive) or the end of the file.
#[derive(Debug)]
pub struct FetchReader {
    file: tokio::fs::File,
    state: watch::Receiver<FetchState>,
    pos: u64,
    end: Option<u64>,
}

impl FetchReader {
    /// Wait until bytes are available (or the fetch ended): `Err` if it failed before
    /// anything could be sent, so the caller can answer 502 instead of a broken 200.
    pub async fn wait_started(&mut self) -> std::result::Result<(), String> {
        loop {
            match &*self.state.borrow_and_update() {
                FetchState::Running { readable } if *readable > self.pos => return Ok(()),
                FetchState::Done { .. } => return Ok(()),
                FetchState::Failed(m) => return Err(m.clone()),
                FetchState::Running { .. } => {}
            }
            if self.state.changed().await.is_err() {
                return Err("the upstream download stopped unexpectedly".into());
            }
        }
    }

    /// The next chunk; `None` at the end; `Err` when the fetch failed (the caller must then
    /// abort the response rather than end it cleanly).
    pub async fn next_chunk(&mut self) -> Option<std::result::Result<Bytes, String>> {
        loop {
            let (available, done) = match &*self.state.borrow_and_update() {
                FetchState::Running { readable } => (*readable, false),
                FetchState::Done { size, .. } => (*size, true),
                FetchState::Failed(m) => return Some(Err(m.clone())),
            };
            let limit = self.end.map_or(available, |e| e.min(available));
            if self.pos < limit {
                let want = (limit - self.pos).min(256 * 1024) as usize;
                let mut buf = vec![0u8; want];
                let n = match self.file.read(&mut buf).await {
                    Ok(n) => n,
                    Err(e) => return Some(Err(e.to_string())),
                };
                if n == 0 {
                    return Some(Err("the file being downloaded was truncated".into()));
                }
                buf.truncate(n);
                self.pos += n as u64;
                return Some(Ok(Bytes::from(buf)));
            }
            if done || self.end.is_some_and(|e| self.pos >= e) {
                return None;
            }
            if self.state.changed().await.is_err() {
                return Some(Err("the upstream download stopped unexpectedly".into()));
            }
        }
    }
}

impl Depot {
    /// Read the content artifact's bytes from upstream, joining a download in flight or
    /// starting one. `start`/`end` select a byte range.
    pub async fn fetch_on_demand(
        self: &Arc<Self>,
        content_artifact_id: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<(Arc<Fetch>, FetchReader)> {
        // Open while holding the lock: the leader renames or deletes the temp file only after
        // taking the entry out of the map.
        let joined = {
            let map = self.fetches.map.lock().unwrap();
            map.get(content_artifact_id)
                .map(|f| (f.clone(), std::fs::File::open(&f.temp_path)))
        };
        let Some((fetch, file)) = joined else {
            return self.start_fetch(content_artifact_id, start, end).await;
        };
        let file = match file {
            Ok(f) => f,
            Err(_) => {
                // Committed between lookup and open: read the stored blob.
                let mut rx = fetch.state.clone();
                let stored = loop {
                    if let FetchState::Done { stored, .. } = &*rx.borrow_and_update() {
                        break stored.clone();
                    }
                    if rx.changed().await.is_err() {
                        break None;
                    }
                };
                let path = stored.ok_or_else(|| {
                    CoreError::Internal("the fetched file disappeared before it was read".into())
                })?;
                std::fs::File::open(path)?
            }
        };
        let reader = make_reader(file, fetch.state.clone(), start, end).await?;
        Ok((fetch, reader))
    }

    async fn start_fetch(
        self: &Arc<Self>,
        content_artifact_id: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<(Arc<Fetch>, FetchReader)> {
        let sources = self.db.remote_artifacts_for(content_artifact_id).await?;
        if sources.is_empty() {
            return Err(CoreError::NotFound(
                "no remote can provide this content".into(),
            ));
        }
        let size = sources.iter().find_map(|s| s.size).map(|s| s as u64);
        let mut blob = self.blobs.create_temp(&sources[0].expected()).await?;
        let temp_path = blob
            .path()
            .expect("fresh temp blob has a path")
            .to_path_buf();
        let (tx, rx) = watch::channel(FetchState::Running { readable: 0 });
        let fetch = Arc::new(Fetch {
            temp_path: temp_path.clone(),
            size,
            state: rx,
        });
        // Lost a race with another request: join its download instead.
        let raced = {
            let mut map = self.fetches.map.lock().unwrap();
            match map.get(content_artifact_id) {
                Some(existing) => {
                    Some((existing.clone(), std::fs::File::open(&existing.temp_path)))
                }
                None => {
                    map.insert(content_artifact_id.to_string(), fetch.clone());
                    None
                }
            }
        };
        if let Some((existing, file)) = raced {
            drop(blob);
            let reader = make_reader(file?, existing.state.clone(), start, end).await?;
            return Ok((existing, reader));
        }
        let file = std::fs::File::open(&temp_path);
        let file = match file {
            Ok(f) => f,
            Err(e) => {
                self.fetches.map.lock().unwrap().remove(content_artifact_id);
                return Err(e.into());
            }
        };
        let depot = self.clone();
        let ca = content_artifact_id.to_string();
        tokio::spawn(async move {
            let outcome = depot.run_fetch(&ca, sources, &mut blob, &tx).await;
            match outcome {
                Ok((digests, policy)) => {
                    let mut stored = None;
                    let mut kept = None;
                    if policy != Policy::Streamed {
                        // on an object store the temp file outlives the map entry, so a
                        // reader that found the entry can still open it
                        match depot.blobs.commit_keeping(blob, &digests.sha256).await {
                            Ok(committed) => {
                                if let Err(e) = depot
                                    .db
                                    .record_downloads(&[(ca.clone(), digests.clone())])
                                    .await
                                {
                                    tracing::error!(error = %e, "recording a fetched artifact failed");
                                }
                                match committed {
                                    depot_store::Committed::Local(path) => stored = Some(path),
                                    uploaded => kept = Some(uploaded),
                                }
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "storing a fetched artifact failed")
                            }
                        }
                        depot.fetches.map.lock().unwrap().remove(&ca);
                        let _ = tx.send(FetchState::Done {
                            size: digests.size,
                            stored,
                        });
                        drop(kept);
                    } else {
                        depot.fetches.map.lock().unwrap().remove(&ca);
                        let _ = tx.send(FetchState::Done {
                            size: digests.size,
                            stored: None,
                        });
                        // Readers keep their open handles; the file itself goes now.
                        drop(blob);
                    }
                }
                Err(msg) => {
                    tracing::warn!(content_artifact = %ca, error = %msg, "on-demand fetch failed");
                    depot.fetches.map.lock().unwrap().remove(&ca);
                    let _ = tx.send(FetchState::Failed(msg));
                    drop(blob);
                }
            }
        });
        let reader = make_reader(file, fetch.state.clone(), start, end).await?;
        Ok((fetch, reader))
    }

    /// Try each source in turn until one delivers verified bytes. A source that fails before
    /// sending anything is skipped; a failure after bytes went out to readers ends the fetch.
    async fn run_fetch(
        &self,
        ca: &str,
        sources: Vec<RemoteArtifactRow>,
        blob: &mut depot_store::TempBlob,
        tx: &watch::Sender<FetchState>,
    ) -> std::result::Result<(depot_store::Digests, Policy), String> {
        let mut last_error =
            String::from("every remote that provides this content failed recently");
        let now = chrono::Utc::now();
        for source in sources {
            if let Some(failed) = &source.failed_at
                && let Ok(t) = chrono::DateTime::parse_from_rfc3339(failed)
            {
                let age = now.signed_duration_since(t.with_timezone(&chrono::Utc));
                if age.to_std().unwrap_or_default() < FAILURE_COOLDOWN {
                    continue;
                }
            }
            let remote = match self.db.remote_get(&source.remote_id).await {
                Ok(Some(r)) => r,
                _ => continue,
            };
            let policy = Policy::parse(&remote.policy);
            let downloader = match self.downloaders.get(&remote) {
                Ok(d) => d,
                Err(e) => {
                    last_error = e;
                    continue;
                }
            };
            let expected = source.expected();
            let resp = match downloader.get(&source.url).await {
                Ok(r) => r,
                Err(e) => {
                    last_error = e.message;
                    let _ = self
                        .db
                        .mark_remote_artifact_failed(ca, &source.remote_id)
                        .await;
                    continue;
                }
            };
            let mut body = resp.bytes_stream();
            let mut failure = None;
            while let Some(chunk) = body.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        failure = Some(format!("downloading {} failed: {e}", source.url));
                        break;
                    }
                };
                if let Err(e) = blob.write(&chunk).await {
                    failure = Some(format!("writing {} failed: {e}", source.url));
                    break;
                }
                if expected.size.is_some_and(|s| blob.size() > s) {
                    failure = Some(format!(
                        "{}: size mismatch: upstream sent more than declared",
                        source.url
                    ));
                    break;
                }
                if let Err(e) = blob.flush().await {
                    failure = Some(e.to_string());
                    break;
                }
                // hold back the last byte until the whole file is verified
                let _ = tx.send(FetchState::Running {
                    readable: blob.size().saturating_sub(1),
                });
            }
            let result = match failure {
                Some(f) => Err(f),
                None => match blob.finish().await {
                    Ok(d) => expected
                        .verify(&d)
                        .map(|_| d)
                        .map_err(|m| format!("{}: {m}", source.url)),
                    Err(e) => Err(e.to_string()),
                },
            };
            match result {
                Ok(d) => return Ok((d, policy)),
                Err(m) => {
                    let _ = self
                        .db
                        .mark_remote_artifact_failed(ca, &source.remote_id)
                        .await;
                    return Err(m);
                }
            }
        }
        Err(last_error)
    }
}

async fn make_reader(
    file: std::fs::File,
    state: watch::Receiver<FetchState>,
    start: u64,
    end: Option<u64>,
) -> Result<FetchReader> {
    let mut file = tokio::fs::File::from_std(file);
    if start > 0 {
        file.seek(std::io::SeekFrom::Start(start)).await?;
    }
    Ok(FetchReader {
        file,
        state,
        pos: start,
        end,
    })
}
