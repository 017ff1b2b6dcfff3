//! Tasks as the API shows them: rendering, filters, cancel.

use serde_json::{Value, json};

use super::list::{FilterDef, ListSpec, Op, datetime_filters};
use super::{Listed, not_found, strip_origin};
use crate::Depot;
use crate::error::{CoreError, Result};
use crate::href;
use crate::plugin::Family;
use depot_store::Filter;
use depot_store::tasks::{TASK_COLUMNS, TaskRow};

pub fn render(t: &TaskRow) -> Value {
    let created: Vec<Value> = serde_json::from_str(&t.created_resources).unwrap_or_default();
    let hrefs: Vec<Value> = created.iter().map(|c| c["href"].clone()).collect();
    let prns: Vec<Value> = created.iter().map(|c| c["prn"].clone()).collect();
    let parse = |s: &Option<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .unwrap_or(Value::Null)
    };
    json!({
        "pulp_href": href::task(&t.id),
        "prn": href::prn("core.task", &t.id),
        "pulp_created": t.pulp_created,
        "pulp_last_updated": t.pulp_last_updated,
        "state": t.state,
        "name": t.name,
        "logging_cid": t.logging_cid,
        "created_by": t.created_by.map(href::user),
        "unblocked_at": t.unblocked_at,
        "started_at": t.started_at,
        "finished_at": t.finished_at,
        "error": parse(&t.error),
        "worker": null,
        "parent_task": null,
        "child_tasks": [],
        "task_group": null,
        "progress_reports": serde_json::from_str::<Value>(&t.progress_reports).unwrap_or(json!([])),
        "created_resources": hrefs,
        "created_resource_prns": prns,
        "reserved_resources_record": serde_json::from_str::<Value>(&t.reserved_resources).unwrap_or(json!([])),
        "result": parse(&t.result),
        "pulp_api_version": "v3",
    })
}

/// The short form `?minimal=true` asks for.
pub fn render_minimal(t: &TaskRow) -> Value {
    json!({
        "pulp_href": href::task(&t.id),
        "prn": href::prn("core.task", &t.id),
        "pulp_created": t.pulp_created,
        "pulp_last_updated": t.pulp_last_updated,
        "pulp_api_version": "v3",
        "name": t.name,
        "state": t.state,
        "unblocked_at": t.unblocked_at,
        "started_at": t.started_at,
        "finished_at": t.finished_at,
        "worker": null,
    })
}

pub fn list_spec() -> ListSpec {
    let mut spec = ListSpec::new("id", "pulp_created")
        .filter(FilterDef::new("state", "state", Op::Exact))
        .filter(FilterDef::new("state__in", "state", Op::In))
        .filter(FilterDef::new("state__ne", "state", Op::Ne))
        .filter(FilterDef::new("name", "name", Op::Exact))
        .filter(FilterDef::new("name__contains", "name", Op::Contains))
        .filter(FilterDef::new("name__in", "name", Op::In))
        .filter(FilterDef::new("name__ne", "name", Op::Ne))
        .filter(FilterDef::new("logging_cid", "logging_cid", Op::Exact))
        .filter(FilterDef::new(
            "logging_cid__contains",
            "logging_cid",
            Op::Contains,
        ))
        .filter(FilterDef::new("worker", "id", Op::Custom(no_worker)))
        .filter(FilterDef::new(
            "reserved_resources",
            "any",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "reserved_resources__in",
            "any",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "exclusive_resources",
            "exclusive",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "exclusive_resources__in",
            "exclusive",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "shared_resources",
            "shared",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "shared_resources__in",
            "shared",
            Op::Custom(reserved),
        ))
        .filter(FilterDef::new(
            "created_resources",
            "created_resources",
            Op::Custom(created),
        ));
    for f in ["pulp_created", "started_at", "finished_at", "unblocked_at"] {
        spec = spec.filters(datetime_filters(f, f));
    }
    spec.order(&[
        ("pulp_created", "pulp_created"),
        ("pulp_last_updated", "pulp_last_updated"),
        ("state", "state"),
        ("name", "name"),
        ("started_at", "started_at"),
        ("finished_at", "finished_at"),
        ("unblocked_at", "unblocked_at"),
    ])
}

fn no_worker(_: &Depot, _: &str, _: &str) -> Result<Filter> {
    // tasks run inside depot's own process; no task has a separate worker
    Ok(Filter::Sql("0".into(), vec![]))
}

/// An href or PRN as a PRN.
fn to_prn(depot: &Depot, v: &str) -> Result<String> {
    if v.starts_with("prn:") || v.starts_with("pdrn:") {
        return Ok(v.to_string());
    }
    let p = href::parse(&depot.plugins, strip_origin(v))
        .filter(|p| p.version.is_none())
        .ok_or_else(|| CoreError::InvalidList(format!("URI couldn't be resolved: {v}")))?;
    Ok(href::prn(p.def.prn_model, &p.id))
}

fn reserved(depot: &Depot, which: &str, v: &str) -> Result<Filter> {
    let mut prns = Vec::new();
    for item in super::list::split_list(v) {
        let prn = to_prn(depot, &item)?;
        match which {
            "exclusive" => prns.push(prn),
            "shared" => prns.push(format!("shared:{prn}")),
            _ => {
                prns.push(format!("shared:{prn}"));
                prns.push(prn);
            }
        }
    }
    Ok(Filter::Sql(
        format!(
            "EXISTS (SELECT 1 FROM {} WHERE {})",
            depot
                .db
                .backend()
                .json_array("tasks.reserved_resources", "r"),
            depot_store::list::in_values("r.value", prns.len())
        ),
        prns.into_iter().map(Into::into).collect(),
    ))
}

fn created(depot: &Depot, _: &str, v: &str) -> Result<Filter> {
    let b = depot.db.backend();
    Ok(Filter::Sql(
        format!(
            "EXISTS (SELECT 1 FROM {} WHERE {} = ?)",
            b.json_array("tasks.created_resources", "r"),
            b.json_field("r.value", "href")
        ),
        vec![strip_origin(v).to_string().into()],
    ))
}

impl Depot {
    /// Tasks; `created_by` limits them to one user's (what non-superusers see).
    pub async fn task_list(
        &self,
        params: &[(String, String)],
        created_by: Option<i64>,
    ) -> Result<Listed> {
        let minimal = params
            .iter()
            .any(|(k, v)| k == "minimal" && (v == "true" || v == "1"));
        let mut q = list_spec().build(self, params)?;
        if let Some(u) = created_by {
            q.filters.push(Filter::Eq("created_by".into(), u.into()));
        }
        let page = q.run::<TaskRow>(&self.db, TASK_COLUMNS, "tasks").await?;
        Ok(Listed {
            count: page.count,
            results: page
                .items
                .iter()
                .map(|t| {
                    if minimal {
                        render_minimal(t)
                    } else {
                        render(t)
                    }
                })
                .collect(),
            limit: q.limit,
            offset: q.offset,
        })
    }

    pub async fn task_read(&self, id: &str) -> Result<TaskRow> {
        self.db.task_get(id).await?.ok_or_else(|| not_found("Task"))
    }

    /// `PATCH <task> {"state": "canceled"}`: returns (task JSON, whether it was already final).
    pub async fn task_cancel(&self, id: &str, state: Option<&Value>) -> Result<(Value, bool)> {
        match state.and_then(Value::as_str) {
            Some("canceled") => {}
            None if state.is_none() => {
                return Err(CoreError::invalid("state", "This field is required."));
            }
            _ => {
                return Err(CoreError::invalid(
                    "state",
                    "The only acceptable value for 'state' is 'canceled'.",
                ));
            }
        }
        self.task_read(id).await?;
        let moved = self.cancel_task(id).await?;
        let task = self.task_read(id).await?;
        let final_already = moved.is_none() && task.state != "canceled";
        Ok((render(&task), final_already))
    }

    pub async fn task_delete(&self, id: &str) -> Result<()> {
        let t = self.task_read(id).await?;
        if matches!(t.state.as_str(), "waiting" | "running" | "canceling") {
            return Err(CoreError::Conflict(String::new()));
        }
        self.db.task_delete(id).await?;
        Ok(())
    }
}

/// The href and PRN of an object a task created.
pub fn created_entry(depot: &Depot, family: Family, pulp_type: &str, id: &str) -> (String, String) {
    match depot.plugins.type_def(family, pulp_type) {
        Some(d) => (href::of(d, id), href::prn(d.prn_model, id)),
        None => (String::new(), String::new()),
    }
}
