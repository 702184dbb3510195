//! Shrinking a failing run, in the manner of DEMi: external events first
//! (client operations, faults), then what happens between them (lost,
//! duplicated and corrupted messages, latencies, how long before the
//! faults, nodes, other schedules of the same events), repeated until
//! nothing more gives way; then a last pass that makes the result
//! 1-minimal.
//!
//! A candidate is a configuration and, usually, a recorded schedule (each
//! message's fate, matched to sends by what they carry, so taking an event
//! away moves no other message's fate; see [`Schedule::by_content`]).
//! Taking an event away still changes what happens after it, so a
//! candidate that no longer fails with the old schedule is also tried with
//! fresh fates from other seeds (capped at the best failure's time first),
//! over a network without loss, duplication or corruption and over its
//! own: a bug that needs one crash needs it under many schedules. A
//! candidate that fails that way is recorded, and its own schedule
//! replaces the old one. Fresh tries run side by side in batches, and the
//! first that fails in batch order is taken, so the result does not depend
//! on the number of threads.
//!
//! A candidate is kept only if it is smaller — fewer external events, then
//! fewer faults, operations, message faults, records, nodes, node events
//! and messages sent, in that order — and no larger than the input in any
//! measure, so shrinking never makes a run bigger. Two searches with
//! different seeds start from the run cut at its failure (for a check
//! judged at the run's end, a history's, at the earliest millisecond
//! whose prefix still fails; again before the last pass); the smaller
//! result is kept. The last pass takes away each remaining fault,
//! operation and message fault alone, against the exactly recorded
//! schedule, and keeps any removal after which the run still fails; when
//! it ends, removing any one of them makes the failure go away ([`verify`]
//! checks that of any candidate).
//!
//! Everything is deterministic: the candidates, their order and the seeds
//! tried derive from the input, so a shrink given the same trace and run
//! budget gives the same result. A wall-clock deadline, if set, is the
//! one exception.

use crate::config::{FaultAction, SimConfig};
use crate::network::{Latency, PartitionSpec, Schedule};
use crate::node::NodeId;
use crate::rng::Ppm;
use crate::time::{Duration, Instant};
use crate::trace::Stats;
use std::sync::Arc;

/// A configuration and the schedule of message fates it runs with (none:
/// fates drawn from the seed).
#[derive(Clone, Debug)]
pub struct Candidate {
    pub config: SimConfig,
    pub schedule: Option<Schedule>,
}

/// What a run of a candidate is measured by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Size {
    pub faults: u64,
    /// Operations issued.
    pub operations: u64,
    /// Operations the workload would issue in a run long enough.
    pub planned: u64,
    pub nodes: u64,
    /// Copies lost, for any cause.
    pub lost: u64,
    /// Message faults the network decided (losses it drew or was told to
    /// make, duplicates, corruptions), as opposed to losses a partition or
    /// a crash caused.
    pub decided: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Writes not yet synced that the schedule's crashes keep (on a disk
    /// that may keep some, [`crate::config::DiskConfig`]): each a fault
    /// of the disk, losing it the default.
    pub kept: u64,
    pub records: u64,
    pub events: u64,
    pub sent: u64,
    /// When the run failed (not compared).
    pub failed_at: Instant,
}

impl Size {
    /// A candidate's size, from its configuration and its run's figures.
    pub fn of(c: &Candidate, stats: &Stats) -> Size {
        Size {
            // The adversary's parts count as faults: taking one away is a
            // simpler failure, like taking a crash away.
            // An explored path's faults are its crashes and restarts,
            // steps of its own (a search leaves a scenario's timed faults
            // unused).
            faults: adversary_units(c).len() as u64
                + explored_faults(c, stats).unwrap_or(c.config.faults.len() as u64),
            operations: stats.inputs,
            planned: c
                .config
                .workload
                .as_ref()
                .map_or(0, |w| w.count - w.skip.len() as u64),
            nodes: u64::from(c.config.nodes),
            lost: stats.lost.values().sum(),
            decided: ["loss", "planned"]
                .iter()
                .filter_map(|cause| stats.lost.get(*cause))
                .sum::<u64>()
                + stats.duplicated
                + stats.corrupted,
            duplicated: stats.duplicated,
            corrupted: stats.corrupted,
            kept: c.schedule.as_ref().map_or(0, |s| {
                s.disk
                    .values()
                    .flat_map(|crashes| crashes.values())
                    .map(|keys| keys.len() as u64)
                    .sum()
            }),
            records: stats.records,
            events: stats.events,
            sent: stats.sent,
            failed_at: stats.time,
        }
    }

    /// The order candidates are compared in: external events first.
    fn key(&self) -> [u64; 10] {
        [
            self.faults + self.operations,
            self.faults,
            self.operations,
            self.decided,
            self.kept,
            self.records,
            self.nodes,
            self.events,
            self.sent,
            self.planned,
        ]
    }

    /// No larger than `other` in any measure.
    pub fn within(&self, other: &Size) -> bool {
        self.grown(other).is_empty()
    }

    /// The measures in which this is larger than `other`, in words:
    /// "records 144 -> 150".
    pub fn grown(&self, other: &Size) -> Vec<String> {
        let measures = |s: &Size| {
            [
                ("faults", s.faults),
                ("operations", s.operations),
                ("nodes", s.nodes),
                ("lost", s.lost),
                ("duplicated", s.duplicated),
                ("corrupted", s.corrupted),
                ("unsynced writes kept", s.kept),
                ("records", s.records),
                ("events", s.events),
                ("messages", s.sent),
            ]
        };
        measures(self)
            .iter()
            .zip(measures(other))
            .filter(|((_, x), (_, y))| x > y)
            .map(|((name, x), (_, y))| format!("{name} {y} -> {x}"))
            .collect()
    }
}

/// How the shrinker runs candidates: the embedding (the command line, a
/// test) knows the protocol.
/// Runs may happen on several threads at once.
pub trait Runner: Sync {
    /// Runs the candidate: its figures if it fails as the original did.
    fn fails(&self, c: &Candidate) -> Option<Stats>;
    /// The schedule the candidate's run produces (to make a run with
    /// fates drawn from its seed into one with a recorded schedule).
    fn record(&self, c: &Candidate) -> Option<Schedule>;
}

/// Bounds on the work.
#[derive(Clone, Debug)]
pub struct Options {
    /// Runs at most (a deterministic budget).
    pub max_runs: u64,
    /// Records simulated at most, each run counted as long as the input's
    /// (a deterministic budget): a long run costs what many short ones
    /// do, so a long input gets fewer runs than `max_runs`, and never
    /// fewer than [`MIN_RUNS`].
    pub max_records: u64,
    /// Stop at this moment, whatever is left (wall clock: results then
    /// depend on the machine's speed).
    pub deadline: Option<std::time::Instant>,
    /// The protocol's smallest node count.
    pub min_nodes: u32,
    /// Other seeds to try when a candidate's schedule no longer fits.
    pub reseeds: u32,
    /// Seeds to try for a shorter schedule of the same events.
    pub schedules: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_runs: 80_000,
            max_records: 1_000_000_000,
            deadline: None,
            min_nodes: 1,
            reseeds: 40,
            schedules: 8000,
        }
    }
}

/// The runs a shrink may take whatever `Options::max_records` says.
pub const MIN_RUNS: u64 = 100;

impl Options {
    /// The runs this budget allows an input `records` records long.
    pub fn runs_for(&self, records: u64) -> u64 {
        let by_records = (self.max_records / records.max(1)).max(MIN_RUNS);
        self.max_runs.min(by_records)
    }
}

/// The state of a shrink, for a progress display.
#[derive(Clone, Debug)]
pub struct Progress {
    pub runs: u64,
    pub phase: &'static str,
    pub size: Size,
}

/// The outcome of shrinking.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub candidate: Candidate,
    pub before: Size,
    pub after: Size,
    /// Runs tried.
    pub runs: u64,
    /// Runs tried when the result was found: the runs after it found
    /// nothing smaller.
    pub found_at: u64,
    /// Why the shrinking stopped before it was done, if it did: what cut
    /// the last pass, else what cut the search before it.
    pub stopped: Option<String>,
    /// The last pass finished: no event left (fault, operation or message
    /// fault), taken away alone with the schedule fixed, still fails in a
    /// run no larger than the input's. Even when the search stopped early,
    /// its result is then 1-minimal, though a larger budget may find a
    /// smaller run.
    pub minimal: bool,
}

/// What [`verify`] found.
#[derive(Clone, Debug, Default)]
pub struct Minimality {
    /// Single removals tried.
    pub tried: u64,
    /// Removals after which the run still failed, no larger than the
    /// input (empty: 1-minimal).
    pub still_fail: Vec<String>,
    /// Removals after which the run still failed but outgrew the input in
    /// some measure, with how: a shrink keeps the result never larger
    /// than its input, so it keeps these events.
    pub outgrow: Vec<String>,
}

/// One event a candidate can do without.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Unit {
    /// These faults (a crash with its restart, a partition with its heal).
    Faults(Vec<usize>),
    /// The client operation with this id.
    Operation(u64),
    /// The k-th message on a link is not lost.
    Deliver((u32, u32), usize),
    /// The k-th message on a link is not duplicated.
    Unduplicate((u32, u32), usize),
    /// The k-th message on a link arrives intact.
    Uncorrupt((u32, u32), usize),
    /// A planned message fault (by index) is not applied.
    Unplan(usize),
    /// The byzantine node of this entry (by index) is honest.
    Honest(usize),
    /// The network adversary does not do this ("forge", "replay", "alter").
    Calm(&'static str),
    /// The process's crash (its n-th, from 0) loses this unsynced write
    /// rather than keep it.
    Lose(u32, u32, String),
}

impl Unit {
    fn describe(&self, c: &Candidate) -> String {
        match self {
            Unit::Faults(ix) => {
                let names: Vec<String> = ix
                    .iter()
                    .filter_map(|&i| c.config.faults.get(i))
                    .map(|f| format!("{} {}", f.action, f.when()))
                    .collect();
                format!("fault {}", names.join(" with "))
            }
            Unit::Operation(id) => format!("operation {id}"),
            Unit::Deliver((a, b), k) => format!("the loss of message {k} on n{a} -> n{b}"),
            Unit::Unduplicate((a, b), k) => {
                format!("the duplicate of message {k} on n{a} -> n{b}")
            }
            Unit::Uncorrupt((a, b), k) => {
                format!("the corruption of message {k} on n{a} -> n{b}")
            }
            Unit::Unplan(i) => format!("planned message fault {i}"),
            Unit::Lose(node, crash, key) => format!(
                "n{node}'s unsynced write `{key}` kept at its crash #{}",
                crash + 1
            ),
            Unit::Honest(i) => match c.config.adversary.byzantine.get(*i) {
                Some(b) => format!("byzantine n{} ({})", b.node.0, b.behaviour),
                None => format!("byzantine entry {i}"),
            },
            Unit::Calm(what) => format!("the network adversary's {what}"),
        }
    }
}

/// Fault groups: a crash with the next restart of its node, a partition
/// with the heal that lifts it, a cut wire with its restoration.
fn fault_groups(c: &Candidate) -> Vec<Vec<usize>> {
    let faults = &c.config.faults;
    let mut paired = vec![false; faults.len()];
    let mut out = Vec::new();
    for i in 0..faults.len() {
        if paired[i] {
            continue;
        }
        let partner = (i + 1..faults.len()).find(|&j| {
            !paired[j]
                && faults[i].after == faults[j].after
                && match (&faults[i].action, &faults[j].action) {
                    (FaultAction::Crash { node: a }, FaultAction::Restart { node: b })
                    | (FaultAction::Pause { node: a, .. }, FaultAction::Resume { node: b }) => {
                        a == b
                    }
                    (
                        FaultAction::CrashPlaying { mark: a, .. },
                        FaultAction::RestartCrashed { mark: b },
                    )
                    | (
                        FaultAction::PausePlaying { mark: a, .. },
                        FaultAction::ResumePaused { mark: b },
                    ) => a == b,
                    (FaultAction::Partition { id, .. }, FaultAction::Heal { id: h }) => {
                        h.is_none_or(|h| h == *id)
                    }
                    // A wire has no direction: `cut = [0, 1]` is undone
                    // by `restore = [1, 0]`.
                    (FaultAction::CutWire { a, b }, FaultAction::RestoreWire { a: c, b: d }) => {
                        crate::network::wire(*a, *b) == crate::network::wire(*c, *d)
                    }
                    _ => false,
                }
        });
        let mut group = vec![i];
        if let Some(j) = partner {
            paired[j] = true;
            group.push(j);
        }
        out.push(group);
    }
    out
}

/// The adversary's parts a candidate could do without: each byzantine
/// node, and each thing the network adversary does.
fn adversary_units(c: &Candidate) -> Vec<Unit> {
    let a = &c.config.adversary;
    let mut out: Vec<Unit> = (0..a.byzantine.len()).map(Unit::Honest).collect();
    for (what, chance) in [
        ("forge", a.network.forge),
        ("replay", a.network.replay),
        ("alter", a.network.alter),
    ] {
        if chance != Ppm::ZERO {
            out.push(Unit::Calm(what));
        }
    }
    out
}

/// The operations a candidate issues (by id).
fn operations(c: &Candidate) -> Vec<u64> {
    match &c.config.workload {
        Some(w) => (0..w.count).filter(|id| !w.skip.contains(id)).collect(),
        None => Vec::new(),
    }
}

/// The message fates a candidate's schedule and plan can give up.
fn message_units(c: &Candidate) -> Vec<Unit> {
    let mut out = Vec::new();
    if let Some(s) = &c.schedule {
        for (&link, fates) in &s.links {
            for (k, f) in fates.iter().enumerate() {
                if f.lost {
                    out.push(Unit::Deliver(link, k));
                }
                if f.copies.len() > 1 {
                    out.push(Unit::Unduplicate(link, k));
                }
                if f.copies.iter().any(|c| !c.1.is_empty()) {
                    out.push(Unit::Uncorrupt(link, k));
                }
            }
        }
    }
    out.extend((0..c.config.network.planned.len()).map(Unit::Unplan));
    if let Some(s) = &c.schedule {
        for (&node, crashes) in &s.disk {
            for (&crash, keys) in crashes {
                out.extend(keys.iter().map(|k| Unit::Lose(node, crash, k.clone())));
            }
        }
    }
    out
}

fn fate_mut<'c>(
    schedule: &'c mut Option<Schedule>,
    link: &(u32, u32),
    k: usize,
) -> Option<&'c mut crate::network::ScriptedFate> {
    schedule.as_mut()?.links.get_mut(link)?.get_mut(k)
}

/// `c` without `units`.
fn without(c: &Candidate, units: &[Unit]) -> Candidate {
    let mut c = c.clone();
    let mut dropped = vec![false; c.config.faults.len()];
    let mut unplanned = vec![false; c.config.network.planned.len()];
    let mut honest = vec![false; c.config.adversary.byzantine.len()];
    for u in units {
        match u {
            Unit::Faults(ix) => ix.iter().for_each(|&i| dropped[i] = true),
            Unit::Operation(id) => {
                if let Some(w) = c.config.workload.as_mut() {
                    if !w.skip.contains(id) {
                        w.skip.push(*id);
                        w.skip.sort_unstable();
                    }
                }
            }
            Unit::Deliver(link, k) => {
                // Delivered as the network delivers: the recording has no
                // time for it, and holding it until the recording's end
                // would keep it lost under another name.
                if let Some(f) = fate_mut(&mut c.schedule, link, *k) {
                    f.lost = false;
                    f.fresh_latency = true;
                }
            }
            Unit::Unduplicate(link, k) => {
                if let Some(f) = fate_mut(&mut c.schedule, link, *k) {
                    f.copies.truncate(1);
                }
            }
            Unit::Uncorrupt(link, k) => {
                if let Some(f) = fate_mut(&mut c.schedule, link, *k) {
                    f.copies.iter_mut().for_each(|copy| copy.1.clear());
                }
            }
            Unit::Unplan(i) => unplanned[*i] = true,
            Unit::Lose(node, crash, key) => {
                let keys = c
                    .schedule
                    .as_mut()
                    .and_then(|s| s.disk.get_mut(node)?.get_mut(crash));
                if let Some(keys) = keys {
                    keys.retain(|k| k != key);
                }
            }
            Unit::Honest(i) => honest[*i] = true,
            Unit::Calm(what) => {
                let net = &mut c.config.adversary.network;
                match *what {
                    "forge" => net.forge = Ppm::ZERO,
                    "replay" => net.replay = Ppm::ZERO,
                    _ => net.alter = Ppm::ZERO,
                }
            }
        }
    }
    let mut i = 0;
    c.config.adversary.byzantine.retain(|_| {
        i += 1;
        !honest[i - 1]
    });
    let mut i = 0;
    c.config.faults.retain(|_| {
        i += 1;
        !dropped[i - 1]
    });
    let mut i = 0;
    c.config.network.planned.retain(|_| {
        i += 1;
        !unplanned[i - 1]
    });
    c
}

/// `c` with only the nodes in `keep` (ascending), renamed `n0`, `n1`...
/// in that order: faults, links and targets naming the others gone.
fn with_nodes(c: &Candidate, keep: &[u32]) -> Option<Candidate> {
    let mut c = c.clone();
    let rename = |id: NodeId| keep.binary_search(&id.0).ok().map(|i| NodeId(i as u32));
    let kept = |id: &NodeId| rename(*id).is_some();
    let map = |id: &mut NodeId| {
        if let Some(r) = rename(*id) {
            *id = r;
        }
    };
    // Twins' extra instances have process numbers after the last node,
    // which a schedule's links name: fewer nodes would renumber them.
    if c.config.processes() != c.config.nodes {
        return None;
    }
    c.config.nodes = keep.len() as u32;
    c.config.adversary.byzantine.retain(|b| kept(&b.node));
    for b in &mut c.config.adversary.byzantine {
        map(&mut b.node);
    }
    c.config
        .faults
        .retain(|f| f.after.is_none_or(|t| kept(&t.node)));
    for t in c.config.faults.iter_mut().filter_map(|f| f.after.as_mut()) {
        map(&mut t.node);
    }
    c.config.faults.retain(|f| match &f.action {
        FaultAction::Crash { node }
        | FaultAction::Restart { node }
        | FaultAction::Pause { node, .. }
        | FaultAction::Resume { node }
        | FaultAction::ClockSkew { node, .. } => kept(node),
        FaultAction::Forge { to, from } => kept(to) && from.as_ref().is_none_or(kept),
        FaultAction::Replay { to } | FaultAction::Alter { to } => kept(to),
        FaultAction::CutWire { a, b } | FaultAction::RestoreWire { a, b } => kept(a) && kept(b),
        // Aimed when they come, at whichever nodes are left.
        FaultAction::Partition { .. }
        | FaultAction::Heal { .. }
        | FaultAction::CrashPlaying { .. }
        | FaultAction::RestartCrashed { .. }
        | FaultAction::PausePlaying { .. }
        | FaultAction::ResumePaused { .. } => true,
    });
    for f in &mut c.config.faults {
        match &mut f.action {
            FaultAction::Crash { node }
            | FaultAction::Restart { node }
            | FaultAction::Pause { node, .. }
            | FaultAction::Resume { node }
            | FaultAction::ClockSkew { node, .. } => map(node),
            FaultAction::Forge { to, from } => {
                map(to);
                if let Some(f) = from {
                    map(f);
                }
            }
            FaultAction::Replay { to } | FaultAction::Alter { to } => map(to),
            FaultAction::CutWire { a, b } | FaultAction::RestoreWire { a, b } => {
                map(a);
                map(b);
            }
            FaultAction::Partition { spec, .. } => match spec {
                PartitionSpec::Groups(groups) => {
                    for g in groups.iter_mut() {
                        g.retain(kept);
                        g.iter_mut().for_each(map);
                    }
                    groups.retain(|g| !g.is_empty());
                }
                PartitionSpec::OneWay { from, to } => {
                    for side in [from, to] {
                        side.retain(kept);
                        side.iter_mut().for_each(map);
                    }
                }
                PartitionSpec::Isolate { .. } => {}
            },
            FaultAction::Heal { .. }
            | FaultAction::CrashPlaying { .. }
            | FaultAction::RestartCrashed { .. }
            | FaultAction::PausePlaying { .. }
            | FaultAction::ResumePaused { .. } => {}
        }
    }
    c.config
        .network
        .links
        .retain(|(a, b, _)| kept(a) && kept(b));
    for (a, b, _) in &mut c.config.network.links {
        map(a);
        map(b);
    }
    if let Some(t) = c.config.network.topology.as_mut() {
        t.retain(|(a, b)| kept(a) && kept(b));
        for (a, b) in t.iter_mut() {
            map(a);
            map(b);
        }
    }
    if let Some(w) = c.config.workload.as_mut() {
        if !w.targets.is_empty() {
            w.targets.retain(kept);
            if w.targets.is_empty() {
                return None;
            }
            w.targets.iter_mut().for_each(map);
        }
    }
    if let Some(s) = c.schedule.as_mut() {
        let link = |(a, b): (u32, u32)| Some((rename(NodeId(a))?.0, rename(NodeId(b))?.0));
        s.links = std::mem::take(&mut s.links)
            .into_iter()
            .filter_map(|(l, f)| Some((link(l)?, f)))
            .collect();
        s.payloads = std::mem::take(&mut s.payloads)
            .into_iter()
            .filter_map(|(l, p)| Some((link(l)?, p)))
            .collect();
    }
    Some(c)
}

/// `c`, cut from `from` nodes to `to`, with its crashes set off by a
/// node's sends aimed as far into those sends as before: a broadcast
/// reaches fewer peers, so the K-th send of `from` nodes is about the
/// K·(to−1)/(from−1)-th of `to` (rounded down, then up: up to two
/// candidates, none when no such trigger moves).
fn reaimed(c: &Candidate, from: u32, to: u32) -> Vec<Candidate> {
    let (peers, were) = (
        u128::from(to.saturating_sub(1)),
        u128::from(from.saturating_sub(1)),
    );
    if peers == 0 || were <= peers {
        return Vec::new();
    }
    let mut out: Vec<Candidate> = Vec::new();
    for up in [false, true] {
        let mut t = c.clone();
        let aimed = (t.config.faults.iter_mut())
            .filter_map(|f| f.after.as_mut())
            .filter(|a| a.of == crate::config::Progress::Sends);
        let mut moved = false;
        for a in aimed {
            let scaled = u128::from(a.count) * peers;
            let k = if up {
                scaled.div_ceil(were)
            } else {
                scaled / were
            };
            let k = u64::try_from(k).unwrap_or(u64::MAX).max(1);
            moved |= k != a.count;
            a.count = k;
        }
        let same = |o: &Candidate| o.config.faults == t.config.faults;
        if moved && !out.iter().any(same) {
            out.push(t);
        }
    }
    out
}

/// The ways to keep `k` of `n` nodes, those keeping the nodes that faults
/// name (and byzantine nodes) first, at most `cap` of them.
fn node_subsets(c: &Candidate, k: u32, cap: usize) -> Vec<Vec<u32>> {
    let n = c.config.nodes;
    let mut named = vec![0u32; n as usize];
    for b in &c.config.adversary.byzantine {
        if let Some(x) = named.get_mut(b.node.index()) {
            *x += 1;
        }
    }
    for f in &c.config.faults {
        let mut note = |id: &NodeId| {
            if let Some(x) = named.get_mut(id.0 as usize) {
                *x += 1;
            }
        };
        if let Some(t) = &f.after {
            note(&t.node);
        }
        match &f.action {
            FaultAction::Crash { node }
            | FaultAction::Restart { node }
            | FaultAction::Pause { node, .. }
            | FaultAction::Resume { node }
            | FaultAction::ClockSkew { node, .. }
            | FaultAction::Forge { to: node, .. }
            | FaultAction::Replay { to: node }
            | FaultAction::Alter { to: node } => note(node),
            FaultAction::CutWire { a, b } | FaultAction::RestoreWire { a, b } => {
                note(a);
                note(b);
            }
            FaultAction::Partition { .. }
            | FaultAction::Heal { .. }
            | FaultAction::CrashPlaying { .. }
            | FaultAction::RestartCrashed { .. }
            | FaultAction::PausePlaying { .. }
            | FaultAction::ResumePaused { .. } => {}
        }
    }
    let mut all = Vec::new();
    let mut pick: Vec<u32> = (0..k).collect();
    loop {
        all.push(pick.clone());
        if all.len() > 4096 {
            break;
        }
        // The next combination in lexicographic order.
        let Some(i) = (0..k as usize).rev().find(|&i| pick[i] < n - k + i as u32) else {
            break;
        };
        pick[i] += 1;
        for j in i + 1..k as usize {
            pick[j] = pick[j - 1] + 1;
        }
    }
    // Most faults kept first; ties in lexicographic order (stable sort).
    all.sort_by_key(|p| std::cmp::Reverse(p.iter().map(|&i| named[i as usize]).sum::<u32>()));
    all.truncate(cap);
    all
}

/// `c` over a network that loses, duplicates and corrupts nothing of its
/// own accord (recorded fates still apply).
fn tame(c: &Candidate) -> Candidate {
    let mut c = c.clone();
    let calm = |l: &mut crate::network::LinkConfig| {
        l.loss = Ppm::ZERO;
        l.duplicate = Ppm::ZERO;
        l.corrupt = Ppm::ZERO;
    };
    calm(&mut c.config.network.default);
    c.config
        .network
        .links
        .iter_mut()
        .for_each(|(_, _, l)| calm(l));
    c
}

/// `c` with every recorded latency, and the links' latency, set to `l`.
fn with_latency(c: &Candidate, l: Duration) -> Candidate {
    let mut c = c.clone();
    if let Some(s) = c.schedule.as_mut() {
        for fate in s.links.values_mut().flatten() {
            for copy in &mut fate.copies {
                if copy.0.is_some() {
                    copy.0 = Some(l);
                }
            }
        }
    }
    c.config.network.default.latency = Latency::Constant { latency: l };
    for (_, _, link) in &mut c.config.network.links {
        link.latency = Latency::Constant { latency: l };
    }
    c
}

/// The latencies recorded in `c`'s schedule, sorted.
fn latencies(c: &Candidate) -> Vec<Duration> {
    let mut out: Vec<Duration> = c
        .schedule
        .iter()
        .flat_map(|s| s.links.values().flatten())
        .flat_map(|f| f.copies.iter().filter_map(|copy| copy.0))
        .collect();
    out.sort_unstable();
    out
}

/// Searches from the same start with different seeds.
const ATTEMPTS: u64 = 2;

/// Fresh tries run side by side at a time.
const BATCH: usize = 8;

/// Shrinks a failing candidate.
pub struct Shrinker<'a> {
    runner: &'a dyn Runner,
    progress: &'a mut dyn FnMut(&Progress),
    options: Options,
    runs: u64,
    /// Rounds of search that found nothing (they salt the seeds tried).
    round: u32,
    /// The size of the last candidate fewer nodes were tried for.
    nodes_tried: Option<[u64; 10]>,
    /// How many quarters of the usual number of fresh tries a candidate
    /// gets.
    effort: u32,
    /// Runs allowed in the current phase (the last pass has a share of
    /// the budget of its own).
    limit: u64,
    phase: &'static str,
    best: (Candidate, Size),
    input: Size,
    /// The last kept candidate no larger than the input.
    result: (Candidate, Size),
    /// The runs tried when the best and the result were found.
    best_at: u64,
    result_at: u64,
    stopped: Option<String>,
    // How `max_records` cut the runs, for the budget's message.
    cut_by_records: Option<String>,
    /// The best size the searches already finished found: a search starts
    /// again from the cut run, and its progress must not read as the
    /// shrink growing back.
    earlier: Option<Size>,
}

impl<'a> Shrinker<'a> {
    /// Starts from `start`, which must fail (its run's figures are
    /// `stats`).
    pub fn new(
        start: Candidate,
        stats: &Stats,
        options: Options,
        runner: &'a dyn Runner,
        progress: &'a mut dyn FnMut(&Progress),
    ) -> Shrinker<'a> {
        let size = Size::of(&start, stats);
        let mut options = options;
        let runs = options.runs_for(size.records);
        let cut_by_records = (runs < options.max_runs).then(|| {
            options.max_runs = runs;
            format!(
                " (a run of {} records, at most {} records simulated)",
                size.records, options.max_records
            )
        });
        Shrinker {
            cut_by_records,
            runner,
            progress,
            runs: 0,
            effort: 4,
            nodes_tried: None,
            round: 0,
            limit: options.max_runs - options.max_runs / 4,
            options,
            phase: "start",
            best: (start.clone(), size),
            input: size,
            result: (start, size),
            best_at: 0,
            result_at: 0,
            stopped: None,
            earlier: None,
        }
    }

    /// What the progress display shows: the smallest failing size found
    /// so far, in this search or one before it.
    fn shown(&self, size: Size) -> Size {
        match self.earlier {
            Some(e) if e.key() < size.key() => e,
            _ => size,
        }
    }

    fn out_of_budget(&mut self) -> bool {
        if self.stopped.is_some() {
            return true;
        }
        if self.runs >= self.limit {
            self.stopped = Some(format!(
                "{} of the budget of {} runs{} was spent",
                if self.limit < self.options.max_runs {
                    "the search's share"
                } else {
                    "all"
                },
                self.options.max_runs,
                self.cut_by_records.as_deref().unwrap_or("")
            ));
        } else if self
            .options
            .deadline
            .is_some_and(|d| std::time::Instant::now() >= d)
        {
            self.stopped = Some("the time limit was reached".into());
        }
        self.stopped.is_some()
    }

    fn run(&mut self, c: &Candidate) -> Option<Size> {
        if self.out_of_budget() {
            return None;
        }
        self.runs += 1;
        if self.runs % 64 == 0 {
            let size = self.shown(self.best.1);
            (self.progress)(&Progress {
                runs: self.runs,
                phase: self.phase,
                size,
            });
        }
        self.runner.fails(c).map(|stats| Size::of(c, &stats))
    }

    /// Runs candidates side by side (on the threads rayon has): the size
    /// of each that fails. Within the budget, every one is run, so the
    /// outcome is the same on any number of threads.
    fn run_all(&mut self, cs: &[Candidate]) -> Vec<Option<Size>> {
        use rayon::prelude::*;
        if self.out_of_budget() {
            return vec![None; cs.len()];
        }
        let room = self.limit.saturating_sub(self.runs) as usize;
        let cs = &cs[..cs.len().min(room)];
        let before = self.runs;
        self.runs += cs.len() as u64;
        if self.runs / 64 > before / 64 {
            let size = self.shown(self.best.1);
            (self.progress)(&Progress {
                runs: self.runs,
                phase: self.phase,
                size,
            });
        }
        let runner = self.runner;
        cs.par_iter()
            .map(|c| runner.fails(c).map(|stats| Size::of(c, &stats)))
            .collect()
    }

    /// Runs `c`, and if it does not fail or its run is not `wanted`, `c`
    /// with fresh fates from a few other seeds: a failing, wanted version
    /// of it, with its size.
    fn fails_somehow(
        &mut self,
        c: &Candidate,
        reseed: bool,
        wanted: &dyn Fn(&Size) -> bool,
    ) -> Option<(Candidate, Size)> {
        if let Some(size) = self.run(c).filter(|s| wanted(s)) {
            return Some((c.clone(), size));
        }
        if !reseed {
            return None;
        }
        // First runs that fail no later than the best does (so a run with
        // fewer events is not bought with a much longer one), then any.
        let cap = Duration(
            self.best
                .1
                .failed_at
                .0
                .saturating_add(Duration::from_millis(1).0),
        );
        for capped in [true, false] {
            let calm = tame(c);
            let tries: Vec<Candidate> = (0..self.options.reseeds * self.effort / 4)
                .map(|i| {
                    // Fresh fates over a calm network (no loss that was
                    // not recorded), and every other try over the
                    // candidate's own.
                    let mut fresh = if i % 2 == 0 { calm.clone() } else { c.clone() };
                    fresh.schedule = None;
                    fresh.config.seed = derive_seed(c.config.seed, self.runs, i);
                    if capped && cap < fresh.config.limits.time {
                        fresh.config.limits.time = cap;
                        fresh.config.limits_cut_by = Some("shrink".into());
                    }
                    fresh
                })
                .collect();
            // In batches, the first that fails taken, so that a candidate
            // that fails at once costs few runs.
            for batch in tries.chunks(BATCH) {
                let sizes = self.run_all(batch);
                let hit = batch
                    .iter()
                    .zip(sizes)
                    .find_map(|(c, s)| s.filter(|s| wanted(s)).map(|s| (c.clone(), s)));
                if let Some((fresh, size)) = hit {
                    return Some(self.recorded(fresh, size));
                }
                if self.out_of_budget() {
                    return None;
                }
            }
        }
        None
    }

    /// A failing run with fates drawn from its seed, as a candidate with
    /// the schedule it produced (the same run, and one whose fates later
    /// simplifications can take away).
    fn recorded(&mut self, fresh: Candidate, size: Size) -> (Candidate, Size) {
        let Some(schedule) = self.runner.record(&fresh) else {
            return (fresh, size);
        };
        let mut recorded = fresh.clone();
        recorded.schedule = Some(schedule);
        match self.run(&recorded) {
            Some(size) => (recorded, size),
            None => (fresh, size),
        }
    }

    /// Keeps `c` if a version of it fails and is smaller than the best.
    fn consider(&mut self, c: &Candidate, reseed: bool) -> bool {
        let best = self.best.1.key();
        let input = self.input;
        let wanted = |s: &Size| s.key() < best && s.within(&input);
        match self.fails_somehow(c, reseed, &wanted) {
            Some((c, size)) if size.key() < self.best.1.key() => {
                if size.within(&self.input) {
                    self.result = (c.clone(), size);
                    self.result_at = self.runs;
                }
                self.best = (c, size);
                self.best_at = self.runs;
                let size = self.shown(size);
                (self.progress)(&Progress {
                    runs: self.runs,
                    phase: self.phase,
                    size,
                });
                true
            }
            _ => false,
        }
    }

    /// ddmin over `units` of the best candidate: drop halves, then
    /// quarters... keeping every drop after which a version still fails.
    /// `list` lists the units afresh after a drop.
    fn ddmin(&mut self, list: fn(&Candidate) -> Vec<Unit>, reseed: bool) -> bool {
        let mut changed = false;
        let mut units = list(&self.best.0);
        let mut chunk = units.len().div_ceil(2).max(1);
        while !units.is_empty() && !self.out_of_budget() {
            let mut i = 0;
            let mut progressed = false;
            while i < units.len() {
                let end = (i + chunk).min(units.len());
                let tried = without(&self.best.0, &units[i..end]);
                // When many removals are tried, each gets a few fresh
                // tries; when few, the usual number.
                self.effort = if units.len() <= 8 { 4 } else { 1 };
                let kept = self.consider(&tried, reseed);
                self.effort = 4;
                if kept {
                    units = list(&self.best.0);
                    progressed = true;
                    changed = true;
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
                chunk = chunk.min(units.len().div_ceil(2)).max(1);
            }
        }
        changed
    }

    /// Fewer operations: the smallest prefix that still fails.
    fn fewer_operations(&mut self) -> bool {
        let Some(count) = self.best.0.config.workload.as_ref().map(|w| w.count) else {
            return false;
        };
        let (mut lo, mut hi) = (0u64, count);
        let mut changed = false;
        while lo < hi && !self.out_of_budget() {
            let mid = lo + (hi - lo) / 2;
            let mut tried = self.best.0.clone();
            if let Some(w) = tried.config.workload.as_mut() {
                w.count = mid;
                w.skip.retain(|&id| id < mid);
            }
            if self.consider(&tried, true) {
                changed = true;
                hi = self
                    .best
                    .0
                    .config
                    .workload
                    .as_ref()
                    .map_or(0, |w| w.count)
                    .min(mid);
            } else {
                lo = mid + 1;
            }
        }
        changed
    }

    /// Fewer nodes: the smallest count the protocol allows at which some
    /// choice of nodes (those the faults name first) still fails; the
    /// smallest failing run at that count is kept.
    fn fewer_nodes(&mut self) -> bool {
        // Not again for a candidate no smaller than the last one tried.
        let key = self.best.1.key();
        if self.nodes_tried.is_some_and(|k| k <= key) {
            return false;
        }
        self.nodes_tried = Some(key);
        let from = self.best.0.config.nodes;
        for n in self.options.min_nodes.max(1)..from {
            let mut found: Option<(Candidate, Size)> = None;
            // Each choice of nodes, then with its crashes set off by sends
            // aimed anew.
            let tries: Vec<Candidate> = node_subsets(&self.best.0, n, 12)
                .iter()
                .filter_map(|keep| with_nodes(&self.best.0, keep))
                .flat_map(|t| {
                    let again = reaimed(&t, from, n);
                    std::iter::once(t).chain(again)
                })
                .collect();
            for tried in tries {
                let bound = found.as_ref().map(|f| f.1.key());
                let input = self.input;
                let wanted = |s: &Size| bound.is_none_or(|b| s.key() < b) && s.within(&input);
                // A smaller system is worth more tries than one event.
                self.effort = 16;
                let hit = self.fails_somehow(&tried, true, &wanted);
                self.effort = 4;
                if let Some(hit) = hit {
                    found = Some(hit);
                }
                if self.out_of_budget() {
                    break;
                }
            }
            if let Some((c, _)) = found {
                return self.consider(&c, false);
            }
        }
        false
    }

    /// One fixed latency everywhere: the shortest recorded, then the
    /// median.
    fn steady_latencies(&mut self) -> bool {
        let recorded = latencies(&self.best.0);
        let Some(&shortest) = recorded.first() else {
            return false;
        };
        let median = recorded[recorded.len() / 2];
        let mut changed = false;
        for l in [shortest, median] {
            let tried = with_latency(&self.best.0, l);
            changed |= self.consider(&tried, false);
        }
        changed
    }

    /// Other schedules for the same events: fresh fates from a number of
    /// seeds, over a calm network and over the candidate's own, with the
    /// events at their times and sooner, keeping the shortest failing run
    /// (DEMi explores schedules of the minimal external events the same
    /// way).
    fn shorter_schedules(&mut self) -> bool {
        let base = self.best.0.clone();
        // The events kept: all of them, and when there are few fault
        // groups, each one alone and each two together.
        let groups = fault_groups(&base);
        let mut subsets: Vec<Vec<usize>> = vec![(0..groups.len()).collect()];
        if groups.len() <= 6 {
            for a in 0..groups.len() {
                subsets.push(vec![a]);
                for b in a + 1..groups.len() {
                    subsets.push(vec![a, b]);
                }
            }
            subsets.dedup();
        }
        const SHIFTS: u32 = 5;
        let per = (self.options.schedules / (subsets.len() as u32 * SHIFTS)).max(2);
        // Runs that fail no later than the best does.
        let cap = Duration(
            self.best
                .1
                .failed_at
                .0
                .saturating_add(Duration::from_millis(1).0),
        );
        let mut found: Option<(Candidate, Size)> = None;
        for (k, keep) in subsets.iter().enumerate() {
            let drop: Vec<Unit> = (0..groups.len())
                .filter(|g| !keep.contains(g))
                .map(|g| Unit::Faults(groups[g].clone()))
                .collect();
            let kept = without(&base, &drop);
            // At their times, and sooner (a shorter run before them).
            for shift in 0..SHIFTS {
                // All moved together, the first to 1/2^shift of its time.
                let mut shifted = kept.clone();
                // A triggered fault's time counts from its trigger: kept.
                let first = shifted
                    .config
                    .faults
                    .iter()
                    .filter(|f| f.after.is_none())
                    .map(|f| f.at.0)
                    .min()
                    .unwrap_or(0);
                let cut = first - (first >> shift);
                for f in shifted
                    .config
                    .faults
                    .iter_mut()
                    .filter(|f| f.after.is_none())
                {
                    f.at = Duration(f.at.0 - cut);
                }
                if let Some(w) = shifted.config.workload.as_mut() {
                    w.start = Duration(w.start.0 >> shift);
                }
                let calm = tame(&shifted);
                let tries: Vec<Candidate> = (0..per)
                    .map(|i| {
                        let mut fresh = if i % 2 == 0 {
                            calm.clone()
                        } else {
                            shifted.clone()
                        };
                        fresh.schedule = None;
                        let salt = 0x5eed + shift + SHIFTS * (k as u32 + 64 * self.round);
                        fresh.config.seed = derive_seed(base.config.seed, u64::from(i), salt);
                        if cap < fresh.config.limits.time {
                            fresh.config.limits.time = cap;
                            fresh.config.limits_cut_by = Some("shrink".into());
                        }
                        fresh
                    })
                    .collect();
                let sizes = self.run_all(&tries);
                for (fresh, size) in tries.into_iter().zip(sizes) {
                    let Some(size) = size else { continue };
                    if found.as_ref().is_none_or(|(_, f)| size.key() < f.key()) {
                        found = Some((fresh, size));
                    }
                }
            }
        }
        match found {
            Some((fresh, size)) if size.key() < self.best.1.key() => {
                let (c, _) = self.recorded(fresh, size);
                self.consider(&c, false)
            }
            _ => false,
        }
    }

    /// Faults earlier (a shorter run before them): all moved together,
    /// the gaps between them kept, so that the first comes at 1/8, 1/4,
    /// 1/2 or 3/4 of its time; then all at half and three quarters of
    /// their times.
    fn earlier_faults(&mut self) -> bool {
        // A triggered fault's time counts from its trigger: kept.
        let timed = |f: &&mut crate::config::Fault| f.after.is_none();
        let Some(first) = (self.best.0.config.faults.iter())
            .filter(|f| f.after.is_none())
            .map(|f| f.at.0)
            .min()
        else {
            return self.sooner_triggers();
        };
        let mut changed = false;
        for (num, den) in [(1u64, 8u64), (1, 4), (1, 2), (3, 4)] {
            let cut = first - first / den * num;
            let mut tried = self.best.0.clone();
            for f in tried.config.faults.iter_mut().filter(timed) {
                f.at = Duration(f.at.0.saturating_sub(cut));
            }
            if self.consider(&tried, true) {
                changed = true;
                break;
            }
        }
        for (num, den) in [(1u64, 2u64), (3, 4)] {
            let mut tried = self.best.0.clone();
            for f in tried.config.faults.iter_mut().filter(timed) {
                f.at = Duration(f.at.0 / den * num);
            }
            changed |= self.consider(&tried, true);
        }
        changed | self.sooner_triggers()
    }

    /// Crashes set off by a node's progress, set off sooner: at a smaller
    /// count of its messages (a crash and its restart together). Taking
    /// operations away moves a crash tied to the 106th send to another
    /// moment of the run; set off sooner, the failure comes with fewer
    /// operations before it, and those after go.
    fn sooner_triggers(&mut self) -> bool {
        let mut triggers: Vec<crate::config::Trigger> = (self.best.0.config.faults.iter())
            .filter_map(|f| f.after)
            .collect();
        triggers.sort_unstable();
        triggers.dedup();
        let mut changed = false;
        for t in triggers {
            let k = t.count;
            let mut counts = vec![1, k / 8, k / 4, k / 2, k - k / 4, k - 1];
            counts.retain(|&c| c >= 1 && c < k);
            counts.dedup();
            for count in counts {
                let mut tried = self.best.0.clone();
                for f in &mut tried.config.faults {
                    if let Some(a) = f.after.as_mut().filter(|a| **a == t) {
                        a.count = count;
                    }
                }
                if tried.config.validate().is_err() {
                    continue;
                }
                if self.consider(&tried, true) {
                    changed = true;
                    break;
                }
                if self.out_of_budget() {
                    return changed;
                }
            }
        }
        changed
    }

    /// One round of the simplifications that try few runs each: whether
    /// any gave way.
    fn simplify(&mut self) -> bool {
        let mut changed = false;
        self.phase = "operations";
        changed |= self.fewer_operations();
        // Each removal with the schedule kept first (cheap), then with
        // fresh fates for those that remain.
        let ops: fn(&Candidate) -> Vec<Unit> =
            |c| operations(c).into_iter().map(Unit::Operation).collect();
        changed |= self.ddmin(ops, false);
        changed |= self.ddmin(ops, true);
        self.phase = "faults";
        let faults: fn(&Candidate) -> Vec<Unit> = |c| {
            let mut units = adversary_units(c);
            units.extend(fault_groups(c).into_iter().map(Unit::Faults));
            units
        };
        changed |= self.ddmin(faults, false);
        changed |= self.ddmin(faults, true);
        self.phase = "message faults";
        let calm = without(&self.best.0, &message_units(&self.best.0));
        changed |= self.consider(&calm, true);
        changed |= self.ddmin(message_units, false);
        self.phase = "latencies";
        changed |= self.steady_latencies();
        self.phase = "fault times";
        changed |= self.earlier_faults();
        changed
    }

    /// Nothing left to take away: no fault, operation or message fault,
    /// the fewest nodes the protocol allows, and the failure at the
    /// first instant, so that no schedule can bring it sooner. A check
    /// that fails before anything happened gets there (every node
    /// uninformed before a rumor was told); searching on would spend the
    /// budget on runs that cannot be smaller.
    fn at_floor(&self) -> bool {
        let s = &self.best.1;
        s.faults + s.operations + s.decided + s.kept == 0
            && s.nodes <= u64::from(self.options.min_nodes.max(1))
            && s.failed_at == Instant(0)
    }

    /// The cheap simplifications until none gives way; then the searches
    /// (other node sets, other schedules), and again. When nothing gives
    /// way, other seeds get a chance (twice).
    fn search(&mut self) {
        let mut idle = 0;
        loop {
            while self.simplify() && !self.out_of_budget() {}
            if self.at_floor() {
                break;
            }
            self.phase = "nodes";
            let mut changed = self.fewer_nodes();
            if !changed {
                self.phase = "schedules";
                changed = self.shorter_schedules();
            }
            if self.out_of_budget() {
                break;
            }
            if changed {
                idle = 0;
            } else if idle < 2 {
                idle += 1;
                self.round += 1;
            } else {
                break;
            }
        }
    }

    /// Keeps a run cut shorter if it is no larger than the best; it is
    /// found at this run only if it is smaller (a cut that changed nothing
    /// but the time limit was found where the run it cuts was).
    fn keep_cut(&mut self, cut: Candidate, size: Size) {
        if size.key() <= self.best.1.key() {
            if size.within(&self.input) {
                if size.key() < self.result.1.key() {
                    self.result_at = self.runs;
                }
                self.result = (cut.clone(), size);
            }
            if size.key() < self.best.1.key() {
                self.best_at = self.runs;
            }
            self.best = (cut, size);
        }
    }

    /// A check judged over the whole run (a history's linearizability)
    /// fails at the run's end, though a prefix may already show it: the
    /// run cut at the earliest time, to the millisecond, at which it still
    /// fails, found by halving (operations pending at a cut are of unknown
    /// outcome, so a prefix that fails shows a real violation). A failure
    /// judged as it happened is not found earlier: one run tells it (the
    /// run cut a millisecond before its failure passes). At most a few
    /// dozen runs, whatever the run budget left; a wall-clock deadline
    /// passed stops it.
    fn earliest_cut(&mut self, (best, size): (Candidate, Size)) -> (Candidate, Size) {
        let millisecond = Duration::from_millis(1).0;
        let (mut passes, mut fails) = (0u64, size.failed_at.0);
        let mut found = (best, size);
        let mut probe = true;
        let deadline = self.options.deadline;
        while fails - passes > millisecond && deadline.is_none_or(|d| std::time::Instant::now() < d)
        {
            let mid = match std::mem::take(&mut probe) {
                true => fails - millisecond,
                false => passes + (fails - passes) / 2,
            };
            let mut cut = found.0.clone();
            cut.config.limits.time = Duration(mid);
            cut.config.limits_cut_by = Some("shrink".into());
            self.runs += 1;
            match self.runner.fails(&cut).map(|stats| Size::of(&cut, &stats)) {
                Some(size) => {
                    fails = size.failed_at.0.min(mid);
                    if size.key() <= found.1.key() {
                        found = (cut, size);
                    }
                }
                None => passes = mid,
            }
        }
        found
    }

    /// Shrinks until nothing more gives way or the budget runs out.
    pub fn shrink(mut self, failed_at: Instant) -> Shrunk {
        // Nothing after the failure matters. The cut is marked, so a run
        // it ends does not evaluate end-of-run checks over a state the
        // scenario never asked for.
        self.phase = "cut";
        let mut shorter = self.best.0.clone();
        shorter.config.limits.time =
            Duration(failed_at.0.saturating_add(Duration::from_millis(1).0));
        shorter.config.limits_cut_by = Some("shrink".into());
        if let Some(size) = self.run(&shorter) {
            self.keep_cut(shorter, size);
        }
        let (cut, size) = self.earliest_cut(self.best.clone());
        self.keep_cut(cut, size);
        // Two searches from the cut run, with different seeds, each with
        // its share of the budget: the better result is kept (a search can
        // settle where another seed would not).
        let (start, start_at) = (self.best.clone(), self.best_at);
        let share = (self.options.max_runs - self.options.max_runs / 4) / ATTEMPTS;
        let mut main_stopped = None;
        for attempt in 0..ATTEMPTS {
            let kept = std::mem::replace(&mut self.best, start.clone());
            let kept_at = std::mem::replace(&mut self.best_at, start_at);
            self.nodes_tried = None;
            self.round = 64 * attempt as u32;
            self.limit = self.runs.max(share * attempt) + share;
            self.stopped = None;
            self.search();
            self.earlier = Some(self.shown(self.best.1));
            main_stopped = main_stopped.or(self.stopped.take());
            if attempt > 0 && kept.1.key() <= self.best.1.key() {
                self.best = kept;
                self.best_at = kept_at;
            }
        }
        if self.best.1.within(&self.input) {
            self.result = self.best.clone();
            self.result_at = self.best_at;
        }
        // Events taken away may have brought the failure earlier.
        let (cut, size) = self.earliest_cut(self.best.clone());
        self.keep_cut(cut, size);
        // 1-minimal: each remaining event alone, the schedule fixed, with
        // the rest of the budget.
        self.phase = "1-minimal";
        self.limit = self.options.max_runs;
        if !self.best.1.within(&self.input) {
            self.best = self.result.clone();
            self.best_at = self.result_at;
        }
        if !self.out_of_budget() {
            // Fix every fate (a send the schedule did not match drew its
            // own), so that taking one event away moves no other.
            let (c, size) = self.best.clone();
            let (c, size) = self.recorded(c, size);
            if size.within(&self.input) {
                if size.key() < self.result.1.key() {
                    self.result_at = self.runs;
                }
                self.best = (c.clone(), size);
                self.result = (c, size);
            }
        }
        // Passes over the events left until one takes nothing away; a
        // removal keeps the other events' names (faults are tried last,
        // as taking one renumbers those after it).
        while !self.out_of_budget() {
            let mut changed = false;
            let mut units = all_units(&self.best.0);
            units.rotate_left(fault_groups(&self.best.0).len());
            for u in units {
                if self.out_of_budget() {
                    break;
                }
                if !all_units(&self.best.0).contains(&u) {
                    continue;
                }
                // Taken even when the run grows elsewhere (an event fewer
                // is the point), but never past the input's size: this
                // version, or one with fresh fates.
                let tried = without(&self.best.0, std::slice::from_ref(&u));
                if self.run(&tried).is_none() {
                    continue;
                }
                let input = self.input;
                let within = move |s: &Size| s.within(&input);
                if let Some((c, size)) = self.fails_somehow(&tried, true, &within) {
                    // A send the old schedule no longer matches drew its
                    // fate: fixed again, or the next removal would move it
                    // and the result would be 1-minimal only against fates
                    // its trace does not hold.
                    let (c, size) = self.recorded(c, size);
                    // The run made the event anew (an explored path that
                    // drops the message itself): nothing was taken away,
                    // and taking it again would loop to the budget's end.
                    if all_units(&c).contains(&u) && size.key() >= self.best.1.key() {
                        continue;
                    }
                    self.best = (c.clone(), size);
                    self.result = (c, size);
                    self.result_at = self.runs;
                    changed = true;
                    if matches!(u, Unit::Faults(_)) {
                        break;
                    }
                }
            }
            if !changed {
                break;
            }
        }
        // A fault due after the result's run ends never happens, yet would
        // count, and be listed, as one of its faults: taken away (the run
        // is the same; it is run once more to be sure).
        let (mut candidate, mut after) = self.result;
        let end = candidate.config.limits.time;
        if candidate.config.faults.iter().any(|f| f.at > end) {
            let mut trimmed = candidate.clone();
            trimmed.config.faults.retain(|f| f.at <= end);
            self.runs += 1;
            let size = self.runner.fails(&trimmed).map(|s| Size::of(&trimmed, &s));
            if let Some(size) = size.filter(|s| s.key() <= after.key()) {
                (candidate, after) = (trimmed, size);
            }
        }
        Shrunk {
            candidate,
            before: self.input,
            after,
            runs: self.runs,
            found_at: self.result_at,
            minimal: self.stopped.is_none(),
            // What cut the last pass, if anything did: it is what the
            // result lacks.
            stopped: self.stopped.or(main_stopped),
        }
    }
}

/// Every single event a candidate could do without.
fn all_units(c: &Candidate) -> Vec<Unit> {
    let mut out: Vec<Unit> = fault_groups(c).into_iter().map(Unit::Faults).collect();
    out.extend(adversary_units(c));
    out.extend(operations(c).into_iter().map(Unit::Operation));
    out.extend(message_units(c));
    out
}

/// The crashes and restarts an explored path takes as steps of its own;
/// `None` for a run of a seed, whose faults are its configuration's.
pub fn explored_faults(c: &Candidate, stats: &Stats) -> Option<u64> {
    match c.config.strategy {
        crate::config::Strategy::Explore { .. } => Some(stats.crashes + stats.restarts),
        _ => None,
    }
}

/// Takes away each remaining fault, operation and message fault of `c`
/// alone (the schedule fixed) and says which removals still fail: none,
/// when `c` is 1-minimal; those whose run outgrows `input` (the run
/// shrunk) apart.
pub fn verify(c: &Candidate, runner: &dyn Runner, input: &Size) -> Minimality {
    let mut m = Minimality::default();
    for u in all_units(c) {
        m.tried += 1;
        let tried = without(c, std::slice::from_ref(&u));
        let Some(stats) = runner.fails(&tried) else {
            continue;
        };
        match Size::of(&tried, &stats).grown(input) {
            grown if grown.is_empty() => m.still_fail.push(u.describe(c)),
            grown => m
                .outgrow
                .push(format!("{} ({})", u.describe(c), grown.join(", "))),
        }
    }
    m
}

/// A seed for a fresh try: from the candidate's seed, a count (how far
/// the search has got, or which try) and a salt.
fn derive_seed(seed: u64, i: u64, salt: u32) -> u64 {
    let mut x =
        seed ^ i.rotate_left(17) ^ (u64::from(salt) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    (x ^ (x >> 29)) >> 1
}

/// The candidate's schedule, shared for a run.
pub fn shared(c: &Candidate) -> Option<Arc<Schedule>> {
    c.schedule.clone().map(Arc::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Fault;
    use crate::node::NodeId;
    use crate::time::Duration;

    /// Fails whatever is taken away; without its faults the run is
    /// `bare` records long, with them 100.
    struct AlwaysFails {
        bare: u64,
    }

    impl Runner for AlwaysFails {
        fn fails(&self, c: &Candidate) -> Option<Stats> {
            let records = if c.config.faults.is_empty() {
                self.bare
            } else {
                100
            };
            Some(Stats {
                records,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            None
        }
    }

    /// Fails whatever is taken away, and records a schedule that loses
    /// the first message on link 0 -> 1 whatever the candidate's said (as
    /// an explored path that drops it itself does).
    struct DropsItself;

    impl DropsItself {
        fn schedule() -> Schedule {
            let mut s = Schedule::default();
            s.links.insert(
                (0, 1),
                vec![crate::network::ScriptedFate {
                    lost: true,
                    copies: vec![(Some(Duration::from_millis(1)), Vec::new())],
                    fresh_latency: false,
                    unseen_for: None,
                }],
            );
            s
        }
    }

    impl Runner for DropsItself {
        fn fails(&self, _: &Candidate) -> Option<Stats> {
            Some(Stats {
                records: 50,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            Some(DropsItself::schedule())
        }
    }

    #[test]
    fn a_loss_the_run_makes_anew_is_not_taken_away_over_and_over() {
        let c = Candidate {
            config: SimConfig::new(1, 2),
            schedule: Some(DropsItself::schedule()),
        };
        let stats = Stats {
            records: 50,
            ..Stats::default()
        };
        let mut progress = |_: &Progress| {};
        let options = Options {
            max_runs: 5_000,
            ..Options::default()
        };
        let shrunk = Shrinker::new(c, &stats, options, &DropsItself, &mut progress)
            .shrink(crate::time::Instant(Duration::from_millis(10).0));
        // Before, the last pass "took" the loss again and again, each time
        // a result found, until the budget ran out.
        assert!(shrunk.runs < 5_000, "{} runs", shrunk.runs);
        assert!(shrunk.found_at < 1_000, "found at run {}", shrunk.found_at);
    }

    /// Fails whatever is taken away, at the time given.
    struct FailsAt(Instant);

    impl Runner for FailsAt {
        fn fails(&self, c: &Candidate) -> Option<Stats> {
            Some(Stats {
                records: 10 + 90 * c.config.faults.len() as u64,
                time: self.0,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            None
        }
    }

    /// Shrinks a run of three nodes with these faults, `records` long,
    /// that fails at `at` (as [`FailsAt`]), within `max_runs`.
    fn shrink_failing_at(
        faults: Vec<Fault>,
        records: u64,
        at: Instant,
        max_runs: u64,
        progress: &mut dyn FnMut(&Progress),
    ) -> Shrunk {
        let mut config = SimConfig::new(1, 3);
        config.faults = faults;
        let stats = Stats {
            records,
            time: at,
            ..Stats::default()
        };
        let c = Candidate {
            config,
            schedule: None,
        };
        let options = Options {
            max_runs,
            ..Options::default()
        };
        Shrinker::new(c, &stats, options, &FailsAt(at), progress).shrink(at)
    }

    /// Fails once node 0's crash set off by its sends has come: a client
    /// operation makes ten sends, so the crash after the k-th comes during
    /// operation k / 10, and the run fails there. With fewer operations
    /// than that the crash never comes, and the run passes.
    struct CrashDuringOperation;

    impl Runner for CrashDuringOperation {
        fn fails(&self, c: &Candidate) -> Option<Stats> {
            let k = c.config.faults.iter().find_map(|f| f.after)?.count;
            let ops = k.div_ceil(10);
            let planned = c.config.workload.as_ref().map_or(0, |w| w.count);
            (ops <= planned).then(|| Stats {
                inputs: ops,
                records: 20 * ops + 10,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            None
        }
    }

    #[test]
    fn a_crash_set_off_by_a_count_of_messages_is_set_off_sooner_and_the_operations_before_it_go() {
        let mut config = SimConfig::new(1, 3);
        let trigger = crate::config::Trigger::sends(NodeId(0), 106);
        config.faults = vec![
            Fault {
                at: Duration::ZERO,
                action: FaultAction::Crash { node: NodeId(0) },
                after: Some(trigger),
            },
            Fault {
                at: Duration::from_millis(5),
                action: FaultAction::Restart { node: NodeId(0) },
                after: Some(trigger),
            },
        ];
        config.workload = Some(crate::config::Workload {
            count: 20,
            start: Duration::ZERO,
            interval: Latency::Constant {
                latency: Duration::from_millis(1),
            },
            targets: Vec::new(),
            value_range: 0,
            skip: Vec::new(),
        });
        let c = Candidate {
            config,
            schedule: None,
        };
        let stats = CrashDuringOperation.fails(&c).unwrap();
        let mut progress = |_: &Progress| {};
        let options = Options {
            max_runs: 2_000,
            ..Options::default()
        };
        let shrunk = Shrinker::new(c, &stats, options, &CrashDuringOperation, &mut progress)
            .shrink(Instant::ZERO);
        // Tied to the 106th send, the crash needed eleven operations
        // before it; set off by the first sends, one.
        assert_eq!(shrunk.before.operations, 11);
        assert_eq!(shrunk.after.operations, 1);
        let after: Vec<_> = (shrunk.candidate.config.faults.iter())
            .map(|f| f.after.map(|t| t.count))
            .collect();
        assert!(
            !after.is_empty() && after.iter().all(|k| k.is_some_and(|k| k <= 10)),
            "{after:?}"
        );
    }

    /// Node 0 asks its n − 1 peers (sends 1 to n − 1), then tells them
    /// its decision (sends n to 2n − 2): the run fails when a crash set
    /// off by its sends cuts the decision's broadcast halfway (after send
    /// n to 2n − 3), some peers told and others not.
    struct CutMidBroadcast;

    impl Runner for CutMidBroadcast {
        fn fails(&self, c: &Candidate) -> Option<Stats> {
            let n = u64::from(c.config.nodes);
            let k = c.config.faults.iter().find_map(|f| f.after)?.count;
            (n <= k && k + 3 <= 2 * n).then(|| Stats {
                records: 10 * n,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            None
        }
    }

    #[test]
    fn fewer_nodes_aim_a_crash_set_off_by_sends_at_the_same_broadcast() {
        let mut config = SimConfig::new(1, 4);
        let trigger = crate::config::Trigger::sends(NodeId(0), 4);
        config.faults = vec![Fault {
            at: Duration::ZERO,
            action: FaultAction::Crash { node: NodeId(0) },
            after: Some(trigger),
        }];
        let c = Candidate {
            config,
            schedule: None,
        };
        let stats = CutMidBroadcast.fails(&c).unwrap();
        let options = Options {
            max_runs: 50_000,
            ..Options::default()
        };
        let shrunk =
            Shrinker::new(c, &stats, options, &CutMidBroadcast, &mut |_| {}).shrink(Instant::ZERO);
        // Four nodes: the decision's first send is the 4th; three nodes:
        // the 3rd (4 · 2/3, rounded up). Two nodes have no halfway.
        assert_eq!((shrunk.before.nodes, shrunk.after.nodes), (4, 3));
        let after = shrunk.candidate.config.faults[0].after;
        assert_eq!(after.map(|t| t.count), Some(3));
    }

    #[test]
    fn a_failure_at_the_first_instant_with_nothing_left_ends_the_search() {
        let shrink = |at: Instant| {
            let crash = Fault::at(
                Duration::from_millis(10),
                FaultAction::Crash { node: NodeId(1) },
            );
            shrink_failing_at(vec![crash], 100, at, 20_000, &mut |_| {})
        };
        // Failing at 0 with no fault and one node, nothing can be smaller.
        let floor = shrink(Instant(0));
        assert_eq!(
            (floor.after.faults, floor.after.nodes, floor.after.records),
            (0, 1, 10)
        );
        assert!(floor.runs < 2_000, "{} runs", floor.runs);
        // Failing later, another schedule might fail sooner: searched.
        let later = shrink(Instant(Duration::from_millis(5).0));
        assert_eq!((later.after.faults, later.after.nodes), (0, 1));
        assert!(later.runs > 10_000, "{} runs", later.runs);
    }

    #[test]
    fn the_progress_shown_never_grows_when_a_second_search_starts_over() {
        // Two searches start from the same run; the second's first steps
        // are larger than what the first found, and were shown as the
        // shrink growing back.
        let at = Instant(Duration::from_millis(5).0);
        let crashes = (0..3)
            .map(|n| {
                Fault::at(
                    Duration::from_millis(1),
                    FaultAction::Crash { node: NodeId(n) },
                )
            })
            .collect();
        let mut shown = Vec::new();
        let mut progress = |p: &Progress| shown.push((p.phase, p.size.key()));
        let shrunk = shrink_failing_at(crashes, 280, at, 4_000, &mut progress);
        assert_eq!((shrunk.after.faults, shrunk.after.nodes), (0, 1));
        assert!(shown.len() > 2, "{shown:?}");
        for w in shown.windows(2) {
            assert!(w[1].1 <= w[0].1, "the size shown grew: {w:?}");
        }
    }

    /// Fails only as the input does: with both its faults and every
    /// node, a million records long; counts the runs it was asked for.
    struct OnlyAsIs(std::sync::atomic::AtomicU64);

    impl Runner for OnlyAsIs {
        fn fails(&self, c: &Candidate) -> Option<Stats> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            (c.config.faults.len() == 2 && c.config.nodes == 3).then(|| Stats {
                records: 1_000_000,
                ..Stats::default()
            })
        }
        fn record(&self, _: &Candidate) -> Option<Schedule> {
            None
        }
    }

    #[test]
    fn a_long_input_gets_the_runs_its_records_budget_allows() {
        let mut config = SimConfig::new(1, 3);
        config.faults = vec![
            Fault::at(
                Duration::from_millis(10),
                FaultAction::Crash { node: NodeId(1) },
            ),
            Fault::at(
                Duration::from_millis(20),
                FaultAction::Crash { node: NodeId(2) },
            ),
        ];
        let stats = Stats {
            records: 1_000_000,
            ..Stats::default()
        };
        let shrink = |max_records| {
            let c = Candidate {
                config: config.clone(),
                schedule: None,
            };
            let runner = OnlyAsIs(Default::default());
            let options = Options {
                max_runs: 5_000,
                max_records,
                ..Options::default()
            };
            let mut progress = |_: &Progress| {};
            let shrunk = Shrinker::new(c, &stats, options, &runner, &mut progress)
                .shrink(crate::time::Instant(Duration::from_millis(30).0));
            (shrunk, runner.0.into_inner())
        };
        // Without a records budget the search spends more than 300 runs;
        // 300 million records allow 300 runs of a million.
        let (free, _) = shrink(u64::MAX);
        assert!(free.runs > 300, "{} runs", free.runs);
        let (cut, asked) = shrink(300_000_000);
        assert!(
            cut.runs <= 300 && asked <= 300,
            "{} runs, {asked} asked",
            cut.runs
        );
        let why = cut.stopped.expect("stopped by its budget");
        assert!(
            why.contains(
                "300 runs (a run of 1000000 records, at most 300000000 records simulated)"
            ),
            "{why}"
        );
        // Never fewer than MIN_RUNS.
        let (least, _) = shrink(1);
        let why = least.stopped.expect("stopped by its budget");
        assert!(why.contains("the budget of 100 runs (a run of"), "{why}");
        assert!(least.runs <= MIN_RUNS, "{} runs", least.runs);
    }

    #[test]
    fn verify_tells_a_removal_that_outgrows_the_input_from_one_that_does_not() {
        let mut config = SimConfig::new(1, 3);
        config.faults = vec![
            Fault::at(
                Duration::from_millis(10),
                FaultAction::Crash { node: NodeId(1) },
            ),
            Fault::at(
                Duration::from_millis(20),
                FaultAction::Restart { node: NodeId(1) },
            ),
        ];
        let c = Candidate {
            config,
            schedule: None,
        };
        let input = Size {
            faults: 2,
            nodes: 3,
            records: 200,
            ..Size::default()
        };
        // Taking the crash away still fails, in a run no larger: not
        // 1-minimal.
        let m = verify(&c, &AlwaysFails { bare: 150 }, &input);
        assert_eq!((m.tried, m.still_fail.len(), m.outgrow.len()), (1, 1, 0));
        // In a run of 500 records where the input had 200: kept, and why.
        let m = verify(&c, &AlwaysFails { bare: 500 }, &input);
        assert!(m.still_fail.is_empty(), "{m:?}");
        assert_eq!(m.outgrow.len(), 1);
        assert!(m.outgrow[0].ends_with("(records 200 -> 500)"), "{m:?}");
    }

    #[test]
    fn a_wire_cut_one_way_round_and_restored_the_other_is_one_group() {
        let mut config = SimConfig::new(1, 3);
        let at = |ms, action| Fault::at(Duration::from_millis(ms), action);
        config.faults = vec![
            at(
                10,
                FaultAction::CutWire {
                    a: NodeId(0),
                    b: NodeId(1),
                },
            ),
            at(20, FaultAction::Crash { node: NodeId(2) }),
            at(
                30,
                FaultAction::RestoreWire {
                    a: NodeId(1),
                    b: NodeId(0),
                },
            ),
            at(40, FaultAction::Restart { node: NodeId(2) }),
        ];
        let c = Candidate {
            config,
            schedule: None,
        };
        assert_eq!(fault_groups(&c), vec![vec![0, 2], vec![1, 3]]);
    }
}
