//! Recording preparation in bulk: one transaction for a whole claim's outcomes.
//!
//! On SQLite every commit is an fsync (`synchronous=FULL`) on the one write connection that
//! intake, webhooks and the pipeline share. Recording each prepared document in its own
//! commit spent one fsync per document there; at the ceiling (about 170 documents a second)
//! that alone kept the writer busy enough for preparation to fall behind intake.

use invois_api::submission::WireDocument;

use super::StoreError;
use super::convert::now;
use super::dialect::Sql;
use super::documents::{DOC_COLS, DocRow, Documents};
use super::types::{DocumentId, DocumentRecord, DocumentState};

impl Documents<'_> {
    /// received → prepared for each of `prepared`, by the worker holding them, in one
    /// transaction. One result per document, in order: a document this worker no longer
    /// holds (its lease ran out and another worker took it) gets the error
    /// [`Documents::mark_prepared`] would give, and does not stop the others.
    #[tracing::instrument(skip_all, fields(documents = prepared.len()))]
    pub async fn mark_prepared_many(
        &self,
        worker: &str,
        prepared: &[(DocumentId, &WireDocument)],
    ) -> Result<Vec<Result<DocumentRecord, StoreError>>, StoreError> {
        let now = now(self.clock);
        let mut tx = self.db.begin().await?;
        let mut rows = Vec::with_capacity(prepared.len());
        for (id, wire) in prepared {
            let size = i64::try_from(wire.bytes().len()).unwrap_or(i64::MAX);
            let sql = Sql::new(format!(
                "UPDATE documents SET state = 'prepared', prepared = $1, prepared_size = $2, \
                 document_hash = $3, errors = NULL, last_error = NULL, locked_by = NULL, \
                 lease_until = NULL, updated_at = $4 \
                 WHERE id = $5 AND state = 'received' AND locked_by = $6 RETURNING {DOC_COLS}"
            ))
            .bind(wire.bytes())
            .bind(size)
            .bind(wire.sha256_hex())
            .bind(now)
            .bind(id.0)
            .bind(worker);
            rows.push(tx.conn().fetch_optional::<DocRow>(sql).await?);
        }
        tx.commit().await?;
        let mut results = Vec::with_capacity(rows.len());
        for ((id, _), row) in prepared.iter().zip(rows) {
            results.push(match row {
                Some(row) => row.try_into(),
                None => Err(self
                    .explain(*id, DocumentState::Received, Some(worker), "be prepared")
                    .await),
            });
        }
        Ok(results)
    }
}
