//! The command line as a user meets it: bundled scenarios, malformed input,
//! sweeps that do not depend on cores, shards that merge.

use crate::common;

use common::{dsim, files, text, tmp, tmp_path};

use std::path::{Path, PathBuf};
use std::process::Command;

fn bundled() -> Vec<PathBuf> {
    let files = files("scenarios", "toml");
    assert!(!files.is_empty());
    files
}

/// A broken twin, or a hand-written minimal failure of one.
fn is_broken_twin(p: &Path) -> bool {
    let name = p.file_name().unwrap().to_string_lossy();
    name.contains("-bug-") || name.ends_with("-minimal.toml")
}

#[test]
fn every_bundled_correct_scenario_runs_and_passes() {
    for s in bundled().iter().filter(|p| !is_broken_twin(p)) {
        let o = dsim(&["run", s.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", s.display(), text(&o));
        assert!(text(&o).contains("checks "), "{}", text(&o));
    }
}

#[test]
fn every_bundled_broken_twin_is_caught_by_a_sweep() {
    for s in bundled().iter().filter(|p| is_broken_twin(p)) {
        let out = tmp(&format!(
            "twin-{}",
            s.file_stem().unwrap().to_string_lossy()
        ));
        let o = dsim(&[
            "sweep",
            s.to_str().unwrap(),
            "--seeds",
            "0..1000",
            "--out",
            out.to_str().unwrap(),
            "--max-failures",
            "1",
        ]);
        assert_eq!(o.status.code(), Some(1), "{}: {}", s.display(), text(&o));
        assert!(text(&o).contains("reproduce  dsim run"), "{}", text(&o));
    }
}

#[test]
fn a_sweep_names_its_first_failing_seeds_and_counts_the_rest() {
    let out = tmp("many-failures");
    let o = dsim(&[
        "sweep",
        "scenarios/twophase-bug-commit-on-timeout.toml",
        "--seeds",
        "0..100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let named = err.lines().filter(|l| l.starts_with("seed ")).count();
    assert_eq!(named, 20, "{err}");
    assert!(err.contains("further failing seeds are counted"), "{err}");
    // The summary still has every one.
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let failed = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verdict"] == "fail")
        .count();
    assert!(failed > 20, "{failed}");
    assert_eq!(summary["failed"], failed);
}

#[test]
fn a_sweep_of_ranges_says_which_drawn_values_go_with_the_failures() {
    // The echo twin executes a retried request twice: with one attempt
    // drawn there is no retry, and nothing fails.
    let dir = tmp("swarm-draws");
    let scenario = dir.join("echo-attempts.toml");
    let twin = std::fs::read_to_string("scenarios/echo-bug-no-dedup.toml").unwrap();
    std::fs::write(&scenario, twin.replace("attempts = 6", "attempts = [1, 3]")).unwrap();
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..60",
        "--out",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let mut lines = err
        .lines()
        .skip_while(|l| !l.starts_with("failing seeds by what they drew"));
    assert!(lines.next().is_some(), "{err}");
    let attempts = lines.next().unwrap_or_default();
    assert!(attempts.starts_with("  params.attempts  1: "), "{err}");
    // Each value drawn, in order, with how often its seeds failed: one
    // attempt least often.
    let rates: Vec<u32> = attempts
        .split(" · ")
        .map(|r| {
            r.split(": ")
                .nth(1)
                .unwrap()
                .split('%')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(rates.len(), 3, "{attempts}");
    assert!(rates[0] < rates[1].min(rates[2]), "{attempts}");
    // Each failed check names its first failing seeds, in seed order, as
    // the summary has them (whatever order the threads finished them in).
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("out").join("summary.json")).unwrap(),
    )
    .unwrap();
    let failing: Vec<String> = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["failed_check"] == "at-most-once")
        .map(|o| o["seed"].to_string())
        .collect();
    assert!(failing.len() > 8, "{failing:?}");
    let line = format!(
        "  at-most-once: {} seeds: {}, ...",
        failing.len(),
        failing[..8].join(", ")
    );
    assert!(err.lines().any(|l| l == line), "{line}\n{err}");
    // A sweep of a scenario without ranges has no such lines.
    let o = dsim(&[
        "sweep",
        "scenarios/echo-bug-no-dedup.toml",
        "--seeds",
        "0..20",
        "--out",
        dir.join("plain").to_str().unwrap(),
    ]);
    assert!(!text(&o).contains("by what they drew"), "{}", text(&o));
}

#[test]
fn a_sweep_says_when_a_failed_liveness_check_was_due_and_from_what() {
    // Raft over links that lose four messages in five: no leader within
    // a second of the start, the loss being no fault that ends.
    let dir = tmp("liveness-due");
    let scenario = dir.join("raft-lossy.toml");
    let base = std::fs::read_to_string("scenarios/raft-partitions.toml").unwrap();
    let lossy = base
        .split("[workload]")
        .next()
        .unwrap()
        .replace("loss = 0.03", "loss = 0.8");
    std::fs::write(&scenario, lossy.replace("nodes = 5", "nodes = 3")).unwrap();
    let out = dir.join("out");
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let due = "due 1s after the run began, with no fault since, so at 1.000000000s; the links' \
               steady loss (up to 80%) is no fault that ends";
    assert!(
        text(&o).contains(&format!("\n  liveness   {due}")),
        "{}",
        text(&o)
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for o in summary["outcomes"].as_array().unwrap() {
        let failed = o["failed_check"] == "leader-elected";
        assert_eq!(
            o["due"].as_str().is_some_and(|d| d.starts_with(due)),
            failed,
            "{o}"
        );
    }
}

#[test]
fn a_failing_run_names_the_check_and_the_command_that_reproduces_it() {
    let dir = tmp("failing-run");
    let trace = dir.join("t.trace");
    let o = dsim(&[
        "run",
        "scenarios/echo-bug-no-dedup.toml",
        "--seed",
        "3",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("FAILED     check `at-most-once` at record"),
        "{t}"
    );
    assert!(
        t.contains("reproduce  dsim run scenarios/echo-bug-no-dedup.toml --seed 3"),
        "{t}"
    );
    let bytes = std::fs::read(&trace).unwrap();
    let (header, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    assert_eq!((header.protocol.as_str(), header.seed), ("echo", 3));
    assert!(records.iter().any(|r| matches!(&r.kind, dsim::trace::Kind::CheckFailed { check, .. } if check == "at-most-once")));
}

#[test]
fn every_malformed_scenario_exits_2_with_a_located_message_and_never_panics() {
    let expected: &[(&str, &str)] = &[
        ("binary-garbage", "not UTF-8"),
        ("crash-node-out-of-range", ":6:9: a crash names node 7"),
        (
            "cut-without-topology",
            ":6:7: cutting or restoring a wire needs a [topology]",
        ),
        ("duplicate-key", ":3:1: duplicate key"),
        ("duration-unknown-unit", ":4:8: unknown unit `parsecs`"),
        ("duration-without-unit", ":4:8: a duration needs a unit"),
        ("empty", "the scenario is empty"),
        (
            "fault-with-two-actions",
            ":4:1: a fault takes exactly one action",
        ),
        ("fault-without-action", ":4:1: a fault needs one action"),
        (
            "disk-as-array-of-tables",
            ":4:1: `disk` is one table, written `[disk]`, not an array of them (`[[disk]]`)",
        ),
        (
            "fault-as-one-table",
            ":4:1: `fault` is an array of tables, one for each fault: write `[[fault]]`, not one table",
        ),
        (
            "link-as-one-table",
            ":4:1: `network.link` is an array of tables, one for each wire: write `[[network.link]]`, not one table",
        ),
        (
            "link-inline-one-table",
            ":6:1: `network.link` is an array of tables, one for each wire: write `[[network.link]]`, not one table",
        ),
        (
            "network-not-a-table",
            ":3:11: `network`: invalid type: integer `5`, expected a table",
        ),
        (
            "disk-chance-above-one",
            ":4:17: a probability must be in [0, 1], not 1.5",
        ),
        ("fault-without-at", ":4:1: a fault needs `at`, when it comes"),
        (
            "fault-after-time-limit",
            ":6:6: this fault comes at 100s, but the run ends at 60s (run.time's default): it would never happen",
        ),
        (
            "workload-after-time-limit",
            ":7:9: the workload's first operation comes at 2s, but the run ends at 1s (run.time): it would never happen",
        ),
        (
            "latency-min-above-max",
            ":4:11: network.latency: min (10ms) can exceed max (1ms)",
        ),
        ("missing-equals", ":2:7:"),
        ("missing-protocol", "missing field `protocol`"),
        ("negative-seed", ":3:8: seed must not be negative"),
        ("nodes-wrong-type", ":2:9: nodes must be an integer"),
        ("not-toml-at-all", ":1:"),
        ("param-out-of-range", ":4:12: params.attempts"),
        (
            "param-wrong-type",
            ":4:9: params.dedup: `dedup` must be true or false",
        ),
        (
            "partition-names-missing-node",
            ":6:13: a partition names node 9",
        ),
        (
            "probability-negative",
            ":4:13: a probability must be in [0, 1], not -0.1",
        ),
        (
            "probability-too-big",
            ":4:8: a probability must be in [0, 1], not 1.5",
        ),
        (
            "range-backwards",
            ":4:8: the range for network.loss is backwards",
        ),
        (
            "restart-before-crash",
            ":8:1: node 1 is restarted at 1s but is not crashed",
        ),
        (
            "skew-range-backwards",
            ":6:29: the range for skew offset is backwards: 20ms > -20ms",
        ),
        (
            "skew-drift-stops-the-clock",
            ":6:32: drift_ppm -2000000 would stop or reverse the clock",
        ),
        ("too-few-nodes", ":2:9: nodes must be between 2"),
        ("unclosed-string", ":1:"),
        (
            "unknown-distribution",
            ":4:11: unknown distribution \"gaussian\"",
        ),
        (
            "unknown-invariant",
            ":4:15: protocol `echo` has no invariant `at-most-one`: did you mean `at-most-once`?",
        ),
        (
            "linearizable-not-declared",
            ":4:15: protocol `echo` has no invariant `linearizable` (it has at-most-once, acked-were-executed); the clients' history is checked when the scenario asks for it: [check] linearizable = \"MODEL\" (models: register,",
        ),
        (
            "unknown-model",
            ":4:16: no model `registr`: did you mean `register`?",
        ),
        (
            "unknown-network-key",
            ":5:1: unknown key `lattency`: did you mean `latency`?",
        ),
        (
            "unknown-ordering",
            ":4:12: ordering must be \"fifo\" or \"reorder\"",
        ),
        (
            "unknown-param",
            ":4:1: protocol `echo` has no parameter `timout`: did you mean `timeout`?",
        ),
        (
            "param-duration-without-unit",
            ":4:11: params.timeout: `timeout` must be a duration such as \"50ms\"",
        ),
        (
            "unknown-protocol",
            ":1:12: unknown protocol \"ecoh\": did you mean \"echo\"?",
        ),
        (
            "unknown-top-level-key",
            ":2:1: unknown key `node`: did you mean `nodes`?",
        ),
        (
            "workload-target-missing",
            ":5:11: a workload target names node 12",
        ),
        (
            "pct-on-fifo-links",
            ":8:12: the pct strategy chooses the order of deliveries, so it needs reordering links; this scenario promises FIFO",
        ),
        (
            "topology-edges-with-node-range",
            ":4:1: explicit topology edges need a fixed node count: with nodes = [3, 6], nodes 3 and above would have no wire",
        ),
        (
            "topology-cut-of-a-wire-some-counts-lack",
            ":9:7: nodes 3 and 0 are wired only when 4 nodes are drawn; with nodes = [4, 8] a seed may draw more",
        ),
        (
            "topology-link-loss-off-the-wires",
            ":7:1: a link sets loss, but nodes 0 and 3 are not wired in the topology: with a [topology], loss and latency belong to wires",
        ),
        (
            "link-node-beyond-a-drawn-count",
            ":5:8: a link names node 5, but a seed may draw 3 nodes, numbered 0..2 (nodes = [3, 7])",
        ),
        (
            "isolate-not-a-word",
            ":6:11: isolate names a role, a word a node's `role()` gives (letters, digits, `-`, `_`, `.` and spaces), not \"leader!\"",
        ),
        (
            "heal-of-no-partition",
            ":4:1: heal = 5 names no partition: no partition, oneway or isolate fault has id = 5",
        ),
        (
            "heal-before-its-partition",
            ":9:1: partition 1 is healed at 500ms but is not in force before then: the heal would lift nothing",
        ),
        (
            "top-level-key-in-a-table",
            ":4:1: `protocol` is missing at the top of the file: it is given here, below `[params]`, so it belongs to that table (in TOML a key belongs to the table whose header comes before it); move it above the first header",
        ),
        (
            "seed-below-params",
            ":6:1: protocol `echo` has no parameter `seed` (it takes timeout, attempts, dedup); `seed` is a key of the file's top level: written below a table's header, it belongs to that table",
        ),
        (
            "seed-below-workload",
            ":6:1: unknown key `seed` (valid keys here: count, start, interval, targets, values); `seed` is a key of the file's top level",
        ),
        (
            "after-on-a-partition",
            ":5:9: `after` sets off a crash (and with `down`, its restart): this fault is no crash",
        ),
        (
            "down-on-a-partition",
            ":7:8: `down` restarts a crashed node that long after its crash: this fault is no crash",
        ),
        (
            "crash-again-before-down-ends",
            ":9:1: node 1 is crashed here but is already down",
        ),
        (
            "after-delivery-zero",
            ":5:34: after.deliveries must be between 1 and",
        ),
        (
            "after-deliveries-and-sends",
            ":5:9: `after` counts one of a node's messages: `deliveries` (handled) or `sends` (sent), not both",
        ),
        (
            "restart-of-a-triggered-crash-at-a-time",
            ":9:1: node 1 is restarted at 1s but is not crashed before then (a crash set off by `after` has no time to come before: give it `down` for its restart)",
        ),
        (
            "crash-of-a-role-after-progress",
            ":5:9: a crash set off by `after` names its node: a crash of whoever plays a role comes at a time, `at`",
        ),
        (
            "restart-of-a-role-crash",
            ":8:1: node 2 is restarted at 1s but is not crashed before then (a crash of a node drawn from a range, or of whoever plays a role, may not be of this one: give it `down` for its restart)",
        ),
        (
            "restore-before-its-cut",
            ":11:1: the wire 1-0 is restored at 500ms but is not cut before then: the restore would do nothing",
        ),
    ];
    let on_disk = std::fs::read_dir("tests/malformed").unwrap().count();
    assert_eq!(
        on_disk,
        expected.len(),
        "every malformed file needs an expectation here"
    );
    assert!(expected.len() >= 20);
    for (name, want) in expected {
        let file = format!("tests/malformed/{name}.toml");
        for command in ["run", "sweep"] {
            let o =
                dsim(&[command, &file, "--seeds", "0..2"][..if command == "run" { 2 } else { 4 }]);
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{command} {file}: {stderr}");
            assert!(
                stderr.contains(file.as_str()),
                "{file}: the message must name the file: {stderr}"
            );
            assert!(
                stderr.contains(want),
                "{file}: expected `{want}` in: {stderr}"
            );
            assert!(!stderr.contains("panicked"), "{file}: {stderr}");
        }
    }
}

#[test]
fn impossible_command_line_parameters_exit_2() {
    let out = tmp("impossible");
    let out = out.to_str().unwrap();
    let lossy = "scenarios/echo-lossy.toml";
    let failing = "traces/echo-bug-no-dedup-seed-1.trace";
    let min = tmp("impossible-min").join("t.min");
    let min = min.to_str().unwrap();
    // Each with the flag its message must name: a usage error that fired
    // for another reason (a required flag missing) would prove nothing.
    for (args, names) in [
        (
            &["sweep", lossy, "--out", out, "--seeds", "9..3"][..],
            "--seeds",
        ),
        (
            &["sweep", lossy, "--out", out, "--seeds", "banana"],
            "banana",
        ),
        (
            &[
                "sweep", lossy, "--out", out, "--seeds", "0..9", "--shard", "2/2",
            ],
            "--shard",
        ),
        (
            &[
                "sweep", lossy, "--out", out, "--seeds", "0..9", "--jobs", "0",
            ],
            "--jobs",
        ),
        // Ten thousand took a minute and a gigabyte to start.
        (
            &[
                "sweep", lossy, "--out", out, "--seeds", "0..9", "--jobs", "100000",
            ],
            "--jobs 100000",
        ),
        (
            &[
                "sweep",
                lossy,
                "--out",
                out,
                "--seeds",
                "0..9",
                "--max-failures",
                "0",
            ],
            "--max-failures",
        ),
        (&["explore", lossy, "--out", out, "--depth", "0"], "--depth"),
        (
            &["explore", lossy, "--out", out, "--max-states", "0"],
            "--max-states",
        ),
        (
            &["shrink", failing, "-o", min, "--max-runs", "0"],
            "--max-runs",
        ),
        (
            &["shrink", failing, "-o", min, "--time-limit", "0s"],
            "--time-limit",
        ),
        (&["run", "scenarios/does-not-exist.toml"], "does-not-exist"),
        (&["run"], "SCENARIO"),
        (&["frobnicate"], "frobnicate"),
    ] {
        let o = dsim(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(names), "{args:?}: {}", text(&o));
    }
    assert!(!std::path::Path::new(min).exists());
}

fn sweep_summary(args: &[&str], name: &str) -> String {
    let out = tmp(name);
    let mut all = vec!["sweep"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap()]);
    let o = dsim(&all);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    std::fs::read_to_string(out.join("summary.json")).unwrap()
}

#[test]
fn a_sweep_summary_is_identical_whatever_the_number_of_jobs() {
    let args = ["scenarios/echo-bug-no-dedup.toml", "--seeds", "0..60"];
    let one = sweep_summary(&[&args[..], &["--jobs", "1"]].concat(), "jobs1");
    let two = sweep_summary(&[&args[..], &["--jobs", "2"]].concat(), "jobs2");
    assert_eq!(one, two);
    assert!(one.contains("\"verdict\": \"fail\""));
}

#[test]
fn a_sweep_that_traces_only_failing_seeds_equals_one_that_traces_every_seed() {
    // Passing seeds run with the trace off and keep a digest; failing ones
    // run again with the trace on. The summary and the traces must be the
    // ones a sweep tracing every seed writes.
    for scenario in [
        "twophase-bug-commit-on-timeout",
        "raft-partitions",
        "async-abd",
    ] {
        let args = [
            format!("scenarios/{scenario}.toml"),
            "--seeds".into(),
            "0..40".into(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let fast = sweep_summary(&args, &format!("{scenario}-fast"));
        let every = [&args[..], &["--trace-every-seed"]].concat();
        let traced = sweep_summary(&every, &format!("{scenario}-every"));
        assert_eq!(fast, traced, "{scenario}");
        let summary: serde_json::Value = serde_json::from_str(&fast).unwrap();
        for o in summary["outcomes"].as_array().unwrap() {
            assert_eq!(o["digest"].as_str().unwrap().len(), 16, "{o}");
            // A failing seed's trace is kept and hashed; a passing one's is not.
            let failed = o["verdict"] == "fail";
            assert_eq!(o.get("trace_hash").is_some(), failed, "{o}");
            if failed {
                let name = o["trace"].as_str().unwrap();
                let a = std::fs::read(tmp_path(&format!("{scenario}-fast")).join(name)).unwrap();
                let b = std::fs::read(tmp_path(&format!("{scenario}-every")).join(name)).unwrap();
                assert_eq!(a, b, "{name}");
            }
        }
    }
}

#[test]
fn two_shards_merged_equal_the_unsharded_sweep() {
    let args = ["scenarios/echo-bug-no-dedup.toml", "--seeds", "5..45"];
    let whole = sweep_summary(&args, "whole");
    let a = tmp("shard0");
    let b = tmp("shard1");
    for (i, dir) in [(0, &a), (1, &b)] {
        let shard = format!("{i}/2");
        let mut all = vec!["sweep"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["--shard", &shard, "--out", dir.to_str().unwrap()]);
        let o = dsim(&all);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    }
    let merged = tmp("merged").join("summary.json");
    let o = dsim(&[
        "merge",
        a.join("summary.json").to_str().unwrap(),
        b.join("summary.json").to_str().unwrap(),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(merged).unwrap(), whole);
}

#[test]
fn a_merge_missing_a_shard_does_not_pass() {
    // Before: a warning, and exit 0 — a CI job whose one shard died read
    // the merge as a passing sweep.
    let args = ["scenarios/echo-lossy.toml", "--seeds", "0..30"];
    let dirs: Vec<_> = (0..3).map(|i| tmp(&format!("part{i}"))).collect();
    for (i, dir) in dirs.iter().enumerate() {
        let shard = format!("{i}/3");
        let mut all = vec!["sweep"];
        all.extend_from_slice(&args);
        all.extend_from_slice(&["--shard", &shard, "--out", dir.to_str().unwrap()]);
        let o = dsim(&all);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    let summary = |i: usize| dirs[i].join("summary.json").to_str().unwrap().to_string();
    let merged = tmp("part-merged").join("summary.json");
    let o = dsim(&[
        "merge",
        &summary(0),
        &summary(2),
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("shard 1/3 is missing; the merged summary is incomplete"),
        "{}",
        text(&o)
    );
    // What was merged is written, marked incomplete.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    assert_eq!(written["complete"], false);
    assert_eq!(written["run"], 20);
    // All three pass.
    let o = dsim(&[
        "merge",
        &summary(0),
        &summary(1),
        &summary(2),
        "-o",
        tmp("part-all").join("summary.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn swarm_knobs_are_drawn_per_seed_printed_and_recorded_in_the_trace() {
    let dir = tmp("swarm");
    let scenario = dir.join("swarm.toml");
    std::fs::write(
        &scenario,
        "protocol = \"echo\"\nnodes = [2, 5]\n[network]\nloss = [0.0, 0.2]\nlatency = { dist = \"uniform\", min = \"1ms\", max = [\"5ms\", \"50ms\"] }\n[workload]\ncount = 10\n\n[[fault]]\nat = \"10ms\"\nprobability = 0.5\ncrash = 1\n",
    )
    .unwrap();
    let trace = dir.join("t.trace");
    let run = |seed: &str| {
        dsim(&[
            "run",
            scenario.to_str().unwrap(),
            "--seed",
            seed,
            "--trace",
            trace.to_str().unwrap(),
        ])
    };
    let o = run("4");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("drawn      nodes = "), "{t}");
    assert!(t.contains("network.loss = "), "{t}");
    assert!(t.contains("network.latency.max = "), "{t}");
    assert!(t.contains("fault.0 = "), "{t}");
    let (header, _, hash) = dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    assert!(header.drawn.contains_key("network.loss"));
    // A drawn duration reads in its largest unit, exactly (the header
    // keeps whole units: "44218841ns" is printed "44.218841ms").
    let shown = t
        .split("network.latency.max = ")
        .nth(1)
        .and_then(|s| s.split([',', '\n']).next())
        .unwrap();
    let kept = &header.drawn["network.latency.max"];
    assert_eq!(
        dsim::Duration::parse(shown).unwrap(),
        dsim::Duration::parse(kept).unwrap(),
        "{t}"
    );
    assert!(
        shown.ends_with("ms") && !kept.ends_with("ms"),
        "{shown} {kept}"
    );
    // The same seed draws the same configuration and gives the same trace.
    let o2 = run("4");
    assert_eq!(
        text(&o2).lines().find(|l| l.starts_with("drawn")),
        t.lines().find(|l| l.starts_with("drawn"))
    );
    assert_eq!(
        dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None)
            .unwrap()
            .2,
        hash
    );
    // Another seed draws another.
    let o3 = run("5");
    assert_ne!(
        text(&o3).lines().find(|l| l.starts_with("drawn")),
        t.lines().find(|l| l.starts_with("drawn"))
    );
}

#[test]
fn a_clock_skews_offset_and_drift_are_knobs_each_seed_draws_within_its_range() {
    use dsim::config::FaultAction;
    let registry = dsim::protocols::Registry::builtin();
    let skew = |text: &str| {
        let source = format!("protocol = \"echo\"\nnodes = 3\n[[fault]]\nat = \"10ms\"\nskew = {{ node = 1, {text} }}\n");
        dsim::scenario::Scenario::parse("skew.toml", &source, &registry).unwrap()
    };
    let ranged = skew("offset = [\"-20ms\", \"20ms\"], drift_ppm = [-5000, 5000]");
    let mut offsets = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let run = ranged.resolve(seed).unwrap();
        let FaultAction::ClockSkew {
            offset_ns,
            drift_ppm,
            ..
        } = run.config.faults[0].action
        else {
            panic!("{:?}", run.config.faults)
        };
        assert!(
            (-20_000_000..=20_000_000).contains(&offset_ns),
            "{offset_ns}"
        );
        assert!((-5000..=5000).contains(&drift_ppm), "{drift_ppm}");
        offsets.insert(offset_ns.signum());
        // What was drawn is listed, as the run prints it and the trace keeps it.
        let drawn: std::collections::BTreeMap<_, _> = run.drawn.iter().cloned().collect();
        assert_eq!(drawn["fault.0.skew.drift_ppm"], drift_ppm.to_string());
        let offset = &drawn["fault.0.skew.offset"];
        assert_eq!(
            offset.starts_with('-'),
            offset_ns < 0,
            "{offset} {offset_ns}"
        );
        // The same seed draws the same skew.
        assert_eq!(
            ranged.resolve(seed).unwrap().config.faults,
            run.config.faults
        );
    }
    assert!(offsets.contains(&-1) && offsets.contains(&1), "{offsets:?}");
    // Fixed values draw nothing, so the seed's other draws do not move.
    let fixed = skew("offset = \"-5ms\", drift_ppm = 300");
    let run = fixed.resolve(7).unwrap();
    assert!(run.drawn.is_empty(), "{:?}", run.drawn);
    assert!(matches!(
        run.config.faults[0].action,
        FaultAction::ClockSkew {
            offset_ns: -5_000_000,
            drift_ppm: 300,
            ..
        }
    ));
}

#[test]
fn a_run_says_when_a_skew_set_a_clock_back_past_zero_and_it_stood_still() {
    // n2 set back 30 ms at 0 reads 0 until a skew forward at 20 ms; n1
    // set back 50 ms at 10 ms (to -40 ms) reads 0 until 50 ms; n0 set
    // back 30 ms at 10 ms (to -20 ms), then 5 ms ahead at 20 ms (to -5
    // ms), reads 0 until 25 ms; n3 set back 5 ms at 10 ms reads 5 ms:
    // never held.
    let dir = tmp("held-clock");
    let scenario = dir.join("held.toml");
    let skew = |at: &str, node: u32, offset: &str| {
        format!("[[fault]]\nat = \"{at}\"\nskew = {{ node = {node}, offset = \"{offset}\" }}\n")
    };
    std::fs::write(
        &scenario,
        format!(
            "protocol = \"echo\"\nnodes = 4\n[workload]\ncount = 40\ninterval = {{ dist = \"exponential\", mean = \"10ms\" }}\n{}{}{}{}{}{}",
            skew("0ms", 2, "-30ms"),
            skew("10ms", 1, "-50ms"),
            skew("10ms", 0, "-30ms"),
            skew("10ms", 3, "-5ms"),
            skew("20ms", 2, "100ms"),
            skew("20ms", 0, "5ms"),
        ),
    )
    .unwrap();
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        dir.join("t.trace").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    let held: Vec<&str> = t.lines().filter(|l| l.starts_with("clock ")).collect();
    let expected = [
        "n2 read 0 from 0.000000000s to 0.020000000s: set back 30ms past zero",
        "n1 read 0 from 0.010000000s to 0.050000000s: set back 50ms past zero",
        "n0 read 0 from 0.010000000s to 0.020000000s: set back 30ms past zero",
        "n0 read 0 from 0.020000000s to 0.025000000s: stepped 5ms ahead, still short of zero",
    ];
    assert_eq!(held.len(), expected.len(), "{t}");
    for (line, want) in held.iter().zip(expected) {
        assert!(line.starts_with(&format!("clock      {want}")), "{t}");
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    for cmd in ["run", "sweep", "merge", "protocols"] {
        let o = dsim(&[cmd, "--help"]);
        assert_eq!(o.status.code(), Some(0));
        assert!(text(&o).contains("Example"), "{cmd}: {}", text(&o));
    }
}

#[test]
fn protocols_lists_parameters_and_invariants() {
    let o = dsim(&["protocols"]);
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o);
    assert!(
        t.contains("echo:") && t.contains("dedup = true") && t.contains("at-most-once"),
        "{t}"
    );
}

#[test]
fn an_interrupted_sweep_keeps_what_it_finished_and_resumes_to_the_same_summary() {
    let args = ["scenarios/echo-lossy.toml", "--seeds", "0..40000"];
    let dir = tmp("interrupted");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "sweep",
            args[0],
            args[1],
            args[2],
            "--out",
            dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first progress line: by then the interrupt handler is in
    // place and some seeds are done.
    use std::io::BufRead;
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("progress:") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    common::interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    let t = format!("{seen}{rest}{}", String::from_utf8_lossy(&o.stdout));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    if summary["complete"] == true {
        // The machine finished all seeds before the signal landed; nothing to resume.
        return;
    }
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("interrupted:") && t.contains("--resume"), "{t}");
    let done = summary["run"].as_u64().unwrap();
    assert!(done > 0 && done < 40000, "{done}");
    let resume = dsim(&[
        "sweep",
        args[0],
        args[1],
        args[2],
        "--out",
        dir.to_str().unwrap(),
        "--resume",
        dir.join("summary.json").to_str().unwrap(),
    ]);
    assert_eq!(resume.status.code(), Some(0), "{}", text(&resume));
    let resumed = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert_eq!(resumed, sweep_summary(&args, "uninterrupted"));
}

#[test]
fn a_passing_run_without_trace_leaves_the_traces_folder_alone() {
    let dir = tmp("untouched");
    std::fs::create_dir_all(dir.join("traces")).unwrap();
    let precious = dir.join("traces/echo-lossy-seed-1.trace");
    std::fs::write(&precious, b"someone's regression trace").unwrap();
    let scenario = std::fs::canonicalize("scenarios/echo-lossy.toml").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .current_dir(&dir)
        .args(["run", scenario.to_str().unwrap(), "--seed", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(&precious).unwrap(),
        b"someone's regression trace"
    );
    assert_eq!(std::fs::read_dir(dir.join("traces")).unwrap().count(), 1);
}

#[test]
fn a_sweep_in_which_a_check_never_ran_does_not_pass() {
    // Before: every seed reported the check NOT RUN and the sweep exited
    // 0, which a CI job reads as "every check held".
    let dir = tmp("never-ran");
    let scenario = dir.join("echo-linearizable.toml");
    std::fs::write(
        &scenario,
        "protocol = \"echo\"\nnodes = 3\n[workload]\ncount = 5\n[check]\nlinearizable = \"register\"\n",
    )
    .unwrap();
    let out = dir.join("out");
    let args = [
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..20",
        "--out",
        out.to_str().unwrap(),
    ];
    let o = dsim(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "echo-linearizable.toml: check `linearizable` ran in none of the 20 seeds (the run recorded no client operation"
        ),
        "{}",
        text(&o)
    );
    // The summary is written all the same, each seed's NOT RUN in it.
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    assert!(summary.contains("\"linearizable\""), "{summary}");
    // The protocol's own checks, which do run, pass the same sweep.
    let o = dsim(&[&args[..], &["--check", "at-most-once"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Swept in shards, each only notes it (another shard's seeds may run
    // the check); merged, the rule holds of the whole.
    let mut shards = Vec::new();
    for i in 0..2 {
        let shard = dir.join(format!("shard{i}"));
        let o = dsim(&[
            "sweep",
            scenario.to_str().unwrap(),
            "--seeds",
            "0..20",
            "--shard",
            &format!("{i}/2"),
            "--out",
            shard.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "note: check `linearizable` ran in none of the 10 seeds of shard {i}/2"
            )),
            "{}",
            text(&o)
        );
        shards.push(shard.join("summary.json").to_str().unwrap().to_string());
    }
    let merged = dir.join("merged.json");
    let o = dsim(&[
        "merge",
        &shards[0],
        &shards[1],
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("check `linearizable` ran in none of the 20 seeds"),
        "{}",
        text(&o)
    );
    assert!(merged.exists());
    // One seed run alone: the workload's operations reached nodes that
    // recorded none, which no seed mends.
    let trace = dir.join("one.trace");
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "1",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("echo-linearizable.toml: seed 1: check `linearizable` did not run: 5 workload inputs reached nodes and the run recorded no client operation"),
        "{}",
        text(&o)
    );
    assert!(trace.exists());
    // A history check whose verdict is unknown in a seed (here: a model
    // that does not fit the protocol's operations) does not pass a sweep.
    let kv = dir.join("kv-as-register.toml");
    std::fs::write(
        &kv,
        "protocol = \"kv\"\nnodes = 5\n[workload]\ncount = 5\n[check]\nlinearizable = \"register\"\n",
    )
    .unwrap();
    let o = dsim(&[
        "sweep",
        kv.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--out",
        dir.join("kv-out").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("kv-as-register.toml: check `linearizable` could not be judged in 4 of the 4 seeds (seed 0: its verdict is unknown: the register model has no operation"),
        "{}",
        text(&o)
    );
    // A search judged none of it either.
    let o = dsim(&[
        "explore",
        scenario.to_str().unwrap(),
        "--depth",
        "6",
        "--out",
        dir.join("explored").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "NOT RUN    linearizable: no state the search reached had recorded a client operation"
        ) && text(&o).contains("check `linearizable` ran in none of the states explored"),
        "{}",
        text(&o)
    );
    // Liveness left unjudged by the strategy the user chose is said, not
    // held against the sweep.
    let o = dsim(&[
        "sweep",
        "scenarios/explore/raft-forget-vote-one-crash.toml",
        "--seeds",
        "0..20",
        "--strategy",
        "pct",
        "--out",
        dir.join("pct").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("NOT RUN leader-elected: in 20 seeds (every seed: it never ran); e.g. liveness is not judged under PCT"),
        "{}",
        text(&o)
    );
}

#[test]
fn sweep_progress_never_counts_a_failure_before_its_seed_and_a_resume_counts_on() {
    // Before: the failure count and the seed count were read at different
    // moments on two threads ("30/50 seeds, 31 failures"), and a resumed
    // sweep counted its seeds from 0 but its failures from the first run.
    let dir = tmp("progress-counts");
    let out = dir.to_str().unwrap();
    let lines = |o: &std::process::Output| -> Vec<(u64, u64, u64)> {
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let mut lines = Vec::new();
        for line in err.lines() {
            let Some(rest) = line.strip_prefix("progress: ") else {
                continue;
            };
            let words: Vec<&str> = rest.split(['/', ' ']).collect();
            let n = |i: usize| words[i].trim_end_matches(',').parse::<u64>().unwrap();
            lines.push((n(0), n(1), n(3)));
        }
        assert!(!lines.is_empty(), "{err}");
        lines
    };
    // Every seed of this twin fails.
    let sweep = |more: &[&str]| {
        let mut args = vec![
            "sweep",
            "scenarios/echo-bug-no-dedup.toml",
            "--seeds",
            "0..400",
        ];
        args.extend(["--jobs", "2", "--out", out]);
        args.extend(more);
        dsim(&args)
    };
    let first = sweep(&["--max-failures", "150"]);
    assert_eq!(first.status.code(), Some(1), "{}", text(&first));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let before = summary["run"].as_u64().unwrap();
    assert!((150..400).contains(&before), "{before}");
    for (done, total, failures) in lines(&first) {
        assert_eq!(total, 400);
        assert_eq!(
            failures, done,
            "every seed fails, so as many failures as seeds"
        );
    }
    let summary_path = dir.join("summary.json");
    let resumed = sweep(&["--resume", summary_path.to_str().unwrap()]);
    assert_eq!(resumed.status.code(), Some(1), "{}", text(&resumed));
    let progress = lines(&resumed);
    for &(done, total, failures) in &progress {
        assert_eq!(total, 400);
        assert!(done > before, "{done} seeds after {before} finished before");
        assert_eq!(failures, done);
    }
    assert_eq!(progress.last(), Some(&(400, 400, 400)));
}

/// An output that is a device, a pipe or a link is written through, never
/// replaced: `--trace /dev/null` must not turn the device into a file (as
/// root it would, for every program on the machine).
#[cfg(target_os = "linux")]
#[test]
fn a_trace_written_to_a_device_a_pipe_or_a_link_goes_through_it() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tmp("through");
    let run = |trace: &Path| {
        dsim(&[
            "run",
            "scenarios/echo-lossy.toml",
            "--seed",
            "3",
            "--trace",
            trace.to_str().unwrap(),
        ])
    };
    let is_device = |p: &str| {
        std::fs::symlink_metadata(p)
            .unwrap()
            .file_type()
            .is_char_device()
    };
    // A full device: the write fails, and says so.
    let o = run(Path::new("/dev/full"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("writing the trace failed: /dev/full: No space left"),
        "{}",
        text(&o)
    );
    assert!(is_device("/dev/full"), "/dev/full was replaced by a file");
    let o = run(Path::new("/dev/null"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(is_device("/dev/null"), "/dev/null was replaced by a file");
    // A named pipe (what `--trace >(gzip > t.gz)` gives): a reader gets
    // the whole trace, which checks.
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let o = run(&fifo);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let piped = dir.join("piped.trace");
    std::fs::write(&piped, reader.join().unwrap()).unwrap();
    let c = dsim(&["check", piped.to_str().unwrap()]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    // A link: the file it names is written, the link stays a link.
    let real = dir.join("real.trace");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.join("link.trace");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let o = run(&link);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        std::fs::read(&real).unwrap(),
        std::fs::read(&piped).unwrap()
    );
}

#[test]
fn a_run_says_how_much_of_its_workload_it_issued() {
    // A workload of 100,000 operations, 15 ms apart, in a run of 20 s:
    // about 1,300 are issued. Before, the run passed without a word, as
    // if every operation had been checked.
    let dir = tmp("workload");
    let scenario = dir.join("long-workload.toml");
    let text_of = std::fs::read_to_string("scenarios/echo-lossy.toml").unwrap();
    std::fs::write(&scenario, text_of.replace("count = 60", "count = 100000")).unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let line = text(&o)
        .lines()
        .find(|l| l.starts_with("workload "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no workload line: {}", text(&o)));
    let issued: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!((1000..2000).contains(&issued), "{line}");
    assert!(
        line.ends_with(
            "of 100000 client operations issued; the run ended (time limit) before the rest"
        ),
        "{line}"
    );
    // A client down for a quarter of the run: its operations then were
    // never issued, and not for want of time (before, the line said the
    // run had ended before them).
    let down = dir.join("client-down.toml");
    std::fs::write(
        &down,
        format!(
            "{}\n[[fault]]\nat = \"0s\"\ncrash = 1\n[[fault]]\nat = \"5s\"\nrestart = 1\n",
            text_of.replace("count = 60", "count = 100000")
        ),
    )
    .unwrap();
    let o = dsim(&["run", down.to_str().unwrap()]);
    let line = text(&o)
        .lines()
        .find(|l| l.starts_with("workload "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no workload line: {}", text(&o)));
    let words: Vec<&str> = line.split_whitespace().collect();
    let number = |i: usize| -> u64 { words[i].parse().unwrap_or_else(|_| panic!("{line}")) };
    let (issued, at_down, rest) = (number(1), number(7), number(words.len() - 1));
    assert!(
        issued + at_down + rest == 100_000
            && (50..200).contains(&at_down)
            && line.contains(" were aimed at a node that was down when they arrived; the run ended (time limit) before the other "),
        "{line}"
    );
    let o = dsim(&["run", "scenarios/echo-lossy.toml"]);
    assert!(
        text(&o).contains("workload   60 of 60 client operations issued\n"),
        "{}",
        text(&o)
    );
    // A workload of none is said too: its checks held over nothing.
    let empty = dir.join("no-workload.toml");
    std::fs::write(&empty, text_of.replace("count = 60", "count = 0")).unwrap();
    let o = dsim(&["run", empty.to_str().unwrap()]);
    assert!(
        text(&o)
            .contains("workload   none: its count is 0, so the checks saw no client operation\n"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_planned_fault_on_a_message_never_sent_is_said() {
    // Message 100000 is never sent in a run of a hundred-odd messages:
    // its planned loss never happened, and the run says so rather than
    // pass as if it had been tried.
    let dir = tmp("planned");
    let scenario = dir.join("planned.toml");
    let base = std::fs::read_to_string("scenarios/echo-lossy.toml").unwrap();
    let with = |list: &str| base.replace("[network]", &format!("[network]\n{list}"));
    std::fs::write(
        &scenario,
        with("lose_messages = [3, 100000]\nduplicate_messages = [7, 200000]"),
    )
    .unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let line = text(&o)
        .lines()
        .find(|l| l.starts_with("planned "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no planned line: {}", text(&o)));
    assert!(
        line.starts_with("planned    lose_messages 100000, duplicate_messages 200000 never happened: the run sent "),
        "{line}"
    );
    // A sweep counts the seeds each one missed in.
    let out = dir.join("sweep");
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for planned in ["lose_messages 100000", "duplicate_messages 200000"] {
        let line = format!(
            "NEVER HAPPENED {planned}: in 5 of 5 passing seeds (every one: it never happened); e.g. \
             seed 0: {planned} never happened: the run sent "
        );
        assert!(text(&o).contains(&line), "{line}\n{}", text(&o));
    }
    assert!(!text(&o).contains("lose_messages 3"), "{}", text(&o));
    std::fs::write(&scenario, with("lose_messages = [3]")).unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    assert!(text(&o).contains(", planned 1)"), "{}", text(&o));
    assert!(!text(&o).contains("planned    "), "{}", text(&o));
    // A planned fault on a message the network adversary injected, or a
    // duplicate of a message lost first, did nothing either: said, with
    // why. The ids are taken from a run without them.
    let forging = std::fs::read_to_string("scenarios/bracha-forging-network.toml").unwrap();
    let lossy =
        |list: &str| forging.replace("[network]", &format!("[network]\nloss = 0.5\n{list}"));
    std::fs::write(&scenario, lossy("")).unwrap();
    let trace = dir.join("forging.trace");
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = text(&dsim(&["show", trace.to_str().unwrap()]));
    let id_after = |what: &str| -> u64 {
        let line = shown
            .lines()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what}: {shown}"));
        let m = line
            .split_whitespace()
            .find(|w| w.starts_with('m'))
            .unwrap();
        m[1..].split('.').next().unwrap().parse().unwrap()
    };
    let injected = id_after(" injected ");
    let lost = id_after("(loss)");
    std::fs::write(
        &scenario,
        lossy(&format!(
            "lose_messages = [{injected}]\nduplicate_messages = [{lost}]"
        )),
    )
    .unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    for line in [
        format!("planned    lose_messages {injected} never happened: its message was injected by the network adversary, which planned faults do not touch\n"),
        format!("planned    duplicate_messages {lost} never happened: its message was lost, so never duplicated\n"),
    ] {
        assert!(text(&o).contains(&line), "{line}{}", text(&o));
    }
}

#[test]
fn a_flag_that_makes_the_scenario_invalid_is_named_and_leaves_no_file() {
    // `--strategy pct` on a scenario with FIFO links: the error names the
    // flag (a line of the rewritten text is no line of the user's file),
    // and no empty `.partial` trace is left behind and announced.
    let dir = tmp("flag-invalid");
    let scenario = dir.join("fifo.toml");
    std::fs::write(
        &scenario,
        "protocol = \"echo\"\nnodes = 3\n[network]\nordering = \"fifo\"\n",
    )
    .unwrap();
    let trace = dir.join("t.trace");
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--strategy",
        "pct",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains(
            "fifo.toml with --strategy pct: the pct strategy chooses the order of deliveries"
        ) && !text(&o).contains("partial"),
        "{}",
        text(&o)
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, [std::ffi::OsString::from("fifo.toml")]);
}

#[test]
fn a_heal_or_restore_drawn_before_its_fault_is_skipped_and_said() {
    // Drawn times may put a heal before its partition, or a restore before
    // its cut: the heal then lifted nothing and the partition lasted to the
    // end, unsaid. Now such a heal or restore is skipped for the seed and
    // listed among what was drawn, as a restart before its crash is.
    use dsim::config::FaultAction;
    let registry = dsim::protocols::Registry::builtin();
    let text = r#"
protocol = "echo"
nodes = 4
[topology]
shape = "ring"
[[fault]]
at = ["100ms", "900ms"]
partition = [[0]]
id = 1
[[fault]]
at = ["200ms", "800ms"]
heal = 1
[[fault]]
at = ["100ms", "900ms"]
cut = [0, 1]
[[fault]]
at = ["200ms", "800ms"]
restore = [0, 1]
"#;
    let scenario = dsim::scenario::Scenario::parse("order.toml", text, &registry).unwrap();
    let (mut skipped, mut kept) = ([0; 2], [0; 2]);
    for seed in 0..100 {
        let run = scenario.resolve(seed).unwrap();
        let at = |f: fn(&FaultAction) -> bool| {
            run.config
                .faults
                .iter()
                .find(|x| f(&x.action))
                .map(|x| x.at)
        };
        let drawn: std::collections::BTreeMap<_, _> = run.drawn.iter().cloned().collect();
        let pairs = [
            (
                at(|a| matches!(a, FaultAction::Partition { .. })).unwrap(),
                at(|a| matches!(a, FaultAction::Heal { .. })),
                "skipped heal of partition 1",
                "not in force",
            ),
            (
                at(|a| matches!(a, FaultAction::CutWire { .. })).unwrap(),
                at(|a| matches!(a, FaultAction::RestoreWire { .. })),
                "skipped restore of wire 0-1",
                "not cut",
            ),
        ];
        for (i, (begins, lifted, key, why)) in pairs.into_iter().enumerate() {
            match lifted {
                Some(end) => {
                    assert!(end >= begins, "seed {seed}: {:?}", run.config.faults);
                    assert!(!drawn.contains_key(key), "seed {seed}");
                    kept[i] += 1;
                }
                None => {
                    assert_eq!(drawn.get(key).map(String::as_str), Some(why), "seed {seed}");
                    skipped[i] += 1;
                }
            }
        }
    }
    assert!(
        skipped.iter().chain(&kept).all(|&n| n > 10),
        "{skipped:?} {kept:?}"
    );
}

#[test]
fn an_out_that_is_a_file_is_named_as_one_and_left_alone() {
    let dir = tmp("out-file");
    let file = dir.join("notes.txt");
    std::fs::write(&file, "mine").unwrap();
    for command in [
        vec!["sweep", "scenarios/echo-minimal.toml", "--seeds", "0..2"],
        vec![
            "explore",
            "scenarios/echo-minimal.toml",
            "--max-states",
            "100",
        ],
    ] {
        let mut args = command.clone();
        args.extend(["--out", file.to_str().unwrap()]);
        let o = dsim(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            text(&o).contains("notes.txt is a file: --out names a directory"),
            "{}",
            text(&o)
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    }
}

#[test]
fn an_interrupted_run_keeps_its_trace_sealed_and_it_replays_to_there() {
    // A run long enough to be interrupted on any machine: Ctrl-C (SIGINT)
    // must not lose what it recorded. Before, the process died and left
    // only a hidden `.partial` file.
    use std::io::BufRead;
    let dir = tmp("interrupted-run");
    let scenario = dir.join("long.toml");
    let text_of = std::fs::read_to_string("scenarios/raft-partitions.toml").unwrap();
    let long = text_of.replace("[run]\n", "[run]\nevents = 1000000000\n");
    let long = long
        .lines()
        .map(|l| match l.starts_with("time = ") {
            true => "time = \"1000000s\"",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&scenario, long).unwrap();
    let trace = dir.join("long.trace");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args(["run", scenario.to_str().unwrap(), "--trace"])
        .arg(&trace)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line (after a second of running) says the run is
    // under way, its handler in place.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("progress:") {
        line.clear();
    }
    assert!(
        line.contains("progress:"),
        "the run ended before it was interrupted"
    );
    common::interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    let out = format!("{}{rest}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("end        interrupted\n"), "{out}");
    assert!(
        out.contains("NOT RUN (the run was interrupted at "),
        "an end-of-run check is not judged on a run cut short: {out}"
    );
    assert!(out.contains("the run was interrupted at "), "{out}");
    // The trace is whole and sealed, and a replay stops where it stopped.
    let o = dsim(&["check", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("ended: interrupted"), "{}", text(&o));
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("replayed up to where the recording was interrupted"),
        "{}",
        text(&o)
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A user's binary built with `main_with` is not `dsim`: a message that
/// tells the user a command to type names the program it runs in
/// (`cli::program`), so no string in the library's code spells
/// `` `dsim run` `` and the like. The examples under `after_help` are
/// rewritten for a user's binary and are the exception.
#[test]
fn no_message_tells_a_users_binary_to_type_dsim() {
    let commands = [
        "run",
        "check",
        "replay",
        "diff",
        "show",
        "shrink",
        "sweep",
        "explore",
        "merge",
        "protocols",
    ];
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from("sim")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            // The file's own unit tests may say `dsim`.
            let code = source.split("#[cfg(test)]").next().unwrap();
            for (i, line) in code.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("//") || line.contains("after_help") {
                    continue;
                }
                for c in commands {
                    for spelt in [
                        format!("`dsim {c}"),
                        format!("\"dsim {c}"),
                        format!("(dsim {c}"),
                    ] {
                        if line.contains(&spelt) {
                            found.push(format!("{}:{}: {line}", path.display(), i + 1));
                        }
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn a_crash_set_off_by_a_send_cuts_a_broadcast_and_the_run_replays() {
    // Two-phase commit's coordinator (n0) crashes right after one of its
    // sends: a prepare or decision it broadcast reaches some participants
    // only. The run says so, and replays record for record.
    let dir = tmp("triggered-send");
    let scenario = dir.join("cut.toml");
    let trace = dir.join("cut.trace");
    let base = "protocol = \"twophase\"\nnodes = 4\n\n[params]\nno_percent = 0\n\n[network]\n\
                latency = \"5ms\"\n\n[workload]\ncount = 3\n\n[run]\ntime = \"2s\"\n";
    std::fs::write(
        &scenario,
        format!(
            "{base}\n[[fault]]\nafter = {{ node = 0, sends = 5 }}\ncrash = 0\ndown = \"30ms\"\n\n\
             [[fault]]\nafter = {{ node = 0, sends = 100000 }}\ncrash = 0\n"
        ),
    )
    .unwrap();
    let (scenario, trace) = (scenario.to_str().unwrap(), trace.to_str().unwrap());
    let o = dsim(&["run", scenario, "--seed", "3", "--trace", trace]);
    let out = text(&o);
    assert!(
        out.contains("planned    the crash after n0's 100000th send never happened: n0 sent "),
        "{out}"
    );
    assert!(out.contains(", 1 crash, 1 restart\n"), "{out}");
    // The crash follows n0's fifth send at once: no record of n0 between.
    let o = dsim(&["show", trace]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let shown = text(&o);
    // Each record's node and what it did.
    let lines: Vec<(&str, &str)> = shown
        .lines()
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w.get(2).copied().unwrap_or(""),
                w.get(4).copied().unwrap_or(""),
            )
        })
        .collect();
    let fifth = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == ("n0", "send"))
        .nth(4)
        .map(|(i, _)| i)
        .expect("n0 sends five messages");
    // The next record is the crash, not the broadcast's last send.
    assert_eq!(lines[fifth + 1], ("n0", "crash"), "{shown}");
    assert_eq!(lines[fifth - 1], ("n0", "send"), "{shown}");
    let o = dsim(&["replay", trace]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("record for record the same"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_crash_set_off_by_a_delivery_runs_replays_and_says_when_its_trigger_never_came() {
    let dir = tmp("triggered");
    let scenario = dir.join("triggered.toml");
    let trace = dir.join("triggered.trace");
    let base = std::fs::read_to_string("scenarios/echo-lossy.toml").unwrap();
    std::fs::write(
        &scenario,
        format!(
            "{base}\n[[fault]]\nafter = {{ node = 1, deliveries = [2, 6] }}\nat = \"1ms\"\n\
             crash = 1\ndown = \"50ms\"\n\n[[fault]]\nafter = {{ node = 2, deliveries = 100000 }}\n\
             crash = 2\n"
        ),
    )
    .unwrap();
    let (scenario, trace) = (scenario.to_str().unwrap(), trace.to_str().unwrap());
    let o = dsim(&["run", scenario, "--seed", "3", "--trace", trace]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("fault.0.after.deliveries = "), "{out}");
    assert!(
        out.contains(
            "planned    the crash after n2's 100000th delivery never happened: n2 handled "
        ),
        "{out}"
    );
    assert!(out.contains(", 1 crash, 1 restart\n"), "{out}");
    let o = dsim(&["replay", trace]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("record for record the same"),
        "{}",
        text(&o)
    );
    // A sweep counts the seeds in which a planned crash never came: one
    // meant to test the protocol under it tested it without. The merge
    // of its shards says the same.
    let never = "NEVER HAPPENED a crash set off by n2's deliveries: in 20 of 20 passing seeds \
                 (every one: it never happened); e.g. seed 0: the crash after n2's 100000th \
                 delivery never happened: n2 handled ";
    let out = dir.join("sweep");
    let o = dsim(&[
        "sweep",
        scenario,
        "--seeds",
        "0..20",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(never), "{}", text(&o));
    assert!(!text(&o).contains("n1's deliveries"), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["missed_faults"],
        serde_json::json!({ "a crash set off by n2's deliveries": 20 })
    );
    let mut shards = Vec::new();
    for i in 0..2 {
        let dir = dir.join(format!("shard{i}"));
        let shard = format!("{i}/2");
        let o = dsim(&[
            "sweep",
            scenario,
            "--seeds",
            "0..20",
            "--shard",
            &shard,
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        shards.push(dir.join("summary.json").to_str().unwrap().to_string());
    }
    let merged = dir.join("merged.json");
    let o = dsim(&[
        "merge",
        &shards[0],
        &shards[1],
        "-o",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains(never), "{}", text(&o));
}

#[test]
fn a_crash_with_down_restarts_its_node_and_an_optional_one_takes_its_restart_along() {
    use dsim::{Duration, FaultAction, NodeId};
    let registry = dsim::protocols::Registry::builtin();
    let text = "protocol = \"raft\"\nnodes = 3\n\n[[fault]]\nat = [\"100ms\", \"140ms\"]\n\
                crash = 1\ndown = [\"1ms\", \"3ms\"]\nprobability = 0.5\n";
    let scenario = dsim::scenario::Scenario::parse("down.toml", text, &registry).unwrap();
    let (mut on, mut off) = (0, 0);
    for seed in 0..40 {
        let r = scenario.resolve(seed).unwrap();
        // Left out, the crash takes its restart along: nothing is skipped.
        assert!(
            !r.drawn.iter().any(|(k, _)| k.starts_with("skipped")),
            "{:?}",
            r.drawn
        );
        let faults = &r.config.faults;
        if faults.is_empty() {
            off += 1;
            continue;
        }
        on += 1;
        assert_eq!(faults.len(), 2, "{faults:?}");
        assert_eq!(faults[0].action, FaultAction::Crash { node: NodeId(1) });
        assert_eq!(faults[1].action, FaultAction::Restart { node: NodeId(1) });
        let down = faults[1].at.0 - faults[0].at.0;
        assert!(
            (Duration::from_millis(1).0..=Duration::from_millis(3).0).contains(&down),
            "{faults:?}"
        );
    }
    assert!(on >= 10 && off >= 10, "{on} on, {off} off");
}
