//! One query interface over both SQL backends, SQLite and PostgreSQL.
//!
//! Queries are written once, with `?` placeholders, in the SQL both engines understand; the
//! few places where they differ ask [`Backend`] for the right spelling. A query records its
//! text and its arguments and is dispatched to the backend's own driver when it runs, so
//! each engine keeps its native types and speed (no row is converted through a generic
//! value). For PostgreSQL the `?` placeholders are numbered (`$1`, `$2`, ...) on the way.

use std::borrow::Cow;
use std::marker::PhantomData;

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Decode, FromRow, Postgres, Sqlite, Type};

/// Which engine holds the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    /// A `FROM` item yielding the elements of a JSON array of strings as `alias.value`.
    pub fn json_array(self, expr: &str, alias: &str) -> String {
        match self {
            Backend::Sqlite => format!("json_each({expr}) {alias}"),
            Backend::Postgres => {
                format!("json_array_elements_text(CAST({expr} AS json)) AS {alias}(value)")
            }
        }
    }

    /// A `FROM` item yielding the entries of a JSON object as `alias.key`, `alias.value`
    /// (values as text).
    pub fn json_object(self, expr: &str, alias: &str) -> String {
        match self {
            Backend::Sqlite => format!("json_each({expr}) {alias}"),
            Backend::Postgres => {
                format!("json_each_text(CAST({expr} AS json)) AS {alias}(key, value)")
            }
        }
    }

    /// The text of a top-level field of a JSON object column (NULL when absent).
    pub fn json_field(self, expr: &str, field: &str) -> String {
        debug_assert!(field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        match self {
            Backend::Sqlite => format!("json_extract({expr}, '$.{field}')"),
            Backend::Postgres => format!("(CAST({expr} AS json) ->> '{field}')"),
        }
    }

    /// Whether `needle` occurs in `haystack`, case-sensitively.
    pub fn contains(self, haystack: &str, needle: &str) -> String {
        match self {
            Backend::Sqlite => format!("instr({haystack}, {needle}) > 0"),
            Backend::Postgres => format!("strpos({haystack}, {needle}) > 0"),
        }
    }

    /// `LIKE`, ignoring case (SQLite's `LIKE` already does, for ASCII).
    pub fn ilike(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }

    /// The first `n` characters of `expr` (`n` a bound integer).
    pub fn prefix(self, expr: &str, n: &str) -> String {
        match self {
            Backend::Sqlite => format!("substr({expr}, 1, {n})"),
            Backend::Postgres => format!("left({expr}, CAST({n} AS integer))"),
        }
    }

    /// A byte-string constant, from hex digits.
    pub fn bytes(self, hex: &str) -> String {
        debug_assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
        match self {
            Backend::Sqlite => format!("x'{hex}'"),
            Backend::Postgres => format!("'\\x{hex}'::bytea"),
        }
    }

    /// The UTF-8 bytes of a text expression.
    pub fn text_bytes(self, expr: &str) -> String {
        match self {
            Backend::Sqlite => format!("CAST({expr} AS BLOB)"),
            Backend::Postgres => format!("convert_to({expr}, 'UTF8')"),
        }
    }

    /// A join that SQLite's planner must keep in the written order (`CROSS JOIN`);
    /// PostgreSQL plans an ordinary join.
    pub fn ordered_join(self) -> &'static str {
        match self {
            Backend::Sqlite => "CROSS JOIN",
            Backend::Postgres => "JOIN",
        }
    }

    /// Unary plus on a column stops SQLite's planner from using its index; PostgreSQL has
    /// no such operator on text (and plans by statistics instead).
    pub fn no_index(self, column: &str) -> String {
        match self {
            Backend::Sqlite => format!("+{column}"),
            Backend::Postgres => column.to_string(),
        }
    }
}

/// A pool of connections to one of the backends.
#[derive(Clone, Debug)]
pub enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Pool {
    pub fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }

    /// Take a lock every process on this database respects, held until the guard is dropped:
    /// `exclusive`, or shared with other shared holders. On PostgreSQL a session advisory
    /// lock on a connection of its own, closed (not returned to the pool) on drop, so the
    /// lock ends with the guard or with a process that dies. On SQLite one process owns the
    /// database and the guard holds nothing.
    pub async fn session_lock(
        &self,
        key: &str,
        exclusive: bool,
    ) -> Result<SessionLock, sqlx::Error> {
        let Pool::Postgres(p) = self else {
            return Ok(SessionLock(None));
        };
        let mut conn = p.acquire().await?;
        conn.close_on_drop();
        let sql = if exclusive {
            "SELECT pg_advisory_lock(hashtextextended($1, 0))"
        } else {
            "SELECT pg_advisory_lock_shared(hashtextextended($1, 0))"
        };
        sqlx::query(sql).bind(key).execute(&mut *conn).await?;
        Ok(SessionLock(Some(conn)))
    }
}

/// A lock held across processes until dropped (see [`Pool::session_lock`]).
#[derive(Debug)]
pub struct SessionLock(#[allow(dead_code)] Option<sqlx::pool::PoolConnection<Postgres>>);

/// A transaction on one of the backends; rolled back when dropped uncommitted.
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }

    /// Hold `key` until this transaction ends, so transactions of any process that take the
    /// same key run one after another (what SQLite's single writer gives for free). Keys are
    /// taken in the order given; take several in sorted order.
    pub async fn serialize(&mut self, key: &str) -> Result<(), sqlx::Error> {
        if let Tx::Postgres(t) = self {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
                .bind(key)
                .execute(&mut **t)
                .await?;
        }
        Ok(())
    }
}

/// Where a query runs: a pool (any connection) or an open transaction.
pub enum On<'c> {
    Pool(&'c Pool),
    Tx(&'c mut Tx),
}

impl<'c> From<&'c Pool> for On<'c> {
    fn from(p: &'c Pool) -> Self {
        On::Pool(p)
    }
}

impl<'c> From<&'c mut Tx> for On<'c> {
    fn from(t: &'c mut Tx) -> Self {
        On::Tx(t)
    }
}

impl<'c, 'd> From<&'c mut &'d mut Tx> for On<'c> {
    fn from(t: &'c mut &'d mut Tx) -> Self {
        On::Tx(t)
    }
}

/// A bound argument, typed even when NULL (PostgreSQL checks parameter types).
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

/// What can be bound to a `?`.
pub trait IntoArg {
    fn into_arg(self) -> Arg;
}

/// The typed NULL of a bindable type, for `Option<T>`.
pub trait Nullable {
    fn null() -> Arg;
}

impl IntoArg for Arg {
    fn into_arg(self) -> Arg {
        self
    }
}

impl IntoArg for String {
    fn into_arg(self) -> Arg {
        Arg::Text(Some(self))
    }
}
impl IntoArg for &str {
    fn into_arg(self) -> Arg {
        Arg::Text(Some(self.to_string()))
    }
}
impl IntoArg for &[u8] {
    fn into_arg(self) -> Arg {
        Arg::Bytes(Some(self.to_vec()))
    }
}
impl IntoArg for Vec<u8> {
    fn into_arg(self) -> Arg {
        Arg::Bytes(Some(self))
    }
}
impl IntoArg for i64 {
    fn into_arg(self) -> Arg {
        Arg::Int(Some(self))
    }
}
impl IntoArg for i32 {
    fn into_arg(self) -> Arg {
        Arg::Int(Some(self.into()))
    }
}
impl IntoArg for u32 {
    fn into_arg(self) -> Arg {
        Arg::Int(Some(self.into()))
    }
}
impl IntoArg for bool {
    fn into_arg(self) -> Arg {
        Arg::Bool(Some(self))
    }
}
impl<T: IntoArg + Clone> IntoArg for &T {
    fn into_arg(self) -> Arg {
        self.clone().into_arg()
    }
}
impl<T: IntoArg + Nullable> IntoArg for Option<T> {
    fn into_arg(self) -> Arg {
        match self {
            Some(v) => v.into_arg(),
            None => T::null(),
        }
    }
}

impl Nullable for String {
    fn null() -> Arg {
        Arg::Text(None)
    }
}
impl Nullable for str {
    fn null() -> Arg {
        Arg::Text(None)
    }
}
impl Nullable for [u8] {
    fn null() -> Arg {
        Arg::Bytes(None)
    }
}
impl Nullable for Vec<u8> {
    fn null() -> Arg {
        Arg::Bytes(None)
    }
}
impl Nullable for i64 {
    fn null() -> Arg {
        Arg::Int(None)
    }
}
impl Nullable for i32 {
    fn null() -> Arg {
        Arg::Int(None)
    }
}
impl Nullable for bool {
    fn null() -> Arg {
        Arg::Bool(None)
    }
}
impl<T: Nullable + ?Sized> Nullable for &T {
    fn null() -> Arg {
        T::null()
    }
}

/// `?` placeholders numbered for PostgreSQL; quoted text and identifiers are left alone.
pub fn numbered(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0u32;
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' => {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                }
                _ => out.push(c),
            },
        }
    }
    Cow::Owned(out)
}

macro_rules! bind_all {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Run `$make(sql)` with its arguments bound, then `.$method(executor)`, on whichever
/// backend `$on` is.
macro_rules! dispatch {
    ($on:expr, $sql:expr, $args:expr, $make:expr, $method:ident) => {
        dispatch!($on, $sql, $args, $make, $method, |r| r)
    };
    ($on:expr, $sql:expr, $args:expr, $make:expr, $method:ident, $map:expr) => {{
        let sql = $sql;
        let args = $args;
        match $on {
            On::Pool(Pool::Sqlite(p)) => bind_all!(($make)(&sql), args).$method(p).await.map($map),
            On::Pool(Pool::Postgres(p)) => {
                let sql = numbered(&sql);
                bind_all!(($make)(&sql), args).$method(p).await.map($map)
            }
            On::Tx(Tx::Sqlite(t)) => bind_all!(($make)(&sql), args)
                .$method(&mut **t)
                .await
                .map($map),
            On::Tx(Tx::Postgres(t)) => {
                let sql = numbered(&sql);
                bind_all!(($make)(&sql), args)
                    .$method(&mut **t)
                    .await
                    .map($map)
            }
        }
    }};
}

/// A statement and its arguments, run for its effect.
#[derive(Clone, Debug)]
#[must_use = "a query does nothing until it is executed"]
pub struct Query {
    sql: String,
    args: Vec<Arg>,
}

/// What an executed statement did.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

pub fn query(sql: impl AsRef<str>) -> Query {
    Query {
        sql: sql.as_ref().to_string(),
        args: Vec::new(),
    }
}

impl Query {
    pub fn bind(mut self, v: impl IntoArg) -> Self {
        self.args.push(v.into_arg());
        self
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub async fn execute<'c>(self, on: impl Into<On<'c>>) -> Result<Done, sqlx::Error> {
        dispatch!(on.into(), self.sql, self.args, sqlx::query, execute, |r| {
            Done {
                rows: r.rows_affected(),
            }
        })
    }
}

/// Rows decodable from both backends.
pub trait Record:
    Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}
impl<T> Record for T where
    T: Send + Unpin + for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow>
{
}

/// Single values decodable from both backends.
pub trait Scalar:
    Send
    + Unpin
    + for<'r> Decode<'r, Sqlite>
    + Type<Sqlite>
    + for<'r> Decode<'r, Postgres>
    + Type<Postgres>
{
}
impl<T> Scalar for T where
    T: Send
        + Unpin
        + for<'r> Decode<'r, Sqlite>
        + Type<Sqlite>
        + for<'r> Decode<'r, Postgres>
        + Type<Postgres>
{
}

/// A query whose rows are decoded as `T`.
#[must_use = "a query does nothing until it is fetched"]
pub struct QueryAs<T> {
    q: Query,
    _row: PhantomData<fn() -> T>,
}

pub fn query_as<T: Record>(sql: impl AsRef<str>) -> QueryAs<T> {
    QueryAs {
        q: query(sql),
        _row: PhantomData,
    }
}

impl<T: Record> QueryAs<T> {
    pub fn bind(mut self, v: impl IntoArg) -> Self {
        self.q.args.push(v.into_arg());
        self
    }

    pub async fn fetch_all<'c>(self, on: impl Into<On<'c>>) -> Result<Vec<T>, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_as::<_, T>,
            fetch_all
        )
    }

    pub async fn fetch_one<'c>(self, on: impl Into<On<'c>>) -> Result<T, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_as::<_, T>,
            fetch_one
        )
    }

    pub async fn fetch_optional<'c>(self, on: impl Into<On<'c>>) -> Result<Option<T>, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_as::<_, T>,
            fetch_optional
        )
    }
}

/// A query whose rows are one value each.
#[must_use = "a query does nothing until it is fetched"]
pub struct QueryScalar<T> {
    q: Query,
    _value: PhantomData<fn() -> T>,
}

pub fn query_scalar<T: Scalar>(sql: impl AsRef<str>) -> QueryScalar<T> {
    QueryScalar {
        q: query(sql),
        _value: PhantomData,
    }
}

impl<T: Scalar> QueryScalar<T> {
    pub fn bind(mut self, v: impl IntoArg) -> Self {
        self.q.args.push(v.into_arg());
        self
    }

    pub async fn fetch_all<'c>(self, on: impl Into<On<'c>>) -> Result<Vec<T>, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_scalar::<_, T>,
            fetch_all
        )
    }

    pub async fn fetch_one<'c>(self, on: impl Into<On<'c>>) -> Result<T, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_scalar::<_, T>,
            fetch_one
        )
    }

    pub async fn fetch_optional<'c>(self, on: impl Into<On<'c>>) -> Result<Option<T>, sqlx::Error> {
        dispatch!(
            on.into(),
            self.q.sql,
            self.q.args,
            sqlx::query_scalar::<_, T>,
            fetch_optional
        )
    }
}

/// A statement assembled piece by piece, values bound as they are pushed.
#[derive(Clone, Debug, Default)]
pub struct Builder {
    sql: String,
    args: Vec<Arg>,
}

impl Builder {
    pub fn new(sql: impl AsRef<str>) -> Builder {
        Builder {
            sql: sql.as_ref().to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.sql.push_str(sql.as_ref());
        self
    }

    pub fn push_bind(&mut self, v: impl IntoArg) -> &mut Self {
        self.sql.push('?');
        self.args.push(v.into_arg());
        self
    }

    /// Bind a value to a `?` already in the text.
    pub fn bind(&mut self, v: impl IntoArg) -> &mut Self {
        self.args.push(v.into_arg());
        self
    }

    /// `VALUES (...), (...)`: one parenthesised row per item, its values pushed by `row`.
    pub fn push_values<I, F>(&mut self, items: I, mut row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_>, I::Item),
    {
        self.sql.push_str("VALUES ");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.sql.push_str(", ");
            }
            self.sql.push('(');
            row(
                Separated {
                    b: self,
                    sep: ", ",
                    first: true,
                },
                item,
            );
            self.sql.push(')');
        }
        self
    }

    /// Pieces separated by `sep`, pushed through the returned handle.
    pub fn separated(&mut self, sep: &'static str) -> Separated<'_> {
        Separated {
            b: self,
            sep,
            first: true,
        }
    }

    pub fn sql(&self) -> &str {
        &self.sql
    }

    pub fn build(self) -> Query {
        Query {
            sql: self.sql,
            args: self.args,
        }
    }

    pub fn build_query_as<T: Record>(self) -> QueryAs<T> {
        QueryAs {
            q: self.build(),
            _row: PhantomData,
        }
    }

    pub fn build_query_scalar<T: Scalar>(self) -> QueryScalar<T> {
        QueryScalar {
            q: self.build(),
            _value: PhantomData,
        }
    }
}

/// Pieces pushed with a separator between them (the values of one row of
/// [`Builder::push_values`] are separated by commas).
pub struct Separated<'a> {
    b: &'a mut Builder,
    sep: &'static str,
    first: bool,
}

impl Separated<'_> {
    fn separate(&mut self) {
        if !self.first {
            self.b.sql.push_str(self.sep);
        }
        self.first = false;
    }

    pub fn push_bind(&mut self, v: impl IntoArg) -> &mut Self {
        self.separate();
        self.b.push_bind(v);
        self
    }

    /// Raw SQL as the next piece (a constant or an expression).
    pub fn push(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.separate();
        self.b.push(sql);
        self
    }

    pub fn push_unseparated(&mut self, sql: impl AsRef<str>) -> &mut Self {
        self.b.push(sql);
        self
    }

    pub fn push_bind_unseparated(&mut self, v: impl IntoArg) -> &mut Self {
        self.b.push_bind(v);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert!(matches!(numbered("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn values_rows_are_separated() {
        let mut b = Builder::new("INSERT INTO t (a, b) ");
        b.push_values([(1i64, "x"), (2, "y")], |mut v, (a, s)| {
            v.push_bind(a).push_bind(s);
        });
        assert_eq!(b.sql(), "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)");
        assert_eq!(
            b.build().args,
            vec![
                Arg::Int(Some(1)),
                Arg::Text(Some("x".into())),
                Arg::Int(Some(2)),
                Arg::Text(Some("y".into()))
            ]
        );
    }

    #[test]
    fn nulls_keep_their_type() {
        assert_eq!(None::<i64>.into_arg(), Arg::Int(None));
        assert_eq!(None::<&str>.into_arg(), Arg::Text(None));
        assert_eq!(
            (&Some("a".to_string())).into_arg(),
            Arg::Text(Some("a".into()))
        );
    }
}
