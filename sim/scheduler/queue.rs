//! The event queue's entries and a node's local clock.

use crate::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Event {
    Start(u32),
    Deliver {
        slot: u32,
        msg: u64,
    },
    Timer {
        node: u32,
        timer: u64,
    },
    Fault(u32),
    Input(u64),
    /// The oldest operation the workload handed process `0` while it was
    /// paused, handed now.
    Held(u32),
}

#[derive(Clone, Debug)]
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

/// A node's local clock against virtual time: it reads virtual time
/// until a skew sets it; from then it stands at `base` at virtual time
/// `since` and runs `drift_ppm` fast.
///
/// A clock stands where it was set even when that is before the start of
/// the run (a step back of 20 ms at 5 ms): it then reads zero, where
/// clocks start, until it has caught up, and from then on reads 20 ms
/// behind, as the skew asked. (Clamping the step instead would have
/// stepped it back 5 ms while the trace said 20.)
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LocalClock {
    since: u64,
    base: i128,
    drift_ppm: i32,
}

impl LocalClock {
    pub fn read(self, now: Instant) -> Instant {
        if self.drift_ppm == 0 && self.base == i128::from(self.since) {
            return now;
        }
        Instant(self.stands_at(now).clamp(0, i128::from(u64::MAX)) as u64)
    }

    /// Where the clock stands at `now`, below zero too.
    pub fn stands_at(self, now: Instant) -> i128 {
        let elapsed = i128::from(now.0.saturating_sub(self.since));
        self.base + elapsed + elapsed * i128::from(self.drift_ppm) / 1_000_000
    }

    /// The clock after a skew at `now`: stepped by `offset_ns` from where
    /// it stands then, and running `drift_ppm` fast from then on. A skew
    /// without an offset never steps the clock, however fast it then runs
    /// (drift counts from the skew, not from the start of the run).
    pub fn skewed(self, now: Instant, offset_ns: i64, drift_ppm: i32) -> LocalClock {
        LocalClock {
            since: now.0,
            base: self.stands_at(now) + i128::from(offset_ns),
            drift_ppm,
        }
    }

    /// How long (virtual time) from `now` the clock stands at zero, set
    /// back past where clocks start; `None` when it reads above zero.
    pub fn held_at_zero(self, now: Instant) -> Option<Duration> {
        let at = self.stands_at(now);
        (at < 0)
            .then(|| self.to_virtual(Duration(at.unsigned_abs().min(u128::from(u64::MAX)) as u64)))
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

/// A node event waiting under PCT: ordered by its chain's priority (high
/// first), then by when it was scheduled.
#[derive(Debug)]
pub(super) struct Ranked {
    pub priority: u64,
    pub chain: u32,
    pub queued: Queued,
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        (self.priority, self.queued.seq) == (other.priority, other.queued.seq)
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Max-heap: higher priority first, then the earlier scheduled.
        self.priority
            .cmp(&other.priority)
            .then(other.queued.seq.cmp(&self.queued.seq))
    }
}

/// PCT's state during one run (see [`crate::config::Strategy::Pct`]).
pub(super) struct Pct {
    pub rng: crate::rng::DetRng,
    /// Each chain's priority now; demoted chains get 1, 2, ... (below every
    /// first priority, which is at least `depth`).
    pub chains: Vec<u64>,
    pub heap: std::collections::BinaryHeap<Ranked>,
    /// The steps (node events taken) at which the taken event's chain is
    /// demoted, soonest last.
    pub change_points: Vec<u64>,
    pub depth: u32,
    pub steps: u64,
    /// The chain of the event being handled, and whether a new event has
    /// extended it yet.
    pub current: Option<u32>,
    pub extended: bool,
}

impl Pct {
    pub fn new(seed: u64, depth: u32, horizon: u64) -> Pct {
        let mut rng = crate::rng::DetRng::new(seed, crate::rng::Stream::Schedule);
        let mut change_points: Vec<u64> = Vec::new();
        // d − 1 distinct steps, uniformly among the first `horizon`.
        let want = (depth.saturating_sub(1) as u64).min(horizon);
        while (change_points.len() as u64) < want {
            let k = rng.between(1, horizon);
            if !change_points.contains(&k) {
                change_points.push(k);
            }
        }
        change_points.sort_unstable_by(|a, b| b.cmp(a));
        Pct {
            rng,
            chains: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
            change_points,
            depth,
            steps: 0,
            current: None,
            extended: false,
        }
    }

    /// The chain a new node event joins: the first one scheduled while an
    /// event is handled continues that event's chain (it happens after it);
    /// any other starts a chain of its own, with a random priority.
    pub fn chain_for_new(&mut self) -> u32 {
        if let (Some(c), false) = (self.current, self.extended) {
            self.extended = true;
            return c;
        }
        let floor = u64::from(self.depth);
        let priority = floor + self.rng.below(u64::MAX - floor);
        self.chains.push(priority);
        (self.chains.len() - 1) as u32
    }

    pub fn push(&mut self, queued: Queued) {
        let chain = self.chain_for_new();
        self.heap.push(Ranked {
            priority: self.chains[chain as usize],
            chain,
            queued,
        });
    }

    /// The node event to take next, its priority brought up to date (a
    /// demoted chain's events sink as they are met).
    pub fn peek(&mut self) -> Option<&Ranked> {
        loop {
            let top = self.heap.peek()?;
            let now = self.chains[top.chain as usize];
            if top.priority == now {
                break;
            }
            let mut stale = self.heap.pop()?;
            stale.priority = now;
            self.heap.push(stale);
        }
        self.heap.peek()
    }

    /// Takes the next node event: a step, which may demote its chain.
    pub fn take(&mut self) -> Option<Queued> {
        self.peek()?;
        let taken = self.heap.pop()?;
        self.steps += 1;
        if self.change_points.last() == Some(&self.steps) {
            self.change_points.pop();
            // The i-th change point demotes to priority i - 1 + 1 (all
            // distinct, all below the first priorities).
            let rank = self.depth as u64 - 1 - self.change_points.len() as u64;
            self.chains[taken.chain as usize] = rank;
        }
        self.current = Some(taken.chain);
        self.extended = false;
        Some(taken.queued)
    }
}

/// A node's pending timers by id, in id order. Ids only grow, so a new
/// timer goes at the end: a sorted vector does what an ordered map would,
/// without a node allocation per timer (a node keeps a few at a time).
#[derive(Clone, Debug)]
pub(super) struct TimerSet<T> {
    timers: Vec<(u64, T)>,
}

impl<T> Default for TimerSet<T> {
    fn default() -> Self {
        TimerSet { timers: Vec::new() }
    }
}

impl<T> TimerSet<T> {
    pub fn insert(&mut self, id: u64, tag: T) {
        match self.timers.last() {
            Some(&(last, _)) if last >= id => {
                match self.timers.binary_search_by_key(&id, |t| t.0) {
                    Ok(i) => self.timers[i].1 = tag,
                    Err(i) => self.timers.insert(i, (id, tag)),
                }
            }
            _ => self.timers.push((id, tag)),
        }
    }

    pub fn contains(&self, id: u64) -> bool {
        self.timers.binary_search_by_key(&id, |t| t.0).is_ok()
    }

    pub fn remove(&mut self, id: u64) -> Option<T> {
        let i = self.timers.binary_search_by_key(&id, |t| t.0).ok()?;
        Some(self.timers.remove(i).1)
    }

    pub fn clear(&mut self) {
        self.timers.clear();
    }

    /// Ids and tags in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> {
        self.timers.iter().map(|(id, tag)| (*id, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::{LocalClock, TimerSet};
    use crate::time::Instant;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_skew_steps_the_clock_by_its_offset_alone_and_drift_counts_from_it() {
        let clock = LocalClock::default();
        assert_eq!(clock.read(Instant(7 * MS)), Instant(7 * MS));
        // Skewed at 1 s to run 10% fast, without an offset: no step then
        // (drift counted from the run's start would jump it 100 ms).
        let fast = clock.skewed(Instant(1_000 * MS), 0, 100_000);
        assert_eq!(fast.read(Instant(1_000 * MS)), Instant(1_000 * MS));
        assert_eq!(fast.read(Instant(1_100 * MS)), Instant(1_110 * MS));
        // A later skew starts from what the clock reads then: +5 ms, and
        // from then on the clock keeps time.
        let later = fast.skewed(Instant(2_000 * MS), 5 * MS as i64, 0);
        assert_eq!(later.read(Instant(2_000 * MS)), Instant(2_105 * MS));
        assert_eq!(later.read(Instant(3_000 * MS)), Instant(3_105 * MS));
        // A clock set back past the start of the run reads zero until it
        // has caught up, and then reads the whole step behind (clamped at
        // zero, the step was 1 ms: it read 1 ms behind).
        let behind = clock.skewed(Instant(MS), -5 * MS as i64, 0);
        assert_eq!(behind.read(Instant(2 * MS)), Instant(0));
        assert_eq!(behind.read(Instant(5 * MS)), Instant(0));
        assert_eq!(behind.read(Instant(6 * MS)), Instant(MS));
        assert_eq!(behind.read(Instant(100 * MS)), Instant(95 * MS));
        // A later skew counts from where the clock stands, below zero too
        // (at 2 ms: 3 ms below).
        let back_again = behind.skewed(Instant(2 * MS), -(MS as i64), 0);
        assert_eq!(back_again.read(Instant(100 * MS)), Instant(94 * MS));
        let forward = behind.skewed(Instant(2 * MS), 10 * MS as i64, 0);
        assert_eq!(forward.read(Instant(2 * MS)), Instant(7 * MS));
        // Skewed without offset or drift, it reads virtual time.
        let same = clock.skewed(Instant(9 * MS), 0, 0);
        assert_eq!(same.read(Instant(20 * MS)), Instant(20 * MS));
    }

    #[test]
    fn timers_stay_in_id_order_whatever_order_they_come_in() {
        let mut t = TimerSet::default();
        for id in [3, 7, 9] {
            t.insert(id, id * 10);
        }
        t.insert(5, 50);
        t.insert(1, 10);
        t.insert(7, 71);
        assert_eq!(t.remove(9), Some(90));
        assert_eq!(t.remove(9), None);
        assert_eq!(t.remove(4), None);
        let all: Vec<(u64, u64)> = t.iter().map(|(i, &v)| (i, v)).collect();
        assert_eq!(all, [(1, 10), (3, 30), (5, 50), (7, 71)]);
        t.clear();
        assert_eq!(t.iter().count(), 0);
    }
}
