//! Everything a run is configured with, as plain values with defaults.

use crate::network::{validate_partition, Latency, NetworkConfig, PartitionSpec};
use crate::node::NodeId;
use crate::rng::Ppm;
use crate::time::Duration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most nodes a run keeps vector clocks for: they take 4·N² bytes
/// (64 MiB at this size), and `dsim check` rebuilds them up to the same
/// size. Past it, a run records Lamport times only.
pub const MAX_VECTOR_CLOCK_NODES: u32 = 4096;

/// What keeping vector clocks for `nodes` nodes would cost, refused past
/// [`MAX_VECTOR_CLOCK_NODES`] with the figure and the way out.
pub fn vector_clock_cost(nodes: u32) -> Result<(), String> {
    if nodes <= MAX_VECTOR_CLOCK_NODES {
        return Ok(());
    }
    let bytes = 4.0 * f64::from(nodes) * f64::from(nodes);
    Err(format!(
        "vector clocks for {nodes} nodes would take {:.1} GB (4·N² bytes); dsim keeps them for at most {MAX_VECTOR_CLOCK_NODES} nodes: set `[run] vector_clocks = false` (Lamport times are still recorded and checked), or use fewer nodes",
        bytes / 1e9
    ))
}

/// How the scheduler chooses the next event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Strategy {
    /// By virtual time: the network's latencies decide the order.
    #[default]
    Random,
    /// Probabilistic concurrency testing for message passing (PCTCP,
    /// Ozkan et al., OOPSLA 2018): deliveries are taken by the priority of
    /// their causal chain, random at first, and at `depth − 1` random steps
    /// among the first `steps` the chain of the delivery taken is demoted
    /// below all others. Timers and the environment (starts, faults,
    /// client operations) keep their times. `eventually` checks are not
    /// judged: the schedule may delay a message forever.
    Pct { depth: u32, steps: u64 },
    /// Exploration's asynchronous semantics (see [`crate::explore`]): every
    /// message in flight waits in an unordered pool, and each step takes
    /// one action — deliver a message, fire a timer, issue the next client
    /// operation, or, within `budgets`, drop or duplicate a message, crash
    /// or restart a node — choosing the `path[i]`-th enabled action at step
    /// `i`. Virtual time moves by a millisecond a step; the fault schedule
    /// is not used. A counterexample's trace runs with this strategy, so it
    /// replays exactly.
    Explore { path: Vec<u32>, budgets: Budgets },
}

/// How many of each fault an exploration may inject along one path, and
/// how far it settles paths it leaves at its depth bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Budgets {
    pub drops: u32,
    pub duplicates: u32,
    pub crashes: u32,
    /// Timers that may fire *early* along one path: while a message is in
    /// flight or a task is ready, as if a message were slower than a
    /// timeout. `None` (the default) lets any timer fire at any step;
    /// `Some(0)` lets timers fire only when nothing else can happen.
    #[serde(default)]
    pub early_timers: Option<u32>,
    /// How many steps a *settle* may take: from each state the search
    /// explores, the path goes on without faults (the
    /// ready tasks run, every copy in flight is delivered oldest first,
    /// the client operations left are handed out, and when nothing else
    /// can happen the timer due first fires) until every `eventually`
    /// check due holds at once, for at most this many steps after the
    /// last client operation was handed out (a check not judged amid the
    /// workload is due only then), and on while the first failing check's
    /// message has stood still for fewer than this many steps and than
    /// the settle took to bring it there (a system still converging: "71
    /// nodes uninformed", then 70), up to ten times as many; one that
    /// still fails then fails the search. So a protocol whose timers
    /// never stop (heartbeats, resends), where no path comes to rest, has
    /// its liveness judged. 0 settles nothing: `eventually` is judged only
    /// where nothing more can happen. A path run under a settle budget
    /// ends in a settle too, so a violation's path, to the state whose
    /// settle failed, reproduces it. By default [`Budgets::SETTLE`] (a
    /// recorded path without the field has none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub settle: u32,
    /// Crashed nodes come back: a settle first restarts every node the
    /// path left down, so `eventually` checks are judged as of a system
    /// whose crashes are all followed by restarts (crash-recovery). When
    /// false (the default) a node the path crashed and did not restart
    /// stays down through the settle: checks that tolerate a node down
    /// ([`crate::Invariant::eventually_despite_crashes`], `answered`) are
    /// judged with it down for good, others not at all.
    #[serde(default, skip_serializing_if = "is_false")]
    pub recover: bool,
    /// A crash may also come in the middle of a handler: right after one
    /// of its first this many sends (the rest of a broadcast never leaves;
    /// nothing the handler did after that send happens, its disk as it was
    /// then, every write not yet synced lost). Each such crash counts
    /// among `crashes`. 0 (the default): crashes fall between handlers.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mid_handler: u32,
}

impl Budgets {
    /// The settle's steps by default.
    pub const SETTLE: u32 = 1000;
}

impl Default for Budgets {
    /// No fault, any timer at any step, settles of [`Budgets::SETTLE`]
    /// steps.
    fn default() -> Self {
        Budgets {
            drops: 0,
            duplicates: 0,
            crashes: 0,
            early_timers: None,
            settle: Budgets::SETTLE,
            recover: false,
            mid_handler: 0,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Strategy {
    /// "random", "pct (depth 3, 1000 steps)"...
    pub fn describe(&self) -> String {
        match self {
            Strategy::Random => "random".into(),
            Strategy::Pct { depth, steps } => format!("pct (depth {depth}, {steps} steps)"),
            Strategy::Explore { path, .. } => format!("an explored path of {} steps", path.len()),
        }
    }
}

/// One fault, at a virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// When it happens, from the start of the run; with `after`, from the
    /// moment its trigger is met.
    pub at: Duration,
    pub action: FaultAction,
    /// A crash or restart set off by a node's own progress rather than by
    /// the clock: `at` counts from the moment the node has handled (or
    /// sent) its n-th message. Each triggered restart undoes one triggered crash of
    /// its node with the same trigger ([`SimConfig::validate`] pairs them
    /// in list order); a crash so triggered that finds its node down does
    /// nothing, and neither does the restart that undoes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Trigger>,
}

impl Fault {
    /// A fault at `at` from the start of the run.
    pub fn at(at: Duration, action: FaultAction) -> Fault {
        Fault {
            at,
            action,
            after: None,
        }
    }

    /// When it happens, in words: "at 1.2s", "50us after n1's 3rd
    /// delivery", "right after n1's 7th send".
    pub fn when(&self) -> String {
        match &self.after {
            None => format!("at {}", self.at),
            Some(t) if self.at == Duration::ZERO => format!("right after {t}"),
            Some(t) => format!("{} after {t}", self.at),
        }
    }
}

/// What sets off a triggered fault: `node` has handled its `count`-th
/// message, or sent its `count`-th (counting from 1, over the whole run,
/// restarts included).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Trigger {
    pub node: NodeId,
    /// Which of the node's messages: the `count`-th.
    #[serde(alias = "deliveries")]
    pub count: u64,
    /// What is counted: messages handled, or messages sent.
    #[serde(default)]
    pub of: Progress,
}

/// What a [`Trigger`] counts of its node's messages.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum Progress {
    /// Messages the node handled (deliveries to it).
    #[default]
    Deliveries,
    /// Messages the node sent, each copy of a broadcast one. A crash of
    /// that node due at once (`at` zero) comes in the middle of the
    /// handler that sent it: that message leaves, and nothing the handler
    /// did after it happens (later sends, timers, answers, syncs).
    Sends,
}

impl Progress {
    /// What is counted, one and many, and what the node did to each:
    /// ("delivery", "deliveries", "handled"), ("send", "sends", "sent").
    pub fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Progress::Deliveries => ("delivery", "deliveries", "handled"),
            Progress::Sends => ("send", "sends", "sent"),
        }
    }
}

impl Trigger {
    /// Set off when `node` has handled its `k`-th message.
    pub fn deliveries(node: NodeId, k: u64) -> Trigger {
        Trigger {
            node,
            count: k,
            of: Progress::Deliveries,
        }
    }

    /// Set off when `node` has sent its `k`-th message.
    pub fn sends(node: NodeId, k: u64) -> Trigger {
        Trigger {
            node,
            count: k,
            of: Progress::Sends,
        }
    }

    /// What the trigger counts, in the plural: "deliveries", "sends".
    pub fn counts(&self) -> &'static str {
        self.of.words().1
    }
}

/// "n1's 3rd delivery", "n1's 12th send".
impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = self.of.words().0;
        write!(f, "{}'s {} {what}", self.node, ordinal(self.count))
    }
}

/// "1st", "2nd", "12th".
pub(crate) fn ordinal(k: u64) -> String {
    let suffix = match (k % 10, k % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{k}{suffix}")
}

/// What a fault does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultAction {
    /// Put a partition in force; `id` names it for a later heal.
    Partition { id: u32, spec: PartitionSpec },
    /// Lift partition `id`, or every partition.
    Heal { id: Option<u32> },
    /// Crash a node: volatile state, timers and unsynced writes are lost;
    /// messages arriving while it is down are lost.
    Crash { node: NodeId },
    /// Restart a crashed node from its durable state.
    Restart { node: NodeId },
    /// Step a node's local clock `offset_ns` ahead (negative: back) of what
    /// it reads, and from then on run it `drift_ppm` parts per million fast
    /// (or slow): without an offset the clock never steps. A clock set
    /// back past zero reads 0 until it has caught up, then the whole step
    /// behind.
    ClockSkew {
        node: NodeId,
        offset_ns: i64,
        drift_ppm: i32,
    },
    /// Take a topology wire down (messages re-route if they can).
    CutWire { a: NodeId, b: NodeId },
    /// Bring a topology wire back.
    RestoreWire { a: NodeId, b: NodeId },
    /// The network adversary forges a message to `to`: built from one it
    /// saw delivered to `to` (else from any it saw), one field changed,
    /// claiming to be from `from` (drawn when `None`). See
    /// [`crate::adversary`].
    Forge { to: NodeId, from: Option<NodeId> },
    /// The network adversary re-delivers to `to` a message it saw
    /// delivered to `to` earlier.
    Replay { to: NodeId },
    /// The next copy delivered to `to` is altered in transit.
    Alter { to: NodeId },
    /// Crash each up node that plays `role` when the fault comes
    /// ([`crate::Node::role`]), as [`FaultAction::Crash`] crashes one:
    /// whoever leads then, where a crash of a fixed node meets the leader
    /// only when an election went its way. Recorded as the crashes it came
    /// to; one that finds no one is said
    /// ([`crate::scheduler::Outcome::aimed_at_none`]). `mark` names the
    /// fault for its restart ([`FaultAction::RestartCrashed`]).
    CrashPlaying { role: String, mark: u32 },
    /// Restart, of the nodes that the [`FaultAction::CrashPlaying`] with
    /// this `mark` crashed, each still down.
    RestartCrashed { mark: u32 },
    /// Pause a node: a process stopped (a long garbage collection, a
    /// `SIGSTOP`, a virtual machine migrated) that keeps its state, its
    /// timers and its disk, and whose clock keeps running. Until its
    /// [`FaultAction::Resume`] it handles nothing: copies that reach it,
    /// timers that fall due and operations the workload hands it wait, and
    /// then come at once, in the order they came, before anything else.
    /// A crash meanwhile ends the pause (what waited finds the node down).
    /// A pause of a node down or already paused does nothing.
    ///
    /// With `mid_handler`, the pause lies in wait from its time: it falls
    /// in the node's next handler that sends anything or answers a client
    /// (`Context::complete`), right before its first send or answer, where
    /// a process stops between what it checked (a lease, its leadership,
    /// its clock) and what it does about it. That send or answer and
    /// everything the handler did after it (later sends, timers, answers,
    /// syncs) wait for the resume and then happen, before what came
    /// meanwhile; a crash meanwhile undoes them (its disk as it was then).
    /// A resume that comes before the pause fell ends it unfallen, and the
    /// run says so.
    Pause {
        node: NodeId,
        #[serde(default)]
        mid_handler: bool,
    },
    /// Resume a paused node (of one not paused: nothing).
    Resume { node: NodeId },
    /// Pause each up node that plays `role` when the fault comes
    /// ([`crate::Node::role`]), as [`FaultAction::Pause`] pauses one: a
    /// leader that stops for a while and comes back believing it still
    /// leads. `mark` names the fault for its resume
    /// ([`FaultAction::ResumePaused`]). With `mid_handler`, each such
    /// pause falls in its node's next handler that sends or answers, as
    /// [`FaultAction::Pause`]'s does.
    PausePlaying {
        role: String,
        mark: u32,
        #[serde(default)]
        mid_handler: bool,
    },
    /// Resume, of the nodes that the [`FaultAction::PausePlaying`] with
    /// this `mark` paused, each still paused.
    ResumePaused { mark: u32 },
}

/// Numbers the crashes of whoever plays a role in `faults`, a schedule in
/// its order, 0, 1, 2... in that order, and their restarts with them: the
/// same schedule, however it was built (a scenario's file, a property
/// test's plan), marks them alike.
pub(crate) fn number_role_crashes(faults: &mut [Fault]) {
    let mut marks = std::collections::BTreeMap::new();
    for f in faults.iter_mut() {
        match &mut f.action {
            FaultAction::CrashPlaying { mark, .. } | FaultAction::PausePlaying { mark, .. } => {
                let next = marks.len() as u32;
                marks.insert(*mark, next);
                *mark = next;
            }
            FaultAction::RestartCrashed { mark } | FaultAction::ResumePaused { mark } => {
                if let Some(&m) = marks.get(mark) {
                    *mark = m;
                }
            }
            _ => {}
        }
    }
}

/// How a pause that falls in a handler says so.
fn mid(mid_handler: bool) -> &'static str {
    match mid_handler {
        true => " in its next handler that sends or answers",
        false => "",
    }
}

/// In words: "partition #0 n0,n1 | n2,n3", "heal #0", "crash n2"...
impl std::fmt::Display for FaultAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultAction::Partition { id, spec } => write!(f, "partition #{id} {spec}"),
            FaultAction::Heal { id: Some(id) } => write!(f, "heal #{id}"),
            FaultAction::Heal { id: None } => write!(f, "heal all"),
            FaultAction::Crash { node } => write!(f, "crash {node}"),
            FaultAction::Restart { node } => write!(f, "restart {node}"),
            FaultAction::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            } => write!(
                f,
                "skew {node} offset {} drift {drift_ppm}ppm",
                crate::scenario::Offset(*offset_ns)
            ),
            FaultAction::CutWire { a, b } => write!(f, "cut wire {a}-{b}"),
            FaultAction::RestoreWire { a, b } => write!(f, "restore wire {a}-{b}"),
            FaultAction::Forge {
                to,
                from: Some(from),
            } => {
                write!(f, "forge a message to {to} from {from}")
            }
            FaultAction::Forge { to, from: None } => write!(f, "forge a message to {to}"),
            FaultAction::Replay { to } => write!(f, "replay a message to {to}"),
            FaultAction::Alter { to } => write!(f, "alter the next message to {to}"),
            FaultAction::CrashPlaying { role, mark } => {
                write!(f, "crash #{mark} of whoever is {role}")
            }
            FaultAction::RestartCrashed { mark } => write!(f, "restart of crash #{mark}'s nodes"),
            FaultAction::Pause { node, mid_handler } => {
                write!(f, "pause {node}{}", mid(*mid_handler))
            }
            FaultAction::Resume { node } => write!(f, "resume {node}"),
            FaultAction::PausePlaying {
                role,
                mark,
                mid_handler,
            } => {
                write!(f, "pause #{mark} of whoever is {role}{}", mid(*mid_handler))
            }
            FaultAction::ResumePaused { mark } => write!(f, "resume of pause #{mark}'s nodes"),
        }
    }
}

impl FaultAction {
    /// True for the network adversary's actions.
    pub fn is_adversary(&self) -> bool {
        matches!(
            self,
            FaultAction::Forge { .. } | FaultAction::Replay { .. } | FaultAction::Alter { .. }
        )
    }
}

/// Client operations injected into nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workload {
    /// How many operations in all.
    pub count: u64,
    /// When the first one arrives.
    pub start: Duration,
    /// Time between one operation and the next.
    pub interval: Latency,
    /// Nodes that receive operations (one drawn at random each time);
    /// empty means every node.
    pub targets: Vec<NodeId>,
    /// Operation values are drawn uniformly from `0..value_range`
    /// (`0` means any u64).
    pub value_range: u64,
    /// Operations (by id) drawn but not issued: a shrunk run's way of
    /// leaving one out without moving the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<u64>,
}

impl Workload {
    /// One operation's draws, in the run's order: the node it goes to
    /// (among `nodes` when there are no targets), its value, and the gap
    /// to the next. Each is one draw whatever the targets.
    pub(crate) fn draw(&self, rng: &mut crate::rng::DetRng, nodes: u32) -> (NodeId, u64, Duration) {
        let node = match self.targets.is_empty() {
            true => NodeId(rng.below(u64::from(nodes)) as u32),
            false => self.targets[rng.below(self.targets.len() as u64) as usize],
        };
        let value = match self.value_range {
            0 => rng.next_u64(),
            r => rng.below(r),
        };
        (node, value, self.interval.sample(rng))
    }

    /// When each operation arrives (from the run's start) and at which
    /// node, as a run of `seed` with `nodes` nodes draws them
    /// (`Workload::draw`, the run's own), so the times do not depend on
    /// the targets. Operations in `skip` are drawn and listed, though a run
    /// does not issue them.
    pub fn arrivals(&self, seed: u64, nodes: u32) -> Vec<(Duration, NodeId)> {
        let mut rng = crate::rng::DetRng::new(seed, crate::rng::Stream::Workload);
        let mut at = self.start;
        let mut out = Vec::new();
        for _ in 0..self.count {
            let (node, _, gap) = self.draw(&mut rng, nodes);
            out.push((at, node));
            at = Duration(at.0.saturating_add(gap.0));
        }
        out
    }
}

/// Bounds on a run: whichever is reached first ends it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Virtual time limit.
    pub time: Duration,
    /// Node events processed (deliveries, timers, inputs, starts...).
    pub events: u64,
    /// Largest message payload in bytes; a larger send fails the run.
    pub message_bytes: u32,
    /// Node events in a row at one instant that fail the run as check
    /// `time-stood-still`: something schedules with zero delay (a timer
    /// set to 0 as it fires, messages over zero latency), and the run
    /// would spend its event limit without its clock moving.
    #[serde(default = "Limits::default_instant_events")]
    pub instant_events: u64,
}

impl Limits {
    fn default_instant_events() -> u64 {
        1_000_000
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            time: Duration::from_secs(60),
            events: 10_000_000,
            message_bytes: 1 << 20,
            instant_events: Limits::default_instant_events(),
        }
    }
}

/// A complete, validated run configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimConfig {
    /// The root seed: every random choice of the run derives from it.
    pub seed: u64,
    pub nodes: u32,
    pub network: NetworkConfig,
    pub faults: Vec<Fault>,
    pub workload: Option<Workload>,
    pub limits: Limits,
    /// Keep vector clocks and record their digests in the trace.
    pub vector_clocks: bool,
    /// Name of the protocol, for the trace header.
    pub protocol: String,
    /// Name of the scenario, for the trace header.
    pub scenario: String,
    /// The configuration as re-runnable text (the resolved scenario file).
    pub config_text: String,
    /// Knobs drawn from the seed, for the trace header and people.
    pub drawn: BTreeMap<String, String>,
    /// Set on runs whose trace must replay by its recorded schedule (see
    /// [`crate::trace::Header::replay`]).
    pub replay: String,
    /// Set when a tool, not the scenario, chose the run's limits (shrink
    /// cuts a run just after its failure), saying which: a run that such a
    /// limit ends does not evaluate its end-of-run and `eventually`
    /// checks, since the scenario never asked for the state they would see.
    #[serde(default)]
    pub limits_cut_by: Option<String>,
    /// How the scheduler chooses the next event.
    #[serde(default)]
    pub strategy: Strategy,
    /// Byzantine nodes and the network adversary (see
    /// [`crate::adversary`]); none by default.
    #[serde(
        default,
        skip_serializing_if = "crate::adversary::AdversaryConfig::is_none"
    )]
    pub adversary: crate::adversary::AdversaryConfig,
    /// What a crash does to writes not yet synced; by default it loses
    /// every one.
    #[serde(default, skip_serializing_if = "DiskConfig::is_default")]
    pub disk: DiskConfig,
}

/// What a crash does to a node's disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskConfig {
    /// The chance that a write not yet synced survives a crash, each
    /// write (the latest value of each key, or its removal) drawn on its
    /// own: a disk whose cache wrote some of them back and not others, in
    /// no order. Zero, the default, loses every one, as
    /// [`crate::Disk::sync`] promises at least; a protocol that is
    /// correct only if its unsynced writes vanish together (a commit
    /// point written beside the entry it commits, synced once after both)
    /// is caught by a chance between 0 and 1.
    pub unsynced_kept: Ppm,
}

impl DiskConfig {
    pub fn is_default(&self) -> bool {
        *self == DiskConfig::default()
    }
}

impl SimConfig {
    /// `nodes` nodes on the default network, no faults, default limits.
    pub fn new(seed: u64, nodes: u32) -> SimConfig {
        SimConfig {
            seed,
            nodes,
            network: NetworkConfig::default(),
            faults: Vec::new(),
            workload: None,
            limits: Limits::default(),
            vector_clocks: true,
            protocol: "unnamed".into(),
            scenario: "inline".into(),
            config_text: String::new(),
            drawn: BTreeMap::new(),
            replay: String::new(),
            limits_cut_by: None,
            strategy: Strategy::Random,
            adversary: crate::adversary::AdversaryConfig::default(),
            disk: DiskConfig::default(),
        }
    }

    /// True when the run has an adversary: byzantine nodes, a network
    /// adversary, or adversary actions in the fault schedule.
    pub fn has_adversary(&self) -> bool {
        !self.adversary.is_none() || self.faults.iter().any(|f| f.action.is_adversary())
    }

    /// What of the adversary `dsim explore` cannot search, named: the
    /// network adversary and mutating nodes draw what they do at random,
    /// where a search would have to branch on it. Twins, silent nodes and
    /// amnesia are fixed by the configuration (a twin's reach as the seed
    /// drew it), so the search explores them as it does honest nodes.
    pub(crate) fn unexplorable_adversary(&self) -> Option<String> {
        if !self.adversary.network.is_none() {
            return Some("a network adversary".into());
        }
        if let Some(f) = self.faults.iter().find(|f| f.action.is_adversary()) {
            return Some(format!("an adversary fault (at {})", f.at));
        }
        self.adversary
            .byzantine
            .iter()
            .find(|b| matches!(b.behaviour, crate::adversary::Behaviour::Mutate { .. }))
            .map(|b| format!("a byzantine node that mutates what it sends ({})", b.node))
    }

    /// For each fault, the crash a triggered restart undoes (by index):
    /// each restart, in list order, takes the first crash not yet taken
    /// with its node and trigger and a delay no longer than its own. A
    /// triggered restart left without one is the error (its index).
    pub(crate) fn triggered_crashes(&self) -> Result<Vec<Option<u32>>, usize> {
        let mut taken = vec![false; self.faults.len()];
        let mut out = vec![None; self.faults.len()];
        for (i, f) in self.faults.iter().enumerate() {
            let (Some(_), FaultAction::Restart { node }) = (f.after, &f.action) else {
                continue;
            };
            let crash = self.faults.iter().enumerate().position(|(j, c)| {
                !taken[j]
                    && c.after == f.after
                    && c.action == FaultAction::Crash { node: *node }
                    && c.at <= f.at
            });
            let Some(j) = crash else { return Err(i) };
            taken[j] = true;
            out[i] = Some(j as u32);
        }
        Ok(out)
    }

    /// How many processes the run has: one per node, plus one per extra
    /// twin instance of a byzantine node. Traces have a lane per process.
    pub fn processes(&self) -> u32 {
        self.adversary.processes(self.nodes)
    }

    /// Rejects impossible configurations before anything runs: nodes that
    /// do not exist, a restart of a node that is up, a crash of one that is
    /// down, bounds out of order.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes == 0 {
            return Err("a simulation needs at least one node".into());
        }
        let node_ok = |n: NodeId, what: &str| {
            if n.0 < self.nodes {
                Ok(())
            } else {
                Err(format!(
                    "{what} names node {} but there are only {} nodes (0..{})",
                    n.0,
                    self.nodes,
                    self.nodes - 1
                ))
            }
        };
        // Whether the topology has a wire between `a` and `b` (false
        // without a topology).
        let wired = |a: NodeId, b: NodeId| {
            self.network
                .topology
                .iter()
                .flatten()
                .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
        };
        self.network
            .default
            .validate()
            .map_err(|e| format!("network: {e}"))?;
        for (a, b, link) in &self.network.links {
            node_ok(*a, "a link override")?;
            node_ok(*b, "a link override")?;
            link.validate()
                .map_err(|e| format!("link {}->{}: {e}", a.0, b.0))?;
        }
        if let Some(edges) = &self.network.topology {
            for (a, b) in edges {
                node_ok(*a, "the topology")?;
                node_ok(*b, "the topology")?;
            }
            // On a topology a message pays loss and latency per wire, so
            // an override of them between two unwired nodes would never
            // apply.
            let default = &self.network.default;
            for (a, b, link) in &self.network.links {
                if !wired(*a, *b) && (link.loss != default.loss || link.latency != default.latency)
                {
                    return Err(format!(
                        "link {}->{} overrides loss or latency, but nodes {} and {} are not \
                         wired in the topology: loss and latency belong to wires",
                        a.0, b.0, a.0, b.0
                    ));
                }
            }
        }
        // A triggered fault's time is not known before the run: its crash
        // and restart are checked as a pair, the rest by time.
        for f in &self.faults {
            let Some(t) = f.after else { continue };
            node_ok(t.node, "a fault's trigger")?;
            if t.count == 0 {
                return Err(format!(
                    "a fault triggered by {}'s {} number 0: {} count from 1",
                    t.node,
                    t.of.words().0,
                    t.counts()
                ));
            }
            match f.action {
                FaultAction::Crash { node } => node_ok(node, "a crash")?,
                FaultAction::Restart { node } => node_ok(node, "a restart")?,
                ref other => {
                    return Err(format!(
                        "`{other}` is triggered by a node's progress, but only crashes and \
                         their restarts can be"
                    ))
                }
            }
        }
        if let Err(i) = self.triggered_crashes() {
            let f = &self.faults[i];
            return Err(format!(
                "{} is {} but no crash of that node with that trigger comes before it \
                 (each triggered restart follows a triggered crash of its own)",
                f.action,
                f.when()
            ));
        }
        let mut order: Vec<&Fault> = self.faults.iter().filter(|f| f.after.is_none()).collect();
        order.sort_by_key(|f| f.at);
        let mut up = vec![true; self.nodes as usize];
        // Crashes of whoever plays a role, by mark, not yet restarted.
        let mut aimed = std::collections::BTreeSet::new();
        // Pauses of whoever plays a role, by mark, not yet resumed.
        let mut paused_by = std::collections::BTreeSet::new();
        for f in order {
            match &f.action {
                FaultAction::CrashPlaying { mark, role } => {
                    crate::network::role_word("crash", role)?;
                    if !aimed.insert(*mark) {
                        return Err(format!(
                            "two crashes of whoever plays a role are marked #{mark}"
                        ));
                    }
                }
                FaultAction::RestartCrashed { mark } => {
                    if !aimed.remove(mark) {
                        return Err(format!(
                            "{} is at {} but no crash #{mark} comes before it",
                            f.action, f.at
                        ));
                    }
                }
                FaultAction::PausePlaying { mark, role, .. } => {
                    crate::network::role_word("pause", role)?;
                    if !paused_by.insert(*mark) {
                        return Err(format!(
                            "two pauses of whoever plays a role are marked #{mark}"
                        ));
                    }
                }
                FaultAction::ResumePaused { mark } => {
                    if !paused_by.remove(mark) {
                        return Err(format!(
                            "{} is at {} but no pause #{mark} comes before it",
                            f.action, f.at
                        ));
                    }
                }
                FaultAction::Pause { node, .. } => node_ok(*node, "a pause")?,
                FaultAction::Resume { node } => node_ok(*node, "a resume")?,
                FaultAction::Partition { spec, .. } => validate_partition(spec, self.nodes)?,
                FaultAction::Heal { .. } => {}
                FaultAction::Crash { node } => {
                    node_ok(*node, "a crash")?;
                    if !up[node.index()] {
                        return Err(format!(
                            "node {} is crashed at {} but is already down",
                            node.0, f.at
                        ));
                    }
                    up[node.index()] = false;
                }
                FaultAction::Restart { node } => {
                    node_ok(*node, "a restart")?;
                    if up[node.index()] {
                        return Err(format!(
                            "node {} is restarted at {} but was not crashed before then",
                            node.0, f.at
                        ));
                    }
                    up[node.index()] = true;
                }
                FaultAction::ClockSkew {
                    node, drift_ppm, ..
                } => {
                    node_ok(*node, "a clock skew")?;
                    if *drift_ppm <= -1_000_000 {
                        return Err(format!(
                            "clock drift {drift_ppm} ppm would stop or reverse node {}'s clock",
                            node.0
                        ));
                    }
                }
                FaultAction::Forge { to, from } => {
                    node_ok(*to, "a forgery")?;
                    if let Some(f) = from {
                        node_ok(*f, "a forgery")?;
                    }
                }
                FaultAction::Replay { to } | FaultAction::Alter { to } => {
                    node_ok(*to, "an adversary fault")?;
                }
                FaultAction::CutWire { a, b } | FaultAction::RestoreWire { a, b } => {
                    node_ok(*a, "a wire fault")?;
                    node_ok(*b, "a wire fault")?;
                    if self.network.topology.is_none() {
                        return Err("a wire fault needs a topology".into());
                    }
                    if !wired(*a, *b) {
                        return Err(format!(
                            "nodes {} and {} are not wired in the topology",
                            a.0, b.0
                        ));
                    }
                }
            }
        }
        if let Some(w) = &self.workload {
            w.interval
                .validate()
                .map_err(|e| format!("workload interval: {e}"))?;
            for t in &w.targets {
                node_ok(*t, "the workload")?;
            }
        }
        self.adversary.validate(self.nodes)?;
        if matches!(self.strategy, Strategy::Explore { .. }) {
            if let Some(why) = self.unexplorable_adversary() {
                return Err(format!("exploration does not take {why} yet: run the scenario seed by seed (the run and sweep commands)"));
            }
        }
        let twins = self
            .adversary
            .byzantine
            .iter()
            .any(|b| matches!(b.behaviour, crate::adversary::Behaviour::Twins { .. }));
        if twins && self.network.topology.is_some() {
            return Err("twins cannot run on a topology: their instances have no wires".into());
        }
        if twins && self.processes() > MAX_VECTOR_CLOCK_NODES && self.vector_clocks {
            vector_clock_cost(self.processes())?;
        }
        if self.limits.events == 0 {
            return Err("the event limit must be at least 1".into());
        }
        if let Strategy::Pct { depth, steps } = self.strategy {
            if depth == 0 || steps == 0 {
                return Err(
                    "a pct strategy needs a depth and a number of steps of at least 1".into(),
                );
            }
            let fifo = std::iter::once(&self.network.default)
                .chain(self.network.links.iter().map(|(_, _, l)| l))
                .any(|l| l.ordering == crate::network::Ordering::Fifo);
            if fifo {
                return Err("the pct strategy chooses the order of deliveries, so it needs reordering links; this configuration promises FIFO on some link".into());
            }
        }
        Ok(())
    }
}
