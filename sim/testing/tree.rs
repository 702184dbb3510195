//! How a generated [`Case`] shrinks: a value tree of our own, so that
//! shrinking within proptest's default budget (four tries per generated
//! case) removes faults and operations directly.
//!
//! Proptest shrinks a value by trying simpler ones: `simplify` after each
//! failure, `complicate` after each pass. Here both move to the next
//! candidate in a list made from the simplest failing case so far (the
//! *best*); a candidate that fails becomes the best and the list is made
//! anew; when the list runs out, the best is the answer. The order:
//!
//! 1. drop one fault (a crash with its restart, a partition with its heal,
//!    one message's loss), one byzantine node or one of the network
//!    adversary's modes, under the same seed and then (faults) under a few
//!    others (a fault that set the stage under one seed may not be needed
//!    under another);
//! 2. fewer operations: each count from the least up to six with the same
//!    seed, then the same counts under a few other seeds (a failure that
//!    needs the 40th message to be slow needs every operation before it
//!    under one seed, but often only one operation under another), then
//!    halving;
//! 3. fewer nodes;
//! 4. each fault made smaller: an earlier message, a shorter or earlier
//!    crash or partition, a smaller skew;
//! 5. a tamer link: no loss, duplication or corruption probability, FIFO,
//!    shorter latencies.
//!
//! Every accepted candidate is smaller in that order's measure (a seed
//! changes only with fewer faults or operations), so shrinking ends.

use super::{Case, PlannedFault};
use crate::network::{Latency, Ordering};
use crate::rng::Ppm;
use crate::time::Duration;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};

/// Other seeds tried at each small operation count.
const RESEEDS: u64 = 6;
/// Operation counts up to this are tried one by one.
const FEW_OPERATIONS: u64 = 6;

/// The strategy [`super::cases`] returns: generates with `inner`, shrinks
/// with [`CaseTree`].
pub struct CaseStrategy<S> {
    pub(super) inner: S,
    pub(super) min_nodes: u32,
    pub(super) min_operations: u64,
    pub(super) tally: Arc<Mutex<super::Tally>>,
}

impl<S: fmt::Debug> fmt::Debug for CaseStrategy<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaseStrategy")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<S: Strategy<Value = Case>> Strategy for CaseStrategy<S> {
    type Tree = CaseTree;
    type Value = Case;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let case = self.inner.new_tree(runner)?.current();
        super::Tally::drawn(&self.tally, runner.config().cases);
        Ok(CaseTree {
            tally: Arc::downgrade(&self.tally),
            best: case.clone(),
            current: case,
            pending: Vec::new(),
            started: false,
            min_nodes: self.min_nodes,
            min_operations: self.min_operations,
        })
    }
}

/// A case and the simpler cases still to try.
#[derive(Clone, Debug)]
pub struct CaseTree {
    best: Case,
    current: Case,
    // Candidates still to try, the next one last.
    pending: Vec<Case>,
    started: bool,
    min_nodes: u32,
    min_operations: u64,
    tally: Weak<Mutex<super::Tally>>,
}

impl ValueTree for CaseTree {
    type Value = Case;

    fn current(&self) -> Case {
        self.current.clone()
    }

    /// The current case failed: it is the best so far; try the first
    /// candidate made from it.
    fn simplify(&mut self) -> bool {
        // The test failed for a check none of its cases ran, which no
        // smaller case mends.
        let refused = self
            .tally
            .upgrade()
            .is_some_and(|t| t.lock().is_ok_and(|t| t.refused));
        if refused {
            return false;
        }
        if self.started {
            self.best = self.current.clone();
        }
        self.started = true;
        self.pending = candidates(&self.best, self.min_nodes, self.min_operations);
        self.pending.reverse();
        self.next()
    }

    /// The current case passed: try the next candidate, or settle on the
    /// best.
    fn complicate(&mut self) -> bool {
        self.next()
    }
}

impl CaseTree {
    fn next(&mut self) -> bool {
        match self.pending.pop() {
            Some(c) => {
                self.current = c;
                true
            }
            None => {
                self.current = self.best.clone();
                false
            }
        }
    }
}

/// Another seed, derived from `seed` and `k` (splitmix64), below 2^63 as
/// every generated seed is.
fn reseed(seed: u64, k: u64) -> u64 {
    let mut z = seed.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) >> 1
}

/// Every simpler case to try after `best`, in the order the module doc
/// gives.
fn candidates(best: &Case, min_nodes: u32, min_operations: u64) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    let mut push = |c: Case| {
        if c != *best && !out.contains(&c) {
            out.push(c);
        }
    };
    for i in 0..best.faults.len() {
        let mut c = best.clone();
        c.faults.remove(i);
        push(c);
    }
    // An honest node for a byzantine one; a network adversary with one
    // mode fewer.
    for i in 0..best.byzantine.len() {
        let mut c = best.clone();
        c.byzantine.remove(i);
        push(c);
    }
    for mode in 0..3 {
        let mut c = best.clone();
        let a = &mut c.adversary;
        *[&mut a.forge, &mut a.replay, &mut a.alter][mode] = Ppm::ZERO;
        push(c);
    }
    // A fault that only set the stage under one seed may not be needed
    // under another.
    for k in 1..=RESEEDS {
        for i in 0..best.faults.len() {
            let mut c = best.clone();
            c.faults.remove(i);
            c.seed = reseed(best.seed, k);
            push(c);
        }
    }
    // Fewer operations only: a case with as many under another seed is no
    // simpler, and accepting it would walk from seed to seed (a protocol
    // without operations never got past this step).
    let few = FEW_OPERATIONS.min(best.operations.saturating_sub(1));
    let fewer: Vec<u64> = (min_operations..=few)
        .filter(|&ops| ops < best.operations)
        .collect();
    for &ops in &fewer {
        push(Case {
            operations: ops,
            ..best.clone()
        });
    }
    // Fewer operations with the faults moved earlier in proportion: a
    // fault that struck the 17th operation's messages may strike the
    // second's just as well.
    for &ops in &fewer {
        push(Case {
            operations: ops,
            faults: best
                .faults
                .iter()
                .map(|f| earlier(f, ops, best.operations))
                .collect(),
            ..best.clone()
        });
    }
    for &ops in &fewer {
        for k in 1..=RESEEDS {
            push(Case {
                operations: ops,
                seed: reseed(best.seed, k),
                ..best.clone()
            });
        }
    }
    let ops = best.operations;
    for fewer in [ops / 2, ops - ops / 4, ops.saturating_sub(1)] {
        if fewer >= min_operations && fewer < ops {
            push(Case {
                operations: fewer,
                ..best.clone()
            });
        }
    }
    for nodes in min_nodes..best.nodes {
        push(Case {
            nodes,
            ..best.clone()
        });
    }
    for (i, f) in best.faults.iter().enumerate() {
        for smaller in smaller_faults(f) {
            let mut c = best.clone();
            c.faults[i] = smaller;
            push(c);
        }
    }
    for link in tamer_links(best) {
        push(Case {
            link,
            ..best.clone()
        });
    }
    out
}

/// The steps a number shrinks by: all the way, a quarter, half and three
/// quarters of the way; one less only when that is all that is left (a
/// step of one at a time would spend the budget on a long walk).
fn toward(v: u64, to: u64) -> Vec<u64> {
    let span = v.saturating_sub(to);
    let mut out = vec![to, to + span / 4, to + span / 2, to + span - span / 4];
    if span <= 4 {
        out.push(v.saturating_sub(1));
    }
    out.retain(|&x| x < v && x >= to);
    out.dedup();
    out
}

/// Simpler forms of a crash set off by an event (the `event`-th operation
/// or delivery, counted from `first`), `after_us` after it, for
/// `down_ms`: shorter down, sooner after, an earlier event.
fn after_event(
    [event, after_us, down_ms]: [u64; 3],
    first: u64,
    crash: impl Fn(u64, u64, u64) -> PlannedFault,
) -> Vec<PlannedFault> {
    let mut out: Vec<PlannedFault> = toward(down_ms, 1)
        .into_iter()
        .map(|d| crash(event, after_us, d))
        .collect();
    out.extend(
        toward(after_us, 0)
            .into_iter()
            .map(|a| crash(event, a, down_ms)),
    );
    out.extend(
        toward(event, first)
            .into_iter()
            .map(|e| crash(e, after_us, down_ms)),
    );
    out
}

/// A fault from `at_ms` for `span_ms` (`fault` builds it) made shorter,
/// then sooner: the candidates a step of shrinking tries.
fn shorter_then_sooner(
    at_ms: u64,
    span_ms: u64,
    fault: impl Fn(u64, u64) -> PlannedFault,
) -> Vec<PlannedFault> {
    let mut out: Vec<PlannedFault> = toward(span_ms, 1)
        .into_iter()
        .map(|s| fault(at_ms, s))
        .collect();
    out.extend(toward(at_ms, 0).into_iter().map(|a| fault(a, span_ms)));
    out
}

/// A pause's simpler forms: between handlers if it fell in one, then
/// shorter, then sooner, each as it was.
fn between_handlers(
    mid_handler: bool,
    at_ms: u64,
    for_ms: u64,
    pause: impl Fn(u64, u64, bool) -> PlannedFault,
) -> Vec<PlannedFault> {
    let mut out: Vec<PlannedFault> = Vec::new();
    if mid_handler {
        out.push(pause(at_ms, for_ms, false));
    }
    out.extend(shorter_then_sooner(at_ms, for_ms, |a, f| {
        pause(a, f, mid_handler)
    }));
    out
}

/// `f` moved earlier by the factor `num / den` (times and message ids).
fn earlier(f: &PlannedFault, num: u64, den: u64) -> PlannedFault {
    let scale = |v: u64| v.saturating_mul(num) / den.max(1);
    match *f {
        PlannedFault::Lose { message } => PlannedFault::Lose {
            message: scale(message),
        },
        PlannedFault::Duplicate { message } => PlannedFault::Duplicate {
            message: scale(message),
        },
        PlannedFault::Crash {
            node,
            at_ms,
            down_ms,
        } => PlannedFault::Crash {
            node,
            at_ms: scale(at_ms),
            down_ms,
        },
        PlannedFault::CrashPlaying {
            role,
            at_ms,
            down_ms,
        } => PlannedFault::CrashPlaying {
            role,
            at_ms: scale(at_ms),
            down_ms,
        },
        PlannedFault::CrashAfterOperation {
            node,
            op,
            after_us,
            down_ms,
        } => PlannedFault::CrashAfterOperation {
            node,
            op: scale(op),
            after_us,
            down_ms,
        },
        PlannedFault::CrashAfterDelivery {
            node,
            delivery,
            after_us,
            down_ms,
        } => PlannedFault::CrashAfterDelivery {
            node,
            delivery: scale(delivery).max(1),
            after_us,
            down_ms,
        },
        PlannedFault::CrashAfterSend {
            node,
            send,
            down_ms,
        } => PlannedFault::CrashAfterSend {
            node,
            send: scale(send).max(1),
            down_ms,
        },
        PlannedFault::Partition {
            at_ms,
            lasts_ms,
            split,
        } => PlannedFault::Partition {
            at_ms: scale(at_ms),
            lasts_ms,
            split,
        },
        PlannedFault::Isolate {
            role,
            at_ms,
            lasts_ms,
        } => PlannedFault::Isolate {
            role,
            at_ms: scale(at_ms),
            lasts_ms,
        },
        PlannedFault::OneWay {
            node,
            at_ms,
            lasts_ms,
            deaf,
        } => PlannedFault::OneWay {
            node,
            at_ms: scale(at_ms),
            lasts_ms,
            deaf,
        },
        PlannedFault::Skew {
            node,
            at_ms,
            offset_ms,
            drift_ppm,
        } => PlannedFault::Skew {
            node,
            at_ms: scale(at_ms),
            offset_ms,
            drift_ppm,
        },
        PlannedFault::Pause {
            node,
            at_ms,
            for_ms,
            mid_handler,
        } => PlannedFault::Pause {
            node,
            at_ms: scale(at_ms),
            for_ms,
            mid_handler,
        },
        PlannedFault::PausePlaying {
            role,
            at_ms,
            for_ms,
            mid_handler,
        } => PlannedFault::PausePlaying {
            role,
            at_ms: scale(at_ms),
            for_ms,
            mid_handler,
        },
    }
}

fn smaller_faults(f: &PlannedFault) -> Vec<PlannedFault> {
    match *f {
        PlannedFault::Lose { message } => toward(message, 0)
            .into_iter()
            .map(|message| PlannedFault::Lose { message })
            .collect(),
        PlannedFault::Duplicate { message } => toward(message, 0)
            .into_iter()
            .map(|message| PlannedFault::Duplicate { message })
            .collect(),
        PlannedFault::Crash {
            node,
            at_ms,
            down_ms,
        } => {
            // A crash for good tries restarts, sooner first, and stays
            // for good otherwise (not a huge number of milliseconds).
            let downs = match down_ms {
                u64::MAX => vec![1, 10, 100, 1_000, 10_000],
                _ => toward(down_ms, 1),
            };
            let mut out: Vec<PlannedFault> = downs
                .into_iter()
                .map(|down_ms| PlannedFault::Crash {
                    node,
                    at_ms,
                    down_ms,
                })
                .collect();
            out.extend(
                toward(at_ms, 0)
                    .into_iter()
                    .map(|at_ms| PlannedFault::Crash {
                        node,
                        at_ms,
                        down_ms,
                    }),
            );
            out
        }
        PlannedFault::CrashPlaying {
            role,
            at_ms,
            down_ms,
        } => shorter_then_sooner(at_ms, down_ms, |at_ms, down_ms| {
            PlannedFault::CrashPlaying {
                role,
                at_ms,
                down_ms,
            }
        }),
        PlannedFault::CrashAfterOperation {
            node,
            op,
            after_us,
            down_ms,
        } => after_event([op, after_us, down_ms], 0, |op, after_us, down_ms| {
            PlannedFault::CrashAfterOperation {
                node,
                op,
                after_us,
                down_ms,
            }
        }),
        PlannedFault::CrashAfterDelivery {
            node,
            delivery,
            after_us,
            down_ms,
        } => after_event(
            [delivery, after_us, down_ms],
            1,
            |delivery, after_us, down_ms| PlannedFault::CrashAfterDelivery {
                node,
                delivery,
                after_us,
                down_ms,
            },
        ),
        PlannedFault::CrashAfterSend {
            node,
            send,
            down_ms,
        } => after_event([send, 0, down_ms], 1, |send, _, down_ms| {
            PlannedFault::CrashAfterSend {
                node,
                send,
                down_ms,
            }
        }),
        PlannedFault::Partition {
            at_ms,
            lasts_ms,
            split,
        } => {
            let mut out: Vec<PlannedFault> = toward(lasts_ms, 1)
                .into_iter()
                .map(|lasts_ms| PlannedFault::Partition {
                    at_ms,
                    lasts_ms,
                    split,
                })
                .collect();
            out.extend(
                toward(at_ms, 0)
                    .into_iter()
                    .map(|at_ms| PlannedFault::Partition {
                        at_ms,
                        lasts_ms,
                        split,
                    }),
            );
            out.extend(
                toward(u64::from(split), 1)
                    .into_iter()
                    .map(|s| PlannedFault::Partition {
                        at_ms,
                        lasts_ms,
                        split: s as u32,
                    }),
            );
            out
        }
        PlannedFault::OneWay {
            node,
            at_ms,
            lasts_ms,
            deaf,
        } => shorter_then_sooner(at_ms, lasts_ms, |at_ms, lasts_ms| PlannedFault::OneWay {
            node,
            at_ms,
            lasts_ms,
            deaf,
        }),
        PlannedFault::Isolate {
            role,
            at_ms,
            lasts_ms,
        } => shorter_then_sooner(at_ms, lasts_ms, |at_ms, lasts_ms| PlannedFault::Isolate {
            role,
            at_ms,
            lasts_ms,
        }),
        // A pause between handlers is the simpler: tried first.
        PlannedFault::Pause {
            node,
            at_ms,
            for_ms,
            mid_handler,
        } => between_handlers(mid_handler, at_ms, for_ms, |at_ms, for_ms, mid_handler| {
            PlannedFault::Pause {
                node,
                at_ms,
                for_ms,
                mid_handler,
            }
        }),
        PlannedFault::PausePlaying {
            role,
            at_ms,
            for_ms,
            mid_handler,
        } => between_handlers(mid_handler, at_ms, for_ms, |at_ms, for_ms, mid_handler| {
            PlannedFault::PausePlaying {
                role,
                at_ms,
                for_ms,
                mid_handler,
            }
        }),
        PlannedFault::Skew {
            node,
            at_ms,
            offset_ms,
            drift_ppm,
        } => {
            // Toward zero by magnitude, keeping the sign: a step or a drift
            // shrinks to about the least that still fails.
            let smaller = |v: i64| -> Vec<i64> {
                toward(v.unsigned_abs(), 0)
                    .into_iter()
                    .map(|m| if v < 0 { -(m as i64) } else { m as i64 })
                    .collect()
            };
            let skew = |at_ms, offset_ms, drift_ppm| PlannedFault::Skew {
                node,
                at_ms,
                offset_ms,
                drift_ppm,
            };
            let mut out: Vec<PlannedFault> = smaller(offset_ms)
                .into_iter()
                .map(|o| skew(at_ms, o, drift_ppm))
                .collect();
            out.extend(
                smaller(i64::from(drift_ppm))
                    .into_iter()
                    .map(|d| skew(at_ms, offset_ms, d as i32)),
            );
            out.extend(
                toward(at_ms, 0)
                    .into_iter()
                    .map(|a| skew(a, offset_ms, drift_ppm)),
            );
            out
        }
    }
}

fn tamer_links(best: &Case) -> Vec<crate::network::LinkConfig> {
    let l = &best.link;
    let mut out = Vec::new();
    for (p, set) in [(l.loss, 0usize), (l.duplicate, 1), (l.corrupt, 2)] {
        if p != Ppm::ZERO {
            let mut t = l.clone();
            match set {
                0 => t.loss = Ppm::ZERO,
                1 => t.duplicate = Ppm::ZERO,
                _ => t.corrupt = Ppm::ZERO,
            }
            out.push(t);
        }
    }
    if l.ordering == Ordering::Reorder {
        let mut t = l.clone();
        t.ordering = Ordering::Fifo;
        out.push(t);
    }
    if let Latency::Uniform { min, max } = l.latency {
        for shorter in toward(max.0, min.0) {
            let mut t = l.clone();
            t.latency = Latency::Uniform {
                min,
                max: Duration(shorter),
            };
            out.push(t);
        }
    }
    out
}
