//! Rate limits per (client id, endpoint class), over a sliding one-minute window on the
//! sandbox clock (README §5). Several taxpayers under one intermediary client id share that
//! client id's budget, as in production.

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Utc};
use invois_api::{RateClass, RateProfile};
use parking_lot::Mutex;

/// The answer for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    /// No limit applies to this class.
    Unlimited,
    /// Allowed; this call has been counted.
    Allowed {
        /// The budget per minute.
        limit: u32,
        /// Calls left in the window after this one.
        remaining: u32,
    },
    /// Refused; not counted.
    Limited {
        /// The budget per minute.
        limit: u32,
        /// Whole seconds until a call is allowed again (at least 1).
        retry_after_secs: u64,
        /// When a call is allowed again.
        reset: DateTime<Utc>,
    },
}

/// Times of the calls counted in one (client id, class) window.
type Window = VecDeque<DateTime<Utc>>;

/// The limiter.
pub(crate) struct RateLimiter {
    profile: RateProfile,
    overrides: HashMap<RateClass, u32>,
    windows: Mutex<HashMap<(String, RateClass), Window>>,
}

impl RateLimiter {
    pub(crate) fn new(profile: RateProfile, overrides: HashMap<RateClass, u32>) -> RateLimiter {
        RateLimiter {
            profile,
            overrides,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The budget of `class`, if limited.
    pub(crate) fn limit(&self, class: RateClass) -> Option<u32> {
        self.overrides
            .get(&class)
            .copied()
            .or_else(|| class.rpm(self.profile))
    }

    pub(crate) fn reset(&self) {
        self.windows.lock().clear();
    }

    /// Counts a call at `now` if the budget allows it.
    pub(crate) fn check(
        &self,
        client_id: &str,
        class: RateClass,
        now: DateTime<Utc>,
    ) -> RateDecision {
        let Some(limit) = self.limit(class) else {
            return RateDecision::Unlimited;
        };
        let window = chrono::Duration::from_std(RateClass::WINDOW).unwrap_or_default();
        let mut windows = self.windows.lock();
        let calls = windows.entry((client_id.to_owned(), class)).or_default();
        while calls.front().is_some_and(|t| *t + window <= now) {
            calls.pop_front();
        }
        if (calls.len() as u64) < u64::from(limit) {
            calls.push_back(now);
            return RateDecision::Allowed {
                limit,
                remaining: limit.saturating_sub(calls.len() as u32),
            };
        }
        // A zero budget has no oldest call; it frees up one window from now.
        let reset = calls.front().map_or(now + window, |t| *t + window);
        let wait_ms = (reset - now).num_milliseconds().max(0) as u64;
        RateDecision::Limited {
            limit,
            retry_after_secs: wait_ms.div_ceil(1000).max(1),
            reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_allowed_then_first_refused_then_window_slides() {
        let limiter = RateLimiter::new(RateProfile::Production, HashMap::new());
        let t0 = Utc::now();
        for i in 0..12 {
            let d = limiter.check(
                "c",
                RateClass::LoginTaxpayer,
                t0 + chrono::Duration::seconds(i),
            );
            assert!(
                matches!(d, RateDecision::Allowed { limit: 12, remaining } if remaining == 11 - i as u32),
                "{i}: {d:?}"
            );
        }
        let refused = limiter.check(
            "c",
            RateClass::LoginTaxpayer,
            t0 + chrono::Duration::seconds(30),
        );
        assert_eq!(
            refused,
            RateDecision::Limited {
                limit: 12,
                retry_after_secs: 30,
                reset: t0 + chrono::Duration::seconds(60)
            }
        );
        // Another client id has its own budget.
        assert!(matches!(
            limiter.check("other", RateClass::LoginTaxpayer, t0),
            RateDecision::Allowed { .. }
        ));
        // The first call leaves the window at t0 + 60 s.
        assert!(matches!(
            limiter.check(
                "c",
                RateClass::LoginTaxpayer,
                t0 + chrono::Duration::seconds(60)
            ),
            RateDecision::Allowed { remaining: 0, .. }
        ));
    }

    #[test]
    fn sandbox_profile_and_overrides() {
        let limiter = RateLimiter::new(
            RateProfile::Sandbox,
            HashMap::from([(RateClass::GetSubmission, 2)]),
        );
        assert_eq!(limiter.limit(RateClass::SubmitDocuments), Some(50));
        assert_eq!(limiter.limit(RateClass::GetSubmission), Some(2));
        assert_eq!(limiter.limit(RateClass::DocumentTypes), None);
        assert_eq!(
            limiter.check("c", RateClass::DocumentTypes, Utc::now()),
            RateDecision::Unlimited
        );
    }
}
