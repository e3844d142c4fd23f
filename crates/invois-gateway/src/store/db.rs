//! The database handle: the backend a URL chose, opened once at start-up (its pools
//! connected and its migrations run once), and shared by every repository and the rate
//! budget.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::dialect::{Conn, Tx};
use super::{Backend, StoreError, redact_url};

/// An open database: SQLite or PostgreSQL, chosen once. Cheap to clone (the pools are shared).
#[derive(Clone)]
pub struct Db {
    inner: Inner,
}

#[derive(Clone)]
enum Inner {
    /// Writes go through a single connection, so every write (including a claim) is
    /// serialised inside the process; reads use a separate small pool and never block behind
    /// writes. Another process or store on the same file waits up to the busy timeout.
    Sqlite {
        write: SqlitePool,
        read: SqlitePool,
        path: String,
    },
    /// One pool: claims lock rows with `FOR UPDATE SKIP LOCKED`, so several gateway
    /// instances share one queue without waiting on each other.
    Postgres { pool: PgPool, target: String },
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL itself: it may carry a password.
        match &self.inner {
            Inner::Sqlite { path, .. } => f
                .debug_struct("SqliteStore")
                .field("path", path)
                .finish_non_exhaustive(),
            Inner::Postgres { target, .. } => f
                .debug_struct("PgStore")
                .field("target", target)
                .finish_non_exhaustive(),
        }
    }
}

impl Db {
    /// Opens the database a URL names, `sqlite://PATH` (or `sqlite:PATH`) or `postgres://...`
    /// (`postgresql://`), and runs its migrations.
    pub async fn open(url: &str) -> Result<Db, StoreError> {
        match Backend::of(url) {
            Some(Backend::Sqlite) => Db::open_sqlite(SqliteConnectOptions::from_str(url)?).await,
            Some(Backend::Postgres) => Db::open_postgres(PgConnectOptions::from_str(url)?).await,
            None => Err(StoreError::UnsupportedUrl(redact_url(url))),
        }
    }

    /// Opens (creating if missing) a SQLite file with explicit options (WAL,
    /// `synchronous=FULL`, `create_if_missing`, foreign keys and a busy timeout are applied
    /// on top) and runs the migrations.
    pub async fn open_sqlite(options: SqliteConnectOptions) -> Result<Db, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: every commit is on disk (the WAL fsynced) before the call returns. NORMAL
            // loses the last commits on power loss, and the gateway acts on a commit at
            // once: an intent is followed by the POST, an intake by the ERP's 202, an outcome
            // by the next intent. A lost intent made a restarted gateway send documents
            // again, which MyInvois marks invalid as duplicates. The whole database, not the
            // intent and outcome transactions alone: the writes all share one connection, so
            // a FULL commit also flushes every NORMAL commit before it, and the only commits
            // it would save a flush on (claims, poll schedules) are few and cheap next to the
            // HTTP calls around them (docs/performance.md has the measured cost).
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            // Documents and payloads are kilobytes to megabytes, so the default 2 MB page
            // cache keeps little: each transaction read its pages back from the OS. A larger
            // cache and memory-mapped reads keep the single writer's transactions short.
            .pragma("cache_size", "-65536")
            .pragma("mmap_size", "268435456");
        let path = options.get_filename().display().to_string();
        // No ping before each acquire (sqlx's default, made for connections over a network
        // that can drop while idle): a SQLite connection is a file handle in this process,
        // and each ping was one more round trip to its thread on every write and read,
        // about 6% of intake's insert (docs/performance.md).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(Duration::from_secs(60))
            .after_release(|conn, _meta| Box::pin(release_write(conn)))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Db {
            inner: Inner::Sqlite { write, read, path },
        })
    }

    /// Connects to PostgreSQL with explicit options (tests use this to set `search_path`) and
    /// runs the migrations.
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Db, StoreError> {
        let target = format!(
            "{}@{}:{}/{}",
            options.get_username(),
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(10)
            // Fail an unreachable server in seconds rather than hanging the start.
            .acquire_timeout(Duration::from_secs(10))
            // A commit must be durable before the gateway acts on it (the POST follows the
            // intent). `synchronous_commit=off` (server, database or role setting) would let
            // a server crash lose it, so the gateway's sessions turn it back on; every other
            // value (`local`, `remote_write`, `on`, `remote_apply`) flushes locally and is
            // left as the operator chose.
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query(
                        "SELECT set_config('synchronous_commit', 'on', false) \
                         WHERE current_setting('synchronous_commit') = 'off'",
                    )
                    .execute(conn)
                    .await
                    .map(|_| ())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Db {
            inner: Inner::Postgres { pool, target },
        })
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.inner {
            Inner::Sqlite { .. } => Backend::Sqlite,
            Inner::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The SQLite write pool, for tests and diagnostics that must look at the tables
    /// themselves.
    pub fn sqlite_pool(&self) -> Option<&SqlitePool> {
        match &self.inner {
            Inner::Sqlite { write, .. } => Some(write),
            Inner::Postgres { .. } => None,
        }
    }

    /// The PostgreSQL pool (the shared rate budget uses it; so do tests).
    pub fn pg_pool(&self) -> Option<&PgPool> {
        match &self.inner {
            Inner::Sqlite { .. } => None,
            Inner::Postgres { pool, .. } => Some(pool),
        }
    }

    /// Closes every connection (tests close before dropping their schema).
    pub async fn close(&self) {
        match &self.inner {
            Inner::Sqlite { write, read, .. } => {
                read.close().await;
                write.close().await;
            }
            Inner::Postgres { pool, .. } => pool.close().await,
        }
    }

    /// Where reads run: SQLite's read pool, so they never queue behind the single writer.
    pub(crate) fn reader(&self) -> Conn<'_> {
        match &self.inner {
            Inner::Sqlite { read, .. } => Conn::SqlitePool(read),
            Inner::Postgres { pool, .. } => Conn::PgPool(pool),
        }
    }

    /// Where single-statement writes run.
    pub(crate) fn writer(&self) -> Conn<'_> {
        match &self.inner {
            Inner::Sqlite { write, .. } => Conn::SqlitePool(write),
            Inner::Postgres { pool, .. } => Conn::PgPool(pool),
        }
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite (the write lock first, so no
    /// read snapshot ever needs upgrading), a plain `BEGIN` on PostgreSQL.
    pub(crate) async fn begin(&self) -> Result<Tx, sqlx::Error> {
        match &self.inner {
            Inner::Sqlite { write, .. } => {
                Ok(Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?))
            }
            Inner::Postgres { pool, .. } => Ok(Tx::Pg(pool.begin().await?)),
        }
    }
}

/// Whether the write connection may go back to the pool: not when it is still inside a
/// transaction. SQLite rolls a transaction back by itself when a statement in it fails with
/// `SQLITE_FULL` (or `SQLITE_IOERR`, `SQLITE_BUSY`, `SQLITE_NOMEM`); the `ROLLBACK` that
/// sqlx sends when the `Transaction` is dropped then fails ("no transaction is active"), and
/// sqlx 0.8 keeps counting the connection as inside a transaction, so every later
/// `BEGIN IMMEDIATE` on it failed ("begin_with at non-zero transaction depth") and the
/// gateway's only writer stayed wedged after the disk had space again. Closing it lets the
/// pool open a fresh one.
async fn release_write(conn: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    // The dropped transaction's ROLLBACK is queued on the connection's worker; a ping runs
    // after it, so the count read next is settled.
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!(
            "closing the SQLite write connection: its transaction was rolled back by SQLite itself (disk full or I/O error)"
        );
        return Ok(false);
    }
    Ok(true)
}

/// SQLite's primary result code for "database or disk is full" (`SQLITE_FULL`); an extended
/// code keeps it in its low byte.
const SQLITE_FULL: i64 = 13;

impl StoreError {
    /// Whether the database refused the write for want of space: SQLite's `SQLITE_FULL` (the
    /// disk, or `max_page_count`), PostgreSQL's `53100 disk_full`. Nothing of the failed
    /// transaction was kept, and the same call succeeds once space is freed, so the ERP API
    /// answers it `503 store_full` (retry later), not as the gateway's own failure.
    pub fn is_out_of_space(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(e)) = self else {
            return false;
        };
        if e.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
            return e
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .is_some_and(|code| code & 0xff == SQLITE_FULL);
        }
        e.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .is_some_and(|pg| pg.code() == "53100")
    }
}
