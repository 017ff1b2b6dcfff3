//! Repositories and their versions, with the `sync/` and `modify/` actions.

use serde_json::{Map, Value, json};

use super::list::{FilterDef, ListSpec, Op, datetime_filters, text_filters};
use super::remotes::unique_error;
use super::{Listed, Outcome, all_fields, labels, not_found, obj, parse_related};
use crate::Depot;
use crate::core_tasks::{DELETE_VERSION, GENERAL_DELETE, GENERAL_UPDATE, MODIFY};
use crate::error::{CoreError, Result};
use crate::fields::{self, Default, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::{Family, RepositoryDef, TypeDef};
use crate::tasks::NewTask;
use depot_store::records::{REPOSITORY_FROM, REPOSITORY_SELECT, RepositoryRow};
use depot_store::versions::{Summary, VERSION_FROM, VERSION_SELECT, VersionRow};
use depot_store::{Filter, new_id, now};

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("versions_href", Kind::Str).read_only(),
    Field::new("pulp_labels", Kind::Labels).default(Default::EmptyObject),
    Field::new("latest_version_href", Kind::Str).read_only(),
    Field::new("name", Kind::Str)
        .required()
        .help("A unique name for this repository."),
    Field::new("description", Kind::Str)
        .nullable()
        .default(Default::Null),
    Field::new(
        "retain_repo_versions",
        Kind::Int {
            min: Some(1),
            max: None,
        },
    )
    .nullable()
    .default(Default::Null)
    .help("Retain this many latest versions; older ones are deleted."),
    Field::new(
        "retain_checkpoints",
        Kind::Int {
            min: Some(1),
            max: None,
        },
    )
    .nullable()
    .default(Default::Null),
    Field::new("remote", Kind::Href("remotes"))
        .nullable()
        .default(Default::Null),
];

pub static MODIFY_FIELDS: &[Field] = &[
    Field::new("add_content_units", Kind::HrefList("content")).default(Default::EmptyList),
    Field::new("remove_content_units", Kind::HrefList("content")).default(Default::EmptyList),
    Field::new("base_version", Kind::Href("repository_versions")),
    Field::new("overwrite", Kind::Bool).default(Default::Bool(true)),
];

pub fn fields(def: &TypeDef) -> Vec<&'static Field> {
    all_fields(COMMON, def)
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("r.id", "r.pulp_created")
        .filters(text_filters("name", "r.name"))
        .filter(FilterDef::new(
            "remote",
            "r.remote_id",
            Op::Custom(remote_filter),
        ))
        .filter(FilterDef::new(
            "retain_repo_versions",
            "r.retain_repo_versions",
            Op::Int,
        ))
        .filter(super::generic::label_filter("r.pulp_labels"))
        .order(&[
            ("pulp_created", "r.pulp_created"),
            ("pulp_last_updated", "r.pulp_last_updated"),
            ("pulp_type", "r.pulp_type"),
            ("name", "r.name"),
            ("description", "r.description"),
            ("next_version", "r.next_version"),
            ("retain_repo_versions", "r.retain_repo_versions"),
        ])
}

fn remote_filter(depot: &Depot, expr: &str, v: &str) -> Result<Filter> {
    if v == "null" {
        return Ok(Filter::IsNull(expr.into(), true));
    }
    let p = parse_related(depot, "remote", Family::Remotes, v)?;
    Ok(Filter::Eq(expr.into(), p.id.into()))
}

pub fn version_list_spec() -> ListSpec {
    ListSpec::new("v.id", "v.pulp_created")
        .filter(FilterDef::new("number", "v.number", Op::Int))
        .filter(FilterDef::new("number__gt", "v.number", Op::Gt))
        .filter(FilterDef::new("number__gte", "v.number", Op::Gte))
        .filter(FilterDef::new("number__lt", "v.number", Op::Lt))
        .filter(FilterDef::new("number__lte", "v.number", Op::Lte))
        .filters(datetime_filters("pulp_created", "v.pulp_created"))
        .filter(FilterDef::new(
            "content",
            "v.id",
            Op::Custom(version_content_filter),
        ))
        .filter(FilterDef::new(
            "content__in",
            "v.id",
            Op::Custom(version_content_filter),
        ))
        .order(&[
            ("pulp_created", "v.pulp_created"),
            ("pulp_last_updated", "v.pulp_last_updated"),
            ("number", "v.number"),
        ])
}

/// Versions containing any of the given content units.
fn version_content_filter(_: &Depot, _: &str, v: &str) -> Result<Filter> {
    let ids: Vec<String> = super::list::split_list(v)
        .map(|h| {
            h.trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    Ok(Filter::Sql(
        format!(
            "EXISTS (SELECT 1 FROM repository_content rc WHERE rc.repository_id = v.repository_id \
             AND rc.version_added <= v.number \
             AND (rc.version_removed IS NULL OR rc.version_removed > v.number) AND {})",
            depot_store::list::in_values("rc.content_id", ids.len())
        ),
        ids.into_iter().map(Into::into).collect(),
    ))
}

pub fn render(depot: &Depot, row: &RepositoryRow) -> Value {
    let def = depot.plugins.repository(&row.pulp_type).map(|r| &r.def);
    let href = def.map(|d| href::of(d, &row.id)).unwrap_or_default();
    let extra = obj(&row.extra);
    let mut m = Map::new();
    for f in COMMON.iter().chain(def.map(|d| d.fields).unwrap_or(&[])) {
        if f.write_only {
            continue;
        }
        let v = match f.name {
            "pulp_href" => Value::from(href.clone()),
            "prn" => Value::from(
                def.map(|d| href::prn(d.prn_model, &row.id))
                    .unwrap_or_default(),
            ),
            "pulp_created" => Value::from(row.pulp_created.clone()),
            "pulp_last_updated" => Value::from(row.pulp_last_updated.clone()),
            "versions_href" => Value::from(format!("{href}versions/")),
            "pulp_labels" => labels(&row.pulp_labels),
            "latest_version_href" => Value::from(href::version(&href, row.latest_version)),
            "name" => Value::from(row.name.clone()),
            "description" => json!(row.description),
            "retain_repo_versions" => json!(row.retain_repo_versions),
            "retain_checkpoints" => json!(row.retain_checkpoints),
            "remote" => super::related(
                depot,
                Family::Remotes,
                row.remote_type.as_deref(),
                row.remote_id.as_deref(),
            ),
            n => extra
                .get(n)
                .cloned()
                .or_else(|| f.default.value())
                .unwrap_or(if f.read_only { json!({}) } else { Value::Null }),
        };
        m.insert(f.name.to_string(), v);
    }
    Value::Object(m)
}

pub fn render_version(depot: &Depot, v: &VersionRow) -> Value {
    let repo_href = depot
        .plugins
        .repository(&v.repository_type)
        .map(|r| href::of(&r.def, &v.repository_id))
        .unwrap_or_default();
    let vhref = href::version(&repo_href, v.number);
    let summary: Summary = serde_json::from_str(&v.content_summary).unwrap_or_default();
    let part = |counts: &std::collections::BTreeMap<String, i64>, filter: &str| {
        let mut m = Map::new();
        for (t, n) in counts {
            if *n == 0 {
                continue;
            }
            let list = depot
                .plugins
                .content_def(t)
                .map(|c| format!("{}content/{}/", href::API_ROOT, c.def.path))
                .unwrap_or_default();
            m.insert(
                t.clone(),
                json!({"count": n, "href": format!("{list}?{filter}={vhref}")}),
            );
        }
        Value::Object(m)
    };
    let prn = href::prn("core.repositoryversion", &v.id);
    json!({
        "pulp_href": vhref,
        "prn": prn,
        "pulp_created": v.pulp_created,
        "pulp_last_updated": v.pulp_last_updated,
        "number": v.number,
        "repository": repo_href,
        "base_version": v.base_version_number.map(|b| href::version(&repo_href, b)),
        "content_summary": {
            "added": part(&summary.added, "repository_version_added"),
            "removed": part(&summary.removed, "repository_version_removed"),
            "present": part(&summary.present, "repository_version"),
        },
        "vuln_report": format!("{}vuln_report/?repo_versions={prn}", href::API_ROOT),
    })
}

fn current_values(depot: &Depot, row: &RepositoryRow) -> Map<String, Value> {
    let mut m = obj(&row.extra);
    m.insert("name".into(), Value::from(row.name.clone()));
    m.insert("description".into(), json!(row.description));
    m.insert(
        "retain_repo_versions".into(),
        json!(row.retain_repo_versions),
    );
    m.insert("retain_checkpoints".into(), json!(row.retain_checkpoints));
    m.insert("pulp_labels".into(), labels(&row.pulp_labels));
    m.insert(
        "remote".into(),
        super::related(
            depot,
            Family::Remotes,
            row.remote_type.as_deref(),
            row.remote_id.as_deref(),
        ),
    );
    m
}

pub fn apply(row: &mut RepositoryRow, patch: &Map<String, Value>) {
    let mut extra = obj(&row.extra);
    for (k, v) in patch {
        match k.as_str() {
            "name" => row.name = v.as_str().unwrap_or_default().to_string(),
            "description" => row.description = v.as_str().map(str::to_string),
            "retain_repo_versions" => row.retain_repo_versions = v.as_i64(),
            "retain_checkpoints" => row.retain_checkpoints = v.as_i64(),
            "pulp_labels" => row.pulp_labels = v.to_string(),
            // resolved to an id by the caller
            "remote" => row.remote_id = v.as_str().map(str::to_string),
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    row.extra = Value::Object(extra).to_string();
}

impl Depot {
    pub async fn repository_row(&self, def: &TypeDef, id: &str) -> Result<RepositoryRow> {
        match self.db.repository_get(id).await? {
            Some(r) if r.pulp_type == def.pulp_type => Ok(r),
            _ => Err(not_found(def.model)),
        }
    }

    pub async fn repository_list(
        &self,
        def: &TypeDef,
        params: &[(String, String)],
        visible: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        super::restrict(&mut q, "r.id", visible);
        q.filters
            .push(Filter::Eq("r.pulp_type".into(), def.pulp_type.into()));
        let page = q
            .run::<RepositoryRow>(&self.db, REPOSITORY_SELECT, REPOSITORY_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |r| render(self, r)))
    }

    /// Fields that link to a signing service must name an existing one.
    async fn check_signing_services(
        &self,
        def: &TypeDef,
        patch: &Map<String, Value>,
    ) -> Result<()> {
        for f in fields(def) {
            let (Kind::Href("signing-services"), Some(h)) =
                (f.kind, patch.get(f.name).and_then(Value::as_str))
            else {
                continue;
            };
            let prefix = format!("{}signing-services/", href::API_ROOT);
            let known = match h.strip_prefix(&prefix).map(|id| id.trim_end_matches('/')) {
                Some(id) => self.db.signing_service_get(id).await?.is_some(),
                None => false,
            };
            if !known {
                return Err(CoreError::invalid(
                    f.name,
                    "Invalid hyperlink - Object does not exist.",
                ));
            }
        }
        Ok(())
    }

    /// Check a `remote` href against the repository type; returns the remote's id.
    async fn check_repository_remote(
        &self,
        rdef: &RepositoryDef,
        value: &Value,
    ) -> Result<Option<String>> {
        let Some(s) = value.as_str() else {
            return Ok(None);
        };
        let p = parse_related(self, "remote", Family::Remotes, s)?;
        let remote = self
            .db
            .remote_get(&p.id)
            .await?
            .filter(|r| r.pulp_type == p.def.pulp_type)
            .ok_or_else(|| {
                CoreError::invalid("remote", "Invalid hyperlink - Object does not exist.")
            })?;
        if !rdef.remote_types.contains(&remote.pulp_type.as_str()) {
            return Err(CoreError::invalid(
                "remote",
                format!(
                    "Type for Remote '{}' does not match Repository.",
                    remote.name
                ),
            ));
        }
        Ok(Some(remote.id))
    }

    pub async fn repository_create(
        &self,
        rdef: &RepositoryDef,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let mut patch = fields::validate(&fields(&rdef.def), body, false)?;
        self.check_signing_services(&rdef.def, &patch).await?;
        let remote_id = match patch.get("remote") {
            Some(v) => self.check_repository_remote(rdef, v).await?,
            None => None,
        };
        patch.insert("remote".into(), json!(remote_id));
        let t = now();
        let mut row = RepositoryRow {
            id: new_id(),
            pulp_type: rdef.def.pulp_type.to_string(),
            name: String::new(),
            description: None,
            retain_repo_versions: None,
            retain_checkpoints: None,
            remote_id: None,
            remote_type: None,
            pulp_labels: "{}".into(),
            extra: "{}".into(),
            next_version: 1,
            latest_version: 0,
            pulp_created: t.clone(),
            pulp_last_updated: t,
        };
        apply(&mut row, &patch);
        self.db
            .repository_insert(&row)
            .await
            .map_err(unique_error)?;
        let row = self.repository_row(&rdef.def, &row.id).await?;
        Ok(render(self, &row))
    }

    pub async fn repository_update(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let row = self.repository_row(&rdef.def, id).await?;
        let mut patch = fields::validate(&fields(&rdef.def), body, partial)?;
        self.check_signing_services(&rdef.def, &patch).await?;
        let current = current_values(self, &row);
        if !super::changed(&patch, &current) {
            return Ok(Outcome::Unchanged(render(self, &row)));
        }
        if let Some(v) = patch.get("remote").cloned() {
            let remote_id = self.check_repository_remote(rdef, &v).await?;
            patch.insert("remote".into(), json!(remote_id));
        }
        let task = self
            .dispatch(
                NewTask::new(
                    GENERAL_UPDATE,
                    json!({"family": "repositories", "id": id, "patch": patch}),
                )
                .exclusive(href::prn(rdef.def.prn_model, id))
                .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    pub async fn repository_delete(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        user: Option<i64>,
    ) -> Result<Outcome> {
        self.repository_row(&rdef.def, id).await?;
        let task = self
            .dispatch(
                NewTask::new(GENERAL_DELETE, json!({"family": "repositories", "id": id}))
                    .exclusive(href::prn(rdef.def.prn_model, id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    /// `POST <repository>sync/`: validate, then queue the type's sync task.
    pub async fn repository_sync(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let sync = rdef
            .sync
            .as_ref()
            .ok_or_else(|| CoreError::NotFound("This repository type cannot sync.".into()))?;
        let row = self.repository_row(&rdef.def, id).await?;
        let remote_field = Field::new("remote", Kind::Href("remotes"));
        let mut all: Vec<&Field> = vec![&remote_field];
        all.extend(sync.fields.iter());
        let mut args = fields::validate(&all, body, false)?;
        let remote_id = match args.remove("remote") {
            Some(v) if !v.is_null() => self.check_repository_remote(rdef, &v).await?,
            _ => row.remote_id.clone(),
        };
        let Some(remote_id) = remote_id else {
            return Err(CoreError::invalid(
                "remote",
                "This field is required since a remote is not set on the repository.",
            ));
        };
        let remote = self.db.remote_get(&remote_id).await?.ok_or_else(|| {
            CoreError::invalid("remote", "Invalid hyperlink - Object does not exist.")
        })?;
        if let Some(check) = sync.check {
            check(&obj(&row.extra), &args)?;
        }
        let remote_prn = self
            .plugins
            .type_def(Family::Remotes, &remote.pulp_type)
            .map(|d| href::prn(d.prn_model, &remote.id))
            .unwrap_or_default();
        args.insert("repository".into(), Value::from(id));
        args.insert("remote".into(), Value::from(remote_id));
        let task = self
            .dispatch(
                NewTask::new(sync.task, Value::Object(args))
                    .exclusive(href::prn(rdef.def.prn_model, id))
                    .shared(remote_prn)
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    /// `POST <repository>modify/`.
    pub async fn repository_modify(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<Outcome> {
        self.repository_row(&rdef.def, id).await?;
        let args = fields::validate(&MODIFY_FIELDS.iter().collect::<Vec<_>>(), body, false)?;
        let mut errors = FieldErrors::default();
        let mut resolved = Map::new();
        for key in ["add_content_units", "remove_content_units"] {
            let hrefs: Vec<String> = args
                .get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if key == "remove_content_units" && hrefs.iter().any(|h| h == "*") {
                if hrefs.len() > 1 {
                    errors.add(key, "Cannot supply content units and '*'.");
                }
                resolved.insert(key.into(), json!(["*"]));
                continue;
            }
            let mut ids = Vec::new();
            for h in &hrefs {
                match super::content::content_id_from_href(self, h) {
                    Some(id) => ids.push(id),
                    None => errors.add(key, format!("URI not valid: {h}")),
                }
            }
            let found = self.db.content_types_of(&ids).await?;
            let missing: Vec<&String> = hrefs
                .iter()
                .zip(&ids)
                .filter(|(_, id)| !found.contains_key(*id))
                .map(|(h, _)| h)
                .collect();
            if !missing.is_empty() {
                errors.add(
                    key,
                    format!("Could not find the following content units: {missing:?}"),
                );
            }
            if key == "add_content_units" {
                let unsupported: std::collections::BTreeSet<&String> = found
                    .values()
                    .filter(|t| !rdef.content_types.contains(&t.as_str()))
                    .collect();
                if !unsupported.is_empty() {
                    errors.add(
                        key,
                        format!("Saw unsupported content types {unsupported:?}"),
                    );
                }
            }
            resolved.insert(key.into(), json!(ids));
        }
        let base_version = match args.get("base_version").and_then(Value::as_str) {
            Some(h) => {
                let p = href::parse(&self.plugins, super::strip_origin(h))
                    .filter(|p| p.version.is_some());
                let found = match &p {
                    Some(p) => self.db.version_get(&p.id, p.version.unwrap_or(-1)).await?,
                    None => None,
                };
                match found {
                    Some(v) => Some(json!({"repository": v.repository_id, "number": v.number})),
                    None => {
                        errors.add("base_version", "Invalid hyperlink - Object does not exist.");
                        None
                    }
                }
            }
            None => None,
        };
        errors.into_result()?;
        resolved.insert("repository".into(), Value::from(id));
        resolved.insert("base_version".into(), json!(base_version));
        let task = self
            .dispatch(
                NewTask::new(MODIFY, Value::Object(resolved))
                    .exclusive(href::prn(rdef.def.prn_model, id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    pub async fn version_list(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        params: &[(String, String)],
    ) -> Result<Listed> {
        self.repository_row(&rdef.def, id).await?;
        let mut q = version_list_spec().build(self, params)?;
        q.filters
            .push(Filter::Eq("v.repository_id".into(), id.into()));
        q.filters.push(Filter::Eq("v.complete".into(), true.into()));
        let page = q
            .run::<VersionRow>(&self.db, VERSION_SELECT, VERSION_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |v| render_version(self, v)))
    }

    pub async fn version_row(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        number: i64,
    ) -> Result<VersionRow> {
        self.repository_row(&rdef.def, id).await?;
        self.db
            .version_get(id, number)
            .await?
            .ok_or_else(|| not_found("RepositoryVersion"))
    }

    pub async fn version_delete(
        &self,
        rdef: &RepositoryDef,
        id: &str,
        number: i64,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let v = self.version_row(rdef, id, number).await?;
        if self.version_is_protected(&v).await? {
            return Err(CoreError::InvalidList(
                "The repository version cannot be deleted because it (or its publications) are \
                 currently being used to distribute content. Please update the necessary \
                 distributions first."
                    .into(),
            ));
        }
        let task = self
            .dispatch(
                NewTask::new(DELETE_VERSION, json!({"repository": id, "number": number}))
                    .exclusive(href::prn(rdef.def.prn_model, id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    /// Whether a distribution serves this version (directly, through one of its publications,
    /// or as its repository's latest version).
    pub async fn version_is_protected(&self, v: &VersionRow) -> Result<bool> {
        Ok(self
            .db
            .version_is_distributed(&v.id, &v.repository_id, v.number)
            .await?)
    }

    /// After a new version: delete versions beyond `retain_repo_versions`.
    pub async fn apply_retention(&self, repository_id: &str) -> Result<()> {
        let Some(repo) = self.db.repository_get(repository_id).await? else {
            return Ok(());
        };
        let Some(keep) = repo.retain_repo_versions.filter(|k| *k > 0) else {
            return Ok(());
        };
        let numbers = self.db.version_numbers(repository_id).await?;
        for number in numbers.into_iter().skip(keep as usize) {
            if let Some(v) = self.db.version_get(repository_id, number).await?
                && self.version_is_protected(&v).await?
            {
                continue;
            }
            self.db.version_delete(repository_id, number).await?;
        }
        Ok(())
    }
}

/// Apply an update in a task.
pub async fn apply_update(depot: &Depot, id: &str, patch: &Map<String, Value>) -> Result<Value> {
    let mut row = depot
        .db
        .repository_get(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the repository was deleted".into()))?;
    apply(&mut row, patch);
    depot
        .db
        .repository_update(&row)
        .await
        .map_err(unique_error)?;
    if patch.contains_key("retain_repo_versions") {
        depot.apply_retention(id).await?;
    }
    let row = depot.db.repository_get(id).await?.unwrap_or(row);
    Ok(render(depot, &row))
}
