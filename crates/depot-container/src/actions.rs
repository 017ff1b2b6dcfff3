//! The container repository actions the release train promotes with: `add/` (recursive: a tag
//! brings its manifest, an index its manifests, a manifest its blobs), `tag/`, `untag/` and
//! `copy_tags/`. Each dispatches the repository's modify task; no byte is copied.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::FutureExt;
use serde_json::{Map, Value, json};

use depot_core::auth::User;
use depot_core::core_tasks::MODIFY;
use depot_core::fields::{Field, Kind};
use depot_core::plugin::{RepositoryActionDef, RepositoryActionFn};
use depot_core::resources::content::content_id_from_href;
use depot_core::resources::{obj, strip_origin};
use depot_core::tasks::NewTask;
use depot_core::{CoreError, Depot, href};

use crate::{BLOB, MANIFEST, TAG, tag_path, tag_unit};

static ADD_FIELDS: &[Field] = &[Field::new("content_units", Kind::StrList)
    .required()
    .help("A list of content units to operate on.")];
static TAG_FIELDS: &[Field] = &[
    Field::new("tag", Kind::Str).required().help("A tag name"),
    Field::new("digest", Kind::Str)
        .required()
        .help("sha256 of the Manifest file"),
];
static UNTAG_FIELDS: &[Field] = &[Field::new("tag", Kind::Str).required().help("A tag name")];
static COPY_TAGS_FIELDS: &[Field] = &[
    Field::new("source_repository", Kind::Href("repositories"))
        .help("A URI of the repository to copy content from."),
    Field::new(
        "source_repository_version",
        Kind::Href("repository_versions"),
    )
    .help("A URI of the repository version to copy content from."),
    Field::new("names", Kind::StrList).help("A list of tag names to copy."),
];

fn action(
    path: &'static str,
    schema: &'static str,
    fields: &'static [Field],
    summary: &'static str,
    run: RepositoryActionFn,
) -> RepositoryActionDef {
    RepositoryActionDef {
        path,
        operation: path,
        schema,
        fields,
        summary,
        permission: "modify",
        run,
    }
}

/// The actions of container repositories.
pub fn repository_actions() -> Vec<RepositoryActionDef> {
    vec![
        action(
            "add",
            "RecursiveManage",
            ADD_FIELDS,
            "Add content",
            |d, id, a, u| add(d, id, a, u).boxed(),
        ),
        action(
            "tag",
            "TagImage",
            TAG_FIELDS,
            "Create a Tag",
            |d, id, a, u| tag(d, id, a, u).boxed(),
        ),
        action(
            "untag",
            "UnTagImage",
            UNTAG_FIELDS,
            "Delete a tag",
            |d, id, a, u| untag(d, id, a, u).boxed(),
        ),
        action(
            "copy_tags",
            "TagCopy",
            COPY_TAGS_FIELDS,
            "Copy tags",
            |d, id, a, u| copy_tags(d, id, a, u).boxed(),
        ),
    ]
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn id_of_href(h: &str) -> Option<String> {
    h.trim_end_matches('/')
        .rsplit('/')
        .next()
        .map(str::to_string)
}

/// The units and everything they need: a tag's manifest, an index's manifests, a manifest's
/// config and layers.
pub async fn expand(depot: &Depot, ids: &[String]) -> Result<Vec<String>, CoreError> {
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut todo: Vec<String> = ids.to_vec();
    while let Some(id) = todo.pop() {
        if !seen.insert(id.clone()) {
            continue;
        }
        let Some(c) = depot.db.content_get(&id).await? else {
            continue;
        };
        let data = obj(&c.data);
        match c.pulp_type.as_str() {
            TAG => todo.extend(
                data.get("tagged_manifest")
                    .and_then(Value::as_str)
                    .and_then(id_of_href),
            ),
            MANIFEST => {
                for key in ["blobs", "listed_manifests"] {
                    todo.extend(strings(data.get(key)).iter().filter_map(|h| id_of_href(h)));
                }
                todo.extend(
                    data.get("config_blob")
                        .and_then(Value::as_str)
                        .and_then(id_of_href),
                );
            }
            _ => {}
        }
    }
    Ok(seen.into_iter().collect())
}

async fn modify(
    depot: &Depot,
    repository: &str,
    add: &[String],
    remove: &[String],
    user: Option<User>,
) -> Result<String, CoreError> {
    let repo = depot
        .db
        .repository_get(repository)
        .await?
        .ok_or_else(|| CoreError::NotFound("Not found.".into()))?;
    let model = depot
        .plugins
        .repository(&repo.pulp_type)
        .map(|r| r.def.prn_model)
        .unwrap_or(crate::REPOSITORY_MODEL);
    let task = depot
        .dispatch(
            NewTask::new(
                MODIFY,
                json!({"repository": repository, "add_content_units": add, "remove_content_units": remove}),
            )
            .exclusive(href::prn(model, repository))
            .by(user.map(|u| u.id)),
        )
        .await?;
    Ok(href::task(&task.id))
}

async fn add(
    depot: Arc<Depot>,
    repository: String,
    args: Map<String, Value>,
    user: Option<User>,
) -> Result<String, CoreError> {
    let hrefs = strings(args.get("content_units"));
    let mut ids = Vec::new();
    for h in &hrefs {
        match content_id_from_href(&depot, h) {
            Some(id) => ids.push(id),
            None => {
                return Err(CoreError::invalid(
                    "content_units",
                    format!("URI not valid: {h}"),
                ));
            }
        }
    }
    let types = depot.db.content_types_of(&ids).await?;
    for (h, id) in hrefs.iter().zip(&ids) {
        match types.get(id).map(String::as_str) {
            Some(BLOB | MANIFEST | TAG) => {}
            Some(_) => {
                return Err(CoreError::invalid(
                    "content_units",
                    format!("{h} is not container content"),
                ));
            }
            None => {
                return Err(CoreError::invalid(
                    "content_units",
                    format!("Could not find the following content units: [{h:?}]"),
                ));
            }
        }
    }
    let all = expand(&depot, &ids).await?;
    modify(&depot, &repository, &all, &[], user).await
}

/// (repository id, version number) of the latest version.
async fn latest(depot: &Depot, repository: &str) -> Result<i64, CoreError> {
    Ok(depot
        .db
        .repository_get(repository)
        .await?
        .map(|r| r.latest_version)
        .unwrap_or(0))
}

async fn tag(
    depot: Arc<Depot>,
    repository: String,
    args: Map<String, Value>,
    user: Option<User>,
) -> Result<String, CoreError> {
    let name = args
        .get("tag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let digest = args
        .get("digest")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !crate::registry::valid_tag(&name) {
        return Err(CoreError::invalid(
            "tag",
            "The tag name contains forbidden characters.",
        ));
    }
    let n = latest(&depot, &repository).await?;
    let manifest = match depot.db.content_by_key(MANIFEST, &digest).await? {
        Some(m)
            if !depot
                .db
                .version_contains(&repository, n, std::slice::from_ref(&m.id))
                .await?
                .is_empty() =>
        {
            m
        }
        _ => {
            return Err(CoreError::non_field(format!(
                "A manifest with the digest '{digest}' does not exist in the latest repository version."
            )));
        }
    };
    let artifact = manifest
        .artifact_id
        .clone()
        .ok_or_else(|| CoreError::non_field("The manifest's bytes are not stored."))?;
    let media_type = obj(&manifest.data)
        .get("media_type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let manifest_href = depot
        .plugins
        .content_def(MANIFEST)
        .map(|d| href::of(&d.def, &manifest.id))
        .unwrap_or_default();
    let unit = tag_unit(&name, &digest, &media_type, &manifest_href, &artifact);
    let ids = depot.db.declare_units(&[unit], None).await?;
    modify(&depot, &repository, &ids, &[], user).await
}

/// The tag units of a version, by name.
async fn tags_of(
    depot: &Depot,
    repository: &str,
    number: i64,
) -> Result<Vec<(String, String)>, CoreError> {
    let mut out = Vec::new();
    let mut after = "tags/".to_string();
    loop {
        let rows = depot
            .db
            .version_paths_between(repository, number, &after, "tags0", 1000)
            .await?;
        let full = rows.len() == 1000;
        for r in &rows {
            if let (Some(name), Some(sha)) =
                (r.relative_path.strip_prefix("tags/"), &r.artifact_sha256)
                && let Some(c) = depot
                    .db
                    .content_by_key(TAG, &format!("{name}\nsha256:{sha}"))
                    .await?
            {
                out.push((name.to_string(), c.id));
            }
        }
        match rows.last() {
            Some(r) if full => after = r.relative_path.clone(),
            _ => break,
        }
    }
    Ok(out)
}

async fn untag(
    depot: Arc<Depot>,
    repository: String,
    args: Map<String, Value>,
    user: Option<User>,
) -> Result<String, CoreError> {
    let name = args.get("tag").and_then(Value::as_str).unwrap_or_default();
    let n = latest(&depot, &repository).await?;
    let found = match depot
        .db
        .version_file(&repository, n, &tag_path(name))
        .await?
    {
        Some(f) => match f.artifact_sha256 {
            Some(sha) => {
                depot
                    .db
                    .content_by_key(TAG, &format!("{name}\nsha256:{sha}"))
                    .await?
            }
            None => None,
        },
        None => None,
    };
    let Some(t) = found else {
        return Err(CoreError::non_field(format!(
            "The tag '{name}' does not exist in the latest repository version."
        )));
    };
    modify(&depot, &repository, &[], &[t.id], user).await
}

async fn copy_tags(
    depot: Arc<Depot>,
    repository: String,
    args: Map<String, Value>,
    user: Option<User>,
) -> Result<String, CoreError> {
    let source = match (
        args.get("source_repository"),
        args.get("source_repository_version"),
    ) {
        (Some(Value::String(r)), None) => {
            let p = href::parse(&depot.plugins, strip_origin(r))
                .filter(|p| p.version.is_none())
                .ok_or_else(|| {
                    CoreError::invalid(
                        "source_repository",
                        "Invalid hyperlink - Object does not exist.",
                    )
                })?;
            (p.id.clone(), latest(&depot, &p.id).await?)
        }
        (None, Some(Value::String(v))) => {
            let p = href::parse(&depot.plugins, strip_origin(v))
                .and_then(|p| p.version.map(|n| (p.id.clone(), n)))
                .ok_or_else(|| {
                    CoreError::invalid(
                        "source_repository_version",
                        "Invalid hyperlink - Object does not exist.",
                    )
                })?;
            if depot.db.version_get(&p.0, p.1).await?.is_none() {
                return Err(CoreError::invalid(
                    "source_repository_version",
                    "Invalid hyperlink - Object does not exist.",
                ));
            }
            p
        }
        _ => {
            return Err(CoreError::non_field(
                "Either the 'source_repository' or 'source_repository_version' need to be specified but not both.",
            ));
        }
    };
    let names: Option<BTreeSet<String>> = args
        .get("names")
        .filter(|v| !v.is_null())
        .map(|v| strings(Some(v)).into_iter().collect());
    let ids: Vec<String> = tags_of(&depot, &source.0, source.1)
        .await?
        .into_iter()
        .filter(|(name, _)| names.as_ref().is_none_or(|n| n.contains(name)))
        .map(|(_, id)| id)
        .collect();
    let all = expand(&depot, &ids).await?;
    modify(&depot, &repository, &all, &[], user).await
}
