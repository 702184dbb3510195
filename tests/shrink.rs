//! `dsim shrink`: never larger than its input in any measure, 1-minimal
//! (`--verify`), the same failed check, replaying with no extra flags; the
//! Raft targets over a fixed sample of failing seeds; within twice the
//! hand-written minimal failures in `scenarios/*-minimal.toml`; the same
//! result on any number of threads.

use crate::common;

use common::{dsim, text, tmp, Leaky};
use std::path::{Path, PathBuf};

/// The rows of shrink's before/after table: (measure, before, after).
fn table(report: &str) -> Vec<(String, u64, u64)> {
    const MEASURES: [&str; 9] = [
        "records",
        "events",
        "messages",
        "lost",
        "duplicated",
        "corrupted",
        "faults",
        "operations",
        "nodes",
    ];
    let rows: Vec<(String, u64, u64)> = report
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let name = w.next()?;
            if !MEASURES.contains(&name) {
                return None;
            }
            let before = w.next()?.parse().ok()?;
            let after = w.next()?.parse().ok()?;
            Some((name.to_string(), before, after))
        })
        .collect();
    assert_eq!(rows.len(), MEASURES.len(), "no full table in:\n{report}");
    rows
}

fn measure(rows: &[(String, u64, u64)], name: &str) -> (u64, u64) {
    let r = rows.iter().find(|r| r.0 == name).unwrap();
    (r.1, r.2)
}

/// Shrinks `trace` with `--verify` into `out`; the report, after checking
/// what every shrink must give: exit 0, the same check, never larger,
/// 1-minimal, and a result that replays to the same failure.
fn shrink_checked(trace: &Path, out: &Path) -> String {
    let s = dsim(&[
        "shrink",
        trace.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--verify",
    ]);
    let report = text(&s);
    let name = trace.display();
    assert_eq!(s.status.code(), Some(0), "{name}: {report}");
    for (measure, before, after) in table(&report) {
        assert!(
            after <= before,
            "{name}: {measure} grew ({before} -> {after}):\n{report}"
        );
    }
    assert!(
        report.contains("1-minimal  yes"),
        "{name}: not 1-minimal:\n{report}"
    );
    // An event kept because taking it away makes the run outgrow the
    // input is named with what would grow.
    if let Some(kept) = report
        .split("1-minimal  yes among runs no larger than the input")
        .nth(1)
    {
        let kept = kept.lines().next().unwrap();
        assert!(
            kept.contains(" -> ") && kept.contains(" ("),
            "{name}: {kept}"
        );
    }
    assert!(!report.contains("never larger  NO"), "{name}:\n{report}");
    let r = dsim(&["replay", out.to_str().unwrap()]);
    assert!(
        text(&r).contains("the original failure still occurs")
            && text(&r).contains("diverges   never"),
        "{name}: the shrunk trace does not replay:\n{}",
        text(&r)
    );
    report
}

/// The longest time a message of the trace spent on the network: until
/// it was delivered or lost, or, still in flight, until the trace ends.
fn longest_in_flight(trace: &Path) -> dsim::Duration {
    use dsim::trace::Kind;
    let bytes = std::fs::read(trace).unwrap();
    let (_, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    let mut sent = std::collections::BTreeMap::new();
    let mut longest = dsim::Duration::ZERO;
    for r in &records {
        match r.kind {
            Kind::Send { msg, .. } => {
                sent.insert(msg, r.time);
            }
            Kind::Deliver { msg, .. } | Kind::Lost { msg, .. } => {
                if let Some(at) = sent.remove(&msg) {
                    longest = longest.max(r.time.since(at));
                }
            }
            _ => {}
        }
    }
    let end = records.last().map_or(dsim::Instant::ZERO, |r| r.time);
    sent.values().fold(longest, |l, &at| l.max(end.since(at)))
}

/// The check a trace records as failed, from its timeline.
fn failed_check(trace: &Path) -> String {
    let t = text(&dsim(&["show", trace.to_str().unwrap()]));
    let line = t
        .lines()
        .find(|l| l.contains("FAILED"))
        .unwrap_or_else(|| panic!("no failure in {}", trace.display()));
    let after = line.split("FAILED").nth(1).unwrap().trim();
    after.split(':').next().unwrap().to_string()
}

#[test]
fn every_corpus_failure_shrinks_never_larger_1_minimal_and_to_the_same_check() {
    let dir = tmp("corpus");
    let mut shrunk = 0;
    for entry in std::fs::read_dir("traces").unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if !name.ends_with(".trace") || name.ends_with(".pass.trace") {
            continue;
        }
        let out = dir.join(&name);
        let report = shrink_checked(&path, &out);
        assert_eq!(failed_check(&out), failed_check(&path), "{name}:\n{report}");
        // A run shrunk to fewer nodes says so, and when to as few as the
        // protocol allows.
        let (before, after) = measure(&table(&report), "nodes");
        let fewer = format!("fewer      nodes: the same check fails with {after} of the {before}");
        assert_eq!(report.contains(&fewer), after < before, "{name}:\n{report}");
        if name == "echo-bug-no-dedup-seed-1.trace" {
            assert!(
                report.contains(&format!("{fewer}, as few as the protocol allows (2)\n")),
                "{name}:\n{report}"
            );
        }
        shrunk += 1;
    }
    assert!(shrunk >= 8, "only {shrunk} corpus failures found");
}

/// A twin's failing run at `seed`, written to `dir`.
fn failing_run(dir: &Path, twin: &str, seed: u64) -> PathBuf {
    let trace = dir.join(format!("{twin}-{seed}.trace"));
    let o = dsim(&[
        "run",
        &format!("scenarios/{twin}.toml"),
        "--seed",
        &seed.to_string(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{twin} seed {seed} no longer fails: {}",
        text(&o)
    );
    trace
}

/// The first 20 seeds on which `raft-bug-forget-vote` fails.
const FORGET_VOTE_SAMPLE: [u64; 20] = [
    12, 136, 195, 244, 298, 309, 392, 505, 562, 567, 577, 698, 927, 954, 996, 1023, 1178, 1246,
    1259, 1345,
];

#[test]
fn raft_forget_vote_shrinks_to_four_faults_and_three_hundred_records_on_most_of_a_fixed_sample() {
    let dir = tmp("forget-vote");
    let mut met = Vec::new();
    let mut missed = Vec::new();
    for seed in FORGET_VOTE_SAMPLE {
        let trace = failing_run(&dir, "raft-bug-forget-vote", seed);
        let report = shrink_checked(&trace, &dir.join(format!("{seed}.min.trace")));
        let rows = table(&report);
        let (faults, records) = (measure(&rows, "faults").1, measure(&rows, "records").1);
        eprintln!("forget-vote seed {seed}: {faults} faults, {records} records");
        if faults <= 4 && records <= 300 {
            met.push(seed);
        } else {
            missed.push((seed, faults, records));
        }
    }
    // The target is every seed; 18 of these 20 meet it today (seed 1259
    // keeps six faults, seed 392 ten: where a search with a fixed budget
    // settles moves with every run it spends, and the earliest-cut search
    // spends a few; before it, seed 298 kept 630 records and 392 met the
    // target). Earlier, 43 records of 298 came from a message a candidate
    // sent earlier than its recording did, still in flight when that
    // recording ended, held until its end — a hold the shrunk run suffered
    // without listing it, which a Go-Back-N stream's shrunk liveness
    // failure showed. Fewer is a regression.
    assert!(
        met.len() >= 18,
        "met on {met:?}; missed (seed, faults, records): {missed:?}"
    );
}

#[test]
fn raft_vote_without_log_check_shrinks_to_three_hundred_records_on_most_of_a_fixed_sample() {
    let dir = tmp("vote-without-log-check");
    // The first ten seeds of 0..200 on which the twin fails.
    let mut missed = Vec::new();
    for seed in [0, 1, 5, 6, 8, 9, 10, 13, 14, 15] {
        let trace = failing_run(&dir, "raft-bug-vote-without-log-check", seed);
        let report = shrink_checked(&trace, &dir.join(format!("{seed}.min.trace")));
        let records = measure(&table(&report), "records").1;
        eprintln!("vote-without-log-check seed {seed}: {records} records");
        if records > 300 {
            missed.push((seed, records));
        }
        // No message of the shrunk run is slower than the scenario's
        // links make one (1-20 ms): a shrunk run that took a partition or
        // a loss away but still held back what it had cut (until the end
        // of the run it was recorded from) failed for a fault it no
        // longer listed; seed 0 kept 70 of its 143 messages in flight,
        // for up to 636 ms, with "0 faults".
        let longest = longest_in_flight(&dir.join(format!("{seed}.min.trace")));
        assert!(
            longest <= dsim::Duration::from_millis(20),
            "seed {seed}: a message of the shrunk run was in flight for {longest}"
        );
    }
    // The target is every seed; all ten meet it today (at most 284
    // records). A miss is a regression.
    assert!(missed.is_empty(), "missed (seed, records): {missed:?}");
}

#[test]
fn a_history_judged_at_the_end_shrinks_to_the_prefix_that_shows_its_violation() {
    // The stale-read twin's history is judged once its 10 s run is over;
    // the violation shows in its first few hundred milliseconds. Cut only
    // after the failure (the run's end), the shrunk run kept 1,851 of its
    // 3,842 records, most of them Raft's heartbeats after the violation,
    // and 2 faults.
    let dir = tmp("history-prefix");
    let trace = failing_run(&dir, "kv-bug-stale-reads", 102);
    let report = shrink_checked(&trace, &dir.join("102.min.trace"));
    let rows = table(&report);
    let (records, faults) = (measure(&rows, "records"), measure(&rows, "faults"));
    assert!(records.1 <= 300, "{records:?}:\n{report}");
    assert!(faults.1 <= 1, "{faults:?}:\n{report}");
    assert!(
        report.contains("check      `linearizable` still fails"),
        "{report}"
    );
}

#[test]
fn twins_shrink_to_within_twice_their_hand_written_minimal_failure() {
    let dir = tmp("minimal");
    for (twin, check) in [
        ("echo", "at-most-once"),
        ("broadcast", "no-duplicates"),
        ("causal", "causal-delivery"),
        ("twophase", "commit-needs-all-votes"),
    ] {
        // The hand-written scenario fails as it says.
        let minimal = dir.join(format!("{twin}-minimal.trace"));
        let o = dsim(&[
            "run",
            &format!("scenarios/{twin}-minimal.toml"),
            "--trace",
            minimal.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(1), "{twin}-minimal: {}", text(&o));
        assert!(
            text(&o).contains(&format!("FAILED     check `{check}`")),
            "{}",
            text(&o)
        );
        // Its size, measured as shrink measures (the table's first column).
        let own = shrink_checked(&minimal, &dir.join(format!("{twin}-minimal.min.trace")));
        let optimum = measure(&table(&own), "records").0;
        // Every corpus failure of the twin shrinks to within twice that.
        let mut seen = 0;
        for entry in std::fs::read_dir("traces").unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if !name.starts_with(&format!("{twin}-bug-")) || !name.ends_with(".trace") {
                continue;
            }
            let report = shrink_checked(&path, &dir.join(&name));
            let records = measure(&table(&report), "records").1;
            assert!(
                records <= 2 * optimum,
                "{name}: {records} records, the hand-written failure has {optimum}:\n{report}"
            );
            seen += 1;
        }
        assert!(seen > 0, "no corpus trace of {twin}");
    }
}

#[test]
fn shrinking_is_deterministic_on_any_number_of_threads() {
    let dir = tmp("determinism");
    let trace = failing_run(&dir, "twophase-bug-commit-on-timeout", 1);
    let mut outputs = Vec::new();
    for threads in ["1", "2", "2"] {
        let out = dir.join(format!("min-{}.trace", outputs.len()));
        let s = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args([
                "shrink",
                trace.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
            ])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert_eq!(s.status.code(), Some(0), "{}", text(&s));
        outputs.push(std::fs::read(&out).unwrap());
    }
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "shrink results differ between runs"
    );
}

#[test]
fn shrinking_a_trace_without_a_failure_is_refused_with_exit_2() {
    let dir = tmp("pass");
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

#[test]
fn a_trace_whose_run_does_not_fail_as_recorded_is_refused_with_exit_2() {
    // A twin's failing trace whose failure record is altered (and its
    // chain rebuilt, as a forger would): the run it names fails another
    // check, so there is no run failing the recorded one to shrink.
    let dir = tmp("altered");
    let trace = failing_run(&dir, "twophase-bug-commit-on-timeout", 0);
    let (header, mut records, seal) = common::unsealed(&std::fs::read(&trace).unwrap());
    let mut renamed = 0;
    for r in &mut records {
        if let dsim::trace::Kind::CheckFailed { check, .. } = &mut r.kind {
            *check = "made-up".into();
            renamed += 1;
        }
    }
    assert_eq!(renamed, 1);
    let altered = dir.join("altered.trace");
    std::fs::write(&altered, common::resealed(&header, &records, &seal)).unwrap();
    let out = dir.join("altered.min.trace");
    let o = dsim(&[
        "shrink",
        altered.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        t.contains("altered.trace: the run this trace names, rerun by its schedule, does not fail `made-up` as recorded: it fails `"),
        "{t}"
    );
    assert!(
        t.contains("differs from the recording first at record #"),
        "{t}"
    );
    assert!(!t.contains("dsim bug"), "{t}");
    assert!(!out.exists(), "nothing is written for it");
    // Any check will do: then it shrinks.
    let o = dsim(&[
        "shrink",
        altered.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--any-check",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    // It says the rerun is not the recording, and which check it fails.
    let line = t.lines().find(|l| l.starts_with("rerun      ")).expect(&t);
    assert!(
        line.contains("differs from the recording first at record #"),
        "{t}"
    );
    assert!(
        line.contains("it still fails `commit-needs-all-votes`"),
        "{t}"
    );
}

#[test]
fn a_protocol_that_runs_two_ways_is_not_shrunk() {
    let dir = tmp("leaky-shrink");
    let mut registry = dsim::protocols::Registry::empty();
    registry.add(dsim::protocols::Spec::new(
        "leaky",
        "leaks a global, fails every run",
        |config, _| {
            Ok(dsim::Simulation::new(config, |_| Leaky)
                .at_end("never", "fails every run", |_| Err("as designed".into())))
        },
    ));
    let scenario = dir.join("leaky.toml");
    std::fs::write(&scenario, "protocol = \"leaky\"\nnodes = 3\n").unwrap();
    let trace = dir.join("leaky.trace");
    let cli = |args: &[&str]| {
        dsim::cli::run_with(
            &registry,
            std::iter::once("dsim").chain(args.iter().copied()),
        )
    };
    assert_eq!(
        cli(&[
            "run",
            scenario.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap()
        ]),
        1
    );
    let out = dir.join("leaky.min.trace");
    assert_eq!(
        cli(&[
            "shrink",
            trace.to_str().unwrap(),
            "-o",
            out.to_str().unwrap()
        ]),
        1,
        "a shrink of a protocol that runs two ways is refused as a failed determinism check"
    );
    assert!(!out.exists(), "nothing is written for it");
}

#[test]
fn a_search_cut_short_says_whether_its_result_is_still_1_minimal() {
    let dir = tmp("shrink-cut-short");
    let trace = "traces/broadcast-bug-no-dedup-seed-0.trace";
    let shrink = |budget: &str| {
        let out = dir.join(format!("{budget}.min.trace"));
        let o = dsim(&[
            "shrink",
            trace,
            "-o",
            out.to_str().unwrap(),
            "--max-runs",
            budget,
            "--verify",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        text(&o)
    };
    // The search's share spent, the last pass finished: the result is
    // 1-minimal, and the report says so rather than "stopped early".
    let settled = shrink("40");
    assert!(
        settled.contains(
            "the search was cut short: the search's share of the budget of 40 runs was spent"
        ) && settled.contains("its last pass finished")
            && !settled.contains("stopped early")
            && settled.contains("1-minimal  yes"),
        "{settled}"
    );
    // Too little budget for the last pass: stopped early, with what cut it.
    let cut = shrink("4");
    assert!(
        cut.contains("stopped early: all of the budget of 4 runs was spent")
            && !cut.contains("its last pass finished")
            && cut.contains("1-minimal  NO")
            // Each event that could go is named in words.
            && cut.contains("operation 0;")
            && cut.contains("the loss of message 1 on n0 -> n3")
            // The partition due at 100 ms, after the failure at 9 ms, is
            // not an event of the run: the cut took it away.
            && !cut.contains("partition"),
        "{cut}"
    );
    assert_eq!(measure(&table(&cut), "faults"), (2, 0), "{cut}");
}

/// 2PC's twin commits on a timeout: it fails when a `Prepare` never gets
/// its vote back. The shrunk run keeps that loss as a loss. Before, the
/// shrinker "took the loss away" by marking the message delivered with no
/// time of its own, so it arrived after the end of the run it was recorded
/// from: the shrunk run reported 0 lost and 0 faults while its `Prepare`
/// sat on a 1-30 ms link for the whole 100 ms.
#[test]
fn a_shrunk_run_keeps_the_loss_it_needs_rather_than_a_message_held_back() {
    let dir = tmp("held-back");
    let trace = failing_run(&dir, "twophase-bug-commit-on-timeout", 0);
    let out = dir.join("0.min.trace");
    let report = shrink_checked(&trace, &out);
    assert!(measure(&table(&report), "lost").1 >= 1, "{report}");
    let longest = longest_in_flight(&out);
    assert!(
        longest <= dsim::Duration::from_millis(30),
        "a message of the shrunk run was in flight for {longest}:\n{report}"
    );
}

/// Raft's forget-vote twin elects two leaders without any client write:
/// its shrunk run has none left, and the report says so (a check that
/// fails before any client asked anything may be another failure than
/// the trace's), with the input's message beside the result's when they
/// differ. `--keep-operations` keeps every operation the trace's run
/// issued before it failed.
#[test]
fn a_result_without_client_operations_says_so_and_keep_operations_keeps_them() {
    let dir = tmp("shrink-keep-operations");
    let trace = failing_run(&dir, "raft-bug-forget-vote", 12);
    let shrink = |extra: &[&str]| {
        let out = dir.join(format!("{}.min.trace", extra.len()));
        let mut args = vec![
            "shrink",
            trace.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--max-runs",
            "3000",
        ];
        args.extend_from_slice(extra);
        let o = dsim(&args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        text(&o)
    };
    let message = |report: &str, prefix: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|m| m.split_once(": ").unwrap().1.to_string())
    };
    let free = shrink(&[]);
    let (before, after) = measure(&table(&free), "operations");
    assert!(before > 0 && after == 0, "{free}");
    assert!(free.contains("no client operation is left"), "{free}");
    // The trace's own failure, as `dsim show` prints it.
    let shown = text(&dsim(&["show", trace.to_str().unwrap()]));
    let recorded = shown
        .lines()
        .find_map(|l| l.split_once("FAILED    election-safety: "))
        .map(|(_, m)| m.to_string())
        .unwrap();
    let now = message(&free, "check      ").unwrap();
    assert_ne!(
        now, recorded,
        "this seed shrinks to another pair of leaders: {free}"
    );
    assert_eq!(message(&free, "was        "), Some(recorded), "{free}");
    let kept = shrink(&["--keep-operations"]);
    assert_eq!(
        measure(&table(&kept), "operations"),
        (before, before),
        "{kept}"
    );
    assert!(!kept.contains("no client operation is left"), "{kept}");
}
