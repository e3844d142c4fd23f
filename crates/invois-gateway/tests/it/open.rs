//! Opening stores by URL: dispatch on the scheme, migrations on reopen, durability across a
//! reopen, and no password in `Debug` or errors.

use std::io::Write as _;

use invois_clock::Clock;
use invois_gateway::store::{self, DocumentFormat, DocumentKey, NewDocument, StoreError};

fn doc(internal_id: &str) -> NewDocument {
    NewDocument {
        issuer_tin: "C1".to_owned(),
        type_code: "01".to_owned(),
        internal_id: internal_id.to_owned(),
        version: 1,
        format: DocumentFormat::Xml,
        client_id: "client".to_owned(),
        on_behalf_of: Some("C1".to_owned()),
        received: b"<Invoice/>".to_vec(),
    }
}

#[tokio::test]
async fn sqlite_url_opens_creates_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-name.db");
    let url = format!("sqlite://{}", path.display());
    let first = store::open(&url, Clock::real()).await.unwrap();
    assert!(path.exists(), "create_if_missing");
    let stored = first.documents().insert(doc("R1")).await.unwrap().document;
    assert!(format!("{first:?}").contains("SqliteStore"));
    drop(first);

    // Reopening runs the (already applied) migrations again and finds the data.
    let second = store::open(&url, Clock::real()).await.unwrap();
    let key = DocumentKey {
        issuer_tin: "C1".to_owned(),
        type_code: "01".to_owned(),
        internal_id: "R1".to_owned(),
    };
    let found = second.documents().find(&key).await.unwrap().unwrap();
    assert_eq!(found, stored);
    assert_eq!(found.on_behalf_of.as_deref(), Some("C1"));
    assert_eq!(found.format, DocumentFormat::Xml);
}

#[tokio::test]
async fn unknown_scheme_is_refused_without_its_password() {
    let err = store::open("mysql://root:hunter2@db/invois", Clock::real())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnsupportedUrl(_)), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn postgres_connection_errors_do_not_show_the_password() {
    // Port 1 refuses connections: the error must not echo the URL's password.
    let err = store::open("postgres://app:hunter2@127.0.0.1:1/invois", Clock::real())
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}

#[tokio::test]
async fn postgres_store_debug_does_not_show_the_password() {
    let Ok(url) = std::env::var("TEST_DATABASE_URL") else {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED postgres_store_debug_does_not_show_the_password: TEST_DATABASE_URL is not set"
        );
        return;
    };
    let mut with_password = url::Url::parse(&url).unwrap();
    with_password.set_password(Some("hunter2")).unwrap();
    // Opening runs the migrations in the URL's default schema; a separate schema keeps this
    // away from other tests' tables.
    let schema = format!("invois_open_{}", hex::encode(rand::random::<[u8; 6]>()));
    let admin = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    with_password
        .query_pairs_mut()
        .append_pair("options", &format!("-c search_path={schema}"));
    let opened = store::open(with_password.as_str(), Clock::real()).await;
    let shown = match &opened {
        Ok(s) => format!("{s:?}"),
        Err(e) => format!("{e} {e:?}"),
    };
    drop(opened);
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("PgStore"), "{shown}");
}

#[tokio::test]
async fn sqlite_in_memory_reads_what_it_wrote() {
    let s = store::open("sqlite::memory:", Clock::real()).await.unwrap();
    let stored = s.documents().insert(doc("M1")).await.unwrap().document;
    assert_eq!(s.documents().get(stored.id).await.unwrap(), stored);
    // A second in-memory store is a different database.
    let other = store::open("sqlite::memory:", Clock::real()).await.unwrap();
    assert!(matches!(
        other.documents().get(stored.id).await,
        Err(StoreError::NotFound(_))
    ));
}

/// A database written before submission payloads moved to their own table keeps them: the
/// migration copies each payload across and records its size.
#[tokio::test]
async fn sqlite_migration_keeps_payloads_written_before_the_move() {
    use sqlx::Connection as _;

    let (dir, mut conn) = sqlite_before(20261121000006).await;
    let path = dir.path().join("old.db");
    let payload = b"{\"documents\":[\"the exact body\"]}".to_vec();
    sqlx::query(
        "INSERT INTO submissions (client_id, payload, payload_sha256, document_count, state, \
         worker, created_at, updated_at) VALUES ('client', $1, 'abc', 1, 'accepted', 'w', \
         '2026-11-21T00:00:00Z', '2026-11-21T00:00:00Z')",
    )
    .bind(&payload)
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();

    let store = store::open(&format!("sqlite://{}", path.display()), Clock::real())
        .await
        .unwrap();
    let subs = store
        .submissions()
        .list(&store::SubmissionFilter::default())
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].payload_bytes, payload.len() as i64);
    assert_eq!(subs[0].payload_sha256, "abc");
    assert_eq!(
        store.submissions().payload(subs[0].id).await.unwrap(),
        payload
    );
}

/// The migration that moved a document's bytes to their own tables.
const BYTES_MOVED: i64 = 20261206000090;

/// Two documents as stored before their bytes moved: one prepared, one only received.
const OLD_DOCUMENTS: &str = "INSERT INTO documents (issuer_tin, type_code, internal_id, \
     version, format, client_id, on_behalf_of, received, received_sha256, prepared, \
     prepared_size, document_hash, state, attempts, created_at, updated_at) VALUES \
     ('C1', '01', 'INV-1', 1, 'xml', 'client', '', $1, 'r1', $2, 13, 'h1', 'prepared', 1, \
      '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z'), \
     ('C1', '01', 'INV-2', 1, 'xml', 'client', '', $3, 'r2', NULL, NULL, NULL, 'received', 0, \
      '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z')";

/// What the old rows held must read back the same after the move, and the moved bytes must
/// follow the documents through a state change.
async fn assert_bytes_survive_the_move(store: &store::Store) {
    let docs = store.documents();
    let key = |id: &str| DocumentKey {
        issuer_tin: "C1".to_owned(),
        type_code: "01".to_owned(),
        internal_id: id.to_owned(),
    };
    let one = docs.find(&key("INV-1")).await.unwrap().expect("INV-1");
    assert_eq!(one.received, b"<Invoice>1</Invoice>");
    assert_eq!(one.prepared.as_deref(), Some(&b"<Invoice>1s/>"[..]));
    let two = docs.find(&key("INV-2")).await.unwrap().expect("INV-2");
    assert_eq!(two.received, b"<Invoice>2</Invoice>");
    assert_eq!(two.prepared, None);
    // A new document after the move stores and reads its bytes the new way.
    let three = docs.insert(doc("INV-3")).await.unwrap();
    assert!(three.created);
    assert_eq!(
        docs.get(three.document.id).await.unwrap().received,
        b"<Invoice/>"
    );
}

/// A SQLite database `old.db` in a new directory, migrated up to (not including) `version`.
async fn sqlite_before(version: i64) -> (tempfile::TempDir, sqlx::SqliteConnection) {
    use sqlx::Connection as _;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    migrations_before(sqlx::migrate!("./migrations/sqlite"), version)
        .run(&mut conn)
        .await
        .unwrap();
    (dir, conn)
}

/// The migrations before `version`: a database as an earlier release left it.
fn migrations_before(
    mut migrator: sqlx::migrate::Migrator,
    version: i64,
) -> sqlx::migrate::Migrator {
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    assert!(!migrator.migrations.is_empty());
    migrator
}

#[tokio::test]
async fn sqlite_migration_moves_document_bytes_to_their_own_tables() {
    use sqlx::Connection as _;

    let (dir, mut conn) = sqlite_before(BYTES_MOVED).await;
    let path = dir.path().join("old.db");
    sqlx::query(OLD_DOCUMENTS)
        .bind(b"<Invoice>1</Invoice>".to_vec())
        .bind(b"<Invoice>1s/>".to_vec())
        .bind(b"<Invoice>2</Invoice>".to_vec())
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();

    let store = store::Store::open(&format!("sqlite://{}", path.display()), Clock::real())
        .await
        .unwrap();
    assert_bytes_survive_the_move(&store).await;
}

#[tokio::test]
async fn postgres_migration_moves_document_bytes_to_their_own_tables() {
    crate::common::with_pg_schema(
        "postgres_migration_moves_document_bytes_to_their_own_tables",
        |options| async move {
            // A pool, not a connection: the migrator's borrow of a connection is not `Send`
            // across this spawned case.
            let pool = sqlx::PgPool::connect_with(options.clone()).await.unwrap();
            migrations_before(sqlx::migrate!("./migrations/postgres"), BYTES_MOVED)
                .run(&pool)
                .await
                .unwrap();
            sqlx::query(OLD_DOCUMENTS)
                .bind(b"<Invoice>1</Invoice>".to_vec())
                .bind(b"<Invoice>1s/>".to_vec())
                .bind(b"<Invoice>2</Invoice>".to_vec())
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            let store = crate::common::pg_store(options, Clock::real()).await;
            assert_bytes_survive_the_move(&store).await;
            store.close().await;
        },
    )
    .await;
}
