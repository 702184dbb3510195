//! Linearizability of a client history (Herlihy & Wing): is there an order
//! of the operations, each placed between its invocation and its
//! completion, in which a sequential model (a register, a key-value store,
//! a queue...) gives every result the clients saw?
//!
//! The search is Wing & Gong's, with Lowe's memoization of (operations
//! linearized, model state) — the algorithm of Porcupine and of Knossos's
//! `wgl` — and P-compositionality: a model that splits a history into
//! independent parts (a key-value store, by key) has each part checked
//! alone. Outcomes follow Jepsen and Knossos:
//!
//! - `ok`: the operation happened, between its invocation and its
//!   completion, with the result recorded;
//! - `fail`: it did not happen, and is left out;
//! - `info`, or no completion at all: it may or may not have happened; if
//!   it did, at any point after its invocation, with any result. An `info`
//!   operation that changes nothing (a read) constrains nothing and is
//!   left out.
//!
//! The search is bounded ([`Budget`]) in steps and remembered states, both
//! deterministic; past the bound the verdict is [`Verdict::Unknown`], never
//! a hang and never a guess.
//!
//! On a violation the report names the first completion at which the
//! history stops being linearizable, a minimal set of completed
//! operations whose outcomes cannot all be true (let any one of them go —
//! its outcome unknown, free to have taken effect while it ran or not at
//! all, as the others are — and the history linearizes), and the longest
//! prefix that can be linearized, with an order that does it.
//!
//! ```
//! use dsim::check::linearizable::{check, History, Register, Verdict, Budget};
//! use dsim::history::{Op, Phase, Value};
//!
//! let ev = |t, p, phase, f: &str, v: Value| (t, Op { process: p, phase, f: f.into(), key: None, value: v });
//! // p0 writes 1; later p1 reads 0: stale.
//! let history = History::from_events([
//!     ev(0, 0, Phase::Invoke, "write", Value::Int(1)),
//!     ev(1, 0, Phase::Ok, "write", Value::Int(1)),
//!     ev(2, 1, Phase::Invoke, "read", Value::Nil),
//!     ev(3, 1, Phase::Ok, "read", Value::Int(0)),
//! ]).unwrap();
//! let verdict = check(&Register::new(Value::Int(0)), &history, &Budget::default());
//! assert!(matches!(verdict, Verdict::NotLinearizable(_)));
//! ```

mod models;
mod search;

pub use models::{
    builtin, by_name, find, CasRegister, KeyValue, MultiRegister, Mutex, NamedModel, OwnedMutex,
    Queue, Register, Set, UnorderedQueue, MODEL_NAMES,
};
pub use search::Budget;

use crate::history::{Op, Phase, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hash;

/// One operation of a history, its invocation and completion paired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// Its index in [`History::ops`].
    pub id: usize,
    pub process: u64,
    pub f: String,
    pub key: Option<Value>,
    /// The argument it was invoked with.
    pub input: Value,
    /// What it returned; `None` when unknown (`info`, or no completion).
    pub output: Option<Value>,
    /// When it was invoked and completed, as positions in the history (a
    /// trace's record indices, a log's lines); `ret` is `None` when it
    /// never completed for sure.
    pub call: u64,
    pub ret: Option<u64>,
}

impl Operation {
    /// Who asked for what, without the outcome: `p1 add 2`, `p0 write x 3`.
    pub fn head(&self) -> impl fmt::Display + '_ {
        struct Head<'a>(&'a Operation);
        impl fmt::Display for Head<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let o = self.0;
                write!(f, "p{} {}", o.process, o.f)?;
                if let Some(k) = &o.key {
                    write!(f, " {k}")?;
                }
                if o.input != Value::Nil {
                    write!(f, " {}", o.input)?;
                }
                Ok(())
            }
        }
        Head(self)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.head())?;
        match (&self.output, self.ret) {
            (Some(out), Some(ret)) => write!(f, " -> {out} (#{}..#{ret})", self.call),
            _ => write!(f, " -> ? (#{}.., outcome unknown)", self.call),
        }
    }
}

/// A history with each operation's invocation and completion paired, as
/// the checker needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct History {
    pub ops: Vec<Operation>,
    /// The operations that completed with `fail` (certainly did not
    /// happen): left out of the check, kept to explain a value only one
    /// of them wrote ([`alone_hint`]). Each has its `fail` as `ret` and
    /// no output; `id` is its index here.
    pub failed: Vec<Operation>,
}

/// A history that does not hold together: where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at {at}: {message}")]
pub struct HistoryError {
    /// The position of the offending event (record index, line).
    pub at: u64,
    pub message: String,
}

impl History {
    /// Pairs events, in order, into operations: each process has at most
    /// one operation outstanding; a completion names the function it
    /// completes; a `fail` drops the operation, an `info` (or no
    /// completion by the end) leaves its outcome unknown.
    pub fn from_events(
        events: impl IntoIterator<Item = (u64, Op)>,
    ) -> Result<History, HistoryError> {
        let mut ops: Vec<Operation> = Vec::new();
        let mut dropped: Vec<bool> = Vec::new();
        let mut open: BTreeMap<u64, usize> = BTreeMap::new();
        for (at, op) in events {
            match op.phase {
                Phase::Invoke => {
                    if let Some(&i) = open.get(&op.process) {
                        return Err(HistoryError {
                            at,
                            message: format!(
                                "process {} invoked {} while its {} (invoked at {}) was outstanding",
                                op.process, op.f, ops[i].f, ops[i].call
                            ),
                        });
                    }
                    open.insert(op.process, ops.len());
                    ops.push(Operation {
                        id: ops.len(),
                        process: op.process,
                        f: op.f,
                        key: op.key,
                        input: op.value,
                        output: None,
                        call: at,
                        ret: None,
                    });
                    dropped.push(false);
                }
                phase => {
                    let Some(i) = open.remove(&op.process) else {
                        return Err(HistoryError {
                            at,
                            message: format!(
                                "process {} completed {} ({}) but invoked nothing",
                                op.process,
                                op.f,
                                phase.name()
                            ),
                        });
                    };
                    if ops[i].f != op.f {
                        return Err(HistoryError {
                            at,
                            message: format!(
                                "process {} completed {} but had invoked {}",
                                op.process, op.f, ops[i].f
                            ),
                        });
                    }
                    match phase {
                        Phase::Ok => {
                            ops[i].output = Some(op.value);
                            ops[i].ret = Some(at);
                        }
                        Phase::Fail => {
                            ops[i].ret = Some(at);
                            dropped[i] = true;
                        }
                        _ => {} // info: unknown, as if it never completed
                    }
                }
            }
        }
        let (mut kept, mut failed) = (Vec::new(), Vec::new());
        for (o, d) in ops.into_iter().zip(dropped) {
            if d {
                failed.push(o);
            } else {
                kept.push(o);
            }
        }
        for list in [&mut kept, &mut failed] {
            for (i, o) in list.iter_mut().enumerate() {
                o.id = i;
            }
        }
        Ok(History { ops: kept, failed })
    }
}

impl History {
    /// This history had its `i`th failed operation's outcome been unknown
    /// (`info`): free, in a check, to have taken effect or not. It goes
    /// among the others by when it was invoked; ids are renumbered.
    pub fn with_failed_unknown(&self, i: usize) -> History {
        let mut op = self.failed[i].clone();
        op.ret = None;
        op.output = None;
        let mut ops = self.ops.clone();
        let at = ops.partition_point(|o| o.call < op.call);
        ops.insert(at, op);
        let mut failed = self.failed.clone();
        failed.remove(i);
        for list in [&mut ops, &mut failed] {
            for (i, o) in list.iter_mut().enumerate() {
                o.id = i;
            }
        }
        History { ops, failed }
    }

    /// This history with a second copy of its operation `i`, invoked when
    /// it was and of unknown outcome: free to take effect again at any
    /// time after (a retried or duplicated request applied twice).
    pub fn with_copy(&self, i: usize) -> History {
        let mut op = self.ops[i].clone();
        op.ret = None;
        op.output = None;
        let mut ops = self.ops.clone();
        let at = ops.partition_point(|o| o.call <= op.call);
        ops.insert(at, op);
        for (i, o) in ops.iter_mut().enumerate() {
            o.id = i;
        }
        History {
            ops,
            failed: self.failed.clone(),
        }
    }
}

/// How far `altered` linearizes past `violation`, in words, if further:
/// "the history would linearize" (wholly), or "... up to #N".
fn further(violation: &Violation, altered: Verdict) -> Option<String> {
    match altered {
        Verdict::Linearizable => Some("the history would linearize".into()),
        Verdict::NotLinearizable(v) if v.at > violation.at => {
            Some(format!("the history would linearize up to #{}", v.at))
        }
        _ => None,
    }
}

/// The budget of each check [`failed_effect_hint`] makes.
pub const FAILED_EFFECT_BUDGET: Budget = Budget {
    steps: 500_000,
    remembered: 200_000,
};

/// For a history not linearizable from `violation.at` on: an operation
/// answered `fail` (certainly did not happen), invoked before then, that
/// explains it had it taken effect. Each of the last
/// [`FAILED_EFFECT_TRIED`] such operations is tried in turn, latest first,
/// as if its outcome were unknown (`info`), by `check` (the same model,
/// within [`FAILED_EFFECT_BUDGET`]): the first with which the history
/// linearizes, or linearizes further, is named. A retried request whose
/// retry met its first try's effect and answered `fail`, where the
/// witnesses are several (a read of a value two writes wrote), which a
/// value only the failed operation wrote ([`alone_hint`]) does not show.
pub fn failed_effect_hint(
    history: &History,
    violation: &Violation,
    mut check: impl FnMut(&History) -> Verdict,
) -> Option<String> {
    let mut tried = 0;
    for i in (0..history.failed.len()).rev() {
        let w = &history.failed[i];
        if w.call >= violation.at {
            continue;
        }
        if tried == FAILED_EFFECT_TRIED {
            break;
        }
        tried += 1;
        let Some(so) = further(violation, check(&history.with_failed_unknown(i))) else {
            continue;
        };
        return Some(format!(
            "had {} (#{}..#{}), answered `fail` (certainly did not happen), taken effect, \
             {so}: it may have taken effect and been answered as failed (a request retried \
             after its first try took effect, the retry finding that effect; a timeout \
             answered `fail` where its outcome is unknown: `info`)",
            w.head(),
            w.call,
            w.ret.unwrap_or(w.call)
        ));
    }
    None
}

/// How many failed operations [`failed_effect_hint`] tries at most.
pub const FAILED_EFFECT_TRIED: usize = 8;

/// For a history not linearizable from `violation.at` on: an operation
/// whose effect would explain it, [`failed_effect_hint`]'s, else
/// [`twice_effect_hint`]'s. Where a value only a failed operation wrote
/// names it already ([`alone_hint`]), leave this out.
pub fn effect_hint(
    history: &History,
    violation: &Violation,
    mut check: impl FnMut(&History) -> Verdict,
) -> Option<String> {
    failed_effect_hint(history, violation, &mut check)
        .or_else(|| twice_effect_hint(history, violation, &mut check))
}

/// For a history not linearizable from `violation.at` on: an operation
/// that explains it had it taken effect twice. The witnesses and the
/// operations left free ([`Violation::free`]; those that wrote a value a
/// witness saw first) that were invoked before then, with an argument (a
/// read has none), are tried in turn, at most [`FAILED_EFFECT_TRIED`],
/// each with a copy of unknown outcome beside it ([`History::with_copy`]),
/// by `check` (the same model, within [`FAILED_EFFECT_BUDGET`]): the
/// first with which the whole history linearizes is named. The history
/// cannot tell that from a read served from a stale state (a write
/// applied again and a read that missed what came after it leave the
/// same history), so the words say both.
pub fn twice_effect_hint(
    history: &History,
    violation: &Violation,
    mut check: impl FnMut(&History) -> Verdict,
) -> Option<String> {
    let candidates = violation
        .free
        .iter()
        .chain(&violation.ops)
        .map(|&i| &history.ops[i])
        .filter(|o| o.call < violation.at && o.input != Value::Nil)
        .take(FAILED_EFFECT_TRIED);
    for w in candidates {
        if !matches!(check(&history.with_copy(w.id)), Verdict::Linearizable) {
            continue;
        }
        let ran = match w.ret {
            Some(r) => format!("#{}..#{r}", w.call),
            None => format!("#{}..", w.call),
        };
        return Some(format!(
            "the whole history would linearize had {} ({ran}) taken effect a second \
             time, later: either it did (a request retried or duplicated, applied again, \
             not recognized as seen), or a read that returned what it wrote was served \
             from a state that missed what came after (a stale replica, a leader that no \
             longer leads)",
            w.head()
        ));
    }
    None
}

/// A sequential specification: what each operation does to a state, and
/// whether what it returned is possible there.
pub trait Model {
    type State: Clone + Eq + Hash + fmt::Debug;
    /// The state before any operation.
    fn init(&self) -> Self::State;
    /// The state after `op`, or `None` if `op` cannot happen in `state`
    /// with the output it recorded (an unknown output can be anything).
    fn step(&self, state: &Self::State, op: &Operation) -> Option<Self::State>;
    /// Whether `op` can change the state; one that cannot and whose
    /// output is unknown constrains nothing and is left out.
    fn changes_state(&self, op: &Operation) -> bool {
        let _ = op;
        true
    }
    /// Parts of a history that can be checked alone (P-compositionality):
    /// by default, the whole history is one part.
    fn partition(&self, ops: &[Operation]) -> Vec<Vec<usize>> {
        vec![(0..ops.len()).collect()]
    }
    /// An operation the model does not know, named; `None` if it knows
    /// every operation of the history.
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        let _ = ops;
        None
    }
    /// Whether `op`, free to take effect or not (the search for a
    /// violation's witnesses lets operations go), may be left out
    /// instead: true only when taking effect could never help the others
    /// (an enqueue of a value no dequeue returned only stands in the way;
    /// a write of a value no read returned, only hides the one before).
    /// `seen(v)`: whether `v` is mentioned by another operation of the
    /// search, in its input or, for one that must take effect, its
    /// output (inside lists too, and a string inside a longer one: appended
    /// to, it is read as part of one). It narrows that search, which grows
    /// with every operation let go, past any budget for models whose
    /// states keep what each operation did (a queue) and on long
    /// histories; `false`, the default, is always right. The search also
    /// asks it of operations that must take effect, and hides those it
    /// finds needless behind the next to take effect that leaves the
    /// state as it would have left it without them (a write behind a
    /// write): say true only if leaving the operation out of any order
    /// that linearizes the others keeps that order linearizing them.
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        let _ = (op, seen);
        false
    }
    /// The model to search `ops` with, shown them all first (`must[i]`:
    /// whether `ops[i]` must take effect, having completed, and not let
    /// go by a witness search); `None`, the default: this one as it is.
    /// A model may learn from them which states nothing to come can
    /// follow, and refuse those at once (the queue: a value enqueued
    /// behind one that must leave after it), where the search would
    /// otherwise learn it only from the operation that shows it, having
    /// explored everything in between: a long history of values enqueued
    /// at once takes time exponential in their number. Refuse only a
    /// state that no order of the operations, each within its call,
    /// could go on from.
    fn knowing(&self, ops: &[&Operation], must: &[bool]) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = (ops, must);
        None
    }
}

/// A shared model is the model.
impl<M: Model> Model for std::sync::Arc<M> {
    type State = M::State;
    fn init(&self) -> Self::State {
        (**self).init()
    }
    fn step(&self, state: &Self::State, op: &Operation) -> Option<Self::State> {
        (**self).step(state, op)
    }
    fn changes_state(&self, op: &Operation) -> bool {
        (**self).changes_state(op)
    }
    fn partition(&self, ops: &[Operation]) -> Vec<Vec<usize>> {
        (**self).partition(ops)
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        (**self).unknown(ops)
    }
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        (**self).needless(op, seen)
    }
    fn knowing(&self, ops: &[&Operation], must: &[bool]) -> Option<Self> {
        (**self).knowing(ops, must).map(std::sync::Arc::new)
    }
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The position (record index, line) of the completion at which the
    /// history stops being linearizable.
    pub at: u64,
    /// Completed operations whose outcomes cannot all be true, minimal
    /// (ids): with any one of them let go too, the history linearizes.
    /// An operation let go has its outcome unknown and is free to have
    /// taken effect while it ran, or not at all.
    pub ops: Vec<usize>,
    /// The other operations that could change the state, invoked before
    /// `at` (ids): those completed, let go, and those still running then,
    /// free to take effect at any point after their invocation, or not
    /// at all. The witnesses cannot all be true even so; this says what "even so"
    /// took in (a dequeue of 7 needs the enqueue of 7 that is not among
    /// the witnesses; a read of 1 and a later read of 0 contradict each
    /// other when one write of 1 is all that runs, and no remove). Those
    /// that wrote a value a witness saw come first, then the others, the
    /// latest invoked first (the nearest the violation: on a long history
    /// the first named are not its first operations).
    pub free: Vec<usize>,
    /// The longest linearizable prefix: the operations completed before
    /// `at`, in an order that linearizes them (ids).
    pub prefix: Vec<usize>,
    /// False when the witness could not be minimized within its budget
    /// (it then also holds operations that may not be needed).
    pub minimal: bool,
}

/// Search steps spent minimizing a witness, at most.
const WITNESS_STEPS: u64 = 2_000_000;

/// The checker's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Violation),
    /// The budget ran out, or the model cannot judge the history.
    Unknown(String),
}

/// Checks `history` against `model` within `budget`.
pub fn check<M: Model>(model: &M, history: &History, budget: &Budget) -> Verdict {
    if let Some(what) = model.unknown(&history.ops) {
        return Verdict::Unknown(what);
    }
    let parts: Vec<Vec<&Operation>> = model
        .partition(&history.ops)
        .into_iter()
        .map(|part| {
            let part: Vec<&Operation> = part
                .iter()
                .map(|&i| &history.ops[i])
                .filter(|o| o.ret.is_some() || model.changes_state(o))
                .collect();
            // Of those whose outcome is unknown, free to take effect or
            // not, the needless are left out (an enqueue of a value no
            // dequeue returned only stands in the way).
            let free: Vec<bool> = part.iter().map(|o| o.ret.is_none()).collect();
            if !free.contains(&true) {
                return part;
            }
            let out = left_out(model, &part, &part, &free, strings_inside(&part).as_ref());
            part.into_iter()
                .zip(out)
                .filter_map(|(o, out)| (!out).then_some(o))
                .collect()
        })
        .collect();
    let mut spent = search::Spent::default();
    // One part whose search outgrows the budget must not hide another
    // that is not linearizable, and the history is not linearizable if
    // any part is not: while more than one part is undecided, each is
    // searched in turn with a cap on its steps that grows fourfold a
    // round (what a capped search spent is spent: less than 4/3 of what
    // the part needed, more), so the parts are decided cheapest first,
    // the same way on every machine. One part left searches with what
    // remains.
    let mut open: Vec<usize> = (0..parts.len()).collect();
    let mut unknown: Option<String> = None;
    let mut cap = FIRST_PART_STEPS.min(budget.steps / 16).max(1);
    while !open.is_empty() {
        let mut undecided = Vec::new();
        for &p in &open {
            let alone = open.len() == 1;
            let round = search::Budget {
                steps: match alone {
                    true => budget.steps,
                    false => budget.steps.min(spent.steps.saturating_add(cap)),
                },
                ..*budget
            };
            match search::linearize(model, &parts[p], &round, &mut spent) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return match explain(model, &parts[p], budget, &mut spent) {
                        Ok(v) => Verdict::NotLinearizable(v),
                        Err(why) => Verdict::Unknown(why),
                    }
                }
                Err(_) if round.steps < budget.steps && spent.steps > round.steps => {
                    undecided.push(p)
                }
                Err(why) => {
                    // Given up on: the budget is spent (the parts not yet
                    // tried this round get nothing more either) or the
                    // part outgrew its memory.
                    let why = match parts[p].iter().find_map(|o| o.key.as_ref()) {
                        Some(key) if parts.len() > 1 => format!("key {key}: {why}"),
                        _ => why,
                    };
                    unknown.get_or_insert(why);
                    if spent.steps > budget.steps {
                        undecided.clear();
                        break;
                    }
                }
            }
        }
        open = undecided;
        cap = cap.saturating_mul(4);
    }
    match unknown {
        Some(why) => Verdict::Unknown(why),
        None => Verdict::Linearizable,
    }
}

/// The first cap on a part's search steps, while other parts are
/// undecided (see [`check`]), at most a sixteenth of the budget.
const FIRST_PART_STEPS: u64 = 1 << 16;

/// `ops` as of position `t`: operations invoked by then, and those not yet
/// complete at `t` with their outcome unknown.
fn as_of<'a>(ops: &[&'a Operation], t: u64) -> Vec<std::borrow::Cow<'a, Operation>> {
    ops.iter()
        .filter(|o| o.call <= t)
        .map(|o| match o.ret {
            Some(r) if r > t => {
                let mut pending = (*o).clone();
                pending.ret = None;
                pending.output = None;
                std::borrow::Cow::Owned(pending)
            }
            _ => std::borrow::Cow::Borrowed(*o),
        })
        .collect()
}

/// The first completion at which `ops` (not linearizable) stops being
/// linearizable, a 1-minimal set of operations that cannot be linearized
/// together, and the longest prefix that can.
fn explain<M: Model>(
    model: &M,
    ops: &[&Operation],
    budget: &Budget,
    spent: &mut search::Spent,
) -> Result<Violation, String> {
    let linearizable = |view: &[std::borrow::Cow<'_, Operation>], spent: &mut search::Spent| {
        let refs: Vec<&Operation> = view
            .iter()
            .map(|o| o.as_ref())
            .filter(|o| o.ret.is_some() || model.changes_state(o))
            .collect();
        search::linearize(model, &refs, budget, spent)
    };
    // Non-linearizability only grows as completions are added: binary
    // search for the first completion that breaks it.
    let mut rets: Vec<u64> = ops.iter().filter_map(|o| o.ret).collect();
    rets.sort_unstable();
    let (mut lo, mut hi) = (0usize, rets.len().saturating_sub(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if linearizable(&as_of(ops, rets[mid]), spent)?.is_some() {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let at = rets.get(lo).copied().unwrap_or(0);
    let prefix = match lo.checked_sub(1).map(|i| rets[i]) {
        Some(before) => linearizable(&as_of(ops, before), spent)?.unwrap_or_default(),
        None => Vec::new(),
    };
    // Minimal: an operation is needed as a witness if letting it go —
    // its outcome unknown, free to have taken effect during its call, or
    // not at all — makes the rest linearizable. (Letting go rather than
    // deleting: without the write of 1, a read of 1 fails for another
    // reason, and the witness would mislead. Within its call rather than
    // at any time after it: that is all the history allows it, and the
    // search stays as narrow as the history's own — letting operations
    // go until any time widened it with each one, past any budget.)
    // Operations still running then are free after their invocation, as
    // in the history.
    let core = as_of(ops, at);
    let loose: Vec<Operation> = core
        .iter()
        .map(|o| Operation {
            output: None,
            ..o.clone().into_owned()
        })
        .collect();
    let small = Budget {
        steps: budget.steps.min(spent.steps + WITNESS_STEPS),
        ..*budget
    };
    let judged = std::cell::Cell::new(true);
    // Whether the operations marked cannot be linearized with the other
    // completed ones let go (those that change nothing left out: they
    // constrain nothing); no when the budget ran out (never a false
    // yes, so the witness found is one; it may then not be minimal).
    let core_refs: Vec<&Operation> = core.iter().map(|o| o.as_ref()).collect();
    let loose_refs: Vec<&Operation> = loose.iter().collect();
    let inside = strings_inside(&core_refs);
    let mut cannot = |required: &[bool]| -> bool {
        if !judged.get() {
            // The budget is spent: every later search would say the same.
            return false;
        }
        let free: Vec<bool> = (0..core.len())
            .map(|i| !required[i] && core[i].ret.is_some())
            .collect();
        let out = left_out(model, &core_refs, &loose_refs, &free, inside.as_ref());
        let (refs, optional): (Vec<&Operation>, Vec<bool>) = core_refs
            .iter()
            .zip(&loose)
            .enumerate()
            .filter(|&(i, _)| !out[i])
            .map(|(i, (o, l))| if free[i] { (l, true) } else { (*o, false) })
            .filter(|(o, optional)| o.ret.is_some() && !optional || model.changes_state(o))
            .unzip();
        match search::linearize_optional(model, &refs, &optional, &small, spent) {
            Ok(None) => true,
            Ok(Some(_)) => false,
            Err(_) => {
                judged.set(false);
                false
            }
        }
    };
    // The candidates, the most recent completion first: Junker's
    // QuickXplain keeps, of two minimal witnesses, the one of later
    // operations, and takes O(k log(n/k)) searches for k witnesses of n.
    let mut candidates: Vec<usize> = (0..core.len()).filter(|&i| core[i].ret.is_some()).collect();
    candidates.sort_by_key(|&i| (std::cmp::Reverse(core[i].ret), i));
    let mut required = vec![false; core.len()];
    let mut needed = vec![false; core.len()];
    // A violation is most often among the last few completions: find the
    // fewest most recent that cannot all be true, doubling, and explain
    // among those alone (every search is over the whole history, so on a
    // long one the budget allows few; a witness minimal among them is
    // minimal). All of them, when the budget runs out on the way.
    let mut window = candidates.len().min(2);
    while window < candidates.len() {
        for &i in &candidates[..window] {
            required[i] = true;
        }
        let enough = cannot(&required);
        for &i in &candidates[..window] {
            required[i] = false;
        }
        if enough || !judged.get() {
            break;
        }
        window *= 2;
    }
    if !judged.get() {
        window = candidates.len();
    }
    let candidates = &candidates[..window.min(candidates.len())];
    for i in quick_explain(&mut required, false, candidates, &mut cannot) {
        needed[i] = true;
    }
    let minimal = judged.get();
    let core: Vec<&std::borrow::Cow<'_, Operation>> = core
        .iter()
        .zip(&needed)
        .filter(|(_, n)| **n)
        .map(|(o, _)| o)
        .collect();
    let witnesses: Vec<usize> = core.iter().map(|o| o.id).collect();
    // The others that change state, free in the search above: the
    // writes of what a witness saw first.
    // (A list seen, as an append's read returns, shows each element.)
    let mut seen: std::collections::BTreeSet<&Value> = Default::default();
    for v in core.iter().filter_map(|o| o.output.as_ref()) {
        each_value(v, &mut |v| {
            if *v != Value::Nil {
                seen.insert(v);
            }
        });
    }
    // And a scalar a witness returned that it was not asked about: a
    // transaction's reads, which a transaction that wrote them holds
    // among the other steps of its input.
    let asked = core.iter().map(|o| &o.input);
    let fresh = fresh_values(core.iter().filter_map(|o| o.output.as_ref()), asked);
    let wrote_seen =
        |o: &Operation| seen.contains(&o.input) || fresh.iter().any(|v| writes(&o.input, v));
    let witness: std::collections::BTreeSet<usize> = witnesses.iter().copied().collect();
    let mut free: Vec<(bool, &Operation)> = ops
        .iter()
        .copied()
        .filter(|o| o.call < at)
        .filter(|o| model.changes_state(o) && !witness.contains(&o.id))
        .map(|o| (!wrote_seen(o), o))
        .collect();
    free.sort_by_key(|&(unseen, o)| {
        let recent = if unseen { u64::MAX - o.call } else { o.call };
        (unseen, recent, o.id)
    });
    Ok(Violation {
        at,
        ops: witnesses,
        free: free.iter().map(|(_, o)| o.id).collect(),
        prefix,
        minimal,
    })
}

/// Which of `ops` a search may leave out: those free to take effect or
/// not (`free[i]`) that the model finds needless (asked of `loose[i]`,
/// the same operation with its outcome as the search takes it), given
/// what the others mention: their inputs, and the outputs of those not
/// free (`inside`: [`strings_inside`] of `ops`).
fn left_out<M: Model>(
    model: &M,
    ops: &[&Operation],
    loose: &[&Operation],
    free: &[bool],
    inside: Option<&BTreeMap<&str, Vec<(usize, bool)>>>,
) -> Vec<bool> {
    needless(model, ops, loose, free, free, inside)
}

/// Which of `ops` a search may hide (see the search's module doc): those
/// that must take effect (`must[i]`) that the model would find needless
/// were their outcome unknown, given what the others mention (their
/// inputs, and the outputs of those that must take effect).
fn hideable<M: Model>(model: &M, ops: &[&Operation], must: &[bool]) -> Vec<bool> {
    if !must.contains(&true) {
        return vec![false; ops.len()];
    }
    let free: Vec<bool> = must.iter().map(|&m| !m).collect();
    needless(model, ops, ops, &free, must, strings_inside(ops).as_ref())
}

/// Which of `ops` asked about (`ask[i]`) the model finds needless (see
/// [`left_out`]).
fn needless<M: Model>(
    model: &M,
    ops: &[&Operation],
    loose: &[&Operation],
    free: &[bool],
    ask: &[bool],
    inside: Option<&BTreeMap<&str, Vec<(usize, bool)>>>,
) -> Vec<bool> {
    // Each value mentioned: by which operation first, and whether by
    // another too.
    let mut mentions: BTreeMap<&Value, (usize, bool)> = BTreeMap::new();
    for (i, o) in ops.iter().enumerate() {
        let output = o.output.as_ref().filter(|_| !free[i]);
        for v in std::iter::once(&o.input).chain(output) {
            each_value(v, &mut |v| {
                let (first, more) = mentions.entry(v).or_insert((i, false));
                *more |= *first != i;
            });
        }
    }
    (0..ops.len())
        .map(|i| {
            let seen = |v: &Value| {
                mentions
                    .get(v)
                    .is_some_and(|&(first, more)| more || first != i)
                    || matches!(v, Value::Str(s) if inside.is_none_or(|inside| {
                        inside.get(s.as_str()).is_some_and(|by| {
                            by.iter().any(|&(j, output)| j != i && (!output || !free[j]))
                        })
                    }))
            };
            ask[i] && model.needless(loose[i], &seen)
        })
        .collect()
}

/// For each string `ops` mention (in an input, or an output, inside
/// lists too), the operations that mention a longer string holding it,
/// and whether in their output: a string appended to another is seen in
/// what a read of the two returns. One pass of an Aho–Corasick automaton
/// over every string mentioned; `None` when there are too many strings
/// for one (every string is then taken as seen: always right).
fn strings_inside<'a>(ops: &[&'a Operation]) -> Option<BTreeMap<&'a str, Vec<(usize, bool)>>> {
    let mut mentioned: Vec<(usize, bool, &str)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        for (v, output) in
            std::iter::once((&o.input, false)).chain(o.output.iter().map(|v| (v, true)))
        {
            each_value(v, &mut |v| {
                if let Value::Str(s) = v {
                    mentioned.push((i, output, s.as_str()));
                }
            });
        }
    }
    let mut patterns: Vec<&str> = mentioned
        .iter()
        .map(|&(_, _, s)| s)
        .filter(|s| !s.is_empty())
        .collect();
    patterns.sort_unstable();
    patterns.dedup();
    let mut inside: BTreeMap<&str, Vec<(usize, bool)>> = BTreeMap::new();
    if patterns.is_empty() {
        return Some(inside);
    }
    let automaton = aho_corasick::AhoCorasick::new(&patterns).ok()?;
    for &(i, output, s) in &mentioned {
        for m in automaton.find_overlapping_iter(s) {
            let p = patterns[m.pattern().as_usize()];
            if p.len() < s.len() {
                let by = inside.entry(p).or_default();
                if by.last() != Some(&(i, output)) {
                    by.push((i, output));
                }
            }
        }
    }
    Some(inside)
}

/// The scalars (neither nil nor a list) in `outputs` that are nowhere in
/// `inputs`: what the operations returned that they were not asked about.
fn fresh_values<'a>(
    outputs: impl Iterator<Item = &'a Value>,
    inputs: impl Iterator<Item = &'a Value>,
) -> std::collections::BTreeSet<&'a Value> {
    let mut asked = std::collections::BTreeSet::new();
    for v in inputs {
        each_value(v, &mut |v| {
            asked.insert(v);
        });
    }
    let mut fresh = std::collections::BTreeSet::new();
    for v in outputs {
        each_value(v, &mut |v| {
            if !matches!(v, Value::Nil | Value::List(_)) && !asked.contains(v) {
                fresh.insert(v);
            }
        });
    }
    fresh
}

/// Whether an operation invoked with `input` writes `v`: its input is
/// `v`, or `v` ends a list in it (a transaction's `[w k v]` step, a
/// compare-and-set's `[old new]`), not a key or a name in the middle.
fn writes(input: &Value, v: &Value) -> bool {
    match input {
        Value::List(items) => {
            items.last() == Some(v)
                || items
                    .iter()
                    .any(|x| matches!(x, Value::List(_)) && writes(x, v))
        }
        other => other == v,
    }
}

/// `v` and, in a list, each value in it.
fn each_value<'a>(v: &'a Value, f: &mut impl FnMut(&'a Value)) {
    f(v);
    if let Value::List(items) = v {
        for item in items {
            each_value(item, f);
        }
    }
}

/// A minimal subset `X` of `c` such that `cannot(background ∪ X)`,
/// given that `cannot(background ∪ c)` (Junker's QuickXplain; `cannot`
/// must be monotone: more marked, never fewer violations). `background`
/// marks operations by index and is as it was on return.
fn quick_explain(
    background: &mut [bool],
    ask: bool,
    c: &[usize],
    cannot: &mut dyn FnMut(&[bool]) -> bool,
) -> Vec<usize> {
    if ask && cannot(background) {
        return Vec::new();
    }
    if c.len() <= 1 {
        return c.to_vec();
    }
    let (c1, c2) = c.split_at(c.len() / 2);
    let mark = |background: &mut [bool], ids: &[usize], on: bool| {
        for &i in ids {
            background[i] = on;
        }
    };
    mark(background, c1, true);
    let x2 = quick_explain(background, true, c2, cannot);
    mark(background, c1, false);
    mark(background, &x2, true);
    let mut x1 = quick_explain(background, !x2.is_empty(), c1, cannot);
    mark(background, &x2, false);
    x1.extend(x2);
    x1
}

/// A verdict in words, naming operations by what they did.
pub fn describe(history: &History, verdict: &Verdict) -> String {
    words(history, verdict, None)
}

/// [`describe`], and when one operation alone cannot be true (whatever
/// the others did), a pointer to where the model started: `initial`.
pub fn describe_from(history: &History, verdict: &Verdict, initial: &Value) -> String {
    words(history, verdict, Some(initial))
}

/// The hint for a violation one operation makes on its own: no order of
/// the others explains it. When it returned a value that no other
/// operation wrote, the model's starting state is suspect (a register
/// that starts at 0 checked against one that starts nil), or an
/// operation that took effect more than once (a deposit of 5 applied
/// twice, then a balance of 10). When every value it returned was
/// written by another, it saw them together where no order of those
/// writes puts them: part of what one operation did and not the rest (a
/// transaction's read of one key another wrote before that write's other
/// keys, a torn read).
pub fn alone_hint(history: &History, violation: &Violation, initial: &Value) -> Option<String> {
    let [one] = violation.ops.as_slice() else {
        return None;
    };
    if !violation.minimal {
        return None;
    }
    let op = &history.ops[*one];
    let fresh = fresh_values(op.output.iter(), [&op.input, initial].into_iter());
    let by_free = |v: &Value| {
        violation
            .free
            .iter()
            .any(|&i| writes(&history.ops[i].input, v))
    };
    if !fresh.is_empty() && fresh.iter().all(|v| by_free(v)) {
        return Some(
            "each value it returned was written by another operation (named first among \
             those free) or is where the model starts, yet no order of those operations gives them all at once: it saw \
             part of what one of them did and not the rest (a read of one key a transaction \
             wrote and not of another it wrote with it: a torn read)"
                .into(),
        );
    }
    // A value only an operation that failed wrote, one that ran before
    // this one completed: it took effect and was answered as failed.
    let failed = fresh.iter().filter(|v| !by_free(v)).find_map(|v| {
        let w = history.failed.iter().find(|w| {
            w.call < op.ret.unwrap_or(u64::MAX) && w.key == op.key && writes(&w.input, v)
        })?;
        Some((v, w))
    });
    if let Some((v, w)) = failed {
        return Some(format!(
            "it returned {v}, which only {} wrote (#{}..#{}), and that operation \
             completed as `fail` (certainly did not happen): it took effect and was \
             answered as failed (a request retried after its first try took effect, \
             the retry finding that effect; a timeout answered `fail` where its outcome \
             is unknown: `info`)",
            w.head(),
            w.call,
            w.ret.unwrap_or(w.call)
        ));
    }
    // A value only an operation invoked after this one completed wrote.
    let later = fresh.iter().filter(|v| !by_free(v)).find_map(|v| {
        let w = history.ops.iter().find(|w| {
            w.call > violation.at
                && w.call > op.ret.unwrap_or(0)
                && w.key == op.key
                && writes(&w.input, v)
        })?;
        Some((v, w))
    });
    if let Some((v, w)) = later {
        return Some(format!(
            "it returned {v}, which no operation running by then wrote: {} wrote it, \
             invoked at #{}, after this one completed (a value seen before its write began)",
            w.head(),
            w.call
        ));
    }
    Some(format!(
        "no order of the other operations explains it, so look at where the model \
         starts (`initial` is {initial} here: if the system starts elsewhere, set it in \
         the scenario's [check], `--initial` for the check command), or for an operation \
         that took effect twice (a duplicated or retried request applied again)"
    ))
}

/// A crash, for [`crash_note`]: its record, node and time, and how many
/// writes not yet synced it lost (`None`: not known, as from a trace of a
/// disk that loses them all, which records no write).
pub type Crash = (u64, crate::node::NodeId, crate::time::Instant, Option<u64>);

/// For a history that is not linearizable and whose nodes crashed: which
/// clients' nodes crashed after recording operations, and what that means
/// to a model, which knows no crashes; and which nodes crashed before
/// recording any (a server, say, that forgot what its clients were told).
/// `crashes`: each crash's record, node and time, and, when known, how
/// many writes not yet synced it lost; `ops`: (record, node) of each
/// history event; `before`: the record from which the history cannot be
/// explained (a crash only after it explains nothing), if known.
pub fn crash_note(
    crashes: &[Crash],
    ops: impl Iterator<Item = (u64, crate::node::NodeId)>,
    before: Option<u64>,
) -> Option<String> {
    // Each node's first history event.
    let mut first = std::collections::BTreeMap::new();
    for (i, n) in ops {
        first.entry(n).or_insert(i);
    }
    let (hit, other): (Vec<_>, Vec<_>) = crashes
        .iter()
        .filter(|&&(at, ..)| before.is_none_or(|b| at < b))
        .partition(|&&(at, node, ..)| first.get(&node).is_some_and(|&i| i < at));
    let named = |crashes: Vec<&Crash>| {
        let named: Vec<String> = crashes
            .iter()
            .map(|&&(at, node, time, lost)| {
                // What it lost of its disk, when the run knows: a crash
                // that lost no write forgot only what was in memory.
                let lost = match lost {
                    None => String::new(),
                    Some(0) => "; it lost no unsynced write".into(),
                    Some(1) => "; it lost 1 unsynced write".into(),
                    Some(n) => format!("; it lost {n} unsynced writes"),
                };
                format!("{node} crashed at #{at} (t={time}{lost})")
            })
            .collect();
        named.join(", ")
    };
    let mut notes = Vec::new();
    if !hit.is_empty() {
        notes.push(format!(
            "{} after recording operations; a model knows no crashes: what a process completed before its node crashed stands (a lock stays held, a write stays written), an operation the crash cut off may or may not have happened, and a restarted node that invokes as the same process continues it",
            named(hit)
        ));
    }
    if !other.is_empty() {
        notes.push(format!(
            "{} before recording any operation: a restarted node keeps only what it synced to its disk, and a server that forgets what its clients were told breaks their history",
            named(other)
        ));
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// For a witness of more than two locks and nothing else: that a mutex
/// whose unlock frees it whoever holds it can only count them, and the
/// model that names two holders.
pub fn locks_hint(history: &History, violation: &Violation) -> Option<&'static str> {
    let locks = violation
        .ops
        .iter()
        .all(|&i| matches!(history.ops[i].f.as_str(), "lock" | "acquire"));
    (locks && violation.ops.len() > 2).then_some(
        "a lock here may have been freed by any process's unlock (so the `mutex` model \
         takes it, as Knossos's), so only their count shows that two held it at once: \
         where only its holder can unlock it, `owned-mutex` checks that too and names the \
         two holders",
    )
}

/// The operations a violation left free ([`Violation::free`]), in words:
/// `None` when there were none. At most `FREE_SHOWN` are named.
pub fn free_words(history: &History, violation: &Violation) -> Option<String> {
    const FREE_SHOWN: usize = 6;
    let named: Vec<String> = violation
        .free
        .iter()
        .take(FREE_SHOWN)
        .map(|&i| {
            // Its outcome is left out: it was set aside, or not known then.
            let o = &history.ops[i];
            match o.ret {
                Some(r) if r > violation.at => {
                    format!("{} (#{}..#{r}, still running then)", o.head(), o.call)
                }
                Some(r) => format!("{} (#{}..#{r})", o.head(), o.call),
                None => format!("{} (#{}.., outcome never known)", o.head(), o.call),
            }
        })
        .collect();
    let more = violation.free.len().saturating_sub(FREE_SHOWN);
    (!named.is_empty()).then(|| {
        format!(
            "{}{}",
            named.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )
    })
}

fn words(history: &History, verdict: &Verdict, initial: Option<&Value>) -> String {
    match verdict {
        Verdict::Linearizable => "linearizable".into(),
        Verdict::Unknown(why) => format!("unknown: {why}"),
        Verdict::NotLinearizable(v) => {
            let free = free_words(history, v)
                .map(|r| {
                    format!(" (even with these free to take effect or not while they ran: {r})")
                })
                .unwrap_or_default();
            let ops: Vec<String> = v.ops.iter().map(|&i| history.ops[i].to_string()).collect();
            match ops.as_slice() {
                [one] => {
                    let hint = initial
                        .and_then(|i| alone_hint(history, v, i))
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default();
                    format!(
                        "not linearizable from #{} on: this operation cannot be true: {one}{free}{hint}",
                        v.at
                    )
                }
                _ => format!(
                    "not linearizable from #{} on: these {} operations cannot be linearized together: {}{free}{}",
                    v.at,
                    ops.len(),
                    ops.join("; "),
                    locks_hint(history, v)
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default()
                ),
            }
        }
    }
}
