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

use super::{Model, Operation};

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
/// the events of `op`, and whose linearized set `bits` holds (with `op`).
fn linearized_key(
    next: &[usize],
    head: usize,
    op: usize,
    bits: &[u64],
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
            if pending.len() == most {
                return Linearized::Bits(bits.into());
            }
            pending.push((e / 2) as u32);
        }
        e = next[e];
    }
    let at = if e == NONE { u32::MAX } else { e as u32 };
    Linearized::Before(at, pending.as_slice().into())
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
    // The cache holds millions of keys, each hashed once: a fast hash, not
    // one that resists adversaries; deterministic, and never iterated.
    let mut cache: rustc_hash::FxHashSet<(Linearized, M::State)> = Default::default();
    let mut pending = Vec::new();
    let mut state = model.init();
    // The choices made: (invocation event, state before it), or (the
    // completion event of an optional operation left out, None).
    let mut stack: Vec<(usize, Option<M::State>)> = Vec::new();
    let over = |spent: &mut Spent| {
        spent.steps += 1;
        (spent.steps > budget.steps).then(|| {
            format!(
                "the search took more than {} steps (raise the budget)",
                budget.steps
            )
        })
    };
    let mut entry = next[head];
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
            if optional.get(op) == Some(&true) {
                // Not linearized by its completion: it did not happen.
                if let Some(why) = over(spent) {
                    return Err(why);
                }
                linearized[op / 64] |= 1 << (op % 64);
                let key = linearized_key(&next, head, op, &linearized, &mut pending);
                if cache.insert((key, state.clone())) {
                    stack.push((entry, None));
                    unlink(entry - 1, &mut next, &mut prev);
                    unlink(entry, &mut next, &mut prev);
                    entry = next[head];
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            // A completion whose operation is not linearized: back up
            // to the last choice that has another after it.
            loop {
                let Some((event, before)) = stack.pop() else {
                    return Ok(None);
                };
                let o = event / 2;
                linearized[o / 64] &= !(1 << (o % 64));
                match before {
                    None => {
                        relink(event, &mut next, &mut prev);
                        relink(event - 1, &mut next, &mut prev);
                    }
                    Some(before) => {
                        state = before;
                        relink(event + 1, &mut next, &mut prev);
                        relink(event, &mut next, &mut prev);
                        entry = next[event];
                        break;
                    }
                }
            }
            continue;
        }
        if let Some(why) = over(spent) {
            return Err(why);
        }
        let mut advanced = false;
        // One whose outcome is unknown that changes nothing here is
        // better left for later: taking effect here, it could take none
        // later. (Not so for one a witness search lets go: it leaves at
        // its completion, and the search would try it at every step till
        // then, where taking effect ends those tries.)
        let free = ops[op].ret.is_none();
        let step = model
            .step(&state, ops[op])
            .filter(|after| !free || *after != state);
        if let Some(after) = step {
            linearized[op / 64] |= 1 << (op % 64);
            let key = linearized_key(&next, head, op, &linearized, &mut pending);
            if cache.insert((key, after.clone())) {
                if cache.len() > budget.remembered {
                    return Err(format!(
                        "the search remembered more than {} configurations (raise the budget)",
                        budget.remembered
                    ));
                }
                stack.push((entry, Some(std::mem::replace(&mut state, after))));
                unlink(entry, &mut next, &mut prev);
                unlink(entry + 1, &mut next, &mut prev);
                entry = next[head];
                advanced = true;
            } else {
                linearized[op / 64] &= !(1 << (op % 64));
            }
        }
        if !advanced {
            entry = next[entry];
        }
    }
    Ok(Some(
        stack
            .iter()
            .filter(|(_, before)| before.is_some())
            .map(|(call, _)| ops[call / 2].id)
            .collect(),
    ))
}
