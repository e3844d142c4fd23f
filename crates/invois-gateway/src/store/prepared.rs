//! Recording preparation in bulk: one transaction for a whole claim's outcomes.
//!
//! On SQLite every commit is an fsync (`synchronous=FULL`) on the one write connection that
//! intake, webhooks and the pipeline share. Recording each prepared document in its own
//! commit spent one fsync per document there; at the ceiling (about 170 documents a second)
//! that alone kept the writer busy enough for preparation to fall behind intake.

use std::collections::HashSet;

use invois_api::submission::WireDocument;

use super::StoreError;
use super::convert::now;
use super::dialect::{Arg, Sql, Tx};
use super::documents::Documents;
use super::types::{DocumentId, DocumentState};

impl Documents<'_> {
    /// received → prepared for each of `prepared`, by the worker holding them, in one
    /// transaction of two statements per 200 documents (each statement is a round trip to
    /// SQLite's worker thread, which cost more than the update itself). One result per
    /// document, in order: a document this worker no longer holds (its lease ran out and
    /// another worker took it) gets the error [`Documents::mark_prepared`] would give, and
    /// does not stop the others.
    #[tracing::instrument(skip_all, fields(documents = prepared.len()))]
    pub async fn mark_prepared_many(
        &self,
        worker: &str,
        prepared: &[(DocumentId, &WireDocument)],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let mut done = HashSet::with_capacity(prepared.len());
        for chunk in prepared.chunks(200) {
            let mut sql = Sql::new("WITH v(doc_id, doc_size, doc_hash) AS (VALUES ");
            for (i, (id, wire)) in chunk.iter().enumerate() {
                sql.push(if i == 0 { "" } else { ", " });
                let size = i64::try_from(wire.bytes().len()).unwrap_or(i64::MAX);
                sql.push_list([
                    Arg::from(id.0),
                    Arg::from(size),
                    Arg::from(wire.sha256_hex()),
                ]);
            }
            sql.push(
                ") UPDATE documents SET state = 'prepared', prepared_size = v.doc_size, document_hash = v.doc_hash, errors = NULL, \
                 last_error = NULL, locked_by = NULL, lease_until = NULL, updated_at = ",
            );
            sql.push_bind(now);
            sql.push(
                " FROM v WHERE documents.id = v.doc_id AND documents.state = 'received' \
                 AND documents.locked_by = ",
            );
            sql.push_bind(worker);
            sql.push(" RETURNING id");
            let ids: Vec<(i64,)> = tx.conn().fetch_all(sql).await?;
            let chunk_done: HashSet<i64> = ids.into_iter().map(|(id,)| id).collect();
            store_bytes(&mut tx, chunk, &chunk_done).await?;
            done.extend(chunk_done);
        }
        tx.commit().await?;
        let mut results = Vec::with_capacity(prepared.len());
        for (id, _) in prepared {
            results.push(if done.contains(&id.0) {
                Ok(())
            } else {
                Err(self
                    .explain(*id, DocumentState::Received, Some(worker), "be prepared")
                    .await)
            });
        }
        Ok(results)
    }
}

/// The prepared bytes of the documents of `chunk` that were recorded as prepared (`done`), in
/// their own table (see the migration `document_bytes`). A replace rather than an insert:
/// the bytes are always those of the document's latest preparation, whatever an earlier one
/// left (a retry deletes them, but a claim must not fail on a leftover).
async fn store_bytes(
    tx: &mut Tx,
    chunk: &[(DocumentId, &WireDocument)],
    done: &HashSet<i64>,
) -> Result<(), StoreError> {
    let mut sql = Sql::new("INSERT INTO document_prepared_bytes (document_id, bytes) VALUES ");
    let mut rows = 0;
    for (id, wire) in chunk {
        if !done.contains(&id.0) {
            continue;
        }
        sql.push(if rows == 0 { "" } else { ", " });
        sql.push_list([Arg::from(id.0), Arg::from(wire.bytes())]);
        rows += 1;
    }
    if rows == 0 {
        return Ok(());
    }
    sql.push(" ON CONFLICT (document_id) DO UPDATE SET bytes = excluded.bytes");
    tx.conn().execute(sql).await?;
    Ok(())
}
