//! Rate limiting for warnings that can repeat once per batch.
//!
//! A dead downstream makes every batch fail; logging each failure would flood the logs and
//! cost CPU exactly when the operator needs both. The first failure is logged at once; after
//! that at most one line per interval, saying how many were suppressed in between.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Admits one event per interval and counts the rest.
pub(super) struct WarnLimit {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl WarnLimit {
    /// A limiter that admits one event per `interval`.
    pub(super) fn new(interval: Duration) -> WarnLimit {
        WarnLimit {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Returns `Some(suppressed)` when this event should be logged, with how many events
    /// were suppressed since the last one that was; `None` when it should not.
    pub(super) fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, suppressed) = &mut *state;
        match last {
            Some(at) if now.duration_since(*at) < self.interval => {
                *suppressed += 1;
                None
            }
            _ => {
                *last = Some(now);
                Some(std::mem::take(suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_the_first_then_one_per_interval_with_the_count() {
        let limit = WarnLimit::new(Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(limit.admit(t0), Some(0));
        assert_eq!(limit.admit(t0 + Duration::from_secs(1)), None);
        assert_eq!(limit.admit(t0 + Duration::from_secs(9)), None);
        assert_eq!(limit.admit(t0 + Duration::from_secs(10)), Some(2));
        assert_eq!(limit.admit(t0 + Duration::from_secs(11)), None);
    }
}
