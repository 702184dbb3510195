//! Protocol invariants: named, documented predicates over node states,
//! checked by the kernel between events.
//!
//! Each invariant is declared once, where it is registered, with its name
//! and a one-line doc; the documented list a protocol shows (`dsim
//! protocols`) is read from the registrations, so the two cannot drift.
//!
//! | kind | checked | for |
//! |---|---|---|
//! | [`Invariant::always`] | after every event and at the end | safety over the whole world |
//! | [`Invariant::per_node`] | after each event, for the node it changed; at the end for every node | safety of one node's state, at the cost of that node only |
//! | [`Invariant::at_end`] | once, when the run ends | properties of the final state |
//! | [`Invariant::eventually`] | `within` after the last fault ended and the last client operation arrived and began | liveness: "once the network is calm, everyone agrees" |
//! | [`Invariant::monitor`] | after every event and at the end, with a summary it keeps across the run | global properties at the cost of what changed |
//!
//! An invariant that could not be evaluated (an `eventually` whose deadline
//! the run never reached, an end-of-run check of a run that failed earlier)
//! is reported as *not run*, never as held.
//!
//! ```
//! use dsim::{Duration, View};
//! use dsim::invariant::Invariant;
//! # use dsim::{Context, Node, NodeId};
//! # struct Counter { n: u32 }
//! # impl Node for Counter { type Msg = (); type Timer = ();
//! #   fn on_start(&mut self, _: &mut Context<'_, Self>) {}
//! #   fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {} }
//! let small = Invariant::<Counter>::always("small", "no counter exceeds 10", |v| {
//!     match v.up().find(|(_, c)| c.n > 10) {
//!         Some((id, c)) => Err(format!("{id} counted {}", c.n)),
//!         None => Ok(()),
//!     }
//! });
//! // Invariants are plain functions of a view, testable on their own.
//! let nodes = vec![Some(Counter { n: 3 }), Some(Counter { n: 11 })];
//! assert!(small.check(&View::new(&nodes)).is_err());
//! ```

use crate::node::NodeId;
use crate::time::{Duration, Instant};
use crate::trace::EndReason;
use std::any::Any;
use std::hash::{Hash, Hasher};

/// When an invariant is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// After every event, and at the end of the run.
    Always,
    /// After every event for the node the event changed, and at the end
    /// for every node that is up.
    PerNode,
    /// Only at the end of the run (properties of the final state).
    AtEnd,
    /// `within` after the last fault ended and the last client operation
    /// arrived and began (liveness); not evaluated on a run that ends, by a limit,
    /// before that deadline. `amid_workload`: after the last fault alone.
    /// `despite_crashes`: a node crashed for good does not hold it off
    /// (the crash-stop model): `within` after the last partition or cut
    /// wire ended and the last crash or restart happened.
    Eventually {
        within: Duration,
        amid_workload: bool,
        despite_crashes: bool,
    },
}

impl When {
    /// Words for people: "always", "at the end", ...
    pub fn describe(self) -> String {
        match self {
            When::Always => "after every event".into(),
            When::PerNode => "after every event, for the node it changed".into(),
            When::AtEnd => "at the end of the run".into(),
            When::Eventually {
                within,
                amid_workload,
                despite_crashes,
            } => format!(
                "{within} after the last fault {}{}",
                match despite_crashes {
                    true => "began or ended, nodes down left down,",
                    false => "ended",
                },
                match amid_workload {
                    true => "",
                    false => " and the last client operation arrived and began",
                }
            ),
        }
    }
}

type ViewCheck<N> = Box<dyn Fn(&View<'_, N>) -> Result<(), String> + Send + Sync>;
type NodeCheck<N> = Box<dyn Fn(NodeId, &N, &View<'_, N>) -> Result<(), String> + Send + Sync>;
type MonitorInit = Box<dyn Fn() -> Box<dyn Any + Send> + Send + Sync>;
type HistoryCheck = Box<dyn Fn(&[HistoryEntry]) -> HistoryVerdict + Send + Sync>;

/// What a check of the clients' history found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryVerdict {
    Held,
    Failed(String),
    /// Failed, and no later event could have changed that: the history
    /// stops being explainable at this record (a linearizability
    /// violation's completion). A crash only after it is not named as a
    /// possible cause.
    FailedAt(u64, String),
    /// It could not tell (its search ran out of budget): not run, and why.
    Unknown(String),
}

/// One client history event as the kernel recorded it: the index of its
/// `Op` record in the trace, the node that recorded it, and the event.
pub type HistoryEntry = (u64, NodeId, crate::history::Op);
type MonitorStep<N> =
    Box<dyn Fn(&mut (dyn Any + Send), &View<'_, N>) -> Result<(), String> + Send + Sync>;
type MonitorHash = Box<dyn Fn(&(dyn Any + Send), &mut dyn Hasher) + Send + Sync>;
type MonitorClone = fn(&(dyn Any + Send)) -> Option<MonitorState>;

enum Predicate<N> {
    View(ViewCheck<N>),
    Node(NodeCheck<N>),
    Monitor {
        init: MonitorInit,
        step: MonitorStep<N>,
        hash: MonitorHash,
        clone: MonitorClone,
    },
    History(HistoryCheck),
}

/// A monitor's summary during one run.
pub(crate) type MonitorState = Box<dyn Any + Send>;

/// A named, documented predicate over the nodes' states.
pub struct Invariant<N> {
    pub name: String,
    /// One line: what it promises.
    pub doc: String,
    pub when: When,
    check: Predicate<N>,
    /// It judges the clients' operations: on a run that recorded none it
    /// is reported as not run, as a history check is, never as held.
    over_operations: bool,
}

impl<N> Invariant<N> {
    fn of(
        name: impl Into<String>,
        doc: impl Into<String>,
        when: When,
        check: Predicate<N>,
    ) -> Self {
        Invariant {
            name: name.into(),
            doc: doc.into(),
            when,
            check,
            over_operations: false,
        }
    }

    /// This check judges the clients' operations ([`View::history`]): a
    /// run that recorded none reports it as not run, with why, as it does
    /// a history check, never as held over nothing.
    pub fn over_operations(mut self) -> Invariant<N> {
        self.over_operations = true;
        self
    }

    /// True for a check of the clients' history, or of their operations
    /// ([`Invariant::over_operations`]): not judged on a run without one.
    pub fn needs_operations(&self) -> bool {
        self.over_operations || self.is_history()
    }

    /// Checked after every event and at the end.
    pub fn always(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant::of(name, doc, When::Always, Predicate::View(Box::new(check)))
    }

    /// Checked once, when the run ends.
    pub fn at_end(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant::of(name, doc, When::AtEnd, Predicate::View(Box::new(check)))
    }

    /// Liveness: must hold `within` after the world is calm — the last
    /// fault ended (a heal, a restart, a restored wire) and the last client
    /// operation arrived and began (a client that queues what the workload
    /// hands it begins some later: its [`crate::Context::invoke`] counts)
    /// — as long as no new fault begins and no new operation arrives or
    /// begins. As a quiet-system check does, it judges a system left to
    /// settle, never work in progress. Checked at that deadline; on
    /// a run that goes quiet earlier, at the end. A run that a limit ends
    /// before the deadline, or that ends with a fault still in force, does
    /// not evaluate it and says so.
    pub fn eventually(
        name: impl Into<String>,
        doc: impl Into<String>,
        within: Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        let when = When::Eventually {
            within,
            amid_workload: false,
            despite_crashes: false,
        };
        Invariant::of(name, doc, when, Predicate::View(Box::new(check)))
    }

    /// Liveness in the crash-stop model: as [`Invariant::eventually`], but
    /// a node crashed for good does not hold it off. It must hold `within`
    /// after the last partition or cut wire ended, the last crash or
    /// restart happened and the last client operation arrived and began, with the
    /// nodes then down left down: a failure detector's completeness (every
    /// node down is suspected by every node up), a leader among the nodes
    /// that survive. A run that ends with a node down judges it; one that
    /// ends partitioned does not, and says so. Under exploration, where a
    /// crashed node may always restart, a state where nothing more can
    /// happen has every node up, and it is judged there as `eventually`.
    pub fn eventually_despite_crashes(
        name: impl Into<String>,
        doc: impl Into<String>,
        within: Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant::eventually(name, doc, within, check).despite_crashes()
    }

    /// This liveness check in the crash-stop model (see
    /// [`Invariant::eventually_despite_crashes`]): so
    /// `Invariant::eventually_amid_workload(..).despite_crashes()` is a
    /// leader elected among the nodes that survive, judged while clients
    /// still call. Other kinds of check do not wait for calm, and are
    /// left as they are.
    pub fn despite_crashes(mut self) -> Invariant<N> {
        if let When::Eventually {
            despite_crashes, ..
        } = &mut self.when
        {
            *despite_crashes = true;
        }
        self
    }

    /// Liveness of the system's own, not of the work it is given (a
    /// leader is elected): must hold `within` after the last fault ended,
    /// even while client operations still arrive or begin. Clients that
    /// begin operations of their own until the run ends leave an
    /// [`Invariant::eventually`] not run; this one is judged among them.
    /// Otherwise as [`Invariant::eventually`].
    pub fn eventually_amid_workload(
        name: impl Into<String>,
        doc: impl Into<String>,
        within: Duration,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        let when = When::Eventually {
            within,
            amid_workload: true,
            despite_crashes: false,
        };
        Invariant::of(name, doc, when, Predicate::View(Box::new(check)))
    }

    /// A property of one node's state: after each event it is checked for
    /// the node that event changed only, so it costs what changed; at the
    /// end it is checked for every node that is up.
    pub fn per_node(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(NodeId, &N, &View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant::of(name, doc, When::PerNode, Predicate::Node(Box::new(check)))
    }

    /// A global property kept cheap by a summary of the run so far: `step`
    /// sees each new state and the summary (a fresh `init()` per run), and
    /// looks only at what changed ([`View::touched`]). After every event and
    /// at the end, like [`Invariant::always`].
    ///
    /// The summary is part of the run's state: `dsim explore` tells two
    /// states apart by it (two paths that reach the same nodes but saw
    /// different histories are different states to a monitor), hence
    /// `Hash`; and it copies a state with the summary in it rather than
    /// run the path to it again, hence `Clone`.
    pub fn monitor<S: Hash + Clone + Send + 'static>(
        name: impl Into<String>,
        doc: impl Into<String>,
        init: impl Fn() -> S + Send + Sync + 'static,
        step: impl Fn(&mut S, &View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        let step: MonitorStep<N> = Box::new(move |state, view| match state.downcast_mut::<S>() {
            Some(s) => step(s, view),
            None => Err("a monitor was handed another monitor's state".into()),
        });
        Invariant::of(
            name,
            doc,
            When::Always,
            Predicate::Monitor {
                init: Box::new(move || Box::new(init())),
                step,
                hash: Box::new(|state, mut h| {
                    if let Some(s) = state.downcast_ref::<S>() {
                        s.hash(&mut h);
                    }
                }),
                clone: |state| {
                    let s = state.downcast_ref::<S>()?;
                    Some(Box::new(s.clone()))
                },
            },
        )
    }

    /// A property of the clients' history (linearizability, say): checked
    /// once, at the end, over every operation the nodes recorded with
    /// [`crate::Context::invoke`] and [`crate::Context::complete`].
    pub fn history(
        name: impl Into<String>,
        doc: impl Into<String>,
        check: impl Fn(&[HistoryEntry]) -> HistoryVerdict + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant::of(name, doc, When::AtEnd, Predicate::History(Box::new(check)))
    }

    /// True for a check of the clients' history.
    pub fn is_history(&self) -> bool {
        matches!(self.check, Predicate::History(_))
    }

    /// Evaluates a history check over `history` (other invariants hold).
    pub fn check_history(&self, history: &[HistoryEntry]) -> HistoryVerdict {
        match &self.check {
            Predicate::History(f) => f(history),
            _ => HistoryVerdict::Held,
        }
    }

    /// A fresh summary for a monitor; `None` for other invariants.
    pub(crate) fn new_state(&self) -> Option<MonitorState> {
        match &self.check {
            Predicate::Monitor { init, .. } => Some(init()),
            _ => None,
        }
    }

    /// A copy of a monitor's summary; `None` for other invariants (and for
    /// a summary not of this monitor's type, which never happens).
    pub(crate) fn clone_state(&self, state: &(dyn Any + Send)) -> Option<MonitorState> {
        match &self.check {
            Predicate::Monitor { clone, .. } => clone(state),
            _ => None,
        }
    }

    /// Feeds a monitor's summary to `h` (nothing for other invariants).
    pub(crate) fn hash_state(&self, state: &(dyn Any + Send), h: &mut dyn Hasher) {
        if let Predicate::Monitor { hash, .. } = &self.check {
            hash(state, h);
        }
    }

    /// Evaluates the invariant over `view`: a per-node invariant for the
    /// nodes the view says were touched; a monitor from a fresh summary
    /// (so it sees every node at once). For testing invariants alone.
    pub fn check(&self, view: &View<'_, N>) -> Result<(), String> {
        let mut state = self.new_state();
        self.check_with(state.as_deref_mut(), view)
    }

    /// Evaluates with a monitor's summary of the run so far.
    pub(crate) fn check_with(
        &self,
        state: Option<&mut (dyn Any + Send)>,
        view: &View<'_, N>,
    ) -> Result<(), String> {
        match &self.check {
            Predicate::View(f) => f(view),
            Predicate::Node(f) => view.touched().try_for_each(|(id, n)| f(id, n, view)),
            Predicate::Monitor { step, .. } => match state {
                Some(s) => step(s, view),
                None => Err("a monitor was run without its state".into()),
            },
            // Needs the history, which a view does not hold: see
            // `check_history`.
            Predicate::History(_) => Ok(()),
        }
    }
}

/// Which faults are in force, and since when the world is calm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultState {
    /// Partitions in force.
    pub partitions: u32,
    /// Nodes crashed and not restarted.
    pub down: u32,
    /// Topology wires cut and not restored.
    pub wires_cut: u32,
    /// Nodes paused and not resumed ([`crate::FaultAction::Pause`]).
    pub paused: u32,
    /// When the latest fault record happened (any kind, skew included).
    pub last_fault: Option<Instant>,
    /// Since when no fault is in force (`None` while one is); the start
    /// of the run if none ever was.
    pub calm_since: Option<Instant>,
    /// Since when no partition, cut wire or pause is in force and no node
    /// has crashed or restarted (`None` while a partition, cut wire or
    /// pause is): calm in the crash-stop model, where a node down stays
    /// down.
    pub settled_since: Option<Instant>,
}

impl FaultState {
    /// True while a partition, a crashed or paused node or a cut wire is
    /// in force. (A clock skew is permanent by nature and does not count.)
    pub fn active(&self) -> bool {
        self.partitions + self.down + self.wires_cut + self.paused > 0
    }
}

/// A read-only look at the world between events.
pub struct View<'a, N> {
    pub(crate) nodes: &'a [Option<N>],
    pub(crate) now: Instant,
    pub(crate) in_flight: usize,
    pub(crate) end: Option<EndReason>,
    pub(crate) changed: Option<NodeId>,
    pub(crate) faults: FaultState,
    /// Byzantine nodes, by id (empty: none). Their state is hidden.
    pub(crate) byzantine: &'a [bool],
    /// The clients' history so far, when the simulation shows it.
    pub(crate) history: Option<&'a [HistoryEntry]>,
    /// What each node's local clock reads now.
    pub(crate) clocks: Readings<'a>,
}

/// Where a [`View`] reads the nodes' local clocks from.
#[derive(Clone, Copy)]
pub(crate) enum Readings<'a> {
    /// A hand-built view that was given none.
    None,
    /// A hand-built view's, by node id.
    Given(&'a [Instant]),
    /// The kernel's clocks, read at the view's time.
    Live(&'a dyn Fn(NodeId) -> Option<Instant>),
}

impl<'a, N> View<'a, N> {
    /// A view of hand-built node states (`None` for a crashed node), for
    /// testing invariants on their own: time zero, nothing in flight, no
    /// fault ever, the run still going. The `with_*` methods change that.
    pub fn new(nodes: &'a [Option<N>]) -> View<'a, N> {
        View {
            nodes,
            now: Instant::ZERO,
            in_flight: 0,
            end: None,
            changed: None,
            faults: FaultState {
                calm_since: Some(Instant::ZERO),
                settled_since: Some(Instant::ZERO),
                ..FaultState::default()
            },
            byzantine: &[],
            history: None,
            clocks: Readings::None,
        }
    }

    /// The same view with these local clock readings (`clocks[i]` for
    /// node `i`), for [`View::clock`].
    pub fn with_clocks(mut self, clocks: &'a [Instant]) -> Self {
        self.clocks = Readings::Given(clocks);
        self
    }

    /// What node `id`'s local clock reads now: virtual time with the
    /// offset and drift its clock skews gave it, what
    /// [`crate::Context::now`] returns in its handlers. A crashed node's
    /// clock runs on. `None` for an id the simulation does not have, and
    /// in a view built by hand without [`View::with_clocks`]. A check of a
    /// clock-synchronization protocol reads here what each node's
    /// corrected clock shows at one instant: a node's state holds its
    /// correction, not the time.
    pub fn clock(&self, id: NodeId) -> Option<Instant> {
        match self.clocks {
            Readings::None => None,
            Readings::Given(c) => c.get(id.index()).copied(),
            Readings::Live(read) => read(id),
        }
    }

    /// The same view with this clients' history ([`View::history`]).
    pub fn with_history(mut self, history: &'a [HistoryEntry]) -> Self {
        self.history = Some(history);
        self
    }

    /// The clients' history so far, in the order it was recorded: each
    /// operation event (invoke, then ok, fail or info) with its record's
    /// number and the node that recorded it. `None` unless the simulation
    /// shows it ([`crate::Simulation::history_in_view`]), so a check that
    /// needs it cannot pass in silence without it. Under exploration two
    /// states whose histories differ only in how events of different
    /// processes interleave, neither ordered before the other in real
    /// time, may be merged: a check should read what each process did and
    /// what completed before what, not the record numbers.
    pub fn history(&self) -> Option<&'a [HistoryEntry]> {
        self.history
    }

    /// The same view with these nodes byzantine (`byzantine[i]` for node
    /// `i`): their states are hidden from the checks.
    pub fn with_byzantine(mut self, byzantine: &'a [bool]) -> Self {
        self.byzantine = byzantine;
        self
    }

    /// True when `id` is byzantine (see [`crate::adversary`]). A byzantine
    /// node may do anything, so invariants speak of the honest nodes:
    /// [`View::node`] and [`View::up`] leave byzantine ones out.
    pub fn is_byzantine(&self, id: NodeId) -> bool {
        self.byzantine.get(id.index()).copied().unwrap_or(false)
    }

    /// The same view at virtual time `now`.
    pub fn at(mut self, now: Instant) -> Self {
        self.now = now;
        self
    }

    /// The same view with `n` messages in flight.
    pub fn with_in_flight(mut self, n: usize) -> Self {
        self.in_flight = n;
        self
    }

    /// The same view as the end-of-run check of a run that ended so.
    pub fn with_end(mut self, end: EndReason) -> Self {
        self.end = Some(end);
        self
    }

    /// The same view, after an event that changed node `id`.
    pub fn with_changed(mut self, id: NodeId) -> Self {
        self.changed = Some(id);
        self
    }

    /// The same view with these faults in force.
    pub fn with_faults(mut self, faults: FaultState) -> Self {
        self.faults = faults;
        self
    }

    /// The state of `id`, or `None` while it is crashed or if it is
    /// byzantine.
    pub fn node(&self, id: NodeId) -> Option<&'a N> {
        if self.is_byzantine(id) {
            return None;
        }
        self.nodes.get(id.index()).and_then(|n| n.as_ref())
    }

    /// Every honest node that is up, with its id.
    pub fn up(&self) -> impl Iterator<Item = (NodeId, &'a N)> + 'a {
        let byzantine = self.byzantine;
        self.nodes.iter().enumerate().filter_map(move |(i, n)| {
            if byzantine.get(i).copied().unwrap_or(false) {
                return None;
            }
            n.as_ref().map(|n| (NodeId(i as u32), n))
        })
    }

    /// How many nodes the simulation has, up or not.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The node whose handler the last event ran (or that crashed or
    /// restarted); `None` after a network fault and at the end.
    pub fn changed(&self) -> Option<NodeId> {
        self.changed
    }

    /// The nodes an incremental check must look at: the one the last event
    /// changed (if it is up), or every node that is up at the end and
    /// whenever no single node changed.
    pub fn touched(&self) -> Box<dyn Iterator<Item = (NodeId, &'a N)> + 'a> {
        match self.changed.filter(|_| self.end.is_none()) {
            Some(id) => Box::new(self.node(id).map(|n| (id, n)).into_iter()),
            None => Box::new(self.up()),
        }
    }

    /// True while any partition is in force.
    pub fn is_partitioned(&self) -> bool {
        self.faults.partitions > 0
    }

    /// Which faults are in force, and since when the world is calm.
    pub fn faults(&self) -> FaultState {
        self.faults
    }

    /// True while a partition, a crashed node or a cut wire is in force.
    pub fn fault_active(&self) -> bool {
        self.faults.active()
    }

    /// How long no fault has been in force (`None` while one is).
    pub fn calm_for(&self) -> Option<Duration> {
        self.faults.calm_since.map(|t| self.now.since(t))
    }

    /// Messages still travelling.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// True during the end-of-run check.
    pub fn is_end(&self) -> bool {
        self.end.is_some()
    }

    /// How the run ended, during the end-of-run check.
    pub fn end(&self) -> Option<EndReason> {
        self.end
    }

    /// True at the end of a run that ran out of events: nothing more would
    /// ever have happened.
    pub fn is_quiescent(&self) -> bool {
        self.end == Some(EndReason::Quiescent)
    }

    /// True at the end of a run that a time or event limit cut short, or
    /// that was interrupted.
    pub fn was_cut_short(&self) -> bool {
        matches!(
            self.end,
            Some(EndReason::TimeLimit | EndReason::EventLimit | EndReason::Interrupted)
        )
    }
}
