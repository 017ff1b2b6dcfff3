//! The `rpm` content type: packages, advisories, module streams and comps groups of yum/dnf
//! repositories.
//!
//! Sync streams upstream repodata and keeps each unit's own metadata (its `<package>`
//! elements of primary, filelists and other, its `<update>`, its comps element, its
//! modules.yaml document) as fragments; a publication streams them back out into new
//! repodata. Uploaded packages get the same fragments from their header.

pub mod compress;
pub mod copy;
pub mod mirrors;
pub mod modules;
pub mod packages;
pub mod publish;
pub mod records;
pub mod repomd;
pub mod retention;
pub mod sync;
pub mod units;
pub mod upload;
pub mod xml;

use futures::FutureExt;
use serde_json::Value;

use depot_core::CoreError;
use depot_core::fields::{Default, Field, Kind};
use depot_core::plugin::{
    ActionDef, ContentDef, ContentFilter, DistributionDef, Family, FilterOp, Generated, Plugin,
    PublicationDef, RepositoryDef, SyncDef, TaskDef, TypeDef, UploadDef,
};

pub const PULP_TYPE: &str = "rpm.rpm";
pub const SYNC_TASK: &str = "pulp_rpm.app.tasks.synchronizing.synchronize";
pub const PUBLISH_TASK: &str = "pulp_rpm.app.tasks.publishing.publish";
/// The pulp_rpm version whose API depot reproduces.
pub const RPM_VERSION: &str = "3.39.4";

const CHECKSUMS: &[&str] = &["sha256", "sha384", "sha512"];
const COMPRESSIONS: &[&str] = &["zstd", "gz", "none"];
const LAYOUTS: &[&str] = &["nested_alphabetically", "flat"];

static REMOTE_FIELDS: &[Field] = &[Field::new("sles_auth_token", Kind::Str)
    .nullable()
    .default(Default::Null)
    .help("Authentication token for SLES repositories.")];

static REPOSITORY_FIELDS: &[Field] = &[
    Field::new("autopublish", Kind::Bool)
        .default(Default::Bool(false))
        .help("Whether to automatically create publications for new repository versions, and update any distributions pointing to this repository."),
    Field::new("metadata_signing_service", Kind::Href("signing-services"))
        .nullable()
        .default(Default::Null)
        .help("A reference to an associated signing service."),
    Field::new("package_signing_service", Kind::Href("signing-services"))
        .nullable()
        .default(Default::Null)
        .help("A reference to an associated package signing service."),
    Field::new("package_signing_fingerprint", Kind::Str)
        .nullable()
        .default(Default::Null),
    Field::new("retain_package_versions", Kind::Int { min: Some(0), max: None })
        .default(Default::Int(0))
        .help("The number of versions of each package to keep in the repository; older versions will be purged. The default is '0', which will disable this feature and keep all versions of each package."),
    Field::new("checksum_type", Kind::Choice(CHECKSUMS))
        .nullable()
        .default(Default::Null)
        .help("The preferred checksum type during repo publish."),
    Field::new("metadata_checksum_type", Kind::Choice(CHECKSUMS))
        .nullable()
        .default(Default::Null)
        .help("REMOVED: The checksum type to use for metadata. Not operational since pulp_rpm 3.30.0 release. Use 'checksum_type' instead."),
    Field::new("package_checksum_type", Kind::Choice(CHECKSUMS))
        .nullable()
        .default(Default::Null)
        .help("REMOVED: The checksum type for packages. Not operational since pulp_rpm 3.30.0 release. Use 'checksum_type' instead."),
    Field::new("sqlite_metadata", Kind::Bool)
        .default(Default::Bool(false))
        .help("REMOVED: An option specifying whether Pulp should generate SQLite metadata. Not operation since pulp_rpm 3.25.0 release"),
    Field::new("repo_config", Kind::Json("object"))
        .help("A JSON document describing the config.repo file Pulp should generate for this repo"),
    Field::new("compression_type", Kind::Choice(COMPRESSIONS))
        .nullable()
        .default(Default::Null)
        .help("The compression type to use for metadata files."),
    Field::new("layout", Kind::Choice(LAYOUTS))
        .nullable()
        .default(Default::Null)
        .help("How to layout the packages within the published repository."),
];

static SYNC_FIELDS: &[Field] = &[
    Field::new("mirror", Kind::Bool)
        .nullable()
        .help("DEPRECATED: If ``True``, ``sync_policy`` will default to 'mirror_complete' instead of 'additive'."),
    Field::new(
        "sync_policy",
        Kind::Choice(&["additive", "mirror_complete", "mirror_content_only"]),
    )
    .help("Options: 'additive', 'mirror_complete', 'mirror_content_only'. Default: 'additive'. Modifies how the sync is performed. 'mirror_complete' will clone the original metadata and create an automatic publication from it, but comes with some limitations and does not work for certain repositories. 'mirror_content_only' will change the repository contents to match the remote but the metadata will be regenerated and will not be bit-for-bit identical. 'additive' will retain the existing contents of the repository and add the contents of the repository being synced."),
    Field::new("skip_types", Kind::StrList)
        .default(Default::EmptyList)
        .help("List of content types to skip during sync. Options: 'srpm', 'treeinfo'."),
    Field::new("optimize", Kind::Bool)
        .default(Default::Bool(true))
        .help("Whether or not to optimize sync."),
];

static PUBLICATION_FIELDS: &[Field] = &[
    Field::new("checksum_type", Kind::Choice(CHECKSUMS))
        .help("The preferred checksum type used during repo publishes."),
    Field::new("metadata_checksum_type", Kind::Choice(CHECKSUMS))
        .nullable()
        .help("REMOVED: The checksum type for metadata. Use 'checksum_type' instead."),
    Field::new("package_checksum_type", Kind::Choice(CHECKSUMS))
        .nullable()
        .help("REMOVED: The checksum type for packages. Use 'checksum_type' instead."),
    Field::new("repo_config", Kind::Json("object"))
        .help("A JSON document describing the config.repo file Pulp should generate for this repo"),
    Field::new("compression_type", Kind::Choice(COMPRESSIONS))
        .nullable()
        .help("The compression type to use for metadata files."),
    Field::new("layout", Kind::Choice(LAYOUTS))
        .help("How to layout the packages within the published repository."),
    Field::new("sqlite_metadata", Kind::Bool)
        .default(Default::Bool(false))
        .help("REMOVED: An option specifying whether Pulp should generate SQLite metadata."),
    Field::new("checkpoint", Kind::Bool).default(Default::Bool(false)),
];

static DISTRIBUTION_FIELDS: &[Field] = &[
    Field::new("publication", Kind::Href("publications"))
        .nullable()
        .default(Default::Null)
        .help("Publication to be served"),
    Field::new("generate_repo_config", Kind::Bool)
        .default(Default::Bool(false))
        .help("An option specifying whether Pulp should generate *.repo files."),
    Field::new("checkpoint", Kind::Bool).default(Default::Bool(false)),
];

static COPY_FIELDS: &[Field] = &[
    Field::new("config", Kind::Json("object"))
        .required()
        .help("A JSON document describing sources, destinations, and content to be copied"),
    Field::new("dependency_solving", Kind::Bool)
        .default(Default::Bool(true))
        .help("Also copy dependencies of any packages being copied. NOTE: This argument is ignored for non-RPM content."),
];

static PACKAGE_FIELDS: &[Field] = &[
    Field::new("artifact", Kind::Href("artifacts")).read_only(),
    Field::new("name", Kind::Str)
        .read_only()
        .help("Name of the package"),
    Field::new("epoch", Kind::Str)
        .read_only()
        .help("The package's epoch"),
    Field::new("version", Kind::Str)
        .read_only()
        .help("The version of the package. For example, '2.8.0'"),
    Field::new("release", Kind::Str)
        .read_only()
        .help("The release of a particular version of the package. e.g. '1.el7' or '3.f24'"),
    Field::new("arch", Kind::Str)
        .read_only()
        .help("The target architecture for a package.For example, 'x86_64', 'i686', or 'noarch'"),
    Field::new("pkgId", Kind::Str)
        .read_only()
        .help("Checksum of the package file"),
    Field::new("checksum_type", Kind::Str)
        .read_only()
        .help("Type of checksum, e.g. 'sha256', 'md5'"),
    Field::new("summary", Kind::Str)
        .read_only()
        .help("Short description of the packaged software"),
    Field::new("url", Kind::Str)
        .read_only()
        .help("URL with more information about the packaged software"),
    Field::new("location_href", Kind::Str)
        .read_only()
        .help("Relative location of package to the repodata"),
    Field::new("location_base", Kind::Str)
        .read_only()
        .help("Base location of this package"),
    Field::new("relative_path", Kind::Str).read_only(),
    Field::new(
        "size_package",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only()
    .help("Size, in bytes, of the package"),
    Field::new(
        "time_build",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only()
    .help("Time the package was built in seconds since the epoch."),
    Field::new("rpm_sourcerpm", Kind::Str)
        .read_only()
        .help("Name of source package"),
    Field::new("is_modular", Kind::Bool)
        .read_only()
        .help("Flag to identify if the package is modular"),
    Field::new("md5", Kind::Str).read_only(),
    Field::new("sha1", Kind::Str).read_only(),
    Field::new("sha224", Kind::Str).read_only(),
    Field::new("sha256", Kind::Str).read_only(),
    Field::new("sha384", Kind::Str).read_only(),
    Field::new("sha512", Kind::Str).read_only(),
];

static PACKAGE_UPLOAD_FIELDS: &[Field] = &[Field::new("relative_path", Kind::RelPath)
    .help("Path where the artifact is located relative to distributions base_path")];

static ADVISORY_FIELDS: &[Field] = &[
    Field::new("id", Kind::Str)
        .read_only()
        .help("Update id (short update name, e.g. RHEA-2013:1777)"),
    Field::new("updated_date", Kind::Str)
        .read_only()
        .help("Date when the advisory was updated"),
    Field::new("issued_date", Kind::Str)
        .read_only()
        .help("Date when the advisory was issued"),
    Field::new("title", Kind::Str)
        .read_only()
        .help("Advisory name"),
    Field::new("type", Kind::Str)
        .read_only()
        .help("Advisory type (e.g. security, bugfix, enhancement)"),
    Field::new("severity", Kind::Str)
        .read_only()
        .help("Severity of the advisory"),
    Field::new("status", Kind::Str)
        .read_only()
        .help("Advisory status (e.g. final)"),
    Field::new("version", Kind::Str)
        .read_only()
        .help("Advisory version"),
    Field::new("release", Kind::Str)
        .read_only()
        .help("Advisory release"),
    Field::new("pushcount", Kind::Str)
        .read_only()
        .help("Push count"),
    Field::new("fromstr", Kind::Str)
        .read_only()
        .help("Source of the advisory"),
    Field::new("summary", Kind::Str)
        .read_only()
        .help("Short summary"),
];

static MODULEMD_FIELDS: &[Field] = &[
    Field::new("name", Kind::Str)
        .read_only()
        .help("Modulemd name."),
    Field::new("stream", Kind::Str)
        .read_only()
        .help("Stream name."),
    Field::new("version", Kind::Str)
        .read_only()
        .help("Modulemd version."),
    Field::new("context", Kind::Str)
        .read_only()
        .help("Modulemd context."),
    Field::new("arch", Kind::Str)
        .read_only()
        .help("Modulemd architecture."),
    Field::new("artifacts", Kind::Json("array"))
        .read_only()
        .help("Modulemd artifacts."),
];

static MODULEMD_DEFAULTS_FIELDS: &[Field] = &[
    Field::new("module", Kind::Str)
        .read_only()
        .help("Modulemd name."),
    Field::new("stream", Kind::Str)
        .read_only()
        .help("Modulemd default stream."),
];

static MODULEMD_OBSOLETE_FIELDS: &[Field] = &[
    Field::new("module_name", Kind::Str)
        .read_only()
        .help("Modulemd name."),
    Field::new("module_stream", Kind::Str)
        .read_only()
        .help("Modulemd's stream."),
    Field::new("modified", Kind::Str)
        .read_only()
        .help("Obsolete modified time."),
];

static GROUP_FIELDS: &[Field] = &[
    Field::new("id", Kind::Str)
        .read_only()
        .help("PackageGroup id."),
    Field::new("name", Kind::Str)
        .read_only()
        .help("PackageGroup name."),
    Field::new("description", Kind::Str)
        .read_only()
        .help("PackageGroup description."),
    Field::new(
        "display_order",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only(),
    Field::new("user_visible", Kind::Bool).read_only(),
    Field::new("default", Kind::Bool).read_only(),
    Field::new("digest", Kind::Str).read_only(),
];

static CATEGORY_FIELDS: &[Field] = &[
    Field::new("id", Kind::Str).read_only(),
    Field::new("name", Kind::Str).read_only(),
    Field::new("description", Kind::Str).read_only(),
    Field::new(
        "display_order",
        Kind::Int {
            min: None,
            max: None,
        },
    )
    .read_only(),
    Field::new("digest", Kind::Str).read_only(),
];

static LANGPACKS_FIELDS: &[Field] = &[Field::new("digest", Kind::Str).read_only()];

static METADATA_FILE_FIELDS: &[Field] = &[
    Field::new("artifact", Kind::Href("artifacts")).read_only(),
    Field::new("data_type", Kind::Str).read_only(),
    Field::new("checksum_type", Kind::Str).read_only(),
    Field::new("checksum", Kind::Str).read_only(),
    Field::new("relative_path", Kind::Str).read_only(),
];

macro_rules! filters {
    ($($param:literal => $field:literal $op:ident),* $(,)?) => {
        &[$(ContentFilter { param: $param, field: $field, op: FilterOp::$op }),*]
    };
}

static PACKAGE_FILTERS: &[ContentFilter] = filters![
    "name" => "name" Text,
    "name__ne" => "name" Ne,
    "epoch" => "epoch" Eq,
    "epoch__in" => "epoch" In,
    "epoch__ne" => "epoch" Ne,
    "version" => "version" Eq,
    "version__in" => "version" In,
    "version__ne" => "version" Ne,
    "release" => "release" Text,
    "release__ne" => "release" Ne,
    "arch" => "arch" Text,
    "arch__ne" => "arch" Ne,
    "pkgId" => "pkgId" Eq,
    "pkgId__in" => "pkgId" In,
    "checksum_type" => "checksum_type" Eq,
    "checksum_type__in" => "checksum_type" In,
    "checksum_type__ne" => "checksum_type" Ne,
    "location_href" => "location_href" Eq,
    "filename" => "relative_path" Eq,
    "sha256" => "pkgId" Eq,
];

static ADVISORY_FILTERS: &[ContentFilter] = filters![
    "id" => "id" Eq,
    "id__in" => "id" In,
    "type" => "type" Eq,
    "type__in" => "type" In,
    "type__ne" => "type" Ne,
    "severity" => "severity" Eq,
    "severity__in" => "severity" In,
    "severity__ne" => "severity" Ne,
    "status" => "status" Eq,
    "status__in" => "status" In,
    "status__ne" => "status" Ne,
];

static MODULEMD_FILTERS: &[ContentFilter] = filters![
    "name" => "name" Text,
    "stream" => "stream" Eq,
    "stream__in" => "stream" In,
    "version" => "version" Eq,
    "version__in" => "version" In,
    "context" => "context" Eq,
    "context__in" => "context" In,
    "arch" => "arch" Eq,
    "arch__in" => "arch" In,
    "sha256" => "digest" Eq,
];

static MODULE_NAME_FILTERS: &[ContentFilter] = filters![
    "module" => "module" Eq,
    "module__in" => "module" In,
    "stream" => "stream" Eq,
    "stream__in" => "stream" In,
    "sha256" => "digest" Eq,
];

static OBSOLETE_FILTERS: &[ContentFilter] = filters![];

static GROUP_FILTERS: &[ContentFilter] = filters![
    "id" => "id" Eq,
    "id__in" => "id" In,
    "name" => "name" Text,
];

static METADATA_FILE_FILTERS: &[ContentFilter] = filters![
    "data_type" => "data_type" Eq,
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
        schema: schema_of(model),
        href_param,
        op_prefix,
        prn_model,
        fields,
    }
}

/// `rpm.<Model>`, the OpenAPI schema name.
fn schema_of(model: &'static str) -> &'static str {
    match model {
        "RpmRemote" => "rpm.RpmRemote",
        "RpmRepository" => "rpm.RpmRepository",
        "RpmPublication" => "rpm.RpmPublication",
        "RpmDistribution" => "rpm.RpmDistribution",
        "Package" => "rpm.Package",
        "UpdateRecord" => "rpm.UpdateRecord",
        "Modulemd" => "rpm.Modulemd",
        "ModulemdDefaults" => "rpm.ModulemdDefaults",
        "ModulemdObsolete" => "rpm.ModulemdObsolete",
        "PackageGroup" => "rpm.PackageGroup",
        "PackageCategory" => "rpm.PackageCategory",
        "PackageEnvironment" => "rpm.PackageEnvironment",
        "PackageLangpacks" => "rpm.PackageLangpacks",
        _ => "rpm.RepoMetadataFile",
    }
}

#[allow(clippy::too_many_arguments)] // one argument per TypeDef field
fn content(
    pulp_type: &'static str,
    path: &'static str,
    model: &'static str,
    href_param: &'static str,
    op_prefix: &'static str,
    prn_model: &'static str,
    fields: &'static [Field],
    filters: &'static [ContentFilter],
) -> ContentDef {
    ContentDef {
        def: type_def(
            Family::Content,
            pulp_type,
            path,
            model,
            href_param,
            op_prefix,
            prn_model,
            fields,
        ),
        filters,
        upload: None,
    }
}

/// The rpm content type's contribution.
pub fn plugin() -> Plugin {
    let mut packages = content(
        units::PACKAGE,
        "rpm/packages",
        "Package",
        "rpm_package_href",
        "content_rpm_packages",
        "rpm.package",
        PACKAGE_FIELDS,
        PACKAGE_FILTERS,
    );
    packages.upload = Some(UploadDef {
        fields: PACKAGE_UPLOAD_FIELDS,
        schema: "rpm.Package",
        build: |depot, _fields, artifact| {
            async move {
                // Like Pulp, the package's path is its NVRA file name, whatever was asked.
                let file = depot.blobs.local_copy(&artifact.sha256).await?;
                let sha = artifact.sha256.clone();
                let size = artifact.size as u64;
                let parsed =
                    tokio::task::spawn_blocking(move || upload::read(file.path(), &sha, size))
                        .await
                        .map_err(|e| CoreError::Internal(e.to_string()))?
                        .map_err(|e| CoreError::invalid("file", e))?;
                Ok(upload::unit(parsed, artifact.id.clone()))
            }
            .boxed()
        },
    });
    Plugin {
        app_label: "rpm",
        version: RPM_VERSION,
        package: "pulp-rpm",
        remotes: vec![type_def(
            Family::Remotes,
            PULP_TYPE,
            "rpm/rpm",
            "RpmRemote",
            "rpm_rpm_remote_href",
            "remotes_rpm_rpm",
            "rpm.rpmremote",
            REMOTE_FIELDS,
        )],
        repositories: vec![RepositoryDef {
            def: type_def(
                Family::Repositories,
                PULP_TYPE,
                "rpm/rpm",
                "RpmRepository",
                "rpm_rpm_repository_href",
                "repositories_rpm_rpm",
                "rpm.rpmrepository",
                REPOSITORY_FIELDS,
            ),
            version_href_param: "rpm_rpm_repository_version_href",
            version_op_prefix: "repositories_rpm_rpm_versions",
            content_types: &[
                units::PACKAGE,
                units::ADVISORY,
                units::MODULEMD,
                units::MODULEMD_DEFAULTS,
                units::MODULEMD_OBSOLETE,
                units::PACKAGE_GROUP,
                units::PACKAGE_CATEGORY,
                units::PACKAGE_ENVIRONMENT,
                units::PACKAGE_LANGPACKS,
                units::REPO_METADATA_FILE,
            ],
            remote_types: &[PULP_TYPE],
            sync: Some(SyncDef {
                fields: SYNC_FIELDS,
                schema: "RpmRepositorySyncURL",
                task: SYNC_TASK,
                check: Some(check_sync),
            }),
            autopublish: Some(|depot, version, extra| {
                async move {
                    let v = depot.db.version_by_id(&version).await?.ok_or_else(|| {
                        CoreError::NotFound("the repository version was deleted".into())
                    })?;
                    let opts = publish::Options::resolve(&serde_json::Map::new(), &extra);
                    publish::publish_version(&depot, &v, &opts).await
                }
                .boxed()
            }),
            repo_key: Some("$.repo_key"),
            actions: vec![],
        }],
        publications: vec![PublicationDef {
            def: type_def(
                Family::Publications,
                PULP_TYPE,
                "rpm/rpm",
                "RpmPublication",
                "rpm_rpm_publication_href",
                "publications_rpm_rpm",
                "rpm.rpmpublication",
                PUBLICATION_FIELDS,
            ),
            task: PUBLISH_TASK,
        }],
        distributions: vec![DistributionDef {
            def: type_def(
                Family::Distributions,
                PULP_TYPE,
                "rpm/rpm",
                "RpmDistribution",
                "rpm_rpm_distribution_href",
                "distributions_rpm_rpm",
                "rpm.rpmdistribution",
                DISTRIBUTION_FIELDS,
            ),
            serves_publications: true,
            content_app: true,
            generated: Some(Generated {
                paths: &["config.repo"],
                make: |depot, dist, source, _path| {
                    async move { config_repo(&depot, &dist, &source).await }.boxed()
                },
            }),
        }],
        content: vec![
            packages,
            content(
                units::ADVISORY,
                "rpm/advisories",
                "UpdateRecord",
                "rpm_update_record_href",
                "content_rpm_advisories",
                "rpm.updaterecord",
                ADVISORY_FIELDS,
                ADVISORY_FILTERS,
            ),
            content(
                units::MODULEMD,
                "rpm/modulemds",
                "Modulemd",
                "rpm_modulemd_href",
                "content_rpm_modulemds",
                "rpm.modulemd",
                MODULEMD_FIELDS,
                MODULEMD_FILTERS,
            ),
            content(
                units::MODULEMD_DEFAULTS,
                "rpm/modulemd_defaults",
                "ModulemdDefaults",
                "rpm_modulemd_defaults_href",
                "content_rpm_modulemd_defaults",
                "rpm.modulemddefaults",
                MODULEMD_DEFAULTS_FIELDS,
                MODULE_NAME_FILTERS,
            ),
            content(
                units::MODULEMD_OBSOLETE,
                "rpm/modulemd_obsoletes",
                "ModulemdObsolete",
                "rpm_modulemd_obsolete_href",
                "content_rpm_modulemd_obsoletes",
                "rpm.modulemdobsolete",
                MODULEMD_OBSOLETE_FIELDS,
                OBSOLETE_FILTERS,
            ),
            content(
                units::PACKAGE_GROUP,
                "rpm/packagegroups",
                "PackageGroup",
                "rpm_package_group_href",
                "content_rpm_packagegroups",
                "rpm.packagegroup",
                GROUP_FIELDS,
                GROUP_FILTERS,
            ),
            content(
                units::PACKAGE_CATEGORY,
                "rpm/packagecategories",
                "PackageCategory",
                "rpm_package_category_href",
                "content_rpm_packagecategories",
                "rpm.packagecategory",
                CATEGORY_FIELDS,
                GROUP_FILTERS,
            ),
            content(
                units::PACKAGE_ENVIRONMENT,
                "rpm/packageenvironments",
                "PackageEnvironment",
                "rpm_package_environment_href",
                "content_rpm_packageenvironments",
                "rpm.packageenvironment",
                CATEGORY_FIELDS,
                GROUP_FILTERS,
            ),
            content(
                units::PACKAGE_LANGPACKS,
                "rpm/packagelangpacks",
                "PackageLangpacks",
                "rpm_package_langpacks_href",
                "content_rpm_packagelangpacks",
                "rpm.packagelangpacks",
                LANGPACKS_FIELDS,
                OBSOLETE_FILTERS,
            ),
            content(
                units::REPO_METADATA_FILE,
                "rpm/repo_metadata_files",
                "RepoMetadataFile",
                "rpm_repo_metadata_file_href",
                "content_rpm_repo_metadata_files",
                "rpm.repometadatafile",
                METADATA_FILE_FIELDS,
                METADATA_FILE_FILTERS,
            ),
        ],
        content_guards: vec![],
        actions: vec![ActionDef {
            path: "rpm/copy/",
            operation_id: "copy_content",
            schema: "Copy",
            fields: COPY_FIELDS,
            tag: "Rpm: Copy",
            summary: "Copy content",
            run: |depot, body, user| {
                async move {
                    let task = copy::dispatch(&depot, &body, user.as_ref()).await?;
                    Ok(depot_core::href::task(&task.id))
                }
                .boxed()
            },
        }],
        tasks: vec![
            TaskDef {
                name: SYNC_TASK,
                run: |ctx| sync::synchronize(ctx).boxed(),
            },
            TaskDef {
                name: PUBLISH_TASK,
                run: |ctx| publish::publish(ctx).boxed(),
            },
            TaskDef {
                name: copy::COPY_TASK,
                run: copy::run,
            },
        ],
    }
}

/// Pulp's refusals of a sync request, in Pulp's order and words.
fn check_sync(
    repo: &serde_json::Map<String, Value>,
    args: &serde_json::Map<String, Value>,
) -> Result<(), CoreError> {
    let set = |k: &str| args.get(k).is_some_and(|v| !v.is_null());
    if set("mirror") && set("sync_policy") {
        return Err(CoreError::invalid(
            "non_field_errors",
            "Cannot use 'mirror' and 'sync_policy' options simultaneously. The 'mirror' option is deprecated, please use 'sync_policy' only.",
        ));
    }
    let policy = match args.get("sync_policy").and_then(Value::as_str) {
        Some(p) => p,
        None if args.get("mirror") == Some(&Value::Bool(true)) => "mirror_complete",
        None => "additive",
    };
    if policy != "additive"
        && repo
            .get("retain_package_versions")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            > 0
    {
        return Err(CoreError::InvalidList(
            "Cannot use 'retain_package_versions' in combination with a 'mirror_complete' or 'mirror_content_only' sync policy.".into(),
        ));
    }
    if policy == "mirror_complete" && repo.get("autopublish") == Some(&Value::Bool(true)) {
        return Err(CoreError::InvalidList(
            "Cannot use 'autopublish' in combination with a 'mirror_complete' sync policy.".into(),
        ));
    }
    let skips = args
        .get("skip_types")
        .and_then(Value::as_array)
        .map(|a| a.len())
        .unwrap_or(0);
    if policy == "mirror_complete" && skips > 0 {
        return Err(CoreError::InvalidList(
            "Cannot use 'skip_types' in combination with a 'mirror_complete' sync policy.".into(),
        ));
    }
    if let Some(Value::Array(types)) = args.get("skip_types") {
        for t in types {
            let s = t.as_str().unwrap_or_default();
            if !["srpm", "treeinfo"].contains(&s) {
                return Err(CoreError::invalid(
                    "skip_types",
                    format!("\"{s}\" is not a valid choice."),
                ));
            }
        }
    }
    Ok(())
}

/// `config.repo`: a dnf repository file pointing at the distribution.
async fn config_repo(
    depot: &depot_core::Depot,
    dist: &depot_store::records::DistributionRow,
    source: &depot_core::serving::Source,
) -> Result<Option<Vec<u8>>, CoreError> {
    let depot_core::serving::Source::Publication { id, .. } = source else {
        return Ok(None);
    };
    let Some(publication) = depot.db.publication_get(id).await? else {
        return Ok(None);
    };
    let extra = depot_core::resources::obj(&publication.extra);
    let repo = depot.db.repository_get(&publication.repository_id).await?;
    let signed = repo
        .as_ref()
        .map(|r| depot_core::resources::obj(&r.extra))
        .and_then(|e| e.get("metadata_signing_service").cloned())
        .is_some_and(|v| v.is_string());
    let name = dist.name.replace(['\n', '[', ']'], "_");
    let base_url = depot.base_url(&dist.base_path);
    let mut s = format!("[{name}]\nname={name}\nenabled=1\nbaseurl={base_url}\n");
    let mut keys: Vec<(String, String)> = vec![
        ("gpgcheck".into(), "0".into()),
        (
            "repo_gpgcheck".into(),
            if signed { "1" } else { "0" }.into(),
        ),
    ];
    if signed {
        keys.push((
            "gpgkey".into(),
            format!("{base_url}repodata/repomd.xml.key"),
        ));
    }
    if let Some(Value::Object(cfg)) = extra.get("repo_config") {
        for (k, v) in cfg {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Some(slot) = keys.iter_mut().find(|(key, _)| key == k) {
                slot.1 = v;
            } else {
                keys.push((k.replace(['\n', '='], "_"), v.replace('\n', " ")));
            }
        }
    }
    for (k, v) in keys {
        s.push_str(&format!("{k}={v}\n"));
    }
    Ok(Some(s.into_bytes()))
}
