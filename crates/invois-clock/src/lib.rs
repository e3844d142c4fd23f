#![doc = include_str!("../README.md")]
// Functions a reader can hold (clippy.toml sets 120 lines); tests and benches may run longer.
#![warn(clippy::too_many_lines)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use tokio::sync::watch;
use tokio::time::Instant;

/// A shared, possibly scaled, possibly advanced clock.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

struct Inner {
    scale: f64,
    state: Mutex<State>,
    // Bumped on every manual advance so that sleepers re-check their deadline.
    advanced: watch::Sender<u64>,
}

struct State {
    /// Real instant at which `virtual_at_origin` was true.
    origin: Instant,
    /// Virtual time at `origin`.
    virtual_at_origin: DateTime<Utc>,
    /// Sum of manual advances.
    offset: chrono::Duration,
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clock")
            .field("scale", &self.inner.scale)
            .field("now", &self.now())
            .finish()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::real()
    }
}

impl Clock {
    /// Real time.
    pub fn real() -> Clock {
        Clock::scaled(1.0)
    }

    /// Time that runs `scale` times faster than real time, starting now. A `scale` that is not
    /// a positive finite number is taken as 1.
    pub fn scaled(scale: f64) -> Clock {
        Clock::starting_at(Utc::now(), scale)
    }

    /// A clock that reads `start` now and then runs at `scale`.
    pub fn starting_at(start: DateTime<Utc>, scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        let (advanced, _) = watch::channel(0);
        Clock {
            inner: Arc::new(Inner {
                scale,
                state: Mutex::new(State {
                    origin: Instant::now(),
                    virtual_at_origin: start,
                    offset: chrono::Duration::zero(),
                }),
                advanced,
            }),
        }
    }

    /// How many times faster than real time this clock runs.
    pub fn scale(&self) -> f64 {
        self.inner.scale
    }

    /// The current time on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        let state = self.inner.state.lock();
        let real = state.origin.elapsed();
        state.virtual_at_origin + self.to_virtual(real) + state.offset
    }

    /// Moves the clock forward by `by`. Sleepers whose deadline has passed wake up.
    pub fn advance(&self, by: Duration) {
        {
            let mut state = self.inner.state.lock();
            state.offset += chrono::Duration::from_std(by).unwrap_or(chrono::Duration::MAX);
        }
        self.inner.advanced.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Converts a real duration to the clock's duration.
    fn to_virtual(&self, real: Duration) -> chrono::Duration {
        chrono::Duration::from_std(real.mul_f64(self.inner.scale)).unwrap_or(chrono::Duration::MAX)
    }

    /// How long, in real time, `virtual_span` takes on this clock.
    pub fn real_duration(&self, virtual_span: Duration) -> Duration {
        virtual_span.div_f64(self.inner.scale)
    }

    /// Sleeps for `d` of this clock's time.
    pub async fn sleep(&self, d: Duration) {
        let deadline = self.now() + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        self.sleep_until(deadline).await;
    }

    /// Sleeps until this clock reads `deadline` (returns at once if it already does).
    pub async fn sleep_until(&self, deadline: DateTime<Utc>) {
        let mut advanced = self.inner.advanced.subscribe();
        loop {
            let now = self.now();
            if now >= deadline {
                return;
            }
            let remaining = (deadline - now).to_std().unwrap_or_default();
            let real = self.real_duration(remaining);
            tokio::select! {
                _ = tokio::time::sleep(real) => {}
                changed = advanced.changed() => {
                    if changed.is_err() {
                        // The sender lives as long as any clone of the clock; this is unreachable
                        // while `self` is alive, but sleeping on is the safe answer.
                        tokio::time::sleep(real).await;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scaled_clock_runs_faster() {
        let clock = Clock::scaled(600.0);
        let t0 = clock.now();
        let real = std::time::Instant::now();
        clock.sleep(Duration::from_secs(60)).await; // 0.1 s real
        let elapsed_virtual = clock.now() - t0;
        assert!(elapsed_virtual >= chrono::Duration::seconds(60));
        assert!(
            real.elapsed() < Duration::from_secs(5),
            "{:?}",
            real.elapsed()
        );
    }

    #[tokio::test]
    async fn advancing_wakes_sleepers() {
        let clock = Clock::real();
        let c2 = clock.clone();
        let sleeper = tokio::spawn(async move { c2.sleep(Duration::from_secs(3600)).await });
        tokio::task::yield_now().await;
        clock.advance(Duration::from_secs(3601));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("sleeper woke")
            .unwrap();
    }

    #[test]
    fn advance_moves_now_and_clones_share_it() {
        let start = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = Clock::starting_at(start, 1.0);
        let other = clock.clone();
        clock.advance(Duration::from_secs(72 * 3600));
        assert!(other.now() - start >= chrono::Duration::hours(72));
        assert!(other.now() - start < chrono::Duration::hours(73));
    }

    #[test]
    fn bad_scales_fall_back_to_real_time() {
        assert_eq!(Clock::scaled(0.0).scale(), 1.0);
        assert_eq!(Clock::scaled(f64::NAN).scale(), 1.0);
        assert_eq!(Clock::scaled(-3.0).scale(), 1.0);
    }
}
