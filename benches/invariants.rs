//! What protocol invariants cost: each bundled scenario at ten times its
//! workload (operations and run time), run with its invariants and
//! without, on the same seeds; and the shapes that used to be quadratic.

use dsim::protocols::{Registry, RunOptions};
use dsim::scenario::Scenario;
use std::time::Instant;

/// Wall time of running `seeds` of `config`s with and without invariants,
/// taken in turn so machine drift touches both alike: (on, off) in ms.
fn on_off(
    registry: &Registry,
    runs: &[(dsim::SimConfig, dsim::protocols::Params, String)],
    rounds: usize,
) -> (f64, f64) {
    let mut on = Vec::new();
    let mut off = Vec::new();
    for _ in 0..rounds {
        for (with, out) in [(true, &mut on), (false, &mut off)] {
            let t = Instant::now();
            for (config, params, protocol) in runs {
                let p = registry.get(protocol).unwrap();
                let options = RunOptions {
                    invariants: (!with).then(Vec::new),
                    ..RunOptions::default()
                };
                let outcome = p.run(config.clone(), params, options).unwrap();
                assert!(
                    outcome.failure.is_none(),
                    "{protocol}: {:?}",
                    outcome.failure
                );
            }
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    (median(&mut on), median(&mut off))
}

fn scaled(
    registry: &Registry,
    file: &str,
    seeds: u64,
    scale: u64,
) -> Vec<(dsim::SimConfig, dsim::protocols::Params, String)> {
    let scenario = Scenario::load(std::path::Path::new(file), registry).unwrap();
    (0..seeds)
        .map(|seed| {
            let r = scenario.resolve(seed).unwrap();
            let mut config = r.config;
            if let Some(w) = config.workload.as_mut() {
                w.count *= scale;
            }
            config.limits.time = dsim::Duration(config.limits.time.0 * scale);
            (config, r.params, scenario.protocol.clone())
        })
        .collect()
}

pub fn report(quick: bool) {
    let registry = Registry::builtin();
    let rounds = if quick { 3 } else { 5 };
    let seeds = if quick { 2 } else { 5 };
    println!("\n# invariants: bundled scenarios at 10x their workload and run time, {seeds} seeds, median of {rounds} (target: on <= 2x off)");
    for file in [
        "scenarios/echo-lossy.toml",
        "scenarios/broadcast-lossy.toml",
        "scenarios/causal-reorder.toml",
        "scenarios/twophase-crash.toml",
        "scenarios/raft-partitions.toml",
        "scenarios/raft-crashes.toml",
    ] {
        let runs = scaled(&registry, file, seeds, 10);
        let (on, off) = on_off(&registry, &runs, rounds);
        println!(
            "{:<34} on {on:>8.1} ms   off {off:>8.1} ms   {:.2}x",
            file.trim_start_matches("scenarios/"),
            on / off
        );
    }
    println!("\n# invariants: shapes that were quadratic");
    for (what, text) in [
        (
            "broadcast, 5 nodes, 4097 operations",
            "protocol = \"broadcast\"\nnodes = 5\n[workload]\ncount = 4097\ninterval = \"1ms\"\n[run]\ntime = \"600s\"\n",
        ),
        (
            "echo, 4 nodes, 20000 operations",
            "protocol = \"echo\"\nnodes = 4\n[workload]\ncount = 20000\ninterval = \"1ms\"\n[run]\ntime = \"600s\"\n",
        ),
        (
            "raft, 4097 nodes, start events only",
            "protocol = \"raft\"\nnodes = 4097\n[params]\nelection_min = \"100s\"\nelection_max = \"100s\"\n[run]\ntime = \"500ms\"\nvector_clocks = false\n",
        ),
    ] {
        let scenario = Scenario::parse("bench.toml", text, &registry).unwrap();
        let r = scenario.resolve(1).unwrap();
        let runs = vec![(r.config, r.params, scenario.protocol.clone())];
        let (on, off) = on_off(&registry, &runs, rounds);
        println!("{what:<38} on {on:>8.1} ms   off {off:>8.1} ms   {:.2}x", on / off);
    }
}
