//! Rate budgets: one per client id and endpoint class (README §5).
//!
//! The client asks a [`RateBudget`] before every request and waits, on its own
//! [`invois_clock::Clock`], until the budget admits it, so it spends its budget instead of
//! earning a `429`. A `429` with `Retry-After` pauses the whole class.
//!
//! The trait is deliberately small and clock-free: it stores and answers, and the caller
//! waits. That lets the gateway put the same budget in PostgreSQL (shared by several
//! processes) by implementing two methods; [`InProcessBudget`] is the in-memory version.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use invois_api::{RateClass, RateProfile};
use parking_lot::Mutex;

/// Which budget: a client id and an endpoint class. The budget is per client id, whatever
/// taxpayer an intermediary acts for (LHDN counts per client id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BudgetKey<'a> {
    /// The ERP client id.
    pub client_id: &'a str,
    /// The endpoint class.
    pub class: RateClass,
}

/// A budget: `requests` per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests admitted per window.
    pub requests: u32,
    /// The sliding window.
    pub window: Duration,
}

impl Quota {
    /// `rpm` requests per minute.
    pub const fn per_minute(rpm: u32) -> Quota {
        Quota {
            requests: rpm,
            window: RateClass::WINDOW,
        }
    }
}

/// The answer to an admission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go now; the request has been counted.
    Granted,
    /// Ask again at this time.
    WaitUntil(DateTime<Utc>),
}

/// A budget store failed (for example its database is down).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BudgetError(pub Box<dyn std::error::Error + Send + Sync>);

/// A store of rate budgets. Implementations must be atomic per key: two callers never both
/// get the last slot.
#[async_trait]
pub trait RateBudget: Send + Sync + fmt::Debug {
    /// Counts one request against `key` at `now` if `quota` allows it and the key is not
    /// paused; otherwise says when to ask again. `quota: None` (an unlimited class) only
    /// checks the pause.
    async fn try_acquire(
        &self,
        key: BudgetKey<'_>,
        quota: Option<Quota>,
        now: DateTime<Utc>,
    ) -> Result<Admission, BudgetError>;

    /// Pauses `key` until `until` (a `429` with `Retry-After`). A pause never shortens an
    /// existing one.
    async fn pause(&self, key: BudgetKey<'_>, until: DateTime<Utc>) -> Result<(), BudgetError>;
}

#[derive(Default)]
struct Window {
    /// Times of admitted requests still inside the window, oldest first.
    log: VecDeque<DateTime<Utc>>,
    paused_until: Option<DateTime<Utc>>,
}

/// A sliding-window budget in this process's memory.
#[derive(Default)]
pub struct InProcessBudget {
    windows: Mutex<HashMap<(String, RateClass), Window>>,
}

impl fmt::Debug for InProcessBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessBudget")
            .field("keys", &self.windows.lock().len())
            .finish()
    }
}

impl InProcessBudget {
    /// An empty budget store.
    pub fn new() -> InProcessBudget {
        InProcessBudget::default()
    }

    /// A shareable empty budget store.
    pub fn shared() -> Arc<dyn RateBudget> {
        Arc::new(InProcessBudget::new())
    }

    /// When `key` is paused until, if it is.
    pub fn paused_until(&self, key: BudgetKey<'_>) -> Option<DateTime<Utc>> {
        self.windows
            .lock()
            .get(&(key.client_id.to_owned(), key.class))
            .and_then(|w| w.paused_until)
    }
}

fn chrono_span(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl RateBudget for InProcessBudget {
    async fn try_acquire(
        &self,
        key: BudgetKey<'_>,
        quota: Option<Quota>,
        now: DateTime<Utc>,
    ) -> Result<Admission, BudgetError> {
        let mut windows = self.windows.lock();
        let w = windows
            .entry((key.client_id.to_owned(), key.class))
            .or_default();
        if let Some(until) = w.paused_until {
            if until > now {
                return Ok(Admission::WaitUntil(until));
            }
            w.paused_until = None;
        }
        let Some(quota) = quota else {
            return Ok(Admission::Granted);
        };
        let span = chrono_span(quota.window);
        while w.log.front().is_some_and(|t| *t + span <= now) {
            w.log.pop_front();
        }
        if quota.requests == 0 {
            // A zero budget admits nothing; ask again after a window.
            return Ok(Admission::WaitUntil(now + span));
        }
        if w.log.len() < quota.requests as usize {
            w.log.push_back(now);
            Ok(Admission::Granted)
        } else {
            let oldest = w.log.front().copied().unwrap_or(now);
            Ok(Admission::WaitUntil(oldest + span))
        }
    }

    async fn pause(&self, key: BudgetKey<'_>, until: DateTime<Utc>) -> Result<(), BudgetError> {
        let mut windows = self.windows.lock();
        let w = windows
            .entry((key.client_id.to_owned(), key.class))
            .or_default();
        if w.paused_until.is_none_or(|p| p < until) {
            w.paused_until = Some(until);
        }
        Ok(())
    }
}

/// Which quota applies to each class: a profile's table plus overrides.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimits {
    profile: RateProfile,
    overrides: HashMap<RateClass, Option<Quota>>,
}

impl RateLimits {
    /// The table of `profile`.
    pub fn profile(profile: RateProfile) -> RateLimits {
        RateLimits {
            profile,
            overrides: HashMap::new(),
        }
    }

    /// Sets `class` to `rpm` requests per minute (`None`: unlimited).
    #[must_use]
    pub fn with_rpm(mut self, class: RateClass, rpm: Option<u32>) -> RateLimits {
        self.overrides.insert(class, rpm.map(Quota::per_minute));
        self
    }

    /// Sets `class` to an arbitrary quota.
    #[must_use]
    pub fn with_quota(mut self, class: RateClass, quota: Quota) -> RateLimits {
        self.overrides.insert(class, Some(quota));
        self
    }

    /// The profile in use.
    pub fn rate_profile(&self) -> RateProfile {
        self.profile
    }

    /// The quota for `class`; `None` when it is not limited.
    pub fn quota(&self, class: RateClass) -> Option<Quota> {
        match self.overrides.get(&class) {
            Some(q) => *q,
            None => class.rpm(self.profile).map(Quota::per_minute),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    #[tokio::test]
    async fn sliding_window_admits_quota_then_names_the_wait() {
        let b = InProcessBudget::new();
        let key = BudgetKey {
            client_id: "c1",
            class: RateClass::SearchDocuments,
        };
        let q = Some(Quota::per_minute(3));
        for i in 0..3 {
            assert_eq!(
                b.try_acquire(key, q, t(i)).await.unwrap(),
                Admission::Granted
            );
        }
        assert_eq!(
            b.try_acquire(key, q, t(10)).await.unwrap(),
            Admission::WaitUntil(t(60))
        );
        assert_eq!(
            b.try_acquire(key, q, t(60)).await.unwrap(),
            Admission::Granted
        );
        // Another client id and another class have their own budgets.
        let other = BudgetKey {
            client_id: "c2",
            ..key
        };
        assert_eq!(
            b.try_acquire(other, q, t(10)).await.unwrap(),
            Admission::Granted
        );
    }

    #[tokio::test]
    async fn pause_blocks_the_class_and_never_shortens() {
        let b = InProcessBudget::new();
        let key = BudgetKey {
            client_id: "c1",
            class: RateClass::GetSubmission,
        };
        b.pause(key, t(30)).await.unwrap();
        b.pause(key, t(20)).await.unwrap();
        assert_eq!(b.paused_until(key), Some(t(30)));
        let q = Some(Quota::per_minute(300));
        assert_eq!(
            b.try_acquire(key, q, t(5)).await.unwrap(),
            Admission::WaitUntil(t(30))
        );
        assert_eq!(
            b.try_acquire(key, q, t(30)).await.unwrap(),
            Admission::Granted
        );
        // An unlimited class still honours a pause.
        b.pause(key, t(90)).await.unwrap();
        assert_eq!(
            b.try_acquire(key, None, t(40)).await.unwrap(),
            Admission::WaitUntil(t(90))
        );
        assert_eq!(
            b.try_acquire(key, None, t(91)).await.unwrap(),
            Admission::Granted
        );
    }

    #[test]
    fn limits_follow_profile_and_overrides() {
        let l = RateLimits::profile(RateProfile::Production)
            .with_rpm(RateClass::SubmitDocuments, Some(7))
            .with_rpm(RateClass::GetSubmission, None);
        assert_eq!(
            l.quota(RateClass::SubmitDocuments),
            Some(Quota::per_minute(7))
        );
        assert_eq!(l.quota(RateClass::GetSubmission), None);
        assert_eq!(
            l.quota(RateClass::SearchDocuments),
            Some(Quota::per_minute(12))
        );
        assert_eq!(l.quota(RateClass::DocumentTypes), None);
        let s = RateLimits::profile(RateProfile::Sandbox);
        assert_eq!(
            s.quota(RateClass::SearchDocuments),
            Some(Quota::per_minute(6))
        );
    }
}
