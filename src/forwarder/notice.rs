//! Log lines that a client can trigger at will (a dropped flow, a refused connection),
//! rate-limited: at most N per second are written, the rest are counted and summed up in
//! one line when the second is over. Sans-IO: the caller passes the time.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// A per-second allowance of log lines, and a count of those it held back.
#[derive(Debug)]
pub(crate) struct RateLimit {
    per_second: u32,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    shown: u32,
    suppressed: u64,
}

const SECOND: Duration = Duration::from_secs(1);

impl RateLimit {
    /// At most `per_second` lines a second (0: none, every event is only counted).
    pub(crate) fn new(per_second: u32, now: Instant) -> Self {
        Self {
            per_second,
            window: Mutex::new(Window {
                start: now,
                shown: 0,
                suppressed: 0,
            }),
        }
    }

    /// Whether an event at `now` may be logged; if not, it is counted. When a new second
    /// began, also how many were held back in the seconds before (log that first).
    pub(crate) fn admit(&self, now: Instant) -> (bool, Option<u64>) {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let summary = Self::roll(&mut w, now);
        let show = w.shown < self.per_second;
        if show {
            w.shown += 1;
        } else {
            w.suppressed += 1;
        }
        (show, summary)
    }

    /// How many events were held back, if the second they fell in is over (a ticker
    /// calls this, so that the summary comes even when no more events do).
    pub(crate) fn summary(&self, now: Instant) -> Option<u64> {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        Self::roll(&mut w, now)
    }

    /// How many events were held back so far, whatever the time (at shutdown).
    pub(crate) fn flush(&self) -> Option<u64> {
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        (w.suppressed > 0).then(|| std::mem::take(&mut w.suppressed))
    }

    fn roll(w: &mut Window, now: Instant) -> Option<u64> {
        if now.saturating_duration_since(w.start) < SECOND {
            return None;
        }
        w.start = now;
        w.shown = 0;
        (w.suppressed > 0).then(|| std::mem::take(&mut w.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_lines_a_second_then_one_summary() {
        let t0 = Instant::now();
        let limit = RateLimit::new(3, t0);
        let shown: Vec<bool> = (0..10).map(|_| limit.admit(t0).0).collect();
        assert_eq!(shown.iter().filter(|s| **s).count(), 3);
        assert_eq!(shown[..3], [true; 3]);
        assert_eq!(limit.summary(t0 + Duration::from_millis(999)), None);
        assert_eq!(limit.summary(t0 + SECOND), Some(7));
        assert_eq!(limit.summary(t0 + 3 * SECOND), None, "counted once");
        // A new second allows three more; the next event after it carries the summary.
        let t1 = t0 + 3 * SECOND;
        for _ in 0..5 {
            limit.admit(t1);
        }
        assert_eq!(limit.admit(t1 + SECOND), (true, Some(2)));
        limit.admit(t1 + SECOND);
        limit.admit(t1 + SECOND);
        limit.admit(t1 + SECOND);
        assert_eq!(limit.flush(), Some(1));
        assert_eq!(limit.flush(), None);
    }
}
