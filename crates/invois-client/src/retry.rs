//! Retry policy: a value, separate from the transport.
//!
//! - Reads (GET) and logins are retried on transport errors and 5xx, with exponential
//!   backoff and full jitter, at most `max_retries` times.
//! - A `429` is retried by every endpoint (the server refused it, so nothing happened), after
//!   the class's pause, at most `max_throttle_retries` times.
//! - A `401` invalidates the token and is retried once.
//! - Submit Documents and the state changes (cancel, reject) are never retried after their
//!   body may have reached the server: their outcome would be unknown, and a resend could
//!   duplicate it.

use std::time::Duration;

use rand::Rng;

/// How the client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries of a read after a transport error or 5xx.
    pub max_retries: u32,
    /// Retries of any call after a 429.
    pub max_throttle_retries: u32,
    /// First backoff (clock time); doubles each retry.
    pub base_delay: Duration,
    /// Longest backoff.
    pub max_delay: Duration,
    /// Used when a 429 carries no `Retry-After`.
    pub default_retry_after: Duration,
    /// Longest `Retry-After` honoured before the error is returned to the caller instead.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            max_throttle_retries: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            default_retry_after: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// No retries of any kind (the 401 refresh still happens once).
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_retries: 0,
            max_throttle_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The backoff before retry number `attempt` (1-based): full jitter over
    /// `min(max_delay, base_delay * 2^(attempt-1))`, never less than a tenth of the base, so
    /// retries spread out but never hammer.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(
            1u32.checked_shl(attempt.saturating_sub(1))
                .unwrap_or(u32::MAX),
        );
        let cap = exp.min(self.max_delay);
        let floor = self.base_delay / 10;
        if cap <= floor {
            return cap;
        }
        let span = cap - floor;
        floor + span.mul_f64(rand::rng().random::<f64>())
    }
}

/// Parses `Retry-After`: delta-seconds (also fractional, which some gateways send) or an
/// HTTP date relative to `now`.
pub(crate) fn parse_retry_after(
    value: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs));
        }
        return None;
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    Some(
        (at.with_timezone(&chrono::Utc) - now)
            .to_std()
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_delay, "{attempt}: {d:?}");
            assert!(d >= p.base_delay / 10, "{attempt}: {d:?}");
        }
        let samples: std::collections::HashSet<_> = (0..20).map(|_| p.backoff(4)).collect();
        assert!(samples.len() > 1, "jitter should vary the delay");
    }

    #[test]
    fn retry_after_forms() {
        let now = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("30", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("1.5", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Wed, 01 Jan 2025 00:01:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
