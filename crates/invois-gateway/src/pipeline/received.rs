//! Received documents: the loop that finds what other taxpayers issued TO the gateway's
//! taxpayer and keeps them in the store ([`crate::store::Received`]).
//!
//! It searches with Search Documents, direction `Received` (the call LHDN meant for
//! retrieval), never Get Recent Documents (for troubleshooting only; README §4.2). Get
//! Notifications is the trigger: a `Document received` or `Document cancelled` notification
//! brings the next search forward; without one, a search still runs every
//! [`ReceivedConfig::sweep_every`], so a missed notification costs a delay, never a
//! document.
//!
//! Each search starts [`ReceivedConfig::overlap`] before the end of the previous one, which
//! the store keeps ([`crate::store::ReceivedSync`]), so a restart continues rather than
//! searching everything again. The default overlap covers the rejection window: a document
//! validated some time after its submission is not missed, and a change that still matters
//! (its supplier cancelling it, a rejection made in the portal) is seen while it matters.
//! Rows are keyed by uuid, so the overlap only updates them.
//!
//! Search Documents allows 12 calls a minute per client id, and reconciliation needs it to
//! settle unknown submission outcomes before anything new is sent: while a submission awaits
//! reconciliation, the sweep waits. Every call goes through the client's rate budget.

use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use futures::StreamExt as _;
use invois_api::documents::{InvoiceDirection, MAX_SEARCH_RANGE_DAYS};
use invois_api::platform::notification_type;
use invois_api::windows::REJECTION_WINDOW;
use invois_client::Client;

use super::{Pipeline, PipelineError};
use crate::clients::LoginMode;
use crate::store::{ReceivedListing, ReceivedSync, ReceivedUpsert};

/// How the received-documents loop runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedConfig {
    /// Whether the loop runs at all (it never does with intermediary credentials: MyInvois
    /// never shows an intermediary a taxpayer's received documents).
    pub enabled: bool,
    /// How often Get Notifications is asked whether something arrived.
    pub notifications_every: Duration,
    /// How often a search runs when no notification asked for one.
    pub sweep_every: Duration,
    /// How far before the previous search's end each search starts.
    pub overlap: Duration,
    /// How far back the very first search reaches.
    pub first_lookback: Duration,
}

impl Default for ReceivedConfig {
    fn default() -> ReceivedConfig {
        let hour = Duration::from_secs(3600);
        ReceivedConfig {
            enabled: true,
            notifications_every: Duration::from_secs(60),
            sweep_every: Duration::from_secs(15 * 60),
            // The rejection window and an hour's slack for late validation.
            overlap: REJECTION_WINDOW.to_std().unwrap_or(72 * hour) + hour,
            // One Search Documents window.
            first_lookback: Duration::from_secs(
                u64::try_from(MAX_SEARCH_RANGE_DAYS).unwrap_or(31) * 24 * 3600,
            ),
        }
    }
}

/// What one pass of the loop did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceivedPass {
    /// Whether a notification asked for a search.
    pub notified: bool,
    /// Whether a search ran.
    pub searched: bool,
    /// Documents the search listed.
    pub listed: u64,
    /// New documents.
    pub inserted: u64,
    /// Documents whose listing changed.
    pub updated: u64,
}

/// The notifications that mean a received document appeared or changed.
const TRIGGERS: [u32; 2] = [
    notification_type::DOCUMENT_RECEIVED,
    notification_type::DOCUMENT_CANCELLED,
];

/// How far back the first look at notifications reaches.
const FIRST_NOTIFICATIONS: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// Pages of notifications read per pass (100 each): more means a backlog a search covers.
const MAX_NOTIFICATION_PAGES: u32 = 10;

fn span(d: Duration) -> chrono::TimeDelta {
    chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)
}

impl Pipeline {
    /// Whether this pipeline's credentials can see received documents at all.
    pub(super) fn receives(&self) -> bool {
        self.inner.config.received.enabled && self.inner.clients.mode() == LoginMode::Taxpayer
    }

    /// One pass: asks Get Notifications what arrived, and searches when a notification or
    /// the schedule says so (and no reconciliation needs Search Documents' budget). The
    /// sweep's progress is stored, so the next pass (in this process or after a restart)
    /// continues from there.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn received_once(&self) -> Result<ReceivedPass, PipelineError> {
        let mut pass = ReceivedPass::default();
        if !self.receives() {
            return Ok(pass);
        }
        let inner = &self.inner;
        let config = &inner.config.received;
        let login = inner.clients.client_id().to_owned();
        let client = inner.clients.client(None)?;
        let received = inner.store.received();
        let mut sync = received.sync_state(&login).await?;
        let now = inner.clock.now();
        let before = sync.clone();
        pass.notified = notified(&client, &mut sync, now).await;
        let due = pass.notified || sync.next_sweep_at.is_none_or(|at| at <= now);
        if due
            && inner
                .store
                .submissions()
                .needing_reconcile(1)
                .await?
                .is_empty()
        {
            let from = sync.searched_to.map_or_else(
                || now - span(config.first_lookback),
                |to| to - span(config.overlap),
            );
            let to = ceil_second(now);
            self.search_received(&client, from, to, &mut pass).await?;
            sync.searched_to = Some(to);
            sync.next_sweep_at = Some(now + span(config.sweep_every));
            pass.searched = true;
        } else if due {
            // The notification is counted as seen, so keep its search due: it runs as soon
            // as reconciliation is done with Search Documents.
            sync.next_sweep_at = Some(now);
            tracing::debug!("received documents: waiting for reconciliation to finish");
        }
        if sync != before {
            received.save_sync(&login, &sync).await?;
        }
        Ok(pass)
    }

    /// Lists every document received in `[from, to]` (the client walks the range in 31-day
    /// windows, every page) and records each.
    async fn search_received(
        &self,
        client: &Client,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        pass: &mut ReceivedPass,
    ) -> Result<(), PipelineError> {
        let stream = client
            .documents()
            .search()
            .submission_dates(from, to)
            .direction(InvoiceDirection::Received)
            .into_stream();
        futures::pin_mut!(stream);
        let received = self.inner.store.received();
        while let Some(item) = stream.next().await {
            let listed = item?;
            pass.listed += 1;
            match received.upsert(&ReceivedListing::from(&listed)).await? {
                ReceivedUpsert::Inserted => {
                    pass.inserted += 1;
                    tracing::info!(
                        document.uuid = %listed.uuid,
                        issuer.tin = %listed.issuer_tin,
                        "received document {} from {}",
                        listed.uuid,
                        listed.issuer_tin
                    );
                }
                ReceivedUpsert::Updated => pass.updated += 1,
                ReceivedUpsert::Unchanged => {}
            }
        }
        Ok(())
    }

    /// The loop's step for [`Pipeline::run`]: never "busy", since a pass leaves nothing
    /// behind for the next one to do at once.
    pub(super) async fn received_step(self) -> Result<bool, PipelineError> {
        let pass = self.received_once().await?;
        if pass.searched {
            tracing::debug!(
                listed = pass.listed,
                inserted = pass.inserted,
                updated = pass.updated,
                notified = pass.notified,
                "received documents searched"
            );
        }
        Ok(false)
    }
}

/// `t` moved up to a whole second. MyInvois reads and writes times in whole seconds, so a
/// range ending at `now` itself would end at the second before it and miss what happened
/// in this one.
fn ceil_second(t: DateTime<Utc>) -> DateTime<Utc> {
    let whole = t.trunc_subsecs(0);
    if whole == t {
        t
    } else {
        whole + chrono::TimeDelta::seconds(1)
    }
}

/// Whether Get Notifications has a `Document received` or `Document cancelled` the sweep has
/// not seen; moves `sync.notified_to` (and `notified_ids`) forward. A failure is logged and
/// reads as "no": notifications only bring a search forward, and the schedule still runs
/// one.
async fn notified(client: &Client, sync: &mut ReceivedSync, now: DateTime<Utc>) -> bool {
    let from = sync.notified_to.unwrap_or(now - FIRST_NOTIFICATIONS);
    let to = ceil_second(now);
    if from >= to {
        return false;
    }
    let mut seen = Seen {
        newest: sync.notified_to,
        ids: sync.notified_ids.clone(),
    };
    let mut triggered = false;
    for page_no in 1..=MAX_NOTIFICATION_PAGES {
        let page = match client
            .platform()
            .notifications()
            .dates(from, to)
            .page_no(page_no)
            .page_size(100)
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!(error = %e, "received documents: Get Notifications failed");
                break;
            }
        };
        for n in &page.items {
            let unseen = sync.notified_to.is_none_or(|at| n.creation_date_time > at)
                || (sync.notified_to == Some(n.creation_date_time)
                    && !sync.notified_ids.contains(&n.notification_id));
            triggered |= unseen && TRIGGERS.contains(&n.type_id);
            seen.add(n.creation_date_time, &n.notification_id);
        }
        if !page.has_next {
            break;
        }
        if page_no == MAX_NOTIFICATION_PAGES {
            // A backlog this long: a search covers whatever the rest announced.
            triggered = true;
        }
    }
    sync.notified_to = seen.newest;
    sync.notified_ids = seen.ids;
    triggered
}

/// The newest notification time seen, and the ids seen at that time.
struct Seen {
    newest: Option<DateTime<Utc>>,
    ids: Vec<String>,
}

impl Seen {
    fn add(&mut self, at: DateTime<Utc>, id: &str) {
        match self.newest {
            Some(newest) if at < newest => {}
            Some(newest) if at == newest => {
                if !self.ids.iter().any(|i| i == id) {
                    self.ids.push(id.to_owned());
                }
            }
            _ => {
                self.newest = Some(at);
                self.ids = vec![id.to_owned()];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn a_range_ends_at_the_next_whole_second() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        assert_eq!(ceil_second(t), t);
        let later = t + chrono::TimeDelta::milliseconds(1);
        assert_eq!(ceil_second(later), t + chrono::TimeDelta::seconds(1));
    }

    #[test]
    fn notifications_seen_keep_the_newest_time_and_its_ids() {
        let t = Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap();
        let mut seen = Seen {
            newest: None,
            ids: Vec::new(),
        };
        // Newest first, as Get Notifications orders them.
        seen.add(t, "B");
        seen.add(t, "A");
        seen.add(t, "B");
        seen.add(t - chrono::TimeDelta::seconds(1), "Z");
        assert_eq!(
            (seen.newest, seen.ids.clone()),
            (Some(t), vec!["B".into(), "A".into()])
        );
        let next = t + chrono::TimeDelta::seconds(1);
        seen.add(next, "C");
        assert_eq!((seen.newest, seen.ids), (Some(next), vec!["C".to_owned()]));
    }

    #[test]
    fn the_default_overlap_covers_the_rejection_window() {
        let c = ReceivedConfig::default();
        assert!(span(c.overlap) > REJECTION_WINDOW);
        assert_eq!(span(c.first_lookback).num_days(), MAX_SEARCH_RANGE_DAYS);
        assert!(c.enabled);
    }
}
