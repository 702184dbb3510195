//! The scheduler: the event queue and the one loop that owns virtual time
//! and randomness.
//!
//! Events are ordered by virtual time, ties broken by a sequence number that
//! increases as events are scheduled, so the order never depends on memory
//! addresses or threads. Each event runs one node handler; the handler's
//! effects are applied here, in order, and every one becomes trace records.
//!
//! ```
//! use dsim::{Context, Node, NodeId, SimConfig, Simulation};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Ping(u32);
//!
//! struct Echo { seen: u32 }
//!
//! impl Node for Echo {
//!     type Msg = Ping;
//!     type Timer = ();
//!     fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
//!         if ctx.id() == NodeId(0) { ctx.send(NodeId(1), &Ping(0)); }
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, Ping(n): Ping) {
//!         self.seen += 1;
//!         if n < 9 { ctx.send(from, &Ping(n + 1)); }
//!     }
//! }
//!
//! let sim = Simulation::new(SimConfig::new(42, 2), |_| Echo { seen: 0 })
//!     .always("bounded", "no node sees more than five pings", |v| {
//!         match v.up().all(|(_, n)| n.seen <= 5) { true => Ok(()), false => Err("too many".into()) }
//!     });
//! let (outcome, nodes) = sim.run_with_states().unwrap();
//! assert_eq!(outcome.stats.delivered, 10);
//! assert!(outcome.failure.is_none());
//! assert_eq!(nodes[1].as_ref().unwrap().seen, 5);
//! ```

use crate::config::SimConfig;
use crate::invariant::{Invariant, View};
use crate::network::Schedule;
use crate::node::{Node, NodeId};
use crate::time::Instant;
use crate::trace::{
    EndReason, Header, Kind, NullSink, Record, Sink, Stats, TraceWriter, FORMAT_VERSION,
};
use std::io::{self, Write};
use std::sync::Arc;
use thiserror::Error;

pub(crate) mod queue;
mod world;

pub(crate) use world::{Action, SettleMemo, Settled, Touch};

/// Why a liveness check did not run: the run's strategy is PCT.
pub(crate) const NOT_UNDER_PCT: &str =
    "liveness is not judged under PCT, whose schedule may delay any message forever";
/// Why a history check did not run: its nodes recorded no operation.
pub(crate) const NO_OPERATIONS: &str =
    "the run recorded no client operation: nodes record them with ctx.invoke and ctx.complete";
/// Why a history check did not run: the search's budget ran out (the
/// reason follows).
pub(crate) const VERDICT_UNKNOWN: &str = "its verdict is unknown: ";

use world::World;

/// What the states a search reached evaluated: each invariant (by
/// index), and whether some state recorded a client operation (a check
/// over operations evaluated over none judged nothing).
pub(crate) struct Evaluated {
    pub checks: Vec<bool>,
    pub operations: bool,
}

/// One run under exploration's semantics, stepped by a driver (see
/// [`crate::explore`]): the nodes have started; each step takes one of the
/// actions enabled now. Vector clocks and the trace are off.
pub(crate) struct Stepper<'s, N: Node> {
    world: World<'s, N, NullSink>,
}

impl<'s, N: Node> Stepper<'s, N> {
    /// A fresh run of `sim`, whose strategy must be `Explore`, with every
    /// node started.
    pub fn new(sim: &'s Simulation<N>) -> Result<Stepper<'s, N>, SimError> {
        sim.config.validate().map_err(SimError::Config)?;
        let mut world = World::new(sim, NullSink::default(), false);
        world.guarded(|w| w.start_all())?;
        Ok(Stepper { world })
    }

    /// A copy of this state to step on, when the nodes can be copied
    /// ([`Simulation::cloneable`]).
    pub fn fork(&self) -> Option<Stepper<'s, N>> {
        self.world.fork().map(|world| Stepper { world })
    }

    pub fn enabled(&self) -> Vec<Action> {
        self.world.enabled()
    }

    /// Takes one step; a panic in a handler or a check becomes the
    /// run's failure, as in a run.
    pub fn take(&mut self, action: &Action) -> Result<(), SimError> {
        self.world.guarded(|w| w.take(action)).map(|_| ())
    }

    /// Takes a step already taken (and checked) on an explored path: the
    /// clients' history is not checked again.
    pub fn retake(&mut self, action: &Action) -> Result<(), SimError> {
        self.world.guarded(|w| w.retake(action)).map(|_| ())
    }

    /// `action` for people, with the message or timer tag it carries.
    pub fn describe(&self, action: &Action) -> String {
        self.world.describe(action)
    }

    /// The copies in flight, each with its message.
    pub fn in_flight_described(&self) -> Vec<String> {
        self.world.in_flight_described()
    }

    pub fn fingerprint(&self) -> Option<u64> {
        self.world.fingerprint()
    }

    /// Whether `action` fires a timer early: while a copy is in flight or
    /// a task is ready.
    pub fn early(&self, action: &Action) -> bool {
        let fire = |a: &Action| matches!(a, Action::Fire(..));
        let fires = fire(action) || matches!(action, Action::Cut(a, _) if fire(a));
        fires && self.world.busy()
    }

    /// Whether the last step was a cut of a handler after a send it did
    /// not make ([`Action::Cut`]): no such step exists.
    pub fn void(&self) -> bool {
        self.world.void()
    }

    /// What the last step touched (see [`Touch`]).
    pub fn touch(&self) -> Touch {
        self.world.touch()
    }

    /// A name for what `action` does, the same in every state of the same
    /// fingerprint; `None` for steps never put to sleep.
    pub fn key(&self, action: &Action) -> Option<u64> {
        self.world.key(action)
    }

    /// Why partial-order reduction cannot apply to this protocol, if so.
    pub fn why_not_reduced(&self) -> Option<String> {
        self.world.why_not_reduced()
    }

    /// The fingerprint without the `i`-th copy in flight.
    pub fn fingerprint_without(&self, i: usize) -> Option<u64> {
        self.world.fingerprint_without(Some(i))
    }

    pub fn failure(&self) -> Option<&Failure> {
        self.world.failure.as_ref()
    }

    /// Marks in `seen` each invariant evaluated on this path, and whether
    /// it recorded a client operation.
    pub fn mark_evaluated(&self, seen: &mut Evaluated) {
        self.world.mark_evaluated(seen);
    }

    /// Whether a node read its clock (`Context::now`) on this path.
    pub fn clock_read(&self) -> bool {
        self.world.clock_read()
    }

    /// Goes on without faults until every `eventually` check due holds,
    /// for at most `steps` steps ([`crate::config::Budgets::settle`]): the
    /// steps taken, and how the settle ended (a check that panicked is
    /// the failure, its step among those taken).
    /// With a `memo`, one that reaches a state known to settle stops there.
    pub(crate) fn settle(
        &mut self,
        steps: u32,
        memo: Option<&mut SettleMemo>,
    ) -> Result<(Vec<u32>, Settled), SimError> {
        let mut taken = Vec::new();
        let how = self.world.guarded(|w| w.settle(steps, &mut taken, memo))?;
        Ok((taken, how.unwrap_or(Settled::Failed)))
    }

    /// The end-of-run checks, for a state where nothing more can happen.
    pub fn end(&mut self) -> Result<(), SimError> {
        self.world
            .guarded(|w| w.end_checks(EndReason::Quiescent))
            .map(|_| ())
    }
}

/// A run could not be carried out (as opposed to a check failing).
#[derive(Debug, Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("writing the trace failed: {0}")]
    Trace(#[from] io::Error),
}

/// The first check that failed in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The invariant's name, or `panic` for a handler that panicked, or
    /// `effect` for a handler that asked for something impossible.
    pub check: String,
    pub message: String,
    /// Index of the `CheckFailed` record in the trace.
    pub record: u64,
    pub time: Instant,
    /// For a liveness check (`eventually`), when it was due and what
    /// started its clock ("due 1s after the last fault ended (at 0.4s), so
    /// at 1.4s"), or that it was judged early, nothing more able to happen:
    /// the deadline a failure names is not one its user wrote down.
    pub due: Option<String>,
}

impl Failure {
    /// "check `x` failed at record 7 (t=1s): why", and when it was due.
    pub fn line(&self) -> String {
        format!(
            "check `{}` failed at record {} (t={}): {}{}",
            self.check,
            self.record,
            self.time,
            self.message,
            self.due
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        )
    }
}

/// What became of one invariant in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    /// Evaluated this many times, and held every time.
    Held { evaluations: u64 },
    /// It is the run's [`Failure`].
    Failed,
    /// It failed too, judged at the run's end past the run's failure (or,
    /// for a check of the clients' history, over the history up to a
    /// failure before the end): why. Not in the trace, which ends at the
    /// run's failure.
    AlsoFailed { message: String },
    /// Never evaluated, for this reason: it did not hold, and it did not
    /// fail either.
    NotRun { reason: String },
}

/// One invariant's name and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    pub name: String,
    pub status: CheckStatus,
}

impl CheckReport {
    /// "held", "FAILED", "not run (why)", for people.
    pub fn verdict(&self, failed: bool) -> String {
        match &self.status {
            CheckStatus::Held { .. } if failed => "held until the failure".into(),
            CheckStatus::Held { .. } => "ok".into(),
            CheckStatus::Failed => "FAILED".into(),
            CheckStatus::AlsoFailed { .. } => "FAILED TOO (judged past the failure)".into(),
            CheckStatus::NotRun { reason } => format!("NOT RUN ({reason})"),
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub end: EndReason,
    pub failure: Option<Failure>,
    /// Every invariant the run was given, in registration order, with
    /// whether it held, failed or could not be evaluated.
    pub checks: Vec<CheckReport>,
    pub stats: Stats,
    /// Hash of the whole trace, when one was written.
    pub trace_hash: Option<[u8; 32]>,
    /// The run's digest ([`crate::trace::Digest`]), when one was asked
    /// for: equal for the same run with the trace on or off.
    pub digest: Option<u64>,
    /// When following a schedule: sends it had no recorded fate for.
    pub unscripted: u64,
    /// Planned message faults (`NetworkConfig::planned`) that did nothing,
    /// each with why: its message was never sent, was the network
    /// adversary's, or was lost before it could be duplicated.
    pub planned_missed: Vec<(u64, crate::network::MessageFault, &'static str)>,
    /// Faults set off by a node's progress ([`crate::config::Fault::after`])
    /// whose trigger never came: the trigger, and how many messages its
    /// node did handle.
    pub untriggered: Vec<(crate::config::Trigger, u64)>,
    /// When following an explored path by its recorded steps: steps the
    /// run could not take, the protocol as it is now offering no action
    /// that does what the recorded step did.
    pub unfollowed: u64,
    /// Workload operations never issued because the node they were aimed
    /// at was down when they arrived (a twinned node: every instance the
    /// operation could go to).
    pub inputs_at_down: u64,
    /// Clocks a skew set back past zero, where clocks start: each read 0
    /// for a while, stopped, which no real clock does; a protocol that
    /// measures time with it (a round trip, a timestamp) sees time stand
    /// still. In the order of the skews.
    pub clocks_held: Vec<ClockHeld>,
    /// Faults aimed at a role (`isolate = "leader"`, `crash = "leader"`)
    /// that did nothing: when, the role, and why: `"none"`, no up node
    /// played it when an isolation came; `"alone"`, every up node but
    /// those that played it plays no role at all; `"crash"` (`"pause"`), no
    /// up node played it when a crash (a pause) came. And pauses that lay
    /// in wait for a handler that sends or answers (`mid_handler`) until their resume:
    /// when each came, its node (`"n1"`), and `"unfallen"`.
    pub aimed_at_none: Vec<(Instant, String, &'static str)>,
}

/// A node's clock standing at zero after a skew set it back past zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClockHeld {
    pub node: NodeId,
    /// The skew's time.
    pub from: Instant,
    /// When the clock reads above zero again (virtual time; later than
    /// the run's end when it never did, earlier than the set-back when a
    /// later skew of the node ended the hold first).
    pub until: Instant,
    /// The skew's step (ahead, when too short to reach zero).
    pub offset_ns: i64,
}

impl ClockHeld {
    /// "n1 read 0 from 0.010000000s to 0.050000000s: set back 50ms past
    /// zero, …", for a run that ended at `end`.
    pub fn describe(&self, end: Instant) -> String {
        let back = crate::time::Duration(self.offset_ns.unsigned_abs());
        let until = match self.until <= end {
            true => format!("to {}", self.until),
            false => format!("to {} (the run ended first, at {end})", self.until),
        };
        // A step ahead too short to reach zero leaves it held.
        let step = match self.offset_ns < 0 {
            true => format!("set back {back} past zero"),
            false => format!("stepped {back} ahead, still short of zero"),
        };
        format!(
            "{} read 0 from {} {until}: {step}, where clocks start, it stood still (a round trip \
             or a timestamp taken meanwhile measures no time)",
            self.node, self.from
        )
    }
}

impl Outcome {
    /// The invariants that were not evaluated, with why.
    pub fn not_run(&self) -> impl Iterator<Item = (&str, &str)> {
        self.checks.iter().filter_map(|c| match &c.status {
            CheckStatus::NotRun { reason } => Some((c.name.as_str(), reason.as_str())),
            _ => None,
        })
    }

    /// The checks judged past the run's failure that failed too
    /// ([`CheckStatus::AlsoFailed`]), with why.
    pub fn also_failed(&self) -> impl Iterator<Item = (&str, &str)> {
        self.checks.iter().filter_map(|c| match &c.status {
            CheckStatus::AlsoFailed { message } => Some((c.name.as_str(), message.as_str())),
            _ => None,
        })
    }

    /// A history check the run was asked for and could not judge, which
    /// a run must not pass on: its verdict unknown (over the search's
    /// budget), or no operation recorded although the workload's inputs
    /// reached nodes (the nodes do not record their clients' operations).
    /// Other checks not run — an `eventually` with a fault in force at the
    /// end, say — are the seed's nature, not the setup's.
    pub fn unjudged_history(&self) -> Option<String> {
        self.checks.iter().find_map(|c| match &c.status {
            CheckStatus::NotRun { reason } if reason.starts_with(VERDICT_UNKNOWN) => Some(format!(
                "check `{}` could not be judged, so the run cannot pass: {reason}",
                c.name
            )),
            CheckStatus::NotRun { reason } if reason == NO_OPERATIONS && self.stats.inputs > 0 => {
                Some(format!(
                    "check `{}` did not run: {} workload inputs reached nodes and {reason}",
                    c.name, self.stats.inputs
                ))
            }
            _ => None,
        })
    }

    /// Whether the run passes, as `dsim run` judges it (exit 0): no check
    /// failed, the run was not interrupted, a history check it was given
    /// was judged ([`Outcome::unjudged_history`]) and so was some check
    /// ([`Outcome::nothing_judged`]); else why not. A test of a user's own
    /// asserts this rather than `failure.is_none()`, which a run that
    /// checked nothing also satisfies.
    pub fn pass(&self) -> Result<(), String> {
        if let Some(f) = &self.failure {
            return Err(f.line());
        }
        if self.end == crate::trace::EndReason::Interrupted {
            return Err(format!(
                "the run was interrupted at {} after {} node events",
                self.stats.time, self.stats.events
            ));
        }
        match self.unjudged() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Why the run, though no check failed, cannot pass: a history check
    /// it could not judge, or no check judged at all (exit 2).
    pub fn unjudged(&self) -> Option<String> {
        self.unjudged_history().or_else(|| self.nothing_judged())
    }

    /// Every check the run was given, not run: none held, none failed, so
    /// the run judged nothing it was asked to and must not pass (a sweep
    /// of this one seed does not either: a check that ran in none of its
    /// seeds fails it). Where some check was judged, a check not run is
    /// the seed's nature (an `eventually` with a fault in force at the
    /// end) and is only reported. `None` too for a run given no check.
    pub fn nothing_judged(&self) -> Option<String> {
        if self.failure.is_some()
            || self.checks.is_empty()
            || self
                .checks
                .iter()
                .any(|c| !matches!(c.status, CheckStatus::NotRun { .. }))
        {
            return None;
        }
        let why: Vec<String> = self
            .not_run()
            .map(|(name, reason)| format!("`{name}` ({reason})"))
            .collect();
        Some(format!(
            "no check the run was given could be judged, so the run cannot pass: {}; give the run \
             the time to reach them (run.time, the faults' times), or name checks it can judge \
             (`[check]`, --check)",
            why.join("; ")
        ))
    }
}

thread_local! {
    /// The node whose handler this thread is running, if it is running one.
    static IN_HANDLER: std::cell::Cell<Option<NodeId>> = const { std::cell::Cell::new(None) };
    /// The invariant (by index) this thread is evaluating, if any.
    static IN_CHECK: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// True while this thread runs a node handler or a check. A panic hook can
/// use it to stay quiet about panics the kernel catches and reports as
/// failures.
pub fn in_handler() -> bool {
    IN_HANDLER.with(|f| f.get()).is_some() || IN_CHECK.with(|f| f.get()).is_some()
}

/// Reusable buffers kept at most, per kind.
const BUFFERS_KEPT: usize = 1024;

type Factory<N> = Box<dyn Fn(NodeId) -> N + Send + Sync>;

/// Told every [`PROGRESS_EVERY`] node events how far a run has got: the
/// node events handled and the virtual time.
pub type ProgressFn = std::sync::Arc<dyn Fn(u64, Instant) + Send + Sync>;

/// How many node events pass between two progress reports.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// A protocol, a configuration and invariants: everything needed to run.
/// Running does not consume it; every run of it with the same config gives
/// the same trace.
pub struct Simulation<N: Node> {
    config: SimConfig,
    factory: Factory<N>,
    invariants: Vec<Invariant<N>>,
    schedule: Option<Arc<Schedule>>,
    progress: Option<ProgressFn>,
    /// Set from outside to end the run where it has got to
    /// ([`EndReason::Interrupted`]); read every [`PROGRESS_EVERY`] events.
    stop: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// How to fingerprint a node's state, for exploration's visited set.
    state_hash: Option<fn(&N) -> u64>,
    /// How to copy a node's state, so exploration copies a state instead
    /// of running the path to it again.
    state_clone: Option<fn(&N) -> N>,
    /// Whether checks see the clients' history ([`View::history`]).
    history_in_view: bool,
    /// Whether the run stops judging at its first failure
    /// ([`Simulation::first_failure_only`]).
    pub(crate) first_failure_only: bool,
}

impl<N: Node> Simulation<N> {
    /// `factory` builds node `id` at the start and again at each restart.
    pub fn new(
        config: SimConfig,
        factory: impl Fn(NodeId) -> N + Send + Sync + 'static,
    ) -> Simulation<N> {
        Simulation {
            config,
            factory: Box::new(factory),
            invariants: Vec::new(),
            schedule: None,
            progress: None,
            stop: None,
            state_hash: None,
            state_clone: None,
            history_in_view: false,
            first_failure_only: false,
        }
    }

    /// Lets exploration fingerprint node states (with `Hash`), so that a
    /// state reached twice is explored once however it was reached.
    /// Without it, exploration knows a node by the events it was handed, in
    /// order (see [`crate::explore`]): paths that hand every node the same
    /// events are merged, paths that reach one state by different events
    /// are not.
    pub fn hashable(mut self) -> Simulation<N>
    where
        N: std::hash::Hash,
    {
        self.state_hash = Some(|n: &N| {
            use std::hash::Hasher;
            let mut h = std::hash::DefaultHasher::new();
            n.hash(&mut h);
            h.finish()
        });
        self
    }

    /// Lets exploration copy a state (with `Clone`): each state it reaches
    /// is then one step from a copy of its parent, not the whole path run
    /// again from the start, which on a path of depth `d` is about `d`
    /// times less work. Without it, exploration reaches a state by running
    /// its path again from the start, which needs nothing of the nodes
    /// (async nodes, whose tasks are futures, cannot be copied). Every
    /// [`Simulation::monitor`]'s summary is `Clone` too. What a search
    /// finds is the same either way, provided `clone` copies: one that
    /// shares what it should copy (an `Rc<RefCell<_>>`) or leaves something
    /// out is not, and the first states a search reaches both ways and
    /// compares end it as not deterministic.
    pub fn cloneable(mut self) -> Simulation<N>
    where
        N: Clone,
    {
        self.state_clone = Some(N::clone);
        self
    }

    /// Lets every check see the clients' history so far
    /// ([`View::history`]): the operations the nodes recorded with
    /// [`crate::Context::invoke`] and [`crate::Context::complete`]. A check
    /// of the nodes' states against what the clients were told needs it:
    /// once calm, a replicated counter counts every add acknowledged.
    /// Without it a check sees `None`, and a run keeps no history unless
    /// a history check needs one.
    pub fn history_in_view(mut self) -> Simulation<N> {
        self.history_in_view = true;
        self
    }

    /// True when node states can be copied ([`Simulation::cloneable`]).
    pub fn is_cloneable(&self) -> bool {
        self.state_clone.is_some()
    }

    /// True when node states can be fingerprinted ([`Simulation::hashable`]).
    pub fn is_hashable(&self) -> bool {
        self.state_hash.is_some()
    }

    /// Whether some invariant is an `eventually` check.
    pub(crate) fn has_eventually(&self) -> bool {
        self.invariants
            .iter()
            .any(|i| matches!(i.when, crate::invariant::When::Eventually { .. }))
    }

    /// Reports progress to `report` during long runs (see [`ProgressFn`]).
    /// It sees the run, never changes it.
    pub fn on_progress(&mut self, report: ProgressFn) {
        self.progress = Some(report);
    }

    /// Ends the run where it has got to once `stop` is set (checked every
    /// [`PROGRESS_EVERY`] node events): the trace is sealed as usual, with
    /// end reason [`EndReason::Interrupted`], and checks due at the end are
    /// reported as not run.
    pub fn stop_on(&mut self, stop: Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(stop);
    }

    /// Stops judging at the run's first failure. By default a run that
    /// fails judges the checks of its end all the same (and, failing
    /// before its end, the clients' history so far), and reports each as
    /// held or [`CheckStatus::AlsoFailed`]; a shrinker, which asks only
    /// whether a run fails, saves their time. (A search always stops at
    /// its violation.)
    pub fn first_failure_only(&mut self) {
        self.first_failure_only = true;
    }

    /// Adds an invariant.
    pub fn invariant(mut self, invariant: Invariant<N>) -> Simulation<N> {
        self.invariants.push(invariant);
        self
    }

    /// Adds the invariant `linearizable`: at the end of the run, the
    /// clients' history (what nodes recorded with
    /// [`crate::Context::invoke`] and [`crate::Context::complete`]) must
    /// linearize against `model` — a built-in one
    /// ([`crate::check::linearizable::Register`], say) or the user's own
    /// [`crate::check::linearizable::Model`]. A verdict the search's
    /// budget cannot reach is reported as not run, with why. To have
    /// scenarios and `dsim check` name the model, declare it on the
    /// protocol instead ([`crate::protocols::Spec::model`]).
    pub fn linearizable<M>(self, model: M) -> Simulation<N>
    where
        M: crate::check::linearizable::Model + Send + Sync + 'static,
    {
        let model = std::sync::Arc::new(model);
        let named = crate::check::linearizable::NamedModel::new("", "", move |_| model.clone());
        self.invariant(crate::protocols::history_check(
            named,
            crate::history::Value::Nil,
        ))
    }

    /// Adds the invariant `answered` ([`crate::protocols::answered`]):
    /// `within` after the world is calm (nodes down for good left down),
    /// every client operation invoked has its answer (`ok`, `fail`, or
    /// `info` for one a crash cut off).
    /// A stalled protocol answers nothing, and a history of nothing
    /// answered passes a linearizability check: this one fails it. Shows
    /// the checks the clients' history ([`Simulation::history_in_view`]).
    pub fn answered(self, within: crate::time::Duration) -> Simulation<N> {
        self.history_in_view()
            .invariant(crate::protocols::answered(within))
    }

    /// Adds an invariant checked after every event and at the end; `doc`
    /// says in one line what it promises.
    pub fn always(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::always(name, doc, check))
    }

    /// Adds a property of one node's state, checked after each event for
    /// the node that event changed (see [`Invariant::per_node`]).
    pub fn per_node(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(NodeId, &N, &View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::per_node(name, doc, check))
    }

    /// Adds an invariant checked once, when the run ends.
    pub fn at_end(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::at_end(name, doc, check))
    }

    /// Adds a liveness property that must hold `within` after the last
    /// fault ended and the last client operation arrived and began (see
    /// [`Invariant::eventually`]).
    pub fn eventually(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        within: crate::time::Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::eventually(name, doc, within, check))
    }

    /// Adds a liveness property in the crash-stop model, which a node
    /// crashed for good does not hold off (a failure detector's
    /// completeness; see [`Invariant::eventually_despite_crashes`]).
    pub fn eventually_despite_crashes(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        within: crate::time::Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::eventually_despite_crashes(
            name, doc, within, check,
        ))
    }

    /// Adds a liveness property of the system's own (a leader is elected),
    /// judged `within` after the last fault ended even while client
    /// operations arrive (see [`Invariant::eventually_amid_workload`]).
    pub fn eventually_amid_workload(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        within: crate::time::Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::eventually_amid_workload(
            name, doc, within, check,
        ))
    }

    /// Adds a global invariant that keeps a summary across the run so it
    /// costs what changed (see [`Invariant::monitor`]). Its summary sees
    /// every state a path passes through, so `dsim explore` takes every
    /// order of steps under it (no partial-order reduction: see
    /// [`crate::explore::Options::reduction`]); an `always` over the
    /// state alone leaves the reduction on.
    pub fn monitor<S: std::hash::Hash + Clone + Send + 'static>(
        self,
        name: impl Into<String>,
        doc: impl Into<String>,
        init: impl Fn() -> S + Send + Sync + 'static,
        step: impl Fn(&mut S, &View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::monitor(name, doc, init, step))
    }

    /// The invariants, in registration order.
    pub fn invariants(&self) -> impl Iterator<Item = &Invariant<N>> {
        self.invariants.iter()
    }

    /// Takes the invariants out, to evaluate them elsewhere (in a test).
    pub fn into_invariants(self) -> Vec<Invariant<N>> {
        self.invariants
    }

    /// Takes every message's fate from a recorded schedule (schedule
    /// replay) instead of the network's random stream.
    pub fn follow(&mut self, schedule: Arc<Schedule>) {
        self.schedule = Some(schedule);
    }

    /// Refuses two invariants of one name: a name is how a check is
    /// selected (`--check`) and reported, so one of the two would be
    /// unreachable or its verdict ambiguous.
    pub(crate) fn invariant_names_unique(&self) -> Result<(), SimError> {
        for (i, inv) in self.invariants.iter().enumerate() {
            if self.invariants[..i].iter().any(|o| o.name == inv.name) {
                let hint = if inv.is_history() && inv.name == "linearizable" {
                    " (a simulation that checks linearizability itself needs no `[check] linearizable` in its scenario)"
                } else {
                    ""
                };
                return Err(SimError::Config(format!(
                    "two invariants are named `{}`: names must be unique, since they select and report checks{hint}",
                    inv.name
                )));
            }
        }
        Ok(())
    }

    /// Keeps only the invariants whose names `keep` accepts.
    pub fn retain_invariants(&mut self, keep: impl Fn(&str) -> bool) {
        self.invariants.retain(|inv| keep(&inv.name));
    }

    /// Keeps only the named invariants. A name that matches no invariant
    /// is an error (with the nearest name), never a check silently left
    /// out.
    pub fn select_invariants(&mut self, names: &[String]) -> Result<(), SimError> {
        let known: Vec<&str> = self.invariants.iter().map(|i| i.name.as_str()).collect();
        for name in names {
            if !known.contains(&name.as_str()) {
                let hint = crate::names::did_you_mean(name, known.iter().copied(), '`');
                return Err(SimError::Config(format!(
                    "there is no invariant `{name}`{hint}; the invariants are {}",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )));
            }
        }
        self.retain_invariants(|n| names.iter().any(|k| k == n));
        Ok(())
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut SimConfig {
        &mut self.config
    }

    /// The trace header this simulation writes.
    pub fn header(&self) -> Header {
        let net = &self.config.network;
        let fifo_default = net.default.ordering == crate::network::Ordering::Fifo;
        let mut fifo_exceptions: Vec<(NodeId, NodeId)> = net
            .links
            .iter()
            .filter(|(a, b, _)| net.is_fifo(*a, *b) != fifo_default)
            .map(|(a, b, _)| (*a, *b))
            .collect();
        fifo_exceptions.sort_unstable();
        fifo_exceptions.dedup();
        Header {
            format_version: FORMAT_VERSION,
            protocol: self.config.protocol.clone(),
            seed: self.config.seed,
            // A lane per process: twins' extra instances come after the nodes.
            nodes: self.config.processes(),
            scenario: self.config.scenario.clone(),
            config: self.config.config_text.clone(),
            drawn: self.config.drawn.clone(),
            fifo_default,
            fifo_exceptions,
            vector_clocks: self.config.vector_clocks,
            replay: self.config.replay.clone(),
        }
    }

    /// Runs without keeping a trace. Vector clocks are not kept either:
    /// nothing could read them.
    pub fn run(&self) -> Result<Outcome, SimError> {
        let (outcome, _, _) = self.run_inner_with(&mut NullSink::default(), false)?;
        Ok(outcome)
    }

    /// [`Simulation::run`], keeping only the run's digest
    /// ([`Outcome::digest`]): what a sweep runs a seed with.
    pub fn run_digest(&self) -> Result<Outcome, SimError> {
        let mut sink = crate::trace::Digest::new(NullSink::default());
        let (mut outcome, _, _) = self.run_inner_with(&mut sink, false)?;
        outcome.digest = Some(sink.digest());
        Ok(outcome)
    }

    /// [`Simulation::run_traced`], with the run's digest too: the same
    /// digest [`Simulation::run_digest`] gives.
    pub fn run_traced_digest<W: Write>(
        &self,
        out: W,
        key: Option<&[u8]>,
    ) -> Result<(Outcome, W), SimError> {
        let writer = TraceWriter::new(out, &self.header(), key)?;
        let mut sink = crate::trace::Digest::new(writer);
        let (mut outcome, end_time, _) = self.run_inner(&mut sink)?;
        outcome.digest = Some(sink.digest());
        let (out, hash) = sink.into_inner().finish(outcome.end, end_time)?;
        outcome.trace_hash = Some(hash);
        Ok((outcome, out))
    }

    /// [`Simulation::run`], handing back every node's final state too
    /// (`None` for a node that ended crashed).
    pub fn run_with_states(&self) -> Result<(Outcome, Vec<Option<N>>), SimError> {
        let (outcome, _, nodes) = self.run_inner_with(&mut NullSink::default(), false)?;
        Ok((outcome, nodes))
    }

    /// Runs and streams the trace to `out`; `key` makes its chain a MAC.
    /// Returns the writer so a caller can recover an in-memory buffer.
    pub fn run_traced<W: Write>(
        &self,
        out: W,
        key: Option<&[u8]>,
    ) -> Result<(Outcome, W), SimError> {
        let (outcome, out, _) = self.run_traced_with_states(out, key)?;
        Ok((outcome, out))
    }

    /// [`Simulation::run_traced`], handing back every node's final state.
    #[allow(clippy::type_complexity)]
    pub fn run_traced_with_states<W: Write>(
        &self,
        out: W,
        key: Option<&[u8]>,
    ) -> Result<(Outcome, W, Vec<Option<N>>), SimError> {
        let mut writer = TraceWriter::new(out, &self.header(), key)?;
        let (mut outcome, end_time, nodes) = self.run_inner(&mut writer)?;
        let (out, hash) = writer.finish(outcome.end, end_time)?;
        outcome.trace_hash = Some(hash);
        Ok((outcome, out, nodes))
    }

    /// Runs with records going to any sink.
    pub fn run_into<S: Sink>(&self, sink: &mut S) -> Result<Outcome, SimError> {
        let (outcome, end_time, _) = self.run_inner(sink)?;
        let end = Record {
            time: end_time,
            kind: Kind::End {
                reason: outcome.end,
                records: outcome.stats.records,
            },
        };
        sink.record(&end)?;
        Ok(outcome)
    }

    #[allow(clippy::type_complexity)]
    fn run_inner<S: Sink>(
        &self,
        sink: &mut S,
    ) -> Result<(Outcome, Instant, Vec<Option<N>>), SimError> {
        self.run_inner_with(sink, self.config.vector_clocks)
    }

    #[allow(clippy::type_complexity)]
    fn run_inner_with<S: Sink>(
        &self,
        sink: &mut S,
        vector_clocks: bool,
    ) -> Result<(Outcome, Instant, Vec<Option<N>>), SimError> {
        self.config.validate().map_err(SimError::Config)?;
        self.invariant_names_unique()?;
        if vector_clocks {
            crate::config::vector_clock_cost(self.config.processes()).map_err(SimError::Config)?;
        }
        let mut world = World::new(self, &mut *sink, vector_clocks);
        let end = world.run()?;
        let time = world.now;
        let unscripted = world.network.unscripted();
        let unfollowed = world.unfollowed;
        let inputs_at_down = world.inputs_at_down;
        let clocks_held = std::mem::take(&mut world.clocks_held);
        let aimed_at_none = std::mem::take(&mut world.aimed_at_none);
        let planned_missed = world.planned_missed();
        let untriggered = world.untriggered();
        let checks = world.check_reports(end);
        // The nodes' states; twins' extra instances are not nodes.
        world.nodes.truncate(self.config.nodes as usize);
        Ok((
            Outcome {
                end,
                failure: world.failure,
                checks,
                stats: world.stats,
                trace_hash: None,
                digest: None,
                unscripted,
                unfollowed,
                inputs_at_down,
                clocks_held,
                aimed_at_none,
                planned_missed,
                untriggered,
            },
            time,
            world.nodes,
        ))
    }
}
