//! The search: Wing & Gong's backtracking over a list of invocation and
//! completion events, with Lowe's cache of (operations linearized, model
//! state) so that no configuration is explored twice.
//!
//! The events are a doubly linked list in time order; an operation that
//! never completed for sure has its completion at the end of time. From
//! the head, an invocation is tried: if the model accepts the operation
//! in the current state and the resulting configuration is new, the
//! operation is linearized (its two events leave the list) and the search
//! starts again from the head; otherwise the next event is tried. Reaching
//! a completion means its operation should have been linearized by then:
//! back up to the last choice and try the next. Reaching the end of time
//! means every completed operation is linearized: done.
//!
//! An operation may be marked optional (a witness search lets it go): it
//! takes effect during its call as any other, or, when the search reaches
//! its completion without it, not at all — it leaves the list as if
//! linearized, with the state unchanged. That is the last choice at that
//! point, so backing up past it backs up further.
//!
//! The cache's key for the operations linearized is small: the search
//! never passes a completion still in the list, so a configuration's
//! linearized set is every operation invoked before the first completion
//! left in the list, less those still in the list before it — the
//! completion and that short list (operations running at once, and those
//! whose outcome is unknown) name it. A bitset over every operation, as
//! Lowe keeps, made each configuration cost n/8 bytes and its copy n/64
//! words: a 50,000-operation sequential register history took 410 MB.
//! When the short list would be longer than that bitset, the bitset is
//! the key (whichever is chosen depends on the set alone, so one set has
//! one key).
//!
//! An operation whose outcome is unknown never has to take effect, so a
//! configuration that has let fewer of them take effect, and is otherwise
//! the same, can do all another can and more: it dominates it. Where
//! outcomes are unknown, a second order of trying takes turns with time
//! order ([`linearize_optional`]): the operations whose outcome is known
//! first, with a cache that keeps, for each configuration less the
//! unknown ones, the sets of those taken effect that the search has met
//! (none a subset of another), a configuration being new only when none
//! of those is a subset of its own; and one of unknown outcome that would
//! take effect right after another such, leaving the state it would have
//! left without that one (a write after a write), is not tried there: the
//! configuration without the first, reached from the same parent,
//! dominates. A search in time order met every sequence of a partition's
//! timed-out writes (a user's primary-backup register, 143 operations, 80
//! of them unknown: unknown after 5,000,000 configurations, 19 s and
//! 820 MB); known first, it takes 376 steps.
//!
//! An operation that must take effect but that the model would leave out
//! were its outcome unknown ([`Model::needless`]: a register's write of a
//! value no read returns) is hidden: whenever another takes effect, each
//! such one that could take effect then, and after which that one leaves
//! the state it would have left without it (a write after a write), takes
//! effect right before it. With them placed, the configuration dominates
//! those without (what they did, nothing sees): the search no longer meets
//! every subset of those running at once, each with each last value. A
//! user's primary-backup register with its primary crashed twice (147
//! operations, 46 writes completed whose value no read returned) was
//! unknown after 5,000,000 configurations and 25 s; it is judged in well
//! under a millisecond.

use super::{Model, Operation};
use std::hash::Hash;

/// How far a search may go before its verdict is "unknown". Both bounds
/// are counts, not seconds, so the same history gets the same verdict on
/// every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Model steps tried, over the whole check.
    pub steps: u64,
    /// Configurations remembered at once.
    pub remembered: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            steps: 50_000_000,
            remembered: 5_000_000,
        }
    }
}

/// Steps spent so far, across the parts and the explanation of a check.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spent {
    pub steps: u64,
}

const END_OF_TIME: u64 = u64::MAX;
const NONE: usize = usize::MAX;

/// The operations linearized in a configuration (see the module's doc).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Linearized {
    /// The first completion left in the list (`u32::MAX`: none before the
    /// end of time), and the operations before it still in the list.
    Before(u32, Box<[u32]>),
    /// A bit per operation.
    Bits(Box<[u64]>),
}

/// The key of the configuration whose list is `next` (from `head`) less
/// the events of `op`, and whose linearized set `bits` holds (with `op`),
/// leaving out the operations kept apart (`apart`: those of unknown
/// outcome, under dominance; each a bit of `apart_mask` as well).
fn linearized_key(
    next: &[usize],
    head: usize,
    op: usize,
    bits: &[u64],
    (apart, apart_mask): (&[bool], &[u64]),
    pending: &mut Vec<u32>,
) -> Linearized {
    pending.clear();
    let most = 2 * bits.len();
    let mut e = next[head];
    while e != NONE {
        if e / 2 != op {
            if e % 2 == 1 {
                break;
            }
            if !apart[e / 2] {
                if pending.len() == most {
                    let known = bits.iter().zip(apart_mask).map(|(b, u)| b & !u);
                    return Linearized::Bits(known.collect());
                }
                pending.push((e / 2) as u32);
            }
        }
        e = next[e];
    }
    let at = if e == NONE { u32::MAX } else { e as u32 };
    Linearized::Before(at, pending.as_slice().into())
}

/// The configurations the search has met (see the module's doc).
enum Seen<S> {
    /// Configurations whole.
    Exact(rustc_hash::FxHashSet<(Linearized, S)>),
    /// Each configuration less its operations of unknown outcome, with
    /// the sets of those taken effect (a bit each, by rank) met with it.
    Dominated {
        sets: rustc_hash::FxHashMap<(Linearized, S), Vec<Box<[u64]>>>,
        len: usize,
    },
}

impl<S: Clone + Eq + Hash> Seen<S> {
    /// Remembers a configuration; false if it, or one that dominates it,
    /// was met before.
    fn insert(&mut self, key: Linearized, state: &S, taken: &[u64]) -> bool {
        let subset = |a: &[u64], b: &[u64]| a.iter().zip(b).all(|(x, y)| x & !y == 0);
        match self {
            Seen::Exact(set) => set.insert((key, state.clone())),
            Seen::Dominated { sets, len } => {
                let met = sets.entry((key, state.clone())).or_default();
                if met.iter().any(|m| subset(m, taken)) {
                    return false;
                }
                // Those it dominates can go: it stands for them now.
                let before = met.len();
                met.retain(|m| !subset(taken, m));
                *len -= before - met.len();
                met.push(taken.into());
                *len += 1;
                true
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            Seen::Exact(set) => set.len(),
            Seen::Dominated { len, .. } => *len,
        }
    }
}

/// A linearization of `ops` (their ids, in order), `None` if there is
/// none, or why the budget ran out.
pub fn linearize<M: Model>(
    model: &M,
    ops: &[&Operation],
    budget: &Budget,
    spent: &mut Spent,
) -> Result<Option<Vec<usize>>, String> {
    linearize_optional(model, ops, &[], budget, spent)
}

/// [`linearize`], where `ops[i]` with `optional[i]` (completed) may also
/// not have taken effect at all; those left out are not in the answer.
/// `optional` shorter than `ops` leaves the rest required.
pub fn linearize_optional<M: Model>(
    model: &M,
    ops: &[&Operation],
    optional: &[bool],
    budget: &Budget,
    spent: &mut Spent,
) -> Result<Option<Vec<usize>>, String> {
    if ops.iter().all(|o| o.ret.is_some()) {
        return search(
            model,
            ops,
            optional,
            budget,
            spent,
            false,
            &mut Run::Fresh,
            0,
        );
    }
    // Where outcomes are unknown, two orders of trying: in time, which
    // soon finds a linearization whose operations of unknown outcome took
    // effect as they ran; and those whose outcome is known first, which
    // soon finds one where they did not (a partition's timed-out writes).
    // Each is slow where the other is quick: a register's 889 operations,
    // 98 of them unknown writes that took effect, 78,242 steps in time and
    // 5,462,375 known first; 400 operations, half of them in a stretch
    // whose writes all timed out, 362,692 in time and 8,758 known first.
    // They take turns, each going on where its last turn stopped, with a
    // turn that grows eightfold a round, the second's an eighth of the
    // first's (where both are quick, time order decides alone): a verdict
    // costs at most 1.13 times what time order alone would, or about 65
    // times what the other would, and is the same on every machine. (Each
    // began afresh every turn once: a history time order decides in 38
    // million steps then ran out of the 50 million.) An order that runs
    // out of room to remember leaves the turns to the other.
    let mut runs = [Run::Fresh, Run::Fresh];
    let mut cap = FIRST_ORDER_STEPS;
    loop {
        for (k, steps) in [(0, cap), (1, (cap / 8).max(1))] {
            if matches!(runs[k], Run::Failed(_)) {
                continue;
            }
            let round = Budget {
                steps: budget.steps.min(spent.steps.saturating_add(steps)),
                ..*budget
            };
            let held = runs[1 - k].held();
            let known_first = k == 1;
            let mut run = std::mem::replace(&mut runs[k], Run::Fresh);
            match search(
                model,
                ops,
                optional,
                &round,
                spent,
                known_first,
                &mut run,
                held,
            ) {
                Err(_) if matches!(run, Run::Paused(_)) && round.steps < budget.steps => {
                    runs[k] = run;
                }
                Err(why) if round.steps < budget.steps => runs[k] = Run::Failed(why),
                decided => return decided,
            }
        }
        if let [Run::Failed(why), Run::Failed(_)] = &runs {
            return Err(why.clone());
        }
        cap = cap.saturating_mul(8);
    }
}

/// One order's search between its turns: not begun, stopped where its
/// turn ended, or given up (why).
enum Run<S> {
    Fresh,
    Paused(Box<Paused<S>>),
    Failed(String),
}

impl<S: Clone + Eq + Hash> Run<S> {
    /// The configurations it remembers.
    fn held(&self) -> usize {
        match self {
            Run::Paused(p) => p.cache.len(),
            _ => 0,
        }
    }
}

/// A choice the search made, undone when it backs up.
enum Choice<S> {
    /// An operation took effect (its invocation event), from this state.
    Took(usize, S),
    /// An optional operation did not take effect (its completion event).
    LeftOut(usize),
    /// An operation hidden by the next one taken (its invocation event):
    /// it took effect right before that one, which left the state as it
    /// would have without it. A `Took`'s hidden ones are right below it
    /// on the stack.
    Hid(usize),
}

/// What a search that stopped at the end of its turn needs to go on.
struct Paused<S> {
    next: Vec<usize>,
    prev: Vec<usize>,
    linearized: Vec<u64>,
    taken: Vec<u64>,
    cache: Seen<S>,
    state: S,
    stack: Vec<Choice<S>>,
    later: bool,
    entry: usize,
}

/// The steps of the first try in time order (see [`linearize_optional`]).
const FIRST_ORDER_STEPS: u64 = 1 << 16;

/// The search itself, in time order or, `known_first`, trying from each
/// configuration the operations whose outcome is known before the others.
/// It goes on from `run` where an earlier turn stopped, and leaves itself
/// there (`Run::Paused`) when this turn's steps end; `held`: the
/// configurations the other order remembers, counted against
/// `budget.remembered` with its own.
#[allow(clippy::too_many_arguments)]
fn search<M: Model>(
    model: &M,
    ops: &[&Operation],
    optional: &[bool],
    budget: &Budget,
    spent: &mut Spent,
    known_first: bool,
    run: &mut Run<M::State>,
    held: usize,
) -> Result<Option<Vec<usize>>, String> {
    let n = ops.len();
    if n >= (u32::MAX / 2) as usize {
        return Err(format!("{n} operations are more than one search can hold"));
    }
    let must: Vec<bool> = (0..n)
        .map(|i| ops[i].ret.is_some() && optional.get(i) != Some(&true))
        .collect();
    let knowing = model.knowing(ops, &must);
    let model = knowing.as_ref().unwrap_or(model);
    // Events: 2i is op i's invocation, 2i+1 its completion.
    let mut order: Vec<usize> = (0..2 * n).collect();
    let time = |e: usize| {
        let o = ops[e / 2];
        if e % 2 == 0 {
            (o.call, 0)
        } else {
            (o.ret.unwrap_or(END_OF_TIME), 1)
        }
    };
    order.sort_by_key(|&e| (time(e), e));
    // The list, with a head sentinel at index 2n.
    let head = 2 * n;
    let mut next = vec![NONE; 2 * n + 1];
    let mut prev = vec![NONE; 2 * n + 1];
    let mut last = head;
    for &e in &order {
        next[last] = e;
        prev[e] = last;
        last = e;
    }
    let unlink = |e: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        let (p, q) = (prev[e], next[e]);
        next[p] = q;
        if q != NONE {
            prev[q] = p;
        }
    };
    let relink = |e: usize, next: &mut Vec<usize>, prev: &mut Vec<usize>| {
        let (p, q) = (prev[e], next[e]);
        next[p] = e;
        if q != NONE {
            prev[q] = e;
        }
    };
    let words = n.div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    // Operations whose outcome is unknown: each its rank among them. In
    // time order the cache keys configurations whole, as before there was
    // a second order: dominance pays where few such operations take
    // effect, and a bit for each of thousands in every configuration
    // costs where most do (a register's 100,000 operations, 5,000 unknown:
    // 860 MB where whole keys take 250).
    let unknown: Vec<bool> = ops.iter().map(|o| o.ret.is_none()).collect();
    let ranked = unknown.iter().filter(|&&u| u).count();
    let dominance = known_first && ranked > 0;
    let apart: Vec<bool> = unknown.iter().map(|&u| u && dominance).collect();
    let mut apart_mask = vec![0u64; words];
    let mut rank = vec![u32::MAX; n];
    for (r, i) in (0..n).filter(|&i| apart[i]).enumerate() {
        apart_mask[i / 64] |= 1 << (i % 64);
        rank[i] = r as u32;
    }
    let mut taken = vec![0u64; if dominance { ranked.div_ceil(64) } else { 0 }];
    let flip = |taken: &mut [u64], op: usize| {
        if let Some(&r) = rank.get(op).filter(|&&r| r != u32::MAX) {
            taken[r as usize / 64] ^= 1 << (r % 64);
        }
    };
    // The cache holds millions of keys, each hashed once: a fast hash, not
    // one that resists adversaries; deterministic, and never iterated.
    let mut cache: Seen<M::State> = match dominance {
        false => Seen::Exact(Default::default()),
        true => Seen::Dominated {
            sets: Default::default(),
            len: 0,
        },
    };
    let apart = (apart.as_slice(), apart_mask.as_slice());
    let mut pending = Vec::new();
    let mut state = model.init();
    // Those the search hides (see the module's doc).
    let hide = super::hideable(model, ops, &must);
    let hiding = hide.contains(&true);
    let mut hidden: Vec<usize> = Vec::new();
    let mut stack: Vec<Choice<M::State>> = Vec::new();
    // Whether the operation of unknown outcome about to take effect, into
    // `after`, comes right after another such that it leaves the same
    // state as it would have without that one (a write after a write):
    // the configuration without that one dominates this one, and is met
    // from the same parent.
    let overwrites = |stack: &[Choice<M::State>], op: usize, after: &M::State| match stack.last() {
        Some(Choice::Took(e, before)) if unknown[e / 2] => {
            model.step(before, ops[op]).as_ref() == Some(after)
        }
        _ => false,
    };
    let over = |spent: &mut Spent| {
        spent.steps += 1;
        (spent.steps > budget.steps).then(|| {
            format!(
                "the search took more than {} steps (raise the budget)",
                budget.steps
            )
        })
    };
    // `known_first`: from each configuration, the operations whose outcome
    // is known are tried first, and only then, in a second pass, those
    // whose outcome is unknown: a configuration that took fewer of those
    // is met before those it dominates, which are then not explored.
    let two_passes = known_first && ranked > 0;
    let mut later = false;
    let mut entry = next[head];
    // Going on from where its last turn stopped.
    if let Run::Paused(p) = std::mem::replace(run, Run::Fresh) {
        let p = *p;
        (next, prev, linearized, taken) = (p.next, p.prev, p.linearized, p.taken);
        (cache, state, stack, later, entry) = (p.cache, p.state, p.stack, p.later, p.entry);
    }
    // Stops at the end of its turn, to go on from there at its next: the
    // step counted again then.
    macro_rules! over {
        () => {
            if let Some(why) = over(spent) {
                *run = Run::Paused(Box::new(Paused {
                    next,
                    prev,
                    linearized,
                    taken,
                    cache,
                    state,
                    stack,
                    later,
                    entry,
                }));
                return Err(why);
            }
        };
    }
    loop {
        if entry == NONE {
            break;
        }
        let op = entry / 2;
        if entry % 2 == 1 {
            if ops[op].ret.is_none() {
                // The end of time: every completed operation is placed.
                break;
            }
            if !later && two_passes {
                later = true;
                entry = next[head];
                continue;
            }
            if optional.get(op) == Some(&true) {
                // Not linearized by its completion: it did not happen.
                over!();
                linearized[op / 64] |= 1 << (op % 64);
                let key = linearized_key(&next, head, op, &linearized, apart, &mut pending);
                if cache.insert(key, &state, &taken) {
                    stack.push(Choice::LeftOut(entry));
                    unlink(entry - 1, &mut next, &mut prev);
                    unlink(entry, &mut next, &mut prev);
                    entry = next[head];
                    later = false;
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            // A completion whose operation is not linearized: back up
            // to the last choice that has another after it.
            loop {
                match stack.pop() {
                    None => return Ok(None),
                    Some(Choice::LeftOut(event)) => {
                        let o = event / 2;
                        linearized[o / 64] &= !(1 << (o % 64));
                        relink(event, &mut next, &mut prev);
                        relink(event - 1, &mut next, &mut prev);
                    }
                    Some(Choice::Hid(_)) => unreachable!("popped with the choice that hid it"),
                    Some(Choice::Took(event, before)) => {
                        let o = event / 2;
                        linearized[o / 64] &= !(1 << (o % 64));
                        flip(&mut taken, o);
                        state = before;
                        relink(event + 1, &mut next, &mut prev);
                        relink(event, &mut next, &mut prev);
                        while let Some(&Choice::Hid(e)) = stack.last() {
                            stack.pop();
                            linearized[e / 128] &= !(1 << ((e / 2) % 64));
                            relink(e + 1, &mut next, &mut prev);
                            relink(e, &mut next, &mut prev);
                        }
                        entry = next[event];
                        later = two_passes && unknown[o];
                        break;
                    }
                }
            }
            continue;
        }
        if two_passes && unknown[op] != later {
            entry = next[entry];
            continue;
        }
        over!();
        let mut advanced = false;
        // One whose outcome is unknown that changes nothing here is
        // better left for later: taking effect here, it could take none
        // later. (Not so for one a witness search lets go: it leaves at
        // its completion, and the search would try it at every step till
        // then, where taking effect ends those tries.)
        let free = ops[op].ret.is_none();
        let step = model
            .step(&state, ops[op])
            .filter(|after| !free || *after != state)
            .filter(|after| !free || !known_first || !overwrites(&stack, op, after));
        if let Some(after) = step {
            linearized[op / 64] |= 1 << (op % 64);
            flip(&mut taken, op);
            // Those it hides that could take effect now do, right before
            // it: with them placed, the configuration dominates those
            // without (what they wrote nothing reads), and one does not
            // meet every subset of them in turn.
            hidden.clear();
            if hiding {
                let mut before = std::borrow::Cow::Borrowed(&state);
                let mut e = next[head];
                while e != NONE && e % 2 == 0 {
                    let w = e / 2;
                    if hide[w] && w != op {
                        if let Some(mid) = model.step(&before, ops[w]) {
                            if model.step(&mid, ops[op]).as_ref() == Some(&after) {
                                before = std::borrow::Cow::Owned(mid);
                                hidden.push(e);
                            }
                        }
                    }
                    e = next[e];
                }
                for &e in &hidden {
                    linearized[e / 128] |= 1 << ((e / 2) % 64);
                    unlink(e, &mut next, &mut prev);
                    unlink(e + 1, &mut next, &mut prev);
                }
            }
            let key = linearized_key(&next, head, op, &linearized, apart, &mut pending);
            if cache.insert(key, &after, &taken) {
                if cache.len() + held > budget.remembered {
                    return Err(format!(
                        "the search remembered more than {} configurations (raise the budget)",
                        budget.remembered
                    ));
                }
                stack.extend(hidden.iter().map(|&e| Choice::Hid(e)));
                stack.push(Choice::Took(entry, std::mem::replace(&mut state, after)));
                unlink(entry, &mut next, &mut prev);
                unlink(entry + 1, &mut next, &mut prev);
                entry = next[head];
                later = false;
                advanced = true;
            } else {
                linearized[op / 64] &= !(1 << (op % 64));
                flip(&mut taken, op);
                for &e in hidden.iter().rev() {
                    linearized[e / 128] &= !(1 << ((e / 2) % 64));
                    relink(e + 1, &mut next, &mut prev);
                    relink(e, &mut next, &mut prev);
                }
            }
        }
        if !advanced {
            entry = next[entry];
        }
    }
    Ok(Some(
        stack
            .iter()
            .filter_map(|choice| match choice {
                Choice::Took(call, _) | Choice::Hid(call) => Some(ops[call / 2].id),
                Choice::LeftOut(_) => None,
            })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::linearizable::{CasRegister, Queue, Register};
    use crate::history::Value;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{Rng, SeedableRng};

    /// Random histories of 3 clients, many outcomes unknown (some of them
    /// writes that took effect, some not), some reads wrong.
    fn random_ops(seed: u64, kind: &str) -> Vec<Operation> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut small = move |n: u64| rng.next_u64() % n;
        let mut ops: Vec<Operation> = Vec::new();
        let mut t = 0;
        for id in 0..4 + small(6) as usize {
            t += small(3);
            let call = t;
            let ret = (small(10) >= 4).then(|| call + 1 + small(6));
            let v = Value::Int(small(3) as i64);
            let (f, input, output) = match (kind, small(3)) {
                ("queue", 0) => ("dequeue", Value::Nil, ret.map(|_| v.clone())),
                ("queue", _) => ("enqueue", v.clone(), ret.map(|_| v.clone())),
                ("cas", 0) => {
                    let cas = Value::List(vec![v.clone(), Value::Int(small(3) as i64)]);
                    ("cas", cas.clone(), ret.map(|_| cas))
                }
                (_, 0) => ("read", Value::Nil, ret.map(|_| v.clone())),
                _ => ("write", v.clone(), ret.map(|_| v.clone())),
            };
            ops.push(Operation {
                id,
                process: id as u64,
                f: f.into(),
                key: None,
                input,
                output,
                call,
                ret,
            });
        }
        ops
    }

    /// Known outcomes first, under dominance and the write-after-write
    /// rule, gives the verdict time order gives (itself held to trying
    /// every order by the suite), with and without operations let go.
    #[test]
    fn the_second_order_agrees_with_time_order() {
        let budget = Budget::default();
        let mut verdicts = [0; 2];
        for seed in 0..3000 {
            for kind in ["register", "cas", "queue"] {
                let ops = random_ops(seed, kind);
                let refs: Vec<&Operation> = ops.iter().collect();
                let optional: Vec<bool> =
                    (0..ops.len()).map(|i| (seed + i as u64) % 4 == 0).collect();
                for optional in [&[][..], &optional[..]] {
                    let judge = |known_first| -> bool {
                        let spent = &mut Spent::default();
                        let r = match kind {
                            "register" => {
                                let model = &Register::new(Value::Int(0));
                                whole(model, &refs, optional, &budget, spent, known_first)
                            }
                            "cas" => {
                                let model = &CasRegister::new(Value::Int(0));
                                whole(model, &refs, optional, &budget, spent, known_first)
                            }
                            _ => whole(&Queue::new(), &refs, optional, &budget, spent, known_first),
                        };
                        r.unwrap().is_some()
                    };
                    let (time, known) = (judge(false), judge(true));
                    assert_eq!(time, known, "{kind} seed {seed}: {ops:?}");
                    verdicts[usize::from(time)] += 1;
                }
            }
        }
        assert!(verdicts.iter().all(|&n| n >= 1000), "{verdicts:?}");
    }

    /// One search, in one turn.
    fn whole<M: Model>(
        model: &M,
        ops: &[&Operation],
        optional: &[bool],
        budget: &Budget,
        spent: &mut Spent,
        known_first: bool,
    ) -> Result<Option<Vec<usize>>, String> {
        search(
            model,
            ops,
            optional,
            budget,
            spent,
            known_first,
            &mut Run::Fresh,
            0,
        )
    }

    /// The same search in turns of `turn` steps, each going on from where
    /// the last stopped: its answer, its steps, and how many turns ended
    /// before it did.
    fn in_turns<M: Model>(
        model: &M,
        ops: &[&Operation],
        optional: &[bool],
        known_first: bool,
        turn: u64,
    ) -> (Result<Option<Vec<usize>>, String>, u64, u64) {
        let (spent, mut run, mut stops) = (&mut Spent::default(), Run::Fresh, 0);
        loop {
            let round = Budget {
                steps: spent.steps + turn,
                ..Budget::default()
            };
            match search(
                model,
                ops,
                optional,
                &round,
                spent,
                known_first,
                &mut run,
                0,
            ) {
                Err(_) if matches!(run, Run::Paused(_)) => stops += 1,
                r => return (r, spent.steps, stops),
            }
        }
    }

    /// A search stopped every few steps and taken up again finds what it
    /// finds in one go, the same linearization, in the same steps (each
    /// stop's step counted twice), in either order.
    #[test]
    fn a_search_stopped_every_few_steps_goes_on_to_the_same_answer() {
        let mut stopped = 0;
        for seed in 0..400 {
            for kind in ["register", "cas", "queue"] {
                let ops = random_ops(seed, kind);
                let refs: Vec<&Operation> = ops.iter().collect();
                let optional: Vec<bool> =
                    (0..ops.len()).map(|i| (seed + i as u64) % 4 == 0).collect();
                for known_first in [false, true] {
                    let turn = 1 + seed % 9;
                    let check = |whole: (Result<Option<Vec<usize>>, String>, u64), turns: (Result<Option<Vec<usize>>, String>, u64, u64)| {
                        assert_eq!(turns.0, whole.0, "{kind} seed {seed}");
                        assert_eq!(turns.1, whole.1 + turns.2, "{kind} seed {seed}");
                        turns.2
                    };
                    let one = |r: Result<Option<Vec<usize>>, String>, s: &Spent| (r, s.steps);
                    let spent = &mut Spent::default();
                    let budget = Budget::default();
                    stopped += match kind {
                        "register" => {
                            let m = &Register::new(Value::Int(0));
                            let w = whole(m, &refs, &optional, &budget, spent, known_first);
                            check(
                                one(w, spent),
                                in_turns(m, &refs, &optional, known_first, turn),
                            )
                        }
                        "cas" => {
                            let m = &CasRegister::new(Value::Int(0));
                            let w = whole(m, &refs, &optional, &budget, spent, known_first);
                            check(
                                one(w, spent),
                                in_turns(m, &refs, &optional, known_first, turn),
                            )
                        }
                        _ => {
                            let m = &Queue::new();
                            let w = whole(m, &refs, &optional, &budget, spent, known_first);
                            check(
                                one(w, spent),
                                in_turns(m, &refs, &optional, known_first, turn),
                            )
                        }
                    };
                }
            }
        }
        assert!(stopped > 10_000, "{stopped} stops");
    }
}
