//! What the linearizability checker costs on histories of the shapes its
//! peers publish figures for: a 10,000-operation key-value history over 10
//! keys and 10 clients, and a 1,000-operation single register with 10
//! clients and a fifth of the outcomes unknown; and what explaining a
//! violation costs: that register with one late read made stale.

use dsim::check::linearizable::{check, Budget, History, KeyValue, Register, Verdict};
use dsim::history::{Op, Phase, Value};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::time::Instant;

/// A history of a real atomic store used by `clients` clients over `keys`
/// keys: each operation takes effect at one instant between its invocation
/// and its completion; `info` of the completions are left unknown.
pub fn atomic_history(seed: u64, ops: usize, clients: u64, keys: u64, info: f64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut store = vec![0i64; keys as usize];
    let mut events = Vec::new();
    // Per client, the operation in flight: (a write?, key, argument,
    // the result at its atomic instant).
    type InFlight = Option<(bool, u64, i64, Option<i64>)>;
    let mut pending: Vec<InFlight> = vec![None; clients as usize];
    let mut started = 0;
    let mut t = 0u64;
    let key = |k: u64| (keys > 1).then_some(Value::Int(k as i64));
    while started < ops || pending.iter().any(Option::is_some) {
        let c = (rng.next_u64() % clients) as usize;
        let step = rng.next_u64() % 3;
        let (f_w, f_r) = if keys > 1 {
            ("put", "get")
        } else {
            ("write", "read")
        };
        match (&mut pending[c], step) {
            (None, _) if started < ops => {
                let write = rng.next_u64() % 2 == 0;
                let k = rng.next_u64() % keys;
                let arg = (rng.next_u64() % 1000) as i64;
                let (f, v) = if write {
                    (f_w, Value::Int(arg))
                } else {
                    (f_r, Value::Nil)
                };
                events.push((
                    t,
                    Op {
                        process: c as u64,
                        phase: Phase::Invoke,
                        f: f.into(),
                        key: key(k),
                        value: v,
                    },
                ));
                pending[c] = Some((write, k, arg, None));
                started += 1;
            }
            (Some((write, k, arg, applied @ None)), 0) => {
                if *write {
                    store[*k as usize] = *arg;
                }
                *applied = Some(store[*k as usize]);
            }
            (Some((write, k, arg, Some(result))), 1 | 2) => {
                let unknown = (rng.next_u64() % 1000) as f64 / 1000.0 < info;
                let (f, v) = if *write {
                    (f_w, Value::Int(*arg))
                } else {
                    (f_r, Value::Int(*result))
                };
                let phase = if unknown { Phase::Info } else { Phase::Ok };
                events.push((
                    t,
                    Op {
                        process: c as u64,
                        phase,
                        f: f.into(),
                        key: key(*k),
                        value: v,
                    },
                ));
                pending[c] = None;
            }
            _ => {}
        }
        t += 1;
    }
    History::from_events(events).unwrap()
}

fn median_ms(runs: usize, mut f: impl FnMut() -> Verdict) -> (f64, Verdict) {
    let mut times = Vec::new();
    let mut last = Verdict::Linearizable;
    for _ in 0..runs {
        let t = Instant::now();
        last = f();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(|a, b| a.total_cmp(b));
    (times[times.len() / 2], last)
}

pub fn report(quick: bool) {
    let runs = if quick { 3 } else { 5 };
    println!("\n# linearizability: histories of real atomic stores, median of {runs}");
    let kv = atomic_history(1, 10_000, 10, 10, 0.0);
    let (ms, v) = median_ms(runs, || {
        check(&KeyValue::new(Value::Int(0)), &kv, &Budget::default())
    });
    println!(
        "kv, 10000 ops, 10 keys, 10 clients    {ms:>8.1} ms   {:>9.0} ops/s   10 parts   {v:?} (target < 1 s)",
        10_000.0 / ms * 1e3
    );
    let reg = atomic_history(2, 1_000, 10, 1, 0.2);
    let (ms, v) = median_ms(runs, || {
        check(&Register::new(Value::Int(0)), &reg, &Budget::default())
    });
    println!(
        "register, 1000 ops, 10 clients, 20% info {ms:>6.1} ms   {:>9.0} ops/s   1 part    {}",
        1_000.0 / ms * 1e3,
        match v {
            Verdict::Linearizable => "linearizable".to_string(),
            other => format!("{other:?}"),
        }
    );
    // One late read returns what an early write wrote (a value no other
    // write writes), long overwritten: the witnesses must be found among
    // a thousand operations.
    let mut stale = atomic_history(2, 1_000, 10, 1, 0.0);
    let early = stale.ops.iter().position(|o| o.f == "write").unwrap();
    let late = stale
        .ops
        .iter()
        .rposition(|o| o.f == "read" && o.output.is_some())
        .unwrap();
    stale.ops[early].input = Value::Int(424_242);
    stale.ops[late].output = Some(Value::Int(424_242));
    let (ms, v) = median_ms(runs, || {
        check(&Register::new(Value::Int(0)), &stale, &Budget::default())
    });
    println!(
        "register, 1000 ops, one stale read    {ms:>8.1} ms   {}",
        match v {
            Verdict::NotLinearizable(why) => format!(
                "{} witnesses{}, {} free, broken at #{}",
                why.ops.len(),
                if why.minimal {
                    ""
                } else {
                    " (not minimized: over its budget)"
                },
                why.free.len(),
                why.at
            ),
            other => format!("{other:?} (expected a violation)"),
        }
    );
    let one = atomic_history(3, 10_000, 10, 1, 0.0);
    let (ms, v) = median_ms(runs, || {
        check(&KeyValue::new(Value::Int(0)), &one, &Budget::default())
    });
    println!(
        "kv, 10000 ops, 1 key, 10 clients      {ms:>8.1} ms   {:>9.0} ops/s   1 part    {v:?}",
        10_000.0 / ms * 1e3
    );
}
