//! Recovery of work whose worker vanished: one pass over every leased table.

use invois_clock::Clock;

use super::convert::now;
use super::dialect::Sql;
use super::types::LeaseRecovery;
use super::{Db, StoreError};

/// Recovers work whose worker vanished (lease expired): received and batched documents
/// become claimable, intents become `outcome_unknown` (never resent blindly), webhook
/// deliveries become pending. Also folds the document counts the triggers keep.
#[tracing::instrument(skip_all)]
pub(crate) async fn release_expired(db: &Db, clock: &Clock) -> Result<LeaseRecovery, StoreError> {
    // Here because this runs every few seconds on every instance, whatever else it does.
    super::Documents { db, clock }.fold_counts().await?;
    let now = now(clock);
    // Usually nothing has expired: a read says so without taking the writer.
    let any = Sql::new(
        "SELECT 1 AS one FROM documents WHERE state = 'received' \
         AND locked_by IS NOT NULL AND lease_until < $1 \
         UNION ALL SELECT 1 FROM documents WHERE state = 'batched' \
         AND submission_id IS NULL AND lease_until < $1 \
         UNION ALL SELECT 1 FROM submissions WHERE state = 'intent' AND lease_until < $1 \
         UNION ALL SELECT 1 FROM webhook_deliveries WHERE state = 'delivering' \
         AND lease_until < $1 \
         LIMIT 1",
    )
    .bind(now);
    if !db.reader().exists(any).await? {
        return Ok(LeaseRecovery::default());
    }
    let mut tx = db.begin().await?;
    let received = Sql::new(
        "UPDATE documents SET locked_by = NULL, lease_until = NULL, updated_at = $1 \
         WHERE state = 'received' AND locked_by IS NOT NULL AND lease_until < $1",
    );
    let received_released = tx.conn().execute(received.bind(now)).await?;
    let batched = Sql::new(
        "UPDATE documents SET state = 'prepared', locked_by = NULL, lease_until = NULL, \
         updated_at = $1 WHERE state = 'batched' AND submission_id IS NULL AND lease_until < $1",
    );
    let batched_released = tx.conn().execute(batched.bind(now)).await?;
    // The worker may have POSTed before it vanished: never resend, reconcile.
    let intents = Sql::new(
        "UPDATE submissions SET state = 'outcome_unknown', \
         last_error = 'the worker lease expired before an outcome was recorded', \
         lease_until = NULL, updated_at = $1 WHERE state = 'intent' AND lease_until < $1",
    );
    let submissions_unknown = tx.conn().execute(intents.bind(now)).await?;
    let hooks = Sql::new(
        "UPDATE webhook_deliveries SET state = 'pending', locked_by = NULL, lease_until = NULL, \
         updated_at = $1 WHERE state = 'delivering' AND lease_until < $1",
    );
    let webhooks_released = tx.conn().execute(hooks.bind(now)).await?;
    tx.commit().await?;
    Ok(LeaseRecovery {
        received_released,
        batched_released,
        submissions_unknown,
        webhooks_released,
    })
}
