//! Publishing a file repository version: a `PULP_MANIFEST` listing every file, and the files
//! themselves served from the version at their relative paths (pass-through).

use std::sync::Arc;

use serde_json::{Value, json};

use depot_core::plugin::Family;
use depot_core::resources::publications::{render_by_id, task_version};
use depot_core::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_core::{CoreError, Depot};
use depot_store::ExpectedDigests;
use depot_store::content::NewPublication;

use crate::PULP_TYPE;

pub async fn publish(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let version = task_version(&depot, &ctx.args).await?;
    let manifest = match ctx.args.get("manifest") {
        Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        _ => Some("PULP_MANIFEST".to_string()),
    };
    let (href, prn) = publish_version(&depot, &version.id, manifest).await?;
    ctx.created(&href, &prn);
    let id = href
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    Ok(TaskOutput {
        result: Some(render_by_id(&depot, &id).await?),
    })
}

/// Publish a version (by id); returns the publication's (href, prn).
pub async fn publish_version(
    depot: &Arc<Depot>,
    version_id: &str,
    manifest: Option<String>,
) -> Result<(String, String), CoreError> {
    let version = depot
        .db
        .version_by_id(version_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the repository version was deleted".into()))?;
    let _gc = depot.blobs_adding().await?;
    let mut files = Vec::new();
    if let Some(name) = &manifest {
        let mut blob = depot.blobs.create_temp(&ExpectedDigests::default()).await?;
        let mut after = (String::new(), String::new());
        let mut out = String::with_capacity(64 * 1024);
        loop {
            let page = depot
                .db
                .version_content_artifacts(
                    &version.repository_id,
                    version.number,
                    (&after.0, &after.1),
                    1000,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = (last.relative_path.clone(), last.content_artifact_id.clone());
            for f in &page {
                let sha = f.sha256.clone().unwrap_or_else(|| {
                    serde_json::from_str::<Value>(&f.data)
                        .ok()
                        .and_then(|d| d["digest"].as_str().map(str::to_string))
                        .unwrap_or_default()
                });
                match f.size {
                    Some(size) => out.push_str(&format!("{},{sha},{size}\n", f.relative_path)),
                    None => out.push_str(&format!("{},{sha}\n", f.relative_path)),
                }
            }
            blob.write(out.as_bytes()).await?;
            out.clear();
        }
        let digests = blob.finish().await?;
        depot.blobs.commit(blob, &digests.sha256).await?;
        let artifact = depot.db.artifact_insert(&digests).await?;
        files.push((name.clone(), None, Some(artifact)));
    }
    store_publication(depot, &version.id, manifest, files).await
}

/// Record a pass-through publication of a version serving `files` besides the version's own
/// content (the manifest); returns its (href, prn).
pub(crate) async fn store_publication(
    depot: &Depot,
    version_id: &str,
    manifest: Option<String>,
    files: Vec<(String, Option<String>, Option<String>)>,
) -> Result<(String, String), CoreError> {
    let id = depot_store::new_id();
    depot
        .db
        .publication_create(
            &NewPublication {
                id: id.clone(),
                pulp_type: PULP_TYPE.into(),
                repository_version_id: version_id.to_string(),
                pass_through: true,
                extra: json!({"manifest": manifest, "checkpoint": false}).to_string(),
            },
            &files,
        )
        .await?;
    Ok(depot_core::core_tasks::created_entry(
        depot,
        Family::Publications,
        PULP_TYPE,
        &id,
    ))
}
