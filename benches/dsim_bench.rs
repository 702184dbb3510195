//! dsim's speed and scale, measured side by side with a bare event loop.
//!
//! `cargo bench` runs everything; `cargo bench -- quick` runs smaller sizes;
//! `cargo bench -- invariants` only what protocol invariants cost;
//! `cargo bench -- linearizable` only the linearizability checker;
//! `cargo bench -- explore` only exhaustive exploration;
//! `cargo bench -- strategies` seeds to a twin's first failure, random vs PCT;
//! `cargo bench -- async` the ring-gossip race as async nodes.
//! To profile one workload alone: `cargo bench --no-run`, then `perf record`
//! the bench binary with `profile NODES DELIVERIES [trace|vc|async]` (one run
//! of dsim, the trace off unless `trace` is given; `vc`: trace off,
//! vector clocks on; `async`: the async relay, trace off).
//! Figures are medians of repeated runs; ratios compare variants measured
//! in the same process, so machine noise largely cancels.
//!
//! Workload (from the speed issue): N nodes; each delivery of a counter
//! message makes the receiver send counter+1 to a random other node;
//! latency uniform 1–10 ms; every node starts one message.

mod asyncnodes;
mod explore;
mod invariants;
mod linearizable;
mod strategies;

use dsim::check::{audit, Options};
use dsim::{Context, Duration, Latency, LinkConfig, Node, NodeId, SimConfig, Simulation};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::process::Command;
use std::time::Instant;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Counter(pub(crate) u64);

struct Relay;

fn other(ctx: &mut Context<'_, Relay>) -> NodeId {
    let n = u64::from(ctx.node_count());
    let me = u64::from(ctx.id().0);
    let pick = ctx.rng().below(n - 1);
    NodeId(if pick >= me { pick + 1 } else { pick } as u32)
}

impl Node for Relay {
    type Msg = Counter;
    type Timer = u64;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let to = other(ctx);
        ctx.send(to, &Counter(0));
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _from: NodeId, Counter(c): Counter) {
        let to = other(ctx);
        ctx.send(to, &Counter(c + 1));
    }
}

fn config(nodes: u32, deliveries: u64, vector_clocks: bool) -> SimConfig {
    let mut c = SimConfig::new(7, nodes);
    c.network.default = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        },
        ..LinkConfig::default()
    };
    c.limits.events = deliveries + u64::from(nodes);
    c.limits.time = Duration::from_secs(1 << 30);
    c.vector_clocks = vector_clocks;
    c
}

/// The reference: a binary heap and ChaCha8, nothing else.
fn bare_loop(nodes: u32, deliveries: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut heap = BinaryHeap::new();
    let mut seq = 0u64;
    let below =
        |rng: &mut ChaCha8Rng, n: u64| ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64;
    for node in 0..nodes {
        let pick = below(&mut rng, u64::from(nodes) - 1) as u32;
        let to = if pick >= node { pick + 1 } else { pick };
        let at = 1_000_000 + below(&mut rng, 9_000_001);
        heap.push(Reverse((at, seq, to, 0u64)));
        seq += 1;
    }
    let mut done = 0;
    let mut checksum = 0u64;
    while let Some(Reverse((now, _, node, counter))) = heap.pop() {
        done += 1;
        checksum = checksum.wrapping_add(counter);
        if done == deliveries {
            break;
        }
        let pick = below(&mut rng, u64::from(nodes) - 1) as u32;
        let to = if pick >= node { pick + 1 } else { pick };
        let at = now + 1_000_000 + below(&mut rng, 9_000_001);
        heap.push(Reverse((at, seq, to, counter + 1)));
        seq += 1;
    }
    checksum
}

fn dsim_untraced(nodes: u32, deliveries: u64, vc: bool) -> u64 {
    let sim = Simulation::new(config(nodes, deliveries, vc), |_| Relay);
    sim.run().unwrap().stats.delivered
}

fn dsim_traced(nodes: u32, deliveries: u64, vc: bool, path: &std::path::Path) -> u64 {
    let sim = Simulation::new(config(nodes, deliveries, vc), |_| Relay);
    let file = std::fs::File::create(path).unwrap();
    sim.run_traced(file, None).unwrap().0.stats.delivered
}

fn median_ns(runs: usize, mut f: impl FnMut() -> u64) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_nanos() as f64
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

/// Medians of several workloads run in turn (A B C A B C …), so that a
/// machine getting slower or faster midway affects each alike.
fn interleaved_medians_ns<const K: usize>(
    runs: usize,
    mut workloads: [&mut dyn FnMut() -> u64; K],
) -> [f64; K] {
    let mut times = [(); K].map(|_| Vec::with_capacity(runs));
    for _ in 0..runs {
        for (f, t) in workloads.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            std::hint::black_box(f());
            t.push(start.elapsed().as_nanos() as f64);
        }
    }
    times.map(|mut t| {
        t.sort_by(|a, b| a.total_cmp(b));
        t[t.len() / 2]
    })
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Runs one traced simulation in a fresh process and returns its peak RSS.
fn rss_of(nodes: u32, deliveries: u64, vc: bool) -> u64 {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "rss-child",
            &nodes.to_string(),
            &deliveries.to_string(),
            &vc.to_string(),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("check-rss-child") {
        let f = std::io::BufReader::new(std::fs::File::open(&args[2]).unwrap());
        let holds = audit(f, &Options::default()).unwrap().holds();
        println!("{} {holds}", peak_rss_kib());
        return;
    }
    if args.get(1).map(String::as_str) == Some("rss-child") {
        let nodes: u32 = args[2].parse().unwrap();
        let deliveries: u64 = args[3].parse().unwrap();
        let vc: bool = args[4].parse().unwrap();
        let path =
            std::env::temp_dir().join(format!("dsim-bench-rss-{}.trace", std::process::id()));
        dsim_traced(nodes, deliveries, vc, &path);
        let _ = std::fs::remove_file(&path);
        println!("{}", peak_rss_kib());
        return;
    }
    if args.get(1).map(String::as_str) == Some("profile") {
        let nodes: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
        let deliveries: u64 = args
            .get(3)
            .and_then(|a| a.parse().ok())
            .unwrap_or(2_000_000);
        let delivered = if args.get(4).is_some_and(|a| a == "async") {
            asyncnodes::untraced(nodes, deliveries)
        } else if args.get(4).is_some_and(|a| a == "trace") {
            let path =
                std::env::temp_dir().join(format!("dsim-profile-{}.trace", std::process::id()));
            let n = dsim_traced(nodes, deliveries, nodes <= 1_000, &path);
            let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
            println!(
                "{:.1} trace bytes/delivery",
                bytes as f64 / deliveries as f64
            );
            let _ = std::fs::remove_file(&path);
            n
        } else {
            dsim_untraced(nodes, deliveries, args.get(4).is_some_and(|a| a == "vc"))
        };
        println!("{delivered} deliveries");
        return;
    }
    let quick = args.iter().any(|a| a == "quick");
    if args.iter().any(|a| a == "invariants") {
        invariants::report(quick);
        return;
    }
    if args.iter().any(|a| a == "linearizable") {
        linearizable::report(quick);
        return;
    }
    if args.iter().any(|a| a == "strategies") {
        strategies::report(quick);
        return;
    }
    if args.iter().any(|a| a == "async") {
        asyncnodes::report(quick);
        return;
    }
    if args.iter().any(|a| a == "explore") {
        explore::report(quick);
        return;
    }
    let deliveries: u64 = if quick { 200_000 } else { 2_000_000 };
    let runs = if quick { 3 } else { 5 };
    let dir = std::env::temp_dir();
    let trace = dir.join(format!("dsim-bench-{}.trace", std::process::id()));

    println!(
        "# throughput: 16 nodes, {deliveries} deliveries, median of {runs} runs, the three taken in turn"
    );
    let [bare, off, on] = interleaved_medians_ns(
        runs,
        [
            &mut || bare_loop(16, deliveries),
            &mut || dsim_untraced(16, deliveries, true),
            &mut || dsim_traced(16, deliveries, true, &trace),
        ],
    )
    .map(|ns| ns / deliveries as f64);
    println!("bare event loop          {bare:>8.1} ns/delivery");
    println!(
        "dsim, trace off          {off:>8.1} ns/delivery   {:.2}x bare (target <= 2x)",
        off / bare
    );
    println!(
        "dsim, trace on (file)    {on:>8.1} ns/delivery   {:.2}x bare (target <= 3x)",
        on / bare
    );
    let bytes = std::fs::metadata(&trace).map(|m| m.len()).unwrap_or(0);
    println!(
        "trace size               {:>8.1} bytes/delivery",
        bytes as f64 / deliveries as f64
    );

    println!("\n# checking: dsim check over that trace");
    let records = dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None)
        .unwrap()
        .1
        .len() as f64;
    let check = median_ns(runs, || {
        let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&trace).unwrap());
        audit(f, &Options::default()).unwrap().records
    });
    println!(
        "check                    {:>8.2} M records/s ({records} records, target >= 8)",
        records / check * 1e3
    );

    println!("\n# scale: ns per delivery by node count (trace on)");
    let scale_deliveries = if quick { 100_000 } else { 500_000 };
    for nodes in [16u32, 1_000, 10_000] {
        let vc = nodes <= 1_000;
        let t = median_ns(if quick { 1 } else { 3 }, || {
            dsim_traced(nodes, scale_deliveries, vc, &trace)
        }) / scale_deliveries as f64;
        let bytes = std::fs::metadata(&trace).map_or(0, |m| m.len());
        println!(
            "{nodes:>6} nodes              {t:>8.1} ns/delivery, {:>5.1} trace bytes/delivery{}",
            bytes as f64 / scale_deliveries as f64,
            match (vc, nodes) {
                (false, _) => "   (vector clocks off)",
                (true, 1_000) => "   (target <= 1500 ns)",
                _ => "",
            }
        );
    }
    if nodes_check_ok(&trace) {
        println!("10000-node trace checked: every check held");
    }

    println!("\n# sweep: seeds per second on the 5-node Raft scenario");
    let seeds = if quick { "0..200" } else { "0..1000" };
    let mut rates = Vec::new();
    for jobs in ["1", "2"] {
        let out = dir.join(format!("dsim-bench-sweep-{}-{jobs}", std::process::id()));
        let t = Instant::now();
        let status = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args([
                "sweep",
                "scenarios/raft-partitions.toml",
                "--seeds",
                seeds,
                "--jobs",
                jobs,
                "--out",
            ])
            .arg(&out)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let n: f64 = seeds.trim_start_matches("0..").parse().unwrap();
        let rate = n / t.elapsed().as_secs_f64();
        rates.push(rate);
        println!(
            "--jobs {jobs}                  {rate:>8.0} seeds/s (exit {}){}",
            status.code().unwrap_or(-1),
            if jobs == "1" {
                "   (target >= 714)"
            } else {
                ""
            }
        );
        let _ = std::fs::remove_dir_all(&out);
    }
    println!("speed-up with 2 jobs       {:>8.2}x", rates[1] / rates[0]);

    invariants::report(quick);
    linearizable::report(quick);
    asyncnodes::report(quick);

    println!("\n# memory: peak RSS of one traced run, in a fresh process");
    let small = rss_of(16, deliveries / 10, true);
    let big = rss_of(16, deliveries, true);
    println!("{:>9} deliveries      {small:>8} KiB", deliveries / 10);
    println!(
        "{deliveries:>9} deliveries      {big:>8} KiB   {:.2}x (target < 1.2x)",
        big as f64 / small.max(1) as f64
    );
    let ten_k = rss_of(10_000, scale_deliveries, false);
    println!("10000 nodes, {scale_deliveries} deliveries  {ten_k:>8} KiB");

    println!("\n# memory: peak RSS of `dsim check`, in a fresh process");
    let ten_k = check_rss_of(&trace);
    println!("10000 nodes, {scale_deliveries} deliveries  {ten_k:>8} KiB");
    dsim_traced(16, deliveries / 10, true, &trace);
    let small = check_rss_of(&trace);
    dsim_traced(16, deliveries, true, &trace);
    let big = check_rss_of(&trace);
    println!("{:>9} deliveries      {small:>8} KiB", deliveries / 10);
    println!(
        "{deliveries:>9} deliveries      {big:>8} KiB   {:.2}x (bounded once the happens-before graph reaches its 1M-cell cap)",
        big as f64 / small.max(1) as f64
    );
    let _ = std::fs::remove_file(&trace);
}

/// Checks a trace in a fresh process and returns its peak RSS; panics if
/// a check failed.
fn check_rss_of(trace: &std::path::Path) -> u64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("check-rss-child")
        .arg(trace)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut words = text.split_whitespace();
    let rss = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    assert_eq!(words.next(), Some("true"), "dsim check failed on {trace:?}");
    rss
}

/// Checks the last trace written (the 10,000-node run) and reports whether it held.
fn nodes_check_ok(trace: &std::path::Path) -> bool {
    let f = std::io::BufReader::new(std::fs::File::open(trace).unwrap());
    audit(f, &Options::default())
        .map(|r| r.holds())
        .unwrap_or(false)
}
