//! Sync from an upstream `PULP_MANIFEST`.

use serde_json::Value;
use tokio::io::AsyncBufReadExt;

use depot_core::core_tasks::new_version_created;
use depot_core::download::join_url;
use depot_core::resources::{obj, repositories::render_version};
use depot_core::sync::{BATCH, Policy, SyncRun, sync_details};
use depot_core::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_store::ExpectedDigests;
use depot_store::content::RemoteSource;

use crate::manifest::parse_line;
use crate::unit;

pub async fn synchronize(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let mut run = SyncRun::start(&ctx).await?;
    let mirror = ctx
        .args
        .get("mirror")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let optimize = ctx
        .args
        .get("optimize")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let url = run.remote.url.clone();
    if url.is_empty() {
        return Err(TaskError::failed(
            "[PLP0013] Sync failed: A remote must have a url specified to synchronize.",
        ));
    }

    let (manifest, digests) = run
        .fetch_metadata(&url, &ExpectedDigests::default())
        .await?;

    if optimize && should_skip(&run, mirror, &digests.sha256).await? {
        let p = ctx.progress(
            "sync.was_skipped",
            "Skipping Sync (no change from previous sync)",
            Some(1),
        );
        p.increment(1);
        p.finish();
        return Ok(TaskOutput::default());
    }

    // Stream the manifest: one unit per line, declared in batches.
    let path = manifest
        .path()
        .ok_or_else(|| TaskError::failed("manifest download vanished"))?
        .to_path_buf();
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| TaskError::failed(format!("reading the manifest: {e}")))?;
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, file);
    let mut raw = Vec::with_capacity(256);
    let mut batch = Vec::with_capacity(BATCH);
    let mut n = 0usize;
    loop {
        raw.clear();
        let read = reader
            .read_until(b'\n', &mut raw)
            .await
            .map_err(|e| TaskError::failed(format!("reading the manifest: {e}")))?;
        if read == 0 {
            break;
        }
        n += 1;
        let line = std::str::from_utf8(&raw).map_err(|_| {
            TaskError::failed(format!(
                "Error: Parsing of the manifest file failed on line:{n}.\nThe line is not valid UTF-8."
            ))
        })?;
        let Some(entry) = parse_line(n, line).map_err(|e| TaskError::failed(e.to_string()))? else {
            continue;
        };
        let file_url = join_url(&url, &entry.relative_path).map_err(TaskError::failed)?;
        batch.push(unit(
            &entry.relative_path,
            &entry.sha256,
            None,
            Some(RemoteSource {
                remote_id: run.remote.id.clone(),
                url: file_url,
                expected: ExpectedDigests {
                    size: Some(entry.size),
                    sha256: Some(entry.sha256.clone()),
                    ..Default::default()
                },
            }),
        ));
        if batch.len() >= BATCH {
            run.declare(std::mem::take(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        run.declare(batch).await?;
    }
    run.parsed_all();

    if run.policy == Policy::Immediate {
        run.download_artifacts().await?;
    }
    let number = run.commit(mirror).await?;

    let latest = number.unwrap_or(run.repository.latest_version);
    let mut extra = obj(&depot
        .db
        .repository_get(&run.repository.id)
        .await?
        .map(|r| r.extra)
        .unwrap_or_default());
    extra.insert(
        "last_sync_details".into(),
        sync_details(&url, mirror, &run.remote, &digests.sha256, latest),
    );
    depot
        .db
        .repository_set_extra(&run.repository.id, &Value::Object(extra).to_string())
        .await?;

    let Some(number) = number else {
        return Ok(TaskOutput::default());
    };
    new_version_created(&depot, &ctx, &run.repository.id, number).await?;
    if mirror {
        // Like Pulp: a mirrored repository is served with the upstream manifest, verbatim.
        let name = url
            .split(['?', '#'])
            .next()
            .unwrap_or(&url)
            .rsplit('/')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("PULP_MANIFEST")
            .to_string();
        let version = depot
            .db
            .version_get(&run.repository.id, number)
            .await?
            .ok_or_else(|| TaskError::failed("the new version vanished"))?;
        let _gc = depot.blobs_adding().await?;
        depot
            .blobs
            .commit(manifest, &digests.sha256)
            .await
            .map_err(|e| TaskError::failed(format!("storing the manifest: {e}")))?;
        let artifact = depot.db.artifact_insert(&digests).await?;
        let (href, prn) = crate::publish::store_publication(
            &depot,
            &version.id,
            Some(name.clone()),
            vec![(name, None, Some(artifact))],
        )
        .await?;
        ctx.created(&href, &prn);
    }
    let version = depot
        .db
        .version_get(&run.repository.id, number)
        .await?
        .ok_or_else(|| TaskError::failed("the new version vanished"))?;
    Ok(TaskOutput {
        result: Some(render_version(&depot, &version)),
    })
}

/// Pulp's optimisation: skip when nothing upstream or in the remote changed since the last
/// sync, and the repository is still at the version that sync produced.
async fn should_skip(
    run: &SyncRun,
    mirror: bool,
    manifest_sha256: &str,
) -> Result<bool, TaskError> {
    let extra = obj(&run.repository.extra);
    let Some(last) = extra.get("last_sync_details").and_then(Value::as_object) else {
        return Ok(false);
    };
    let s = |k: &str| last.get(k).and_then(Value::as_str);
    let last_mirror = last.get("mirror").and_then(Value::as_bool).unwrap_or(false);
    let last_policy = s("download_policy").unwrap_or("");
    let same = s("url") == Some(run.remote.url.as_str())
        && s("remote_pk") == Some(run.remote.id.as_str())
        && s("remote_last_updated") == Some(run.remote.pulp_last_updated.as_str())
        && s("manifest_checksum") == Some(manifest_sha256)
        && last.get("most_recent_version").and_then(Value::as_i64)
            == Some(run.repository.latest_version)
        && (!mirror || last_mirror)
        && !(run.policy == Policy::Immediate && last_policy != "immediate");
    if !same {
        return Ok(false);
    }
    if run.policy == Policy::Immediate && run.missing_artifacts().await? {
        return Ok(false);
    }
    Ok(true)
}
