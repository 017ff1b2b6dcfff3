//! `POST /rpm/copy/`: copy content from repository versions into repositories, each copy
//! making one new version of its destination (an add on its latest version, or on
//! `dest_base_version`). Without a `content` list the whole source version is copied.
//! Dependency solving is not offered: `dependency_solving: true` is refused.

use futures::FutureExt;
use serde_json::{Map, Value};

use depot_core::core_tasks::{conflict, new_version_created};
use depot_core::plugin::Family;
use depot_core::resources::publications::version_ref;
use depot_core::tasks::{NewTask, TaskCtx, TaskError, TaskOutput};
use depot_core::{CoreError, Depot, href};
use depot_store::versions::CommitMode;

pub const COPY_TASK: &str = "pulp_rpm.app.tasks.copy.copy_content";

fn criteria(msg: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(
        "config",
        format!("Provided copy criteria is invalid:'[{msg}]'"),
    )
}

/// Check a copy request and dispatch its task; returns the task.
pub async fn dispatch(
    depot: &Depot,
    body: &Map<String, Value>,
    user: Option<&depot_core::auth::User>,
) -> Result<depot_store::tasks::TaskRow, CoreError> {
    if body.get("dependency_solving") == Some(&Value::Bool(true)) {
        return Err(CoreError::invalid(
            "dependency_solving",
            "depot does not solve dependencies; copy with \"dependency_solving\": false.",
        ));
    }
    let Some(Value::Array(config)) = body.get("config") else {
        return Err(CoreError::invalid("config", "This field is required."));
    };
    if config.is_empty() {
        return Err(criteria("[] is too short"));
    }
    let mut steps = Vec::new();
    let mut shared = Vec::new();
    let mut exclusive = Vec::new();
    for entry in config {
        let (Some(src), Some(dest)) = (
            entry.get("source_repo_version").and_then(Value::as_str),
            entry.get("dest_repo").and_then(Value::as_str),
        ) else {
            return Err(criteria(
                "'source_repo_version' and 'dest_repo' are required properties",
            ));
        };
        depot.check_href(user, src, "view").await?;
        depot.check_href(user, dest, "modify").await?;
        let (src_repo, src_number) = version_ref(depot, src)?;
        let src_number =
            src_number.ok_or_else(|| criteria(format!("{src} is not a repository version")))?;
        let source = depot
            .db
            .version_get(&src_repo, src_number)
            .await?
            .ok_or_else(|| criteria(format!("{src} does not exist")))?;
        let dest_parsed = href::parse(&depot.plugins, dest)
            .filter(|p| p.family == Family::Repositories && p.version.is_none())
            .ok_or_else(|| criteria(format!("{dest} is not a repository")))?;
        let dest_repo = depot
            .db
            .repository_get(&dest_parsed.id)
            .await?
            .filter(|r| r.pulp_type == crate::PULP_TYPE)
            .ok_or_else(|| criteria(format!("{dest} is not an rpm repository")))?;
        let base = match entry.get("dest_base_version") {
            Some(Value::Number(n)) => {
                let n = n.as_i64().unwrap_or(-1);
                if depot.db.version_get(&dest_repo.id, n).await?.is_none() {
                    return Err(CoreError::InvalidList(format!(
                        "Version {n} does not exist for repository '{}'.",
                        dest_repo.name
                    )));
                }
                Some(n)
            }
            _ => None,
        };
        let content: Option<Vec<String>> = match entry.get("content") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|h| {
                        h.as_str()
                            .and_then(|h| href::parse(&depot.plugins, h))
                            .filter(|p| p.family == Family::Content)
                            .map(|p| p.id)
                            .ok_or_else(|| criteria(format!("{h} is not a content href")))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => None,
        };
        shared.push(format!("prn:rpm.rpmrepository:{}", source.repository_id));
        exclusive.push(format!("prn:rpm.rpmrepository:{}", dest_repo.id));
        steps.push(serde_json::json!({
            "source_repository": source.repository_id,
            "source_number": source.number,
            "dest_repository": dest_repo.id,
            "dest_base_version": base,
            "content": content,
        }));
    }
    let mut task =
        NewTask::new(COPY_TASK, serde_json::json!({"steps": steps})).by(user.map(|u| u.id));
    for r in exclusive {
        task = task.exclusive(r);
    }
    for r in shared {
        task = task.shared(r);
    }
    depot.dispatch(task).await
}

pub fn run(ctx: TaskCtx) -> futures::future::BoxFuture<'static, Result<TaskOutput, TaskError>> {
    copy(ctx).boxed()
}

async fn copy(ctx: TaskCtx) -> Result<TaskOutput, TaskError> {
    let depot = ctx.depot.clone();
    let steps = ctx.args["steps"].as_array().cloned().unwrap_or_default();
    let repo_key = depot
        .plugins
        .repository(crate::PULP_TYPE)
        .and_then(|r| r.repo_key);
    for (i, step) in steps.iter().enumerate() {
        let s = |k: &str| step[k].as_str().unwrap_or_default().to_string();
        let dest = s("dest_repository");
        let source_repo = s("source_repository");
        let source_number = step["source_number"].as_i64().unwrap_or(0);
        let repo = depot
            .db
            .repository_get(&dest)
            .await?
            .ok_or_else(|| TaskError::failed("the destination repository was deleted"))?;
        let base = step["dest_base_version"].as_i64();
        let staging = format!("{}#{i}", ctx.id);
        depot
            .db
            .stage_version_content(&staging, &dest, base.unwrap_or(repo.latest_version))
            .await?;
        let incoming: Vec<String> = match step["content"].as_array() {
            Some(items) => {
                let wanted: Vec<String> = items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                let present = depot
                    .db
                    .version_content_ids(&source_repo, source_number)
                    .await?;
                let present: std::collections::HashSet<&String> = present.iter().collect();
                wanted
                    .into_iter()
                    .filter(|id| present.contains(id))
                    .collect()
            }
            None => {
                depot
                    .db
                    .version_content_ids(&source_repo, source_number)
                    .await?
            }
        };
        depot.db.stage_content(&staging, &incoming).await?;
        if let Some(key) = repo_key {
            depot
                .db
                .unstage_key_conflicts(&staging, &incoming, key)
                .await?;
        }
        let number = depot
            .db
            .commit_version(&staging, &dest, CommitMode::Exact, base, repo_key)
            .await
            .map_err(conflict)?;
        if let Some(n) = number {
            new_version_created(&depot, &ctx, &dest, n).await?;
        }
    }
    Ok(TaskOutput::default())
}
