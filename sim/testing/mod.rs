//! Property testing protocols with proptest: strategies for what a
//! simulation varies, and a harness that runs one generated case, checks
//! the protocol's invariants and dsim's ordering checks, and on failure
//! writes the trace and says how to reproduce the case.
//!
//! Cases shrink within proptest's default limits, by a value tree of
//! dsim's own ([`CaseTree`]): faults are dropped one by one, operations
//! and node counts go down directly (trying a few other seeds at small
//! operation counts, since a failure under one seed may need forty
//! operations and under another one), then faults move earlier and get
//! shorter, and links get tamer. Losses and duplicates are planned per
//! message by default, so each is one fault that shrinking can remove.
//!
//! A check that ran in none of a test's cases (an `eventually` that waits
//! longer than the cases last, a history check of nodes that record no
//! operation) fails the test at its last case, naming it: a test that
//! passed without judging what it was written to judge has not passed.
//!
//! Only the final, minimal failing case leaves a trace, at
//! `target/dsim-proptest/<test name>.trace`: each failing attempt while
//! shrinking overwrites the one before.
//!
//! ```no_run
//! use dsim::testing::{cases, check, Bounds};
//! use proptest::prelude::*;
//! # use dsim::{Context, Node, NodeId, Simulation};
//! # struct MyNode; impl Node for MyNode { type Msg = u8; type Timer = ();
//! #   fn on_start(&mut self, _: &mut Context<'_, Self>) {}
//! #   fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: u8) {} }
//!
//! proptest! {
//!     #[test]
//!     fn my_protocol_survives_the_network(case in cases(Bounds::default().no_crashes())) {
//!         check(&case, |config| {
//!             Simulation::new(config, |_| MyNode).always("safe", "nothing bad happens", |_| Ok(()))
//!         })?;
//!     }
//! }
//! ```

pub use crate::adversary::NetworkAdversary;
use crate::adversary::{Behaviour, Byzantine};
use crate::check::{audit, Options};
use crate::config::{DiskConfig, Fault, FaultAction, SimConfig, Trigger, Workload};
use crate::network::{Latency, LinkConfig, MessageFault, Ordering, PartitionSpec};
use crate::node::{Node, NodeId};
use crate::protocols::{ParamValue, Params, Protocol, RunOptions};
use crate::rng::Ppm;
use crate::scheduler::{CheckStatus, Outcome, SimError, Simulation};
use crate::time::Duration;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

mod corpus;
mod tree;
pub use corpus::{assert_corpus, replay_corpus, Replayed, UNREADABLE};
pub use tree::{CaseStrategy, CaseTree};

/// How adversarial the generated network may be.
///
/// Losses and duplicates come, by default, as planned message faults
/// ([`PlannedFault::Lose`], [`PlannedFault::Duplicate`]): "message 17 is
/// lost" is one decision that shrinking can remove on its own, where a loss
/// probability strikes wherever the random stream says, so a failure that
/// needed the loss of message 40 needs every operation that led to message
/// 40. Loss and duplication probabilities are there too, off by default.
#[derive(Clone, Debug)]
pub struct NetworkBounds {
    pub latency_max: Duration,
    pub loss_max: Ppm,
    pub duplicate_max: Ppm,
    pub corrupt_max: Ppm,
    /// Whether links may reorder (otherwise always FIFO).
    pub reorder: bool,
    /// Whether a plan may lose single messages.
    pub lose: bool,
    /// Whether a plan may duplicate single messages.
    pub duplicate: bool,
    /// Planned message faults name messages below this id.
    pub messages: u64,
}

impl Default for NetworkBounds {
    fn default() -> NetworkBounds {
        NetworkBounds {
            latency_max: Duration::from_millis(50),
            loss_max: Ppm::ZERO,
            duplicate_max: Ppm::ZERO,
            corrupt_max: Ppm::ZERO,
            reorder: true,
            lose: true,
            duplicate: true,
            messages: 300,
        }
    }
}

/// A fault in a plan: each expands to a valid pair (a crash and its
/// restart, a partition and its heal), so any plan is a valid schedule and
/// dropping an entry keeps it valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedFault {
    /// Nodes below `split` against the rest, from `at_ms` for `lasts_ms`.
    Partition {
        at_ms: u64,
        lasts_ms: u64,
        split: u32,
    },
    /// From `at_ms` for `lasts_ms`, one direction of `node`'s links is
    /// cut and the other works: it hears no one (`deaf`), or no one hears
    /// it. A node that sends but cannot receive (or the reverse) breaks
    /// protocols a symmetric partition does not: a follower that misses
    /// every heartbeat but whose vote requests get through, a leader that
    /// keeps leading a cluster it cannot hear.
    OneWay {
        node: u32,
        at_ms: u64,
        lasts_ms: u64,
        deaf: bool,
    },
    /// From `at_ms` for `lasts_ms`, each node that plays `role` when it
    /// comes ([`crate::Node::role`]) is cut off alone, as a scenario's
    /// `isolate` does: the leader a fixed partition cuts off only when
    /// the election happened to go its way. Drawn from
    /// [`FaultKinds::roles`].
    Isolate {
        role: &'static str,
        at_ms: u64,
        lasts_ms: u64,
    },
    /// Each node that plays `role` when `at_ms` comes
    /// ([`crate::Node::role`]) is down for `down_ms`, as a scenario's
    /// `crash = "leader"` does: the leader that a crash of a fixed node
    /// meets only when the election happened to go its way. Drawn from
    /// [`FaultKinds::crash_roles`].
    CrashPlaying {
        role: &'static str,
        at_ms: u64,
        down_ms: u64,
    },
    /// `node` is down from `at_ms` for `down_ms`; when that reaches past
    /// the case's end (`u64::MAX`, drawn under [`Bounds::crash_stop`]), it
    /// never restarts.
    Crash { node: u32, at_ms: u64, down_ms: u64 },
    /// `node` crashes `after_us` microseconds after the `op`-th client
    /// operation arrives (counted modulo the case's operations, wherever
    /// it goes), for `down_ms`: a crash in the moment after a node took an
    /// operation, before it has persisted or passed on what it did, which
    /// a crash at a time drawn over the whole run rarely meets.
    CrashAfterOperation {
        node: u32,
        op: u64,
        after_us: u64,
        down_ms: u64,
    },
    /// `node` crashes `after_us` microseconds after it has handled its
    /// `delivery`-th message (from 1), for `down_ms`: a crash in the midst
    /// of the node's own work (between a promise and the next round, a
    /// vote and what follows it), wherever in time that falls, which a
    /// crash at a drawn time meets only by luck. A node that never handles
    /// that many messages is not crashed.
    CrashAfterDelivery {
        node: u32,
        delivery: u64,
        after_us: u64,
        down_ms: u64,
    },
    /// `node` crashes right after its `send`-th message sent (from 1),
    /// for `down_ms`: in the middle of the handler that sent it, which then
    /// does nothing more (no later send, timer, answer or sync; see
    /// [`crate::config::Progress::Sends`]): the leader that dies halfway
    /// through a broadcast, the coordinator that told some participants
    /// only, the write it meant to sync after sending. A crash at a time
    /// never meets that moment. A node that never sends that many
    /// messages is not crashed.
    CrashAfterSend { node: u32, send: u64, down_ms: u64 },
    /// At `at_ms`, `node`'s clock steps `offset_ms` ahead (negative: back)
    /// and from then on runs `drift_ppm` fast (negative: slow). A step
    /// back past zero, where clocks start, stops at zero: the clock then
    /// runs on, rather than stand at zero until it caught up (what a
    /// scenario's skew does), which no drift bound allows.
    Skew {
        node: u32,
        at_ms: u64,
        offset_ms: i64,
        drift_ppm: i32,
    },
    /// `node` is paused from `at_ms` for `for_ms` ([`FaultAction::Pause`]):
    /// it keeps its state, timers and clock and handles nothing, then
    /// takes what waited. With `mid_handler`, the pause lies in wait from
    /// `at_ms` and falls in the node's next handler that sends or answers,
    /// right before its first send or answer (a scenario's `mid_handler =
    /// true`). Drawn
    /// under [`FaultKinds::pauses`], in a handler half the time.
    Pause {
        node: u32,
        at_ms: u64,
        for_ms: u64,
        mid_handler: bool,
    },
    /// Each node that plays `role` when `at_ms` comes is paused for
    /// `for_ms`, as a scenario's `pause = "leader"` does: the leader that
    /// stops and comes back believing it still leads. Drawn from
    /// [`FaultKinds::pause_roles`]; `mid_handler` as for
    /// [`PlannedFault::Pause`].
    PausePlaying {
        role: &'static str,
        at_ms: u64,
        for_ms: u64,
        mid_handler: bool,
    },
    /// The `message`-th message sent in the run (from 0) is lost.
    Lose { message: u64 },
    /// The `message`-th message sent in the run is delivered twice.
    Duplicate { message: u64 },
}

/// Everything one generated run varies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub seed: u64,
    pub nodes: u32,
    pub link: LinkConfig,
    pub faults: Vec<PlannedFault>,
    pub operations: u64,
    pub time: Duration,
    /// When the first operation arrives.
    pub workload_start: Duration,
    /// Byzantine nodes ([`Bounds::byzantine`]); none by default.
    pub byzantine: Vec<PlannedByzantine>,
    /// The network adversary's chances ([`Bounds::network_adversary`]);
    /// none by default.
    pub adversary: NetworkAdversary,
    /// What a crash keeps of the unsynced writes
    /// ([`Bounds::unsynced_kept`]); none by default.
    pub disk: DiskConfig,
    /// Each operation's value ([`crate::Input::value`]) is drawn from
    /// `0..values` ([`Bounds::values`]; 1000 by default).
    pub values: u64,
}

/// A byzantine node a case holds (see [`crate::adversary`]). At most one
/// per node: a later entry for a node already byzantine is left out, as
/// is one for a node the case does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedByzantine {
    /// The node runs as two instances of the same code and keys: the
    /// first exchanges messages with the nodes below `split`, the second
    /// with the rest (Twins).
    Twins { node: u32, split: u32 },
    /// Each message the node sends is mutated with probability `chance`
    /// (one field changed; when `arbitrary`, half the time replaced by a
    /// message seen earlier in the run).
    Mutate {
        node: u32,
        chance: Ppm,
        arbitrary: bool,
    },
    /// The node sends nothing.
    Silent { node: u32 },
    /// Every restart of the node finds its disk empty.
    Amnesia { node: u32 },
}

impl PlannedByzantine {
    /// The node it makes byzantine.
    pub fn node(&self) -> u32 {
        match *self {
            PlannedByzantine::Twins { node, .. }
            | PlannedByzantine::Mutate { node, .. }
            | PlannedByzantine::Silent { node }
            | PlannedByzantine::Amnesia { node } => node,
        }
    }
}

/// Bounds for generated cases.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub nodes: RangeInclusive<u32>,
    pub network: NetworkBounds,
    pub max_faults: usize,
    pub operations: RangeInclusive<u64>,
    /// Faults happen before this; runs last twice as long. Operations
    /// arrive 1 ms to `horizon / 15` apart, so that 30 of them span it:
    /// faults meet a system at work, not one that has gone quiet.
    pub horizon: Duration,
    /// The kinds of fault a plan may hold.
    pub faults: FaultKinds,
    /// When the first operation arrives (a protocol that must elect a
    /// leader before it serves anyone wants them later).
    pub workload_start: Duration,
    /// At most this many byzantine nodes (twins, mutating, silent or
    /// amnesiac; [`PlannedByzantine`]): 0, the default, for a protocol
    /// that trusts its nodes. Give the `f` the protocol claims to
    /// tolerate, with `nodes` from where it does (`3f + 1`).
    pub byzantine: usize,
    /// The network adversary's chance of each of forging, replaying and
    /// altering a message ([`NetworkAdversary`]) is drawn up to this, each
    /// zero half the time; zero, the default, for none.
    pub adversary_max: Ppm,
    /// The chance that a crash keeps each write not yet synced
    /// ([`DiskConfig::unsynced_kept`]); zero, the default, loses them all.
    pub unsynced_kept: Ppm,
    /// Each operation's value ([`crate::Input::value`]) is drawn from
    /// `0..values`: 1000 by default, as a scenario's `[workload] values`.
    /// A protocol that takes bits of it apart (a key, a kind of
    /// operation) wants it wider: up to `i64::MAX`, as a scenario holds.
    pub values: u64,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            nodes: 3..=5,
            network: NetworkBounds::default(),
            max_faults: 6,
            operations: 1..=30,
            horizon: Duration::from_secs(2),
            faults: FaultKinds::default(),
            workload_start: Duration::from_millis(1),
            byzantine: 0,
            adversary_max: Ppm::ZERO,
            unsynced_kept: Ppm::ZERO,
            values: 1000,
        }
    }
}

impl Bounds {
    /// Cases of `range` nodes: `.nodes(3..=7)` (a protocol's quorum
    /// wants three at least; see [`Bounds::nodes`]).
    pub fn nodes(mut self, range: RangeInclusive<u32>) -> Bounds {
        self.nodes = range;
        self
    }
    /// Cases of `range` client operations (see [`Bounds::operations`]).
    pub fn operations(mut self, range: RangeInclusive<u64>) -> Bounds {
        self.operations = range;
        self
    }
    /// At most `n` planned faults a case (see [`Bounds::max_faults`]).
    pub fn max_faults(mut self, n: usize) -> Bounds {
        self.max_faults = n;
        self
    }
    /// Faults fall before `horizon` and runs last twice it (see
    /// [`Bounds::horizon`]).
    pub fn horizon(mut self, horizon: Duration) -> Bounds {
        self.horizon = horizon;
        self
    }
    /// The first client operation arrives at `start` (see
    /// [`Bounds::workload_start`]).
    pub fn workload_start(mut self, start: Duration) -> Bounds {
        self.workload_start = start;
        self
    }
    /// Partitions that may isolate whoever plays one of `roles` when
    /// they come ([`PlannedFault::Isolate`]; [`crate::Node::role`]), as
    /// Jepsen's nemesis isolates the primaries: `.isolating(&["leader"])`.
    pub fn isolating(mut self, roles: &'static [&'static str]) -> Bounds {
        self.faults.roles = roles;
        self
    }

    /// Crashes that may take down whoever plays one of `roles` when they
    /// come ([`PlannedFault::CrashPlaying`]; [`crate::Node::role`]), as
    /// Jepsen's nemesis kills the primaries: `.crashing(&["leader"])`.
    pub fn crashing(mut self, roles: &'static [&'static str]) -> Bounds {
        self.faults.crash_roles = roles;
        self
    }

    /// Pauses ([`PlannedFault::Pause`]), of drawn nodes and of whoever
    /// plays one of `roles` when they come ([`PlannedFault::PausePlaying`]),
    /// as Jepsen's nemesis stops processes: `.pausing(&["leader"])`, or
    /// `.pausing(&[])` for drawn nodes alone. Half of them fall in a
    /// handler (`mid_handler`), between what it checked and what it
    /// sends. Off by default, so that the cases other bounds draw stay as
    /// they were.
    pub fn pausing(mut self, roles: &'static [&'static str]) -> Bounds {
        self.faults.pauses = true;
        self.faults.pause_roles = roles;
        self
    }

    /// Crashes that may be for good (the crash-stop model): one drawn
    /// crash in five never restarts, so a case may end with nodes down,
    /// where a check of the survivors is judged
    /// ([`crate::Invariant::eventually_despite_crashes`]: a failure
    /// detector suspects every node down, a leader is elected among the
    /// nodes up). Shrinking may bring the restart back.
    pub fn crash_stop(mut self) -> Bounds {
        self.faults.crashes = true;
        self.faults.crash_stop = true;
        self
    }
    /// No node crashes.
    pub fn no_crashes(mut self) -> Bounds {
        self.faults.crashes = false;
        self
    }
    /// No partitions.
    pub fn no_partitions(mut self) -> Bounds {
        self.faults.partitions = false;
        self
    }
    /// No clock skew.
    pub fn no_skew(mut self) -> Bounds {
        self.faults.skew = false;
        self
    }
    /// Clock skew within what the protocol assumes: a clock set at most
    /// `offset_max` ahead or behind (rounded down to whole milliseconds),
    /// running at most `drift_max_ppm` fast or slow. By default 50 ms and
    /// 100,000 ppm (10%), which break any protocol that trusts clocks; a
    /// lease protocol that assumes clocks never step and drift within
    /// 200 ppm says `.clock_skew(Duration::ZERO, 200)`.
    pub fn clock_skew(mut self, offset_max: Duration, drift_max_ppm: u32) -> Bounds {
        self.faults.skew = true;
        self.faults.skew_offset_max = offset_max;
        self.faults.skew_drift_max_ppm = drift_max_ppm;
        self
    }
    /// No message loss, planned or random.
    pub fn no_loss(mut self) -> Bounds {
        self.network.loss_max = Ppm::ZERO;
        self.network.lose = false;
        self
    }
    /// No duplicated messages, planned or random.
    pub fn no_duplication(mut self) -> Bounds {
        self.network.duplicate_max = Ppm::ZERO;
        self.network.duplicate = false;
        self
    }
    /// No corrupted messages.
    pub fn no_corruption(mut self) -> Bounds {
        self.network.corrupt_max = Ppm::ZERO;
        self
    }
    /// Links that lose, duplicate and corrupt nothing (they may still
    /// delay and reorder).
    pub fn reliable(self) -> Bounds {
        self.no_loss().no_duplication().no_corruption()
    }
    /// Links that deliver what each sends in the order it was sent (FIFO),
    /// for a protocol that assumes it (Chandy–Lamport snapshots, a stream
    /// transport); they may still delay it.
    pub fn fifo(mut self) -> Bounds {
        self.network.reorder = false;
        self
    }
    /// No workload: for a protocol whose nodes take no client operations
    /// (no `Node::on_input`, or async tasks that never ask), on which a
    /// case with operations would not run.
    pub fn no_operations(mut self) -> Bounds {
        self.operations = 0..=0;
        self
    }
    /// Up to `f` byzantine nodes a case ([`PlannedByzantine`]: twins that
    /// equivocate, nodes that mutate what they send, stay silent, or
    /// forget their disk on restart). Invariants see only the honest
    /// nodes (`View::up`).
    pub fn byzantine(mut self, f: usize) -> Bounds {
        self.byzantine = f;
        self
    }
    /// A network adversary that forges, replays and alters messages, each
    /// with a chance up to `max` (a probability, 0 to 1) drawn per case;
    /// a protocol that sends over authenticated channels
    /// (`Context::send_authenticated`) and checks `Context::authentic`
    /// should survive it.
    pub fn network_adversary(mut self, max: f64) -> Bounds {
        self.adversary_max = Ppm::from_probability(max)
            .unwrap_or_else(|e| panic!("Bounds::network_adversary({max}): {e}"));
        self
    }
    /// A disk whose crash keeps each write not yet synced with chance `p`
    /// (0 to 1; see [`DiskConfig`]): a protocol that writes several keys
    /// and syncs them later together must survive one kept and another
    /// lost.
    pub fn unsynced_kept(mut self, p: f64) -> Bounds {
        self.unsynced_kept =
            Ppm::from_probability(p).unwrap_or_else(|e| panic!("Bounds::unsynced_kept({p}): {e}"));
        self
    }
    /// Operation values drawn from `0..range` (see [`Bounds::values`]).
    pub fn values(mut self, range: u64) -> Bounds {
        self.values = range;
        self
    }
}

/// Byzantine nodes for cases of up to `nodes` nodes: at most `max`.
pub fn byzantine(nodes: u32, max: usize) -> BoxedStrategy<Vec<PlannedByzantine>> {
    if max == 0 {
        return Just(Vec::new()).boxed();
    }
    let nodes = nodes.max(1);
    let one = prop_oneof![
        (0..nodes, 1..nodes.max(2))
            .prop_map(|(node, split)| PlannedByzantine::Twins { node, split }),
        (0..nodes, 1..=1_000_000u32, proptest::bool::ANY).prop_map(|(node, chance, arbitrary)| {
            PlannedByzantine::Mutate {
                node,
                chance: Ppm(chance),
                arbitrary,
            }
        }),
        (0..nodes).prop_map(|node| PlannedByzantine::Silent { node }),
        (0..nodes).prop_map(|node| PlannedByzantine::Amnesia { node }),
    ];
    proptest::collection::vec(one, 0..=max).boxed()
}

/// The network adversary's chances, each up to `max` and zero half the
/// time.
pub fn network_adversary(max: Ppm) -> BoxedStrategy<NetworkAdversary> {
    if max == Ppm::ZERO {
        return Just(NetworkAdversary::default()).boxed();
    }
    let chance = || prop_oneof![Just(0), 1..=max.0];
    (chance(), chance(), chance())
        .prop_map(|(forge, replay, alter)| NetworkAdversary {
            forge: Ppm(forge),
            replay: Ppm(replay),
            alter: Ppm(alter),
            ..NetworkAdversary::default()
        })
        .boxed()
}

/// Root seeds, below 2^63 so that a scenario file (TOML integers are
/// signed) can name any of them.
pub fn seeds() -> impl Strategy<Value = u64> {
    0..=(i64::MAX as u64)
}

/// A link within `b`. Setting a maximum probability to zero switches that
/// fault off.
pub fn link(b: NetworkBounds) -> impl Strategy<Value = LinkConfig> {
    let max_ms = (b.latency_max.0 / 1_000_000).max(1);
    (
        1..=max_ms,
        0..=b.loss_max.0,
        0..=b.duplicate_max.0,
        0..=b.corrupt_max.0,
        proptest::bool::weighted(if b.reorder { 0.5 } else { 0.0 }),
    )
        .prop_map(|(ms, loss, dup, corrupt, reorder)| LinkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(1).min(Duration::from_millis(ms)),
                max: Duration::from_millis(ms),
            },
            loss: Ppm(loss),
            duplicate: Ppm(dup),
            corrupt: Ppm(corrupt),
            ordering: if reorder {
                Ordering::Reorder
            } else {
                Ordering::Fifo
            },
            ..LinkConfig::default()
        })
}

/// Which kinds of node and network fault a plan may hold; each can be
/// switched off (many protocols assume no crashes, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultKinds {
    /// Partitions, symmetric ([`PlannedFault::Partition`]) and one-way
    /// ([`PlannedFault::OneWay`]).
    pub partitions: bool,
    pub crashes: bool,
    pub skew: bool,
    /// A skewed clock is set at most this far ahead or behind (a step of
    /// the clock when the skew strikes).
    pub skew_offset_max: Duration,
    /// A skewed clock runs at most this many parts per million fast or
    /// slow (at most 999,999: a clock must move forward).
    pub skew_drift_max_ppm: u32,
    /// Whether a crash may be for good (the crash-stop model).
    pub crash_stop: bool,
    /// Roles a partition may isolate ([`PlannedFault::Isolate`]), among
    /// those the protocol's nodes play ([`crate::Node::role`]); none by
    /// default. Set with [`Bounds::isolating`].
    pub roles: &'static [&'static str],
    /// Roles a crash may be aimed at ([`PlannedFault::CrashPlaying`]),
    /// among those the protocol's nodes play; none by default. Set with
    /// [`Bounds::crashing`].
    pub crash_roles: &'static [&'static str],
    /// Pauses of drawn nodes ([`PlannedFault::Pause`]); off by default.
    /// Set with [`Bounds::pausing`].
    pub pauses: bool,
    /// Roles a pause may be aimed at ([`PlannedFault::PausePlaying`]), when
    /// `pauses` is on. Set with [`Bounds::pausing`].
    pub pause_roles: &'static [&'static str],
}

impl Default for FaultKinds {
    fn default() -> FaultKinds {
        FaultKinds {
            partitions: true,
            crashes: true,
            skew: true,
            skew_offset_max: Duration::from_millis(50),
            skew_drift_max_ppm: 100_000,
            crash_stop: false,
            roles: &[],
            crash_roles: &[],
            pauses: false,
            pause_roles: &[],
        }
    }
}

/// A number below `end` (taken as 1 when 0): half the time drawn evenly, half the
/// time evenly below a power of two itself drawn evenly up to `end`, so
/// that small numbers come up often at any scale. A fault's time and a
/// planned message fault's message are drawn so: a protocol whose work is
/// all at its start (an election, a one-shot consensus, a handshake) sends
/// a few dozen messages in its first milliseconds, and faults drawn evenly
/// over a horizon of seconds and ids of hundreds would almost all fall
/// where nothing happens.
fn below(end: u64) -> BoxedStrategy<u64> {
    let end = end.max(1);
    let top = u64::BITS - (end - 1).leading_zeros();
    prop_oneof![
        0..end,
        (0..=top).prop_flat_map(move |k| 0..1u64.checked_shl(k).unwrap_or(u64::MAX).min(end)),
    ]
    .boxed()
}

/// One planned fault among up to `nodes` nodes before `horizon`, of the
/// kinds `kinds` and `network` allow (`None` when they allow none).
pub fn fault(
    nodes: u32,
    horizon: Duration,
    kinds: FaultKinds,
    network: &NetworkBounds,
) -> Option<BoxedStrategy<PlannedFault>> {
    let end = (horizon.0 / 1_000_000).max(1);
    let nodes = nodes.max(1);
    let mut choices: Vec<BoxedStrategy<PlannedFault>> = Vec::new();
    let messages = network.messages.max(1);
    if network.lose {
        choices.push(
            below(messages)
                .prop_map(|message| PlannedFault::Lose { message })
                .boxed(),
        );
    }
    if network.duplicate {
        choices.push(
            below(messages)
                .prop_map(|message| PlannedFault::Duplicate { message })
                .boxed(),
        );
    }
    if kinds.partitions {
        choices.push(
            (below(end), 1..=end, 1..nodes.max(2))
                .prop_map(|(at_ms, lasts_ms, split)| PlannedFault::Partition {
                    at_ms,
                    lasts_ms,
                    split,
                })
                .boxed(),
        );
    }
    if kinds.partitions && nodes > 1 {
        choices.push(
            (0..nodes, below(end), 1..=end, proptest::bool::ANY)
                .prop_map(|(node, at_ms, lasts_ms, deaf)| PlannedFault::OneWay {
                    node,
                    at_ms,
                    lasts_ms,
                    deaf,
                })
                .boxed(),
        );
    }
    if kinds.partitions && !kinds.roles.is_empty() {
        let roles = kinds.roles;
        choices.push(
            (0..roles.len(), below(end), 1..=end)
                .prop_map(move |(r, at_ms, lasts_ms)| PlannedFault::Isolate {
                    role: roles[r],
                    at_ms,
                    lasts_ms,
                })
                .boxed(),
        );
    }
    if kinds.crashes && !kinds.crash_roles.is_empty() {
        let roles = kinds.crash_roles;
        // Evenly over the horizon, not often early as other faults are:
        // a role is played once the protocol has run a while (a leader
        // once elected), and a crash before then finds no one.
        choices.push(
            (
                0..roles.len(),
                0..end,
                prop_oneof![3 => 1..=end.min(100), 1 => 1..=end],
            )
                .prop_map(move |(r, at_ms, down_ms)| PlannedFault::CrashPlaying {
                    role: roles[r],
                    at_ms,
                    down_ms,
                })
                .boxed(),
        );
    }
    if kinds.crashes {
        choices.push(
            // Down for at most 100 ms three times in four, so that a
            // restarted node still meets operations; otherwise for up to
            // the horizon.
            (
                0..nodes,
                below(end),
                match kinds.crash_stop {
                    false => prop_oneof![3 => 1..=end.min(100), 1 => 1..=end].boxed(),
                    true => prop_oneof![3 => 1..=end.min(100), 1 => 1..=end, 1 => Just(u64::MAX)]
                        .boxed(),
                },
            )
                .prop_map(|(node, at_ms, down_ms)| PlannedFault::Crash {
                    node,
                    at_ms,
                    down_ms,
                })
                .boxed(),
        );
        // Mostly within a few milliseconds of the operation: before a
        // node's first write, send or timer after it.
        choices.push(
            (
                0..nodes,
                0..30u64,
                prop_oneof![3 => 0..=3_000u64, 1 => 0..=50_000u64],
                1..=end.min(100),
            )
                .prop_map(
                    |(node, op, after_us, down_ms)| PlannedFault::CrashAfterOperation {
                        node,
                        op,
                        after_us,
                        down_ms,
                    },
                )
                .boxed(),
        );
        // Among the first messages a node handles most often: a protocol
        // whose work is at its start hands each node a few dozen.
        let handled = (messages / u64::from(nodes)).max(8);
        choices.push(
            (
                0..nodes,
                below(handled),
                prop_oneof![3 => 0..=3_000u64, 1 => 0..=50_000u64],
                1..=end.min(100),
            )
                .prop_map(
                    |(node, k, after_us, down_ms)| PlannedFault::CrashAfterDelivery {
                        node,
                        delivery: k + 1,
                        after_us,
                        down_ms,
                    },
                )
                .boxed(),
        );
        // Among a node's first sends most often, as deliveries.
        choices.push(
            (0..nodes, below(handled), 1..=end.min(100))
                .prop_map(|(node, k, down_ms)| PlannedFault::CrashAfterSend {
                    node,
                    send: k + 1,
                    down_ms,
                })
                .boxed(),
        );
    }
    if kinds.pauses {
        // Paused for at most 100 ms half the time, else for up to the
        // horizon: a pause matters most when it outlasts the protocol's
        // timeouts, and the rest of the cluster moves on without the node.
        // Half the pauses fall in a handler, between what it checked and
        // what it sends.
        choices.push(
            (
                0..nodes,
                below(end),
                prop_oneof![1 => 1..=end.min(100), 1 => 1..=end],
                any::<bool>(),
            )
                .prop_map(|(node, at_ms, for_ms, mid_handler)| PlannedFault::Pause {
                    node,
                    at_ms,
                    for_ms,
                    mid_handler,
                })
                .boxed(),
        );
    }
    if kinds.pauses && !kinds.pause_roles.is_empty() {
        let roles = kinds.pause_roles;
        // Evenly over the horizon, as a crash aimed at a role; as long as
        // a pause of a drawn node.
        choices.push(
            (
                0..roles.len(),
                0..end,
                prop_oneof![1 => 1..=end.min(100), 1 => 1..=end],
                any::<bool>(),
            )
                .prop_map(
                    move |(r, at_ms, for_ms, mid_handler)| PlannedFault::PausePlaying {
                        role: roles[r],
                        at_ms,
                        for_ms,
                        mid_handler,
                    },
                )
                .boxed(),
        );
    }
    if kinds.skew {
        let offset = i64::try_from(kinds.skew_offset_max.0 / 1_000_000).unwrap_or(i64::MAX);
        // Below a million parts per million: a clock must move forward.
        let drift = i32::try_from(kinds.skew_drift_max_ppm.min(999_999)).unwrap_or(i32::MAX);
        choices.push(
            (0..nodes, below(end), -offset..=offset, -drift..=drift)
                .prop_map(|(node, at_ms, offset_ms, drift_ppm)| PlannedFault::Skew {
                    node,
                    at_ms,
                    offset_ms,
                    drift_ppm,
                })
                .boxed(),
        );
    }
    match choices.len() {
        0 => None,
        1 => choices.pop(),
        _ => Some(proptest::strategy::Union::new(choices).boxed()),
    }
}

/// Up to `max` planned faults among up to `nodes` nodes; shrinks by
/// dropping them. A fault that names a node a case does not have is
/// left out of that case's schedule.
pub fn fault_plan(
    nodes: u32,
    horizon: Duration,
    max: usize,
    kinds: FaultKinds,
    network: &NetworkBounds,
) -> BoxedStrategy<Vec<PlannedFault>> {
    match fault(nodes, horizon, kinds, network) {
        Some(f) if max > 0 => proptest::collection::vec(f, 0..=max).boxed(),
        _ => Just(Vec::new()).boxed(),
    }
}

/// Whole cases within `bounds`, which shrink as [`CaseTree`] says.
pub fn cases(bounds: Bounds) -> CaseStrategy<BoxedStrategy<Case>> {
    let Bounds {
        nodes,
        network,
        max_faults,
        operations,
        horizon,
        faults,
        workload_start,
        byzantine: max_byzantine,
        adversary_max,
        unsynced_kept,
        values,
    } = bounds;
    assert!(
        !nodes.is_empty(),
        "Bounds::nodes {nodes:?} is empty: give the fewest nodes first (e.g. 3..=5)"
    );
    assert!(
        !operations.is_empty(),
        "Bounds::operations {operations:?} is empty: give the fewest first (e.g. 1..=30)"
    );
    assert!(
        (1..=i64::MAX as u64).contains(&values),
        "Bounds::values is {values}: operation values are drawn from 0..values, so give 1 to {} (a scenario's `values` holds no more)",
        i64::MAX
    );
    assert!(
        horizon > Duration::ZERO,
        "Bounds::horizon is zero: faults fall before it and runs last twice it, so give it some time (e.g. 2s)"
    );
    let most = *nodes.end();
    let (min_nodes, min_operations) = (*nodes.start(), *operations.start());
    let plan = fault_plan(most, horizon, max_faults, faults, &network);
    // One flat tuple, drawn once; shrinking is the tree's.
    let adversary = (
        byzantine(most, max_byzantine),
        network_adversary(adversary_max),
    );
    let inner = (nodes, seeds(), link(network), operations, plan, adversary)
        .prop_map(
            move |(n, seed, link, ops, faults, (byzantine, adversary))| Case {
                seed,
                nodes: n,
                link,
                faults,
                operations: ops,
                time: Duration(horizon.0.saturating_mul(2)),
                workload_start,
                byzantine,
                adversary,
                disk: DiskConfig { unsynced_kept },
                values,
            },
        )
        .boxed();
    CaseStrategy {
        inner,
        min_nodes,
        min_operations,
        tally: Arc::default(),
    }
}

/// What the checks of one property test came to over its cases, so that
/// a check evaluated in none of them fails the test rather than letting
/// it pass (a sweep in which a check never ran does not pass either).
/// The test's [`CaseStrategy`] owns it; the cases it draws find it through
/// the thread they run on.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// The cases proptest means to run (`Config::cases`), and how many it
    /// has drawn.
    cases: u32,
    drawn: u32,
    /// Runs of a case that dsim finished.
    runs: u32,
    /// Each check met: `None` once it ran in some case, else why it did
    /// not run the first time.
    checks: BTreeMap<String, Option<String>>,
    /// Runs whose linearizability check ran on ten client operations or
    /// more; of those, the ones where under one in ten completed `ok`
    /// ([`crate::trace::Stats::few_ok`]), and the first: (seed, `ok`,
    /// invoked).
    judgeable: u32,
    little: u32,
    first_little: Option<(u64, u64, u64)>,
    /// A case failed: proptest shrinks it, and the verdict is that
    /// failure's, so nothing more is judged.
    failed: bool,
    judged: bool,
    /// The judgement failed the test: there is no smaller case to find.
    pub(crate) refused: bool,
}

thread_local! {
    /// The tally of the property test whose case this thread last drew.
    static TALLY: RefCell<Weak<Mutex<Tally>>> = const { RefCell::new(Weak::new()) };
}

impl Tally {
    /// A case was drawn by the test that owns `tally`, which means to run
    /// `cases` cases.
    pub(crate) fn drawn(tally: &Arc<Mutex<Tally>>, cases: u32) {
        if let Ok(mut t) = tally.lock() {
            t.cases = cases;
            t.drawn += 1;
        }
        TALLY.with(|c| *c.borrow_mut() = Arc::downgrade(tally));
    }

    fn current() -> Option<Arc<Mutex<Tally>>> {
        TALLY.with(|c| c.borrow().upgrade())
    }

    fn note(&mut self, seed: u64, outcome: &Outcome) {
        self.runs += 1;
        let (invoked, _) = outcome.stats.operations();
        let linearizable = outcome
            .checks
            .iter()
            .any(|c| c.name == "linearizable" && !matches!(c.status, CheckStatus::NotRun { .. }));
        if linearizable && invoked >= 10 {
            self.judgeable += 1;
            if outcome.stats.few_ok() {
                self.little += 1;
                self.first_little
                    .get_or_insert((seed, outcome.stats.ok, invoked));
            }
        }
        for c in &outcome.checks {
            let why = match &c.status {
                CheckStatus::NotRun { reason } => Some(reason.clone()),
                _ => None,
            };
            let seen = self.checks.entry(c.name.clone()).or_insert(why.clone());
            if why.is_none() {
                *seen = None;
            }
        }
    }

    /// Once the test has drawn all its cases and none failed: a check that
    /// ran in none of them, or a linearizability check that had little to
    /// judge in every case it could have judged (ten of them at least).
    /// Liveness under PCT is the strategy's choice, not the test's defect.
    fn judge(&mut self) -> Option<String> {
        use crate::scheduler::NOT_UNDER_PCT;
        if self.failed || self.judged || self.drawn < self.cases {
            return None;
        }
        self.judged = true;
        let never = self.checks.iter().find_map(|(check, why)| {
            why.as_deref()
                .filter(|w| *w != NOT_UNDER_PCT)
                .map(|w| (check, w))
        });
        let Some((check, why)) = never else {
            let (seed, ok, invoked) = self.first_little?;
            if self.judgeable < 10 || self.little < self.judgeable {
                return None;
            }
            self.refused = true;
            return Some(format!(
                "check `linearizable` had little to judge: in each of the {} cases with ten client \
                 operations or more, under one in ten completed `ok` (the first, seed {seed}: {ok} \
                 of {invoked}; the others `fail`, `info` (outcome unknown) or unanswered), and \
                 such a history fits nearly any order, so the test cannot pass on it; give the \
                 clients time to be answered (a longer timeout, gentler `Bounds::network`, fewer \
                 `max_faults`), or look at why the protocol answers so few (the case below is \
                 merely the last one)",
                self.judgeable
            ));
        };
        self.refused = true;
        Some(format!(
            "check `{check}` ran in none of the {} cases this test ran (in the first: {why}), so \
             the test cannot pass on it; make the cases such that it can run (they last twice \
             `Bounds::horizon`, faults falling before it), or leave it out (the case below is \
             merely the last one)",
            self.runs
        ))
    }
}

impl Case {
    /// The faults as a schedule, in time order (faults at the same time in
    /// plan order), as a scenario file's are: each planned fault expands
    /// to a valid pair; a crash of a node already down at that time is
    /// left out. Crashes set off by deliveries or sends
    /// ([`PlannedFault::CrashAfterDelivery`], [`PlannedFault::CrashAfterSend`])
    /// come last, by their delay;
    /// one that finds its node down does nothing when the case runs.
    pub fn fault_schedule(&self) -> Vec<Fault> {
        let ms = Duration::from_millis;
        let mut out = Vec::new();
        // When each node is next up, to leave out a crash of a node down.
        let mut down_until = vec![Duration::ZERO; self.nodes as usize];
        // A crash of a node down already is left out.
        // One that lasts past the case's end (crash-stop) never restarts.
        fn crash(
            out: &mut Vec<Fault>,
            down_until: &mut [Duration],
            node: u32,
            at: Duration,
            down: Duration,
            end: Duration,
        ) {
            let until = &mut down_until[node as usize];
            if at < *until {
                return;
            }
            *until = plus(plus(at, down), Duration::from_millis(1));
            out.push(Fault {
                after: None,
                at,
                action: FaultAction::Crash { node: NodeId(node) },
            });
            if plus(at, down) < end {
                out.push(Fault {
                    after: None,
                    at: plus(at, down),
                    action: FaultAction::Restart { node: NodeId(node) },
                });
            }
        }
        fn plus(a: Duration, b: Duration) -> Duration {
            Duration(a.0.saturating_add(b.0))
        }
        // Partition `spec` (named by the fault's index) at `at_ms`,
        // healed `lasts_ms` later.
        fn partition(
            out: &mut Vec<Fault>,
            i: usize,
            at_ms: u64,
            lasts_ms: u64,
            spec: PartitionSpec,
        ) {
            let ms = Duration::from_millis;
            let id = i as u32;
            out.push(Fault {
                after: None,
                at: ms(at_ms),
                action: FaultAction::Partition { id, spec },
            });
            out.push(Fault {
                after: None,
                at: ms(at_ms + lasts_ms),
                action: FaultAction::Heal { id: Some(id) },
            });
        }
        let arrivals: Vec<Duration> = self
            .workload()
            .map(|w| {
                w.arrivals(self.seed, self.nodes)
                    .into_iter()
                    .map(|(at, _)| at)
                    .collect()
            })
            .unwrap_or_default();
        for (i, f) in self.faults.iter().enumerate() {
            match *f {
                PlannedFault::Partition {
                    at_ms,
                    lasts_ms,
                    split,
                } => {
                    let low: Vec<NodeId> = (0..split.min(self.nodes)).map(NodeId).collect();
                    partition(
                        &mut out,
                        i,
                        at_ms,
                        lasts_ms,
                        PartitionSpec::Groups(vec![low]),
                    );
                }
                PlannedFault::Isolate {
                    role,
                    at_ms,
                    lasts_ms,
                } => {
                    let spec = PartitionSpec::Isolate { role: role.into() };
                    partition(&mut out, i, at_ms, lasts_ms, spec);
                }
                PlannedFault::OneWay {
                    node,
                    at_ms,
                    lasts_ms,
                    deaf,
                } if node < self.nodes && self.nodes > 1 => {
                    let one = vec![NodeId(node)];
                    let others: Vec<NodeId> =
                        (0..self.nodes).filter(|&n| n != node).map(NodeId).collect();
                    let (from, to) = if deaf { (others, one) } else { (one, others) };
                    partition(
                        &mut out,
                        i,
                        at_ms,
                        lasts_ms,
                        PartitionSpec::OneWay { from, to },
                    );
                }
                PlannedFault::Crash {
                    node,
                    at_ms,
                    down_ms,
                } if node < self.nodes => {
                    let down = Duration(down_ms.saturating_mul(1_000_000));
                    crash(&mut out, &mut down_until, node, ms(at_ms), down, self.time);
                }
                PlannedFault::CrashAfterOperation {
                    node,
                    op,
                    after_us,
                    down_ms,
                } if node < self.nodes && !arrivals.is_empty() => {
                    let arrival = arrivals[(op % arrivals.len() as u64) as usize];
                    let at = plus(arrival, Duration::from_micros(after_us));
                    // The node must be up again before the run ends.
                    if plus(at, ms(down_ms)) < self.time {
                        crash(&mut out, &mut down_until, node, at, ms(down_ms), self.time);
                    }
                }
                PlannedFault::CrashAfterDelivery {
                    node,
                    delivery,
                    after_us,
                    down_ms,
                } if node < self.nodes => {
                    let after = Some(Trigger::deliveries(NodeId(node), delivery.max(1)));
                    let at = Duration::from_micros(after_us);
                    let node = NodeId(node);
                    out.push(Fault {
                        at,
                        action: FaultAction::Crash { node },
                        after,
                    });
                    out.push(Fault {
                        at: plus(at, ms(down_ms)),
                        action: FaultAction::Restart { node },
                        after,
                    });
                }
                PlannedFault::CrashAfterSend {
                    node,
                    send,
                    down_ms,
                } if node < self.nodes => {
                    let after = Some(Trigger::sends(NodeId(node), send.max(1)));
                    let node = NodeId(node);
                    out.push(Fault {
                        at: Duration::ZERO,
                        action: FaultAction::Crash { node },
                        after,
                    });
                    out.push(Fault {
                        at: ms(down_ms),
                        action: FaultAction::Restart { node },
                        after,
                    });
                }
                // Its nodes are known only when it comes: one already
                // down is not crashed again, and each it crashes is back
                // `down_ms` later (never, past the case's end).
                PlannedFault::CrashPlaying {
                    role,
                    at_ms,
                    down_ms,
                } => {
                    let mark = i as u32;
                    out.push(Fault {
                        after: None,
                        at: ms(at_ms),
                        action: FaultAction::CrashPlaying {
                            role: role.into(),
                            mark,
                        },
                    });
                    let back = plus(ms(at_ms), Duration(down_ms.saturating_mul(1_000_000)));
                    if back < self.time {
                        out.push(Fault {
                            after: None,
                            at: back,
                            action: FaultAction::RestartCrashed { mark },
                        });
                    }
                }
                PlannedFault::Pause {
                    node,
                    at_ms,
                    for_ms,
                    mid_handler,
                } if node < self.nodes => {
                    let node = NodeId(node);
                    out.push(Fault {
                        after: None,
                        at: ms(at_ms),
                        action: FaultAction::Pause { node, mid_handler },
                    });
                    out.push(Fault {
                        after: None,
                        at: plus(ms(at_ms), ms(for_ms)),
                        action: FaultAction::Resume { node },
                    });
                }
                PlannedFault::PausePlaying {
                    role,
                    at_ms,
                    for_ms,
                    mid_handler,
                } => {
                    let mark = i as u32;
                    out.push(Fault {
                        after: None,
                        at: ms(at_ms),
                        action: FaultAction::PausePlaying {
                            role: role.into(),
                            mark,
                            mid_handler,
                        },
                    });
                    out.push(Fault {
                        after: None,
                        at: plus(ms(at_ms), ms(for_ms)),
                        action: FaultAction::ResumePaused { mark },
                    });
                }
                PlannedFault::Lose { .. } | PlannedFault::Duplicate { .. } => {}
                PlannedFault::Skew {
                    node,
                    at_ms,
                    offset_ms,
                    drift_ppm,
                } if node < self.nodes => {
                    out.push(Fault {
                        after: None,
                        at: ms(at_ms),
                        action: FaultAction::ClockSkew {
                            node: NodeId(node),
                            offset_ns: offset_ms * 1_000_000,
                            drift_ppm,
                        },
                    });
                }
                _ => {}
            }
        }
        // Those set off by a node's progress last, by their delay.
        out.sort_by_key(|f| (f.after.is_some(), f.at));
        crate::config::number_role_crashes(&mut out);
        // A step back past zero, where clocks start, would hold the clock
        // at zero until it caught up: stopped, far beyond the drift the
        // bounds allow. It steps back to zero instead, and runs on.
        let mut clocks = vec![crate::scheduler::queue::LocalClock::default(); self.nodes as usize];
        for f in out.iter_mut().filter(|f| f.after.is_none()) {
            if let FaultAction::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            } = &mut f.action
            {
                let Some(clock) = clocks.get_mut(node.index()) else {
                    continue;
                };
                let at = crate::time::Instant::ZERO.after(f.at);
                let stands = clock.stands_at(at);
                if stands + i128::from(*offset_ns) < 0 {
                    *offset_ns = -i64::try_from(stands).unwrap_or(i64::MAX);
                }
                *clock = clock.skewed(at, *offset_ns, *drift_ppm);
            }
        }
        out
    }

    /// The planned message faults, by message id (a message named twice
    /// keeps its first fault).
    pub fn message_faults(&self) -> Vec<(u64, MessageFault)> {
        let mut out: Vec<(u64, MessageFault)> = Vec::new();
        for f in &self.faults {
            let planned = match *f {
                PlannedFault::Lose { message } => (message, MessageFault::Lose),
                PlannedFault::Duplicate { message } => (message, MessageFault::Duplicate),
                _ => continue,
            };
            if !out.iter().any(|(m, _)| *m == planned.0) {
                out.push(planned);
            }
        }
        out.sort_unstable();
        out
    }

    /// The case's workload, if it has operations.
    fn workload(&self) -> Option<Workload> {
        (self.operations > 0).then(|| Workload {
            count: self.operations,
            start: self.workload_start,
            interval: Latency::Uniform {
                min: Duration::from_millis(1),
                // `time` is twice the horizon: see `Bounds::horizon`.
                max: Duration((self.time.0 / 30).max(2_000_000)),
            },
            targets: Vec::new(),
            value_range: self.values,
            skip: Vec::new(),
        })
    }

    /// The run configuration of this case.
    pub fn config(&self) -> SimConfig {
        let mut c = SimConfig::new(self.seed, self.nodes);
        c.network.default = self.link.clone();
        c.network.planned = self.message_faults();
        c.faults = self.fault_schedule();
        c.limits.time = self.time;
        c.workload = self.workload();
        c.adversary.byzantine = self.byzantine_nodes();
        c.adversary.network = self.adversary.clone();
        c.disk = self.disk;
        c.scenario = "proptest case".into();
        c
    }

    /// The byzantine nodes as the simulation takes them: one entry per
    /// node the case has, the first planned for it.
    pub fn byzantine_nodes(&self) -> Vec<Byzantine> {
        let mut out: Vec<Byzantine> = Vec::new();
        for b in &self.byzantine {
            let node = b.node();
            if node >= self.nodes || out.iter().any(|o| o.node.0 == node) {
                continue;
            }
            let behaviour = match *b {
                PlannedByzantine::Twins { split, .. } => {
                    let reach = |r: std::ops::Range<u32>| -> Vec<NodeId> {
                        r.filter(|&p| p != node).map(NodeId).collect()
                    };
                    let split = split.min(self.nodes);
                    Behaviour::Twins {
                        reach: vec![reach(0..split), reach(split..self.nodes)],
                    }
                }
                PlannedByzantine::Mutate {
                    chance, arbitrary, ..
                } => Behaviour::Mutate { chance, arbitrary },
                PlannedByzantine::Silent { .. } => Behaviour::Silent,
                PlannedByzantine::Amnesia { .. } => Behaviour::Amnesia,
            };
            out.push(Byzantine {
                node: NodeId(node),
                behaviour,
            });
        }
        out
    }

    /// The case as a scenario file for `protocol` with `params`: `dsim run`
    /// of it (or of the user's binary) runs exactly this case. It asks for
    /// no history check: for a case run with one, see
    /// [`Case::to_scenario_with`].
    pub fn to_scenario(&self, protocol: &str, params: &Params) -> String {
        use std::fmt::Write;
        // In the largest unit that is exact ("9ms", not "9000000ns").
        let dur = |d: Duration| format!("\"{d}\"");
        // A pause that falls in a handler says so on a line of its own.
        let mid_line = |m: bool| if m { "\nmid_handler = true" } else { "" };
        let p = |x: Ppm| format!("{}.{:06}", x.0 / 1_000_000, x.0 % 1_000_000);
        let mut t = String::new();
        let _ = writeln!(
            t,
            "# A generated property-test case, written by Case::to_scenario."
        );
        let _ = writeln!(t, "protocol = {protocol:?}");
        let _ = writeln!(t, "nodes = {}", self.nodes);
        let _ = writeln!(t, "seed = {}", self.seed);
        if !params.0.is_empty() {
            let _ = writeln!(t, "\n[params]");
            for (name, value) in &params.0 {
                let v = match value {
                    ParamValue::Int(i) => i.to_string(),
                    ParamValue::Bool(b) => b.to_string(),
                    ParamValue::Str(s) => format!("{s:?}"),
                    ParamValue::Duration(d) => dur(*d),
                };
                let _ = writeln!(t, "{name} = {v}");
            }
        }
        let l = &self.link;
        let _ = writeln!(t, "\n[network]");
        let latency = match &l.latency {
            Latency::Uniform { min, max } => {
                format!(
                    "{{ dist = \"uniform\", min = {}, max = {} }}",
                    dur(*min),
                    dur(*max)
                )
            }
            Latency::Constant { latency } => dur(*latency),
            other => format!("{other:?}"),
        };
        let _ = writeln!(t, "latency = {latency}");
        let _ = writeln!(t, "loss = {}", p(l.loss));
        let _ = writeln!(t, "duplicate = {}", p(l.duplicate));
        let _ = writeln!(t, "corrupt = {}", p(l.corrupt));
        let order = match l.ordering {
            Ordering::Fifo => "fifo",
            Ordering::Reorder => "reorder",
        };
        let _ = writeln!(t, "ordering = {order:?}");
        let planned = self.message_faults();
        for (key, kind) in [
            ("lose_messages", MessageFault::Lose),
            ("duplicate_messages", MessageFault::Duplicate),
        ] {
            let ids: Vec<u64> = planned
                .iter()
                .filter(|p| p.1 == kind)
                .map(|p| p.0)
                .collect();
            if !ids.is_empty() {
                let _ = writeln!(t, "{key} = {ids:?}");
            }
        }
        let schedule = self.fault_schedule();
        // A triggered restart is the `down` of the crash a run pairs it
        // with, so that the scenario resolves to this very schedule.
        let pairs = {
            let mut c = SimConfig::new(self.seed, self.nodes);
            c.faults = schedule.clone();
            c.triggered_crashes().unwrap_or_default()
        };
        for (index, f) in schedule.iter().enumerate() {
            if let Some(a) = f.after {
                let FaultAction::Crash { node } = f.action else {
                    continue;
                };
                let _ = writeln!(
                    t,
                    "\n[[fault]]\nafter = {{ node = {}, {} = {} }}\nat = {}\ncrash = {}",
                    a.node.0,
                    a.counts(),
                    a.count,
                    dur(f.at),
                    node.0
                );
                let restart = pairs.iter().position(|p| *p == Some(index as u32));
                if let Some(r) = restart.map(|r| &schedule[r]) {
                    let _ = writeln!(t, "down = {}", dur(Duration(r.at.0 - f.at.0)));
                }
                continue;
            }
            // Written with its crash, as `down`, or its pause, as `for`.
            if let FaultAction::RestartCrashed { .. } | FaultAction::ResumePaused { .. } = f.action
            {
                continue;
            }
            if let FaultAction::Resume { node } = f.action {
                let paused = schedule[..index].iter().rev().find_map(|p| match p.action {
                    FaultAction::Pause { node: n, .. } if n == node => Some(true),
                    FaultAction::Resume { node: n } if n == node => Some(false),
                    _ => None,
                });
                if paused == Some(true) {
                    continue;
                }
            }
            let f = f.clone();
            let _ = writeln!(t, "\n[[fault]]\nat = {}", dur(f.at));
            let _ = match f.action {
                FaultAction::Partition { id, spec } => {
                    let ids =
                        |g: &[NodeId]| format!("{:?}", g.iter().map(|n| n.0).collect::<Vec<_>>());
                    match spec {
                        PartitionSpec::Groups(g) => {
                            let groups: Vec<String> = g.iter().map(|g| ids(g)).collect();
                            writeln!(t, "id = {id}\npartition = [{}]", groups.join(", "))
                        }
                        PartitionSpec::OneWay { from, to } => writeln!(
                            t,
                            "id = {id}\noneway = {{ from = {}, to = {} }}",
                            ids(&from),
                            ids(&to)
                        ),
                        PartitionSpec::Isolate { role } => {
                            writeln!(t, "id = {id}\nisolate = {role:?}")
                        }
                    }
                }
                FaultAction::Heal { id: Some(id) } => writeln!(t, "heal = {id}"),
                FaultAction::Heal { id: None } => writeln!(t, "heal = true"),
                FaultAction::Crash { node } => writeln!(t, "crash = {}", node.0),
                FaultAction::CrashPlaying { role, mark } => {
                    let restart = schedule
                        .iter()
                        .find(|r| r.action == FaultAction::RestartCrashed { mark });
                    match restart {
                        Some(r) => writeln!(
                            t,
                            "crash = {role:?}\ndown = {}",
                            dur(Duration(r.at.0 - f.at.0))
                        ),
                        None => writeln!(t, "crash = {role:?}"),
                    }
                }
                FaultAction::Restart { node } => writeln!(t, "restart = {}", node.0),
                FaultAction::Pause { node, mid_handler } => {
                    let resume = schedule[index + 1..]
                        .iter()
                        .find(|r| r.action == FaultAction::Resume { node });
                    let mid = mid_line(mid_handler);
                    match resume {
                        Some(r) => writeln!(
                            t,
                            "pause = {}{mid}\nfor = {}",
                            node.0,
                            dur(Duration(r.at.0 - f.at.0))
                        ),
                        None => writeln!(t, "pause = {}{mid}", node.0),
                    }
                }
                FaultAction::Resume { node } => writeln!(t, "resume = {}", node.0),
                FaultAction::PausePlaying {
                    role,
                    mark,
                    mid_handler,
                } => {
                    let resume = schedule
                        .iter()
                        .find(|r| r.action == FaultAction::ResumePaused { mark });
                    let mid = mid_line(mid_handler);
                    match resume {
                        Some(r) => writeln!(
                            t,
                            "pause = {role:?}{mid}\nfor = {}",
                            dur(Duration(r.at.0 - f.at.0))
                        ),
                        None => writeln!(t, "pause = {role:?}{mid}"),
                    }
                }
                FaultAction::ClockSkew {
                    node,
                    offset_ns,
                    drift_ppm,
                } => {
                    // Written as the scenario reads it back.
                    let offset = crate::scenario::Offset(offset_ns);
                    writeln!(
                        t,
                        "skew = {{ node = {}, offset = \"{offset}\", drift_ppm = {drift_ppm} }}",
                        node.0
                    )
                }
                other => writeln!(t, "# not expressible: {other:?}"),
            };
        }
        for b in self.byzantine_nodes() {
            let _ = writeln!(t, "\n[[byzantine]]\nnode = {}", b.node.0);
            let ids = |g: &[NodeId]| format!("{:?}", g.iter().map(|n| n.0).collect::<Vec<_>>());
            let _ = match b.behaviour {
                Behaviour::Twins { reach } => {
                    let reach: Vec<String> = reach.iter().map(|r| ids(r)).collect();
                    writeln!(t, "behaviour = \"twins\"\nreach = [{}]", reach.join(", "))
                }
                Behaviour::Mutate { chance, arbitrary } => writeln!(
                    t,
                    "behaviour = \"mutate\"\nchance = {}\nmutation = {:?}",
                    p(chance),
                    if arbitrary { "arbitrary" } else { "small" }
                ),
                Behaviour::Silent => writeln!(t, "behaviour = \"silent\""),
                Behaviour::Amnesia => writeln!(t, "behaviour = \"amnesia\""),
            };
        }
        if !self.disk.is_default() {
            let _ = writeln!(t, "\n[disk]\nunsynced_kept = {}", self.disk.unsynced_kept);
        }
        let a = &self.adversary;
        if !a.is_none() {
            let _ = writeln!(
                t,
                "\n[adversary]\nforge = {}\nreplay = {}\nalter = {}\ndelay = {}",
                p(a.forge),
                p(a.replay),
                p(a.alter),
                dur(a.delay)
            );
        }
        if let Some(w) = self.config().workload {
            let _ = writeln!(
                t,
                "\n[workload]\ncount = {}\nstart = {}",
                w.count,
                dur(w.start)
            );
            if let Latency::Uniform { min, max } = w.interval {
                let _ = writeln!(
                    t,
                    "interval = {{ dist = \"uniform\", min = {}, max = {} }}",
                    dur(min),
                    dur(max)
                );
            }
            let _ = writeln!(t, "values = {}", w.value_range);
        }
        let _ = writeln!(t, "\n[run]\ntime = {}", dur(self.time));
        t
    }

    /// [`Case::to_scenario`] for a case [`check_protocol_with`] ran with
    /// history checks: the scenario asks for the same checks (`[check]
    /// linearizable`, and `initial` unless nil; `answered`), so that `dsim
    /// run` of it fails as the case did rather than passing with no check
    /// run.
    pub fn to_scenario_with(
        &self,
        protocol: &str,
        params: &Params,
        checks: impl Into<crate::history::HistoryChecks>,
    ) -> String {
        use std::fmt::Write;
        let checks = checks.into();
        let mut t = self.to_scenario(protocol, params);
        if checks.linearizable.is_some() || checks.answered.is_some() {
            let _ = writeln!(t, "\n[check]");
        }
        if let Some(within) = checks.answered {
            let _ = writeln!(t, "answered = \"{}\"", within.exact());
        }
        if let Some(l) = &checks.linearizable {
            let _ = writeln!(t, "linearizable = {:?}", l.model);
            // A nil start is the default, written as nothing.
            match toml_value(&l.initial) {
                _ if l.initial == crate::history::Value::Nil => {}
                Some(v) => {
                    let _ = writeln!(t, "initial = {v}");
                }
                None => {
                    let _ = writeln!(
                        t,
                        "# initial = {} (a list holding nil has no TOML form)",
                        l.initial
                    );
                }
            }
        }
        t
    }
}

/// A history value as TOML (integers, strings, arrays of them); `None`
/// for nil, which TOML cannot write.
fn toml_value(v: &crate::history::Value) -> Option<String> {
    use crate::history::Value;
    Some(match v {
        Value::Nil => return None,
        Value::Int(i) => i.to_string(),
        Value::Str(s) => format!("{s:?}"),
        Value::List(items) => {
            let items: Option<Vec<String>> = items.iter().map(toml_value).collect();
            format!("[{}]", items?.join(", "))
        }
    })
}

/// Runs `case` with the simulation `build` makes from its configuration;
/// fails on a broken invariant, a handler panic or a violated ordering
/// check, writing the trace and explaining how to reproduce.
pub fn check<N: Node>(
    case: &Case,
    build: impl Fn(SimConfig) -> Simulation<N>,
) -> Result<(), TestCaseError> {
    run_case(case, ("check", "build"), |config, trace| {
        build(config).run_traced(trace, None).map(|(o, _)| o)
    })
}

/// [`check`] for a registered protocol with the given parameters. The
/// trace it leaves carries the protocol's name, parameters and exact
/// configuration, so `dsim replay`, `show` and `shrink` (or the user's own
/// binary built with `dsim::cli::main_with`) take it as it is.
///
/// It checks the invariants the protocol registers. A history check a
/// scenario asks for with `[check] linearizable` is not one of them: use
/// [`check_protocol_with`] to have it.
pub fn check_protocol(
    case: &Case,
    protocol: &dyn Protocol,
    params: &Params,
) -> Result<(), TestCaseError> {
    check_protocol_with(
        case,
        protocol,
        params,
        crate::history::HistoryChecks::default(),
    )
}

/// [`check_protocol`], also checking the clients' history as a
/// scenario's `[check]` section does: against a model
/// (`linearizable = "..."`: a built-in model or one the protocol declares,
/// `Spec::model`, from `initial`), and that every operation is answered
/// (`answered`). The trace it leaves records the checks, so a replay
/// checks them again.
///
/// ```ignore
/// let lin = Linearizability { model: "kv".into(), initial: Value::Nil };
/// check_protocol_with(&case, protocol, &params, Some(lin))?;
/// check_protocol_with(&case, protocol, &params,
///     HistoryChecks::from(lin).answered(Duration::from_secs(1)))?;
/// ```
pub fn check_protocol_with(
    case: &Case,
    protocol: &dyn Protocol,
    params: &Params,
    checks: impl Into<crate::history::HistoryChecks>,
) -> Result<(), TestCaseError> {
    let crate::history::HistoryChecks {
        linearizable,
        answered,
    } = checks.into();
    let call = match (&linearizable, answered) {
        (None, None) => ("check_protocol", "protocol, &params"),
        _ => ("check_protocol_with", "protocol, &params, checks"),
    };
    if case.nodes < protocol.min_nodes() {
        // Not the protocol's failure: the bounds ask for what it cannot run.
        return Err(TestCaseError::fail(format!(
            "the case has {} node{}, but protocol `{}` needs at least {}: start `Bounds::nodes` at {} or more",
            case.nodes,
            if case.nodes == 1 { "" } else { "s" },
            protocol.name(),
            protocol.min_nodes(),
            protocol.min_nodes()
        )));
    }
    // A role the protocol says its nodes never play: the bounds aim a
    // partition or a crash at no one.
    let roles = protocol.roles();
    for f in &case.faults {
        let (role, bound) = match f {
            PlannedFault::Isolate { role, .. } => (role, "isolating"),
            PlannedFault::CrashPlaying { role, .. } => (role, "crashing"),
            PlannedFault::PausePlaying { role, .. } => (role, "pausing"),
            _ => continue,
        };
        if !roles.is_empty() && !roles.iter().any(|r| r == role) {
            return Err(TestCaseError::fail(format!(
                "Bounds::{bound} names role {role:?}, but protocol `{}`'s nodes play {}",
                protocol.name(),
                roles.join(", ")
            )));
        }
    }
    // Every parameter left out at its default, so that the trace's recipe
    // names them all; an undeclared one is the caller's mistake.
    let params = &Params::resolve(&protocol.params(), &params.0).map_err(|e| {
        TestCaseError::fail(format!(
            "the parameters given to {}: {e} (protocol `{}`)",
            call.0,
            protocol.name()
        ))
    })?;
    run_case(case, call, |mut config, trace| {
        config.protocol = protocol.name().to_string();
        let recipe = crate::replay::Recipe {
            protocol: protocol.name().to_string(),
            config: config.clone(),
            params: params.clone(),
            invariants: None,
            linearizable: linearizable.clone(),
            answered,
        };
        config.replay = recipe.to_json();
        let options = RunOptions {
            trace: Some(trace),
            key: None,
            invariants: None,
            linearizable: linearizable.clone(),
            answered,
            digest: false,
            first_failure_only: false,
            schedule: None,
            progress: None,
            stop: None,
        };
        protocol.run(config, params, options)
    })
}

/// `call`: the function that runs the case and its other arguments, for
/// the reproduce line.
fn run_case(
    case: &Case,
    (function, rest): (&str, &str),
    run: impl Fn(SimConfig, &mut Vec<u8>) -> Result<Outcome, SimError>,
) -> Result<(), TestCaseError> {
    let tally = Tally::current();
    let failed = || {
        if let Some(mut t) = tally.as_ref().and_then(|t| t.lock().ok()) {
            t.failed = true;
        }
    };
    let mut trace = Vec::new();
    let outcome = run(case.config(), &mut trace).map_err(|e| {
        failed();
        let hint = match e {
            // Not the protocol's failure: the bounds drew what it refuses.
            SimError::Config(_) => format!(
                " (the bounds drew a case the protocol refuses to run, here of {} nodes: narrow \
                 `Bounds` to what it runs, `nodes` say, or change its parameters)",
                case.nodes
            ),
            SimError::Trace(_) => String::new(),
        };
        TestCaseError::fail(format!("the case could not run: {e}{hint}"))
    })?;
    if let Some(mut t) = tally.as_ref().and_then(|t| t.lock().ok()) {
        t.note(case.seed, &outcome);
    }
    let problem = match &outcome.failure {
        // With the checks judged past the failure that failed too.
        Some(f) => Some(outcome.also_failed().fold(f.line(), |line, (check, why)| {
            format!("{line}; check `{check}` failed too, judged past that failure: {why}")
        })),
        None => {
            let report = audit(&trace[..], &Options::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            report
                .verdicts
                .iter()
                .find(|v| !v.holds())
                .map(|v| {
                    let first = v
                        .first
                        .as_ref()
                        .map(|f| format!("record {}: {}", f.record, f.message))
                        .unwrap_or_default();
                    format!("dsim's `{}` check failed at {first}", v.check)
                })
                .or_else(|| outcome.unjudged_history())
        }
    };
    let Some(mut problem) = problem else {
        return match tally.as_ref().and_then(|t| t.lock().ok()?.judge()) {
            Some(never) => Err(TestCaseError::fail(never)),
            None => Ok(()),
        };
    };
    failed();
    // A failure is only worth its reproduce line if the case runs the same
    // way again: a second run that differs means something outside the
    // seed decides what the protocol does, and shrinking chases noise.
    let mut again = Vec::new();
    if run(case.config(), &mut again).is_ok() && again != trace {
        let d = crate::replay::compare_traces(&trace, &again, None)
            .ok()
            .flatten()
            .map_or(String::new(), |d| format!(", first at record #{}", d.index));
        problem = format!(
            "{problem}\n  NONDETERMINISTIC: the case ran differently when run again{d}, so something outside the seed decides what the protocol does and this failure may not reproduce ({})",
            crate::replay::LOOK_FOR
        );
    }
    let path = save(case, &trace);
    let mut adversary = String::new();
    for b in case.byzantine_nodes() {
        adversary += &format!("\n  byzantine {}: {}", b.node, b.behaviour);
    }
    if !case.adversary.is_none() {
        let a = &case.adversary;
        adversary += &format!(
            "\n  network adversary: forge {}, replay {}, alter {}",
            a.forge, a.replay, a.alter
        );
    }
    if !case.disk.is_default() {
        adversary += &format!(
            "\n  disk: a crash keeps each unsynced write with chance {}",
            case.disk.unsynced_kept
        );
    }
    for h in &outcome.clocks_held {
        adversary += &format!("\n  clock {}", h.describe(outcome.stats.time));
    }
    Err(TestCaseError::fail(format!(
        "{problem}\n  seed {}, {} nodes, {} planned faults: {:?}{adversary}\n  trace: {}\n  reproduce: dsim::testing::{function}(&{case:?}, {rest})",
        case.seed,
        case.nodes,
        case.faults.len(),
        case.faults,
        path.display(),
    )))
}

/// Writes a failing case's trace under the target directory, named after
/// the test (the thread proptest runs it on), so that each failing step of
/// a shrink replaces the last and the minimal case's trace is what stays.
fn save(_case: &Case, trace: &[u8]) -> PathBuf {
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("dsim-proptest");
    let _ = std::fs::create_dir_all(&dir);
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .unwrap_or("proptest")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect::<String>();
    let path = dir.join(format!("{test}.trace"));
    // Written beside and renamed into place: a reader never sees half a trace.
    let partial = dir.join(format!(".{test}.trace.partial"));
    if std::fs::write(&partial, trace).is_ok() {
        let _ = std::fs::rename(&partial, &path);
    }
    path
}
