//! `dsim shrink` reduces every broken twin's first failing trace, and the
//! shrunk trace replays, with no extra flags, to the same failure.

mod common;

use common::{dsim, text};

/// The numbers after "before" and "after" in shrink's report.
fn sizes(report: &str, label: &str) -> Vec<u64> {
    let line = report
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{report}"));
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect()
}

#[test]
fn shrink_reduces_every_broken_twins_first_failing_trace() {
    let twins = [
        "echo-bug-no-dedup",
        "broadcast-bug-no-dedup",
        "causal-bug-deliver-on-arrival",
        "twophase-bug-commit-on-timeout",
        "raft-bug-vote-without-log-check",
        "raft-bug-forget-vote",
    ];
    for twin in twins {
        let dir = std::env::temp_dir().join(format!("dsim-shrink-{}-{twin}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let scenario = format!("scenarios/{twin}.toml");
        let sweep = dsim(&[
            "sweep",
            &scenario,
            "--seeds",
            "0..1000",
            "--jobs",
            "1",
            "--max-failures",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(sweep.status.code(), Some(1), "{twin}: {}", text(&sweep));
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        let seed = summary["first_failing_seed"].as_u64().unwrap();
        let trace = dir.join(format!("{twin}-seed-{seed}.trace"));
        let out = dir.join("min.trace");
        let s = dsim(&[
            "shrink",
            trace.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert_eq!(s.status.code(), Some(0), "{twin}: {}", text(&s));
        let report = text(&s);
        // records, events, sent, lost, duplicated, corrupted, faults, operations
        let (before, after) = (sizes(&report, "before"), sizes(&report, "after"));
        let weight = |v: &[u64]| v[3] + v[4] + v[5] + v[6] + v[7];
        assert!(
            weight(&after) < weight(&before),
            "{twin} did not shrink:\n{report}"
        );
        assert!(
            after[6] <= before[6] && after[7] <= before[7],
            "{twin}:\n{report}"
        );
        let r = dsim(&["replay", out.to_str().unwrap()]);
        assert!(
            text(&r).contains("the original failure still occurs"),
            "{twin}:\n{}",
            text(&r)
        );
        assert!(
            text(&r).contains("diverges   never"),
            "{twin}:\n{}",
            text(&r)
        );
        eprintln!(
            "{twin} seed {seed}: {}\n  {}",
            report.lines().find(|l| l.starts_with("before")).unwrap(),
            report.lines().find(|l| l.starts_with("after")).unwrap()
        );
    }
}

#[test]
fn shrinking_a_trace_without_a_failure_is_refused_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("dsim-shrink-{}-pass", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let t = dir.join("pass.trace");
    let o = dsim(&[
        "run",
        "scenarios/echo-lossy.toml",
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = dsim(&["shrink", t.to_str().unwrap()]);
    assert_eq!(s.status.code(), Some(2), "{}", text(&s));
    assert!(text(&s).contains("nothing to shrink"));
}
