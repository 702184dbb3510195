//! Runs that cannot reach their time limit: a clock that stands still
//! fails check `time-stood-still`; a run its event limit cut short says
//! so, and so does a sweep of such runs.

use crate::common::{self, dsim, text};
use dsim::{Context, Duration, Node, NodeId, SimConfig, Simulation, TimerId};
use serde::{Deserialize, Serialize};

/// Fires a timer every 10 ms; from its `stuck_after`-th firing on it sets
/// the timer again with zero delay, `burst` times (forever if `None`).
#[derive(Clone)]
struct Ticker {
    stuck_after: u64,
    burst: Option<u64>,
    fired: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Tick;

impl Node for Ticker {
    type Msg = ();
    type Timer = Tick;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::from_millis(10), Tick);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, _: Tick) {
        self.fired += 1;
        let stuck = self.fired > self.stuck_after
            && self
                .burst
                .is_none_or(|b| self.fired <= self.stuck_after + b);
        let delay = match stuck {
            true => Duration::ZERO,
            false => Duration::from_millis(10),
        };
        ctx.set_timer(delay, Tick);
    }
}

fn tickers(
    nodes: u32,
    instant_events: Option<u64>,
    each: &[(u64, Option<u64>)],
) -> Simulation<Ticker> {
    let mut config = SimConfig::new(1, nodes);
    config.limits.time = Duration::from_secs(1);
    if let Some(n) = instant_events {
        config.limits.instant_events = n;
    }
    let each = each.to_vec();
    Simulation::new(config, move |id| Ticker {
        stuck_after: each[id.index()].0,
        burst: each[id.index()].1,
        fired: 0,
    })
}

#[test]
fn a_timer_set_again_with_zero_delay_fails_the_run_as_time_standing_still() {
    // The default limit: a million events in a row at one instant.
    let o = tickers(2, None, &[(3, None), (u64::MAX, None)])
        .run()
        .unwrap();
    let f = o.failure.expect("the clock stood still");
    assert_eq!(f.check, "time-stood-still");
    assert_eq!(f.time, dsim::Instant(Duration::from_millis(40).0));
    assert!(
        f.message
            .starts_with("1000000 events handled in a row at one instant")
            && f.message.contains("(of the last 1000: 1000 n0 timers)")
            && f.message
                .contains("raise `[run] instant_events`, now 1000000"),
        "{}",
        f.message
    );
    // Had the check not stopped it, the run would have spent its ten
    // million events at 40 ms of its second.
    assert!(o.stats.time < dsim::Instant(Duration::from_millis(41).0));
}

#[test]
fn bursts_at_one_instant_pass_under_the_limit_which_counts_each_instant_afresh() {
    // Node 0 stands the clock still at 20 ms for 501 events, node 1 at
    // 30 ms: 1,002 in all and never more than 503 at one instant.
    let each = [(1, Some(500)), (2, Some(500))];
    let o = tickers(2, Some(600), &each).run().unwrap();
    assert!(o.failure.is_none(), "{:?}", o.failure);
    assert_eq!(o.end, dsim::trace::EndReason::TimeLimit);
    let o = tickers(2, Some(400), &each).run().unwrap();
    let f = o.failure.expect("400 in a row at 20 ms");
    assert_eq!(f.check, "time-stood-still");
    assert_eq!(f.time, dsim::Instant(Duration::from_millis(20).0));
    // Both nodes' timers fired at 20 ms, then node 0's again and again.
    assert!(
        f.message
            .contains("(of the last 400: 399 n0 timers, 1 n1 timers)"),
        "{}",
        f.message
    );
}

const RAFT: &str = r#"protocol = "raft"
nodes = 5

[network]
latency = { dist = "uniform", min = "1ms", max = "10ms" }

[run]
time = "2s"
"#;

/// `dsim run SCENARIO --trace TRACE`.
fn run(scenario: &std::path::Path, trace: &std::path::Path) -> std::process::Output {
    dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ])
}

#[test]
fn a_scenario_sets_the_limit_and_a_shrink_keeps_the_failure() {
    let dir = common::tmp("instant");
    let scenario = dir.join("raft.toml");
    // Five starts at time zero are five events at one instant.
    std::fs::write(&scenario, format!("{RAFT}instant_events = 3\n")).unwrap();
    let trace = dir.join("t.trace");
    let o = run(&scenario, &trace);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("FAILED     check `time-stood-still` at record 3 (t=0.000000000s): 3 events handled in a row"),
        "{}",
        text(&o)
    );
    let small = dir.join("t.min.trace");
    let o = dsim(&[
        "shrink",
        trace.to_str().unwrap(),
        "-o",
        small.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("check      `time-stood-still` still fails"),
        "{}",
        text(&o)
    );
    // One value for every seed: a range is refused at its place, as
    // for message_bytes.
    for (key, value) in [
        ("instant_events", "[1, 5]"),
        ("message_bytes", "[100, 200]"),
    ] {
        std::fs::write(&scenario, format!("{RAFT}{key} = {value}\n")).unwrap();
        let o = run(&scenario, &trace);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "raft.toml:9:{}: run.{key} is one integer, not a range",
                key.len() + 4
            )),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_run_cut_short_by_its_event_limit_says_so_and_a_sweep_counts_them() {
    let dir = common::tmp("cut");
    let scenario = dir.join("raft.toml");
    std::fs::write(&scenario, format!("{RAFT}events = 300\n")).unwrap();
    let trace = dir.join("t.trace");
    let o = run(&scenario, &trace);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(
            "end        event limit: 300 events handled (deliveries, timers, inputs) by "
        ) && text(&o)
            .contains("before the time limit (2s); what would have come after was never simulated"),
        "{}",
        text(&o)
    );
    let out = dir.join("sweep");
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("CUT SHORT in 3 of 3 passing seeds (every one): the run reached its event limit before its time limit (e.g. seed 0 stopped at "),
        "{}",
        text(&o)
    );
    // A run that reaches its time limit is not cut short.
    std::fs::write(&scenario, RAFT).unwrap();
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("CUT SHORT"), "{}", text(&o));
}

/// The `abort` example's program (`cargo test` builds every example).
fn abort_example() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/suite-... beside target/<profile>/examples/.
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(format!("abort{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds it, as does `cargo build --release --example abort`",
        bin.display()
    );
    bin
}

/// Runs the example with `args`, no core file written for an abort.
fn abort_run(args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -c 0; exec \"$@\"")
        .arg("sh")
        .arg(abort_example())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn a_sweep_resumed_after_a_seed_took_its_process_down_records_that_seed_and_goes_on() {
    let dir = common::tmp("aborted");
    let out = dir.join("sweep");
    let out = out.to_str().unwrap();
    let scenario = "examples/abort.toml";
    let sweep = [
        "sweep", scenario, "--seeds", "0..24", "--out", out, "--jobs", "2",
    ];
    // One seed in eight overflows a stack: the first sweep dies.
    let o = abort_run(&sweep);
    assert!(!matches!(o.status.code(), Some(0..=2)), "{}", text(&o));
    assert!(
        text(&o).contains("has overflowed its stack"),
        "{}",
        text(&o)
    );
    // Each resume runs alone what was running, records the seed that
    // aborts, and goes on to the next such seed.
    let resume = [&sweep[..], &["--resume", out]].concat();
    let mut resumes = 0;
    let last = loop {
        resumes += 1;
        assert!(resumes <= 24, "a resume per seed, and more");
        let o = abort_run(&resume);
        assert!(
            text(&o).contains("was running when the sweep stopped: running it alone first"),
            "{}",
            text(&o)
        );
        if matches!(o.status.code(), Some(0..=2)) {
            break o;
        }
    };
    assert_eq!(last.status.code(), Some(1), "{}", text(&last));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{out}/summary.json")).unwrap()).unwrap();
    let outcomes = summary["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), 24);
    let aborted: Vec<u64> = outcomes
        .iter()
        .filter(|o| o["failed_check"] == "aborted")
        .map(|o| o["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(aborted.len() as u64, summary["failed"].as_u64().unwrap());
    assert!(!aborted.is_empty() && aborted.len() < 24, "{aborted:?}");
    for o in outcomes.iter().filter(|o| o["failed_check"] == "aborted") {
        let message = o["message"].as_str().unwrap();
        assert!(
            message.starts_with("the process died running this seed (signal 6 (SIGABRT): ")
                && !message.contains("core dumped")
                && message.contains("thread 'main' has overflowed its stack; fatal runtime error"),
            "{message}"
        );
    }
    // Each seed recorded so dies when run alone; a passing one does not.
    let trace = dir.join("t.trace");
    let passing = outcomes.iter().find(|o| o["verdict"] == "pass").unwrap();
    for (seed, dies) in aborted
        .iter()
        .map(|s| (*s, true))
        .chain([(passing["seed"].as_u64().unwrap(), false)])
    {
        let seed = seed.to_string();
        let o = abort_run(&[
            "run",
            scenario,
            "--seed",
            &seed,
            "--trace",
            trace.to_str().unwrap(),
        ]);
        assert_eq!(
            !matches!(o.status.code(), Some(0..=2)),
            dies,
            "seed {seed}: {}",
            text(&o)
        );
    }
}
