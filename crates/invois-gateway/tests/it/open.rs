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

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let mut before = sqlx::migrate!("./migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 20261121000006)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    assert!(!before.migrations.is_empty());
    before.run(&mut conn).await.unwrap();
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
