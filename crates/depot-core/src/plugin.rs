//! The seam between the core and the content types.
//!
//! A content type (file, rpm, deb, container) is one module that returns a [`Plugin`]: which
//! typed endpoints it adds (its remote, repository, publication, distribution and content
//! types), the extra fields each carries, the filters its content supports, and the task
//! functions that sync, publish and create content. The core and the HTTP layer only ever
//! look at this description, so adding a type touches no other type.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use crate::Depot;
use crate::error::CoreError;
use crate::fields::Field;
use crate::tasks::{TaskCtx, TaskError, TaskOutput};
use depot_store::content::NewUnit;
use depot_store::records::ArtifactRow;

/// The resource families of Pulp's API, each under its own URL segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Remotes,
    Repositories,
    Publications,
    Distributions,
    Content,
    ContentGuards,
}

impl Family {
    pub fn segment(self) -> &'static str {
        match self {
            Family::Remotes => "remotes",
            Family::Repositories => "repositories",
            Family::Publications => "publications",
            Family::Distributions => "distributions",
            Family::Content => "content",
            Family::ContentGuards => "contentguards",
        }
    }

    pub fn from_segment(s: &str) -> Option<Family> {
        Some(match s {
            "remotes" => Family::Remotes,
            "repositories" => Family::Repositories,
            "publications" => Family::Publications,
            "distributions" => Family::Distributions,
            "content" => Family::Content,
            "contentguards" => Family::ContentGuards,
            _ => return None,
        })
    }

    /// The family as OpenAPI tags name it: "Remotes", "Repositories"...
    pub fn title(self) -> &'static str {
        match self {
            Family::Remotes => "Remotes",
            Family::Repositories => "Repositories",
            Family::Publications => "Publications",
            Family::Distributions => "Distributions",
            Family::Content => "Content",
            Family::ContentGuards => "Contentguards",
        }
    }

    /// The word Pulp uses in messages: "No FileRemote matches the given query."
    pub fn singular(self) -> &'static str {
        match self {
            Family::Remotes => "remote",
            Family::Repositories => "repository",
            Family::Publications => "publication",
            Family::Distributions => "distribution",
            Family::Content => "content",
            Family::ContentGuards => "content guard",
        }
    }
}

/// One typed endpoint, e.g. the file remotes at `/pulp/api/v3/remotes/file/file/`.
#[derive(Clone, Debug)]
pub struct TypeDef {
    pub family: Family,
    /// The `pulp_type` stored with each object, e.g. `file.file`.
    pub pulp_type: &'static str,
    /// URL segments below the family, e.g. `file/file` or `file/files`.
    pub path: &'static str,
    /// The model name Pulp uses in messages and schemas, e.g. `FileRemote`.
    pub model: &'static str,
    /// The OpenAPI schema name, e.g. `file.FileRemote`.
    pub schema: &'static str,
    /// The path parameter pulp-glue uses for an object's href, e.g. `file_file_remote_href`.
    pub href_param: &'static str,
    /// Prefix of the operationIds, e.g. `remotes_file_file`.
    pub op_prefix: &'static str,
    /// The model part of a PRN, e.g. `file.fileremote`.
    pub prn_model: &'static str,
    /// Fields this type adds to the family's common ones (stored in `extra`).
    pub fields: &'static [Field],
}

impl TypeDef {
    pub fn family_title(&self) -> &'static str {
        self.family.title()
    }
}

/// A repository type, with how it syncs and what content it holds.
#[derive(Clone, Debug)]
pub struct RepositoryDef {
    pub def: TypeDef,
    /// e.g. `file_file_repository_version_href`
    pub version_href_param: &'static str,
    /// e.g. `repositories_file_file_versions`
    pub version_op_prefix: &'static str,
    /// `pulp_type`s of the content this repository may hold.
    pub content_types: &'static [&'static str],
    /// `pulp_type`s of remotes it syncs from.
    pub remote_types: &'static [&'static str],
    pub sync: Option<SyncDef>,
    /// Publishes a new version when the repository has `autopublish` set.
    pub autopublish: Option<AutopublishFn>,
    /// JSON path of the field unique within a version (`$.relative_path` for files): a new
    /// unit replaces the one with the same value.
    pub repo_key: Option<&'static str>,
    /// Operations on one repository of the type beyond the common ones, e.g. container's
    /// `POST <repository>/tag/`.
    pub actions: Vec<RepositoryActionDef>,
}

/// `POST <repository href><path>/`: a body in, a task out (202).
#[derive(Clone, Debug)]
pub struct RepositoryActionDef {
    pub path: &'static str,
    /// Appended to the type's operationId prefix, e.g. `tag`.
    pub operation: &'static str,
    pub schema: &'static str,
    pub fields: &'static [Field],
    pub summary: &'static str,
    /// The permission it needs on the repository, e.g. `modify` for `<app>.modify_<model>`.
    pub permission: &'static str,
    pub run: RepositoryActionFn,
}

/// Validate the request for repository `id` and dispatch its task; returns the task's href.
pub type RepositoryActionFn = fn(
    Arc<Depot>,
    String,
    Map<String, Value>,
    Option<crate::auth::User>,
) -> BoxFuture<'static, Result<String, CoreError>>;

/// Publish a repository version (by id) with the repository's settings (`extra`); returns
/// the publication's (href, prn).
pub type AutopublishFn = fn(
    Arc<Depot>,
    String,
    Map<String, Value>,
) -> BoxFuture<'static, Result<(String, String), CoreError>>;

/// The version of pulpcore whose API depot reproduces, advertised to clients.
pub const CORE_VERSION: &str = "3.123.1";

/// The `sync/` action of a repository type.
#[derive(Clone, Debug)]
pub struct SyncDef {
    /// Body fields besides `remote`.
    pub fields: &'static [Field],
    pub schema: &'static str,
    pub task: &'static str,
    /// Checks of the request against the repository's settings (`extra`) beyond the fields'
    /// own validation; an error answers 400.
    pub check: Option<SyncCheck>,
}

/// See [`SyncDef::check`]: (repository settings, validated request).
pub type SyncCheck = fn(&Map<String, Value>, &Map<String, Value>) -> Result<(), CoreError>;

#[derive(Clone, Debug)]
pub struct PublicationDef {
    pub def: TypeDef,
    pub task: &'static str,
}

#[derive(Clone, Debug)]
pub struct DistributionDef {
    pub def: TypeDef,
    /// Whether the distribution can point at a publication.
    pub serves_publications: bool,
    /// Whether the content app (`/pulp/content/<base_path>/`) serves it; container
    /// distributions are served by the registry only, which applies their own access rules.
    pub content_app: bool,
    /// Files the distribution makes up rather than finds (e.g. an rpm `config.repo`).
    pub generated: Option<Generated>,
}

/// Paths below a distribution that are generated, not stored.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The paths (below the base path) it answers; only these reach `make`.
    pub paths: &'static [&'static str],
    pub make: GeneratedFn,
}

/// Make a generated file: given the distribution, what it serves and the path, `Some(bytes)`,
/// or `None` when there is nothing to generate (then the path is looked up normally).
pub type GeneratedFn = fn(
    Arc<Depot>,
    depot_store::records::DistributionRow,
    crate::serving::Source,
    String,
) -> BoxFuture<'static, Result<Option<Vec<u8>>, CoreError>>;

/// A filter on a content list, e.g. `relative_path` → the unit's `relative_path` field.
#[derive(Clone, Copy, Debug)]
pub struct ContentFilter {
    pub param: &'static str,
    /// JSON field of the unit's data.
    pub field: &'static str,
    pub op: FilterOp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    In,
    Contains,
    StartsWith,
    Ne,
    /// `param`, `param__in`, `param__contains`, `param__startswith`, ... (Pulp's name options)
    Text,
}

#[derive(Clone, Debug)]
pub struct ContentDef {
    pub def: TypeDef,
    pub filters: &'static [ContentFilter],
    /// Create from an uploaded file or artifact, if the type supports it.
    pub upload: Option<UploadDef>,
}

/// How content of a type is created from bytes (`POST /content/<type>/`).
#[derive(Clone, Debug)]
pub struct UploadDef {
    /// Body fields besides `file`, `artifact`, `upload` and `repository`.
    pub fields: &'static [Field],
    pub schema: &'static str,
    /// Build the unit from the validated fields and the stored artifact.
    pub build: UnitBuilder,
}

/// Turns uploaded bytes (an artifact) plus the request's fields into a unit.
pub type UnitBuilder = fn(
    Arc<Depot>,
    Map<String, Value>,
    ArtifactRow,
) -> BoxFuture<'static, Result<NewUnit, CoreError>>;

/// An operation of a content type outside the typed resources, e.g. rpm's `POST rpm/copy/`:
/// a JSON (or form) body in, a task out (202).
#[derive(Clone, Debug)]
pub struct ActionDef {
    /// Below the API root, e.g. `rpm/copy/`.
    pub path: &'static str,
    pub operation_id: &'static str,
    /// The request schema's name and fields (for the OpenAPI document).
    pub schema: &'static str,
    pub fields: &'static [Field],
    pub tag: &'static str,
    pub summary: &'static str,
    pub run: ActionFn,
}

/// Check the request (with the caller's identity) and dispatch its task; returns the task's
/// href.
pub type ActionFn = fn(
    Arc<Depot>,
    Map<String, Value>,
    Option<crate::auth::User>,
) -> BoxFuture<'static, Result<String, CoreError>>;

/// A task function: runs in a worker with the task's context.
pub type TaskFn = fn(TaskCtx) -> BoxFuture<'static, Result<TaskOutput, TaskError>>;

#[derive(Clone)]
pub struct TaskDef {
    pub name: &'static str,
    pub run: TaskFn,
}

impl std::fmt::Debug for TaskDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Everything a content type contributes.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// Pulp's app label, e.g. `file`.
    pub app_label: &'static str,
    /// The component version advertised to clients.
    pub version: &'static str,
    /// The Python package Pulp reports for it in `/status/`.
    pub package: &'static str,
    pub remotes: Vec<TypeDef>,
    pub repositories: Vec<RepositoryDef>,
    pub publications: Vec<PublicationDef>,
    pub distributions: Vec<DistributionDef>,
    pub content: Vec<ContentDef>,
    /// Content guard types (core's: rbac, header, composite).
    pub content_guards: Vec<TypeDef>,
    pub tasks: Vec<TaskDef>,
    pub actions: Vec<ActionDef>,
}

/// All registered plugins, with lookups by type.
#[derive(Clone, Debug, Default)]
pub struct Plugins {
    pub list: Vec<Plugin>,
}

impl Plugins {
    pub fn new(list: Vec<Plugin>) -> Plugins {
        Plugins { list }
    }

    pub fn remotes(&self) -> impl Iterator<Item = &TypeDef> {
        self.list.iter().flat_map(|p| p.remotes.iter())
    }
    pub fn repositories(&self) -> impl Iterator<Item = &RepositoryDef> {
        self.list.iter().flat_map(|p| p.repositories.iter())
    }
    pub fn publications(&self) -> impl Iterator<Item = &PublicationDef> {
        self.list.iter().flat_map(|p| p.publications.iter())
    }
    pub fn distributions(&self) -> impl Iterator<Item = &DistributionDef> {
        self.list.iter().flat_map(|p| p.distributions.iter())
    }
    pub fn content(&self) -> impl Iterator<Item = &ContentDef> {
        self.list.iter().flat_map(|p| p.content.iter())
    }

    /// The typed endpoint of an object of `family` whose `pulp_type` is given.
    pub fn type_def(&self, family: Family, pulp_type: &str) -> Option<&TypeDef> {
        self.type_defs(family).find(|d| d.pulp_type == pulp_type)
    }

    /// The typed endpoint at `<family>/<path>/`.
    pub fn type_def_at(&self, family: Family, path: &str) -> Option<&TypeDef> {
        self.type_defs(family).find(|d| d.path == path)
    }

    /// The `pulp_type` of every registered type of every family.
    pub fn all_type_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            Family::Remotes,
            Family::Repositories,
            Family::Publications,
            Family::Distributions,
            Family::Content,
            Family::ContentGuards,
        ]
        .into_iter()
        .flat_map(|f| self.type_defs(f).map(|d| d.pulp_type))
    }

    pub fn type_defs(&self, family: Family) -> Box<dyn Iterator<Item = &TypeDef> + '_> {
        match family {
            Family::Remotes => Box::new(self.remotes()),
            Family::Repositories => Box::new(self.repositories().map(|r| &r.def)),
            Family::Publications => Box::new(self.publications().map(|p| &p.def)),
            Family::Distributions => Box::new(self.distributions().map(|d| &d.def)),
            Family::Content => Box::new(self.content().map(|c| &c.def)),
            Family::ContentGuards => {
                Box::new(self.list.iter().flat_map(|p| p.content_guards.iter()))
            }
        }
    }

    pub fn repository(&self, pulp_type: &str) -> Option<&RepositoryDef> {
        self.repositories().find(|r| r.def.pulp_type == pulp_type)
    }
    pub fn publication(&self, pulp_type: &str) -> Option<&PublicationDef> {
        self.publications().find(|r| r.def.pulp_type == pulp_type)
    }
    pub fn distribution(&self, pulp_type: &str) -> Option<&DistributionDef> {
        self.distributions().find(|r| r.def.pulp_type == pulp_type)
    }
    pub fn content_def(&self, pulp_type: &str) -> Option<&ContentDef> {
        self.content().find(|r| r.def.pulp_type == pulp_type)
    }

    pub fn task(&self, name: &str) -> Option<&TaskDef> {
        self.list
            .iter()
            .flat_map(|p| p.tasks.iter())
            .find(|t| t.name == name)
    }
}

/// Helper for task functions that take their arguments as JSON.
pub fn arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}
