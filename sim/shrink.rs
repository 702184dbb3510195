//! Shrinking a failing run: delta debugging over its recorded decisions,
//! replayed by schedule, keeping every simplification after which the same
//! check still fails.
//!
//! The simplifications are: drop a fault (a crash together with its
//! restart, a partition with the heal that ends it), deliver a message the
//! network lost, drop a duplicate copy, leave a corrupted copy intact, and
//! issue fewer client operations. They are tried in large groups first and
//! then smaller ones (ddmin's halving), in a fixed order, so shrinking is
//! deterministic. The run is also cut off just after the original failure.

use crate::config::{FaultAction, SimConfig};
use crate::network::Schedule;
use crate::time::{Duration, Instant};

use std::sync::Arc;

/// One way to make a failing run simpler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Simplification {
    /// Drop these faults (indices into the fault list).
    DropFaults(Vec<usize>),
    /// The k-th message on a link is not lost.
    Deliver { link: (u32, u32), k: usize },
    /// The k-th message on a link is not duplicated.
    Unduplicate { link: (u32, u32), k: usize },
    /// The k-th message on a link arrives intact.
    Uncorrupt { link: (u32, u32), k: usize },
}

/// A configuration and schedule to try.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub config: SimConfig,
    pub schedule: Schedule,
}

/// Sizes before and after, for people.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub faults: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub corrupted: usize,
    pub operations: u64,
}

impl Candidate {
    pub fn size(&self) -> Size {
        let fates = || self.schedule.links.values().flatten();
        Size {
            faults: self.config.faults.len(),
            lost: fates().filter(|f| f.lost).count(),
            duplicated: fates().filter(|f| f.copies.len() > 1).count(),
            corrupted: fates()
                .filter(|f| f.copies.iter().any(|c| !c.1.is_empty()))
                .count(),
            operations: self.config.workload.as_ref().map_or(0, |w| w.count),
        }
    }

    /// Every simplification this candidate admits, in a fixed order.
    pub fn simplifications(&self) -> Vec<Simplification> {
        let mut out = Vec::new();
        let faults = &self.config.faults;
        let mut paired = vec![false; faults.len()];
        for i in 0..faults.len() {
            if paired[i] {
                continue;
            }
            // A crash goes with the next restart of its node; a partition
            // with the next heal that lifts it.
            let partner = (i + 1..faults.len()).find(|&j| {
                !paired[j]
                    && match (&faults[i].action, &faults[j].action) {
                        (FaultAction::Crash { node: a }, FaultAction::Restart { node: b }) => {
                            a == b
                        }
                        (FaultAction::Partition { id, .. }, FaultAction::Heal { id: h }) => {
                            h.is_none_or(|h| h == *id)
                        }
                        (
                            FaultAction::CutWire { a, b },
                            FaultAction::RestoreWire { a: c, b: d },
                        ) => (a, b) == (c, d),
                        _ => false,
                    }
            });
            let mut group = vec![i];
            if let Some(j) = partner {
                paired[j] = true;
                group.push(j);
            }
            out.push(Simplification::DropFaults(group));
        }
        for (&link, fates) in &self.schedule.links {
            for (k, f) in fates.iter().enumerate() {
                if f.lost {
                    out.push(Simplification::Deliver { link, k });
                }
                if f.copies.len() > 1 {
                    out.push(Simplification::Unduplicate { link, k });
                }
                if f.copies.iter().any(|c| !c.1.is_empty()) {
                    out.push(Simplification::Uncorrupt { link, k });
                }
            }
        }
        out
    }

    /// This candidate with `changes` applied.
    pub fn apply(&self, changes: &[Simplification]) -> Candidate {
        let mut c = self.clone();
        let mut dropped = vec![false; c.config.faults.len()];
        for s in changes {
            match s {
                Simplification::DropFaults(ix) => ix.iter().for_each(|&i| dropped[i] = true),
                Simplification::Deliver { link, k } => {
                    if let Some(f) = c.schedule.links.get_mut(link).and_then(|v| v.get_mut(*k)) {
                        f.lost = false;
                    }
                }
                Simplification::Unduplicate { link, k } => {
                    if let Some(f) = c.schedule.links.get_mut(link).and_then(|v| v.get_mut(*k)) {
                        f.copies.truncate(1);
                    }
                }
                Simplification::Uncorrupt { link, k } => {
                    if let Some(f) = c.schedule.links.get_mut(link).and_then(|v| v.get_mut(*k)) {
                        f.copies.iter_mut().for_each(|copy| copy.1.clear());
                    }
                }
            }
        }
        let mut i = 0;
        c.config.faults.retain(|_| {
            i += 1;
            !dropped[i - 1]
        });
        c
    }
}

/// The outcome of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub candidate: Candidate,
    /// Runs tried.
    pub tests: u64,
}

/// Shrinks `start` while `still_fails` holds. `failed_at` is when the
/// original failure happened; runs are cut off 1 ms after it.
pub fn shrink(
    start: Candidate,
    failed_at: Instant,
    still_fails: &mut dyn FnMut(&SimConfig, Arc<Schedule>) -> bool,
    progress: &mut dyn FnMut(u64, &Size),
) -> Shrunk {
    let tests = std::cell::Cell::new(0u64);
    let mut test = |c: &Candidate| {
        tests.set(tests.get() + 1);
        still_fails(&c.config, Arc::new(c.schedule.clone()))
    };
    let mut best = start.clone();
    // A shorter run first: nothing after the failure matters. The cut is
    // marked, so a run it ends does not evaluate end-of-run checks over a
    // state the scenario never asked for.
    let mut shorter = best.clone();
    shorter.config.limits.time = Duration(failed_at.0.saturating_add(Duration::from_millis(1).0));
    shorter.config.limits_cut_by = Some("shrink".into());
    if test(&shorter) {
        best = shorter;
    }
    // ddmin over the simplifications: try big groups, then smaller.
    let mut pending = best.simplifications();
    let mut chunk = pending.len().div_ceil(2).max(1);
    while !pending.is_empty() {
        let mut i = 0;
        let mut progressed = false;
        while i < pending.len() {
            let end = (i + chunk).min(pending.len());
            let group: Vec<Simplification> = pending[i..end].to_vec();
            let tried = best.apply(&group);
            if test(&tried) {
                // Simplifications index the current fault list and
                // schedule, so list them afresh from the new best.
                best = tried;
                pending = best.simplifications();
                progressed = true;
                progress(tests.get(), &best.size());
                break;
            }
            i = end;
        }
        if !progressed {
            if chunk == 1 {
                break;
            }
            chunk = chunk.div_ceil(2);
        } else {
            chunk = chunk.min(pending.len().div_ceil(2)).max(1);
        }
    }
    // Fewer client operations: the smallest count that still fails.
    if let Some(count) = best.config.workload.as_ref().map(|w| w.count) {
        let (mut lo, mut hi) = (0u64, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let mut tried = best.clone();
            if let Some(w) = tried.config.workload.as_mut() {
                w.count = mid;
            }
            if test(&tried) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        if let Some(w) = best.config.workload.as_mut() {
            w.count = hi;
        }
    }
    progress(tests.get(), &best.size());
    Shrunk {
        candidate: best,
        tests: tests.get(),
    }
}
