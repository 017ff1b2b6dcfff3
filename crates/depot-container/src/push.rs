//! What a push creates and records: the repository and distribution of a new name, blobs and
//! manifests waiting for a version, and the version a tagged manifest makes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use depot_core::auth::User;
use depot_core::core_tasks::MODIFY;
use depot_core::tasks::NewTask;
use depot_core::{CoreError, Depot, href};
use depot_store::StoreError;
use depot_store::rbac::Holder;
use depot_store::records::{DistributionRow, RepositoryRow};
use depot_store::{new_id, now};

use crate::access::namespace_of;
use crate::{
    DISTRIBUTION_MODEL, DISTRIBUTION_TYPE, NAMESPACE_MODEL, PUSH_REPOSITORY_TYPE, REPOSITORY_TYPE,
};

/// How long a manifest PUT waits for the version it makes.
const VERSION_WAIT: Duration = Duration::from_secs(60);

async fn grant(
    depot: &Depot,
    user: &User,
    role: &str,
    object: (&str, &str),
) -> depot_core::Result<()> {
    if user.is_superuser {
        return Ok(());
    }
    if let Some(r) = depot.db.role_by_name(role).await? {
        match depot
            .db
            .assign_role(Holder::User(user.id), &r.id, Some(object))
            .await
        {
            Ok(_) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The repository a push to `name` goes into, made (with its distribution and namespace) on
/// the first push; the pusher owns what is made. Callers have checked `may_push`.
pub async fn target(depot: &Arc<Depot>, user: &User, name: &str) -> depot_core::Result<String> {
    if let Some(d) = crate::access::distribution(depot, name).await? {
        if let Some(r) = &d.repository_id {
            return Ok(r.clone());
        }
        if d.repository_version_id.is_some() {
            return Err(CoreError::Conflict(
                "the distribution serves a fixed repository version; it cannot be pushed to".into(),
            ));
        }
    }
    let (ns, created) = depot.db.namespace_ensure(namespace_of(name)).await?;
    if created {
        grant(
            depot,
            user,
            "container.containernamespace_owner",
            (NAMESPACE_MODEL, &ns.id),
        )
        .await?;
    }
    let repo = match depot.db.repository_by_name(name).await? {
        Some(r) if r.pulp_type == REPOSITORY_TYPE || r.pulp_type == PUSH_REPOSITORY_TYPE => r,
        Some(_) => {
            return Err(CoreError::Conflict(format!(
                "a repository named {name} exists and is not a container repository"
            )));
        }
        None => {
            let t = now();
            let row = RepositoryRow {
                id: new_id(),
                pulp_type: REPOSITORY_TYPE.into(),
                name: name.to_string(),
                description: None,
                retain_repo_versions: None,
                retain_checkpoints: None,
                remote_id: None,
                remote_type: None,
                pulp_labels: "{}".into(),
                extra: json!({"manifest_signing_service": null}).to_string(),
                next_version: 1,
                latest_version: 0,
                pulp_created: t.clone(),
                pulp_last_updated: t,
            };
            match depot.db.repository_insert(&row).await {
                Ok(()) => {
                    grant(
                        depot,
                        user,
                        "container.containerrepository_owner",
                        (crate::REPOSITORY_MODEL, &row.id),
                    )
                    .await?;
                    row
                }
                // a concurrent first push made it
                Err(StoreError::Unique { .. }) => depot
                    .db
                    .repository_by_name(name)
                    .await?
                    .ok_or_else(|| CoreError::Internal("repository vanished".into()))?,
                Err(e) => return Err(e.into()),
            }
        }
    };
    match crate::access::distribution(depot, name).await? {
        Some(d) => {
            if d.repository_id.is_none() {
                let mut d = (*d).clone();
                d.repository_id = Some(repo.id.clone());
                depot.db.distribution_update(&d).await?;
            }
        }
        None => {
            let t = now();
            let d = DistributionRow {
                id: new_id(),
                pulp_type: DISTRIBUTION_TYPE.into(),
                name: name.to_string(),
                base_path: name.to_string(),
                content_guard_id: None,
                content_guard_type: None,
                publication_id: None,
                publication_type: None,
                repository_id: Some(repo.id.clone()),
                repository_type: None,
                repository_version_id: None,
                version_repository_type: None,
                version_repository_id: None,
                version_number: None,
                remote_id: None,
                remote_type: None,
                hidden: false,
                pulp_labels: "{}".into(),
                extra: json!({
                    "private": false,
                    "description": null,
                    "namespace": format!("{}pulp_container/namespaces/{}/", href::API_ROOT, ns.id),
                })
                .to_string(),
                pulp_created: t.clone(),
                pulp_last_updated: t,
            };
            match depot.db.distribution_insert(&d).await {
                Ok(()) => {
                    grant(
                        depot,
                        user,
                        "container.containerdistribution_owner",
                        (DISTRIBUTION_MODEL, &d.id),
                    )
                    .await?
                }
                Err(StoreError::Unique { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(repo.id)
}

/// Make a new version of the repository from its latest with `add` added and `remove` taken
/// out (a tag replaces the one of the same name), through the repository's task queue so it
/// never races a sync or another push; returns once the version exists.
pub async fn new_version(
    depot: &Arc<Depot>,
    user: &User,
    repository_id: &str,
    add: &[String],
    remove: &[String],
) -> depot_core::Result<()> {
    let repo = depot
        .db
        .repository_get(repository_id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the repository was deleted".into()))?;
    let prn_model = depot
        .plugins
        .repository(&repo.pulp_type)
        .map(|r| r.def.prn_model)
        .unwrap_or(crate::REPOSITORY_MODEL);
    let task = depot
        .dispatch(
            NewTask::new(
                MODIFY,
                json!({
                    "repository": repository_id,
                    "add_content_units": add,
                    "remove_content_units": remove,
                }),
            )
            .exclusive(href::prn(prn_model, repository_id))
            .by(Some(user.id)),
        )
        .await?;
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(2);
    loop {
        let row = depot
            .db
            .task_get(&task.id)
            .await?
            .ok_or_else(|| CoreError::Internal("the push's task vanished".into()))?;
        match row.state.as_str() {
            "completed" => break,
            "failed" | "canceled" | "skipped" => {
                let why = row
                    .error
                    .as_deref()
                    .and_then(|e| serde_json::from_str::<Value>(e).ok())
                    .and_then(|e| e["description"].as_str().map(str::to_string))
                    .unwrap_or_else(|| row.state.clone());
                return Err(CoreError::Internal(format!(
                    "the version was not made: {why}"
                )));
            }
            _ => {}
        }
        if started.elapsed() > VERSION_WAIT {
            return Err(CoreError::TooManyRequests(
                "the repository is busy; the tag will be set once its task runs".into(),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
    depot
        .db
        .container_pending_remove(repository_id, add)
        .await?;
    Ok(())
}
