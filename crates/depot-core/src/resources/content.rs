//! Content units: listing, rendering, and creating them from uploaded bytes.

use serde_json::{Map, Value, json};

use super::list::{FilterDef, ListSpec, Op, text_filters};
use super::{Listed, Outcome, labels, not_found, strip_origin};
use crate::Depot;
use crate::core_tasks::GENERAL_CREATE;
use crate::error::{CoreError, Result};
use crate::fields::{self, Field, FieldErrors, Kind};
use crate::href;
use crate::plugin::{ContentDef, Family, FilterOp};
use crate::tasks::NewTask;
use depot_store::content::{CONTENT_FROM, CONTENT_SELECT, ContentRow};
use depot_store::{Digests, Filter, TempBlob};

pub static COMMON: &[Field] = &[
    Field::new("pulp_href", Kind::Str).read_only(),
    Field::new("prn", Kind::Str).read_only(),
    Field::new("pulp_created", Kind::DateTime).read_only(),
    Field::new("pulp_last_updated", Kind::DateTime).read_only(),
    Field::new("pulp_labels", Kind::Labels),
    Field::new("vuln_report", Kind::Str).read_only(),
];

/// Body fields of a content create besides the type's own.
pub static CREATE_FIELDS: &[Field] = &[
    Field::new("file", Kind::File)
        .write_only()
        .help("An uploaded file that may be turned into the content unit."),
    Field::new("artifact", Kind::Href("artifacts"))
        .help("Artifact file representing the physical content"),
    Field::new("upload", Kind::Href("uploads"))
        .write_only()
        .help("An uncommitted upload that may be turned into the content unit."),
    Field::new("repository", Kind::Href("repositories"))
        .write_only()
        .help("A URI of a repository the new content unit should be associated with."),
    Field::new("overwrite", Kind::Bool).write_only(),
];

/// Units present in any version of the given repositories (for users who may not see all).
fn in_repositories(repositories: &crate::rbac::Visible) -> Option<Filter> {
    match repositories {
        crate::rbac::Visible::All => None,
        crate::rbac::Visible::Only(ids) => Some(Filter::Sql(
            format!(
                "EXISTS (SELECT 1 FROM repository_content rc WHERE rc.content_id = c.id AND {})",
                depot_store::list::in_values("rc.repository_id", ids.len())
            ),
            ids.iter().map(|i| i.as_str().into()).collect(),
        )),
    }
}

/// The id at the end of a content href (any content type).
pub fn content_id_from_href(depot: &Depot, h: &str) -> Option<String> {
    let p = href::parse(&depot.plugins, strip_origin(h))?;
    (p.family == Family::Content).then_some(p.id)
}

/// The filters every content list has: by repository version, orphan age and labels.
fn common_spec() -> ListSpec {
    ListSpec::new("c.id", "c.pulp_created")
        .filter(FilterDef::new(
            "repository_version",
            "c.id",
            Op::Custom(in_version),
        ))
        .filter(FilterDef::new(
            "repository_version_added",
            "c.id",
            Op::Custom(added_in_version),
        ))
        .filter(FilterDef::new(
            "repository_version_removed",
            "c.id",
            Op::Custom(removed_in_version),
        ))
        .filter(FilterDef::new(
            "orphaned_for",
            "c.id",
            Op::Custom(orphaned_for),
        ))
        .filter(super::generic::label_filter("c.pulp_labels"))
}

/// `/content/`: every type's units.
pub fn generic_list_spec() -> ListSpec {
    use super::list::pulp_type_filter;
    common_spec()
        .filter(FilterDef::new(
            "pulp_type",
            "c.pulp_type",
            Op::Custom(pulp_type_filter),
        ))
        .filter(FilterDef::new(
            "pulp_type__in",
            "c.pulp_type",
            Op::Custom(pulp_type_filter),
        ))
        .order(&[
            ("pulp_created", "c.pulp_created"),
            ("pulp_type", "c.pulp_type"),
        ])
}

pub fn list_spec(backend: depot_store::sql::Backend, cdef: &ContentDef) -> ListSpec {
    let mut spec = common_spec().order(&[
        ("pulp_created", "c.pulp_created"),
        ("pulp_last_updated", "c.pulp_last_updated"),
        ("pulp_type", "c.pulp_type"),
    ]);
    for f in cdef.filters {
        let expr = backend.json_field("c.data", f.field);
        spec = match f.op {
            FilterOp::Eq => spec.filter(FilterDef::new(f.param, &expr, Op::Exact)),
            FilterOp::In => spec.filter(FilterDef::new(f.param, &expr, Op::In)),
            FilterOp::Contains => spec.filter(FilterDef::new(f.param, &expr, Op::Contains)),
            FilterOp::StartsWith => spec.filter(FilterDef::new(f.param, &expr, Op::StartsWith)),
            FilterOp::Ne => spec.filter(FilterDef::new(f.param, &expr, Op::Ne)),
            FilterOp::Text => spec.filters(text_filters(f.param, &expr)),
        };
        spec.orderings.push((f.field.to_string(), expr));
    }
    spec
}

fn version_filter(depot: &Depot, v: &str, cond: &str) -> Result<Filter> {
    let (repo, number) = super::publications::version_ref(depot, v)?;
    let number_sql = match number {
        Some(n) => n.to_string(),
        None => "(SELECT max(number) FROM repository_versions WHERE repository_id = rc.repository_id AND complete = 1)".to_string(),
    };
    Ok(Filter::Sql(
        format!(
            "EXISTS (SELECT 1 FROM repository_content rc WHERE rc.content_id = c.id \
             AND rc.repository_id = ? AND {})",
            cond.replace("{n}", &number_sql)
        ),
        vec![repo.into()],
    ))
}

fn in_version(depot: &Depot, _: &str, v: &str) -> Result<Filter> {
    version_filter(
        depot,
        v,
        "rc.version_added <= {n} AND (rc.version_removed IS NULL OR rc.version_removed > {n})",
    )
}

fn added_in_version(depot: &Depot, _: &str, v: &str) -> Result<Filter> {
    version_filter(depot, v, "rc.version_added = {n}")
}

fn removed_in_version(depot: &Depot, _: &str, v: &str) -> Result<Filter> {
    version_filter(depot, v, "rc.version_removed = {n}")
}

fn orphaned_for(_: &Depot, _: &str, v: &str) -> Result<Filter> {
    let minutes: i64 = v
        .parse()
        .map_err(|_| CoreError::invalid("orphaned_for", "Enter a number."))?;
    let minutes = if minutes < 0 { 1440 } else { minutes };
    let cutoff = depot_store::format_time(chrono::Utc::now() - chrono::Duration::minutes(minutes));
    Ok(Filter::Sql(
        "NOT EXISTS (SELECT 1 FROM repository_content rc WHERE rc.content_id = c.id) \
         AND c.pulp_created < ?"
            .into(),
        vec![cutoff.into()],
    ))
}

pub async fn render(depot: &Depot, row: &ContentRow) -> Result<Value> {
    let Some(cdef) = depot.plugins.content_def(&row.pulp_type) else {
        return Ok(Value::Null);
    };
    let data: Map<String, Value> = super::obj(&row.data);
    let artifact = match &row.artifact_id {
        Some(id) => depot.db.artifact_get(id).await?,
        None => None,
    };
    let mut m = Map::new();
    for f in COMMON.iter().chain(cdef.def.fields.iter()) {
        if f.write_only {
            continue;
        }
        let v = match f.name {
            "pulp_href" => Value::from(href::of(&cdef.def, &row.id)),
            "prn" => Value::from(href::prn(cdef.def.prn_model, &row.id)),
            "pulp_created" => Value::from(row.pulp_created.clone()),
            "pulp_last_updated" => Value::from(row.pulp_last_updated.clone()),
            "pulp_labels" => labels(&row.pulp_labels),
            "vuln_report" => Value::Null,
            "artifact" => json!(artifact.as_ref().map(|a| href::artifact(&a.id))),
            "md5" => json!(artifact.as_ref().and_then(|a| a.md5.clone())),
            "sha1" => json!(artifact.as_ref().and_then(|a| a.sha1.clone())),
            "sha224" => json!(artifact.as_ref().and_then(|a| a.sha224.clone())),
            "sha256" => json!(artifact.as_ref().map(|a| a.sha256.clone())),
            "sha384" => json!(artifact.as_ref().and_then(|a| a.sha384.clone())),
            "sha512" => json!(artifact.as_ref().and_then(|a| a.sha512.clone())),
            n => data.get(n).cloned().unwrap_or(Value::Null),
        };
        m.insert(f.name.to_string(), v);
    }
    Ok(Value::Object(m))
}

/// A file sent with the request, already hashed into a temp blob.
pub type UploadedFile = Option<(TempBlob, Digests)>;

impl Depot {
    pub async fn content_row(&self, cdef: &ContentDef, id: &str) -> Result<ContentRow> {
        match self.db.content_get(id).await? {
            Some(c) if c.pulp_type == cdef.def.pulp_type => Ok(c),
            _ => Err(not_found(cdef.def.model)),
        }
    }

    /// Content of a type; `repositories` limits it to units in repositories the user may see.
    pub async fn content_list(
        &self,
        cdef: &ContentDef,
        params: &[(String, String)],
        repositories: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = list_spec(self.db.backend(), cdef).build(self, params)?;
        q.filters.extend(in_repositories(repositories));
        q.filters
            .push(Filter::Eq("c.pulp_type".into(), cdef.def.pulp_type.into()));
        let page = q
            .run::<ContentRow>(&self.db, CONTENT_SELECT, CONTENT_FROM)
            .await?;
        let mut results = Vec::with_capacity(page.items.len());
        for c in &page.items {
            results.push(render(self, c).await?);
        }
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Every unit of any type (`/content/`), rendered with the common fields.
    pub async fn content_list_all(
        &self,
        params: &[(String, String)],
        repositories: &crate::rbac::Visible,
    ) -> Result<Listed> {
        let mut q = generic_list_spec().build(self, params)?;
        q.filters.extend(in_repositories(repositories));
        let page = q
            .run::<ContentRow>(&self.db, CONTENT_SELECT, CONTENT_FROM)
            .await?;
        let results = page
            .items
            .iter()
            .map(|c| {
                let href = self
                    .plugins
                    .content_def(&c.pulp_type)
                    .map(|d| href::of(&d.def, &c.id))
                    .unwrap_or_default();
                json!({
                    "pulp_href": href,
                    "prn": self.plugins.content_def(&c.pulp_type).map(|d| href::prn(d.def.prn_model, &c.id)),
                    "pulp_created": c.pulp_created,
                    "pulp_last_updated": c.pulp_last_updated,
                    "pulp_type": c.pulp_type,
                    "pulp_labels": labels(&c.pulp_labels),
                    "vuln_report": null,
                })
            })
            .collect();
        Ok(Listed {
            count: page.count,
            results,
            limit: q.limit,
            offset: q.offset,
        })
    }

    /// Validate a content create: exactly one byte source, the type's own fields, an optional
    /// repository to add the unit to. Returns the task arguments; a file sent in the request is
    /// stored as an artifact first (like Pulp).
    async fn content_create_args(
        &self,
        cdef: &ContentDef,
        body: &Map<String, Value>,
        file: UploadedFile,
    ) -> Result<Map<String, Value>> {
        let upload = cdef
            .upload
            .as_ref()
            .ok_or_else(|| CoreError::NotFound("This content type cannot be uploaded.".into()))?;
        let mut all: Vec<&Field> = CREATE_FIELDS.iter().collect();
        all.push(&COMMON[4]); // pulp_labels
        all.extend(upload.fields.iter());
        let mut body = body.clone();
        let has_file = file.is_some();
        body.remove("file");
        let mut args = fields::validate(&all, &body, false)?;
        let sources = [
            has_file,
            args.contains_key("artifact"),
            args.contains_key("upload"),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(CoreError::non_field(
                "Exactly one of artifact, file, upload, file_url must be specified.",
            ));
        }
        let mut errors = FieldErrors::default();
        if let Some((blob, digests)) = file {
            self.blobs.commit(blob, &digests.sha256).await?;
            let id = self.db.artifact_insert(&digests).await?;
            args.insert("artifact".into(), Value::from(id));
        } else if let Some(a) = args.get("artifact").and_then(Value::as_str) {
            let id = href::parse_core(strip_origin(a), "artifacts").map(str::to_string);
            match id {
                Some(id) if self.db.artifact_get(&id).await?.is_some() => {
                    args.insert("artifact".into(), Value::from(id));
                }
                _ => errors.add("artifact", "Invalid hyperlink - Object does not exist."),
            }
        } else if let Some(u) = args.get("upload").and_then(Value::as_str) {
            let id = href::parse_core(strip_origin(u), "uploads").map(str::to_string);
            match id {
                Some(id) if self.db.upload_get(&id).await?.is_some() => {
                    args.insert("upload".into(), Value::from(id));
                }
                _ => errors.add("upload", "Invalid hyperlink - Object does not exist."),
            }
        }
        if let Some(r) = args.get("repository").and_then(Value::as_str) {
            match super::parse_related(self, "repository", Family::Repositories, r) {
                Ok(p) => {
                    let rdef = self.plugins.repository(p.def.pulp_type);
                    if !rdef.is_some_and(|d| d.content_types.contains(&cdef.def.pulp_type)) {
                        errors.add(
                            "non_field_errors",
                            "Content is not supported by this repository.",
                        );
                    } else if self.db.repository_get(&p.id).await?.is_none() {
                        errors.add("repository", "Invalid hyperlink - Object does not exist.");
                    } else {
                        args.insert("repository".into(), Value::from(p.id));
                    }
                }
                Err(CoreError::Invalid(e)) => {
                    for (k, v) in e.0 {
                        for m in v {
                            errors.add(&k, m);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
        errors.into_result()?;
        Ok(args)
    }

    /// `POST /content/<type>/`: queue the creation (202).
    pub async fn content_create(
        &self,
        cdef: &ContentDef,
        body: &Map<String, Value>,
        file: UploadedFile,
        user: Option<i64>,
    ) -> Result<Outcome> {
        let args = self.content_create_args(cdef, body, file).await?;
        let mut t = NewTask::new(
            GENERAL_CREATE,
            json!({"family": "content", "pulp_type": cdef.def.pulp_type, "body": args}),
        )
        .by(user);
        if let Some(r) = args.get("repository").and_then(Value::as_str)
            && let Some(repo) = self.db.repository_get(r).await?
            && let Some(rdef) = self.plugins.repository(&repo.pulp_type)
        {
            t = t.exclusive(href::prn(rdef.def.prn_model, r));
        }
        if let Some(u) = args.get("upload").and_then(Value::as_str) {
            t = t.exclusive(href::prn("core.upload", u));
        }
        let task = self.dispatch(t).await?;
        Ok(Outcome::Task(href::task(&task.id)))
    }

    /// `POST /content/<type>/upload/`: create synchronously (201).
    pub async fn content_upload(
        self: &std::sync::Arc<Self>,
        cdef: &ContentDef,
        body: &Map<String, Value>,
        file: UploadedFile,
    ) -> Result<Value> {
        if body.contains_key("repository") {
            return Err(CoreError::invalid("repository", "Unexpected field"));
        }
        let args = self.content_create_args(cdef, body, file).await?;
        let (_, v) = crate::core_tasks::create_content(self, cdef, &args, None).await?;
        Ok(v)
    }
}
