//! List endpoints: Pulp's filters, ordering and limit/offset pagination, declared once per
//! resource and used both to answer requests and to describe them in the OpenAPI document.

use crate::Depot;
use crate::error::{CoreError, Result};
use crate::fields::FieldErrors;
use depot_store::list::{Filter, ListQuery, Value as V};

/// Default and fallback page size.
pub const PAGE_SIZE: i64 = 100;
/// The largest page served: a bigger `limit` is lowered to this (the `next` link carries on).
/// Pulp itself has no cap; pulp-glue asks for at most 1000 and follows `next`.
pub const MAX_LIMIT: i64 = 1000;

/// Query parameters every list accepts besides its filters.
pub const RESERVED_PARAMS: &[&str] = &[
    "limit",
    "offset",
    "ordering",
    "fields",
    "exclude_fields",
    "minimal",
    "page_size",
    "format",
];

/// A filter that needs more than a comparison: gets the depot, the filter's expression and
/// the value.
pub type CustomFn = fn(&Depot, &str, &str) -> Result<Filter>;

#[derive(Clone, Copy)]
pub enum Op {
    Exact,
    IExact,
    In,
    Contains,
    IContains,
    StartsWith,
    IStartsWith,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    IsNull,
    /// `true`/`false` compared with an integer column.
    Bool,
    /// Integer equality.
    Int,
    Custom(CustomFn),
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::Custom(_) => "Custom",
            Op::In => "In",
            _ => "Op",
        })
    }
}

/// One query parameter of a list endpoint.
#[derive(Clone, Debug)]
pub struct FilterDef {
    pub param: String,
    /// SQL expression the parameter filters on (unused by custom filters).
    pub expr: String,
    pub op: Op,
}

impl FilterDef {
    pub fn new(param: impl Into<String>, expr: impl Into<String>, op: Op) -> FilterDef {
        FilterDef {
            param: param.into(),
            expr: expr.into(),
            op,
        }
    }

    /// OpenAPI schema of the parameter's value.
    pub fn schema(&self) -> serde_json::Value {
        use serde_json::json;
        match self.op {
            Op::In => json!({"type": "array", "items": {"type": "string"}}),
            Op::Bool | Op::IsNull => json!({"type": "boolean"}),
            Op::Int => json!({"type": "integer"}),
            _ => json!({"type": "string"}),
        }
    }

    /// Comma-separated `__in` lists are not exploded.
    pub fn explode(&self) -> bool {
        !matches!(self.op, Op::In)
    }
}

/// Name-like filters: exact, iexact, in, contains, icontains, startswith, istartswith.
pub fn text_filters(param: &str, expr: &str) -> Vec<FilterDef> {
    vec![
        FilterDef::new(param, expr, Op::Exact),
        FilterDef::new(format!("{param}__iexact"), expr, Op::IExact),
        FilterDef::new(format!("{param}__in"), expr, Op::In),
        FilterDef::new(format!("{param}__contains"), expr, Op::Contains),
        FilterDef::new(format!("{param}__icontains"), expr, Op::IContains),
        FilterDef::new(format!("{param}__startswith"), expr, Op::StartsWith),
        FilterDef::new(format!("{param}__istartswith"), expr, Op::IStartsWith),
    ]
}

/// Datetime filters: exact, lt, lte, gt, gte, isnull.
pub fn datetime_filters(param: &str, expr: &str) -> Vec<FilterDef> {
    vec![
        FilterDef::new(param, expr, Op::Exact),
        FilterDef::new(format!("{param}__lt"), expr, Op::Lt),
        FilterDef::new(format!("{param}__lte"), expr, Op::Lte),
        FilterDef::new(format!("{param}__gt"), expr, Op::Gt),
        FilterDef::new(format!("{param}__gte"), expr, Op::Gte),
        FilterDef::new(format!("{param}__isnull"), expr, Op::IsNull),
    ]
}

/// Filters, orderings and the expression of `pulp_created` for a list endpoint.
#[derive(Clone, Debug)]
pub struct ListSpec {
    pub filters: Vec<FilterDef>,
    /// (ordering name, SQL expression)
    pub orderings: Vec<(String, String)>,
    /// Expression for the stable newest-first tail ordering.
    pub created: String,
}

impl ListSpec {
    /// A spec with the common filters (`pulp_id__in`, `pulp_href__in`) on `id_expr`.
    pub fn new(id_expr: &str, created_expr: &str) -> ListSpec {
        ListSpec {
            filters: vec![
                FilterDef::new("pulp_id__in", id_expr, Op::In),
                FilterDef::new("pulp_href__in", id_expr, Op::Custom(href_ids)),
            ],
            orderings: Vec::new(),
            created: created_expr.to_string(),
        }
    }

    pub fn filters(mut self, f: Vec<FilterDef>) -> ListSpec {
        self.filters.extend(f);
        self
    }

    pub fn filter(mut self, f: FilterDef) -> ListSpec {
        self.filters.push(f);
        self
    }

    pub fn order(mut self, names: &[(&str, &str)]) -> ListSpec {
        for (n, e) in names {
            self.orderings.push((n.to_string(), e.to_string()));
        }
        self
    }

    /// Turn request parameters into a query. Unknown parameters, bad orderings and bad
    /// values are 400s in Pulp's shapes.
    pub fn build(&self, depot: &Depot, params: &[(String, String)]) -> Result<ListQuery> {
        let mut q = ListQuery {
            limit: PAGE_SIZE,
            ..Default::default()
        };
        let mut unknown = Vec::new();
        for (k, v) in params {
            match k.as_str() {
                "limit" | "page_size" => {
                    q.limit = v
                        .parse()
                        .ok()
                        .filter(|l: &i64| *l > 0)
                        .unwrap_or(PAGE_SIZE)
                        .min(MAX_LIMIT)
                }
                "offset" => q.offset = v.parse().ok().filter(|o: &i64| *o >= 0).unwrap_or(0),
                "ordering" => {
                    for term in v.split(',').filter(|t| !t.is_empty()) {
                        let (desc, name) = match term.strip_prefix('-') {
                            Some(n) => (true, n),
                            None => (false, term),
                        };
                        let expr = if name == "pk" || name == "pulp_id" {
                            Some(self.filters[0].expr.clone())
                        } else {
                            self.orderings
                                .iter()
                                .find(|(n, _)| n == name)
                                .map(|(_, e)| e.clone())
                        };
                        match expr {
                            Some(e) => q.order.push((e, desc)),
                            None => {
                                return Err(CoreError::Invalid(FieldErrors::one(
                                    "ordering",
                                    format!(
                                        "Select a valid choice. {term} is not one of the available choices."
                                    ),
                                )));
                            }
                        }
                    }
                }
                p if RESERVED_PARAMS.contains(&p) => {}
                p => match self.filters.iter().find(|f| f.param == p) {
                    None => unknown.push(format!("Invalid Filter: '{p}'")),
                    Some(_) if v.is_empty() => {} // an empty value disables the filter
                    Some(f) => q.filters.push(apply(depot, f, v)?),
                },
            }
        }
        if !unknown.is_empty() {
            let mut e = FieldErrors::default();
            for u in unknown {
                e.add("errors", u);
            }
            return Err(CoreError::Invalid(e));
        }
        q.order.push((self.created.clone(), true));
        q.order.push((self.filters[0].expr.clone(), true));
        Ok(q)
    }
}

fn apply(depot: &Depot, f: &FilterDef, v: &str) -> Result<Filter> {
    let e = f.expr.clone();
    let bad = |msg: &str| CoreError::Invalid(FieldErrors::one(&f.param, msg));
    Ok(match f.op {
        Op::Exact => Filter::Eq(e, V::Text(v.to_string())),
        Op::IExact => Filter::Sql(format!("lower({e}) = lower(?)"), vec![V::Text(v.into())]),
        Op::In => Filter::In(e, split_list(v).map(V::from).collect()),
        Op::Contains => Filter::Contains(e, v.to_string()),
        Op::IContains => Filter::IContains(e, v.to_string()),
        Op::StartsWith => Filter::StartsWith(e, v.to_string()),
        Op::IStartsWith => Filter::Sql(
            format!("lower(substr({e}, 1, ?)) = lower(?)"),
            vec![V::Int(v.chars().count() as i64), V::Text(v.into())],
        ),
        Op::Ne => Filter::Ne(e, V::Text(v.to_string())),
        Op::Gt => Filter::Gt(e, V::Text(normalize_time(v))),
        Op::Gte => Filter::Gte(e, V::Text(normalize_time(v))),
        Op::Lt => Filter::Lt(e, V::Text(normalize_time(v))),
        Op::Lte => Filter::Lte(e, V::Text(normalize_time(v))),
        Op::IsNull => Filter::IsNull(
            e,
            parse_bool(v).ok_or_else(|| bad("Enter a valid boolean."))?,
        ),
        Op::Bool => Filter::Eq(
            e,
            V::Bool(parse_bool(v).ok_or_else(|| bad("Enter a valid boolean."))?),
        ),
        Op::Int => Filter::Eq(e, V::Int(v.parse().map_err(|_| bad("Enter a number."))?)),
        Op::Custom(func) => func(depot, &e, v)?,
    })
}

/// `pulp_label_select` on the labels column `expr`: comma-separated terms, all of which must
/// hold: `key=value`, `key!=value` (has the key with another value), `key~text` (value
/// contains text, any case), `key` (has it), `!key` (has not). `\,` is a comma in a value.
pub fn label_select(_: &Depot, expr: &str, v: &str) -> Result<Filter> {
    label_filter(expr, v)
}

fn label_filter(expr: &str, v: &str) -> Result<Filter> {
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut chars = v.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                cur.push(',');
                chars.next();
            }
            ',' => terms.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    terms.push(cur);
    let mut group = Vec::new();
    for term in terms {
        let (negated, rest) = match term.strip_prefix('!') {
            Some(r) => (true, r),
            None => (false, term.as_str()),
        };
        let key_end = rest
            .char_indices()
            .find(|(_, c)| !(c.is_alphanumeric() || "_ .-".contains(*c)))
            .map_or(rest.len(), |(i, _)| i);
        let (key, op) = rest.split_at(key_end);
        if key.is_empty() {
            return Err(CoreError::InvalidList(format!(
                "Invalid search term: '{term}'."
            )));
        }
        use depot_store::KeyTest;
        let test = if let Some(val) = op.strip_prefix("!=") {
            Some(KeyTest::Differs(val.to_string()))
        } else if let Some(val) = op.strip_prefix('=') {
            Some(KeyTest::Equals(val.to_string()))
        } else {
            op.strip_prefix('~')
                .map(|val| KeyTest::IContains(val.to_string()))
        };
        let test = match (negated, test) {
            (true, Some(_)) => {
                return Err(CoreError::InvalidList(format!(
                    "Cannot use an operator with '!{key}'."
                )));
            }
            (true, None) => KeyTest::Absent,
            (false, Some(t)) => t,
            (false, None) => KeyTest::Present,
        };
        group.push(Filter::JsonKey {
            column: expr.to_string(),
            key: key.to_string(),
            test,
        });
    }
    Ok(Filter::Any(vec![group]))
}

/// `pulp_type` / `pulp_type__in` of the generic lists: registered types only.
pub fn pulp_type_filter(depot: &Depot, expr: &str, v: &str) -> Result<Filter> {
    let known = |t: &str| depot.plugins.all_type_names().any(|k| k == t);
    let mut types = Vec::new();
    for t in split_list(v) {
        if !known(&t) {
            return Err(CoreError::invalid(
                "pulp_type",
                format!("Select a valid choice. {t} is not one of the available choices."),
            ));
        }
        types.push(V::Text(t));
    }
    Ok(Filter::In(expr.to_string(), types))
}

/// Comma-separated values (`name__in=a,b`).
pub fn split_list(v: &str) -> impl Iterator<Item = String> + '_ {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Make user-given datetimes comparable with stored ones (`2026-11-25T16:00:00` →
/// `2026-11-25T16:00:00.000000Z`).
fn normalize_time(v: &str) -> String {
    let v = v.trim().trim_end_matches('Z');
    let v = v.replace(' ', "T");
    match v.len() {
        10 => format!("{v}T00:00:00.000000Z"),
        19 => format!("{v}.000000Z"),
        _ => format!("{v}Z"),
    }
}

/// `pulp_href__in`: the ids at the end of each href.
fn href_ids(_: &Depot, expr: &str, v: &str) -> Result<Filter> {
    let mut ids = Vec::new();
    for href in split_list(v) {
        let id = href
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .filter(|id| uuid::Uuid::parse_str(id).is_ok())
            .ok_or_else(|| CoreError::non_field(format!("URI not valid: {href}")))?;
        ids.push(V::Text(id.to_string()));
    }
    Ok(Filter::In(expr.to_string(), ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selections() {
        use depot_store::KeyTest;
        let parse = |v: &str| -> std::result::Result<Vec<KeyTest>, String> {
            let mut out = Vec::new();
            match label_filter("labels", v) {
                Ok(Filter::Any(groups)) => {
                    for f in groups.into_iter().flatten() {
                        if let Filter::JsonKey { test, .. } = f {
                            out.push(test);
                        }
                    }
                    Ok(out)
                }
                Ok(_) => Err("not a group".into()),
                Err(e) => Err(e.to_string()),
            }
        };
        assert_eq!(
            parse("env=prod,tier!=db,owner~Team,urgent,!retired").unwrap(),
            vec![
                KeyTest::Equals("prod".into()),
                KeyTest::Differs("db".into()),
                KeyTest::IContains("Team".into()),
                KeyTest::Present,
                KeyTest::Absent,
            ]
        );
        assert_eq!(
            parse("note=a\\,b").unwrap(),
            vec![KeyTest::Equals("a,b".into())]
        );
        assert!(
            parse("env=prod,")
                .unwrap_err()
                .contains("Invalid search term: ''.")
        );
        assert!(
            parse("!env=x")
                .unwrap_err()
                .contains("Cannot use an operator with '!env'.")
        );
    }

    #[test]
    fn times_are_normalized() {
        assert_eq!(normalize_time("2026-11-25"), "2026-11-25T00:00:00.000000Z");
        assert_eq!(
            normalize_time("2026-11-25T16:00:00"),
            "2026-11-25T16:00:00.000000Z"
        );
        assert_eq!(
            normalize_time("2026-11-25T16:00:00.123456Z"),
            "2026-11-25T16:00:00.123456Z"
        );
    }
}
