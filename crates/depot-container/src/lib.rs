//! The `container` content type: container images as blobs, manifests and tags, served by an
//! OCI registry (`/v2/`, with Pulp's token auth at `/token/`) on the same port as the API.
//!
//! A blob and a manifest each have one artifact stored at their digest (`sha256:<hex>`); a tag
//! has the artifact of the manifest it points to at `tags/<name>`; a manifest with a `subject`
//! has it once more at `referrers/<subject digest>/<digest>`. So the registry resolves a
//! digest, a tag, a page of tags or the referrers of a manifest with the same indexed path
//! lookups the content app uses, and blobs synced `on_demand` are fetched on first pull like
//! any other artifact.

pub mod access;
pub mod actions;
pub mod manifest;
pub mod push;
pub mod registry;
pub mod sync;
pub mod token;
mod uploads;

use serde_json::{Map, Value, json};

use depot_core::fields::{Default, Field, Kind};
use depot_core::plugin::{
    ContentDef, ContentFilter, DistributionDef, Family, FilterOp, Plugin, RepositoryDef, SyncDef,
    TaskDef, TypeDef,
};
use depot_store::content::{NewContentArtifact, NewUnit};
use futures::FutureExt;

pub const REPOSITORY_TYPE: &str = "container.container";
pub const PUSH_REPOSITORY_TYPE: &str = "container.container-push";
pub const DISTRIBUTION_TYPE: &str = "container.container";
pub const REMOTE_TYPE: &str = "container.container";
pub const BLOB: &str = "container.blob";
pub const MANIFEST: &str = "container.manifest";
pub const TAG: &str = "container.tag";

/// The pulp_container release whose API depot reproduces.
pub const VERSION: &str = "2.30.0";

pub const DISTRIBUTION_MODEL: &str = "container.containerdistribution";
pub const NAMESPACE_MODEL: &str = "container.containernamespace";
pub const REPOSITORY_MODEL: &str = "container.containerrepository";

static REMOTE_FIELDS: &[Field] = &[
    Field::new("upstream_name", Kind::Str)
        .required()
        .help("Name of the upstream repository"),
    Field::new("includes", Kind::StrList)
        .nullable()
        .default(Default::Null)
        .help("A list of tags to include during sync. Wildcards *, ? are recognized."),
    Field::new("excludes", Kind::StrList)
        .nullable()
        .default(Default::Null)
        .help("A list of tags to exclude during sync. Wildcards *, ? are recognized."),
    Field::new("include_tags", Kind::StrList)
        .nullable()
        .write_only()
        .help("Deprecated: use includes."),
    Field::new("exclude_tags", Kind::StrList)
        .nullable()
        .write_only()
        .help("Deprecated: use excludes."),
    Field::new("sigstore", Kind::Str)
        .nullable()
        .default(Default::Null),
];

static SYNC_FIELDS: &[Field] = &[Field::new("mirror", Kind::Bool)
    .default(Default::Bool(false))
    .help("If true, the new version holds exactly the upstream's tags, manifests and blobs.")];

static REPOSITORY_FIELDS: &[Field] = &[Field::new("manifest_signing_service", Kind::Str)
    .nullable()
    .default(Default::Null)];

static DISTRIBUTION_FIELDS: &[Field] = &[
    Field::new("private", Kind::Bool)
        .default(Default::Bool(false))
        .help("Restrict pull access to explicitly authorized users. Defaults to unrestricted pull access."),
    Field::new("description", Kind::Str)
        .nullable()
        .default(Default::Null)
        .help("An optional description."),
    Field::new("namespace", Kind::Str)
        .read_only()
        .help("Namespace this distribution belongs to."),
    Field::new("registry_path", Kind::Str)
        .read_only()
        .help("The Registry hostname/name/ to use with docker pull command defined by this distribution."),
];

static BLOB_FIELDS: &[Field] = &[
    Field::new("artifact", Kind::Href("artifacts")).read_only(),
    Field::new("digest", Kind::Str).read_only(),
];

static MANIFEST_FIELDS: &[Field] = &[
    Field::new("artifact", Kind::Href("artifacts")).read_only(),
    Field::new("digest", Kind::Str).read_only(),
    Field::new(
        "schema_version",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only(),
    Field::new("media_type", Kind::Str).read_only(),
    Field::new("listed_manifests", Kind::HrefList("content")).read_only(),
    Field::new("config_blob", Kind::Href("content")).read_only(),
    Field::new("blobs", Kind::HrefList("content")).read_only(),
    Field::new("annotations", Kind::Json("object")).read_only(),
    Field::new("labels", Kind::Json("object")).read_only(),
    Field::new("is_bootable", Kind::Bool).read_only(),
    Field::new("is_flatpak", Kind::Bool).read_only(),
    Field::new("type", Kind::Str).read_only(),
    Field::new("architecture", Kind::Str).read_only(),
    Field::new("os", Kind::Str).read_only(),
    Field::new(
        "compressed_image_size",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only(),
];

static TAG_FIELDS: &[Field] = &[
    Field::new("name", Kind::Str).read_only(),
    Field::new("tagged_manifest", Kind::Href("content")).read_only(),
];

static BLOB_FILTERS: &[ContentFilter] = &[
    ContentFilter {
        param: "digest",
        field: "digest",
        op: FilterOp::Eq,
    },
    ContentFilter {
        param: "digest__in",
        field: "digest",
        op: FilterOp::In,
    },
];

static MANIFEST_FILTERS: &[ContentFilter] = &[
    ContentFilter {
        param: "digest",
        field: "digest",
        op: FilterOp::Eq,
    },
    ContentFilter {
        param: "digest__in",
        field: "digest",
        op: FilterOp::In,
    },
    ContentFilter {
        param: "media_type",
        field: "media_type",
        op: FilterOp::In,
    },
];

static TAG_FILTERS: &[ContentFilter] = &[
    ContentFilter {
        param: "name",
        field: "name",
        op: FilterOp::Text,
    },
    ContentFilter {
        param: "digest",
        field: "digest",
        op: FilterOp::Eq,
    },
    ContentFilter {
        param: "digest__in",
        field: "digest",
        op: FilterOp::In,
    },
    ContentFilter {
        param: "media_type",
        field: "media_type",
        op: FilterOp::In,
    },
];

#[allow(clippy::too_many_arguments)] // one argument per TypeDef field
fn type_def(
    family: Family,
    pulp_type: &'static str,
    path: &'static str,
    model: &'static str,
    href_param: &'static str,
    op_prefix: &'static str,
    prn_model: &'static str,
    fields: &'static [Field],
) -> TypeDef {
    TypeDef {
        family,
        pulp_type,
        path,
        model,
        schema: match model {
            "ContainerRemote" => "container.ContainerRemote",
            "ContainerRepository" => "container.ContainerRepository",
            "ContainerPushRepository" => "container.ContainerPushRepository",
            "ContainerDistribution" => "container.ContainerDistribution",
            "Blob" => "container.Blob",
            "Manifest" => "container.Manifest",
            _ => "container.Tag",
        },
        href_param,
        op_prefix,
        prn_model,
        fields,
    }
}

#[allow(clippy::too_many_arguments)] // one argument per RepositoryDef field
fn repository(
    pulp_type: &'static str,
    path: &'static str,
    model: &'static str,
    href_param: &'static str,
    op_prefix: &'static str,
    prn_model: &'static str,
    version_href_param: &'static str,
    version_op_prefix: &'static str,
) -> RepositoryDef {
    RepositoryDef {
        def: type_def(
            Family::Repositories,
            pulp_type,
            path,
            model,
            href_param,
            op_prefix,
            prn_model,
            REPOSITORY_FIELDS,
        ),
        version_href_param,
        version_op_prefix,
        content_types: &[BLOB, MANIFEST, TAG],
        remote_types: &[REMOTE_TYPE],
        sync: (pulp_type == REPOSITORY_TYPE).then_some(SyncDef {
            fields: SYNC_FIELDS,
            schema: "ContainerRepositorySyncURL",
            task: sync::SYNC_TASK,
            check: None,
        }),
        autopublish: None,
        repo_key: Some("$.repo_key"),
        actions: actions::repository_actions(),
    }
}

/// The container content type's contribution.
pub fn plugin() -> Plugin {
    Plugin {
        app_label: "container",
        version: VERSION,
        package: "pulp-container",
        remotes: vec![type_def(
            Family::Remotes,
            REMOTE_TYPE,
            "container/container",
            "ContainerRemote",
            "container_container_remote_href",
            "remotes_container_container",
            "container.containerremote",
            REMOTE_FIELDS,
        )],
        repositories: vec![
            repository(
                REPOSITORY_TYPE,
                "container/container",
                "ContainerRepository",
                "container_container_repository_href",
                "repositories_container_container",
                REPOSITORY_MODEL,
                "container_container_repository_version_href",
                "repositories_container_container_versions",
            ),
            repository(
                PUSH_REPOSITORY_TYPE,
                "container/container-push",
                "ContainerPushRepository",
                "container_container_push_repository_href",
                "repositories_container_container_push",
                "container.containerpushrepository",
                "container_container_push_repository_version_href",
                "repositories_container_container_push_versions",
            ),
        ],
        publications: vec![],
        distributions: vec![DistributionDef {
            def: type_def(
                Family::Distributions,
                DISTRIBUTION_TYPE,
                "container/container",
                "ContainerDistribution",
                "container_container_distribution_href",
                "distributions_container_container",
                DISTRIBUTION_MODEL,
                DISTRIBUTION_FIELDS,
            ),
            serves_publications: false,
            content_app: false,
            generated: None,
        }],
        content: vec![
            ContentDef {
                def: type_def(
                    Family::Content,
                    BLOB,
                    "container/blobs",
                    "Blob",
                    "container_blob_href",
                    "content_container_blobs",
                    "container.blob",
                    BLOB_FIELDS,
                ),
                filters: BLOB_FILTERS,
                upload: None,
            },
            ContentDef {
                def: type_def(
                    Family::Content,
                    MANIFEST,
                    "container/manifests",
                    "Manifest",
                    "container_manifest_href",
                    "content_container_manifests",
                    "container.manifest",
                    MANIFEST_FIELDS,
                ),
                filters: MANIFEST_FILTERS,
                upload: None,
            },
            ContentDef {
                def: type_def(
                    Family::Content,
                    TAG,
                    "container/tags",
                    "Tag",
                    "container_tag_href",
                    "content_container_tags",
                    "container.tag",
                    TAG_FIELDS,
                ),
                filters: TAG_FILTERS,
                upload: None,
            },
        ],
        content_guards: vec![],
        tasks: vec![TaskDef {
            name: sync::SYNC_TASK,
            run: |ctx| sync::synchronize(ctx).boxed(),
        }],
        actions: vec![],
    }
}

/// The path a manifest's or blob's artifact has within a version: its digest.
pub fn digest_path(digest: &str) -> String {
    digest.to_string()
}

/// The path of a tag within a version.
pub fn tag_path(name: &str) -> String {
    format!("tags/{name}")
}

/// The path below which the manifests whose `subject` is `digest` lie.
pub fn referrers_prefix(digest: &str) -> String {
    format!("referrers/{digest}/")
}

/// A blob unit: identity its digest, one artifact at its digest.
pub fn blob_unit(
    digest: &str,
    artifact_id: Option<String>,
    remote: Option<depot_store::content::RemoteSource>,
) -> NewUnit {
    NewUnit {
        pulp_type: BLOB.into(),
        natural_key: digest.to_string(),
        data: json!({"digest": digest, "repo_key": format!("blob:{digest}")}).to_string(),
        artifacts: vec![NewContentArtifact {
            relative_path: digest_path(digest),
            artifact_id,
            remote,
        }],
        metadata: Vec::new(),
    }
}

/// A manifest unit from its parsed fields (`data` without the identity fields, which are
/// added here) and its stored bytes.
pub fn manifest_unit(
    digest: &str,
    mut data: Map<String, Value>,
    artifact_id: &str,
    subject: Option<&str>,
) -> NewUnit {
    data.insert("digest".into(), json!(digest));
    data.insert("repo_key".into(), json!(format!("manifest:{digest}")));
    let mut artifacts = vec![NewContentArtifact {
        relative_path: digest_path(digest),
        artifact_id: Some(artifact_id.to_string()),
        remote: None,
    }];
    if let Some(s) = subject {
        artifacts.push(NewContentArtifact {
            relative_path: format!("{}{digest}", referrers_prefix(s)),
            artifact_id: Some(artifact_id.to_string()),
            remote: None,
        });
    }
    NewUnit {
        pulp_type: MANIFEST.into(),
        natural_key: digest.to_string(),
        data: Value::Object(data).to_string(),
        artifacts,
        metadata: Vec::new(),
    }
}

/// A tag unit: identity (name, manifest digest); the manifest's artifact at `tags/<name>`.
pub fn tag_unit(
    name: &str,
    digest: &str,
    media_type: &str,
    manifest_href: &str,
    artifact_id: &str,
) -> NewUnit {
    NewUnit {
        pulp_type: TAG.into(),
        natural_key: format!("{name}\n{digest}"),
        data: json!({
            "name": name,
            "tagged_manifest": manifest_href,
            "digest": digest,
            "media_type": media_type,
            "repo_key": format!("tag:{name}"),
        })
        .to_string(),
        artifacts: vec![NewContentArtifact {
            relative_path: tag_path(name),
            artifact_id: Some(artifact_id.to_string()),
            remote: None,
        }],
        metadata: Vec::new(),
    }
}
