//! The models, by the names the command line knows: `register`,
//! `cas-register`, `kv`, `mutex`, `owned-mutex`, `queue`,
//! `multi-register`, `set`, `unordered-queue`.
//!
//! | model | operations (function: argument → result) |
//! |---|---|
//! | `register` | `read`: → the value; `write`: v |
//! | `cas-register` | those, and `cas`: `[old new]`, applied only if the value is `old` |
//! | `kv` | per key (each key checked alone): `get` (or `read`): → the value; `put` (or `write`): v; `append`: v, onto a list, or onto a string when both are strings; `cas`: `[old new]` |
//! | `mutex` | `lock`, `unlock` (each must alternate; any process's unlock frees it, as Knossos's) |
//! | `owned-mutex` | `lock`, `unlock`: held by the process that locked it, freed by its unlock alone |
//! | `queue` | `enqueue`: v; `dequeue`: → the oldest value, `nil` when empty |
//! | `multi-register` | `txn`: `[[f k v] ...]`, `f` `read` (`r`) or `write` (`w`) of register `k`, in order, at once; a read of `nil` is any value |
//! | `set` | `add`: v; `read`: → every element, a list (or an EDN set) in any order, `nil` when none |
//! | `unordered-queue` | `enqueue`: v; `dequeue`: → any value in the queue, `nil` when empty |

use super::{Model, Operation};
use crate::history::Value;
use std::collections::{BTreeMap, VecDeque};

/// Names the command line knows.
pub const MODEL_NAMES: [&str; 9] = [
    "register",
    "cas-register",
    "kv",
    "mutex",
    "owned-mutex",
    "queue",
    "multi-register",
    "set",
    "unordered-queue",
];

fn is_read(f: &str) -> bool {
    matches!(f, "read" | "get")
}

fn is_write(f: &str) -> bool {
    matches!(f, "write" | "put")
}

/// A write of a value nothing else mentions: until the next write, a
/// read would return it and a compare-and-set expect it, so none does;
/// without it, what was there before stays, and nothing sees the
/// difference.
fn unseen_write(op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
    is_write(&op.f) && !seen(&op.input)
}

/// The first operation whose function is not in `known`, named.
fn first_unknown(ops: &[Operation], model: &str, known: &[&str]) -> Option<String> {
    ops.iter()
        .find(|o| !known.contains(&o.f.as_str()))
        .map(|o| {
            format!(
                "the {model} model has no operation `{}` (at #{}; it knows {})",
                o.f,
                o.call,
                known.join(", ")
            )
        })
}

/// A read of `state` with `output`: possible when unknown or equal.
fn read(state: &Value, op: &Operation) -> Option<Value> {
    match &op.output {
        Some(v) if v != state => None,
        _ => Some(state.clone()),
    }
}

/// A compare-and-set: `[old new]` applies when the value is `old`.
fn cas(state: &Value, op: &Operation) -> Option<Value> {
    match &op.input {
        Value::List(pair) if pair.len() == 2 => (state == &pair[0]).then(|| pair[1].clone()),
        _ => None,
    }
}

/// A single register holding one value.
#[derive(Clone, Debug)]
pub struct Register {
    initial: Value,
}

impl Register {
    /// A register whose value is `initial` before any write (`nil`: never
    /// written).
    pub fn new(initial: Value) -> Register {
        Register { initial }
    }
}

impl Model for Register {
    type State = Value;
    fn init(&self) -> Value {
        self.initial.clone()
    }
    fn step(&self, state: &Value, op: &Operation) -> Option<Value> {
        match op.f.as_str() {
            f if is_read(f) => read(state, op),
            f if is_write(f) => Some(op.input.clone()),
            _ => None,
        }
    }
    fn changes_state(&self, op: &Operation) -> bool {
        !is_read(&op.f)
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "register", &["read", "write", "get", "put"])
    }
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        unseen_write(op, seen)
    }
}

/// A register with compare-and-set.
#[derive(Clone, Debug)]
pub struct CasRegister {
    initial: Value,
}

impl CasRegister {
    pub fn new(initial: Value) -> CasRegister {
        CasRegister { initial }
    }
}

impl Model for CasRegister {
    type State = Value;
    fn init(&self) -> Value {
        self.initial.clone()
    }
    fn step(&self, state: &Value, op: &Operation) -> Option<Value> {
        match op.f.as_str() {
            "cas" => cas(state, op),
            _ => Register::new(Value::Nil).step(state, op),
        }
    }
    fn changes_state(&self, op: &Operation) -> bool {
        !is_read(&op.f)
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "cas-register", &["read", "write", "get", "put", "cas"])
    }
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        unseen_write(op, seen)
    }
}

/// `v` appended to `state`: a string to a string concatenates (as
/// Porcupine's key-value model and MIT 6.824's stores append); anything
/// else goes onto a list (`nil`: an empty one).
fn append(state: &Value, v: &Value) -> Value {
    match (state, v) {
        (Value::Str(s), Value::Str(v)) => Value::Str(format!("{s}{v}")),
        (Value::Nil, _) => Value::List(vec![v.clone()]),
        (Value::List(items), _) => {
            let mut items = items.clone();
            items.push(v.clone());
            Value::List(items)
        }
        (other, _) => Value::List(vec![other.clone(), v.clone()]),
    }
}

/// Whether a read of a key in `state` may return the string `out` where
/// the state is not that string: a key never written reads as `""` (as
/// Porcupine's and 6.824's stores return an absent key), and strings
/// appended to one never written read as one string.
fn reads_as(state: &Value, out: &Value) -> bool {
    let Value::Str(out) = out else { return false };
    match state {
        Value::Nil => out.is_empty(),
        Value::List(items) => {
            let mut rest = out.as_str();
            items.iter().all(|item| match item {
                Value::Str(s) => rest.strip_prefix(s.as_str()).map(|r| rest = r).is_some(),
                _ => false,
            }) && rest.is_empty()
        }
        _ => false,
    }
}

/// A key-value store: each key is a register with append and
/// compare-and-set, checked on its own.
#[derive(Clone, Debug)]
pub struct KeyValue {
    initial: Value,
}

impl KeyValue {
    /// Every key starts as `initial` (`nil`: absent).
    pub fn new(initial: Value) -> KeyValue {
        KeyValue { initial }
    }
}

impl Model for KeyValue {
    type State = Value;
    fn init(&self) -> Value {
        self.initial.clone()
    }
    fn step(&self, state: &Value, op: &Operation) -> Option<Value> {
        match op.f.as_str() {
            f if is_read(f) => match &op.output {
                Some(out) if reads_as(state, out) => Some(state.clone()),
                _ => read(state, op),
            },
            f if is_write(f) => Some(op.input.clone()),
            // Expecting a string reads it as a read would.
            "cas" => match &op.input {
                Value::List(pair) if pair.len() == 2 && reads_as(state, &pair[0]) => {
                    Some(pair[1].clone())
                }
                _ => cas(state, op),
            },
            "append" => Some(append(state, &op.input)),
            _ => None,
        }
    }
    fn changes_state(&self, op: &Operation) -> bool {
        !is_read(&op.f)
    }
    fn partition(&self, ops: &[Operation]) -> Vec<Vec<usize>> {
        let mut by_key: std::collections::BTreeMap<&Option<Value>, Vec<usize>> = Default::default();
        for o in ops {
            by_key.entry(&o.key).or_default().push(o.id);
        }
        by_key.into_values().collect()
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "kv", &["get", "put", "read", "write", "append", "cas"])
    }
    /// A put or append of a value nothing else mentions (an append's
    /// value is in every list read after it, or, a string, in every
    /// string, until the next put).
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        unseen_write(op, seen) || op.f == "append" && !seen(&op.input)
    }
}

/// A lock: `lock` and `unlock` alternate (`acquire` and `release`, as
/// Jepsen and Knossos name them, alike).
#[derive(Clone, Debug, Default)]
pub struct Mutex;

impl Model for Mutex {
    type State = bool;
    fn init(&self) -> bool {
        false
    }
    fn step(&self, held: &bool, op: &Operation) -> Option<bool> {
        match (op.f.as_str(), held) {
            ("lock" | "acquire", false) => Some(true),
            ("unlock" | "release", true) => Some(false),
            _ => None,
        }
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "mutex", &["lock", "unlock", "acquire", "release"])
    }
}

/// A lock held by the process that took it: `lock` takes it when free,
/// and only that process's `unlock` frees it (an owner-aware mutex, as
/// Jepsen's lock tests for Hazelcast check one). Stricter than
/// [`Mutex`], whose `unlock` frees it whoever holds it, so that a lock
/// freed by another's unlock passes, and two holders at once show only
/// by counting: its witness of an overlap is every lock since the last
/// time it was free, where this one's is the two holders. A process is
/// who holds it: in a Jepsen history a process that crashed comes back
/// under another number, whose unlock cannot free what the old one took.
#[derive(Clone, Debug, Default)]
pub struct OwnedMutex;

impl Model for OwnedMutex {
    type State = Option<u64>;
    fn init(&self) -> Option<u64> {
        None
    }
    fn step(&self, holder: &Option<u64>, op: &Operation) -> Option<Option<u64>> {
        match (op.f.as_str(), holder) {
            ("lock" | "acquire", None) => Some(Some(op.process)),
            ("unlock" | "release", Some(p)) if *p == op.process => Some(None),
            _ => None,
        }
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(
            ops,
            "owned-mutex",
            &["lock", "unlock", "acquire", "release"],
        )
    }
}

/// A FIFO queue.
#[derive(Clone, Debug, Default)]
pub struct Queue {
    /// What the operations to search show ([`Model::knowing`]).
    known: Option<std::sync::Arc<Leaving>>,
}

/// When values leave a queue, as the operations to search show.
#[derive(Debug)]
struct Leaving {
    /// Per value enqueued once: when the one dequeue that returned it
    /// (and must take effect) began and ended; `None` when no dequeue
    /// returned it (then only one whose output is unknown can take it).
    values: BTreeMap<Value, Option<(u64, u64)>>,
    /// When each dequeue whose output is unknown began, in order.
    unknown: Vec<u64>,
}

impl Queue {
    /// The queue, empty.
    pub fn new() -> Queue {
        Queue::default()
    }
}

impl Model for Queue {
    type State = VecDeque<Value>;
    fn init(&self) -> VecDeque<Value> {
        VecDeque::new()
    }
    fn step(&self, q: &VecDeque<Value>, op: &Operation) -> Option<VecDeque<Value>> {
        let known = self.known.as_deref();
        match op.f.as_str() {
            "enqueue" => {
                if let Some(known) = known {
                    if let Some(Some((_, ends))) = known.values.get(&op.input) {
                        // Every value ahead leaves first: none whose
                        // dequeue began after this one's ended, and no
                        // more of those no dequeue returned than dequeues
                        // of unknown output began by then.
                        let mut untold = 0;
                        for v in q {
                            match known.values.get(v) {
                                Some(Some((begins, _))) if ends < begins => return None,
                                Some(None) => untold += 1,
                                _ => {}
                            }
                        }
                        if untold > known.unknown.partition_point(|&c| c <= *ends) {
                            return None;
                        }
                    }
                }
                let mut q = q.clone();
                q.push_back(op.input.clone());
                // With no dequeue of unknown output, a value no dequeue
                // returned never leaves, nor any behind it: their order
                // is nothing to search, kept sorted.
                if let Some(known) = known.filter(|k| k.unknown.is_empty()) {
                    if let Some(dead) = q
                        .iter()
                        .position(|v| matches!(known.values.get(v), Some(None)))
                    {
                        q.make_contiguous()[dead + 1..].sort();
                    }
                }
                Some(q)
            }
            "dequeue" => {
                let mut q = q.clone();
                let front = q.pop_front().unwrap_or(Value::Nil);
                match &op.output {
                    Some(v) if *v != front => None,
                    // Not a value a dequeue that must take effect returns.
                    None if known
                        .is_some_and(|k| matches!(k.values.get(&front), Some(Some(_)))) =>
                    {
                        None
                    }
                    _ => Some(q),
                }
            }
            _ => None,
        }
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "queue", &["enqueue", "dequeue"])
    }
    /// An enqueue of a value nothing else mentions: in any order its
    /// value stays behind every value a dequeue returned (or that dequeue
    /// fails), and a dequeue whose output is unknown is free not to
    /// happen, so leaving it out loses no order.
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        op.f == "enqueue" && !seen(&op.input)
    }
    /// When the values enqueued once leave: one returned by one dequeue
    /// that must take effect, during it; one no dequeue returned, only
    /// by a dequeue whose output is unknown. Values enqueued in one order
    /// leave in it.
    fn knowing(&self, ops: &[&Operation], must: &[bool]) -> Option<Queue> {
        // Per value: enqueues, dequeues that returned it, and when the
        // last of those ran, if it must take effect.
        type Counts = (usize, usize, Option<(u64, u64)>);
        let mut seen: BTreeMap<&Value, Counts> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (o, &must) in ops.iter().zip(must) {
            match (o.f.as_str(), &o.output) {
                ("enqueue", _) => seen.entry(&o.input).or_default().0 += 1,
                ("dequeue", None) => unknown.push(o.call),
                ("dequeue", Some(v)) if *v != Value::Nil => {
                    let e = seen.entry(v).or_default();
                    e.1 += 1;
                    e.2 = o.ret.filter(|_| must).map(|ret| (o.call, ret));
                }
                _ => {}
            }
        }
        unknown.sort_unstable();
        let values: BTreeMap<Value, Option<(u64, u64)>> = seen
            .into_iter()
            .filter_map(|(v, (enq, deq, during))| match (enq, deq, during) {
                (1, 0, _) => Some((v.clone(), None)),
                (1, 1, Some(during)) => Some((v.clone(), Some(during))),
                _ => None,
            })
            .collect();
        (!values.is_empty()).then(|| Queue {
            known: Some(std::sync::Arc::new(Leaving { values, unknown })),
        })
    }
}

/// Registers named by key, read and written together in transactions,
/// as Knossos's `multi-register`: `txn` of `[f k v]` steps taken in
/// order at once, `f` `read` (or `r`, as Jepsen's newer histories write
/// it) or `write` (`w`); a read of `nil` is of any value (a transaction
/// invoked reads nothing yet), as in Knossos. Every register starts at
/// `initial`.
#[derive(Clone, Debug)]
pub struct MultiRegister {
    initial: Value,
}

impl MultiRegister {
    pub fn new(initial: Value) -> MultiRegister {
        MultiRegister { initial }
    }
}

/// A transaction's step: whether a write, the register, the value.
fn txn_step(step: &Value) -> Option<(bool, &Value, &Value)> {
    let Value::List(parts) = step else {
        return None;
    };
    let [Value::Str(f), k, v] = parts.as_slice() else {
        return None;
    };
    match f.as_str() {
        "read" | "r" => Some((false, k, v)),
        "write" | "w" => Some((true, k, v)),
        _ => None,
    }
}

/// A transaction's steps, `None` unless each is `[f k v]`.
fn txn_steps(txn: &Value) -> Option<Vec<(bool, &Value, &Value)>> {
    match txn {
        Value::List(steps) => steps.iter().map(txn_step).collect(),
        _ => None,
    }
}

impl Model for MultiRegister {
    /// The registers written, by key, in key order.
    type State = Vec<(Value, Value)>;
    fn init(&self) -> Self::State {
        Vec::new()
    }
    fn step(&self, state: &Self::State, op: &Operation) -> Option<Self::State> {
        // What it returned, or, not known, what it was asked (its reads
        // then `nil`: any value).
        let steps = txn_steps(op.output.as_ref().unwrap_or(&op.input))?;
        let mut state = state.clone();
        for (write, k, v) in steps {
            let at = state.binary_search_by(|(key, _)| key.cmp(k));
            match (write, at) {
                (true, Ok(i)) => state[i].1 = v.clone(),
                (true, Err(i)) => state.insert(i, (k.clone(), v.clone())),
                (false, _) if *v == Value::Nil => {}
                (false, Ok(i)) if state[i].1 != *v => return None,
                (false, Err(_)) if self.initial != *v => return None,
                (false, _) => {}
            }
        }
        Some(state)
    }
    fn changes_state(&self, op: &Operation) -> bool {
        txn_steps(&op.input).is_none_or(|steps| steps.iter().any(|s| s.0))
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        if let Some(what) = first_unknown(ops, "multi-register", &["txn"]) {
            return Some(what);
        }
        if let Some(o) = ops.iter().find(|o| {
            txn_steps(&o.input).is_none()
                || o.output.as_ref().is_some_and(|v| txn_steps(v).is_none())
        }) {
            return Some(format!(
                "the multi-register model reads a transaction as [[f k v] ...], f read or write (r, w): #{} is {}",
                o.call,
                o.output.as_ref().filter(|v| txn_steps(v).is_none()).unwrap_or(&o.input)
            ));
        }
        // A read of nil is of any value: where the registers start at a
        // value, a history whose completed reads are all nil (a client
        // that answered with the transaction as it was asked, its reads
        // never filled in) is one no order could fail.
        let (mut read, mut valued) = (0, false);
        for steps in ops
            .iter()
            .filter_map(|o| o.output.as_ref().and_then(txn_steps))
        {
            for (_, _, v) in steps.into_iter().filter(|s| !s.0) {
                read += 1;
                valued |= *v != Value::Nil;
            }
        }
        (self.initial != Value::Nil && read > 0 && !valued).then(|| {
            format!(
                "all {read} reads the transactions returned are nil, which the multi-register model \
                 takes as any value, though the registers start at {}: no order could fail them; \
                 complete each transaction with the values its reads saw",
                self.initial
            )
        })
    }
    /// A transaction that only writes values nothing else mentions.
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        txn_steps(&op.input)
            .is_some_and(|steps| steps.iter().all(|&(write, _, v)| write && !seen(v)))
    }
}

/// `v` put into the ordered multiset `items`.
fn insert_sorted(items: &[Value], v: &Value) -> Vec<Value> {
    let mut items = items.to_vec();
    let at = items.partition_point(|x| x <= v);
    items.insert(at, v.clone());
    items
}

/// A read's value as the elements of a set, in order, once each: a list
/// in any order, or `nil` for none; `None` for anything else.
fn as_set(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::Nil => Some(Vec::new()),
        Value::List(items) => {
            let mut items = items.clone();
            items.sort();
            items.dedup();
            Some(items)
        }
        _ => None,
    }
}

/// A set that is added to and read whole, as Knossos's `set`: `add` v;
/// `read` returns every element, a list in any order (or an EDN set),
/// `nil` when there is none; an element added twice is there once.
#[derive(Clone, Debug, Default)]
pub struct Set;

impl Model for Set {
    /// The elements, in order, once each.
    type State = Vec<Value>;
    fn init(&self) -> Vec<Value> {
        Vec::new()
    }
    fn step(&self, set: &Vec<Value>, op: &Operation) -> Option<Vec<Value>> {
        match op.f.as_str() {
            "add" if set.binary_search(&op.input).is_ok() => Some(set.clone()),
            "add" => Some(insert_sorted(set, &op.input)),
            "read" => match &op.output {
                Some(v) => (as_set(v)? == *set).then(|| set.clone()),
                None => Some(set.clone()),
            },
            _ => None,
        }
    }
    fn changes_state(&self, op: &Operation) -> bool {
        op.f != "read"
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        if let Some(what) = first_unknown(ops, "set", &["add", "read"]) {
            return Some(what);
        }
        ops.iter()
            .find(|o| o.f == "read" && o.output.as_ref().is_some_and(|v| as_set(v).is_none()))
            .map(|o| {
                format!(
                    "the set model reads a set as a list, an EDN set or nil: #{} read {}",
                    o.call,
                    o.output.as_ref().unwrap_or(&Value::Nil)
                )
            })
    }
    /// An add of a value no read returned: every read after it would
    /// have to hold it, so it only stands in the way.
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        op.f == "add" && !seen(&op.input)
    }
}

/// A queue whose dequeue returns any value in it, as Knossos's
/// `unordered-queue`: `enqueue` v; `dequeue` returns a value enqueued and
/// not yet dequeued (`nil` when there is none). A dequeue of unknown
/// outcome may have taken any value there when it took effect (or none):
/// exact, where Knossos's lets it take none.
#[derive(Clone, Debug, Default)]
pub struct UnorderedQueue;

/// What an unordered queue holds: runs of values in the order they were
/// enqueued (each run's values in order), each run followed by how many
/// dequeues of unknown outcome took effect after it. Which value such a
/// dequeue took is left open: it can only have been one enqueued before
/// it, and it matters only to a dequeue that finds the queue empty, which
/// needs one for each value still there (a value a known dequeue
/// returned, no unknown one took).
type Runs = Vec<(Vec<Value>, usize)>;

/// `runs` with no empty run (its unknown dequeues join the run before, or
/// go, having nothing before them) and no run followed by more unknown
/// dequeues than values enqueued before them.
fn tidy(runs: Runs) -> Runs {
    let mut out: Runs = Vec::with_capacity(runs.len());
    for (values, taken) in runs {
        match out.last_mut() {
            _ if !values.is_empty() => out.push((values, taken)),
            Some(last) => last.1 += taken,
            None => {}
        }
    }
    let mut before = 0;
    for (values, taken) in &mut out {
        before += values.len();
        *taken = (*taken).min(before);
    }
    out
}

impl Model for UnorderedQueue {
    type State = Runs;
    fn init(&self) -> Runs {
        Vec::new()
    }
    fn step(&self, runs: &Runs, op: &Operation) -> Option<Runs> {
        let mut runs = runs.clone();
        match (op.f.as_str(), &op.output) {
            ("enqueue", _) => match runs.last_mut() {
                Some((values, 0)) => *values = insert_sorted(values, &op.input),
                _ => runs.push((vec![op.input.clone()], 0)),
            },
            // Empty: each value still there taken by an unknown dequeue
            // after it, no two the same one.
            ("dequeue", Some(Value::Nil)) => {
                let mut after = 0usize;
                for (values, taken) in runs.iter().rev() {
                    after = (after + taken).checked_sub(values.len())?;
                }
                runs.clear();
            }
            // The last one enqueued, of values alike: the others, with
            // more unknown dequeues after them, are the likelier taken.
            ("dequeue", Some(v)) => {
                let (values, _) = runs
                    .iter_mut()
                    .rev()
                    .find(|(values, _)| values.contains(v))?;
                let at = values.binary_search(v).ok()?;
                values.remove(at);
            }
            ("dequeue", None) => {
                if let Some(last) = runs.last_mut() {
                    last.1 += 1;
                }
            }
            _ => return None,
        }
        Some(tidy(runs))
    }
    /// When no dequeue found the queue empty, each value apart (its
    /// enqueues and the dequeues that returned it), as values in a bag
    /// are independent objects; a dequeue of unknown outcome then needs
    /// no part, as taking a value could only have kept a later dequeue
    /// from returning it.
    fn partition(&self, ops: &[Operation]) -> Vec<Vec<usize>> {
        if ops
            .iter()
            .any(|o| o.f == "dequeue" && o.output == Some(Value::Nil))
        {
            return vec![(0..ops.len()).collect()];
        }
        let mut by_value: std::collections::BTreeMap<&Value, Vec<usize>> = Default::default();
        for o in ops {
            let value = match (o.f.as_str(), &o.output) {
                ("dequeue", None) => continue,
                ("dequeue", Some(v)) => v,
                _ => &o.input,
            };
            by_value.entry(value).or_default().push(o.id);
        }
        by_value.into_values().collect()
    }
    fn unknown(&self, ops: &[Operation]) -> Option<String> {
        first_unknown(ops, "unordered-queue", &["enqueue", "dequeue"])
    }
    /// An enqueue of a value nothing else mentions: it can only keep a
    /// dequeue from finding the queue empty, and a dequeue of unknown
    /// outcome that took it could as well not have happened.
    fn needless(&self, op: &Operation, seen: &dyn Fn(&Value) -> bool) -> bool {
        op.f == "enqueue" && !seen(&op.input)
    }
}

/// Checks `history` with the built-in model called `name` (one of
/// [`MODEL_NAMES`]), whose registers start at `initial`.
pub fn by_name(
    name: &str,
    initial: Value,
    history: &super::History,
    budget: &super::Budget,
) -> Result<super::Verdict, String> {
    Ok(find(name, &[])?.check(initial, history, budget))
}

/// The built-in models, named.
pub fn builtin() -> Vec<NamedModel> {
    vec![
        NamedModel::new("register", "read, write", Register::new),
        NamedModel::new(
            "cas-register",
            "read, write, cas [old new]",
            CasRegister::new,
        ),
        NamedModel::new(
            "kv",
            "per key, each key checked alone: get, put, append, cas",
            KeyValue::new,
        ),
        NamedModel::new(
            "mutex",
            "lock, unlock (or acquire, release); any process's unlock frees it",
            |_| Mutex,
        ),
        NamedModel::new(
            "owned-mutex",
            "lock, unlock (or acquire, release); held by the process that locked it",
            |_| OwnedMutex,
        ),
        NamedModel::new("queue", "enqueue, dequeue (FIFO)", |_| Queue::new()),
        NamedModel::new(
            "multi-register",
            "txn [[read k v] [write k v] ...], registers by key",
            MultiRegister::new,
        ),
        NamedModel::new("set", "add, read (every element, in any order)", |_| Set),
        NamedModel::new(
            "unordered-queue",
            "enqueue, dequeue (any value in the queue)",
            |_| UnorderedQueue,
        ),
    ]
}

/// The model called `name`: one of `extra` (a user's own, which may
/// replace a built-in of the same name) or a built-in. The error names
/// every model there is.
pub fn find(name: &str, extra: &[NamedModel]) -> Result<NamedModel, String> {
    let builtin = builtin();
    if let Some(m) = extra.iter().chain(&builtin).find(|m| m.name() == name) {
        return Ok(m.clone());
    }
    let mut names: Vec<&str> = extra.iter().map(NamedModel::name).collect();
    for n in MODEL_NAMES {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if name.is_empty() {
        return Err(format!("no model named (models: {})", names.join(", ")));
    }
    let hint = crate::names::did_you_mean(name, names.iter().copied(), '`');
    Err(format!(
        "no model `{name}`{hint} (models: {})",
        names.join(", ")
    ))
}

type Judge = dyn Fn(Value, &super::History, &super::Budget) -> super::Verdict + Send + Sync;

/// A sequential model known by name, its type put away: what a scenario's
/// `[check] linearizable = "NAME"`, `dsim check --linearizable NAME` and
/// `--import jepsen --model NAME` look up. A protocol declares its own
/// with [`crate::protocols::Spec::model`].
#[derive(Clone)]
pub struct NamedModel {
    name: String,
    doc: String,
    judge: std::sync::Arc<Judge>,
}

impl NamedModel {
    /// The model `make` builds from a check's `initial` value (a
    /// register's value before any write; `nil` unless a scenario's
    /// `[check] initial` or `--initial` says otherwise), called `name`;
    /// `doc` lists its operations in a few words.
    pub fn new<M: Model + 'static>(
        name: &str,
        doc: &str,
        make: impl Fn(Value) -> M + Send + Sync + 'static,
    ) -> NamedModel {
        NamedModel {
            name: name.to_string(),
            doc: doc.to_string(),
            judge: std::sync::Arc::new(move |initial, history, budget| {
                super::check(&make(initial), history, budget)
            }),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its operations, in a few words.
    pub fn doc(&self) -> &str {
        &self.doc
    }

    /// Checks `history` against the model built from `initial`.
    pub fn check(
        &self,
        initial: Value,
        history: &super::History,
        budget: &super::Budget,
    ) -> super::Verdict {
        (self.judge)(initial, history, budget)
    }
}

impl std::fmt::Debug for NamedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamedModel")
            .field("name", &self.name)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}
