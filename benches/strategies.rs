//! How many seeds each scheduling strategy needs before a broken twin
//! fails: for every bundled twin, under random scheduling and under PCT
//! (depths 2 and 3), the seeds run before the first failure in each of 20
//! disjoint seed ranges, and their median. A range with no failure within
//! the cap counts as the cap (so a median at the cap means "not found").

use dsim::protocols::{Registry, RunOptions};
use dsim::scenario::{Knob, Scenario, StrategyKnob};
use rayon::prelude::*;
use std::path::Path;
use std::time::Instant;

const TWINS: [&str; 9] = [
    "echo-bug-no-dedup",
    "broadcast-bug-no-dedup",
    "causal-bug-deliver-on-arrival",
    "twophase-bug-commit-on-timeout",
    "raft-bug-vote-without-log-check",
    "raft-bug-forget-vote",
    "kv-bug-stale-reads",
    "kv-bug-sessions-not-replicated",
    "abd-bug-no-write-back",
];

/// Seeds run, starting at `start`, until one fails (the cap if none does).
fn to_first_failure(registry: &Registry, scenario: &Scenario, start: u64, cap: u64) -> u64 {
    let protocol = registry.get(&scenario.protocol).unwrap();
    for i in 0..cap {
        let resolved = scenario.resolve(start + i).unwrap();
        let options = RunOptions {
            invariants: resolved.invariants.clone(),
            linearizable: resolved.linearizable.clone(),
            ..RunOptions::default()
        };
        let outcome = protocol
            .run(resolved.config, &resolved.params, options)
            .unwrap();
        if outcome.failure.is_some() {
            return i + 1;
        }
    }
    cap
}

pub fn report(quick: bool) {
    let ranges: u64 = if quick { 5 } else { 20 };
    let cap: u64 = if quick { 200 } else { 2000 };
    let registry = Registry::builtin();
    println!(
        "# seeds to the first failure, median over {ranges} seed ranges (cap {cap}; ranges start at k*10^7)"
    );
    println!(
        "{:<34} {:>8} {:>8} {:>8}",
        "twin", "random", "pct d=2", "pct d=3"
    );
    let t = Instant::now();
    for twin in TWINS {
        let path = format!("scenarios/{twin}.toml");
        let base = Scenario::load(Path::new(&path), &registry).unwrap();
        let mut cells = Vec::new();
        for strategy in [
            StrategyKnob::Random,
            StrategyKnob::Pct {
                depth: Knob::Fixed(2),
                steps: 1000,
            },
            StrategyKnob::Pct {
                depth: Knob::Fixed(3),
                steps: 1000,
            },
        ] {
            let mut scenario = base.clone();
            scenario.strategy = strategy;
            let mut firsts: Vec<u64> = (0..ranges)
                .into_par_iter()
                .map(|k| to_first_failure(&registry, &scenario, k * 10_000_000, cap))
                .collect();
            firsts.sort_unstable();
            let median = firsts[firsts.len() / 2];
            cells.push(if median >= cap {
                format!(">{cap}")
            } else {
                median.to_string()
            });
        }
        println!("{twin:<34} {:>8} {:>8} {:>8}", cells[0], cells[1], cells[2]);
    }
    println!("({:.0}s)", t.elapsed().as_secs_f64());
}
