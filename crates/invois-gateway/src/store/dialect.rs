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
        let Sql { text, args } = sql;
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
        let Sql { text, args } = sql;
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
        let Sql { text, args } = sql;
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
        let Sql { text, args } = sql;
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
