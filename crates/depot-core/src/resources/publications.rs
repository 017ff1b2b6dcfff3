//! Publications: a repository version made servable, written by the type's publish task.

use serde_json::{Map, Value};

use super::list::{FilterDef, ListSpec, Op, datetime_filters};
use super::{Listed, Outcome, all_fields, not_found, obj, strip_origin};
use crate::Depot;
use crate::error::{CoreError, Result};
use crate::fields::{self, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::{Family, PublicationDef, TypeDef};
use crate::tasks::NewTask;
use depot_store::Filter;
use depot_store::records::{PUBLICATION_FROM, PUBLICATION_SELECT, PublicationRow};
use depot_store::versions::VersionRow;

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("repository_version", Kind::Href("repository_versions")),
    Field::new("repository", Kind::Href("repositories"))
        .help("A repository: its latest version is published."),
];

pub fn fields(def: &TypeDef) -> Vec<&'static Field> {
    all_fields(COMMON, def)
}

pub fn list_spec() -> ListSpec {
    ListSpec::new("p.id", "p.pulp_created")
        .filters(datetime_filters("pulp_created", "p.pulp_created"))
        .filter(FilterDef::new(
            "repository",
            "v.repository_id",
            Op::Custom(repository_filter),
        ))
        .filter(FilterDef::new(
            "repository_version",
            "p.repository_version_id",
            Op::Custom(version_filter),
        ))
        .filter(FilterDef::new(
            "content",
            "p.id",
            Op::Custom(content_filter),
        ))
        .filter(FilterDef::new(
            "content__in",
            "p.id",
            Op::Custom(content_filter),
        ))
        .order(&[
            ("pulp_created", "p.pulp_created"),
            ("pulp_last_updated", "p.pulp_last_updated"),
            ("pulp_type", "p.pulp_type"),
        ])
}

fn repository_filter(depot: &Depot, expr: &str, v: &str) -> Result<Filter> {
    let p = super::parse_related(depot, "repository", Family::Repositories, v)
        .map_err(|_| CoreError::InvalidList(format!("URI couldn't be resolved: {v}")))?;
    Ok(Filter::Eq(expr.into(), p.id.into()))
}

/// Publications whose version holds any of the given units.
fn content_filter(depot: &Depot, _: &str, v: &str) -> Result<Filter> {
    let ids: Vec<String> = super::list::split_list(v)
        .filter_map(|h| super::content::content_id_from_href(depot, &h))
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

fn version_filter(depot: &Depot, _expr: &str, v: &str) -> Result<Filter> {
    let (repo, number) = version_ref(depot, v)?;
    Ok(version_condition(&repo, number))
}

/// A version href, or a repository href meaning its latest version.
pub fn version_ref(depot: &Depot, v: &str) -> Result<(String, Option<i64>)> {
    match href::parse(&depot.plugins, strip_origin(v)) {
        Some(p) if p.family == Family::Repositories => Ok((p.id, p.version)),
        _ => Err(CoreError::InvalidList(format!(
            "URI {v} not found for repositoryversion."
        ))),
    }
}

fn version_condition(repo: &str, number: Option<i64>) -> Filter {
    match number {
        Some(n) => Filter::Sql(
            "v.repository_id = ? AND v.number = ?".into(),
            vec![repo.into(), n.into()],
        ),
        None => Filter::Sql(
            "v.repository_id = ? AND v.number = (SELECT max(number) FROM repository_versions \
             WHERE repository_id = ? AND complete = 1)"
                .into(),
            vec![repo.into(), repo.into()],
        ),
    }
}

pub async fn render(depot: &Depot, row: &PublicationRow) -> Result<Value> {
    let def = depot.plugins.publication(&row.pulp_type).map(|p| &p.def);
    let repo_href = depot
        .plugins
        .repository(&row.repository_type)
        .map(|r| href::of(&r.def, &row.repository_id))
        .unwrap_or_default();
    let extra = obj(&row.extra);
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
            "repository_version" => Value::from(href::version(&repo_href, row.version_number)),
            "repository" => Value::from(repo_href.clone()),
            "distributions" => {
                let ds = depot.db.publication_distributions(&row.id).await?;
                Value::from(
                    ds.iter()
                        .filter_map(|(t, id)| {
                            depot
                                .plugins
                                .type_def(Family::Distributions, t)
                                .map(|d| href::of(d, id))
                        })
                        .collect::<Vec<_>>(),
                )
            }
            _ => super::extra_field(&extra, f),
        };
        m.insert(f.name.to_string(), v);
    }
    Ok(Value::Object(m))
}

impl Depot {
    pub async fn publication_row(&self, def: &TypeDef, id: &str) -> Result<PublicationRow> {
        match self.db.publication_get(id).await? {
            Some(p) if p.pulp_type == def.pulp_type && p.complete => Ok(p),
            _ => Err(not_found(def.model)),
        }
    }

    pub async fn publication_list(
        &self,
        def: &TypeDef,
        params: &[(String, String)],
        visible: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec().build(self, params)?;
        super::restrict(&mut q, "p.id", visible);
        q.filters
            .push(Filter::Eq("p.pulp_type".into(), def.pulp_type.into()));
        q.filters.push(Filter::Eq("p.complete".into(), true.into()));
        let page = q
            .run::<PublicationRow>(&self.db, PUBLICATION_SELECT, PUBLICATION_FROM)
            .await?;
        let mut results = Vec::with_capacity(page.items.len());
        for p in &page.items {
            results.push(render(self, p).await?);
        }
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Resolve `repository` / `repository_version` of a body to a version.
    pub async fn version_from_body(&self, body: &Map<String, Value>) -> Result<VersionRow> {
        let repo = body.get("repository").and_then(Value::as_str);
        let version = body.get("repository_version").and_then(Value::as_str);
        let (field, href) = match (repo, version) {
            (None, None) => {
                return Err(CoreError::non_field(
                    "Either the 'repository' or 'repository_version' need to be specified",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(CoreError::non_field(
                    "Either the 'repository' or 'repository_version' need to be specified but not both.",
                ));
            }
            (Some(r), None) => ("repository", r),
            (None, Some(v)) => ("repository_version", v),
        };
        let parsed = href::parse(&self.plugins, strip_origin(href))
            .filter(|p| p.family == Family::Repositories)
            .filter(|p| (field == "repository") == p.version.is_none())
            .ok_or_else(|| CoreError::invalid(field, "Invalid hyperlink - No URL match."))?;
        let v = match parsed.version {
            Some(n) => self.db.version_get(&parsed.id, n).await?,
            None => self.db.version_latest(&parsed.id).await?,
        };
        v.filter(|v| v.repository_type == parsed.def.pulp_type)
            .ok_or_else(|| CoreError::invalid(field, "Invalid hyperlink - Object does not exist."))
    }

    pub async fn publication_create(
        &self,
        pdef: &PublicationDef,
        body: &Map<String, Value>,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let mut args = fields::validate(&fields(&pdef.def), body, false)?;
        let version = self.version_from_body(&args).await?;
        if args.get("checkpoint") == Some(&Value::Bool(true))
            && args.contains_key("repository_version")
        {
            return Err(CoreError::Invalid(FieldErrors::one(
                "non_field_errors",
                "'checkpoint' may only be used with 'repository'",
            )));
        }
        args.remove("repository");
        args.insert("repository_version".into(), Value::from(version.id.clone()));
        let repo_prn = self
            .plugins
            .repository(&version.repository_type)
            .map(|r| href::prn(r.def.prn_model, &version.repository_id))
            .unwrap_or_default();
        let task = self
            .dispatch(
                NewTask::new(pdef.task, Value::Object(args))
                    .shared(repo_prn)
                    .by(user),
            )
            .await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    pub async fn publication_delete(&self, def: &TypeDef, id: &str) -> Result<()> {
        self.publication_row(def, id).await?;
        self.db.publication_delete(id).await?;
        Ok(())
    }
}

/// The JSON a publish task returns as its result.
pub async fn render_by_id(depot: &Depot, id: &str) -> Result<Value> {
    let row = depot
        .db
        .publication_get(id)
        .await?
        .ok_or_else(|| not_found("Publication"))?;
    render(depot, &row).await
}

/// Arguments shared by publish tasks: the version to publish.
pub async fn task_version(depot: &Depot, args: &Value) -> Result<VersionRow> {
    let id = args
        .get("repository_version")
        .and_then(Value::as_str)
        .ok_or_else(|| CoreError::Internal("publish task without a version".into()))?;
    depot
        .db
        .version_by_id(id)
        .await?
        .ok_or_else(|| CoreError::NotFound("the repository version was deleted".into()))
}
