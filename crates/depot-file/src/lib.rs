//! The `file` content type: arbitrary files listed in a `PULP_MANIFEST`.
//!
//! A unit is a (relative path, sha256) pair. Sync reads the upstream manifest line by line;
//! publish writes a manifest for the version and serves the version's files at their paths
//! (a pass-through publication).

pub mod manifest;
mod publish;
mod sync;

use futures::FutureExt;
use serde_json::{Map, Value, json};

use depot_core::CoreError;
use depot_core::fields::{Default, Field, Kind};
use depot_core::plugin::{
    ContentDef, ContentFilter, DistributionDef, Family, FilterOp, Plugin, PublicationDef,
    RepositoryDef, SyncDef, TaskDef, TypeDef, UploadDef,
};
use depot_store::content::{NewContentArtifact, NewUnit};

pub use publish::publish_version;

pub const PULP_TYPE: &str = "file.file";
pub const SYNC_TASK: &str = "pulp_file.app.tasks.synchronizing.synchronize";
pub const PUBLISH_TASK: &str = "pulp_file.app.tasks.publishing.publish";

static REPOSITORY_FIELDS: &[Field] = &[
    Field::new("autopublish", Kind::Bool)
        .default(Default::Bool(false))
        .help("Whether to publish every new version automatically."),
    Field::new("manifest", Kind::Str)
        .nullable()
        .default(Default::Str("PULP_MANIFEST"))
        .help("Filename to use for manifest file containing metadata for all the files."),
    Field::new("last_sync_details", Kind::Json("object")).read_only(),
];

static SYNC_FIELDS: &[Field] = &[
    Field::new("mirror", Kind::Bool)
        .default(Default::Bool(false))
        .help("If true, the new version holds exactly the upstream's content."),
    Field::new("optimize", Kind::Bool)
        .default(Default::Bool(true))
        .help("Skip the sync when the upstream manifest and remote are unchanged."),
];

static PUBLICATION_FIELDS: &[Field] = &[
    Field::new("distributions", Kind::HrefList("distributions")).read_only(),
    Field::new("manifest", Kind::Str)
        .nullable()
        .default(Default::Str("PULP_MANIFEST"))
        .help("Filename to use for manifest file containing metadata for all the files."),
    Field::new("checkpoint", Kind::Bool).default(Default::Bool(false)),
];

static DISTRIBUTION_FIELDS: &[Field] = &[
    Field::new("publication", Kind::Href("publications"))
        .nullable()
        .default(Default::Null)
        .help("Publication to be served"),
    Field::new("checkpoint", Kind::Bool).default(Default::Bool(false)),
];

static CONTENT_FIELDS: &[Field] = &[
    Field::new("artifact", Kind::Href("artifacts")).read_only(),
    Field::new("relative_path", Kind::RelPath).read_only(),
    Field::new("md5", Kind::Str).read_only(),
    Field::new("sha1", Kind::Str).read_only(),
    Field::new("sha224", Kind::Str).read_only(),
    Field::new("sha256", Kind::Str).read_only(),
    Field::new("sha384", Kind::Str).read_only(),
    Field::new("sha512", Kind::Str).read_only(),
];

static UPLOAD_FIELDS: &[Field] = &[Field::new("relative_path", Kind::RelPath)
    .required()
    .help("Path where the artifact is located relative to distributions base_path")];

static CONTENT_FILTERS: &[ContentFilter] = &[
    ContentFilter {
        param: "relative_path",
        field: "relative_path",
        op: FilterOp::Text,
    },
    ContentFilter {
        param: "digest",
        field: "digest",
        op: FilterOp::Eq,
    },
    ContentFilter {
        param: "sha256",
        field: "digest",
        op: FilterOp::Eq,
    },
];

#[allow(clippy::too_many_arguments)] // one argument per TypeDef field
fn type_def(
    family: Family,
    path: &'static str,
    model: &'static str,
    schema: &'static str,
    href_param: &'static str,
    op_prefix: &'static str,
    prn_model: &'static str,
    fields: &'static [Field],
) -> TypeDef {
    TypeDef {
        family,
        pulp_type: PULP_TYPE,
        path,
        model,
        schema,
        href_param,
        op_prefix,
        prn_model,
        fields,
    }
}

/// The file content type's contribution.
pub fn plugin() -> Plugin {
    Plugin {
        app_label: "file",
        version: depot_core::plugin::CORE_VERSION,
        package: "pulpcore",
        remotes: vec![type_def(
            Family::Remotes,
            "file/file",
            "FileRemote",
            "file.FileRemote",
            "file_file_remote_href",
            "remotes_file_file",
            "file.fileremote",
            &[],
        )],
        repositories: vec![RepositoryDef {
            def: type_def(
                Family::Repositories,
                "file/file",
                "FileRepository",
                "file.FileRepository",
                "file_file_repository_href",
                "repositories_file_file",
                "file.filerepository",
                REPOSITORY_FIELDS,
            ),
            version_href_param: "file_file_repository_version_href",
            version_op_prefix: "repositories_file_file_versions",
            content_types: &[PULP_TYPE],
            remote_types: &[PULP_TYPE],
            sync: Some(SyncDef {
                fields: SYNC_FIELDS,
                schema: "FileRepositorySyncURL",
                task: SYNC_TASK,
                check: Some(|repo, args| {
                    if args.get("mirror") == Some(&Value::Bool(true))
                        && repo.get("autopublish") == Some(&Value::Bool(true))
                    {
                        return Err(CoreError::InvalidList(
                            "Cannot use mirror mode with autopublished repository.".into(),
                        ));
                    }
                    Ok(())
                }),
            }),
            autopublish: Some(|depot, version, extra| {
                async move {
                    let manifest = match extra.get("manifest") {
                        Some(Value::Null) => None,
                        Some(Value::String(m)) => Some(m.clone()),
                        _ => Some("PULP_MANIFEST".to_string()),
                    };
                    publish::publish_version(&depot, &version, manifest).await
                }
                .boxed()
            }),
            repo_key: Some("$.relative_path"),
            actions: vec![],
        }],
        publications: vec![PublicationDef {
            def: type_def(
                Family::Publications,
                "file/file",
                "FilePublication",
                "file.FilePublication",
                "file_file_publication_href",
                "publications_file_file",
                "file.filepublication",
                PUBLICATION_FIELDS,
            ),
            task: PUBLISH_TASK,
        }],
        distributions: vec![DistributionDef {
            def: type_def(
                Family::Distributions,
                "file/file",
                "FileDistribution",
                "file.FileDistribution",
                "file_file_distribution_href",
                "distributions_file_file",
                "file.filedistribution",
                DISTRIBUTION_FIELDS,
            ),
            serves_publications: true,
            content_app: true,
            generated: None,
        }],
        content: vec![ContentDef {
            def: type_def(
                Family::Content,
                "file/files",
                "FileContent",
                "file.FileContent",
                "file_file_content_href",
                "content_file_files",
                "file.filecontent",
                CONTENT_FIELDS,
            ),
            filters: CONTENT_FILTERS,
            upload: Some(UploadDef {
                fields: UPLOAD_FIELDS,
                schema: "file.FileContent",
                build: |_depot, fields, artifact| {
                    async move {
                        let path = fields
                            .get("relative_path")
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                CoreError::invalid("relative_path", "This field is required.")
                            })?
                            .to_string();
                        Ok(unit(
                            &path,
                            &artifact.sha256,
                            Some(artifact.id.clone()),
                            None,
                        ))
                    }
                    .boxed()
                },
            }),
        }],
        content_guards: vec![],
        actions: vec![],
        tasks: vec![
            TaskDef {
                name: SYNC_TASK,
                run: |ctx| sync::synchronize(ctx).boxed(),
            },
            TaskDef {
                name: PUBLISH_TASK,
                run: |ctx| publish::publish(ctx).boxed(),
            },
        ],
    }
}

/// A file unit: identity (relative path, sha256), one artifact at the relative path.
pub fn unit(
    relative_path: &str,
    sha256: &str,
    artifact_id: Option<String>,
    remote: Option<depot_store::content::RemoteSource>,
) -> NewUnit {
    let mut data = Map::new();
    data.insert("relative_path".into(), json!(relative_path));
    data.insert("digest".into(), json!(sha256));
    NewUnit {
        pulp_type: PULP_TYPE.to_string(),
        natural_key: format!("{relative_path}\n{sha256}"),
        data: Value::Object(data).to_string(),
        artifacts: vec![NewContentArtifact {
            relative_path: relative_path.to_string(),
            artifact_id,
            remote,
        }],
        metadata: Vec::new(),
    }
}
