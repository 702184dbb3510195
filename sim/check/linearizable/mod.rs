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
//! history stops being linearizable, a 1-minimal set of completed
//! operations whose outcomes cannot all be true (let any one of them go —
//! its outcome unknown — and the history linearizes), and the longest
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
    builtin, by_name, find, CasRegister, KeyValue, Mutex, NamedModel, Queue, Register, MODEL_NAMES,
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
                        Phase::Fail => dropped[i] = true,
                        _ => {} // info: unknown, as if it never completed
                    }
                }
            }
        }
        let mut kept: Vec<Operation> = ops
            .into_iter()
            .zip(dropped)
            .filter(|(_, d)| !d)
            .map(|(o, _)| o)
            .collect();
        for (i, o) in kept.iter_mut().enumerate() {
            o.id = i;
        }
        Ok(History { ops: kept })
    }
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
}

/// A shared model is the model.
impl<M: Model + ?Sized> Model for std::sync::Arc<M> {
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
}

/// Why a history is not linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The position (record index, line) of the completion at which the
    /// history stops being linearizable.
    pub at: u64,
    /// Completed operations whose outcomes cannot all be true, 1-minimal
    /// (ids): with any one of them let go, the history linearizes.
    pub ops: Vec<usize>,
    /// The other operations that could change the state, invoked before
    /// `at` (ids): those still running then, and those completed whose
    /// outcomes the witness set aside. Each is free to have taken effect
    /// at any point after its invocation, or not at all, and the
    /// witnesses cannot all be true even so; this says what "even so"
    /// took in (a dequeue of 7 needs the enqueue of 7 that is not among
    /// the witnesses; a read of 1 and a later read of 0 contradict each
    /// other when one write of 1 is all that runs, and no remove). Those
    /// that wrote a value a witness saw come first, then by invocation.
    pub free: Vec<usize>,
    /// The longest linearizable prefix: the operations completed before
    /// `at`, in an order that linearizes them (ids).
    pub prefix: Vec<usize>,
    /// False when the witness could not be minimized within its budget
    /// (it then also holds operations that may not be needed).
    pub minimal: bool,
}

/// Completions before a violation tried as unneeded witnesses, at most.
const WITNESS_WINDOW: usize = 48;
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
    let mut spent = search::Spent::default();
    for part in model.partition(&history.ops) {
        let ops: Vec<&Operation> = part
            .iter()
            .map(|&i| &history.ops[i])
            .filter(|o| o.ret.is_some() || model.changes_state(o))
            .collect();
        match search::linearize(model, &ops, budget, &mut spent) {
            Err(why) => return Verdict::Unknown(why),
            Ok(Some(_)) => {}
            Ok(None) => {
                return match explain(model, &ops, budget, &mut spent) {
                    Ok(v) => Verdict::NotLinearizable(v),
                    Err(why) => Verdict::Unknown(why),
                }
            }
        }
    }
    Verdict::Linearizable
}

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
    // 1-minimal: an operation is needed as a witness if letting it go —
    // its outcome unknown, free to have happened at any time after its
    // invocation, or not at all — makes the rest linearizable. (Letting go
    // rather than deleting: without the write of 1, a read of 1 fails for
    // another reason, and the witness would mislead.) Each operation let
    // go widens the search, so the candidates are the most recent
    // completions before the violation, within a budget of their own;
    // older operations stay in the witness.
    let mut core: Vec<std::borrow::Cow<'_, Operation>> = as_of(ops, at);
    let mut needed: Vec<bool> = core.iter().map(|o| o.ret.is_some()).collect();
    let mut candidates: Vec<usize> = (0..core.len()).filter(|&i| needed[i]).collect();
    candidates.sort_by_key(|&i| std::cmp::Reverse(core[i].ret));
    candidates.truncate(WITNESS_WINDOW);
    let small = Budget {
        steps: budget.steps.min(spent.steps + WITNESS_STEPS),
        ..*budget
    };
    let mut minimal = true;
    let mut changed = true;
    while changed && minimal {
        changed = false;
        for &i in &candidates {
            if !needed[i] {
                continue;
            }
            let kept = core[i].clone();
            let mut loose = kept.clone().into_owned();
            loose.ret = None;
            loose.output = None;
            core[i] = std::borrow::Cow::Owned(loose);
            let refs: Vec<&Operation> = core
                .iter()
                .map(|o| o.as_ref())
                .filter(|o| o.ret.is_some() || model.changes_state(o))
                .collect();
            match search::linearize(model, &refs, &small, spent) {
                Ok(None) => {
                    needed[i] = false;
                    changed = true;
                }
                Ok(Some(_)) => core[i] = kept,
                Err(_) => {
                    core[i] = kept;
                    minimal = false;
                    break;
                }
            }
        }
    }
    let core: Vec<&std::borrow::Cow<'_, Operation>> = core
        .iter()
        .zip(&needed)
        .filter(|(_, n)| **n)
        .map(|(o, _)| o)
        .collect();
    let witnesses: Vec<usize> = core.iter().map(|o| o.id).collect();
    // The others that change state, free in the search above: the
    // writes of what a witness saw first.
    let seen: Vec<&Value> = core
        .iter()
        .filter_map(|o| o.output.as_ref())
        .filter(|v| **v != Value::Nil)
        .collect();
    let mut free: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|o| o.call < at)
        .filter(|o| model.changes_state(o) && !witnesses.contains(&o.id))
        .collect();
    free.sort_by_key(|o| (!seen.contains(&&o.input), o.call, o.id));
    Ok(Violation {
        at,
        ops: witnesses,
        free: free.iter().map(|o| o.id).collect(),
        prefix,
        minimal,
    })
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
/// the others explains it, so the model's starting state is suspect
/// (a register that starts at 0 checked against one that starts nil).
pub fn alone_hint(violation: &Violation, initial: &Value) -> Option<String> {
    (violation.ops.len() == 1 && violation.minimal).then(|| {
        format!(
            "no order of the other operations explains it, so look at where the model \
             starts: {initial} here; if the system starts elsewhere, set `initial` in the \
             scenario's [check] (`--initial` for dsim check)"
        )
    })
}

/// For a history that is not linearizable and whose clients' nodes
/// crashed: which nodes crashed after recording operations, and what that
/// means to a model, which knows no crashes. `crashes`: (record, node,
/// time) of each crash; `ops`: (record, node) of each history event.
pub fn crash_note(
    crashes: &[(u64, crate::node::NodeId, crate::time::Instant)],
    ops: impl Iterator<Item = (u64, crate::node::NodeId)>,
) -> Option<String> {
    // Each node's first history event.
    let mut first = std::collections::BTreeMap::new();
    for (i, n) in ops {
        first.entry(n).or_insert(i);
    }
    let hit: Vec<String> = crashes
        .iter()
        .filter(|&&(at, node, _)| first.get(&node).is_some_and(|&i| i < at))
        .map(|(at, node, time)| format!("{node} crashed at #{at} (t={time})"))
        .collect();
    (!hit.is_empty()).then(|| {
        format!(
            "{} after recording operations; a model knows no crashes: what a process completed before its node crashed stands (a lock stays held, a write stays written), an operation the crash cut off may or may not have happened, and a restarted node that invokes as the same process continues it",
            hit.join(", ")
        )
    })
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
                .map(|r| format!(" (even with these free to take effect or not: {r})"))
                .unwrap_or_default();
            let ops: Vec<String> = v.ops.iter().map(|&i| history.ops[i].to_string()).collect();
            match ops.as_slice() {
                [one] => {
                    let hint = initial
                        .and_then(|i| alone_hint(v, i))
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default();
                    format!(
                        "not linearizable from #{} on: this operation cannot be true: {one}{free}{hint}",
                        v.at
                    )
                }
                _ => format!(
                    "not linearizable from #{} on: these {} operations cannot be linearized together: {}{free}",
                    v.at,
                    ops.len(),
                    ops.join("; ")
                ),
            }
        }
    }
}
