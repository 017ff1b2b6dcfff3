//! Distributions: a base path under the content app serving a publication, a repository (its
//! latest version) or a repository version, optionally behind a content guard.

use serde_json::{Map, Value, json};

use super::list::{FilterDef, ListSpec, Op, text_filters};
use super::remotes::unique_error;
use super::{Listed, Outcome, all_fields, labels, not_found, obj, parse_related, strip_origin};
use crate::Depot;
use crate::core_tasks::{GENERAL_CREATE, GENERAL_DELETE, GENERAL_UPDATE};
use crate::error::{CoreError, Result};
use crate::fields::{self, Default, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::{DistributionDef, Family, TypeDef};
use crate::tasks::NewTask;
use depot_store::Filter;
use depot_store::records::{DISTRIBUTION_FROM, DISTRIBUTION_SELECT, DistributionRow};
use depot_store::{new_id, now};

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("base_path", Kind::Str)
        .required()
        .help("The base (relative) path component of the published url. Avoid paths that overlap with other distribution base paths (e.g. \"foo\" and \"foo/bar\")"),
    Field::new("base_url", Kind::Str).read_only(),
    Field::new("content_guard", Kind::Href("contentguards"))
        .nullable()
        .default(Default::Null),
    Field::new("content_guard_prn", Kind::Str).read_only(),
    Field::new("no_content_change_since", Kind::DateTime).read_only(),
    Field::new("hidden", Kind::Bool).default(Default::Bool(false)),
    Field::new("pulp_labels", Kind::Labels).default(Default::EmptyObject),
    Field::new("name", Kind::Str).required(),
    Field::new("repository", Kind::Href("repositories"))
        .nullable()
        .default(Default::Null),
    Field::new("repository_version", Kind::Href("repository_versions"))
        .nullable()
        .default(Default::Null),
];

/// Exclusive resource serialising base path changes (Pulp's `pdrn:…:distribution.base_path`).
const BASE_PATH_LOCK: &str = "pdrn:distribution.base_path";

pub fn fields(def: &TypeDef) -> Vec<&'static Field> {
    all_fields(COMMON, def)
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("d.id", "d.pulp_created")
        .filters(text_filters("name", "d.name"))
        .filter(FilterDef::new("base_path", "d.base_path", Op::Exact))
        .filter(FilterDef::new(
            "base_path__contains",
            "d.base_path",
            Op::Contains,
        ))
        .filter(FilterDef::new(
            "base_path__icontains",
            "d.base_path",
            Op::IContains,
        ))
        .filter(FilterDef::new("base_path__in", "d.base_path", Op::In))
        .filter(FilterDef::new(
            "repository",
            "d.repository_id",
            Op::Custom(repository_filter),
        ))
        .filter(super::generic::label_filter("d.pulp_labels"))
        .order(&[
            ("pulp_created", "d.pulp_created"),
            ("pulp_last_updated", "d.pulp_last_updated"),
            ("pulp_type", "d.pulp_type"),
            ("name", "d.name"),
            ("base_path", "d.base_path"),
            ("hidden", "d.hidden"),
        ])
}

fn repository_filter(depot: &Depot, expr: &str, v: &str) -> Result<Filter> {
    let p = parse_related(depot, "repository", Family::Repositories, v)?;
    Ok(Filter::Eq(expr.into(), p.id.into()))
}

/// Href of a content guard: `/pulp/api/v3/contentguards/core/rbac/<id>/`.
pub fn guard_href(pulp_type: &str, id: &str) -> String {
    format!(
        "{}contentguards/{}/{id}/",
        href::API_ROOT,
        pulp_type.replace('.', "/")
    )
}

pub fn guard_prn(pulp_type: &str, id: &str) -> String {
    let (app, ty) = pulp_type.split_once('.').unwrap_or(("core", pulp_type));
    href::prn(&format!("{app}.{ty}contentguard"), id)
}

pub fn render(depot: &Depot, row: &DistributionRow) -> Value {
    let def = depot.plugins.distribution(&row.pulp_type).map(|d| &d.def);
    let extra = obj(&row.extra);
    let version_href = match (&row.version_repository_type, &row.version_repository_id) {
        (Some(t), Some(id)) => depot
            .plugins
            .repository(t)
            .map(|r| href::version(&href::of(&r.def, id), row.version_number.unwrap_or(0))),
        _ => None,
    };
    let mut m = Map::new();
    for f in COMMON.iter().chain(def.map(|d| d.fields).unwrap_or(&[])) {
        if f.write_only {
            continue;
        }
        let v = match f.name {
            "pulp_href" => Value::from(def.map(|d| href::of(d, &row.id)).unwrap_or_default()),
            "prn" => Value::from(
                def.map(|d| href::prn(d.prn_model, &row.id))
                    .unwrap_or_default(),
            ),
            "pulp_created" => Value::from(row.pulp_created.clone()),
            "pulp_last_updated" => Value::from(row.pulp_last_updated.clone()),
            "base_path" => Value::from(row.base_path.clone()),
            "base_url" => Value::from(depot.base_url(&row.base_path)),
            "content_guard" => match (&row.content_guard_type, &row.content_guard_id) {
                (Some(t), Some(id)) => Value::from(guard_href(t, id)),
                _ => Value::Null,
            },
            "content_guard_prn" => match (&row.content_guard_type, &row.content_guard_id) {
                (Some(t), Some(id)) => Value::from(guard_prn(t, id)),
                _ => Value::Null,
            },
            "no_content_change_since" => {
                if row.publication_id.is_some() {
                    Value::from(row.pulp_last_updated.clone())
                } else {
                    Value::Null
                }
            }
            "hidden" => Value::Bool(row.hidden),
            "pulp_labels" => labels(&row.pulp_labels),
            "name" => Value::from(row.name.clone()),
            "repository" => super::related(
                depot,
                Family::Repositories,
                row.repository_type.as_deref(),
                row.repository_id.as_deref(),
            ),
            "repository_version" => json!(version_href),
            "publication" => super::related(
                depot,
                Family::Publications,
                row.publication_type.as_deref(),
                row.publication_id.as_deref(),
            ),
            "remote" => super::related(
                depot,
                Family::Remotes,
                row.remote_type.as_deref(),
                row.remote_id.as_deref(),
            ),
            _ => super::extra_field(&extra, f),
        };
        m.insert(f.name.to_string(), v);
    }
    Value::Object(m)
}

fn current_values(depot: &Depot, row: &DistributionRow) -> Map<String, Value> {
    let rendered = render(depot, row);
    let mut m = obj(&row.extra);
    if let Value::Object(r) = rendered {
        for (k, v) in r {
            m.insert(k, v);
        }
    }
    m
}

impl Depot {
    pub async fn distribution_row(&self, def: &TypeDef, id: &str) -> Result<DistributionRow> {
        match self.db.distribution_get(id).await? {
            Some(d) if d.pulp_type == def.pulp_type => Ok(d),
            _ => Err(not_found(def.model)),
        }
    }

    pub async fn distribution_list(
        &self,
        def: &TypeDef,
        params: &[(String, String)],
        visible: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        super::restrict(&mut q, "d.id", visible);
        q.filters
            .push(Filter::Eq("d.pulp_type".into(), def.pulp_type.into()));
        let page = q
            .run::<DistributionRow>(&self.db, DISTRIBUTION_SELECT, DISTRIBUTION_FROM)
            .await?;
        Ok(Listed::of(&q, &page, |r| render(self, r)))
    }

    /// Check a distribution as it would become; returns its related ids.
    async fn check_distribution(
        &self,
        ddef: &DistributionDef,
        merged: &Map<String, Value>,
        except_id: Option<&str>,
    ) -> Result<Map<String, Value>> {
        let mut errors = FieldErrors::default();
        let s = |k: &str| merged.get(k).and_then(Value::as_str);
        let mut resolved = Map::new();
        if let Some(bp) = s("base_path") {
            if !fields::canonical_path(bp) {
                errors.add(
                    "base_path",
                    format!("Relative path is not in canonical form. {bp}"),
                );
            } else if let Some(other) = self.db.distribution_overlapping(bp, except_id).await? {
                if other == bp {
                    errors.add("base_path", "This field must be unique.");
                } else {
                    let name = self.db.distribution_name_at(&other).await?;
                    return Err(CoreError::Invalid(FieldErrors::one(
                        "base_path",
                        format!(
                            "Overlaps with existing distribution '{}'",
                            name.unwrap_or(other)
                        ),
                    )));
                }
            }
        }
        let set = |k: &str| merged.get(k).is_some_and(|v| !v.is_null());
        if set("publication") && set("repository_version") {
            errors.add("non_field_errors", "Only one of the attributes 'publication' and 'repository_version' may be used simultaneously.");
        }
        if set("repository") && set("repository_version") {
            errors.add("non_field_errors", "Only one of the attributes 'repository' and 'repository_version' may be used simultaneously.");
        }
        if set("repository") && set("publication") {
            errors.add("non_field_errors", "Only one of the attributes 'repository' and 'publication' may be used simultaneously.");
        }
        if merged.get("checkpoint") == Some(&Value::Bool(true)) && !set("repository") {
            errors.add(
                "non_field_errors",
                "The 'checkpoint' attribute may only be used with the 'repository' attribute.",
            );
        }
        errors.into_result()?;

        let missing = |f: &str| CoreError::invalid(f, "Invalid hyperlink - Object does not exist.");
        if let Some(h) = s("repository") {
            let p = parse_related(self, "repository", Family::Repositories, h)?;
            self.db
                .repository_get(&p.id)
                .await?
                .filter(|r| r.pulp_type == p.def.pulp_type)
                .ok_or_else(|| missing("repository"))?;
            resolved.insert("repository_id".into(), Value::from(p.id));
        }
        if let Some(h) = s("repository_version") {
            let (repo, n) = super::publications::version_ref(self, h).map_err(|_| {
                CoreError::invalid("repository_version", "Invalid hyperlink - No URL match.")
            })?;
            let n = n.ok_or_else(|| {
                CoreError::invalid(
                    "repository_version",
                    "Invalid hyperlink - Incorrect URL match.",
                )
            })?;
            let v = self
                .db
                .version_get(&repo, n)
                .await?
                .ok_or_else(|| missing("repository_version"))?;
            resolved.insert("repository_version_id".into(), Value::from(v.id));
        }
        if let Some(h) = s("publication") {
            if !ddef.serves_publications {
                return Err(CoreError::invalid("publication", "Unexpected field"));
            }
            let p = parse_related(self, "publication", Family::Publications, h)?;
            self.db
                .publication_get(&p.id)
                .await?
                .filter(|x| x.complete)
                .ok_or_else(|| missing("publication"))?;
            resolved.insert("publication_id".into(), Value::from(p.id));
        }
        if let Some(h) = s("content_guard") {
            let id = strip_origin(h)
                .strip_prefix(&format!("{}contentguards/", href::API_ROOT))
                .and_then(|r| r.trim_end_matches('/').rsplit('/').next())
                .map(str::to_string)
                .ok_or_else(|| {
                    CoreError::invalid("content_guard", "Invalid hyperlink - No URL match.")
                })?;
            self.db
                .content_guard_get(&id)
                .await?
                .ok_or_else(|| missing("content_guard"))?;
            resolved.insert("content_guard_id".into(), Value::from(id));
        }
        Ok(resolved)
    }

    pub async fn distribution_create(
        &self,
        ddef: &DistributionDef,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let patch = fields::validate(&fields(&ddef.def), body, false)?;
        if let Some(name) = patch.get("name").and_then(Value::as_str)
            && self.db.distribution_name_taken(name).await?
        {
            return Err(CoreError::invalid("name", "This field must be unique."));
        }
        self.check_distribution(ddef, &patch, None).await?;
        let task = self
            .dispatch(
                NewTask::new(
                    GENERAL_CREATE,
                    json!({"family": "distributions", "pulp_type": ddef.def.pulp_type, "body": patch}),
                )
                .exclusive(BASE_PATH_LOCK)
                .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn distribution_update(
        &self,
        ddef: &DistributionDef,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let row = self.distribution_row(&ddef.def, id).await?;
        let patch = fields::validate(&fields(&ddef.def), body, partial)?;
        let current = current_values(self, &row);
        if !super::changed(&patch, &current) {
            return Ok(Outcome::Unchanged(render(self, &row)));
        }
        let mut merged = current.clone();
        merged.extend(patch.clone());
        if let Some(name) = patch.get("name").and_then(Value::as_str)
            && name != row.name
            && self.db.distribution_name_taken(name).await?
        {
            return Err(CoreError::invalid("name", "This field must be unique."));
        }
        self.check_distribution(ddef, &merged, Some(id)).await?;
        let mut t = NewTask::new(
            GENERAL_UPDATE,
            json!({"family": "distributions", "id": id, "patch": patch}),
        )
        .exclusive(href::prn(ddef.def.prn_model, id))
        .by(user);
        if patch
            .get("base_path")
            .is_some_and(|b| b.as_str() != Some(&row.base_path))
        {
            t = t.exclusive(BASE_PATH_LOCK);
        }
        let task = self.dispatch(t).await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    pub async fn distribution_delete(
        &self,
        ddef: &DistributionDef,
        id: &str,
        user: Option<i64>,
    ) -> Result<Outcome> {
        self.distribution_row(&ddef.def, id).await?;
        let task = self
            .dispatch(
                NewTask::new(GENERAL_DELETE, json!({"family": "distributions", "id": id}))
                    .exclusive(href::prn(ddef.def.prn_model, id))
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }
}

/// Apply a (validated) body to a row, resolving related hrefs again in the task.
async fn apply(
    depot: &Depot,
    ddef: &DistributionDef,
    row: &mut DistributionRow,
    patch: &Map<String, Value>,
) -> Result<()> {
    let mut merged = current_values(depot, row);
    merged.extend(patch.clone());
    let resolved = depot
        .check_distribution(ddef, &merged, Some(&row.id))
        .await?;
    let id = |k: &str| resolved.get(k).and_then(Value::as_str).map(str::to_string);
    let mut extra = obj(&row.extra);
    for (k, v) in patch {
        match k.as_str() {
            "name" => row.name = v.as_str().unwrap_or_default().to_string(),
            "base_path" => row.base_path = v.as_str().unwrap_or_default().to_string(),
            "hidden" => row.hidden = v.as_bool().unwrap_or(false),
            "pulp_labels" => row.pulp_labels = v.to_string(),
            "content_guard" => row.content_guard_id = id("content_guard_id"),
            "repository" => row.repository_id = id("repository_id"),
            "repository_version" => row.repository_version_id = id("repository_version_id"),
            "publication" => row.publication_id = id("publication_id"),
            _ => {
                extra.insert(k.clone(), v.clone());
            }
        }
    }
    row.extra = Value::Object(extra).to_string();
    Ok(())
}

/// Create a distribution in a task.
pub async fn apply_create(
    depot: &Depot,
    pulp_type: &str,
    body: &Map<String, Value>,
) -> Result<(String, Value)> {
    let ddef = depot
        .plugins
        .distribution(pulp_type)
        .ok_or_else(|| CoreError::Internal(format!("unknown distribution type {pulp_type}")))?;
    let t = now();
    let mut row = DistributionRow {
        id: new_id(),
        pulp_type: pulp_type.to_string(),
        name: String::new(),
        base_path: String::new(),
        content_guard_id: None,
        content_guard_type: None,
        publication_id: None,
        publication_type: None,
        repository_id: None,
        repository_type: None,
        repository_version_id: None,
        version_repository_type: None,
        version_repository_id: None,
        version_number: None,
        remote_id: None,
        remote_type: None,
        hidden: false,
        pulp_labels: "{}".into(),
        extra: "{}".into(),
        pulp_created: t.clone(),
        pulp_last_updated: t,
    };
    apply(depot, ddef, &mut row, body).await?;
    depot
        .db
        .distribution_insert(&row)
        .await
        .map_err(unique_error)?;
    let row = depot.distribution_row(&ddef.def, &row.id).await?;
    Ok((href::of(&ddef.def, &row.id), render(depot, &row)))
}

/// Apply an update in a task.
pub async fn apply_update(depot: &Depot, id: &str, patch: &Map<String, Value>) -> Result<Value> {
    let mut row = depot
        .db
        .distribution_get(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the distribution was deleted".into()))?;
    let ddef = depot
        .plugins
        .distribution(&row.pulp_type)
        .ok_or_else(|| CoreError::Internal("unknown distribution type".into()))?;
    apply(depot, ddef, &mut row, patch).await?;
    depot
        .db
        .distribution_update(&row)
        .await
        .map_err(unique_error)?;
    let row = depot.distribution_row(&ddef.def, id).await?;
    Ok(render(depot, &row))
}

#[cfg(test)]
mod tests {
    use crate::fields::canonical_path;

    #[test]
    fn base_paths_must_be_canonical() {
        for ok in ["a", "a/b", "rocky/9/baseos-20240105T044843"] {
            assert!(canonical_path(ok), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "a/../b", "a/./b", "a b", "a?b", "a#b", "..", "a\\b",
        ] {
            assert!(!canonical_path(bad), "{bad}");
        }
    }
}
