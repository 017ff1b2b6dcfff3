//! The API resources: how each is validated, stored, rendered and listed.
//!
//! One module per resource family. Each renders Pulp's JSON (field names and order as Pulp
//! shows them) and applies Pulp's validation rules; writes that Pulp performs in a task are
//! dispatched as tasks here too (see `core_tasks`).

pub mod artifacts;
pub mod content;
pub mod content_guards;
pub mod distributions;
pub mod generic;
pub mod list;
pub mod publications;
pub mod remotes;
pub mod repositories;
pub mod task_view;
pub mod uploads;
pub mod users;

use serde_json::{Map, Value};

use crate::Depot;
use crate::error::{CoreError, Result};
use crate::fields::{Field, FieldErrors};
use crate::href;
use crate::plugin::{Family, TypeDef};

/// One page of a list.
#[derive(Debug)]
pub struct Listed {
    pub count: i64,
    pub results: Vec<Value>,
    pub limit: i64,
    pub offset: i64,
}

impl Listed {
    /// The page `q` asked for, each row rendered.
    pub fn of<T>(
        q: &depot_store::ListQuery,
        page: &depot_store::Page<T>,
        render: impl FnMut(&T) -> Value,
    ) -> Listed {
        Listed {
            count: page.count,
            results: page.items.iter().map(render).collect(),
            limit: q.limit,
            offset: q.offset,
        }
    }
}

/// A type field kept in a row's `extra`, or its default, or null.
pub fn extra_field(extra: &Map<String, Value>, f: &crate::fields::Field) -> Value {
    extra
        .get(f.name)
        .cloned()
        .or_else(|| f.default.value())
        .unwrap_or(Value::Null)
}

/// What a write request led to.
#[derive(Debug)]
pub enum Outcome {
    /// Done synchronously: 200/201 with the object.
    Done(Value),
    /// Nothing to change: 200 with the current object.
    Unchanged(Value),
    /// A task was queued: 202 `{"task": href}`.
    Task(String),
}

/// Limit a list to the objects a user may see.
pub fn restrict(q: &mut depot_store::ListQuery, id_expr: &str, visible: &crate::rbac::Visible) {
    if let crate::rbac::Visible::Only(ids) = visible {
        q.filters.push(depot_store::Filter::In(
            id_expr.to_string(),
            ids.iter().map(|i| i.clone().into()).collect(),
        ));
    }
}

/// Parse a JSON object stored as text; an empty object when it is not one.
pub fn obj(s: &str) -> Map<String, Value> {
    match serde_json::from_str(s) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

pub fn labels(s: &str) -> Value {
    Value::Object(obj(s))
}

/// `Some(href)` of a related object, rendered `null` when absent or of an unknown type.
pub fn related(depot: &Depot, family: Family, pulp_type: Option<&str>, id: Option<&str>) -> Value {
    match (pulp_type, id) {
        (Some(t), Some(id)) => match depot.plugins.type_def(family, t) {
            Some(def) => Value::from(href::of(def, id)),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// The fields of a typed resource: the family's own, then the type's.
pub fn all_fields(common: &'static [Field], def: &TypeDef) -> Vec<&'static Field> {
    common.iter().chain(def.fields.iter()).collect()
}

/// 404 for an object that is not there, in Pulp's words.
pub fn not_found(model: &str) -> CoreError {
    CoreError::NotFound(format!("No {model} matches the given query."))
}

/// Resolve a related-object href given in a request body to (type def, id), checking it names
/// an object of `family` (and, when given, one of `types`).
pub fn parse_related<'a>(
    depot: &'a Depot,
    field: &str,
    family: Family,
    value: &str,
) -> Result<href::Parsed<'a>> {
    let path = strip_origin(value);
    match href::parse(&depot.plugins, path) {
        Some(p) if p.family == family && p.version.is_none() => Ok(p),
        Some(_) => Err(CoreError::invalid(
            field,
            "Invalid hyperlink - Incorrect URL match.",
        )),
        None => Err(CoreError::invalid(
            field,
            "Invalid hyperlink - No URL match.",
        )),
    }
}

/// Absolute URLs are accepted where hrefs are; only their path counts.
pub fn strip_origin(value: &str) -> &str {
    match value.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => value,
    }
}

/// Put `value` under `key` when the check failed.
pub fn check(errors: &mut FieldErrors, ok: bool, key: &str, msg: &str) {
    if !ok {
        errors.add(key, msg);
    }
}

/// Fields of a validated body whose value differs from the current one.
pub fn changed(patch: &Map<String, Value>, current: &Map<String, Value>) -> bool {
    patch
        .iter()
        .any(|(k, v)| current.get(k).is_none_or(|c| c != v))
}
