//! The event queue's entries and a node's local clock.

use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event {
    Start(u32),
    Deliver { slot: u32, msg: u64 },
    Timer { node: u32, timer: u64 },
    Fault(u32),
    Input(u64),
}

#[derive(Debug)]
pub(super) struct Queued {
    pub at: Instant,
    pub seq: u64,
    pub event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// A node's local clock: offset and drift against virtual time.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LocalClock {
    pub offset_ns: i64,
    pub drift_ppm: i32,
}

impl LocalClock {
    pub fn read(self, now: Instant) -> Instant {
        if self.offset_ns == 0 && self.drift_ppm == 0 {
            return now;
        }
        let t = i128::from(now.0);
        let local = t + t * i128::from(self.drift_ppm) / 1_000_000 + i128::from(self.offset_ns);
        Instant(local.clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// Virtual time for `local` of this node's time to pass.
    pub fn to_virtual(self, local: Duration) -> Duration {
        if self.drift_ppm == 0 {
            return local;
        }
        let scaled =
            i128::from(local.0) * 1_000_000 / (1_000_000 + i128::from(self.drift_ppm)).max(1);
        Duration(scaled.clamp(0, i128::from(u64::MAX)) as u64)
    }
}
