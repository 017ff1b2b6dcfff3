//! Moving an embedded depot's metadata (SQLite) into PostgreSQL: every table's rows, in an
//! order that satisfies foreign keys, in one PostgreSQL transaction, then counted again on
//! both sides. Blobs are copied by the caller (see `depot admin migrate`).

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use sqlx::{Column, Row};

use crate::sql::Pool;
use crate::{Db, Result, StoreError};

/// Tables that describe processes or migrations, not the depot's data.
const NOT_COPIED: &[&str] = &["_sqlx_migrations", "workers"];

/// Rows inserted per statement (PostgreSQL takes at most 65,535 parameters).
const BATCH: usize = 500;

/// One table's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Bool,
    Float,
    Bytes,
    Text,
}

enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Float(Option<f64>),
    Bytes(Option<Vec<u8>>),
    Text(Option<String>),
}

fn conflict(msg: String) -> StoreError {
    StoreError::Conflict(msg)
}

/// Copy every row of `from` (SQLite) into `to` (PostgreSQL, freshly migrated and empty).
/// `progress` hears each table once copied.
pub async fn copy_database(
    from: &Db,
    to: &Db,
    mut progress: impl FnMut(&TableCopy),
) -> Result<Vec<TableCopy>> {
    let (Pool::Sqlite(src), Pool::Postgres(dst)) = (&from.write, &to.write) else {
        return Err(conflict(
            "migrate copies an SQLite database into a PostgreSQL one".into(),
        ));
    };
    let tables = tables_in_order(src).await?;
    for t in &tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{t}\""))
            .fetch_one(dst)
            .await
            .map_err(|e| conflict(format!("the target database lacks table {t}: {e}")))?;
        if n > 0 {
            return Err(conflict(format!(
                "the target database is not empty: table {t} has {n} rows"
            )));
        }
    }
    let mut tx = dst.begin().await?;
    let mut copied = Vec::new();
    for table in &tables {
        let kinds = target_columns(&mut tx, table).await?;
        let without_rowid: bool = sqlx::query_scalar::<_, String>(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
        )
        .bind(table)
        .fetch_one(src)
        .await?
        .to_uppercase()
        .contains("WITHOUT ROWID");
        let order = if without_rowid { "" } else { " ORDER BY rowid" };
        let select = format!("SELECT * FROM \"{table}\"{order}");
        let mut rows = sqlx::query(&select).fetch(src);
        let mut columns: Option<Vec<(String, Kind)>> = None;
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await? {
            let cols = match &columns {
                Some(c) => c,
                None => {
                    let mut c = Vec::new();
                    for col in row.columns() {
                        let name = col.name().to_string();
                        let kind = *kinds.get(&name).ok_or_else(|| {
                            conflict(format!(
                                "column {table}.{name} has no counterpart in PostgreSQL"
                            ))
                        })?;
                        c.push((name, kind));
                    }
                    columns.insert(c)
                }
            };
            let mut values = Vec::with_capacity(cols.len());
            for (i, (_, kind)) in cols.iter().enumerate() {
                // SQLite's types are the values'; read each as the target column's type
                values.push(match kind {
                    Kind::Int => Value::Int(row.try_get_unchecked(i)?),
                    Kind::Bool => Value::Bool(row.try_get_unchecked(i)?),
                    Kind::Float => Value::Float(row.try_get_unchecked(i)?),
                    Kind::Bytes => Value::Bytes(row.try_get_unchecked(i)?),
                    Kind::Text => Value::Text(row.try_get_unchecked(i)?),
                });
            }
            batch.push(values);
            n += 1;
            if batch.len() == BATCH {
                insert(&mut tx, table, cols, std::mem::take(&mut batch)).await?;
            }
        }
        if let Some(cols) = &columns
            && !batch.is_empty()
        {
            insert(&mut tx, table, cols, batch).await?;
        }
        // identity columns continue after the copied ids
        let identities: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND is_identity = 'YES'",
        )
        .bind(table)
        .fetch_all(&mut *tx)
        .await?;
        for col in identities {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('\"{table}\"', '{col}'), \
                 coalesce(max(\"{col}\"), 0) + 1, false) FROM \"{table}\""
            ))
            .execute(&mut *tx)
            .await?;
        }
        let c = TableCopy {
            table: table.clone(),
            rows: n,
        };
        progress(&c);
        copied.push(c);
    }
    // verified: the same number of rows on both sides before anything is committed
    for c in &copied {
        let have: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", c.table))
            .fetch_one(&mut *tx)
            .await?;
        let had: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{}\"", c.table))
            .fetch_one(src)
            .await?;
        if have as u64 != c.rows || had as u64 != c.rows {
            return Err(conflict(format!(
                "table {} changed during the copy ({had} rows, {have} copied)",
                c.table
            )));
        }
    }
    tx.commit().await?;
    Ok(copied)
}

async fn insert(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
    cols: &[(String, Kind)],
    rows: Vec<Vec<Value>>,
) -> Result<()> {
    let names: Vec<String> = cols.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(format!(
        "INSERT INTO \"{table}\" ({}) ",
        names.join(", ")
    ));
    q.push_values(rows, |mut b, row| {
        for v in row {
            match v {
                Value::Int(v) => b.push_bind(v),
                Value::Bool(v) => b.push_bind(v),
                Value::Float(v) => b.push_bind(v),
                Value::Bytes(v) => b.push_bind(v),
                Value::Text(v) => b.push_bind(v),
            };
        }
    });
    q.build()
        .execute(&mut **tx)
        .await
        .map_err(|e| conflict(format!("copying {table}: {e}")))?;
    Ok(())
}

/// The target table's columns and how to read values for them.
async fn target_columns(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
    table: &str,
) -> Result<BTreeMap<String, Kind>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1",
    )
    .bind(table)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(name, ty)| {
            let kind = match ty.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Int,
                "boolean" => Kind::Bool,
                "double precision" | "real" => Kind::Float,
                "bytea" => Kind::Bytes,
                _ => Kind::Text,
            };
            (name, kind)
        })
        .collect())
}

/// The SQLite database's tables, each after the tables its foreign keys point at.
async fn tables_in_order(src: &sqlx::SqlitePool) -> Result<Vec<String>> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
         ORDER BY name",
    )
    .fetch_all(src)
    .await?;
    let names: Vec<String> = names
        .into_iter()
        .filter(|n| !NOT_COPIED.contains(&n.as_str()))
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for t in &names {
        let parents: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)")
                .bind(t)
                .fetch_all(src)
                .await?;
        deps.insert(
            t.clone(),
            parents
                .into_iter()
                .filter(|p| p != t && names.contains(p))
                .collect(),
        );
    }
    let mut order = Vec::new();
    let mut done = BTreeSet::new();
    while order.len() < names.len() {
        let ready: Vec<String> = names
            .iter()
            .filter(|t| !done.contains(*t) && deps[*t].iter().all(|p| done.contains(p)))
            .cloned()
            .collect();
        if ready.is_empty() {
            return Err(conflict("the tables' foreign keys form a cycle".into()));
        }
        for t in ready {
            done.insert(t.clone());
            order.push(t);
        }
    }
    Ok(order)
}
