//! Content guards: who may read a distribution's content.
//!
//! * `core/rbac`: users and groups holding `core.download_rbaccontentguard` on the guard
//!   (role `core.rbaccontentguard_downloader`), managed with `add_role/` and `remove_role/`;
//! * `core/header`: a request header whose base64-decoded value (optionally one field of it
//!   as JSON) equals a configured value;
//! * `core/composite`: any of several guards.
//!
//! All operations are synchronous, as in Pulp.

use serde_json::{Map, Value, json};

use super::list::{ListSpec, text_filters};
use super::remotes::unique_error;
use super::{Listed, not_found, obj};
use crate::Depot;
use crate::error::Result;
use crate::fields::{self, Default, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::{Family, TypeDef};
use crate::rbac::Visible;
use depot_store::Filter;
use depot_store::records::{CONTENT_GUARD_COLUMNS, ContentGuardRow};
use depot_store::{new_id, now};

pub const RBAC: &str = "core.rbac";
pub const HEADER: &str = "core.header";
pub const COMPOSITE: &str = "core.composite";
pub const DOWNLOAD: &str = "core.download_rbaccontentguard";

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("name", Kind::Str)
        .required()
        .help("The unique name."),
    Field::new("description", Kind::Str)
        .nullable()
        .default(Default::Null)
        .help("An optional description."),
];

static RBAC_FIELDS: &[Field] = &[
    Field::new("users", Kind::Json("array")).read_only(),
    Field::new("groups", Kind::Json("array")).read_only(),
];

static HEADER_FIELDS: &[Field] = &[
    Field::new("header_name", Kind::Str)
        .required()
        .help("The header name the guard will check on."),
    Field::new("header_value", Kind::Str)
        .required()
        .help("The value that will authorize the request."),
    Field::new("jq_filter", Kind::Str)
        .nullable()
        .default(Default::Null)
        .help("A path like .user.id selecting the compared value from the header, read as base64 encoded JSON."),
];

static COMPOSITE_FIELDS: &[Field] = &[Field::new("guards", Kind::HrefList("contentguards"))
    .default(Default::EmptyList)
    .help("List of content guards; the request is admitted when any of them admits it.")];

fn def(
    pulp_type: &'static str,
    path: &'static str,
    model: &'static str,
    href_param: &'static str,
    op_prefix: &'static str,
    prn_model: &'static str,
    fields: &'static [Field],
) -> TypeDef {
    TypeDef {
        family: Family::ContentGuards,
        pulp_type,
        path,
        model,
        schema: model,
        href_param,
        op_prefix,
        prn_model,
        fields,
    }
}

/// The guard types core provides.
pub fn types() -> Vec<TypeDef> {
    vec![
        def(
            RBAC,
            "core/rbac",
            "RBACContentGuard",
            "r_b_a_c_content_guard_href",
            "contentguards_core_rbac",
            "core.rbaccontentguard",
            RBAC_FIELDS,
        ),
        def(
            HEADER,
            "core/header",
            "HeaderContentGuard",
            "header_content_guard_href",
            "contentguards_core_header",
            "core.headercontentguard",
            HEADER_FIELDS,
        ),
        def(
            COMPOSITE,
            "core/composite",
            "CompositeContentGuard",
            "composite_content_guard_href",
            "contentguards_core_composite",
            "core.compositecontentguard",
            COMPOSITE_FIELDS,
        ),
    ]
}

pub fn fields(def: &TypeDef) -> Vec<&'static Field> {
    super::all_fields(COMMON, def)
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("id", "pulp_created")
        .filters(text_filters("name", "name"))
        .order(&[
            ("pulp_created", "pulp_created"),
            ("pulp_last_updated", "pulp_last_updated"),
            ("name", "name"),
            ("pulp_type", "pulp_type"),
        ])
}

/// `.a.b` paths: the subset of jq the header guard evaluates.
pub fn parse_jq_path(filter: &str) -> Option<Vec<String>> {
    let f = filter.trim();
    if f == "." {
        return Some(Vec::new());
    }
    let rest = f.strip_prefix('.')?;
    let parts: Vec<String> = rest.split('.').map(str::to_string).collect();
    parts
        .iter()
        .all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        })
        .then_some(parts)
}

pub async fn render(depot: &Depot, row: &ContentGuardRow) -> Result<Value> {
    let def = depot
        .plugins
        .type_def(Family::ContentGuards, &row.pulp_type);
    let extra = obj(&row.extra);
    let mut m = Map::new();
    for f in COMMON.iter().chain(def.map(|d| d.fields).unwrap_or(&[])) {
        let v = match f.name {
            "pulp_href" => Value::from(def.map(|d| href::of(d, &row.id)).unwrap_or_default()),
            "prn" => Value::from(
                def.map(|d| href::prn(d.prn_model, &row.id))
                    .unwrap_or_default(),
            ),
            "pulp_created" => Value::from(row.pulp_created.clone()),
            "pulp_last_updated" => Value::from(row.pulp_last_updated.clone()),
            "name" => Value::from(row.name.clone()),
            "description" => json!(row.description),
            "users" | "groups" => {
                let (users, groups) = depot
                    .db
                    .holders_of(DOWNLOAD, "core.rbaccontentguard", &row.id)
                    .await?;
                if f.name == "users" {
                    Value::from(
                        users
                            .iter()
                            .filter(|(id, _)| *id != 0)
                            .map(|(id, name)| {
                                json!({"username": name, "pulp_href": href::user(*id), "prn": href::prn("auth.user", &id.to_string())})
                            })
                            .collect::<Vec<_>>(),
                    )
                } else {
                    Value::from(
                        groups
                            .iter()
                            .map(|(id, name)| {
                                json!({"name": name, "pulp_href": format!("{}groups/{id}/", href::API_ROOT), "prn": href::prn("core.group", &id.to_string()), "id": id})
                            })
                            .collect::<Vec<_>>(),
                    )
                }
            }
            _ => super::extra_field(&extra, f),
        };
        m.insert(f.name.to_string(), v);
    }
    Ok(Value::Object(m))
}

impl Depot {
    pub async fn content_guard_row(&self, def: &TypeDef, id: &str) -> Result<ContentGuardRow> {
        match self.db.content_guard_get(id).await? {
            Some(g) if g.pulp_type == def.pulp_type => Ok(g),
            _ => Err(not_found(def.model)),
        }
    }

    /// Guards of one type (`Some(def)`) or of every type, limited to what the user may see.
    pub async fn content_guard_list(
        &self,
        def: Option<&TypeDef>,
        params: &[(String, String)],
        visible: &Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        if let Some(d) = def {
            q.filters
                .push(Filter::Eq("pulp_type".into(), d.pulp_type.into()));
        }
        if let Visible::Only(ids) = visible {
            q.filters.push(Filter::In(
                "id".into(),
                ids.iter().map(|i| i.clone().into()).collect(),
            ));
        }
        let page = q
            .run::<ContentGuardRow>(&self.db, CONTENT_GUARD_COLUMNS, "content_guards")
            .await?;
        let mut results = Vec::with_capacity(page.items.len());
        for g in &page.items {
            results.push(render(self, g).await?);
        }
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Check type-specific rules; returns the values to store in `extra`.
    async fn guard_extra(
        &self,
        def: &TypeDef,
        values: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        let mut extra = Map::new();
        let mut errors = FieldErrors::default();
        match def.pulp_type {
            HEADER => {
                for k in ["header_name", "header_value", "jq_filter"] {
                    if let Some(v) = values.get(k) {
                        extra.insert(k.into(), v.clone());
                    }
                }
                if let Some(f) = values.get("jq_filter").and_then(Value::as_str)
                    && parse_jq_path(f).is_none()
                {
                    errors.add(
                        "jq_filter",
                        "depot evaluates jq paths of the form .key.key only.",
                    );
                }
            }
            COMPOSITE => {
                let hrefs: Vec<String> = values
                    .get("guards")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut ids = Vec::new();
                for h in &hrefs {
                    match crate::href::parse(&self.plugins, super::strip_origin(h))
                        .filter(|p| p.family == Family::ContentGuards)
                    {
                        Some(p) if self.db.content_guard_get(&p.id).await?.is_some() => {
                            ids.push(href::of(p.def, &p.id))
                        }
                        _ => errors.add(
                            "guards",
                            format!("Invalid hyperlink - Object does not exist: {h}"),
                        ),
                    }
                }
                extra.insert("guards".into(), json!(ids));
            }
            _ => {}
        }
        errors.into_result()?;
        Ok(extra)
    }

    pub async fn content_guard_create(
        &self,
        def: &TypeDef,
        body: &Map<String, Value>,
    ) -> Result<Value> {
        let values = fields::validate(&fields(def), body, false)?;
        let extra = self.guard_extra(def, &values).await?;
        let t = now();
        let row = ContentGuardRow {
            id: new_id(),
            pulp_type: def.pulp_type.to_string(),
            name: values["name"].as_str().unwrap_or_default().to_string(),
            description: values
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_string),
            extra: Value::Object(extra).to_string(),
            pulp_created: t.clone(),
            pulp_last_updated: t,
        };
        self.db
            .content_guard_insert(&row)
            .await
            .map_err(unique_error)?;
        render(self, &self.content_guard_row(def, &row.id).await?).await
    }

    pub async fn content_guard_update(
        &self,
        def: &TypeDef,
        id: &str,
        body: &Map<String, Value>,
        partial: bool,
    ) -> Result<Value> {
        let mut row = self.content_guard_row(def, id).await?;
        let patch = fields::validate(&fields(def), body, partial)?;
        let mut merged = obj(&row.extra);
        merged.extend(patch.clone());
        let extra = self.guard_extra(def, &merged).await?;
        if let Some(n) = patch.get("name").and_then(Value::as_str) {
            row.name = n.to_string();
        }
        if let Some(d) = patch.get("description") {
            row.description = d.as_str().map(str::to_string);
        }
        row.extra = Value::Object(extra).to_string();
        self.db
            .content_guard_update(&row)
            .await
            .map_err(unique_error)?;
        render(self, &self.content_guard_row(def, id).await?).await
    }

    pub async fn content_guard_delete(&self, def: &TypeDef, id: &str) -> Result<()> {
        self.content_guard_row(def, id).await?;
        self.db.content_guard_delete(id).await?;
        self.db.unassign_object(def.prn_model, id).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_jq_path;

    #[test]
    fn jq_paths() {
        assert_eq!(
            parse_jq_path(".user.id"),
            Some(vec!["user".into(), "id".into()])
        );
        assert_eq!(parse_jq_path("."), Some(vec![]));
        assert_eq!(parse_jq_path(".a | .b"), None);
        assert_eq!(parse_jq_path("user"), None);
        assert!(parse_jq_path(".a..b").is_none());
    }
}
