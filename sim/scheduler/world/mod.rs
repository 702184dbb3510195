//! Everything simulated during one run, and the loop that owns it.

mod explore;

pub(crate) use explore::{Action, SettleMemo, Settled, Touch};

use super::queue::{Event, LocalClock, Pct, Queued, TimerSet};
use super::{
    CheckReport, CheckStatus, Failure, SimError, Simulation, BUFFERS_KEPT, IN_CHECK, IN_HANDLER,
};
use super::{NOT_UNDER_PCT, NO_OPERATIONS, VERDICT_UNKNOWN};
use crate::clock::Clocks;
use crate::config::{FaultAction, Progress, Trigger};
use crate::invariant::{
    FaultState, HistoryEntry, HistoryVerdict, MonitorState, Readings, View, When,
};
use crate::network::{CopyFate, LossCause, Network, Outgoing, PartitionSpec};
use crate::node::{Context, Cut, Disk, Effect, Input, Node, NodeId, TimerId};
use crate::rng::{DetRng, Stream};
use crate::time::{Duration, Instant};
use crate::trace::{DeliveryClock, EndReason, Kind, Record, Sink, Stats};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Kernel-side bookkeeping for one node.
#[derive(Clone)]
struct Slot<T> {
    rng: DetRng,
    disk: Disk,
    next_timer: u64,
    timers: TimerSet<T>,
    clock: LocalClock,
    /// Following a schedule: the async tasks this node chose, in order.
    task_choices: std::collections::VecDeque<u64>,
    /// How many times the process has crashed.
    crashes: u32,
}

/// What the kernel knows of one invariant's evaluations.
#[derive(Clone, Debug, Default)]
struct Tally {
    evaluations: u64,
    /// Why it could not be evaluated, when it said so itself.
    unknown: Option<String>,
    /// For `eventually`: the calm period (its start) it was last evaluated
    /// for, so each period is evaluated once.
    settled: Option<Instant>,
}

/// Everything simulated during one run.
pub(crate) struct World<'s, N: Node, S: Sink> {
    sim: &'s Simulation<N>,
    sink: S,
    pub nodes: Vec<Option<N>>,
    slots: Vec<Slot<N::Timer>>,
    pub network: Network,
    clocks: Clocks,
    queue: BinaryHeap<Reverse<Queued>>,
    // Under the PCT strategy, node events wait here instead (the
    // environment's stay in `queue`, by time).
    pct: Option<Pct>,
    /// How async nodes order their ready tasks, from the strategy.
    task_order: crate::node::TaskOrder,
    // Under exploration, messages in flight wait here, unordered.
    explore: Option<explore::Pool>,
    seq: u64,
    pub now: Instant,
    net_rng: DetRng,
    workload_rng: DetRng,
    next_msg: u64,
    /// Planned message faults not yet done (a loss, once its message is
    /// lost; a duplicate, once its message is duplicated).
    planned_pending: BTreeMap<u64, crate::network::MessageFault>,
    effects: Vec<Effect<N::Timer>>,
    // The postcard bytes of a firing timer's tag, for its record.
    tag_bytes: Vec<u8>,
    // Payload and vector-clock buffers of delivered messages, reused so the
    // hot path does not allocate per message. Bounded.
    buffers: Vec<Vec<u8>>,
    clock_buffers: Vec<Vec<u32>>,
    pub stats: Stats,
    pub failure: Option<Failure>,
    /// Checks that failed after the run's failure, judged at its end all
    /// the same (name, why): not in the trace, which ends at the first.
    pub also_failed: Vec<(String, String)>,
    // Whether a failure now is one more after the first (the run's end
    // checks, judged past its failure), and why the run was ending when
    // its end checks were judged.
    judging_rest: bool,
    ending: Option<EndReason>,
    handled: u64,
    /// Steps of an explored path this run could not take (see
    /// [`crate::scheduler::Outcome::unfollowed`]).
    pub unfollowed: u64,
    /// Workload operations aimed at a node that was down, so never issued
    /// (see [`crate::scheduler::Outcome::inputs_at_down`]).
    pub inputs_at_down: u64,
    /// Clocks set back past zero (see [`crate::scheduler::Outcome::clocks_held`]).
    pub clocks_held: Vec<crate::scheduler::ClockHeld>,
    /// Faults aimed at a role no up node played (see
    /// [`crate::scheduler::Outcome::aimed_at_none`]).
    pub aimed_at_none: Vec<(Instant, String, &'static str)>,
    // The nodes each crash of whoever plays a role took down, by its mark,
    // until its restart.
    crashed_by: std::collections::BTreeMap<u32, Vec<NodeId>>,
    pauses: Pauses,
    // By process, while a pause that fell in its handler lasts: what the
    // handler did from its cut on, to happen at the resume, and its disk
    // at the cut, for a crash meanwhile.
    pause_held: BTreeMap<u32, Held<N::Timer>>,
    // Client operations left in async nodes' queues for a task to ask for
    // (the first one's node), and whether any task ever asked.
    inputs_queued: Option<(NodeId, u64)>,
    inputs_asked: bool,
    // When the last client operation was issued: an `eventually` is judged
    // `within` after it and the last fault, never amid the workload.
    last_input: Option<Instant>,
    // When a client last began an operation (`Context::invoke`): one
    // that queues what the workload hands it begins some later, and the
    // work is in progress until then.
    last_invoked: Option<Instant>,
    // Whether a handler read its node's clock (`Context::now`).
    clock_read: bool,
    // The node the last event changed, for per-node invariants.
    changed: Option<NodeId>,
    faults: FaultState,
    triggers: Triggers,
    tallies: Vec<Tally>,
    still: Still,
    // Monitors' summaries, by invariant.
    monitors: Vec<Option<MonitorState>>,
    // The clients' history, kept only when a history check needs it, and
    // how much of it exploration has checked.
    history: Option<Vec<HistoryEntry>>,
    history_checked: usize,
    // Crashes (record, node, time, unsynced writes lost), kept with the
    // history to explain a violation among crashed clients.
    crashes: Vec<crate::check::linearizable::Crash>,
    // Operations invoked and not yet completed, by process: a crash of
    // the node that invoked one ends it as `info` (its outcome unknown).
    open_ops: BTreeMap<u64, (NodeId, crate::history::Op)>,
    // The adversary, when the configuration has one. With it, `nodes`,
    // `slots` and the clocks have one entry per process (a node, or an
    // extra twin instance after the last node).
    adv: Option<Box<Adversary>>,
    keys: crate::adversary::Keys,
    // Whether the message being delivered carries a MAC that verifies.
    authentic: bool,
    // Under exploration of nodes whose state does not hash: by process, a
    // digest of everything the node has been handed since it was built
    // (see `World::saw`), which stands for its state in a fingerprint.
    seen: Option<Vec<u64>>,
    // Whether the last handler's node said the event changed nothing, and
    // it did nothing (see `Context::unchanged`).
    unchanged: bool,
    // By process: the stream that decides which unsynced writes a crash
    // keeps, made at its first crash (see `World::crash_disk`).
    disk_rngs: BTreeMap<u32, DetRng>,
    // Exploration's choice of what the crash being applied keeps.
    disk_choice: Option<u64>,
    _msg: PhantomData<N::Msg>,
}

/// What the adversary knows and decides during a run.
#[derive(Clone)]
struct Adversary {
    // Process → the node it is an instance of.
    ident: Vec<NodeId>,
    // Node → its processes (one, or a twin's instances).
    instances: Vec<Vec<u32>>,
    // Process → the nodes it exchanges messages with (twins only).
    reach: Vec<Option<Vec<bool>>>,
    behaviour: Vec<Option<crate::adversary::Behaviour>>,
    // Node → byzantine, for the views invariants get.
    byzantine: Vec<bool>,
    // Every choice is drawn from a stream named by what it is about (see
    // `Adversary::key`), never from one shared sequence, so taking one
    // action away — a replay, a byzantine node — does not move another.
    root: [u8; 32],
    occurrences: BTreeMap<(u32, u32, [u8; 16]), u32>,
    // Messages the network adversary made up: not learned from.
    injected: std::collections::BTreeSet<u64>,
    mutator: crate::adversary::mutate::Mutator,
    net: crate::adversary::NetworkAdversary,
    // Whether messages are worth learning from (something mutates).
    learns: bool,
    // Nodes whose next delivered copy is to be altered (`alter` faults).
    pending_alter: Vec<NodeId>,
    // Delivered messages the network adversary may replay or forge from.
    seen: std::collections::VecDeque<Seen>,
}

/// What a handler did from the cut where a pause fell in it, and its disk
/// then.
type Held<T> = (Vec<Effect<T>>, Disk);

/// Paused processes ([`FaultAction::Pause`]) and what waits for them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pauses {
    /// By process, while it is paused: the events that came for it, in
    /// the order they came.
    held: Vec<Option<Vec<Event>>>,
    /// By process: the operations (id, value) the workload handed it while
    /// it was paused, in order (each an [`Event::Held`] among `held`).
    inputs: Vec<std::collections::VecDeque<(u64, u64)>>,
    /// How many processes are paused: while none is, nothing is looked up.
    count: u32,
    /// What waited for a process resumed (or crashed while paused), to
    /// come now, before anything else.
    released: std::collections::VecDeque<Event>,
    /// The nodes each pause of whoever plays a role paused, by its mark,
    /// until its resume.
    by_mark: BTreeMap<u32, Vec<NodeId>>,
    /// Processes a pause lies in wait for, to fall in their next handler
    /// that sends ([`FaultAction::Pause`]'s `mid_handler`), with when it
    /// came.
    armed: BTreeMap<u32, Instant>,
}

impl Pauses {
    fn is_paused(&self, p: NodeId) -> bool {
        self.count > 0 && self.held.get(p.index()).is_some_and(|h| h.is_some())
    }

    /// A pause due to fall in `p`'s handler about to run: a cut right
    /// before its first send or answer.
    fn cut_for(&self, p: NodeId) -> Option<Cut> {
        self.armed.contains_key(&p.0).then_some(Cut {
            left: 1,
            at: None,
            before: true,
        })
    }

    /// Pauses process `p` (false if it already is).
    fn pause(&mut self, p: NodeId, processes: usize) -> bool {
        if self.held.len() < processes {
            self.held.resize(processes, None);
            self.inputs.resize(processes, Default::default());
        }
        let slot = &mut self.held[p.index()];
        if slot.is_some() {
            return false;
        }
        *slot = Some(Vec::new());
        self.count += 1;
        true
    }

    /// Ends `p`'s pause, its events to come next (false if it was not
    /// paused).
    fn resume(&mut self, p: NodeId) -> bool {
        let Some(held) = self.held.get_mut(p.index()).and_then(Option::take) else {
            return false;
        };
        self.count -= 1;
        self.released.extend(held);
        true
    }
}

/// Faults set off by a node's own progress ([`crate::config::Fault::after`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Triggers {
    /// Those not yet set off (trigger, fault index), in that order.
    waiting: Vec<(Trigger, u32)>,
    /// Messages each node has handled, when any fault waits.
    handled: Vec<u64>,
    /// Messages each node has sent, when any fault waits.
    sent: Vec<u64>,
    /// For a triggered restart, the triggered crash it undoes
    /// ([`crate::config::SimConfig::triggered_crashes`]).
    crash_of: Vec<Option<u32>>,
    /// Triggered crashes (by index) that found their node down: the
    /// restart that undoes one does nothing either.
    void: Vec<u32>,
}

/// Of the node events that stood the clock still, how many of the last
/// are named by node and kind.
const STILL_NAMED: u64 = 1000;

/// Node events in a row at one instant, the virtual clock standing still,
/// and whose the last [`STILL_NAMED`] of them were: what check
/// `time-stood-still` reports.
#[derive(Clone, Default)]
struct Still {
    count: u64,
    last: BTreeMap<(NodeId, &'static str), u64>,
}

impl Still {
    // On the path of every event: kept to a store and a comparison.
    #[inline(always)]
    fn clear(&mut self) {
        self.count = 0;
        if !self.last.is_empty() {
            self.last.clear();
        }
    }

    /// Counts `node`'s event; true once `limit` have come in a row.
    #[inline(always)]
    fn step(&mut self, limit: u64, event: Event, node: Option<NodeId>) -> bool {
        self.count += 1;
        self.count.saturating_add(STILL_NAMED) > limit && self.tally(limit, event, node)
    }

    /// Names the event, near the limit: true once `limit` have come.
    #[cold]
    #[inline(never)]
    fn tally(&mut self, limit: u64, event: Event, node: Option<NodeId>) -> bool {
        let kind = match event {
            Event::Start(_) => "starts",
            Event::Deliver { .. } => "messages",
            Event::Timer { .. } => "timers",
            Event::Input(_) | Event::Held(_) => "client operations",
            Event::Fault(_) => "restarts",
        };
        if let Some(node) = node {
            *self.last.entry((node, kind)).or_default() += 1;
        }
        self.count >= limit
    }

    /// What stood still, for the failure's message.
    fn message(&self, limit: u64) -> String {
        let mut last: Vec<_> = self.last.iter().collect();
        last.sort_by(|a, b| b.1.cmp(a.1));
        let named: u64 = last.iter().map(|(_, n)| **n).sum();
        let list: Vec<String> = last
            .iter()
            .take(4)
            .map(|((node, kind), n)| format!("{n} {node} {kind}"))
            .collect();
        let more = match last.len() {
            0..=4 => String::new(),
            n => format!(" and {} more", n - 4),
        };
        format!(
            "{} events handled in a row at one instant without the virtual clock moving \
             (of the last {named}: {}{more}); something schedules with zero delay (a timer \
             set to 0 as it fires, messages over a zero latency), and the run would spend \
             its event limit without reaching its time limit (if a burst this large at one \
             instant is meant, raise `[run] instant_events`, now {limit})",
            self.count,
            list.join(", ")
        )
    }
}

/// A delivered message the network adversary remembers.
#[derive(Clone)]
struct Seen {
    msg: u64,
    from: NodeId,
    to: NodeId,
    payload: Vec<u8>,
    mac: Option<crate::adversary::Mac>,
}

/// How many delivered messages the network adversary remembers.
const SEEN_KEPT: usize = 64;

impl Adversary {
    fn new(c: &crate::config::SimConfig) -> Option<Box<Adversary>> {
        use crate::adversary::Behaviour;
        if !c.has_adversary() {
            return None;
        }
        let n = c.nodes as usize;
        let mut ident: Vec<NodeId> = (0..c.nodes).map(NodeId).collect();
        let mut instances: Vec<Vec<u32>> = (0..c.nodes).map(|i| vec![i]).collect();
        let mut reach = vec![None; n];
        let mut behaviour = vec![None; n];
        let mut byzantine = vec![false; n];
        let mut learns =
            !c.adversary.network.is_none() || c.faults.iter().any(|f| f.action.is_adversary());
        for b in &c.adversary.byzantine {
            let i = b.node.index();
            byzantine[i] = true;
            match &b.behaviour {
                Behaviour::Twins { reach: r } => {
                    for (k, peers) in r.iter().enumerate() {
                        let p = if k == 0 {
                            i
                        } else {
                            ident.push(b.node);
                            reach.push(None);
                            behaviour.push(None);
                            instances[i].push(ident.len() as u32 - 1);
                            ident.len() - 1
                        };
                        let mut mask = vec![false; n];
                        peers.iter().for_each(|q| mask[q.index()] = true);
                        reach[p] = Some(mask);
                        behaviour[p] = Some(b.behaviour.clone());
                    }
                }
                other => {
                    learns |= matches!(other, Behaviour::Mutate { .. });
                    behaviour[i] = Some(other.clone());
                }
            }
        }
        Some(Box::new(Adversary {
            ident,
            instances,
            reach,
            behaviour,
            byzantine,
            root: blake3::derive_key(
                "dsim 2026-11-30 adversary choices v1",
                &c.seed.to_le_bytes(),
            ),
            occurrences: BTreeMap::new(),
            injected: Default::default(),
            mutator: Default::default(),
            net: c.adversary.network.clone(),
            learns,
            pending_alter: Vec::new(),
            seen: Default::default(),
        }))
    }

    /// The name of an event the adversary decides about: the n-th time
    /// `from` sends these bytes to `to` (`kind` tells sends, deliveries
    /// and operations apart).
    fn key(&mut self, kind: u8, from: u32, to: u32, bytes: &[u8]) -> [u8; 32] {
        let mut digest = [0u8; 16];
        digest.copy_from_slice(&blake3::hash(bytes).as_bytes()[..16]);
        digest[0] ^= kind;
        let n = self.occurrences.entry((from, to, digest)).or_insert(0);
        *n += 1;
        let mut h = blake3::Hasher::new_keyed(&self.root);
        h.update(&[kind]);
        h.update(&from.to_le_bytes());
        h.update(&to.to_le_bytes());
        h.update(&digest);
        h.update(&n.to_le_bytes());
        *h.finalize().as_bytes()
    }

    /// Whether what the adversary does depends on the order of
    /// deliveries: it forges, replays, alters or mutates, learning from
    /// what it sees. Twins, silent nodes and amnesia act the same in
    /// every order.
    pub(crate) fn acts_on_order(&self) -> bool {
        self.learns
    }

    /// The stream for one `purpose` of the event named `key`.
    fn rng(&self, key: &[u8; 32], purpose: u8) -> DetRng {
        let mut h = blake3::Hasher::new_keyed(&self.root);
        h.update(key);
        h.update(&[purpose]);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&h.finalize().as_bytes()[..8]);
        DetRng::new(u64::from_le_bytes(seed), Stream::Adversary)
    }

    /// Where a message from process `from` to node `to` goes: each
    /// instance of `to` that exchanges messages with the sender, and
    /// whether it can get there. If no instance can, the first, lost.
    fn route(&self, from: NodeId, to: NodeId) -> Vec<(NodeId, bool)> {
        let f = self.ident[from.index()];
        let sender_reaches = self.reach[from.index()]
            .as_ref()
            .is_none_or(|r| r[to.index()]);
        let reachable: Vec<(NodeId, bool)> = self.instances[to.index()]
            .iter()
            .filter(|&&p| {
                sender_reaches && self.reach[p as usize].as_ref().is_none_or(|r| r[f.index()])
            })
            .map(|&p| (NodeId(p), true))
            .collect();
        if reachable.is_empty() {
            vec![(to, false)]
        } else {
            reachable
        }
    }
}

impl<'s, N: Node, S: Sink> World<'s, N, S> {
    pub fn new(sim: &'s Simulation<N>, sink: S, vector_clocks: bool) -> World<'s, N, S> {
        let c = &sim.config;
        let adv = Adversary::new(c);
        let processes = c.processes();
        let n = processes as usize;
        let slots = (0..processes)
            .map(|i| Slot {
                rng: DetRng::new(c.seed, Stream::Node(i)),
                disk: Disk::default(),
                next_timer: 0,
                timers: TimerSet::default(),
                clock: LocalClock::default(),
                task_choices: sim
                    .schedule
                    .as_ref()
                    .and_then(|s| s.task_choices.get(&i))
                    .map(|c| c.iter().copied().collect())
                    .unwrap_or_default(),
                crashes: 0,
            })
            .collect();
        let mut world = World {
            sim,
            sink,
            nodes: (0..processes)
                .map(|i| {
                    let id = adv.as_ref().map_or(NodeId(i), |a| a.ident[i as usize]);
                    Some((sim.factory)(id))
                })
                .collect(),
            slots,
            network: {
                let mut net = Network::new(processes, c.network.clone());
                if let Some(a) = &adv {
                    net.set_identities(c.nodes, a.ident.clone());
                }
                if let Some(s) = &sim.schedule {
                    net.follow(s.clone());
                }
                net
            },
            clocks: Clocks::new(n, vector_clocks),
            queue: BinaryHeap::new(),
            task_order: match c.strategy {
                crate::config::Strategy::Random => crate::node::TaskOrder::Random,
                crate::config::Strategy::Pct { depth, steps } => {
                    crate::node::TaskOrder::Pct { depth, steps }
                }
                crate::config::Strategy::Explore { .. } => crate::node::TaskOrder::Stepwise,
            },
            pct: match c.strategy {
                crate::config::Strategy::Pct { depth, steps } => {
                    Some(Pct::new(c.seed, depth, steps))
                }
                _ => None,
            },
            explore: match &c.strategy {
                crate::config::Strategy::Explore { budgets, .. } => Some(explore::Pool {
                    budgets: *budgets,
                    ..explore::Pool::default()
                }),
                _ => None,
            },
            seq: 0,
            now: Instant::ZERO,
            net_rng: DetRng::new(c.seed, Stream::Network),
            workload_rng: DetRng::new(c.seed, Stream::Workload),
            next_msg: 0,
            planned_pending: c.network.planned.iter().copied().collect(),
            effects: Vec::new(),
            tag_bytes: Vec::new(),
            buffers: Vec::new(),
            clock_buffers: Vec::new(),
            stats: Stats::default(),
            failure: None,
            also_failed: Vec::new(),
            judging_rest: false,
            ending: None,
            handled: 0,
            unfollowed: 0,
            inputs_at_down: 0,
            clocks_held: Vec::new(),
            aimed_at_none: Vec::new(),
            crashed_by: Default::default(),
            pauses: Pauses::default(),
            pause_held: BTreeMap::new(),
            inputs_queued: None,
            inputs_asked: false,
            last_input: None,
            last_invoked: None,
            clock_read: false,
            changed: None,
            faults: FaultState {
                calm_since: Some(Instant::ZERO),
                settled_since: Some(Instant::ZERO),
                ..FaultState::default()
            },
            triggers: Triggers::default(),
            tallies: vec![Tally::default(); sim.invariants.len()],
            still: Still::default(),
            monitors: sim.invariants.iter().map(|i| i.new_state()).collect(),
            history: (sim.history_in_view || sim.invariants.iter().any(|i| i.is_history()))
                .then(Vec::new),
            history_checked: 0,
            crashes: Vec::new(),
            open_ops: BTreeMap::new(),
            adv,
            keys: crate::adversary::Keys::new(c.seed),
            authentic: false,
            seen: (matches!(c.strategy, crate::config::Strategy::Explore { .. })
                && sim.state_hash.is_none())
            .then(|| vec![0; n]),
            unchanged: false,
            disk_rngs: BTreeMap::new(),
            disk_choice: None,
            _msg: PhantomData,
        };
        // Under exploration the nodes start, and everything else is a
        // choice: no fault schedule, no timed workload.
        if world.explore.is_some() {
            for i in 0..c.nodes {
                world.schedule(Instant::ZERO, Event::Start(i));
            }
            return world;
        }
        // Faults go in first: at equal times the environment changes before
        // nodes act, so a clock skew or partition "at 0s" is in force from
        // the first start.
        for (i, f) in c.faults.iter().enumerate() {
            match f.after {
                None => world.schedule(Instant::ZERO.after(f.at), Event::Fault(i as u32)),
                Some(t) => world.triggers.waiting.push((t, i as u32)),
            }
        }
        if !world.triggers.waiting.is_empty() {
            world.triggers.waiting.sort_unstable();
            world.triggers.handled = vec![0; c.nodes as usize];
            world.triggers.sent = vec![0; c.nodes as usize];
            // Validated: every triggered restart has its crash.
            world.triggers.crash_of = c.triggered_crashes().unwrap_or_default();
        }
        for i in 0..processes {
            world.schedule(Instant::ZERO, Event::Start(i));
        }
        if let Some(w) = c.workload.as_ref().filter(|w| w.count > 0) {
            world.schedule(Instant::ZERO.after(w.start), Event::Input(0));
        }
        world
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        let queued = Queued {
            at,
            seq: self.seq,
            event,
        };
        self.seq += 1;
        match (&mut self.pct, event) {
            // Deliveries are PCT's to order; timers keep their times (a
            // node's own clock is not the network's to delay, and a chain
            // of timers that re-arm themselves would otherwise run ahead
            // of every delivery until the time limit).
            (Some(pct), Event::Deliver { .. }) => pct.push(queued),
            _ => self.queue.push(Reverse(queued)),
        }
    }

    /// The next event: by time, or under PCT the highest-priority node
    /// event, unless the environment has something due by then.
    fn next_event(&mut self) -> Option<Queued> {
        if let Some(event) = self.pauses.released.pop_front() {
            return Some(Queued {
                at: self.now,
                seq: 0,
                event,
            });
        }
        let Some(pct) = self.pct.as_mut() else {
            return self.queue.pop().map(|Reverse(q)| q);
        };
        let node_at = pct.peek().map(|r| r.queued.at.max(self.now));
        let env_first = match (self.queue.peek(), node_at) {
            (Some(Reverse(e)), Some(at)) => e.at <= at,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if env_first {
            pct.current = None;
            return self.queue.pop().map(|Reverse(q)| q);
        }
        pct.take()
    }

    #[inline(always)]
    fn write(&mut self, kind: Kind<'_>) -> io::Result<u64> {
        let record = Record {
            time: self.now,
            kind,
        };
        self.stats.count(&record);
        self.sink.record(&record)
    }

    /// Runs to the end, turning a panic in a node's handler or in a check
    /// into a failure (see [`World::guarded`]). One `catch_unwind` around
    /// the whole loop costs nothing per event, where one per handler call
    /// would cost a tenth of the loop.
    pub fn run(&mut self) -> Result<EndReason, SimError> {
        self.declare_byzantine()?;
        Ok(self
            .guarded(|w| w.run_events())?
            .unwrap_or(EndReason::CheckFailed))
    }

    /// Runs `f`, turning a panic in a node's handler into the failure
    /// `panic`, and a panic in an invariant (an `assert!` in a check, say)
    /// into that invariant's failure: either way the run ends there, its
    /// trace kept, and `None` is returned. A panic anywhere else (the
    /// kernel itself) carries on.
    pub(crate) fn guarded<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SimError>,
    ) -> Result<Option<T>, SimError> {
        let panic = match catch_unwind(AssertUnwindSafe(|| f(self))) {
            Ok(result) => return result.map(Some),
            Err(panic) => panic,
        };
        let handler = IN_HANDLER.with(|f| f.take());
        let check = IN_CHECK.with(|f| f.take());
        let text = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic with a non-text payload".into());
        match (handler, check.and_then(|i| self.sim.invariants.get(i))) {
            (Some(id), _) => {
                // What the handler asked for before it panicked is dropped.
                self.effects.clear();
                self.fail("panic", format!("node {id} panicked in a handler: {text}"))?;
            }
            (None, Some(inv)) => {
                let name = inv.name.clone();
                self.fail(&name, format!("the check itself panicked: {text}"))?;
            }
            (None, None) => resume_unwind(panic),
        }
        Ok(None)
    }

    /// Before anything happens: a record per byzantine process.
    fn declare_byzantine(&mut self) -> Result<(), SimError> {
        let Some(adv) = &self.adv else {
            return Ok(());
        };
        let declared: Vec<(NodeId, NodeId, String)> = adv
            .behaviour
            .iter()
            .enumerate()
            .filter_map(|(p, b)| {
                let b = b.as_ref()?;
                let of = adv.ident[p];
                let text = match b {
                    crate::adversary::Behaviour::Twins { reach } => {
                        let k = adv.instances[of.index()]
                            .iter()
                            .position(|&q| q as usize == p)
                            .unwrap_or(0);
                        let peers: Vec<String> = reach[k].iter().map(|q| q.to_string()).collect();
                        format!("twins: instance {k} reaches [{}]", peers.join(" "))
                    }
                    other => other.to_string(),
                };
                Some((NodeId(p as u32), of, text))
            })
            .collect();
        for (node, of, text) in declared {
            self.write(Kind::Byzantine {
                node,
                of,
                behaviour: Cow::Owned(text),
            })?;
        }
        Ok(())
    }

    /// Under exploration: the starts, then the path's actions, one by one.
    fn run_path(&mut self) -> Result<EndReason, SimError> {
        self.start_all()?;
        let path = match &self.sim.config.strategy {
            crate::config::Strategy::Explore { path, .. } => path.clone(),
            _ => Vec::new(),
        };
        // Replaying a recorded run: its steps, to follow by what each did.
        let sim = self.sim;
        let steps = sim
            .schedule
            .as_deref()
            .map(|s| s.steps.as_slice())
            .filter(|s| !s.is_empty());
        let cuts = sim.schedule.as_deref().map(|s| &s.cuts);
        for (step, &choice) in path.iter().enumerate() {
            if self.failure.is_some() {
                return Ok(EndReason::CheckFailed);
            }
            let actions = self.enabled();
            let Some(steps) = steps else {
                let Some(action) = actions.get(choice as usize) else {
                    return Err(SimError::Config(format!(
                        "step {step} of the explored path chooses action {choice}, but only {} are enabled there (the path was made by another protocol or configuration)",
                        actions.len()
                    )));
                };
                self.take(action)?;
                continue;
            };
            // The recorded choice when it still does what the step did;
            // otherwise the action that does; none: the step is skipped.
            let at = actions.get(choice as usize);
            let cut = cuts.and_then(|c| c.get(&step)).copied();
            let action = match steps.get(step).copied().flatten() {
                Some(want) => at
                    .filter(|a| explore::does(a, want, cut))
                    .or_else(|| actions.iter().find(|a| explore::does(a, want, cut))),
                None => at,
            };
            match action {
                Some(action) => {
                    self.take(action)?;
                    // Cut after a send its handler no longer makes: the
                    // step's crash never came.
                    self.unfollowed += u64::from(self.void());
                }
                None => {
                    // The step's time passes all the same, so that later
                    // steps keep their times (and their records' places).
                    self.now = self.now.after(Duration::from_millis(1));
                    self.unfollowed += 1;
                }
            }
        }
        if self.failure.is_some() {
            return Ok(EndReason::CheckFailed);
        }
        // Under a settle budget a path ends in a settle, as each state a
        // search explores does: its `eventually` checks are judged after
        // it (a state where nothing more can happen is judged as such).
        let settle = self.explore.as_ref().map_or(0, |p| p.budgets.settle);
        let mut rested = false;
        if settle > 0 && self.sim.has_eventually() {
            rested = self.settle(settle, &mut Vec::new(), None)? == explore::Settled::Rested;
            if self.failure.is_some() {
                return Ok(EndReason::CheckFailed);
            }
        }
        let reason = if self.enabled().is_empty() {
            EndReason::Quiescent
        } else {
            EndReason::EventLimit
        };
        if !rested {
            self.end_checks(reason)?;
        }
        Ok(if self.failure.is_some() {
            EndReason::CheckFailed
        } else {
            reason
        })
    }

    /// The checks of a run's end: invariants over the final state, then
    /// the history. Past a failure among them the rest are judged all the
    /// same ([`World::also_failed`]), unless the run is a search's or
    /// asked for its first failure alone.
    pub(crate) fn end_checks(&mut self, reason: EndReason) -> Result<(), SimError> {
        self.ending = Some(reason);
        self.judging_rest = self.judges_rest();
        let judged = self.end_checks_in_turn(reason);
        self.judging_rest = false;
        judged
    }

    fn end_checks_in_turn(&mut self, reason: EndReason) -> Result<(), SimError> {
        let stop = |w: &Self| w.failure.is_some() && !w.judging_rest;
        if reason == EndReason::Quiescent {
            self.check_stalled()?;
            if stop(self) {
                return Ok(());
            }
        }
        // A run cut by its event budget (or an explored path's end) may
        // stop before a task gets to ask.
        if !matches!(reason, EndReason::EventLimit | EndReason::Interrupted) {
            self.check_inputs_asked()?;
            if stop(self) {
                return Ok(());
            }
        }
        self.check_at_end(reason)?;
        if stop(self) {
            return Ok(());
        }
        self.check_history()
    }

    /// Whether checks are judged past the run's first failure: not in a
    /// search (a violation is all it asks), nor where the run was built
    /// to stop there ([`crate::Simulation::first_failure_only`]).
    fn judges_rest(&self) -> bool {
        self.explore.is_none() && !self.sim.first_failure_only
    }

    /// The run failed before its end: the clients' history so far is
    /// judged all the same (a history that is not linearizable stays so
    /// however it goes on; operations still open may take effect or not),
    /// where the run judges past its failure. Checks of the run's end and
    /// `eventually` were not due, and are reported so.
    fn judge_history_after_failure(&mut self) -> Result<(), SimError> {
        if self.failure.is_none() || !self.judges_rest() {
            return Ok(());
        }
        self.judging_rest = true;
        self.check_history()?;
        self.judging_rest = false;
        Ok(())
    }

    /// The workload's operations went to async nodes and no task of any
    /// node ever asked for one: the protocol does not read its clients,
    /// and a run that passed would pass on a client load never served.
    /// (A node type that is not async and takes none is refused at the
    /// first operation.)
    fn check_inputs_asked(&mut self) -> Result<(), SimError> {
        match self.inputs_queued {
            Some((first, count)) if !self.inputs_asked => self.fail(
                "stalled",
                format!(
                    "the workload handed async nodes {count} client operation(s) (the first to \
                     {first}) and no task ever asked for one with `ctx.next_input()`, so none was \
                     served; read them in a task, or take the workload away (in a property test, \
                     `Bounds::no_operations()`)"
                ),
            ),
            _ => Ok(()),
        }
    }

    /// With no event left, work a node still waits on can never complete:
    /// an async node's task waiting on a future dsim does not drive.
    fn check_stalled(&mut self) -> Result<(), SimError> {
        let stalled = self.nodes.iter().flatten().find_map(|n| n.stalled());
        match stalled {
            Some(message) => self.fail("stalled", message),
            None => Ok(()),
        }
    }

    /// Runs the events queued at the start (every node's start) and what
    /// they schedule in the queue, checking after each.
    pub(crate) fn start_all(&mut self) -> Result<(), SimError> {
        while let Some(next) = self.next_event() {
            self.now = self.now.max(next.at);
            self.changed = None;
            if self.handle(next.event)? {
                self.handled += 1;
                self.check_after_event()?;
            }
            if self.failure.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// The loop: pop, handle, check, until a limit, quiescence or a failure.
    fn run_events(&mut self) -> Result<EndReason, SimError> {
        if self.explore.is_some() {
            return self.run_path();
        }
        let limits = &self.sim.config.limits;
        let deadline = Instant::ZERO.after(limits.time);
        let reason = loop {
            let Some(next) = self.next_event() else {
                break EndReason::Quiescent;
            };
            // A copy evicted from a full mailbox, or brought forward
            // (`Network::take_pulled`), left an arrival queued: nothing
            // happens then, and time does not move for it.
            if let Event::Deliver { slot, msg } = next.event {
                if !self.network.holds(slot, msg) {
                    continue;
                }
            }
            // Under PCT an event may be taken after its time: it happens
            // when it is taken.
            let next = Queued {
                at: next.at.max(self.now),
                ..next
            };
            if next.at > deadline {
                // Liveness deadlines up to the time limit are still due.
                self.reach(deadline.after(Duration(1)))?;
                if self.failure.is_none() {
                    self.now = deadline;
                }
                break EndReason::TimeLimit;
            }
            if self.handled >= limits.events {
                break EndReason::EventLimit;
            }
            if next.at != self.now {
                self.still.clear();
            }
            self.reach(next.at)?;
            if self.failure.is_some() {
                break EndReason::CheckFailed;
            }
            self.now = next.at;
            self.changed = None;
            // What comes for a paused process waits for its resume.
            if self.pauses.count > 0 && self.hold(next.event)? {
                continue;
            }
            if self.handle(next.event)? {
                self.handled += 1;
                if self
                    .still
                    .step(limits.instant_events, next.event, self.changed)
                {
                    let message = self.still.message(limits.instant_events);
                    self.fail("time-stood-still", message)?;
                    break EndReason::CheckFailed;
                }
                self.check_after_event()?;
                if self.handled % super::PROGRESS_EVERY == 0 {
                    if let Some(report) = &self.sim.progress {
                        report(self.handled, self.now);
                    }
                    let stop = self.sim.stop.as_ref();
                    if stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed)) {
                        break EndReason::Interrupted;
                    }
                }
            }
            if self.failure.is_some() {
                break EndReason::CheckFailed;
            }
        };
        if self.failure.is_some() {
            self.judge_history_after_failure()?;
            return Ok(EndReason::CheckFailed);
        }
        self.end_checks(reason)?;
        Ok(if self.failure.is_some() {
            EndReason::CheckFailed
        } else {
            reason
        })
    }

    /// Handles one event; true if it was a node event (counted against the
    /// event limit and followed by an invariant check).
    fn handle(&mut self, event: Event) -> Result<bool, SimError> {
        match event {
            Event::Start(i) => {
                let node = NodeId(i);
                let lamport = self.clocks.tick(node.index());
                self.write(Kind::Start { node, lamport })?;
                self.saw_start(node);
                self.call(node, |n, ctx| n.on_start(ctx))?;
                Ok(true)
            }
            Event::Deliver { slot, msg } => self.deliver(slot, msg),
            Event::Timer { node, timer } => self.fire(NodeId(node), timer),
            Event::Fault(i) => self.fault(i),
            Event::Input(id) => self.input(id),
            Event::Held(p) => {
                let process = NodeId(p);
                let Some((id, value)) = self.pauses.inputs[process.index()].pop_front() else {
                    return Ok(false);
                };
                if self.failure.is_some() {
                    return Ok(false);
                }
                // Crashed while paused: the operation is never issued.
                if self.nodes[process.index()].is_none() {
                    self.inputs_at_down += 1;
                    return Ok(false);
                }
                self.issue(process, id, value)?;
                Ok(true)
            }
        }
    }

    /// Holds `event` for its process's resume if the process is paused
    /// (true): a start, a timer, a copy's arrival (recorded, as `Held`:
    /// when it came is the network's to replay). An operation is held as
    /// it is handed ([`World::input`]).
    #[cold]
    fn hold(&mut self, event: Event) -> Result<bool, SimError> {
        let (p, copy) = match event {
            Event::Start(i) | Event::Held(i) | Event::Timer { node: i, .. } => (NodeId(i), None),
            Event::Deliver { slot, msg } => match self.network.kept(slot, msg) {
                Some(m) => (m.to, Some((m.msg, m.copy))),
                None => return Ok(false),
            },
            Event::Fault(_) | Event::Input(_) => return Ok(false),
        };
        let Some(Some(held)) = self.pauses.held.get_mut(p.index()) else {
            return Ok(false);
        };
        held.push(event);
        if let Some((msg, copy)) = copy {
            self.write(Kind::Held { node: p, msg, copy })?;
        }
        Ok(true)
    }

    /// Fires `id`'s timer `timer`, if it is still set and the node is up.
    fn fire(&mut self, id: NodeId, timer: u64) -> Result<bool, SimError> {
        {
            {
                if self.nodes[id.index()].is_none() {
                    return Ok(false);
                }
                let Some(tag) = self.slots[id.index()].timers.remove(timer) else {
                    return Ok(false);
                };
                let lamport = self.clocks.tick(id.index());
                let mut bytes = std::mem::take(&mut self.tag_bytes);
                bytes.clear();
                // A tag that does not serialize is recorded empty; setting
                // it already failed the run (see `apply`).
                if crate::wire::encode_into(&tag, &mut bytes).is_err() {
                    bytes.clear();
                }
                let record = Record {
                    time: self.now,
                    kind: Kind::Timer {
                        node: id,
                        lamport,
                        timer,
                        tag: Cow::Borrowed(&bytes),
                    },
                };
                self.stats.count(&record);
                let written = self.sink.record(&record);
                self.tag_bytes = bytes;
                written?;
                Self::saw(&mut self.seen, id, |h| {
                    h.write_u8(b'T');
                    h.write_u64(timer);
                    self.tag_bytes.hash(h);
                });
                self.call(id, |n, ctx| n.on_timer(ctx, TimerId(timer), tag))?;
                Ok(true)
            }
        }
    }

    fn deliver(&mut self, slot: u32, msg: u64) -> Result<bool, SimError> {
        let m = match self.network.arrive(slot, msg) {
            None => return Ok(false),
            Some(Err(m)) => {
                self.write(Kind::Lost {
                    msg: m.msg,
                    copy: m.copy,
                    from: m.from,
                    to: m.to,
                    cause: LossCause::Partition,
                })?;
                return Ok(false);
            }
            Some(Ok(m)) => m,
        };
        self.deliver_copy(m)
    }

    /// A copy reaches its receiver: delivered, or lost if the receiver is
    /// down or the bytes do not decode.
    fn deliver_copy(&mut self, mut m: crate::network::InFlight) -> Result<bool, SimError> {
        if self.nodes[m.to.index()].is_none() {
            self.write(Kind::Lost {
                msg: m.msg,
                copy: m.copy,
                from: m.from,
                to: m.to,
                cause: LossCause::ReceiverDown,
            })?;
            return Ok(false);
        }
        // The network adversary's choices about this copy, each from its
        // own stream named by the copy's content.
        let (mut forge, mut replay) = (None, None);
        let honest = self
            .adv
            .as_ref()
            .is_some_and(|a| !a.injected.contains(&m.msg));
        if let Some(adv) = self.adv.as_mut() {
            if adv.learns && honest {
                if let Ok(original) = postcard::from_bytes::<N::Msg>(&m.payload) {
                    adv.mutator.observe(&original);
                }
            }
        }
        let planned_alter = self.adv.as_mut().and_then(|adv| {
            let to = adv.ident[m.to.index()];
            let i = adv.pending_alter.iter().position(|&n| n == to)?;
            adv.pending_alter.remove(i);
            Some(())
        });
        if let Some(adv) = self
            .adv
            .as_mut()
            .filter(|a| !a.net.is_none() || planned_alter.is_some())
        {
            let from = adv.ident[m.from.index()].0;
            let key = adv.key(b'd', from, m.to.0, &m.payload);
            let mut alter = adv.rng(&key, b'a');
            let mut f = adv.rng(&key, b'f');
            let mut r = adv.rng(&key, b'r');
            // Only a copy of a message nodes sent sets off an injection:
            // were injected copies to set off more, `forge + replay` of
            // 1 or more would make every injection bring one or more
            // others, without end, and any other pair would strike more
            // often than it says.
            forge = f.chance(adv.net.forge).then_some(f).filter(|_| honest);
            replay = r.chance(adv.net.replay).then_some(r).filter(|_| honest);
            if alter.chance(adv.net.alter) || planned_alter.is_some() {
                if let Some((payload, change)) =
                    mutate_bytes::<N::Msg>(&mut adv.mutator, &mut alter, &m.payload, false, || {
                        "the network adversary alters copies in transit".to_string()
                    })?
                {
                    self.write(Kind::Altered {
                        msg: m.msg,
                        copy: m.copy,
                        change: Cow::Owned(change),
                        payload: Cow::Borrowed(&payload),
                    })?;
                    m.payload = payload;
                    m.tampered = true;
                }
            }
        }
        let msg = match postcard::from_bytes::<N::Msg>(&m.payload) {
            Ok(msg) => msg,
            // Bytes the sender's own code encoded that its own type cannot
            // read back: no network fault explains it, and calling it loss
            // would pass a run in which nothing was ever delivered.
            Err(e) if !m.tampered => {
                let message = format!(
                    "{}'s message m{} to {} does not decode as it was sent: the bytes `{}` encoded \
                     do not read back ({e}). Messages cross the network as postcard, which is not \
                     self-describing: serde attributes that need a self-describing format \
                     (`#[serde(tag = ...)]`, `untagged`, `flatten`, `skip_serializing_if`) or a \
                     Deserialize that calls `deserialize_any` break the round trip",
                    m.from,
                    m.msg,
                    m.to,
                    std::any::type_name::<N::Msg>(),
                );
                self.fail("effect", message)?;
                return Ok(false);
            }
            Err(_) => {
                self.write(Kind::Lost {
                    msg: m.msg,
                    copy: m.copy,
                    from: m.from,
                    to: m.to,
                    cause: LossCause::Undecodable,
                })?;
                return Ok(false);
            }
        };
        // The ends as nodes: a twin instance speaks and is spoken to as
        // the node it is an instance of.
        let (from, to) = match &self.adv {
            Some(a) => (a.ident[m.from.index()], a.ident[m.to.index()]),
            None => (m.from, m.to),
        };
        let authentic = match &m.mac {
            Some(mac) => {
                let ok = self.keys.verify(from, to, &m.payload, mac);
                if !ok {
                    self.write(Kind::Unauthentic {
                        msg: m.msg,
                        copy: m.copy,
                    })?;
                }
                ok
            }
            None => false,
        };
        let (lamport, digest) = self
            .clocks
            .receive(m.to.index(), m.lamport, m.vector.as_deref());
        self.write(Kind::Deliver {
            node: m.to,
            lamport,
            msg: m.msg,
            copy: m.copy,
            from: m.from,
            vc: digest.map_or(DeliveryClock::None, DeliveryClock::Digest),
        })?;
        if let Some(adv) = self.adv.as_mut().filter(|_| honest) {
            {
                if adv.seen.len() == SEEN_KEPT {
                    adv.seen.pop_front();
                }
                adv.seen.push_back(Seen {
                    msg: m.msg,
                    from,
                    to: m.to,
                    payload: m.payload.clone(),
                    mac: m.mac,
                });
            }
        }
        let before = self.seen(m.to.index());
        Self::saw(&mut self.seen, m.to, |h| {
            h.write_u8(b'M');
            h.write_u32(from.0);
            h.write_u8(authentic as u8);
            m.payload.hash(h);
        });
        if self.buffers.len() < BUFFERS_KEPT {
            self.buffers.push(m.payload);
        }
        if let Some(v) = m.vector.filter(|_| self.clock_buffers.len() < BUFFERS_KEPT) {
            self.clock_buffers.push(v);
        }
        self.authentic = authentic;
        let result = self.call(m.to, move |n, ctx| n.on_message(ctx, from, msg));
        self.authentic = false;
        result?;
        if !self.triggers.waiting.is_empty() {
            self.handled_message(to);
        }
        // A delivery that changed nothing is not part of what the node
        // was handed: its state is the one it had before.
        if let (Some(before), Some(seen), true) = (before, self.seen.as_mut(), self.unchanged) {
            seen[m.to.index()] = before;
        }
        if let Some(rng) = forge.filter(|_| self.failure.is_none()) {
            self.inject(true, rng, None)?;
        }
        if let Some(rng) = replay.filter(|_| self.failure.is_none()) {
            self.inject(false, rng, None)?;
        }
        Ok(true)
    }

    /// A planned message fault on `msg` is done when its message was lost
    /// (to it or to anything else) or duplicated, as planned.
    fn planned_done(&mut self, msg: u64, lost: bool, duplicated: bool) {
        if self.planned_pending.is_empty() {
            return;
        }
        let done = match self.planned_pending.get(&msg) {
            Some(crate::network::MessageFault::Lose) => lost,
            Some(crate::network::MessageFault::Duplicate) => duplicated,
            None => false,
        };
        if done {
            self.planned_pending.remove(&msg);
        }
    }

    /// The planned message faults that did nothing, each with why. A
    /// search takes none (its own drops and duplicates are steps): none is
    /// said to have missed.
    pub fn planned_missed(&self) -> Vec<(u64, crate::network::MessageFault, &'static str)> {
        if self.explore.is_some() {
            return Vec::new();
        }
        let injected = |m: &u64| self.adv.as_ref().is_some_and(|a| a.injected.contains(m));
        self.planned_pending
            .iter()
            .map(|(&m, &f)| {
                let why = if m >= self.next_msg {
                    "never sent"
                } else if injected(&m) {
                    "injected by the network adversary, which planned faults do not touch"
                } else if f == crate::network::MessageFault::Lose {
                    "delivered, as the recorded schedule followed said"
                } else {
                    "lost, so never duplicated"
                };
                (m, f, why)
            })
            .collect()
    }

    /// The network adversary injects a message built from one it has seen:
    /// the same bytes to the same receiver (a replay), or mutated bytes
    /// claiming any sender, to any node (a forgery). It holds no keys, so
    /// the copy keeps the MAC of the message it was built from.
    ///
    /// `aim`, for a fault in the schedule: the node it goes to, and for a
    /// forgery the sender it claims. The source is then one of the
    /// messages seen delivered to that node (for a forgery, any seen
    /// message if there is none).
    fn inject(
        &mut self,
        forge: bool,
        mut rng: DetRng,
        aim: Option<(NodeId, Option<NodeId>)>,
    ) -> Result<(), SimError> {
        let identities = self.sim.config.nodes;
        let Some(adv) = self.adv.as_mut() else {
            return Ok(());
        };
        let candidates: Vec<usize> = match aim {
            None => (0..adv.seen.len()).collect(),
            Some((to, _)) => {
                let mine: Vec<usize> = (0..adv.seen.len())
                    .filter(|&i| adv.ident[adv.seen[i].to.index()] == to)
                    .collect();
                if mine.is_empty() && forge {
                    (0..adv.seen.len()).collect()
                } else {
                    mine
                }
            }
        };
        if candidates.is_empty() {
            return Ok(());
        }
        let pick = candidates[rng.below(candidates.len() as u64) as usize];
        let s = &adv.seen[pick];
        let (source, mac) = (s.msg, s.mac);
        let (from, to, payload, change) = if forge {
            let Some((payload, change)) = mutate_bytes::<N::Msg>(
                &mut adv.mutator,
                &mut rng,
                &adv.seen[pick].payload,
                true,
                || "the network adversary forges messages".to_string(),
            )?
            else {
                return Ok(());
            };
            // Half the forgeries go where the message they are built from
            // went (that node handles that kind of message), half anywhere.
            let to = match aim {
                Some((to, _)) => to,
                None if rng.below(2) == 0 => adv.ident[adv.seen[pick].to.index()],
                None => NodeId(rng.below(u64::from(identities)) as u32),
            };
            let mut from = NodeId(rng.below(u64::from(identities - 1).max(1)) as u32);
            if from >= to && identities > 1 {
                from = NodeId(from.0 + 1);
            }
            if let Some((_, Some(claims))) = aim {
                from = claims;
            }
            (from, to, payload, change)
        } else {
            let s = &adv.seen[pick];
            (s.from, s.to, s.payload.clone(), String::new())
        };
        let delay = Duration(1 + rng.below(adv.net.delay.0.max(1)));
        let msg = self.next_msg;
        self.next_msg += 1;
        adv.injected.insert(msg);
        self.write(Kind::Injected {
            msg,
            from,
            to,
            source,
            change: Cow::Owned(change),
            payload: Cow::Borrowed(&payload),
        })?;
        let slot = self.network.inject(msg, from, to, payload, mac);
        self.schedule(self.now.after(delay), Event::Deliver { slot, msg });
        Ok(())
    }

    fn input(&mut self, id: u64) -> Result<bool, SimError> {
        let Some(w) = self.sim.config.workload.as_ref() else {
            return Ok(false);
        };
        let (target, value, gap) = w.draw(&mut self.workload_rng, self.sim.config.nodes);
        if id + 1 < w.count && self.explore.is_none() {
            self.schedule(self.now.after(gap), Event::Input(id + 1));
        }
        // An operation aimed at a crashed node is never issued, nor one a
        // shrunk run leaves out. An operation aimed at a twinned node goes
        // to one of its instances, drawn by the adversary: clients, too,
        // are on one side or another.
        if w.skip.binary_search(&id).is_ok() {
            return Ok(false);
        }
        let count = self.instance_count(target);
        let chosen = match self.adv.as_mut().filter(|_| count > 1) {
            Some(adv) => {
                let key = adv.key(b'i', target.0, 0, &id.to_le_bytes());
                let pick = adv.rng(&key, b'i').below(count as u64) as usize;
                pick..pick + 1
            }
            None => 0..count,
        };
        let mut issued = false;
        let mut down = false;
        for k in chosen {
            let process = self.instance(target, k);
            if self.failure.is_some() {
                continue;
            }
            if self.nodes[process.index()].is_none() {
                down = true;
                continue;
            }
            // A paused process is handed it when it resumes.
            if self.pauses.is_paused(process) {
                self.pauses.inputs[process.index()].push_back((id, value));
                if let Some(Some(held)) = self.pauses.held.get_mut(process.index()) {
                    held.push(Event::Held(process.0));
                }
                self.last_input = Some(self.now);
                continue;
            }
            self.issue(process, id, value)?;
            issued = true;
        }
        self.inputs_at_down += u64::from(down && !issued);
        Ok(issued)
    }

    /// Hands process `process` the workload's operation `id`.
    fn issue(&mut self, process: NodeId, id: u64, value: u64) -> Result<(), SimError> {
        let lamport = self.clocks.tick(process.index());
        self.write(Kind::Input {
            node: process,
            lamport,
            id,
            value,
        })?;
        Self::saw(&mut self.seen, process, |h| {
            h.write_u8(b'I');
            h.write_u64(id);
            h.write_u64(value);
        });
        self.call(process, |n, ctx| n.on_input(ctx, Input { id, value }))?;
        self.last_input = Some(self.now);
        Ok(())
    }

    /// Updates what faults are in force after a fault record, and since
    /// when the world is calm.
    pub(crate) fn note_fault(&mut self, wires_cut: u32) {
        let was_active = self.faults.active();
        let was_down = self.faults.down;
        let cut = |f: &FaultState| f.partitions + f.wires_cut + f.paused > 0;
        let was_cut = cut(&self.faults);
        self.faults.partitions = self.network.partition_count() as u32;
        self.faults.down = self.nodes.iter().filter(|n| n.is_none()).count() as u32;
        self.faults.wires_cut = wires_cut;
        self.faults.paused = self.pauses.count;
        self.faults.last_fault = Some(self.now);
        if self.faults.active() {
            self.faults.calm_since = None;
        } else if was_active || self.faults.calm_since.is_none() {
            self.faults.calm_since = Some(self.now);
        }
        // Crash-stop calm: a crash or restart starts it again, a partition
        // or cut wire holds it off.
        if cut(&self.faults) {
            self.faults.settled_since = None;
        } else if was_cut || was_down != self.faults.down || self.faults.settled_since.is_none() {
            self.faults.settled_since = Some(self.now);
        }
    }

    fn fault(&mut self, index: u32) -> Result<bool, SimError> {
        let fault = &self.sim.config.faults[index as usize];
        let (action, after) = (fault.action.clone(), fault.after);
        let undoes = self
            .triggers
            .crash_of
            .get(index as usize)
            .copied()
            .flatten();
        if undoes.is_some_and(|c| self.triggers.void.contains(&c)) {
            return Ok(false);
        }
        let handled = self.apply_fault(action.clone())?;
        if let (Some(_), FaultAction::Crash { .. }, false) = (after, &action, handled) {
            self.triggers.void.push(index);
        }
        self.note_fault(self.network.wires_down() as u32);
        Ok(handled)
    }

    /// Triggers that never came, each once, with how many messages their
    /// node handled.
    pub fn untriggered(&self) -> Vec<(Trigger, u64)> {
        let mut out: Vec<(Trigger, u64)> = Vec::new();
        for &(t, _) in &self.triggers.waiting {
            if out.last().is_none_or(|(last, _)| *last != t) {
                let counts = match t.of {
                    Progress::Deliveries => &self.triggers.handled,
                    Progress::Sends => &self.triggers.sent,
                };
                out.push((t, counts.get(t.node.index()).copied().unwrap_or(0)));
            }
        }
        out
    }

    /// A crash of `node` due right after one of its sends to come: how
    /// many sends from now, if any such crash waits (the first).
    fn cut_for(&self, node: NodeId) -> Option<Cut> {
        let faults = &self.sim.config.faults;
        let sent = *self.triggers.sent.get(node.index())?;
        let k = self
            .triggers
            .waiting
            .iter()
            .filter(|(t, i)| {
                t.node == node
                    && t.of == Progress::Sends
                    && faults[*i as usize].at == Duration::ZERO
                    && faults[*i as usize].action == FaultAction::Crash { node }
            })
            .map(|(t, _)| t.count)
            .min()?;
        Some(Cut {
            left: k.saturating_sub(sent).max(1),
            at: None,
            before: false,
        })
    }

    /// `node` has sent `n` more messages: the faults that waited for them
    /// are due, each its `at` from now; with `cut`, the handler was cut
    /// after its last send, and a crash of the node due at once comes now.
    fn sent_messages(&mut self, node: NodeId, n: u64, cut: bool) -> Result<(), SimError> {
        let Some(count) = self.triggers.sent.get_mut(node.index()) else {
            return Ok(());
        };
        let from = *count;
        *count += n;
        let to = *count;
        while let Some(i) = self.triggers.waiting.iter().position(|(t, _)| {
            t.node == node && t.of == Progress::Sends && t.count > from && t.count <= to
        }) {
            let (t, index) = self.triggers.waiting.remove(i);
            let f = &self.sim.config.faults[index as usize];
            let now = cut
                && t.count == to
                && f.at == Duration::ZERO
                && f.action == FaultAction::Crash { node };
            if !now {
                self.schedule(self.now.after(f.at), Event::Fault(index));
            } else if self.failure.is_none() {
                self.fault(index)?;
            }
        }
        Ok(())
    }

    /// `node` has handled one more message: the faults that waited for
    /// it are due, each its `at` from now.
    fn handled_message(&mut self, node: NodeId) {
        let Some(count) = self.triggers.handled.get_mut(node.index()) else {
            return;
        };
        *count += 1;
        let now = Trigger::deliveries(node, *count);
        while let Some(i) = self.triggers.waiting.iter().position(|(t, _)| *t == now) {
            let (_, index) = self.triggers.waiting.remove(i);
            let at = self.sim.config.faults[index as usize].at;
            self.schedule(self.now.after(at), Event::Fault(index));
        }
    }

    fn apply_fault(&mut self, action: FaultAction) -> Result<bool, SimError> {
        match action {
            FaultAction::Partition {
                id,
                spec: PartitionSpec::Isolate { role },
            } => {
                let players = self.playing(&role);
                if players.is_empty() {
                    self.aimed_at_none.push((self.now, role, "none"));
                    return Ok(false);
                }
                // Up nodes that play no part (clients) still reach every
                // node, as Jepsen's clients reach every server; a down
                // node counts with the rest.
                let nodes = self.sim.config.nodes;
                let free: Vec<NodeId> = (0..nodes)
                    .map(NodeId)
                    .filter(|&n| self.plays_none(n))
                    .collect();
                let specs: Vec<PartitionSpec> = match free.is_empty() {
                    true => vec![PartitionSpec::Groups(
                        players.into_iter().map(|n| vec![n]).collect(),
                    )],
                    false => players
                        .iter()
                        .flat_map(|&c| {
                            let rest: Vec<NodeId> = (0..nodes)
                                .map(NodeId)
                                .filter(|n| *n != c && !free.contains(n))
                                .collect();
                            let one = vec![c];
                            let ways = [
                                PartitionSpec::OneWay {
                                    from: one.clone(),
                                    to: rest.clone(),
                                },
                                PartitionSpec::OneWay {
                                    from: rest.clone(),
                                    to: one,
                                },
                            ];
                            ways.into_iter().filter(move |_| !rest.is_empty())
                        })
                        .collect(),
                };
                if specs.is_empty() {
                    self.aimed_at_none.push((self.now, role, "alone"));
                }
                for spec in specs {
                    self.network.partition(id, &spec);
                    self.write(Kind::Partition { id, spec })?;
                }
                Ok(false)
            }
            FaultAction::CrashPlaying { role, mark } => {
                let players = self.playing(&role);
                if players.is_empty() {
                    self.aimed_at_none.push((self.now, role, "crash"));
                }
                let mut handled = false;
                for &node in &players {
                    handled |= self.apply_fault(FaultAction::Crash { node })?;
                }
                self.crashed_by.insert(mark, players);
                Ok(handled)
            }
            FaultAction::RestartCrashed { mark } => {
                let mut handled = false;
                for node in self.crashed_by.remove(&mark).unwrap_or_default() {
                    handled |= self.apply_fault(FaultAction::Restart { node })?;
                }
                Ok(handled)
            }
            FaultAction::PausePlaying {
                role,
                mark,
                mid_handler,
            } => {
                let players = self.playing(&role);
                if players.is_empty() {
                    self.aimed_at_none.push((self.now, role, "pause"));
                }
                for &node in &players {
                    self.apply_fault(FaultAction::Pause { node, mid_handler })?;
                }
                self.pauses.by_mark.insert(mark, players);
                Ok(false)
            }
            FaultAction::ResumePaused { mark } => {
                for node in self.pauses.by_mark.remove(&mark).unwrap_or_default() {
                    self.apply_fault(FaultAction::Resume { node })?;
                }
                Ok(false)
            }
            FaultAction::Pause {
                node: id,
                mid_handler,
            } => {
                let processes = self.nodes.len();
                for k in 0..self.instance_count(id) {
                    let node = self.instance(id, k);
                    if self.nodes[node.index()].is_none() || self.pauses.is_paused(node) {
                        continue;
                    }
                    if mid_handler {
                        // It falls in the node's next handler that sends
                        // or answers.
                        self.pauses.armed.entry(node.0).or_insert(self.now);
                    } else if self.pauses.pause(node, processes) {
                        self.write(Kind::Pause { node })?;
                    }
                }
                Ok(false)
            }
            FaultAction::Resume { node: id } => {
                for k in 0..self.instance_count(id) {
                    let node = self.instance(id, k);
                    if let Some(since) = self.pauses.armed.remove(&node.0) {
                        self.aimed_at_none
                            .push((since, node.to_string(), "unfallen"));
                    }
                    if self.pauses.resume(node) {
                        self.write(Kind::Resume { node })?;
                        self.pause_ends(node)?;
                    }
                }
                Ok(false)
            }
            FaultAction::Partition { id, spec } => {
                self.network.partition(id, &spec);
                self.write(Kind::Partition { id, spec })?;
                Ok(false)
            }
            FaultAction::Heal { id } => {
                self.network.heal(id);
                self.write(Kind::Heal { id })?;
                Ok(false)
            }
            FaultAction::CutWire { a, b } => {
                self.network.cut_wire(a, b);
                self.write(Kind::CutWire { a, b })?;
                Ok(false)
            }
            FaultAction::RestoreWire { a, b } => {
                self.network.restore_wire(a, b);
                self.write(Kind::RestoreWire { a, b })?;
                Ok(false)
            }
            FaultAction::Forge { to, from } => {
                let rng = self.fault_rng(b'F');
                self.inject(true, rng, Some((to, from)))?;
                Ok(false)
            }
            FaultAction::Replay { to } => {
                let rng = self.fault_rng(b'R');
                self.inject(false, rng, Some((to, None)))?;
                Ok(false)
            }
            FaultAction::Alter { to } => {
                if let Some(adv) = self.adv.as_mut() {
                    adv.pending_alter.push(to);
                }
                Ok(false)
            }
            FaultAction::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            } => {
                for k in 0..self.instance_count(node) {
                    let p = self.instance(node, k);
                    let clock = &mut self.slots[p.index()].clock;
                    *clock = clock.skewed(self.now, offset_ns, drift_ppm);
                }
                // A clock set back past zero stands there a while: said,
                // since a protocol that measures time sees it stopped.
                let now = self.now;
                for h in self.clocks_held.iter_mut().filter(|h| h.node == node) {
                    h.until = h.until.min(now);
                }
                self.clocks_held
                    .retain(|h| h.node != node || h.until > h.from);
                if let Some(held) = self.slots[node.index()].clock.held_at_zero(now) {
                    self.clocks_held.push(crate::scheduler::ClockHeld {
                        node,
                        from: now,
                        until: now.after(held),
                        offset_ns,
                    });
                }
                self.write(Kind::ClockSkew {
                    node,
                    offset_ns,
                    drift_ppm,
                })?;
                Ok(false)
            }
            FaultAction::Crash { node: id } => {
                let mut handled = false;
                for k in 0..self.instance_count(id) {
                    let node = self.instance(id, k);
                    if self.nodes[node.index()].is_none() {
                        continue;
                    }
                    let lamport = self.clocks.tick(node.index());
                    let at = self.write(Kind::Crash { node, lamport })?;
                    // A pause that fell in a handler: what the handler did
                    // from its cut on never happens.
                    self.pauses.armed.remove(&node.0);
                    if let Some((_, disk)) = self.pause_held.remove(&node.0) {
                        self.slots[node.index()].disk = disk;
                    }
                    let lost = self.crash_disk(node, self.disk_choice)?;
                    if self.history.is_some() {
                        self.crashes.push((at, node, self.now, Some(lost)));
                    }
                    self.end_crashed_ops(node)?;
                    self.nodes[node.index()] = None;
                    // A crash ends a pause (its record says so): what
                    // waited comes now and finds the node down.
                    self.pauses.resume(node);
                    let slot = &mut self.slots[node.index()];
                    slot.timers.clear();
                    self.changed = Some(node);
                    handled = true;
                }
                Ok(handled)
            }
            FaultAction::Restart { node: id } => {
                let mut handled = false;
                for k in 0..self.instance_count(id) {
                    let node = self.instance(id, k);
                    if self.nodes[node.index()].is_some() || self.failure.is_some() {
                        continue;
                    }
                    let lamport = self.clocks.tick(node.index());
                    self.write(Kind::Restart { node, lamport })?;
                    let amnesia = self.adv.as_ref().is_some_and(|a| {
                        matches!(
                            a.behaviour[node.index()],
                            Some(crate::adversary::Behaviour::Amnesia)
                        )
                    });
                    if amnesia {
                        self.slots[node.index()].disk = Disk::default();
                    }
                    self.nodes[node.index()] = Some((self.sim.factory)(id));
                    self.changed = Some(node);
                    let lamport = self.clocks.tick(node.index());
                    self.write(Kind::Start { node, lamport })?;
                    self.saw_start(node);
                    self.call(node, |n, ctx| n.on_start(ctx))?;
                    handled = true;
                }
                Ok(handled)
            }
        }
    }

    /// What process `node`'s crash does to its disk's unsynced writes:
    /// with [`crate::config::DiskConfig::unsynced_kept`] zero, loses them
    /// all; else keeps each with that chance (drawn from the node's own
    /// disk stream, one draw a key, whatever the chance), or as `kept`
    /// says (exploration's choice: a bit per unsynced key, in key order),
    /// or, following a recorded schedule, as the recording's crash kept
    /// (by key; a crash it does not have draws), and records which.
    fn crash_disk(&mut self, node: NodeId, kept: Option<u64>) -> Result<u64, SimError> {
        let chance = self.sim.config.disk.unsynced_kept;
        let slot = &mut self.slots[node.index()];
        let ordinal = slot.crashes;
        slot.crashes += 1;
        let disk = &mut slot.disk;
        if chance == crate::rng::Ppm::ZERO && kept.is_none() {
            let lost = disk.unsynced_keys().count() as u64;
            disk.crash();
            return Ok(lost);
        }
        if disk.unsynced_keys().next().is_none() {
            return Ok(0);
        }
        let recorded = self
            .sim
            .schedule
            .as_ref()
            .and_then(|s| s.disk.get(&node.0)?.get(&ordinal));
        let (kept, lost) = match (kept, recorded) {
            (None, Some(keys)) => disk.crash_keeping(|k| keys.iter().any(|r| r == k)),
            (Some(mask), _) => {
                let mut bit = 0;
                disk.crash_keeping(|_| {
                    let keep = bit < 64 && mask >> bit & 1 == 1;
                    bit += 1;
                    keep
                })
            }
            (None, None) => {
                let seed = self.sim.config.seed;
                let rng = self
                    .disk_rngs
                    .entry(node.0)
                    .or_insert_with(|| DetRng::new(seed, Stream::Disk(node.0)));
                disk.crash_keeping(|_| rng.chance(chance))
            }
        };
        let count = lost.len() as u64;
        self.write(Kind::DiskAtCrash { node, kept, lost })?;
        Ok(count)
    }

    /// The adversary's stream for the fault being applied now (named by
    /// its time and kind, so other faults leave it alone).
    fn fault_rng(&mut self, kind: u8) -> DetRng {
        let now = self.now.0;
        match self.adv.as_mut() {
            Some(adv) => {
                let key = adv.key(kind, 0, 0, &now.to_le_bytes());
                adv.rng(&key, kind)
            }
            None => DetRng::new(now, Stream::Adversary),
        }
    }

    /// The nodes, in id order, that play `role` now ([`Node::role`]): a
    /// twinned node when any of its up instances does.
    fn playing(&self, role: &str) -> Vec<NodeId> {
        (0..self.sim.config.nodes)
            .map(NodeId)
            .filter(|&id| {
                (0..self.instance_count(id)).any(|k| {
                    let p = self.instance(id, k);
                    self.nodes[p.index()]
                        .as_ref()
                        .is_some_and(|n| n.role() == Some(role))
                })
            })
            .collect()
    }

    /// Whether node `id` is up and plays no role: none of its up
    /// instances does.
    fn plays_none(&self, id: NodeId) -> bool {
        let mut up = (0..self.instance_count(id))
            .filter_map(|k| self.nodes[self.instance(id, k).index()].as_ref())
            .peekable();
        up.peek().is_some() && up.all(|n| n.role().is_none())
    }

    /// How many processes node `id` runs as: one, or a twin's instances.
    fn instance_count(&self, id: NodeId) -> usize {
        self.adv
            .as_ref()
            .map_or(1, |a| a.instances[id.index()].len())
    }

    /// The process of instance `k` of node `id` (instance 0 is the node
    /// itself). Indexed rather than listed, so that runs without an
    /// adversary allocate nothing for it.
    fn instance(&self, id: NodeId, k: usize) -> NodeId {
        match &self.adv {
            Some(a) => NodeId(a.instances[id.index()][k]),
            None => id,
        }
    }

    /// Under exploration of nodes whose state does not hash, folds what
    /// process `id` is handed (`event`'s bytes) into the digest that stands
    /// for its state. A node is deterministic: what it has been handed
    /// since it was built (the events, and where its random stream and
    /// clock stood) decides its state, so two paths that hand each node
    /// the same events in the same order reach one state, however they
    /// interleave the nodes.
    #[inline]
    fn saw(seen: &mut Option<Vec<u64>>, id: NodeId, event: impl FnOnce(&mut DefaultHasher)) {
        if let Some(seen) = seen.as_mut() {
            let mut h = DefaultHasher::new();
            h.write_u64(seen[id.index()]);
            event(&mut h);
            seen[id.index()] = h.finish();
        }
    }

    /// A node built anew (at the start or a restart) begins its digest
    /// with what it finds: its disk, and the timer ids it will be given.
    fn saw_start(&mut self, id: NodeId) {
        if let Some(seen) = self.seen.as_mut() {
            let slot = &self.slots[id.index()];
            let (disk, next_timer) = (&slot.disk, slot.next_timer);
            let mut h = DefaultHasher::new();
            h.write_u8(b'S');
            disk.hash(&mut h);
            h.write_u64(next_timer);
            seen[id.index()] = h.finish();
        }
    }

    /// The digest of what process `id` has been handed (see
    /// [`World::saw`]), when kept.
    pub(crate) fn seen(&self, id: usize) -> Option<u64> {
        self.seen.as_ref().map(|s| s[id])
    }

    /// Runs one handler of `id`, catching a panic, then applies its effects.
    fn call(
        &mut self,
        id: NodeId,
        handler: impl FnOnce(&mut N, &mut Context<'_, N>),
    ) -> Result<(), SimError> {
        let mut effects = std::mem::take(&mut self.effects);
        effects.clear();
        self.changed = Some(id);
        self.unchanged = false;
        // A crash due after one of the handler's sends: one a search
        // chose for this step ([`explore::Action::Cut`]), else a
        // triggered one; or a pause due before its first send or answer,
        // which comes before either.
        let chosen = self.explore.as_mut().and_then(|p| p.cut.take());
        let mut cut = match chosen {
            Some(left) => Some(Cut {
                left: u64::from(left),
                at: None,
                before: false,
            }),
            None if self.triggers.waiting.is_empty() && self.pauses.armed.is_empty() => None,
            None => self.pauses.cut_for(id).or_else(|| self.cut_for(id)),
        };
        let slot = &mut self.slots[id.index()];
        let Some(node) = self.nodes[id.index()].as_mut() else {
            self.effects = effects;
            return Ok(());
        };
        let mut ctx = Context {
            id: self.adv.as_ref().map_or(id, |a| a.ident[id.index()]),
            nodes: self.sim.config.nodes,
            local_now: slot.clock.read(self.now),
            rng: &mut slot.rng,
            disk: &mut slot.disk,
            effects: &mut effects,
            next_timer: &mut slot.next_timer,
            buffers: &mut self.buffers,
            authentic: self.authentic,
            task_order: self.task_order,
            task_choices: self
                .sim
                .schedule
                .is_some()
                .then_some(&mut slot.task_choices),
            inputs: 0,
            clock_read: std::cell::Cell::new(false),
            unchanged: false,
            cut: cut.as_mut(),
            _node: PhantomData,
        };
        let position = self.seen.is_some().then(|| ctx.rng.position());
        IN_HANDLER.with(|f| f.set(Some(id)));
        handler(node, &mut ctx);
        IN_HANDLER.with(|f| f.set(None));
        let clock_read = ctx.clock_read.get();
        self.clock_read |= clock_read;
        if let (true, Some(pool)) = (clock_read, self.explore.as_mut()) {
            pool.clock_read = true;
        }
        // A node that says the event changed nothing, and did nothing:
        // exploration leaves the event out of what the node was handed.
        self.unchanged = ctx.unchanged
            && ctx.effects.is_empty()
            && !clock_read
            && position.is_some_and(|p| p == ctx.rng.position());
        if let Some(position) = position {
            // Where its random stream stood, and what its clock said if it
            // looked: all else a handler reads follows from what it was
            // handed.
            let local_now = clock_read.then_some(ctx.local_now.0);
            Self::saw(&mut self.seen, id, |h| {
                h.write_u128(position);
                local_now.hash(h);
            });
        }
        if ctx.inputs != 0 {
            let note = ctx.inputs;
            if let Err(e) = self.note_inputs(id, note) {
                self.effects = effects;
                return Err(e);
            }
        }
        // A crash due after a send the handler made: what it did after
        // that send never happened, its disk as it was then. A pause due
        // before one: what it did from that send on waits for the resume.
        let mut fell = None;
        let cut = match cut.and_then(|c| c.at.map(|at| (at, c.before))) {
            Some(((at, disk), false)) => {
                effects.truncate(at);
                self.slots[id.index()].disk = disk;
                true
            }
            Some(((at, disk), true)) => {
                fell = Some((effects.split_off(at), disk));
                false
            }
            None => false,
        };
        if let (Some(_), true, Some(pool)) = (chosen, cut, self.explore.as_mut()) {
            pool.cut_node = Some(id);
        }
        let sends = if self.triggers.waiting.is_empty() {
            0
        } else {
            effects
                .iter()
                .filter(|e| matches!(e, Effect::Send { .. }))
                .count() as u64
        };
        for effect in effects.drain(..) {
            self.apply(id, effect)?;
            if self.failure.is_some() {
                break;
            }
        }
        self.effects = effects;
        if sends > 0 {
            self.sent_messages(id, sends, cut)?;
        }
        if let (Some(held), None) = (fell, &self.failure) {
            self.pause_falls(id, held)?;
        }
        Ok(())
    }

    /// A pause that lay in wait for `id` falls in its handler: the node
    /// stops, with what the handler did from its cut on (and its disk
    /// then) to happen at the resume.
    #[cold]
    fn pause_falls(&mut self, id: NodeId, held: Held<N::Timer>) -> Result<(), SimError> {
        self.pauses.armed.remove(&id.0);
        let processes = self.nodes.len();
        if self.nodes[id.index()].is_none() || !self.pauses.pause(id, processes) {
            // Not to be stopped after all: what it did happens now.
            return self.apply_held(id, held.0);
        }
        self.pause_held.insert(id.0, held);
        self.write(Kind::Pause { node: id })?;
        self.note_fault(self.network.wires_down() as u32);
        Ok(())
    }

    /// What a handler of `id` did from the cut where its pause fell,
    /// done now that it resumes, before what waited meanwhile.
    #[cold]
    fn pause_ends(&mut self, id: NodeId) -> Result<(), SimError> {
        match self.pause_held.remove(&id.0) {
            Some((held, _)) => self.apply_held(id, held),
            None => Ok(()),
        }
    }

    /// Applies effects of `id`'s that a pause held, counting its sends
    /// toward the faults they set off.
    fn apply_held(&mut self, id: NodeId, held: Vec<Effect<N::Timer>>) -> Result<(), SimError> {
        let sends = held
            .iter()
            .filter(|e| matches!(e, Effect::Send { .. }))
            .count() as u64;
        for effect in held {
            self.apply(id, effect)?;
            if self.failure.is_some() {
                return Ok(());
            }
        }
        if sends > 0 && !self.triggers.waiting.is_empty() {
            self.sent_messages(id, sends, false)?;
        }
        Ok(())
    }

    /// What a handler's node said about client operations
    /// ([`Context::inputs`]'s bits).
    #[cold]
    fn note_inputs(&mut self, id: NodeId, note: u8) -> Result<(), SimError> {
        use crate::node::input_note::{ASKED, IGNORED, QUEUED};
        self.inputs_asked |= note & ASKED != 0;
        if note & QUEUED != 0 {
            self.inputs_queued.get_or_insert((id, 0)).1 += 1;
        }
        if note & IGNORED != 0 {
            return Err(SimError::Config(format!(
                "the workload hands {id} client operations, but `{}` does not implement \
                 Node::on_input, so each would be dropped unseen; implement on_input, or take the \
                 workload away (in a property test, `Bounds::no_operations()`)",
                std::any::type_name::<N>()
            )));
        }
        Ok(())
    }

    fn apply(&mut self, id: NodeId, effect: Effect<N::Timer>) -> Result<(), SimError> {
        match effect {
            Effect::Send {
                to,
                payload,
                authenticated,
            } => self.send(id, to, payload, authenticated),
            Effect::SetTimer { timer, after, tag } => {
                let slot = &mut self.slots[id.index()];
                slot.timers.insert(timer.0, tag);
                let at = self.now.after(slot.clock.to_virtual(after));
                // Under exploration a timer is a choice, not a time: when
                // it was set and its length order it among its node's
                // timers, its deadline only in a settle.
                if let Some(pool) = self.explore.as_mut() {
                    pool.deadlines
                        .retain(|&(n, t), _| n != id.0 || slot.timers.contains(t));
                    pool.deadlines.insert(
                        (id.0, timer.0),
                        explore::Due {
                            set: self.now,
                            at,
                            after,
                        },
                    );
                    return Ok(());
                }
                self.schedule(
                    at,
                    Event::Timer {
                        node: id.0,
                        timer: timer.0,
                    },
                );
                Ok(())
            }
            Effect::CancelTimer { timer } => {
                self.slots[id.index()].timers.remove(timer.0);
                Ok(())
            }
            Effect::Observe { text } => {
                let lamport = self.clocks.tick(id.index());
                self.write(Kind::Observe {
                    node: id,
                    lamport,
                    text: Cow::Owned(text),
                })?;
                Ok(())
            }
            Effect::History(op) => {
                match op.phase {
                    crate::history::Phase::Invoke => {
                        self.open_ops.insert(op.process, (id, op.clone()));
                        self.last_invoked = Some(self.now);
                    }
                    _ => {
                        self.open_ops.remove(&op.process);
                    }
                }
                self.record_op(id, op)
            }
            Effect::Fail { message } => self.fail("effect", message),
        }
    }

    /// Writes a history record for `node` and keeps it for history checks.
    fn record_op(&mut self, node: NodeId, op: crate::history::Op) -> Result<(), SimError> {
        let lamport = self.clocks.tick(node.index());
        let record = Record {
            time: self.now,
            kind: Kind::Op { node, lamport, op },
        };
        self.stats.count(&record);
        let index = self.sink.record(&record)?;
        if let (Some(h), Kind::Op { op, .. }) = (self.history.as_mut(), record.kind) {
            h.push((index, node, op));
        }
        Ok(())
    }

    /// A crashed node's operations in flight end as `info`: whether they
    /// took effect is unknown (as Jepsen records a crashed client's), and
    /// a restarted node may invoke again as the same process.
    fn end_crashed_ops(&mut self, node: NodeId) -> Result<(), SimError> {
        let ended: Vec<u64> = self
            .open_ops
            .iter()
            .filter(|(_, (n, _))| *n == node)
            .map(|(p, _)| *p)
            .collect();
        for process in ended {
            if let Some((_, mut op)) = self.open_ops.remove(&process) {
                op.phase = crate::history::Phase::Info;
                self.record_op(node, op)?;
            }
        }
        Ok(())
    }

    fn send(
        &mut self,
        from: NodeId,
        to: NodeId,
        payload: Vec<u8>,
        authenticated: bool,
    ) -> Result<(), SimError> {
        let config = &self.sim.config;
        if to.0 >= config.nodes {
            return self.fail(
                "effect",
                format!("node {from} sent a message to {to}, which does not exist"),
            );
        }
        if payload.len() > config.limits.message_bytes as usize {
            let limit = config.limits.message_bytes;
            return self.fail(
                "effect",
                format!(
                    "node {from} sent a {}-byte message; the limit is {limit}",
                    payload.len()
                ),
            );
        }
        let Some(adv) = self.adv.as_mut() else {
            let mac = authenticated.then(|| self.keys.mac(from, to, &payload));
            return self
                .transmit(from, to, payload, mac, None, false)
                .map(|_| ());
        };
        // A byzantine sender: mutated before the MAC (it holds its own
        // keys, so what it changes it signs), silenced, or a twin whose
        // instances each reach their own part of the network.
        use crate::adversary::Behaviour;
        let me = adv.ident[from.index()];
        let mut payload = payload;
        let mut change = None;
        let mut forced = None;
        match adv.behaviour[from.index()] {
            Some(Behaviour::Mutate { chance, arbitrary }) => {
                if let Ok(m) = postcard::from_bytes::<N::Msg>(&payload) {
                    adv.mutator.observe(&m);
                }
                let key = adv.key(b's', from.0, to.0, &payload);
                let mut rng = adv.rng(&key, b'm');
                if rng.chance(chance) {
                    if let Some((bytes, c)) = mutate_bytes::<N::Msg>(
                        &mut adv.mutator,
                        &mut rng,
                        &payload,
                        arbitrary,
                        || format!("byzantine {from} is to mutate its messages"),
                    )? {
                        payload = bytes;
                        change = Some(c);
                    }
                }
            }
            Some(Behaviour::Silent) => forced = Some(LossCause::Silenced),
            _ => {}
        }
        let routes = adv.route(from, to);
        let mac = authenticated.then(|| self.keys.mac(me, to, &payload));
        let last = routes.len() - 1;
        let mut payload = Some(payload);
        for (i, (process, reachable)) in routes.into_iter().enumerate() {
            let bytes = if i == last {
                payload.take().unwrap_or_default()
            } else {
                payload.clone().unwrap_or_default()
            };
            let cause = forced.or((!reachable).then_some(LossCause::Partition));
            let msg = self.transmit(from, process, bytes, mac, cause, change.is_some())?;
            if let Some(change) = &change {
                self.write(Kind::Mutated {
                    node: from,
                    msg,
                    change: Cow::Borrowed(change),
                })?;
            }
        }
        Ok(())
    }

    /// Records a send from process `from` to process `to` and hands it to
    /// the network, or loses it at once for `forced`; returns its id.
    /// `mutated`: a byzantine sender changed the bytes its code encoded.
    fn transmit(
        &mut self,
        from: NodeId,
        to: NodeId,
        payload: Vec<u8>,
        mac: Option<crate::adversary::Mac>,
        forced: Option<LossCause>,
        mutated: bool,
    ) -> Result<u64, SimError> {
        let lamport = self.clocks.tick(from.index());
        let msg = self.next_msg;
        self.next_msg += 1;
        self.write(Kind::Send {
            node: from,
            lamport,
            msg,
            to,
            payload: Cow::Borrowed(&payload),
        })?;
        // Under exploration the network decides nothing but this: a
        // topology with no route between the ends loses the copy at once.
        let forced = forced.or_else(|| {
            (self.explore.is_some() && !self.network.routable(from, to))
                .then_some(LossCause::NoRoute)
        });
        if let Some(cause) = forced {
            self.write(Kind::Lost {
                msg,
                copy: 0,
                from,
                to,
                cause,
            })?;
            self.planned_done(msg, true, false);
            return Ok(msg);
        }
        let vector = self.clocks.vector(from.index()).map(|v| {
            let mut buf = self.clock_buffers.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(v);
            buf
        });
        // Under exploration the network decides nothing: the copy waits in
        // the pool until a step delivers, drops or duplicates it.
        if let Some(pool) = self.explore.as_mut() {
            pool.in_flight.push(crate::network::InFlight {
                msg,
                copy: 0,
                from,
                to,
                payload,
                lamport,
                vector,
                mac,
                tampered: mutated,
            });
            return Ok(msg);
        }
        let out = Outgoing {
            msg,
            from,
            to,
            payload,
            lamport,
            vector,
            mac,
            mutated,
        };
        let report = self.network.send(&mut self.net_rng, self.now, out);
        let lost = matches!(report.copies[0], CopyFate::Lost(_));
        self.planned_done(msg, lost, report.duplicated());
        if report.duplicated() {
            self.write(Kind::Duplicated { msg, copy: 1 })?;
        }
        for (slot, held, at) in self.network.take_pulled() {
            self.schedule(at, Event::Deliver { slot, msg: held });
        }
        for (copy, fate) in (0u32..).zip(report.copies) {
            match fate {
                CopyFate::None => {}
                CopyFate::Lost(cause) => {
                    self.write(Kind::Lost {
                        msg,
                        copy,
                        from,
                        to,
                        cause,
                    })?;
                }
                CopyFate::Scheduled { slot, at } => {
                    let flips = self.network.take_flips(copy);
                    if !flips.is_empty() {
                        self.write(Kind::Corrupted { msg, copy, flips })?;
                    }
                    self.schedule(at, Event::Deliver { slot, msg });
                }
            }
        }
        for e in self.network.take_evicted() {
            self.write(Kind::Lost {
                msg: e.msg,
                copy: e.copy,
                from: e.from,
                to: e.to,
                cause: LossCause::MailboxFull,
            })?;
        }
        Ok(msg)
    }

    /// Evaluates the invariants `due` selects over the current state;
    /// records the first that breaks.
    fn evaluate(
        &mut self,
        end: Option<EndReason>,
        due: impl Fn(usize, When) -> bool,
    ) -> Result<(), SimError> {
        // At the run's end, judged past its failure: every check due.
        let all = end.is_some() && self.judges_rest();
        for (name, message) in self.broken(end, due, all) {
            self.fail(&name, message)?;
        }
        Ok(())
    }

    /// Evaluates the invariants `due` selects over the current state: the
    /// first that breaks (its name and why), without failing the run.
    fn first_broken(
        &mut self,
        end: Option<EndReason>,
        due: impl Fn(usize, When) -> bool,
    ) -> Option<(String, String)> {
        self.broken(end, due, false).pop()
    }

    /// Evaluates the invariants `due` selects over the current state:
    /// those that break (name and why, in registration order), the first
    /// alone unless `all`; without failing the run.
    fn broken(
        &mut self,
        end: Option<EndReason>,
        due: impl Fn(usize, When) -> bool,
        all: bool,
    ) -> Vec<(String, String)> {
        let mut broken = Vec::new();
        {
            let identities = self.sim.config.nodes as usize;
            let (slots, now) = (&self.slots[..identities], self.now);
            let read = move |id: NodeId| slots.get(id.index()).map(|s| s.clock.read(now));
            let view = View {
                nodes: &self.nodes[..identities],
                byzantine: self.adv.as_ref().map_or(&[][..], |a| &a.byzantine[..]),
                now: self.now,
                in_flight: self.network.in_flight(),
                end,
                changed: self.changed,
                faults: self.faults,
                history: self.history.as_deref().filter(|_| self.sim.history_in_view),
                clocks: Readings::Live(&read),
            };
            for (i, inv) in self.sim.invariants.iter().enumerate() {
                if !due(i, inv.when) {
                    continue;
                }
                self.tallies[i].evaluations += 1;
                IN_CHECK.with(|f| f.set(Some(i)));
                let verdict = inv.check_with(self.monitors[i].as_deref_mut(), &view);
                IN_CHECK.with(|f| f.set(None));
                if let Err(message) = verdict {
                    broken.push((inv.name.clone(), message));
                    if !all {
                        break;
                    }
                }
            }
        }
        broken
    }

    /// Since when the world is calm for an `eventually`: no fault in force
    /// since the last one ended, and no client operation since the last
    /// one arrived and the last one began (a check judged amid the
    /// workload would judge work in progress, not a system that failed to
    /// recover). `None` while a fault is in force.
    /// `amid_workload`: since the last fault alone.
    /// `despite_crashes`: since the crash-stop calm began (nodes down left
    /// down).
    fn calm(&self, amid_workload: bool, despite_crashes: bool) -> Option<Instant> {
        let faults = match despite_crashes {
            true => self.faults.settled_since?,
            false => self.faults.calm_since?,
        };
        Some(match self.last_input.max(self.last_invoked) {
            Some(last) if !amid_workload => last.max(faults),
            _ => faults,
        })
    }

    fn check_after_event(&mut self) -> Result<(), SimError> {
        if self.sim.invariants.is_empty() {
            return Ok(());
        }
        self.evaluate(None, |_, when| matches!(when, When::Always | When::PerNode))
    }

    /// Time is about to move on to `t`: every `eventually` whose deadline
    /// (the end of the current calm period's grace) lies before `t` is
    /// evaluated now, over the state at its deadline.
    fn reach(&mut self, t: Instant) -> Result<(), SimError> {
        let calm = self.faults.calm_since.or(self.faults.settled_since);
        if calm.is_none() || self.pct.is_some() {
            return Ok(());
        }
        for i in 0..self.sim.invariants.len() {
            let When::Eventually {
                within,
                amid_workload,
                despite_crashes,
            } = self.sim.invariants[i].when
            else {
                continue;
            };
            let Some(calm) = self.calm(amid_workload, despite_crashes) else {
                continue;
            };
            let due = calm.after(within);
            if self.tallies[i].settled == Some(calm) || due >= t {
                continue;
            }
            self.tallies[i].settled = Some(calm);
            // The state at the deadline is the state now: nothing happens
            // between the last event and `t`.
            self.now = self.now.max(due);
            self.changed = None;
            let failed_before = self.failure.is_some();
            self.evaluate(None, |j, _| j == i)?;
            if self.failure.is_some() {
                if !failed_before {
                    self.explain_due();
                }
                return Ok(());
            }
        }
        Ok(())
    }

    /// The end-of-run checks: every invariant over the final state, and
    /// the `eventually` ones still due, unless a limit a tool imposed ended
    /// the run (the scenario never asked for that state).
    fn check_at_end(&mut self, reason: EndReason) -> Result<(), SimError> {
        if self.sim.invariants.is_empty() {
            return Ok(());
        }
        let cut_by_tool = (self.sim.config.limits_cut_by.is_some() || self.explore.is_some())
            && matches!(reason, EndReason::TimeLimit | EndReason::EventLimit)
            || reason == EndReason::Interrupted;
        self.changed = None;
        // An adversarial schedule may starve any message forever: liveness
        // is not judged under one.
        let calm =
            |amid: bool, despite: bool| self.calm(amid, despite).filter(|_| self.pct.is_none());
        let calm = [
            [calm(false, false), calm(false, true)],
            [calm(true, false), calm(true, true)],
        ];
        let quiet = reason == EndReason::Quiescent;
        let now = self.now;
        let tallies = self.tallies.clone();
        let tallies_history: Vec<bool> =
            self.sim.invariants.iter().map(|i| i.is_history()).collect();
        let failed_before = self.failure.is_some();
        self.evaluate(Some(reason), |i, when| match when {
            When::Always | When::PerNode => true,
            When::AtEnd => !cut_by_tool && !tallies_history[i],
            // Reached its deadline, or nothing more would ever happen.
            When::Eventually {
                within,
                amid_workload,
                despite_crashes,
            } => match calm[usize::from(amid_workload)][usize::from(despite_crashes)] {
                Some(c) if tallies[i].settled != Some(c) => {
                    !cut_by_tool && (quiet || c.after(within) <= now)
                }
                _ => false,
            },
        })?;
        if !failed_before {
            self.explain_due();
        }
        Ok(())
    }

    /// When the run's failure is an `eventually` check's, says when it was
    /// due and what started its clock: the run's start, the last fault's
    /// end, the last client operation; judged early when nothing more
    /// could happen; a link's steady loss does not put it off.
    fn explain_due(&mut self) {
        let failed = self.failure.as_ref().map(|f| f.check.as_str());
        let Some(i) = self
            .sim
            .invariants
            .iter()
            .position(|inv| Some(inv.name.as_str()) == failed)
        else {
            return;
        };
        let When::Eventually {
            within,
            amid_workload,
            despite_crashes,
        } = self.sim.invariants[i].when
        else {
            return;
        };
        let (Some(calm), Some(faults)) = (
            self.calm(amid_workload, despite_crashes),
            match despite_crashes {
                true => self.faults.settled_since,
                false => self.faults.calm_since,
            },
        ) else {
            return;
        };
        let origin = match self.last_input.max(self.last_invoked) {
            Some(op) if !amid_workload && op >= faults && op > Instant::ZERO => {
                match self.last_input {
                    Some(arrived) if arrived >= op => {
                        format!("the last client operation arrived (at {op})")
                    }
                    // A client held it in a queue of its own.
                    Some(arrived) => format!(
                        "a client last began an operation (at {op}; the last one arrived at \
                         {arrived})"
                    ),
                    None => format!("a client last began an operation (at {op})"),
                }
            }
            _ if faults > Instant::ZERO && despite_crashes => format!(
                "the last partition or cut wire ended or the last crash or restart happened (at \
                 {faults})"
            ),
            _ if faults > Instant::ZERO => format!("the last fault ended (at {faults})"),
            _ => format!(
                "the run began, with no fault{} since",
                if amid_workload {
                    ""
                } else {
                    " and no client operation"
                }
            ),
        };
        let due = calm.after(within);
        let note = if due > self.now {
            format!(
                "judged early, at {}, when nothing more could happen; due {within} after \
                 {origin}, so at {due}",
                self.now
            )
        } else {
            let config = self.network.config();
            let loss = config
                .links
                .iter()
                .map(|(_, _, l)| l.loss.0)
                .fold(config.default.loss.0, u32::max);
            let steady = match loss {
                0 => String::new(),
                ppm => format!(
                    "; the links' steady loss (up to {}%) is no fault that ends, and does not put \
                     the deadline off",
                    f64::from(ppm) / 10_000.0
                ),
            };
            format!("due {within} after {origin}, so at {due}{steady}")
        };
        if let Some(f) = self.failure.as_mut() {
            f.due = Some(note);
        }
    }

    /// Under exploration, the history checks after every step that grew
    /// the history (a state that breaks linearizability is a violation like
    /// any other); otherwise nothing until the end.
    fn check_history_now(&mut self) -> Result<(), SimError> {
        let grew = self.history.as_ref().map_or(0, Vec::len);
        if self.explore.is_none() || grew == self.history_checked {
            return Ok(());
        }
        self.history_checked = grew;
        self.check_history()?;
        // Evaluations at each step are not the end-of-run one.
        Ok(())
    }

    /// Marks the history as checked as far as it goes.
    pub(crate) fn history_seen(&mut self) {
        self.history_checked = self.history.as_ref().map_or(0, Vec::len);
    }

    /// The history checks, once the run is over, or cut short by a tool
    /// or a failure (a history cut anywhere is still a history, but
    /// operations pending at the cut are judged as of unknown outcome).
    fn check_history(&mut self) -> Result<(), SimError> {
        // An empty history proves nothing: its checks are reported as not
        // run, with why, never as held.
        let Some(history) = self.history.take_if(|h| !h.is_empty()) else {
            return Ok(());
        };
        let mut broken = Vec::new();
        let all = self.judges_rest();
        for (i, inv) in self.sim.invariants.iter().enumerate() {
            if !inv.is_history() {
                continue;
            }
            if !all && !broken.is_empty() {
                break;
            }
            IN_CHECK.with(|f| f.set(Some(i)));
            let verdict = inv.check_history(&history);
            IN_CHECK.with(|f| f.set(None));
            let (before, message) = match verdict {
                HistoryVerdict::Held => {
                    self.tallies[i].evaluations += 1;
                    continue;
                }
                HistoryVerdict::Unknown(why) => {
                    self.tallies[i].unknown = Some(why);
                    continue;
                }
                HistoryVerdict::Failed(message) => (None, message),
                HistoryVerdict::FailedAt(at, message) => (Some(at), message),
            };
            self.tallies[i].evaluations += 1;
            let ops = history.iter().map(|&(at, node, _)| (at, node));
            let message = match crate::check::linearizable::crash_note(&self.crashes, ops, before) {
                Some(note) => format!("{message}; note: {note}"),
                None => message,
            };
            broken.push((inv.name.clone(), message));
        }
        self.history = Some(history);
        for (name, message) in broken {
            self.fail(&name, message)?;
        }
        Ok(())
    }

    /// Whether some handler of this run read its node's clock.
    pub(crate) fn clock_read(&self) -> bool {
        self.clock_read
    }

    /// Marks in `seen` (by index) each invariant this run has evaluated so
    /// far, a failed one included.
    pub(crate) fn mark_evaluated(&self, seen: &mut super::Evaluated) {
        let failed = self.failure.as_ref().map(|f| f.check.as_str());
        // A check of the clients' operations held over none judged nothing.
        let operations = self.stats.history > 0;
        seen.operations |= operations;
        let checks = self.sim.invariants.iter().zip(&self.tallies);
        for ((inv, tally), seen) in checks.zip(&mut seen.checks) {
            let judged = tally.evaluations > 0 && (operations || !inv.needs_operations());
            *seen |= judged || failed == Some(inv.name.as_str());
        }
    }

    /// What became of each invariant, once the run is over.
    pub fn check_reports(&self, end: EndReason) -> Vec<CheckReport> {
        let cut_by = self.sim.config.limits_cut_by.as_deref();
        // A failure among the end's checks: the others were judged as at
        // the end the run was coming to (a history check over no
        // operation among them).
        let end = match (end, self.ending) {
            (EndReason::CheckFailed, Some(ending)) if self.judges_rest() => ending,
            (end, _) => end,
        };
        self.sim
            .invariants
            .iter()
            .zip(&self.tallies)
            .map(|(inv, tally)| {
                let failed = self.failure.as_ref().is_some_and(|f| f.check == inv.name);
                let also = self.also_failed.iter().find(|(c, _)| *c == inv.name);
                let no_operations = inv.needs_operations()
                    && end != EndReason::CheckFailed
                    && self.history.as_ref().is_some_and(Vec::is_empty);
                let status = if failed {
                    CheckStatus::Failed
                } else if let Some((_, message)) = also {
                    CheckStatus::AlsoFailed {
                        message: message.clone(),
                    }
                } else if no_operations {
                    // Held over nothing is not held.
                    CheckStatus::NotRun {
                        reason: NO_OPERATIONS.into(),
                    }
                } else if tally.evaluations > 0 {
                    CheckStatus::Held {
                        evaluations: tally.evaluations,
                    }
                } else if let Some(why) = &tally.unknown {
                    CheckStatus::NotRun {
                        reason: format!("{VERDICT_UNKNOWN}{why}"),
                    }
                } else {
                    CheckStatus::NotRun {
                        reason: self.why_not_run(inv.when, end, cut_by),
                    }
                };
                CheckReport {
                    name: inv.name.clone(),
                    status,
                }
            })
            .collect()
    }

    fn why_not_run(&self, when: When, end: EndReason, cut_by: Option<&str>) -> String {
        let now = self.now;
        if end == EndReason::CheckFailed {
            return "the run failed before it was due".into();
        }
        if end == EndReason::Interrupted {
            return format!("the run was interrupted at {now}");
        }
        if self.explore.is_some() && end != EndReason::Quiescent {
            return "the explored path ends where more could happen".into();
        }
        if let Some(tool) = cut_by.filter(|_| end != EndReason::Quiescent) {
            return format!("the run was cut at {now} by a limit {tool} set");
        }
        let calm = match when {
            When::Eventually {
                amid_workload,
                despite_crashes,
                ..
            } => self.calm(amid_workload, despite_crashes),
            _ => self.faults.calm_since,
        };
        match (when, calm) {
            (When::Eventually { .. }, _) if self.pct.is_some() => NOT_UNDER_PCT.into(),
            (
                When::Eventually {
                    despite_crashes: true,
                    ..
                },
                None,
            ) => {
                let cut = self.faults.partitions + self.faults.wires_cut > 0;
                let what = match (cut, self.faults.paused > 0) {
                    (false, true) => "a pause",
                    (true, true) => "a partition or cut wire, and a pause,",
                    _ => "a partition or cut wire",
                };
                format!("{what} was still in force when the run ended at {now}")
            }
            (When::Eventually { .. }, None) => {
                format!("a fault was still in force when the run ended at {now}")
            }
            (
                When::Eventually {
                    within,
                    amid_workload,
                    despite_crashes,
                },
                Some(calm),
            ) => format!(
                "the run ended at {now} by its {}, before {} ({within} after {calm}, when the last fault had {}{})",
                end.name(),
                calm.after(within),
                match despite_crashes {
                    true => "begun or ended",
                    false => "ended",
                },
                if amid_workload {
                    ""
                } else {
                    " and the last client operation had arrived and begun"
                }
            ),
            _ => format!("the run ended at {now} before any event"),
        }
    }

    /// Records the first failure; a later one is kept among
    /// [`World::also_failed`] when the run's end checks are judged past
    /// it, and ignored otherwise.
    fn fail(&mut self, check: &str, message: String) -> Result<(), SimError> {
        if let Some(first) = &self.failure {
            let known = first.check == check || self.also_failed.iter().any(|(c, _)| c == check);
            if self.judging_rest && !known {
                self.also_failed.push((check.to_string(), message));
            }
            return Ok(());
        }
        let record = self.write(Kind::CheckFailed {
            check: Cow::Borrowed(check),
            message: Cow::Borrowed(&message),
        })?;
        // Make everything up to the failure durable before anything else can go wrong.
        self.sink.flush()?;
        self.failure = Some(Failure {
            check: check.to_string(),
            message,
            record,
            time: self.now,
            due: None,
        });
        Ok(())
    }
}

/// Decodes `bytes` as a message, mutates it, encodes the result: the new
/// bytes and what changed, or `None` if they do not decode or no mutation
/// took. An error, naming `who` mutates, if the message type is one that
/// mutation cannot take apart: such an adversary would never act.
fn mutate_bytes<M: crate::node::Message>(
    mutator: &mut crate::adversary::mutate::Mutator,
    rng: &mut DetRng,
    bytes: &[u8],
    arbitrary: bool,
    who: impl FnOnce() -> String,
) -> Result<Option<(Vec<u8>, String)>, SimError> {
    let Ok(msg) = postcard::from_bytes::<M>(bytes) else {
        return Ok(None);
    };
    let m = match mutator.mutate(&msg, rng, arbitrary) {
        Ok(Some(m)) => m,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(SimError::Config(format!(
                "{}, but a message of type `{}` cannot be mutated ({e}): mutation takes a message \
                 through serde's data model as JSON data and back, which a u128 or i128 beyond 64 \
                 bits, a map keyed by tuples or structs, or a NaN float does not survive; take the \
                 mutation away or change the message type",
                who(),
                std::any::type_name::<M>(),
            )))
        }
    };
    Ok(postcard::to_allocvec(&m.msg)
        .ok()
        .map(|out| (out, m.change)))
}
