//! The small abstraction the repositories write their SQL against: a statement ([`Sql`]: text
//! plus bound values), somewhere to run it ([`Conn`]: a pool or an open transaction) and the
//! few places where SQLite and PostgreSQL differ.
//!
//! Both dialects accept `$N` parameters, `ON CONFLICT ... DO NOTHING`, `RETURNING` and
//! window-free subqueries, so every statement is written once. The differences are:
//!
//! - the row lock in claim subqueries ([`Conn::claim_lock`]): PostgreSQL adds
//!   `FOR UPDATE SKIP LOCKED` so several instances share one queue; SQLite needs nothing,
//!   because a single `UPDATE` holds the write lock from its start and the SQLite store writes
//!   through one connection;
//! - how a write transaction starts ([`super::Db::begin`]): SQLite uses `BEGIN IMMEDIATE`, so
//!   it takes the write lock before reading and never has to upgrade a WAL read snapshot
//!   (which fails at once with `SQLITE_BUSY_SNAPSHOT` instead of waiting).
//!
//! Values are bound through [`Arg`], a closed set of the types the schema uses, so one
//! statement binds the same way on either backend without generic `sqlx::Database` bounds on
//! every function. Rows are read with `#[derive(sqlx::FromRow)]` structs, whose derived impl
//! is generic over the row type and so serves both backends ([`FromRows`]).

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments as _, FromRow, PgConnection, PgPool, SqliteConnection, SqlitePool};

/// A value bound to a statement. `None` binds SQL `NULL` of the same type.
#[derive(Debug, Clone)]
pub(crate) enum Arg<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    /// Text made for this statement (a JSON value, say).
    OwnedText(String),
    Bytes(&'a [u8]),
    Time(Option<DateTime<Utc>>),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(Some(v))
    }
}
impl From<Option<i64>> for Arg<'_> {
    fn from(v: Option<i64>) -> Self {
        Arg::Int(v)
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Some(v))
    }
}
impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(v: Option<&'a str>) -> Self {
        Arg::Text(v)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        Arg::Text(v.as_deref())
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::OwnedText(v)
    }
}
impl From<Option<String>> for Arg<'_> {
    fn from(v: Option<String>) -> Self {
        match v {
            Some(v) => Arg::OwnedText(v),
            None => Arg::Text(None),
        }
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}
impl<'a> From<&'a Vec<u8>> for Arg<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl From<DateTime<Utc>> for Arg<'_> {
    fn from(v: DateTime<Utc>) -> Self {
        Arg::Time(Some(v))
    }
}
impl From<Option<DateTime<Utc>>> for Arg<'_> {
    fn from(v: Option<DateTime<Utc>>) -> Self {
        Arg::Time(v)
    }
}

/// One statement: its text and the values for its `$N` parameters.
#[derive(Debug)]
pub(crate) struct Sql<'a> {
    text: Cow<'static, str>,
    args: Vec<Arg<'a>>,
}

impl<'a> Sql<'a> {
    /// A statement whose parameters are bound with [`Sql::bind`], in `$N` order.
    pub(crate) fn new(text: impl Into<Cow<'static, str>>) -> Sql<'a> {
        Sql {
            text: text.into(),
            args: Vec::new(),
        }
    }

    /// Binds the next `$N`.
    pub(crate) fn bind(mut self, value: impl Into<Arg<'a>>) -> Sql<'a> {
        self.args.push(value.into());
        self
    }

    /// Appends text (for statements built piece by piece, such as one `UPDATE` per batch).
    pub(crate) fn push(&mut self, text: &str) -> &mut Sql<'a> {
        self.text.to_mut().push_str(text);
        self
    }

    /// Appends the next `$N` and binds `value` to it.
    pub(crate) fn push_bind(&mut self, value: impl Into<Arg<'a>>) -> &mut Sql<'a> {
        self.args.push(value.into());
        let n = self.args.len();
        self.text.to_mut().push_str(&format!("${n}"));
        self
    }

    /// Appends `($a, $b, ...)` binding each value.
    pub(crate) fn push_list<V: Into<Arg<'a>>>(
        &mut self,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Sql<'a> {
        self.push("(");
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.push_bind(value);
        }
        self.push(")")
    }

    /// Its text, as the backend is to be given it (see [`sqlite_text`]), and its values.
    fn into_parts(self, postgres: bool) -> (Cow<'static, str>, Vec<Arg<'a>>) {
        let Sql { text, args } = self;
        if postgres {
            return (text, args);
        }
        let rewritten = match sqlite_text(&text, args.len()) {
            Cow::Owned(rewritten) => Some(rewritten),
            Cow::Borrowed(_) => None,
        };
        (rewritten.map_or(text, Cow::Owned), args)
    }
}

/// Above this many parameters a statement's text goes through [`anonymous_params`] on SQLite;
/// at or below it, SQLite's search (below) costs less than rewriting the text.
const NAMED_PARAMS_AT_MOST: usize = 16;

/// The text SQLite is given. SQLite keeps a statement's named parameters (`$N`) in a list
/// that it searches from the start for each one sqlx binds (sqlx asks each parameter's name),
/// so binding n of them takes n²/2 steps: a multi-row statement of 1,000 rows and 3,000
/// parameters took 9.2 ms to run instead of 0.39 ms. Anonymous `?` parameters are not in
/// that list. The builder's multi-row statements number their parameters in order, so they
/// can be written as `?` and bound the same way.
fn sqlite_text(text: &str, params: usize) -> Cow<'_, str> {
    if params <= NAMED_PARAMS_AT_MOST {
        return Cow::Borrowed(text);
    }
    anonymous_params(text, params).map_or(Cow::Borrowed(text), Cow::Owned)
}

/// `text` with its parameters written `?`, when they are `$1`, `$2`, ... `$params`, each once
/// and in that order (outside quotes and comments); otherwise `None`, and the text stays as
/// it is (a hand-written statement that uses a parameter twice, say).
fn anonymous_params(text: &str, params: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut next, mut copied, mut i) = (1, 0, 0);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"') => {
                // A doubled quote inside a literal closes and reopens it: the same to this scan.
                let len = bytes[i + 1..].iter().position(|&b| b == quote)?;
                i += len + 2;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i += bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(bytes.len() - i);
            }
            b'$' => {
                let digits = bytes[i + 1..]
                    .iter()
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                if text[i + 1..i + 1 + digits].parse::<usize>().ok()? != next {
                    return None;
                }
                out.push_str(&text[copied..i]);
                out.push('?');
                next += 1;
                i += 1 + digits;
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&text[copied..]);
    (next == params + 1).then_some(out)
}

fn sqlite_args(args: Vec<Arg<'_>>) -> Result<SqliteArguments<'_>, sqlx::Error> {
    let mut out = SqliteArguments::default();
    for arg in args {
        match arg {
            Arg::Int(v) => out.add(v),
            Arg::Text(v) => out.add(v),
            Arg::OwnedText(v) => out.add(v),
            Arg::Bytes(v) => out.add(v),
            Arg::Time(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

fn pg_args(args: Vec<Arg<'_>>) -> Result<PgArguments, sqlx::Error> {
    let mut out = PgArguments::default();
    for arg in args {
        match arg {
            Arg::Int(v) => out.add(v),
            Arg::Text(v) => out.add(v),
            Arg::OwnedText(v) => out.add(v),
            Arg::Bytes(v) => out.add(v),
            Arg::Time(v) => out.add(v),
        }
        .map_err(sqlx::Error::Encode)?;
    }
    Ok(out)
}

/// A row type both backends can decode (every `#[derive(sqlx::FromRow)]` struct of plain
/// column types, and tuples).
pub(crate) trait FromRows:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> FromRows for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

/// Where a statement runs: a pool (each statement on its own) or the connection of an open
/// transaction.
pub(crate) enum Conn<'c> {
    SqlitePool(&'c SqlitePool),
    PgPool(&'c PgPool),
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

impl Conn<'_> {
    /// Whether statements here run on PostgreSQL (for the few written differently there).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self, Conn::PgPool(_) | Conn::Pg(_))
    }

    /// The row lock a claim's subquery ends with.
    pub(crate) fn claim_lock(&self) -> &'static str {
        match self {
            Conn::SqlitePool(_) | Conn::Sqlite(_) => "",
            Conn::PgPool(_) | Conn::Pg(_) => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// Every row, decoded as `T`.
    pub(crate) async fn fetch_all<T: FromRows>(
        &mut self,
        sql: Sql<'_>,
    ) -> Result<Vec<T>, sqlx::Error> {
        let (text, args) = sql.into_parts(self.is_postgres());
        match self {
            Conn::SqlitePool(p) => {
                sqlx::query_as_with(&text, sqlite_args(args)?)
                    .fetch_all(*p)
                    .await
            }
            Conn::PgPool(p) => {
                sqlx::query_as_with(&text, pg_args(args)?)
                    .fetch_all(*p)
                    .await
            }
            Conn::Sqlite(c) => {
                sqlx::query_as_with(&text, sqlite_args(args)?)
                    .fetch_all(&mut **c)
                    .await
            }
            Conn::Pg(c) => {
                sqlx::query_as_with(&text, pg_args(args)?)
                    .fetch_all(&mut **c)
                    .await
            }
        }
    }

    /// The first row, if any, decoded as `T`.
    pub(crate) async fn fetch_optional<T: FromRows>(
        &mut self,
        sql: Sql<'_>,
    ) -> Result<Option<T>, sqlx::Error> {
        let (text, args) = sql.into_parts(self.is_postgres());
        match self {
            Conn::SqlitePool(p) => {
                sqlx::query_as_with(&text, sqlite_args(args)?)
                    .fetch_optional(*p)
                    .await
            }
            Conn::PgPool(p) => {
                sqlx::query_as_with(&text, pg_args(args)?)
                    .fetch_optional(*p)
                    .await
            }
            Conn::Sqlite(c) => {
                sqlx::query_as_with(&text, sqlite_args(args)?)
                    .fetch_optional(&mut **c)
                    .await
            }
            Conn::Pg(c) => {
                sqlx::query_as_with(&text, pg_args(args)?)
                    .fetch_optional(&mut **c)
                    .await
            }
        }
    }

    /// The one row a statement must return.
    pub(crate) async fn fetch_one<T: FromRows>(&mut self, sql: Sql<'_>) -> Result<T, sqlx::Error> {
        self.fetch_optional(sql)
            .await?
            .ok_or(sqlx::Error::RowNotFound)
    }

    /// Whether the statement returns any row (its columns are not read, so `SELECT 1` works
    /// alike on both backends whatever integer type each gives it).
    pub(crate) async fn exists(&mut self, sql: Sql<'_>) -> Result<bool, sqlx::Error> {
        let (text, args) = sql.into_parts(self.is_postgres());
        let found = match self {
            Conn::SqlitePool(p) => sqlx::query_with(&text, sqlite_args(args)?)
                .fetch_optional(*p)
                .await?
                .is_some(),
            Conn::PgPool(p) => sqlx::query_with(&text, pg_args(args)?)
                .fetch_optional(*p)
                .await?
                .is_some(),
            Conn::Sqlite(c) => sqlx::query_with(&text, sqlite_args(args)?)
                .fetch_optional(&mut **c)
                .await?
                .is_some(),
            Conn::Pg(c) => sqlx::query_with(&text, pg_args(args)?)
                .fetch_optional(&mut **c)
                .await?
                .is_some(),
        };
        Ok(found)
    }

    /// Runs a statement; how many rows it changed.
    pub(crate) async fn execute(&mut self, sql: Sql<'_>) -> Result<u64, sqlx::Error> {
        let (text, args) = sql.into_parts(self.is_postgres());
        let done = match self {
            Conn::SqlitePool(p) => sqlx::query_with(&text, sqlite_args(args)?)
                .execute(*p)
                .await?
                .rows_affected(),
            Conn::PgPool(p) => sqlx::query_with(&text, pg_args(args)?)
                .execute(*p)
                .await?
                .rows_affected(),
            Conn::Sqlite(c) => sqlx::query_with(&text, sqlite_args(args)?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
            Conn::Pg(c) => sqlx::query_with(&text, pg_args(args)?)
                .execute(&mut **c)
                .await?
                .rows_affected(),
        };
        Ok(done)
    }
}

/// An open write transaction (see [`super::Db::begin`]). Dropped without
/// [`Tx::commit`], it rolls back.
pub(crate) enum Tx {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
}

impl Tx {
    /// The transaction's connection, for the next statement.
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Pg(tx) => Conn::Pg(tx),
        }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Pg(tx) => tx.commit().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A multi-row statement as the builder makes it, with `rows` rows of two parameters.
    fn rows(rows: usize) -> Sql<'static> {
        let mut sql = Sql::new("INSERT INTO t (a, b) VALUES ");
        for i in 0..rows {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_list([Arg::from(i as i64), Arg::from("x")]);
        }
        sql
    }

    #[test]
    fn builder_statements_past_the_bound_are_given_to_sqlite_with_anonymous_parameters() {
        let sql = rows(9);
        let text = sqlite_text(&sql.text, sql.args.len());
        assert!(
            text.starts_with("INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"),
            "{text}"
        );
        assert_eq!(text.matches('?').count(), 18);
        assert!(!text.contains('$'), "{text}");
        // At the bound and below, the text is SQLite's as written.
        let sql = rows(8);
        assert!(matches!(sqlite_text(&sql.text, 16), Cow::Borrowed(_)));
    }

    #[test]
    fn parameters_out_of_order_repeated_or_quoted_keep_their_names() {
        let many = |text: &str| anonymous_params(text, 3);
        // Used twice, as INSERT_DOCUMENT does with its timestamp.
        assert_eq!(many("VALUES ($1, $2, $3, $3)"), None);
        assert_eq!(many("VALUES ($2, $1, $3)"), None);
        // Fewer or more than bound.
        assert_eq!(many("VALUES ($1, $2)"), None);
        assert_eq!(many("VALUES ($1, $2, $3, $4)"), None);
        // A `$name` parameter.
        assert_eq!(many("VALUES ($1, $2, $3, $x)"), None);
        // In literals, quoted names and comments, `$` is not a parameter.
        assert_eq!(
            many(
                "SELECT json_extract(x, '$.a''$9'), \"$7\" -- $5\n FROM t WHERE a IN ($1, $2, $3)"
            )
            .as_deref(),
            Some("SELECT json_extract(x, '$.a''$9'), \"$7\" -- $5\n FROM t WHERE a IN (?, ?, ?)")
        );
        // An unclosed quote is left to SQLite to refuse.
        assert_eq!(many("SELECT '$1, $2, $3"), None);
        // Ten and more: the digits are read whole.
        let text: Vec<String> = (1..=12).map(|n| format!("${n}")).collect();
        assert_eq!(
            anonymous_params(&text.join(","), 12).as_deref(),
            Some("?,?,?,?,?,?,?,?,?,?,?,?")
        );
    }

    #[tokio::test]
    async fn a_statement_written_with_anonymous_parameters_binds_each_value_to_its_place() {
        let pool = SqlitePool::connect("sqlite::memory:").await.unwrap();
        let mut conn = Conn::SqlitePool(&pool);
        conn.execute(Sql::new("CREATE TABLE t (a INTEGER, b TEXT)"))
            .await
            .unwrap();
        let mut sql = Sql::new("INSERT INTO t (a, b) VALUES ");
        for i in 0..1000_i64 {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_list([Arg::from(i), Arg::from(format!("row {i}"))]);
        }
        assert_eq!(conn.execute(sql).await.unwrap(), 1000);
        let rows: Vec<(i64, String)> = conn
            .fetch_all(Sql::new("SELECT a, b FROM t ORDER BY a"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1000);
        assert!(rows.iter().all(|(a, b)| *b == format!("row {a}")));
        // An IN list past the bound, after a hand-written parameter: still in order.
        let mut sql = Sql::new("SELECT a, b FROM t WHERE b <> $1 AND a IN ").bind("row 7");
        sql.push_list((0..40_i64).map(|i| i * 3));
        let picked: Vec<(i64, String)> = conn.fetch_all(sql).await.unwrap();
        assert_eq!(picked.len(), 40);
        assert!(picked.iter().all(|(a, _)| a % 3 == 0));
    }
}
