//! Tasks every content type shares: creating, updating and deleting objects, modifying and
//! deleting repository versions, orphan cleanup and upload commits. Task names are Pulp's.

use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Map, Value};

use crate::Depot;
use crate::error::{CoreError, Result};
use crate::href;
use crate::plugin::{ContentDef, Family, Plugin, TaskDef};
use crate::resources::{distributions, obj, remotes, repositories, task_view};
use crate::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_store::StoreError;
use depot_store::versions::CommitMode;

pub const GENERAL_CREATE: &str = "pulpcore.app.tasks.base.general_create";
pub const GENERAL_UPDATE: &str = "pulpcore.app.tasks.base.ageneral_update";
pub const GENERAL_DELETE: &str = "pulpcore.app.tasks.base.ageneral_delete";
pub const DELETE_VERSION: &str = "pulpcore.app.tasks.repository.delete_version";
pub const MODIFY: &str = "pulpcore.app.tasks.repository.add_and_remove";
pub const ORPHAN_CLEANUP: &str = "pulpcore.app.tasks.orphan.orphan_cleanup";
pub const UPLOAD_COMMIT: &str = "pulpcore.app.tasks.upload.commit";

/// Pulp's default orphan protection, in minutes.
pub const ORPHAN_PROTECTION_TIME: i64 = 1440;

/// The "core" plugin: no types of its own, only the shared tasks.
pub fn plugin() -> Plugin {
    Plugin {
        app_label: "core",
        version: crate::plugin::CORE_VERSION,
        package: "pulpcore",
        remotes: vec![],
        repositories: vec![],
        publications: vec![],
        distributions: vec![],
        content: vec![],
        content_guards: crate::resources::content_guards::types(),
        actions: vec![],
        tasks: vec![
            TaskDef {
                name: GENERAL_CREATE,
                run: |c| general_create(c).boxed(),
            },
            TaskDef {
                name: GENERAL_UPDATE,
                run: |c| general_update(c).boxed(),
            },
            TaskDef {
                name: GENERAL_DELETE,
                run: |c| general_delete(c).boxed(),
            },
            TaskDef {
                name: DELETE_VERSION,
                run: |c| delete_version(c).boxed(),
            },
            TaskDef {
                name: MODIFY,
                run: |c| modify(c).boxed(),
            },
            TaskDef {
                name: ORPHAN_CLEANUP,
                run: |c| orphan_cleanup(c).boxed(),
            },
            TaskDef {
                name: UPLOAD_COMMIT,
                run: |c| upload_commit(c).boxed(),
            },
        ],
    }
}

fn body(ctx: &TaskCtx, key: &str) -> Map<String, Value> {
    ctx.args
        .get(key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

async fn general_create(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let pulp_type = ctx.require("pulp_type")?.to_string();
    let args = body(&ctx, "body");
    match ctx.require("family")? {
        "distributions" => {
            let (href, value) = distributions::apply_create(&depot, &pulp_type, &args).await?;
            let prn = value["prn"].as_str().unwrap_or_default().to_string();
            ctx.created(&href, &prn);
            Ok(TaskOutput {
                result: Some(value),
            })
        }
        "content" => {
            let cdef = depot
                .plugins
                .content_def(&pulp_type)
                .ok_or_else(|| TaskError::failed(format!("unknown content type {pulp_type}")))?;
            let (version, value) = create_content(&depot, cdef, &args, Some(&ctx)).await?;
            if let Some((vhref, vprn)) = version {
                ctx.created(&vhref, &vprn);
            }
            let prn = value["prn"].as_str().unwrap_or_default().to_string();
            ctx.created(value["pulp_href"].as_str().unwrap_or_default(), &prn);
            Ok(TaskOutput {
                result: Some(value),
            })
        }
        other => Err(TaskError::failed(format!(
            "cannot create {other} in a task"
        ))),
    }
}

/// Create (or find) a unit from an artifact or upload and the type's fields; optionally add it
/// to a repository as a new version. Returns the new version's (href, prn), if any, and the
/// unit's JSON.
pub async fn create_content(
    depot: &Arc<Depot>,
    cdef: &ContentDef,
    args: &Map<String, Value>,
    ctx: Option<&TaskCtx>,
) -> Result<(Option<(String, String)>, Value)> {
    let upload = cdef
        .upload
        .as_ref()
        .ok_or_else(|| CoreError::Internal("content type has no upload".into()))?;
    let artifact_id = match (args.get("artifact"), args.get("upload")) {
        (Some(Value::String(a)), _) => a.clone(),
        (_, Some(Value::String(u))) => depot.upload_to_artifact(u, None).await?,
        _ => {
            return Err(CoreError::non_field(
                "no artifact or upload to create content from",
            ));
        }
    };
    let artifact = depot
        .db
        .artifact_get(&artifact_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the artifact was deleted".into()))?;
    let mut fields = args.clone();
    for k in ["artifact", "upload", "file", "repository", "overwrite"] {
        fields.remove(k);
    }
    let labels = fields.remove("pulp_labels");
    let unit = (upload.build)(depot.clone(), fields, artifact).await?;
    let ids = depot
        .db
        .declare_units(std::slice::from_ref(&unit), None)
        .await?;
    let content_id = ids[0].clone();
    if let Some(Value::Object(l)) = labels
        && !l.is_empty()
    {
        depot
            .db
            .content_set_labels(&content_id, &Value::Object(l).to_string())
            .await?;
    }
    let mut version = None;
    if let (Some(repo_id), Some(ctx)) = (args.get("repository").and_then(Value::as_str), ctx) {
        let repo = depot
            .db
            .repository_get(repo_id)
            .await?
            .ok_or_else(|| CoreError::NotFound("the repository was deleted".into()))?;
        let rdef = depot
            .plugins
            .repository(&repo.pulp_type)
            .ok_or_else(|| CoreError::Internal("unknown repository type".into()))?;
        depot.db.stage_content(&ctx.id, &ids).await?;
        let number = depot
            .db
            .commit_version(&ctx.id, repo_id, CommitMode::Add, None, rdef.repo_key)
            .await
            .map_err(conflict)?;
        if let Some(n) = number {
            version = Some(new_version_created(depot, ctx, repo_id, n).await?);
        }
    }
    let row = depot
        .db
        .content_get(&content_id)
        .await?
        .ok_or_else(|| CoreError::Internal("content vanished".into()))?;
    Ok((
        version,
        crate::resources::content::render(depot, &row).await?,
    ))
}

/// Store errors that describe a refused change read as plain failures.
pub fn conflict(e: StoreError) -> CoreError {
    match e {
        StoreError::Conflict(m) => CoreError::Conflict(m),
        other => CoreError::Store(other),
    }
}

/// After a task made version `number`: apply retention and autopublish. Returns the version's
/// (href, prn); a publication made by autopublish is recorded as created too.
pub async fn new_version_created(
    depot: &Arc<Depot>,
    ctx: &TaskCtx,
    repository_id: &str,
    number: i64,
) -> Result<(String, String)> {
    let repo = depot
        .db
        .repository_get(repository_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the repository was deleted".into()))?;
    let rdef = depot
        .plugins
        .repository(&repo.pulp_type)
        .ok_or_else(|| CoreError::Internal("unknown repository type".into()))?;
    let version = depot
        .db
        .version_get(repository_id, number)
        .await?
        .ok_or_else(|| CoreError::Internal("new version vanished".into()))?;
    let vhref = href::version(&href::of(&rdef.def, repository_id), number);
    let vprn = href::prn("core.repositoryversion", &version.id);
    ctx.created(&vhref, &vprn);
    if obj(&repo.extra).get("autopublish") == Some(&Value::Bool(true))
        && let Some(publish) = rdef.autopublish
    {
        let (phref, pprn) = publish(depot.clone(), version.id.clone(), obj(&repo.extra)).await?;
        ctx.created(&phref, &pprn);
    }
    depot.apply_retention(repository_id).await?;
    Ok((vhref, vprn))
}

async fn general_update(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let id = ctx.require("id")?.to_string();
    let patch = body(&ctx, "patch");
    let value = match ctx.require("family")? {
        "remotes" => remotes::apply_update(&depot, &id, &patch).await?,
        "repositories" => repositories::apply_update(&depot, &id, &patch).await?,
        "distributions" => distributions::apply_update(&depot, &id, &patch).await?,
        other => return Err(TaskError::failed(format!("cannot update {other}"))),
    };
    Ok(TaskOutput {
        result: Some(value),
    })
}

async fn general_delete(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = &ctx.depot;
    let id = ctx.require("id")?;
    let model = match ctx.require("family")? {
        "remotes" => {
            let t = depot.db.remote_get(id).await?.map(|r| r.pulp_type);
            depot.db.remote_delete(id).await?;
            t.and_then(|t| {
                depot
                    .plugins
                    .type_def(Family::Remotes, &t)
                    .map(|d| d.prn_model)
            })
        }
        "repositories" => {
            let t = depot.db.repository_get(id).await?.map(|r| r.pulp_type);
            depot.db.repository_delete(id).await?;
            t.and_then(|t| {
                depot
                    .plugins
                    .type_def(Family::Repositories, &t)
                    .map(|d| d.prn_model)
            })
        }
        "distributions" => {
            let t = depot.db.distribution_get(id).await?.map(|r| r.pulp_type);
            depot.db.distribution_delete(id).await?;
            t.and_then(|t| {
                depot
                    .plugins
                    .type_def(Family::Distributions, &t)
                    .map(|d| d.prn_model)
            })
        }
        other => return Err(TaskError::failed(format!("cannot delete {other}"))),
    };
    // roles on a deleted object go with it
    if let Some(model) = model {
        depot.db.unassign_object(model, id).await?;
    }
    Ok(TaskOutput::default())
}

async fn delete_version(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = &ctx.depot;
    let repo = ctx.require("repository")?;
    let number = ctx
        .args
        .get("number")
        .and_then(Value::as_i64)
        .ok_or_else(|| TaskError::failed("task argument 'number' is missing"))?;
    depot
        .db
        .version_delete(repo, number)
        .await
        .map_err(conflict)?;
    Ok(TaskOutput::default())
}

fn id_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn modify(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let repo_id = ctx.require("repository")?.to_string();
    let repo = depot
        .db
        .repository_get(&repo_id)
        .await?
        .ok_or_else(|| TaskError::failed("the repository was deleted"))?;
    let rdef = depot
        .plugins
        .repository(&repo.pulp_type)
        .ok_or_else(|| TaskError::failed("unknown repository type"))?;
    let (base_repo, base_number, base_given) = match ctx.args.get("base_version") {
        Some(Value::Object(b)) => (
            b.get("repository")
                .and_then(Value::as_str)
                .unwrap_or(&repo_id)
                .to_string(),
            b.get("number").and_then(Value::as_i64).unwrap_or(0),
            true,
        ),
        _ => (repo_id.clone(), repo.latest_version, false),
    };
    let add = id_list(ctx.args.get("add_content_units"));
    let remove = id_list(ctx.args.get("remove_content_units"));
    depot
        .db
        .stage_version_content(&ctx.id, &base_repo, base_number)
        .await?;
    if remove.iter().any(|r| r == "*") {
        depot.db.clear_staging(&ctx.id).await?;
    } else {
        depot.db.unstage_content(&ctx.id, &remove).await?;
    }
    depot.db.stage_content(&ctx.id, &add).await?;
    if let Some(key) = rdef.repo_key {
        depot.db.unstage_key_conflicts(&ctx.id, &add, key).await?;
    }
    let base_number = (base_given && base_repo == repo_id).then_some(base_number);
    let number = depot
        .db
        .commit_version(
            &ctx.id,
            &repo_id,
            CommitMode::Exact,
            base_number,
            rdef.repo_key,
        )
        .await
        .map_err(conflict)?;
    if let Some(n) = number {
        new_version_created(&depot, &ctx, &repo_id, n).await?;
    }
    Ok(TaskOutput::default())
}

async fn orphan_cleanup(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = &ctx.depot;
    let minutes = ctx
        .args
        .get("orphan_protection_time")
        .and_then(Value::as_i64)
        .unwrap_or(ORPHAN_PROTECTION_TIME);
    let only: Option<Vec<String>> = ctx.args.get("content").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    });
    let pc = ctx.progress("clean-up.content", "Clean up orphan Content", None);
    let pa = ctx.progress("clean-up.artifacts", "Clean up orphan Artifacts", None);
    let (units, artifacts) = depot.cleanup_orphans(minutes, only.as_deref()).await?;
    pc.set_total(units as i64);
    pc.increment(units as i64);
    pc.finish();
    pa.set_total(artifacts as i64);
    pa.increment(artifacts as i64);
    pa.finish();
    Ok(TaskOutput::default())
}

async fn upload_commit(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = &ctx.depot;
    let upload = ctx.require("upload")?;
    if depot.db.upload_get(upload).await?.is_none() {
        return Ok(TaskOutput::default());
    }
    let sha = ctx.arg("sha256");
    let artifact = depot.upload_to_artifact(upload, sha).await?;
    ctx.created(
        &href::artifact(&artifact),
        &href::prn("core.artifact", &artifact),
    );
    Ok(TaskOutput::default())
}

impl Depot {
    /// Delete content in no repository version and artifacts nothing uses, older than
    /// `minutes`, and their blobs. Returns (units, artifacts) removed.
    pub async fn cleanup_orphans(
        &self,
        minutes: i64,
        only: Option<&[String]>,
    ) -> Result<(u64, u64)> {
        let cutoff =
            depot_store::format_time(chrono::Utc::now() - chrono::Duration::minutes(minutes));
        let _gc = self.blobs_collecting().await?;
        let (units, artifacts, digests) = self.db.orphan_cleanup(&cutoff, only).await?;
        for d in &digests {
            self.blobs.remove(d).await?;
        }
        tracing::info!(units, artifacts, "orphan cleanup");
        Ok((units, artifacts))
    }

    /// `POST /orphans/cleanup/`: validate and queue. Unknown fields are ignored, like Pulp.
    pub async fn orphans_cleanup(
        &self,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<crate::resources::Outcome> {
        let minutes = match body.get("orphan_protection_time") {
            None | Some(Value::Null) => ORPHAN_PROTECTION_TIME,
            Some(v) => {
                let m = v
                    .as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| {
                        CoreError::invalid("orphan_protection_time", "A valid integer is required.")
                    })?;
                if !(0..=4_294_967_295).contains(&m) {
                    return Err(CoreError::invalid(
                        "orphan_protection_time",
                        "Ensure this value is greater than or equal to 0.",
                    ));
                }
                m
            }
        };
        let mut args = serde_json::json!({"orphan_protection_time": minutes});
        if let Some(v) = body.get("content_hrefs") {
            let hrefs: Vec<&str> = v
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if hrefs.is_empty() {
                return Err(CoreError::invalid("content_hrefs", "Must not be []."));
            }
            let mut ids = Vec::new();
            for h in hrefs {
                ids.push(
                    crate::resources::content::content_id_from_href(self, h).ok_or_else(|| {
                        CoreError::invalid(
                            "content_hrefs",
                            format!("URI {h} not found for content."),
                        )
                    })?,
                );
            }
            args["content"] = Value::from(ids);
        }
        let task = self
            .dispatch(
                crate::tasks::NewTask::new(ORPHAN_CLEANUP, args)
                    .exclusive("pdrn:orphans")
                    .by(user),
            )
            .await?;
        Ok(crate::resources::Outcome::Task(href::task(&task.id)))
    }
}

/// (href, prn) of a created object, for plugins' tasks.
pub fn created_entry(depot: &Depot, family: Family, pulp_type: &str, id: &str) -> (String, String) {
    task_view::created_entry(depot, family, pulp_type, id)
}
