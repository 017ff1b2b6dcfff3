//! Filtered, ordered, paginated listing of any table: what every Pulp list endpoint needs.
//!
//! Column names come from static resource descriptions, never from a request, so they are
//! pasted into SQL; values are always bound.

use crate::sql::{Arg, Backend, Builder, Record};
use crate::{Db, Result};

/// A bound value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Bool(bool),
    Null,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// One condition of a list query.
#[derive(Clone, Debug)]
pub enum Filter {
    Eq(String, Value),
    Ne(String, Value),
    /// Case-sensitive substring.
    Contains(String, String),
    /// Case-insensitive substring.
    IContains(String, String),
    StartsWith(String, String),
    In(String, Vec<Value>),
    IsNull(String, bool),
    Gt(String, Value),
    Gte(String, Value),
    Lt(String, Value),
    Lte(String, Value),
    /// A raw condition with `?` placeholders, in SQL both backends understand (see
    /// [`Backend`] for the spellings that differ).
    Sql(String, Vec<Value>),
    /// A test of one key of a JSON object column (labels).
    JsonKey {
        column: String,
        key: String,
        test: KeyTest,
    },
    /// Any of the groups holds, each group being all of its filters (an empty list: nothing).
    Any(Vec<Vec<Filter>>),
}

/// What `Filter::JsonKey` asks of the key.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyTest {
    Present,
    Absent,
    Equals(String),
    /// Present with another value.
    Differs(String),
    /// Present, its value containing this text in any case.
    IContains(String),
}

/// Conditions, ordering and a page window.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub filters: Vec<Filter>,
    /// (expression, descending)
    pub order: Vec<(String, bool)>,
    pub limit: i64,
    pub offset: i64,
}

/// One page of results and the total count matching the filters.
#[derive(Debug)]
pub struct Page<T> {
    pub count: i64,
    pub items: Vec<T>,
}

fn bind(args: &mut Vec<Arg>, v: &Value) {
    args.push(match v {
        Value::Text(s) => Arg::Text(Some(s.clone())),
        Value::Int(i) => Arg::Int(Some(*i)),
        Value::Bool(b) => Arg::Bool(Some(*b)),
        Value::Null => Arg::Text(None),
    });
}

/// `expr IN (?, ?, ...)` for `n` values to bind (FALSE when there are none), for
/// `Filter::Sql` conditions.
pub fn in_values(expr: &str, n: usize) -> String {
    if n == 0 {
        return "FALSE".into();
    }
    format!("{expr} IN ({})", vec!["?"; n].join(", "))
}

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Append one filter's condition to `sql`, binding its values.
fn render(b: Backend, f: &Filter, sql: &mut String, args: &mut Vec<Arg>) {
    match f {
        Filter::Eq(c, v) => {
            sql.push_str(&format!("{c} = ?"));
            bind(args, v);
        }
        Filter::Ne(c, v) => {
            sql.push_str(&format!("{c} IS DISTINCT FROM ?"));
            bind(args, v);
        }
        Filter::Contains(c, s) => {
            sql.push_str(&b.contains(c, "?"));
            bind(args, &Value::Text(s.clone()));
        }
        Filter::IContains(c, s) => {
            sql.push_str(&format!("{c} {} ? ESCAPE '\\'", b.ilike()));
            bind(args, &Value::Text(format!("%{}%", like_escape(s))));
        }
        Filter::StartsWith(c, s) => {
            sql.push_str(&format!("{} = ?", b.prefix(c, "?")));
            bind(args, &Value::Int(s.chars().count() as i64));
            bind(args, &Value::Text(s.clone()));
        }
        Filter::In(c, vs) => {
            if vs.is_empty() {
                sql.push_str("FALSE");
            } else {
                let marks = vec!["?"; vs.len()].join(", ");
                sql.push_str(&format!("{c} IN ({marks})"));
                for v in vs {
                    bind(args, v);
                }
            }
        }
        Filter::IsNull(c, is) => {
            sql.push_str(&format!("{c} IS {}NULL", if *is { "" } else { "NOT " }));
        }
        Filter::Gt(c, v) | Filter::Gte(c, v) | Filter::Lt(c, v) | Filter::Lte(c, v) => {
            let op = match f {
                Filter::Gt(..) => ">",
                Filter::Gte(..) => ">=",
                Filter::Lt(..) => "<",
                _ => "<=",
            };
            sql.push_str(&format!("{c} {op} ?"));
            bind(args, v);
        }
        Filter::Sql(s, vs) => {
            sql.push('(');
            sql.push_str(s);
            sql.push(')');
            for v in vs {
                bind(args, v);
            }
        }
        Filter::JsonKey { column, key, test } => {
            let (not, cond, value) = match test {
                KeyTest::Present => ("", "", None),
                KeyTest::Absent => ("NOT ", "", None),
                KeyTest::Equals(v) => ("", " AND j.value = ?", Some(v.clone())),
                KeyTest::Differs(v) => ("", " AND j.value IS DISTINCT FROM ?", Some(v.clone())),
                KeyTest::IContains(v) => (
                    "",
                    if b == Backend::Postgres {
                        " AND j.value ILIKE ? ESCAPE '\\'"
                    } else {
                        " AND j.value LIKE ? ESCAPE '\\'"
                    },
                    Some(format!("%{}%", like_escape(v))),
                ),
            };
            sql.push_str(&format!(
                "{not}EXISTS (SELECT 1 FROM {} WHERE j.key = ?{cond})",
                b.json_object(column, "j")
            ));
            bind(args, &Value::Text(key.clone()));
            if let Some(v) = value {
                bind(args, &Value::Text(v));
            }
        }
        Filter::Any(groups) => {
            if groups.is_empty() {
                sql.push_str("FALSE");
                return;
            }
            sql.push('(');
            for (i, group) in groups.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                sql.push('(');
                if group.is_empty() {
                    sql.push_str("TRUE");
                }
                for (j, f) in group.iter().enumerate() {
                    if j > 0 {
                        sql.push_str(" AND ");
                    }
                    render(b, f, sql, args);
                }
                sql.push(')');
            }
            sql.push(')');
        }
    }
}

impl ListQuery {
    /// Render the WHERE clause and its arguments.
    fn where_clause(&self, b: Backend) -> (String, Vec<Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for (i, f) in self.filters.iter().enumerate() {
            sql.push_str(if i == 0 { " WHERE " } else { " AND " });
            render(b, f, &mut sql, &mut args);
        }
        (sql, args)
    }

    /// Run against `from` (a table or join) selecting `select`, returning one page and the count.
    pub async fn run<T: Record>(&self, db: &Db, select: &str, from: &str) -> Result<Page<T>> {
        let (where_sql, args) = self.where_clause(db.backend());
        let mut count = Builder::new(format!("SELECT count(*) FROM {from}{where_sql}"));
        let mut sql = format!("SELECT {select} FROM {from}{where_sql}");
        if !self.order.is_empty() {
            let order: Vec<String> = self
                .order
                .iter()
                .map(|(c, desc)| format!("{c} {}", if *desc { "DESC" } else { "ASC" }))
                .collect();
            sql.push_str(" ORDER BY ");
            sql.push_str(&order.join(", "));
        }
        sql.push_str(&format!(
            " LIMIT {} OFFSET {}",
            self.limit.max(0),
            self.offset.max(0)
        ));
        let mut items = Builder::new(sql);
        for a in args {
            count.bind(a.clone());
            items.bind(a);
        }
        let count: i64 = count.build_query_scalar().fetch_one(&db.read).await?;
        let items = items.build_query_as::<T>().fetch_all(&db.read).await?;
        Ok(Page { count, items })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_clause_binds_values_and_escapes_like() {
        let q = ListQuery {
            filters: vec![
                Filter::Eq("name".into(), "a".into()),
                Filter::IContains("name".into(), "50%_x".into()),
                Filter::In("id".into(), vec![]),
            ],
            ..Default::default()
        };
        let (sql, _) = q.where_clause(Backend::Sqlite);
        assert_eq!(sql, " WHERE name = ? AND name LIKE ? ESCAPE '\\' AND FALSE");
        let (sql, _) = q.where_clause(Backend::Postgres);
        assert_eq!(
            sql,
            " WHERE name = ? AND name ILIKE ? ESCAPE '\\' AND FALSE"
        );
    }

    #[test]
    fn any_and_json_keys() {
        let q = ListQuery {
            filters: vec![
                Filter::Any(vec![
                    vec![Filter::Eq("t".into(), "a".into())],
                    vec![
                        Filter::Eq("t".into(), "b".into()),
                        Filter::In("id".into(), vec!["1".into()]),
                    ],
                ]),
                Filter::JsonKey {
                    column: "labels".into(),
                    key: "k".into(),
                    test: KeyTest::Absent,
                },
                Filter::Any(vec![]),
            ],
            ..Default::default()
        };
        let (sql, _) = q.where_clause(Backend::Sqlite);
        assert_eq!(
            sql,
            " WHERE ((t = ?) OR (t = ? AND id IN (?))) AND NOT EXISTS (SELECT 1 FROM json_each(labels) j WHERE j.key = ?) AND FALSE"
        );
        let (sql, _) = q.where_clause(Backend::Postgres);
        assert!(sql.contains("json_each_text(CAST(labels AS json)) AS j(key, value)"));
    }
}
