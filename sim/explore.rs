//! Bounded exhaustive exploration: every order of events a protocol can
//! see under asynchronous semantics, to a depth.
//!
//! The network is an unordered pool of messages in flight; a state's
//! enabled actions are: deliver any message, fire any pending timer that
//! no timer of its own node falls due before (one set no later, for no
//! longer: a node's timers keep the order their lengths fix, as DSLabs'
//! checker keeps them; other nodes' timers come in any order) — past
//! [`crate::config::Budgets::early_timers`], only when no message is in
//! flight and no task ready —, issue the next client operation, and,
//! within budgets, drop or duplicate a message, crash a node, restart a
//! crashed one (see
//! [`crate::config::Strategy::Explore`]). The search is breadth-first (a
//! counterexample found is a shortest one) or depth-first, to a depth
//! bound and a state budget.
//!
//! A path is the index of the action taken at each step. When the nodes
//! can be copied ([`crate::Simulation::cloneable`], every built-in) a state
//! is reached one step from a copy of its parent; when they cannot (an
//! async node's futures) by running its path again from the start (its
//! parent's last child steps from the parent itself), so any node can be
//! explored. Both reach the same state: the first states are reached both
//! ways and compared (below). Each state is
//! fingerprinted (node states, disks, random streams, timers, the multiset
//! of messages in flight, the faults spent) and explored once. A node
//! state is hashed when the nodes hash ([`crate::Simulation::hashable`]);
//! when they do not (an async node's futures), a node is known by what it
//! has been handed since it was built — each message, timer, operation
//! and task step in order, with where its random stream and clock stood
//! and the disk it started from — which decides its state, since a node
//! is deterministic. Two paths that hand every node the same events in
//! the same order are then one state, however they interleave the nodes;
//! hashing the nodes merges more (different events that lead to the same
//! state).
//!
//! Steps that commute are not taken in every order (partial-order
//! reduction, [`Options::reduction`]): two steps at different nodes that
//! do not both record a client operation's event reach the same state in
//! either order, so once one order is taken from a state the other is not
//! taken again from its successors (Godefroid's sleep sets; a state met
//! again on a path that does not sleep a step its first path slept is
//! explored again for that step). Every state is still reached and
//! checked, fewer times. Under monitors nothing is reduced: a summary sees
//! every state a path passes through ([`Report::reduction_off`]).
//!
//! Invariants are checked after every step, the clients' history whenever
//! it grows, and the end-of-run checks at states where nothing more can
//! happen. `eventually` checks are judged there too, and after a *settle*
//! from each state explored ([`crate::config::Budgets::settle`]): the
//! path goes on without faults (ready tasks run, copies delivered oldest
//! first, the operations left handed out, the timer due first fired when
//! nothing else can happen) until every `eventually` check due holds at
//! once; one that never does within the budget is a violation whose path
//! is the state's, then the settle's. So a protocol whose timers never
//! stop, where no path comes to rest, has its liveness judged. Settles
//! meet: one about to hand out an operation in a state where another's
//! did and went on to hold stops there. The first states are each reached twice and compared, to catch
//! a handler that is not deterministic (as DSLabs does) or a `Clone` that
//! is not a copy. A violation's path
//! becomes an ordinary trace that `dsim replay` reruns exactly.
//!
//! ```
//! use dsim::explore::{search, Options};
//! use dsim::{Budgets, Context, Node, NodeId, SimConfig, Simulation, Strategy};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)] struct Hi;
//! #[derive(Clone, Hash)]
//! struct Count(u32);
//! impl Node for Count {
//!     type Msg = Hi;
//!     type Timer = ();
//!     fn on_start(&mut self, c: &mut Context<'_, Self>) { c.broadcast(&Hi) }
//!     fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Hi) { self.0 += 1 }
//! }
//! let mut config = SimConfig::new(0, 3);
//! config.strategy = Strategy::Explore { path: vec![], budgets: Budgets::default() };
//! let sim = Simulation::new(config, |_| Count(0))
//!     .always("at-most-two", "no node hears more than two his", |v| {
//!         match v.up().all(|(_, n)| n.0 <= 2) { true => Ok(()), false => Err("three".into()) }
//!     })
//!     .hashable()
//!     .cloneable();
//! let report = search(&sim, &Options::default()).unwrap();
//! assert!(report.violation.is_none() && report.complete);
//! // Six messages, delivered in every order: each subset of them
//! // delivered is one state, 2^6 = 64.
//! assert_eq!(report.counts.unique, 64);
//! ```

use crate::node::Node;
use crate::scheduler::{Action, Evaluated, Settled, SimError, Simulation, Stepper, Touch};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;

/// The order states are explored in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub enum Order {
    /// Breadth-first: a violation found is one of the shortest.
    #[default]
    Bfs,
    /// Depth-first: less memory, deep states sooner.
    Dfs,
}

/// Told how a search goes.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How far to explore.
#[derive(Clone)]
pub struct Options {
    pub order: Order,
    /// Paths longer than this are not extended.
    pub depth: usize,
    /// Stop after this many distinct states.
    pub max_states: u64,
    /// Reach this many of the first states twice and compare them.
    pub determinism_checks: u64,
    /// Set from outside (Ctrl-C) to stop, keeping what was covered.
    pub interrupted: Option<Arc<AtomicBool>>,
    /// Told how the search goes, every few hundred states.
    pub progress: Option<ProgressFn>,
    /// A delivery its node ignores (it changes nothing and sends nothing)
    /// is not a step: the message stays in flight, to be delivered later,
    /// as in stateright's actor models. Off, a delivery always consumes
    /// its message, as a real network does. Needs nodes that hash.
    pub ignored_stay: bool,
    /// Depth-first, how many waiting states are kept whole, ready to step
    /// from; past it a waiting state is kept as its path, and run again
    /// from the start when its turn comes. A kept state costs what the
    /// world holds (kilobytes: nodes, messages in flight, disks), a path a
    /// few bytes a step. A depth-first search waits on a few states a
    /// level, so this bounds memory only on very deep searches;
    /// breadth-first keeps none, its frontier being wide (kept whole, a
    /// million waiting states took gigabytes, and were no faster).
    pub kept_states: usize,
    /// Partial-order reduction (sleep sets): a step is not taken from a
    /// state when another order of the same steps, already taken, reaches
    /// what it would (two steps that touch different nodes, and do not
    /// both record a client operation's event, commute). Every state is
    /// still reached and checked, only fewer times; off, every order is
    /// taken. Does nothing under monitors or an adversary (see
    /// [`Report::reduction_off`]) or with `ignored_stay`.
    pub reduction: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            order: Order::Bfs,
            depth: 20,
            max_states: 1_000_000,
            determinism_checks: 100,
            interrupted: None,
            progress: None,
            ignored_stay: false,
            kept_states: 10_000,
            reduction: true,
        }
    }
}

/// The search's counters, as it goes and at its end.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    /// States reached, counting every time a state was reached.
    pub states: u64,
    /// Distinct states (by fingerprint).
    pub unique: u64,
    /// Deliveries left in flight because their node ignored them (with
    /// [`Options::ignored_stay`]).
    pub ignored: u64,
    /// States reached by firing a timer early, while a message was in
    /// flight or a task ready (counted among `states`).
    pub early: u64,
    /// Steps not taken by partial-order reduction: another order of the
    /// same steps reached what they would have reached.
    pub slept: u64,
    /// States explored a second time, for steps asleep when they were
    /// first explored and not asleep on a later path to them.
    pub again: u64,
    /// The deepest path explored.
    pub depth: usize,
    /// Paths waiting to be explored.
    pub frontier: u64,
}

/// A violation: the path to it, and what failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Found {
    pub path: Vec<u32>,
    /// The actions of the path, for people: each with the message or
    /// timer tag it carries.
    pub steps: Vec<String>,
    /// The copies still in flight when the check failed, each with its
    /// message (a reordering bug's overtaken message is among them).
    pub in_flight: Vec<String>,
    pub check: String,
    pub message: String,
    /// The check failed at the path's end, a state where nothing more can
    /// happen: an end-of-run or `eventually` check, judged only there.
    pub at_end: bool,
    /// How many of the path's last steps are a settle
    /// ([`crate::config::Budgets::settle`]) from a state the search
    /// reached; 0 when the path does not end in one. A run of the path
    /// without them, under the same settle budget, settles as the search
    /// did and fails the same way.
    pub settled: usize,
    /// For an `eventually` check, why it was judged where it was.
    pub due: Option<String>,
}

/// What a search covered, and what it found.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    pub order: Order,
    pub depth_bound: usize,
    pub counts: Progress,
    /// States whose successors were not explored because of the depth
    /// bound.
    pub cut_at_depth: u64,
    /// States where nothing more can happen.
    pub terminal: u64,
    /// States whose `eventually` checks a settle judged
    /// ([`crate::config::Budgets::settle`]), the steps the settles took in
    /// all, and the most steps one took.
    pub settled: u64,
    pub settle_steps: u64,
    pub settle_longest: usize,
    /// Whether node states were hashed (the protocol's nodes hash); when
    /// not, each node is known by what it has been handed.
    pub hashed: bool,
    /// When they were not and cannot be, why ([`Node::UNHASHABLE`]).
    pub unhashable: Option<String>,
    /// Whether states were copied from their parents
    /// ([`Simulation::cloneable`]) rather than reached by running their
    /// paths again from the start.
    pub copied: bool,
    /// Why partial-order reduction was not used, if it was not
    /// ([`Options::reduction`]).
    pub reduction_off: Option<String>,
    /// True when every state within the depth bound was explored.
    pub complete: bool,
    /// Why the search stopped before that, if it did.
    pub stopped: Option<String>,
    pub violation: Option<Found>,
    /// The protocol's invariants the search evaluated in some state
    /// (besides handler panics and stalls, always checked): a search that
    /// evaluated none proves nothing about the protocol and says so.
    pub checks: Vec<String>,
    /// The protocol's invariants no state the search reached evaluated
    /// (an end-of-run or `eventually` check, judged only where nothing
    /// more can happen, when no such state was within the bound).
    pub not_evaluated: Vec<String>,
    /// Checks over the clients' operations (a history's, `answered`)
    /// no state evaluated: no state the search reached recorded a client
    /// operation, so the search judged nothing of what they were asked to
    /// judge.
    pub history_not_evaluated: Vec<String>,
    /// Whether a node read its clock (`Context::now`) in some state the
    /// search reached. The search does not model time (a step takes 1 ms,
    /// and timers fire in any order their own node's lengths allow), so
    /// what a protocol decides from its clocks is not explored.
    pub clock_read: bool,
}

/// Why a history check was not judged by a search.
pub const HISTORY_NOT_RUN: &str = "no state the search reached had recorded a client operation \
     (nodes record them with ctx.invoke and ctx.complete)";

impl Report {
    /// Whether the search passes, as `dsim explore` judges it (exit 0): no
    /// violation, and what it was given judged ([`Report::unjudged`]);
    /// else why not. A search stopped by a budget passes on what it
    /// covered (its `stopped` says so). A test of a user's own asserts
    /// this rather than `violation.is_none()`, which a search that
    /// judged nothing also satisfies.
    pub fn pass(&self) -> Result<(), String> {
        if let Some(f) = &self.violation {
            return Err(format!(
                "check `{}` fails after {} steps: {}",
                f.check,
                f.path.len(),
                f.message
            ));
        }
        match self.unjudged() {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Why the search, though it found no violation, cannot pass: a
    /// history check no state judged (as a sweep in which a check ran in
    /// no seed does not pass), or no check judged at all: each one judged
    /// only where nothing more can happen, and no such state reached.
    pub fn unjudged(&self) -> Option<String> {
        if let Some(check) = self.history_not_evaluated.first() {
            return Some(format!(
                "check `{check}` ran in none of the states explored ({HISTORY_NOT_RUN}), so the \
                 search cannot pass on it; raise --depth if the operations come later, or leave \
                 it out (`[check]` or --check name the checks to run)"
            ));
        }
        if !self.checks.is_empty() || self.not_evaluated.is_empty() {
            return None;
        }
        let named: Vec<String> = self
            .not_evaluated
            .iter()
            .map(|c| format!("`{c}`"))
            .collect();
        // Every state explored and none an end: no bound stood in the way.
        let remedy = match self.complete && self.cut_at_depth == 0 {
            true => {
                "every state was explored and in none does nothing more happen, so no bound \
                     will reach one; name a check judged at every state"
            }
            false => {
                "raise --depth or --max-states so that paths end, or name a check judged at \
                      every state"
            }
        };
        Some(format!(
            "no check the search was given ran in any state it explored ({} {}: judged only \
             where nothing more can happen, and it reached no such state), so the search \
             cannot pass; {remedy} (`[check]`, --check)",
            if named.len() == 1 { "check" } else { "checks" },
            named.join(", ")
        ))
    }
}

/// Runs the path from the start: the stepper at its end.
fn replay<'s, N: Node>(sim: &'s Simulation<N>, path: &[u32]) -> Result<Stepper<'s, N>, SimError> {
    let mut st = Stepper::new(sim)?;
    for (step, &choice) in path.iter().enumerate() {
        if st.failure().is_some() {
            break;
        }
        let actions = st.enabled();
        let action = actions.get(choice as usize).cloned().ok_or_else(|| {
            SimError::Config(format!(
                "an explored path no longer fits: {} actions enabled, {choice} chosen",
                actions.len()
            ))
        })?;
        if step + 1 == path.len() {
            st.take(&action)?;
        } else {
            st.retake(&action)?;
        }
    }
    Ok(st)
}

/// The violation at the end of `path`, its steps described from a run of
/// it (each with the message or timer tag it carries, read before the
/// step is taken).
fn found<N: Node>(
    sim: &Simulation<N>,
    path: Vec<u32>,
    failure: &crate::scheduler::Failure,
    at_end: bool,
) -> Result<Found, SimError> {
    let mut st = Stepper::new(sim)?;
    let mut steps = Vec::with_capacity(path.len());
    for &choice in &path {
        let Some(action) = st.enabled().get(choice as usize).cloned() else {
            break;
        };
        steps.push(st.describe(&action));
        st.retake(&action)?;
    }
    Ok(Found {
        path,
        steps,
        in_flight: st.in_flight_described(),
        check: failure.check.clone(),
        message: failure.message.clone(),
        at_end,
        settled: 0,
        due: failure.due.clone(),
    })
}

/// Explores `sim` (whose strategy must be `Explore`) as `options` say.
pub fn search<N: Node>(sim: &Simulation<N>, options: &Options) -> Result<Report, SimError> {
    if !matches!(
        sim.config().strategy,
        crate::config::Strategy::Explore { .. }
    ) {
        return Err(SimError::Config(
            "exploration needs a configuration whose strategy is Explore".into(),
        ));
    }
    sim.invariant_names_unique()?;
    let hashed = sim.is_hashable();
    if options.ignored_stay && !hashed {
        return Err(SimError::Config(IGNORED_NEEDS_HASH.into()));
    }
    let report = Report {
        order: options.order,
        depth_bound: options.depth,
        counts: Progress::default(),
        cut_at_depth: 0,
        terminal: 0,
        settled: 0,
        settle_steps: 0,
        settle_longest: 0,
        hashed,
        unhashable: N::UNHASHABLE.filter(|_| !hashed).map(str::to_string),
        copied: sim.is_cloneable(),
        reduction_off: None,
        complete: false,
        stopped: None,
        violation: None,
        checks: Vec::new(),
        not_evaluated: Vec::new(),
        history_not_evaluated: Vec::new(),
        clock_read: false,
    };
    let mut evaluated = Evaluated {
        checks: vec![false; sim.invariants().count()],
        operations: false,
    };
    let report = explore_from(sim, options, report, &mut evaluated);
    report.map(|mut r| {
        for (inv, seen) in sim.invariants().zip(evaluated.checks) {
            // A check over the clients' operations (a history's, or
            // `answered`) where none was recorded: said so, not as a
            // check no state came to judge.
            let no_operations = inv.needs_operations() && !evaluated.operations;
            match seen {
                true => r.checks.push(inv.name.clone()),
                false if no_operations => r.history_not_evaluated.push(inv.name.clone()),
                false => r.not_evaluated.push(inv.name.clone()),
            }
        }
        r
    })
}

/// A path waiting to be explored, with its state when kept (boxed: a world
/// is a few kilobytes, a path not kept whole a few bytes), its
/// fingerprint, and when the state was explored before, what to explore
/// of it again.
struct Waiting<'s, N: Node> {
    path: Vec<u32>,
    state: Option<Box<Stepper<'s, N>>>,
    fingerprint: Option<u64>,
    again: Option<Box<Again>>,
}

/// A step put to sleep (partial-order reduction, Godefroid's sleep sets):
/// a step taken from an earlier state, known to reach the same states
/// from there as it would from here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Slept {
    /// What the step does ([`Stepper::key`]).
    key: u64,
    /// The one node it touched, and whether it recorded a client
    /// operation's event.
    node: u32,
    history: bool,
}

impl Slept {
    /// Whether the step commutes with a step that touched `touch`: it
    /// stays enabled, and the two orders reach the same state.
    fn commutes_with(&self, touch: Touch) -> bool {
        match touch {
            Touch::Node { node, history } => node != self.node && !(history && self.history),
            Touch::All => false,
        }
    }
}

/// A state explored before with steps asleep that a path reaching it now
/// does not sleep: those steps only, the rest asleep.
struct Again {
    only: Vec<Slept>,
    sleep: Vec<Slept>,
}

/// A state's sleep set, in one word: where its steps' numbers are in
/// [`Sleeping::chunks`] (chunk, offset), how many, and whether the state
/// was explored yet.
#[derive(Clone, Copy)]
struct Sleep(u64);

impl Sleep {
    const OFFSET_BITS: u32 = 20;
    const LEN_BITS: u32 = 19;
    /// Entries in a chunk: a set never straddles two.
    const CHUNK: usize = 1 << Self::OFFSET_BITS;
    /// A longer set is not kept, and its state is explored whole: sound,
    /// if no reduction there (none is that long: each is a step enabled).
    const MAX_LEN: usize = (1 << Self::LEN_BITS) - 1;

    fn new(chunk: usize, offset: usize, len: usize) -> Sleep {
        Sleep(
            ((chunk as u64) << (Self::OFFSET_BITS + Self::LEN_BITS + 1))
                | ((offset as u64) << (Self::LEN_BITS + 1))
                | ((len as u64) << 1),
        )
    }
    fn chunk(self) -> usize {
        (self.0 >> (Self::OFFSET_BITS + Self::LEN_BITS + 1)) as usize
    }
    fn span(self) -> std::ops::Range<usize> {
        let offset = (self.0 >> (Self::LEN_BITS + 1)) as usize & (Self::CHUNK - 1);
        let len = (self.0 >> 1) as usize & Self::MAX_LEN;
        offset..offset + len
    }
    fn explored(self) -> bool {
        self.0 & 1 == 1
    }
    fn with_len(self, len: usize) -> Sleep {
        let mask = (Self::MAX_LEN as u64) << 1;
        Sleep((self.0 & !mask) | ((len as u64) << 1))
    }
}

/// The sleep sets of the states that have one. One is kept for most states
/// of a search, and a search meets few distinct steps (a million states of
/// Raft, 213), so a set is kept as numbers of the steps, one after another
/// in chunks of up to 4 MB, and found by a word: about 90 bytes a state
/// (a million states of Raft: 237 MB with reduction, 150 without), where
/// each step kept whole in a box of the state's own took about 250 (397
/// MB).
#[derive(Default)]
struct Sleeping {
    by_state: HashMap<u64, Sleep>,
    /// Every step met, by number, and each one's number.
    steps: Vec<Slept>,
    numbers: HashMap<Slept, u32>,
    chunks: Vec<Vec<u32>>,
}

impl Sleeping {
    fn steps(&self, sleep: Sleep) -> impl Iterator<Item = Slept> + '_ {
        self.chunks[sleep.chunk()][sleep.span()]
            .iter()
            .map(|&n| self.steps[n as usize])
    }

    /// The sleep set of the state of fingerprint `fp`, marked explored.
    fn explore(&mut self, fp: u64) -> Option<Vec<Slept>> {
        let s = self.by_state.get_mut(&fp)?;
        s.0 |= 1;
        let s = *s;
        Some(self.steps(s).collect())
    }

    /// Keeps `set` as the sleep set of a state met for the first time.
    fn insert(&mut self, fp: u64, set: &[Slept]) {
        if set.len() > Sleep::MAX_LEN {
            return;
        }
        let room = self
            .chunks
            .last()
            .is_some_and(|c| c.len() + set.len() <= Sleep::CHUNK);
        if !room {
            self.chunks.push(Vec::new());
        }
        let chunk = self.chunks.len() - 1;
        let offset = self.chunks[chunk].len();
        for &t in set {
            let n = match self.numbers.get(&t) {
                Some(&n) => n,
                None => {
                    let n = u32::try_from(self.steps.len())
                        .expect("fewer than 2^32 distinct steps in one search");
                    self.steps.push(t);
                    self.numbers.insert(t, n);
                    n
                }
            };
            self.chunks[chunk].push(n);
        }
        self.by_state
            .insert(fp, Sleep::new(chunk, offset, set.len()));
    }

    /// A state known already is reached on a path that sleeps only
    /// `asleep`: its set shrinks to the steps both sleep (in place: a
    /// subset), and if it was explored, the steps it slept that are awake
    /// now are returned with those both sleep (to explore it again for
    /// them).
    fn meet(&mut self, fp: u64, asleep: &[Slept]) -> Option<Again> {
        let known = *self.by_state.get(&fp)?;
        let (mut both, mut awake) = (Vec::new(), Vec::new());
        for &n in &self.chunks[known.chunk()][known.span()] {
            let t = self.steps[n as usize];
            match asleep.iter().any(|a| a.key == t.key) {
                true => both.push(n),
                false => awake.push(t),
            }
        }
        if awake.is_empty() {
            return None;
        }
        if both.is_empty() {
            self.by_state.remove(&fp);
        } else {
            let at = known.span().start;
            self.chunks[known.chunk()][at..at + both.len()].copy_from_slice(&both);
            self.by_state.insert(fp, known.with_len(both.len()));
        }
        known.explored().then(|| Again {
            only: awake,
            sleep: both.iter().map(|&n| self.steps[n as usize]).collect(),
        })
    }
}

/// The search itself, from the root; `evaluated` gathers which invariants
/// some state evaluated.
fn explore_from<N: Node>(
    sim: &Simulation<N>,
    options: &Options,
    mut report: Report,
    evaluated: &mut Evaluated,
) -> Result<Report, SimError> {
    let mut visited: HashSet<u64> = HashSet::new();
    // Sleep sets of the states that have one (partial-order reduction).
    let mut sleeping = Sleeping::default();
    let mut frontier: VecDeque<Waiting<'_, N>> = VecDeque::new();
    let mut kept = 0usize;
    let root = replay(sim, &[])?;
    root.mark_evaluated(evaluated);
    report.clock_read |= root.clock_read();
    report.reduction_off = if !options.reduction {
        Some("turned off".into())
    } else if options.ignored_stay {
        Some("ignored deliveries left in flight count every order, as stateright does".into())
    } else {
        root.why_not_reduced()
    };
    let reduce = report.reduction_off.is_none();
    // A settle from each state left at the depth bound, when asked for and
    // some check is an `eventually`.
    let settle = match &sim.config().strategy {
        crate::config::Strategy::Explore { budgets, .. } if sim.has_eventually() => budgets.settle,
        _ => 0,
    };
    // Where settles handed out operations and went on to hold.
    let mut memo = crate::scheduler::SettleMemo::default();
    if options.determinism_checks > 0 {
        let again = replay(sim, &[])?;
        if again.fingerprint() != root.fingerprint() {
            return Err(not_deterministic(&[]));
        }
    }
    report.counts.states = 1;
    report.counts.unique = 1;
    if let Some(f) = root.failure() {
        report.violation = Some(found(sim, Vec::new(), f, false)?);
        return Ok(report);
    }
    let root_fingerprint = root.fingerprint();
    if let Some(fp) = root_fingerprint {
        visited.insert(fp);
    }
    frontier.push_back(Waiting {
        path: Vec::new(),
        state: None,
        fingerprint: root_fingerprint,
        again: None,
    });
    let interrupted = || {
        options
            .interrupted
            .as_ref()
            .is_some_and(|f| f.load(AtomicOrdering::SeqCst))
    };
    while let Some(waiting) = match options.order {
        Order::Bfs => frontier.pop_front(),
        Order::Dfs => frontier.pop_back(),
    } {
        if interrupted() {
            frontier.push_back(waiting);
            report.stopped = Some("interrupted".into());
            break;
        }
        let Waiting {
            path,
            state,
            fingerprint,
            again,
        } = waiting;
        let mut state = match state {
            Some(state) => {
                kept -= 1;
                *state
            }
            None => replay(sim, &path)?,
        };
        // The steps asleep here, and when explored again, the only steps
        // to take.
        let (mut sleep, only) = match again {
            Some(again) => (again.sleep, Some(again.only)),
            None => match fingerprint.filter(|_| reduce) {
                Some(fp) => (sleeping.explore(fp).unwrap_or_default(), None),
                None => (Vec::new(), None),
            },
        };
        let actions = state.enabled();
        if actions.is_empty() {
            if only.is_some() {
                continue;
            }
            report.terminal += 1;
            state.end()?;
            state.mark_evaluated(evaluated);
            report.clock_read |= state.clock_read();
            if let Some(f) = state.failure() {
                report.violation = Some(found(sim, path, f, true)?);
                break;
            }
            continue;
        }
        let cut = path.len() >= options.depth;
        // Its `eventually` checks judged after a settle, if asked for: from
        // a copy, unless nothing more will be taken from this state.
        if settle > 0 && only.is_none() {
            let mut copy = match cut {
                true => None,
                false => Some(match state.fork() {
                    Some(fork) => fork,
                    None => replay(sim, &path)?,
                }),
            };
            let settling = copy.as_mut().unwrap_or(&mut state);
            let (steps, how) = settling.settle(settle, Some(&mut memo))?;
            settling.mark_evaluated(evaluated);
            report.clock_read |= settling.clock_read();
            report.settled += u64::from(how != Settled::Unjudged);
            report.settle_steps += steps.len() as u64;
            report.settle_longest = report.settle_longest.max(steps.len());
            if let Some(f) = settling.failure() {
                let failure = f.clone();
                let settled = steps.len();
                let mut whole = path;
                whole.extend(steps);
                let mut f = found(sim, whole, &failure, how == Settled::Rested)?;
                f.settled = settled;
                report.violation = Some(f);
                break;
            }
        }
        if cut {
            report.cut_at_depth += u64::from(only.is_none());
            continue;
        }
        // The steps to take: all, or under reduction those not asleep
        // (when explored again, those asleep before and not now), one of
        // each kind (two copies of one message lead to the same state).
        let keys: Vec<Option<u64>> = match reduce {
            true => actions.iter().map(|a| state.key(a)).collect(),
            false => vec![None; actions.len()],
        };
        let chosen: Vec<usize> = (0..actions.len())
            .filter(|&i| match keys[i] {
                None => only.is_none(),
                Some(k) => {
                    let wanted = match &only {
                        Some(only) => only.iter().any(|t| t.key == k),
                        None => !sleep.iter().any(|t| t.key == k),
                    };
                    wanted && !keys[..i].contains(&Some(k))
                }
            })
            .collect();
        if only.is_none() {
            report.counts.slept += (actions.len() - chosen.len()) as u64;
        }
        let mut stop = false;
        let last = chosen.last().copied();
        let mut parent = Some(state);
        for &i in &chosen {
            let action = &actions[i];
            let mut child = path.clone();
            child.push(i as u32);
            let state = parent
                .as_mut()
                .expect("stepped from itself at its last child only");
            // What the parent says of this step, before the last step may
            // be taken on the parent itself.
            let early = state.early(action);
            let without = match action {
                Action::Deliver(m, _) if options.ignored_stay => state.fingerprint_without(*m),
                _ => None,
            };
            // The child: one step from a copy of the parent when nodes can
            // be copied; else, for the last action, one step from the
            // parent itself (not needed any more); else its whole path run
            // again. All three reach the same state.
            let own = match state.fork() {
                Some(mut fork) => {
                    fork.take(action)?;
                    fork
                }
                None if Some(i) == last => {
                    state.take(action)?;
                    parent.take().expect("the parent, stepped")
                }
                None => replay(sim, &child)?,
            };
            let next = &own;
            if next.void() {
                continue;
            }
            next.mark_evaluated(evaluated);
            report.clock_read |= next.clock_read();
            // Asleep in the child: what sleeps here, and the steps taken
            // here before this one, that commute with it.
            let touch = next.touch();
            let asleep: Vec<Slept> = match reduce {
                true => sleep
                    .iter()
                    .filter(|t| t.commutes_with(touch))
                    .copied()
                    .collect(),
                false => Vec::new(),
            };
            if let (Some(key), Touch::Node { node, history }) = (keys[i], touch) {
                sleep.push(Slept { key, node, history });
            }
            if options.ignored_stay && next.failure().is_none() {
                if let Action::Deliver(..) = action {
                    if without == next.fingerprint() {
                        report.counts.ignored += 1;
                        continue;
                    }
                }
            }
            report.counts.states += 1;
            report.counts.early += u64::from(early);
            report.counts.depth = report.counts.depth.max(child.len());
            if let Some(f) = next.failure() {
                report.violation = Some(found(sim, child, f, false)?);
                stop = true;
                break;
            }
            let fp = next.fingerprint();
            let fresh = match fp {
                Some(fp) => visited.insert(fp),
                None => true,
            };
            if fresh && report.counts.unique < options.determinism_checks {
                let again = replay(sim, &child)?;
                if again.fingerprint() != next.fingerprint()
                    || again.failure().map(|f| &f.message) != next.failure().map(|f| &f.message)
                {
                    return Err(not_deterministic(&child));
                }
            }
            // A state known already, asleep there to steps that are awake
            // now: its sleep set shrinks to what both paths sleep, and when
            // it was explored, it is explored again for the difference.
            let again = match (fresh, fp.filter(|_| reduce)) {
                (false, Some(fp)) => sleeping.meet(fp, &asleep).map(Box::new),
                _ => None,
            };
            report.counts.again += u64::from(again.is_some());
            if fresh || again.is_some() {
                if fresh {
                    report.counts.unique += 1;
                    if let (Some(fp), false) = (fp, asleep.is_empty()) {
                        sleeping.insert(fp, &asleep);
                    }
                }
                // Kept whole while there is room: taken from the frontier,
                // it is stepped from at once, its path not run again.
                let room = options.order == Order::Dfs && kept < options.kept_states;
                let keep = room.then(|| Box::new(own));
                kept += usize::from(keep.is_some());
                frontier.push_back(Waiting {
                    path: child,
                    state: keep,
                    fingerprint: fp,
                    again,
                });
            }
            if report.counts.unique >= options.max_states {
                report.stopped = Some(format!(
                    "the state budget of {} distinct states ran out",
                    options.max_states,
                ));
                stop = true;
                break;
            }
            if report.counts.states % 256 == 0 {
                if let Some(p) = &options.progress {
                    report.counts.frontier = frontier.len() as u64;
                    p(&report.counts);
                }
            }
        }
        if stop {
            break;
        }
    }
    report.counts.frontier = frontier.len() as u64;
    report.complete = report.violation.is_none() && report.stopped.is_none() && frontier.is_empty();
    Ok(report)
}

/// How a search's error begins when the protocol does not run the same
/// way twice (a failed check, not bad input: `dsim explore` exits 1).
/// The error of a search asked to leave ignored deliveries in flight
/// (`Options::ignored_stay`) among nodes that do not hash.
pub const IGNORED_NEEDS_HASH: &str = "leaving ignored messages in flight needs nodes that hash (Simulation::hashable): an ignored delivery is one that leaves the state's fingerprint unchanged";

pub const NOT_DETERMINISTIC: &str = "the protocol is not deterministic";

fn not_deterministic(path: &[u32]) -> SimError {
    SimError::Config(format!(
        "{NOT_DETERMINISTIC}: the path {path:?} reached two different states ({})",
        crate::replay::LOOK_FOR
    ))
}
