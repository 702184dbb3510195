//! Hostile input and failing machines: no abort, no runaway allocation,
//! nothing lost, no output that can hurt.

use crate::common;

use common::{dsim, text, tmp};
use dsim::history::{Value, MAX_DEPTH};
use dsim::trace::{read_all, Header, Kind, Record, TraceWriter, FORMAT_VERSION};
use dsim::{Context, Node, NodeId, SimConfig, Simulation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::process::{Command, Stdio};

/// A process that exits normally: neither a panic (101) nor an abort or
/// signal.
fn no_crash(o: &std::process::Output, what: &str) {
    let code = o.status.code();
    assert!(
        matches!(code, Some(0..=2)),
        "{what}: exit {code:?}\n{}",
        text(o)
    );
    assert!(!text(o).contains("panicked"), "{what}: {}", text(o));
}

fn write_trace(path: &Path, header: &Header, records: &[Record<'_>]) {
    let mut w = TraceWriter::new(Vec::new(), header, None).unwrap();
    for r in records {
        if !matches!(r.kind, Kind::End { .. }) {
            w.append(r).unwrap();
        }
    }
    let end = records.last().map(|r| r.time).unwrap_or_default();
    let (bytes, _) = w.finish(dsim::trace::EndReason::Quiescent, end).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_configuration_whose_vector_clocks_would_not_fit_is_refused_with_the_figure() {
    let dir = tmp("huge");
    let scenario = dir.join("huge.toml");
    std::fs::write(&scenario, "protocol = \"echo\"\nnodes = 100000\n").unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    no_crash(&o, "run");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("huge.toml:2:9"), "{}", text(&o));
    assert!(text(&o).contains("40.0 GB"), "{}", text(&o));
    assert!(text(&o).contains("vector_clocks = false"), "{}", text(&o));
    // Off, the same size runs (and quickly: no N² left at the start).
    std::fs::write(
        &scenario,
        "protocol = \"echo\"\nnodes = 100000\n[run]\nvector_clocks = false\n",
    )
    .unwrap();
    let o = dsim(&["run", scenario.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The same configuration reached through a trace's header.
    let header = Header {
        format_version: FORMAT_VERSION,
        protocol: "echo".into(),
        seed: 1,
        nodes: 100_000,
        scenario: "huge.toml".into(),
        config: "protocol = \"echo\"\nnodes = 100000\n".into(),
        drawn: Default::default(),
        fifo_default: false,
        fifo_exceptions: vec![],
        vector_clocks: true,
        replay: String::new(),
    };
    let trace = dir.join("huge.trace");
    write_trace(&trace, &header, &[]);
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    no_crash(&o, "replay");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("40.0 GB"), "{}", text(&o));
}

#[test]
fn an_absurd_copy_number_in_a_resealed_trace_sizes_nothing() {
    let dir = tmp("copy");
    let bytes = std::fs::read("traces/echo-bug-no-dedup-seed-0.min.trace").unwrap();
    let (header, mut records, _) = read_all(&bytes, None).unwrap();
    let i = records
        .iter()
        .position(|r| matches!(r.kind, Kind::Deliver { .. }))
        .unwrap();
    if let Kind::Deliver { copy, .. } = &mut records[i].kind {
        *copy = u32::MAX;
    }
    let forged = dir.join("forged.trace");
    write_trace(&forged, &header, &records);
    let f = forged.to_str().unwrap();
    let o = dsim(&["check", f]);
    no_crash(&o, "check");
    assert_eq!(o.status.code(), Some(1), "a delivery of a copy never made");
    for args in [
        vec!["replay", f, "--schedule"],
        vec!["shrink", f, "-o", "/dev/null/never"],
        vec!["show", f, "--format", "svg"],
        vec!["show", f, "--format", "dot"],
    ] {
        let o = dsim(&args);
        no_crash(&o, &args.join(" "));
    }
}

#[test]
fn a_killed_sweep_resumes_from_its_journal_to_the_same_summary() {
    let dir = tmp("kill");
    let whole = dir.join("whole");
    let o = dsim(&[
        "sweep",
        "scenarios/raft-partitions.toml",
        "--seeds",
        "0..3000",
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let killed = dir.join("killed");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "sweep",
            "scenarios/raft-partitions.toml",
            "--seeds",
            "0..3000",
        ])
        .args(["--jobs", "1", "--out", killed.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = killed.join("summary.journal");
    // Wait for some seeds to be recorded, then kill it outright.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&journal).map_or(0, |t| t.lines().count()) < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep recorded nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!killed.join("summary.json").exists() || journal.exists());
    // Run again without --resume, another sweep there, or a resume of
    // another record into it: refused, the journal untouched (before, a
    // new journal replaced it).
    let recorded = std::fs::read(&journal).unwrap();
    for (scenario, resume, says) in [
        ("scenarios/raft-partitions.toml", None, "did not finish"),
        (
            "scenarios/echo-lossy.toml",
            None,
            "another sweep, unfinished",
        ),
        (
            "scenarios/raft-partitions.toml",
            Some(&whole),
            "did not finish",
        ),
    ] {
        let mut args = vec!["sweep", scenario, "--seeds", "0..3000"];
        args.extend(["--out", killed.to_str().unwrap()]);
        if let Some(other) = resume {
            args.extend(["--resume", other.to_str().unwrap()]);
        }
        let o = dsim(&args);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains(says), "{}", text(&o));
        assert_eq!(std::fs::read(&journal).unwrap(), recorded);
    }
    let o = dsim(&[
        "sweep",
        "scenarios/raft-partitions.toml",
        "--seeds",
        "0..3000",
        "--out",
        killed.to_str().unwrap(),
        "--resume",
        killed.join("summary.json").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let ran_now: u64 = text(&o)
        .split(" now)")
        .next()
        .and_then(|s| s.rsplit('(').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert!(
        ran_now < 3000,
        "the resume ran everything again: {}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(killed.join("summary.json")).unwrap(),
        std::fs::read_to_string(whole.join("summary.json")).unwrap()
    );
    assert!(!journal.exists(), "a finished sweep removes its journal");
}

#[test]
fn a_resume_from_another_sweep_or_an_edited_summary_is_refused() {
    let dir = tmp("resume");
    let out = dir.join("out");
    let scenario = dir.join("echo.toml");
    std::fs::copy("scenarios/echo-lossy.toml", &scenario).unwrap();
    let sweep = |extra: &[&str]| {
        let mut args = vec![
            "sweep",
            scenario.to_str().unwrap(),
            "--seeds",
            "0..40",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        dsim(&args)
    };
    assert_eq!(sweep(&[]).status.code(), Some(0));
    let summary = out.join("summary.json");
    let s = summary.to_str().unwrap();
    // The scenario edited between the runs.
    let original = std::fs::read_to_string(&scenario).unwrap();
    std::fs::write(&scenario, original.replace("count = 60", "count = 61")).unwrap();
    let o = sweep(&["--resume", s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("scenario's text differs"), "{}", text(&o));
    std::fs::write(&scenario, &original).unwrap();
    // Another seed range.
    let o = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "0..50",
        "--out",
        out.to_str().unwrap(),
        "--resume",
        s,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // A record from a dsim before trace format 6, whose seeds drew other runs.
    let good = std::fs::read_to_string(&summary).unwrap();
    let mut older: serde_json::Value = serde_json::from_str(&good).unwrap();
    older["identity"]
        .as_object_mut()
        .unwrap()
        .remove("trace_format");
    std::fs::write(&summary, serde_json::to_string(&older).unwrap()).unwrap();
    let o = sweep(&["--resume", s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("made by an older dsim"), "{}", text(&o));
    // An edited outcome.
    let edited = good.replacen("\"verdict\": \"pass\"", "\"verdict\": \"fail\"", 1);
    std::fs::write(&summary, &edited).unwrap();
    let o = sweep(&["--resume", s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("edited"), "{}", text(&o));
    // A seed out of range, with the digest made to match.
    let mut doc: serde_json::Value = serde_json::from_str(&good).unwrap();
    doc["outcomes"][0]["seed"] = serde_json::json!(200001);
    std::fs::write(&summary, serde_json::to_string(&doc).unwrap()).unwrap();
    let o = sweep(&["--resume", s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn a_cut_short_trace_shows_what_it_has_and_says_so() {
    let dir = tmp("cut");
    let whole = dir.join("whole.trace");
    let o = dsim(&[
        "run",
        "scenarios/raft-partitions.toml",
        "--trace",
        whole.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bytes = std::fs::read(&whole).unwrap();
    assert!(bytes.len() > 1 << 16, "the trace spans more than one frame");
    let cut = dir.join("cut.trace");
    // Inside the last frame: every earlier frame is whole.
    std::fs::write(&cut, &bytes[..bytes.len() - 100]).unwrap();
    let o = dsim(&["show", cut.to_str().unwrap()]);
    no_crash(&o, "show");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stdout).lines().count() > 100);
    assert!(text(&o).contains("truncated"), "{}", text(&o));
    // Appended bytes are called what they are.
    let appended = dir.join("appended.trace");
    let mut more = bytes.clone();
    more.extend_from_slice(b"tail");
    std::fs::write(&appended, more).unwrap();
    let o = dsim(&["check", appended.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("data after the seal"), "{}", text(&o));
}

#[test]
fn a_full_or_closed_standard_output_ends_cleanly() {
    let trace = "traces/echo-lossy-seed-1.pass.trace";
    for args in [
        vec!["run", "scenarios/echo-lossy.toml"],
        vec!["check", trace],
        vec!["protocols"],
        vec!["replay", trace],
        vec!["diff", trace, "traces/echo-bug-no-dedup-seed-0.min.trace"],
        vec!["show", trace],
    ] {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(&args)
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains("No space left"), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{args:?}: {}", text(&o));
        // A reader that leaves: quiet.
        let mut child = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        assert!(
            matches!(o.status.code(), Some(0..=2) | Some(141)),
            "{args:?}"
        );
        assert!(!text(&o).contains("panicked"), "{args:?}: {}", text(&o));
    }
}

/// A node that observes text chosen to attack a terminal.
struct Hostile;

#[derive(Debug, Serialize, Deserialize)]
struct Nothing;

impl Node for Hostile {
    type Msg = Nothing;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.observe("\u{1b}]0;owned\u{7}\u{1b}[31mred\nFAILED     check `forged` at record 0\u{0}");
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Nothing) {}
}

#[test]
fn control_characters_never_reach_the_terminal_or_break_the_svg() {
    let dir = tmp("escape");
    let mut config = SimConfig::new(1, 1);
    config.protocol = "hostile".into();
    let sim = Simulation::new(config, |_| Hostile).always(
        "bad\u{1b}[2Jname",
        "an invariant that fails with a hostile message",
        |_| Err("line one\nFAILED     forged\u{1b}[0m".into()),
    );
    let (_, bytes) = sim.run_traced(Vec::new(), None).unwrap();
    let trace = dir.join("hostile.trace");
    std::fs::write(&trace, bytes).unwrap();
    let t = trace.to_str().unwrap();
    for args in [vec!["show", t], vec!["check", t]] {
        let o = dsim(&args);
        let out = text(&o);
        assert!(!out.contains('\u{1b}'), "{args:?}: {out:?}");
        assert!(!out.contains('\u{7}') && !out.contains('\u{0}'), "{args:?}");
        assert!(
            !out.lines().any(|l| l.starts_with("FAILED")),
            "{args:?}: a forged line: {out}"
        );
    }
    let svg = dir.join("hostile.svg");
    let o = dsim(&["show", t, "--format", "svg", "-o", svg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc = std::fs::read_to_string(&svg).unwrap();
    roxmltree::Document::parse(&doc).expect("the SVG is well-formed XML");
}

/// A node that records an operation whose value nests `0` lists deep.
struct DeepValue(usize);

impl Node for DeepValue {
    type Msg = Nothing;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.invoke(0, "write", None, nested(self.0));
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Nothing) {}
}

fn nested(depth: usize) -> Value {
    let mut v = Value::Int(1);
    for _ in 0..depth {
        v = Value::List(vec![v]);
    }
    v
}

/// Every reader of a history value walks it on the stack: a value nested
/// past `MAX_DEPTH` is refused where a node records it (the run fails as
/// check `panic`, its trace readable) and where a forged trace holds one
/// (exit 2 naming the record), never an abort. A trace holding a value
/// 200,000 lists deep aborted every command that read it.
#[test]
fn a_history_value_nested_past_any_stack_is_refused_not_an_abort() {
    let run = |depth: usize| {
        let sim = Simulation::new(SimConfig::new(1, 1), move |_| DeepValue(depth));
        sim.run_traced(Vec::new(), None).unwrap()
    };
    let (outcome, bytes) = run(MAX_DEPTH);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(read_all(&bytes, None).is_ok(), "as deep as a trace holds");
    let (outcome, bytes) = run(MAX_DEPTH + 1);
    let failure = outcome.failure.unwrap();
    assert_eq!(failure.check, "panic");
    assert!(
        failure.message.contains(
            "ctx.invoke: the value of process 0's `write` nests more than 100 lists deep"
        ),
        "{}",
        failure.message
    );
    assert!(read_all(&bytes, None).is_ok());

    let dir = tmp("deep-value");
    let forged = dir.join("deep.trace");
    // Building, writing and dropping such a value needs a deep stack.
    let at = std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn({
            let forged = forged.clone();
            move || {
                let bytes =
                    std::fs::read("traces/async-abd-bug-no-write-back-seed-21.min.trace").unwrap();
                let (header, mut records, _) = read_all(&bytes, None).unwrap();
                let i = records
                    .iter()
                    .position(|r| matches!(r.kind, Kind::Op { .. }))
                    .unwrap();
                if let Kind::Op { op, .. } = &mut records[i].kind {
                    op.value = nested(200_000);
                }
                write_trace(&forged, &header, &records);
                i
            }
        })
        .unwrap()
        .join()
        .unwrap();
    let f = forged.to_str().unwrap();
    for args in [
        vec!["check", f],
        vec!["check", f, "--linearizable", "register"],
        vec!["show", f],
        vec!["show", f, "--format", "history"],
        vec!["replay", f],
        vec!["diff", f, f],
    ] {
        let o = dsim(&args);
        no_crash(&o, &args.join(" "));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(
            text(&o).contains(&format!(
                "deep.trace: record {at}: does not decode: a history value nests more than 100 lists deep"
            )),
            "{args:?}: {}",
            text(&o)
        );
    }
}

#[test]
fn no_command_writes_over_one_of_its_inputs() {
    let dir = tmp("overwrite");
    let scenario = dir.join("mine.toml");
    std::fs::copy("scenarios/echo-lossy.toml", &scenario).unwrap();
    let before = std::fs::read(&scenario).unwrap();
    let s = scenario.to_str().unwrap();
    let o = dsim(&["run", s, "--trace", s]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(std::fs::read(&scenario).unwrap(), before);
    let trace = dir.join("t.trace");
    std::fs::copy("traces/echo-bug-no-dedup-seed-0.min.trace", &trace).unwrap();
    let t = trace.to_str().unwrap();
    let before = std::fs::read(&trace).unwrap();
    for args in [
        vec!["shrink", t, "-o", t],
        vec!["show", t, "-o", t],
        vec!["merge", t, "-o", t],
    ] {
        let o = dsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert_eq!(std::fs::read(&trace).unwrap(), before, "{args:?}");
    }
}

#[test]
fn the_same_scenario_gives_the_same_trace_however_its_path_is_spelled() {
    let dir = tmp("spelling");
    let a = dir.join("a.trace");
    let b = dir.join("b.trace");
    let here = std::env::current_dir().unwrap();
    let long = here.join("scenarios/../scenarios/echo-lossy.toml");
    dsim(&[
        "run",
        "scenarios/echo-lossy.toml",
        "--trace",
        a.to_str().unwrap(),
    ]);
    dsim(&[
        "run",
        long.to_str().unwrap(),
        "--trace",
        b.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
}

#[test]
fn a_run_leaves_no_scratch_file_behind_on_any_way_out() {
    let dir = tmp("scratch");
    let out = dir.join("traces");
    for scenario in [
        "scenarios/echo-lossy.toml",        // passes
        "scenarios/echo-bug-no-dedup.toml", // fails
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(["run", scenario])
            .env("TMPDIR", &dir)
            .current_dir(&dir)
            .output();
        // Run from `dir` the scenario path does not resolve: an error exit.
        let o = o.unwrap();
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        // From `dir` with the full path, so that a failing run's trace
        // goes to `dir/traces`, not into the corpus.
        let full = std::fs::canonicalize(scenario).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_dsim"))
            .args(["run", full.to_str().unwrap()])
            .env("TMPDIR", &dir)
            .current_dir(&dir)
            .output()
            .unwrap();
        no_crash(&o, scenario);
    }
    // The failing run kept its trace, the passing one none.
    let kept: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(kept, ["echo-bug-no-dedup-seed-1.trace"]);
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with("dsim-run-"))
        .collect();
    assert!(left.is_empty(), "scratch files left: {left:?}");
}

/// Extreme values a hostile input puts where numbers go.
const EXTREMES: [u64; 9] = [
    0,
    1,
    2,
    255,
    65_536,
    100_000,
    u32::MAX as u64,
    i64::MAX as u64,
    u64::MAX,
];

/// Sets one numeric field of `r` (chosen by `which`) to `v`.
fn mutate(r: &mut Record<'static>, which: usize, v: u64) {
    let n = NodeId(v as u32);
    match &mut r.kind {
        Kind::Send {
            node,
            lamport,
            msg,
            to,
            ..
        } => match which % 4 {
            0 => *node = n,
            1 => *lamport = v,
            2 => *msg = v,
            _ => *to = n,
        },
        Kind::Deliver {
            node,
            lamport,
            msg,
            copy,
            from,
            ..
        } => match which % 5 {
            0 => *node = n,
            1 => *lamport = v,
            2 => *msg = v,
            3 => *copy = v as u32,
            _ => *from = n,
        },
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            ..
        } => match which % 4 {
            0 => *msg = v,
            1 => *copy = v as u32,
            2 => *from = n,
            _ => *to = n,
        },
        Kind::Duplicated { msg, copy } | Kind::Corrupted { msg, copy, .. } => match which % 2 {
            0 => *msg = v,
            _ => *copy = v as u32,
        },
        Kind::Timer { node, timer, .. } => match which % 2 {
            0 => *node = n,
            _ => *timer = v,
        },
        Kind::Crash { node, lamport }
        | Kind::Restart { node, lamport }
        | Kind::Start { node, lamport } => match which % 2 {
            0 => *node = n,
            _ => *lamport = v,
        },
        _ => r.time = dsim::Instant(v),
    }
}

/// The fuzz test, run in a child process under a memory limit (see
/// `fuzzing_never_panics_or_aborts_under_a_memory_limit`).
#[test]
#[ignore]
fn fuzz_inner() {
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    // How much of dsim the cases reached, printed for people.
    let (parsed, ran, read, replayed) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    use proptest::test_runner::{Config, TestRunner};
    let registry = dsim::protocols::Registry::builtin();
    let scenarios: Vec<String> = common::files("scenarios", "toml")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    let traces: Vec<Vec<u8>> = common::files("traces", "trace")
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.len() < 200_000)
        .collect();
    let config = Config {
        cases: 1000,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config.clone());
    let pick = (any::<usize>(), 0..EXTREMES.len());
    // Scenario text: numbers in a bundled scenario replaced by extreme
    // values (the shape stays, so most still parse and many run), or bytes
    // spliced in; whatever parses is resolved and run for a while.
    runner
        .run(
            &(
                0..scenarios.len(),
                proptest::collection::vec(pick.clone(), 1..4),
                any::<bool>(),
            ),
            |(i, picks, splice)| {
                let text = &scenarios[i];
                let digits: Vec<usize> = text
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .map(|(k, _)| k)
                    .collect();
                let mut out = text.clone();
                for (at, v) in picks {
                    let k = digits[at % digits.len()].min(out.len().saturating_sub(1));
                    let end = out[k..]
                        .find(|c: char| !c.is_ascii_digit())
                        .map_or(out.len(), |e| k + e);
                    if out.is_char_boundary(k) && out.is_char_boundary(end) {
                        let value = if splice {
                            format!("-{}", EXTREMES[v])
                        } else {
                            EXTREMES[v].to_string()
                        };
                        out.replace_range(k..end, &value);
                    }
                }
                if let Ok(s) = dsim::scenario::Scenario::parse("fuzz.toml", &out, &registry) {
                    parsed.fetch_add(1, Relaxed);
                    if let Ok(r) = s.resolve(3) {
                        ran.fetch_add(1, Relaxed);
                        let mut config = r.config;
                        config.limits.events = config.limits.events.min(20_000);
                        let p = registry.get(&s.protocol).unwrap();
                        let _ = p.run(config, &r.params, Default::default());
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    // Traces: records with fields set to extreme values, or reordered,
    // then sealed again (so the chain holds and every reader goes on), or
    // raw bytes spliced; everything that reads a trace reads it.
    let edit = (any::<usize>(), any::<usize>(), 0..EXTREMES.len());
    // A runner of its own: one that has run its cases runs no more.
    let mut runner = TestRunner::new(config);
    runner
        .run(
            &(
                0..traces.len(),
                proptest::collection::vec(edit, 1..4),
                any::<bool>(),
            ),
            |(i, edits, raw)| {
                let bytes = if raw {
                    let mut b = traces[i].clone();
                    for (at, cut, v) in edits {
                        let at = at % (b.len() + 1);
                        let end = (at + cut % 8).min(b.len());
                        b.splice(at..end, EXTREMES[v].to_le_bytes());
                    }
                    b
                } else {
                    let (header, mut records, _) = read_all(&traces[i], None).unwrap();
                    records.pop(); // the seal, written again below
                    for (which, at, v) in edits {
                        if records.is_empty() {
                            break;
                        }
                        let k = at % records.len();
                        if which % 7 == 6 {
                            let r = records.remove(k);
                            records.insert((k + which) % (records.len() + 1), r);
                        } else {
                            mutate(&mut records[k], which, EXTREMES[v]);
                        }
                    }
                    let mut w = TraceWriter::new(Vec::new(), &header, None).unwrap();
                    for r in &records {
                        w.append(r).unwrap();
                    }
                    w.finish(dsim::trace::EndReason::Quiescent, dsim::Instant(0))
                        .unwrap()
                        .0
                };
                let _ = dsim::check::audit(
                    &bytes[..],
                    &dsim::check::Options {
                        causal: true,
                        ..Default::default()
                    },
                );
                if let Ok((header, records, _)) = read_all(&bytes, None) {
                    read.fetch_add(1, Relaxed);
                    let schedule = std::sync::Arc::new(dsim::replay::schedule_from(&records));
                    let n = header.nodes as usize;
                    let w = dsim::show::Window::default();
                    let _ = dsim::show::svg::render(n, &records, &w, None);
                    let _ = dsim::show::dot::render(n, &records, &w);
                    let _ = dsim::show::shiviz::render(n, &records, &w);
                    // Schedule replay of the damaged recording.
                    if let Ok(s) = dsim::scenario::Scenario::parse("h", &header.config, &registry) {
                        if let Ok(r) = s.resolve(header.seed) {
                            let p = registry.get(&s.protocol).unwrap();
                            let options = dsim::protocols::RunOptions {
                                schedule: Some(schedule),
                                ..Default::default()
                            };
                            let _ = p.run(r.config, &r.params, options);
                            replayed.fetch_add(1, Relaxed);
                        }
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    eprintln!(
        "fuzz: {} scenarios parsed, {} run; {} traces read whole, {} replayed by schedule",
        parsed.into_inner(),
        ran.into_inner(),
        read.into_inner(),
        replayed.into_inner()
    );
}

#[test]
fn fuzzing_never_panics_or_aborts_under_a_memory_limit() {
    // The fuzz cases run in a child whose address space is capped at 4 GiB:
    // an input that made dsim allocate without bound would abort it.
    let me = std::env::current_exe().unwrap();
    let o = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 4194304 && exec \"$0\" hostile::fuzz_inner --exact --ignored --test-threads 1")
        .arg(&me)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "the fuzz child failed (exit {:?}):\n{}",
        o.status.code(),
        text(&o)
    );
    assert!(text(&o).contains("1 passed"), "{}", text(&o));
}

#[test]
fn a_sweep_of_ten_billion_seeds_until_the_first_failure_neither_aborts_nor_runs_on() {
    // Before, the seeds were listed first: ten billion of them did not fit
    // in memory and the sweep aborted; and a stop (`--max-failures`) still
    // walked every remaining seed. Under a 4 GiB address-space limit.
    let dir = tmp("ten-billion");
    let o = dsim_under(
        4 << 20,
        &[
            "sweep",
            "scenarios/echo-bug-no-dedup.toml",
            "--seeds",
            "0..10000000000",
            "--max-failures",
            "1",
            "--jobs",
            "1",
            "--out",
            dir.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["failed"], 1, "{summary}");
    assert_eq!(summary["complete"], false);
    assert!(
        text(&o).contains("of 10000000000 seeds done"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_long_sweep_keeps_its_outcomes_in_little_memory() {
    // The summary lists every seed's outcome; before, each was kept as
    // structs and then as text, some 1.8 KB a seed (a million seeds took
    // 1.6 GB, ten million would not fit), and this sweep aborted at its
    // 30,000th seed under the limit below. Now some 100 bytes a seed. The
    // shards' merge and a resume, which read summaries, stay under it too.
    let dir = tmp("long");
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let (whole, a, b) = (out("whole"), out("a"), out("b"));
    let sweep = ["sweep", "scenarios/echo-lossy.toml", "--seeds", "0..60000"];
    for more in [
        &["--out", &whole][..],
        &["--out", &a, "--shard", "0/2"],
        &["--out", &b, "--shard", "1/2"],
        &["--out", &whole, "--resume", &whole],
    ] {
        let args = [&sweep[..], more, &["--jobs", "2"]].concat();
        let o = dsim_under(80 << 10, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
    let merged = out("merged.json");
    let (a, b) = (format!("{a}/summary.json"), format!("{b}/summary.json"));
    let o = dsim_under(80 << 10, &["merge", &a, &b, "-o", &merged]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(dir.join("merged.json")).unwrap(),
        std::fs::read(dir.join("whole/summary.json")).unwrap()
    );
}

#[test]
fn a_long_trace_is_replayed_diffed_and_shown_in_little_memory() {
    // A thousand-second Raft run: about a million records, 17 MB of trace.
    // Before, `dsim replay` held the recording and the rerun as records
    // (some 420 bytes a record: 2 million took 840 MB) and `dsim show`
    // held the trace (290 bytes a record), `dsim diff` both traces; each
    // ran out of memory under the limit below. Now they read as they
    // compare or show, as `dsim check` does.
    let dir = tmp("long-trace");
    let scenario = std::fs::read_to_string("scenarios/raft-partitions.toml")
        .unwrap()
        .replace("time = \"7s\"", "time = \"3000s\"");
    assert!(scenario.contains("3000s"));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    std::fs::write(path("long.toml"), scenario).unwrap();
    let o = dsim(&["run", &path("long.toml"), "--trace", &path("long.trace")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let limit = 80 << 10;
    let o = dsim_under(
        limit,
        &["replay", &path("long.trace"), "-o", &path("again.trace")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = text(&o);
    let records: usize = said
        .split("replayed: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(records > 900_000, "{said}");
    assert!(said.contains("record for record the same"), "{said}");
    // The rerun's trace, written with -o, is the recording byte for byte,
    // and `dsim diff` compares the two as streams too.
    assert!(
        std::fs::read(path("again.trace")).unwrap() == std::fs::read(path("long.trace")).unwrap()
    );
    let o = dsim_under(limit, &["diff", &path("long.trace"), &path("again.trace")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("identical  {} records", records + 1)),
        "{}",
        text(&o)
    );
    for format in ["text", "jsonl"] {
        let shown = path(&format!("shown.{format}"));
        let o = dsim_under(
            limit,
            &[
                "show",
                &path("long.trace"),
                "--format",
                format,
                "-o",
                &shown,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{format}: {}", text(&o));
        let lines = std::fs::read_to_string(&shown).unwrap().lines().count();
        // Every record, the end marker included.
        assert!(
            lines > records,
            "{format}: {lines} lines of {records} records"
        );
    }
    let (long, out) = (path("long.trace"), path("more.out"));
    for more in [&["--nodes", "0"][..], &["--format", "history"]] {
        let args = [&["show", &long, "-o", &out][..], more].concat();
        let o = dsim_under(limit, &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
    }
}

/// Runs `dsim` with `args` under an address-space limit of `kib` KiB.
fn dsim_under(kib: u64, args: &[&str]) -> std::process::Output {
    Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_dsim"))
        .args(args)
        .output()
        .unwrap()
}

/// A long Jepsen history is checked in memory that grows with its length:
/// 100,000 register operations one after another, as one vector, under a
/// 300 MB address-space limit. The import held every operation as parsed
/// EDN (1.7 KB each) and the search remembered each configuration with a
/// bit per operation (n²/8 bytes over a sequential history): 410 MB at
/// 50,000 operations, an abort under this limit at 100,000. And its last
/// read made stale is explained in two operations (it took 170 s and named
/// 12,500, not minimized).
#[test]
fn a_long_jepsen_history_is_checked_in_memory_that_grows_with_it() {
    let dir = tmp("long-jepsen");
    let f = dir.join("long.edn");
    let mut edn = String::from("[");
    let mut value = 0;
    for i in 0..100_000u64 {
        let p = i % 10;
        if i % 2 == 0 {
            value = i % 7;
            edn += &format!("{{:process {p}, :type :invoke, :f :write, :value {value}}}\n");
            edn += &format!("{{:process {p}, :type :ok, :f :write, :value {value}}}\n");
        } else {
            edn += &format!("{{:process {p}, :type :invoke, :f :read, :value nil}}\n");
            edn += &format!("{{:process {p}, :type :ok, :f :read, :value {value}}}\n");
        }
    }
    edn += "]\n";
    std::fs::write(&f, &edn).unwrap();
    let f = f.to_str().unwrap();
    let args = ["check", "--import", "jepsen", f, "--model", "register"];
    let o = dsim_under(300 << 10, &args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("100000 operations"), "{}", text(&o));
    // The last read made stale is caught, under the same limit.
    let stale = edn.replace(
        &format!("{{:process 9, :type :ok, :f :read, :value {value}}}\n]"),
        &format!(
            "{{:process 9, :type :ok, :f :read, :value {}}}\n]",
            value + 1
        ),
    );
    assert_ne!(stale, edn);
    std::fs::write(f, stale).unwrap();
    let o = dsim_under(300 << 10, &args);
    // Explained by the write it missed and itself, minimal: each search
    // for the witnesses is over every operation, and the budget allows few.
    let said = text(&o);
    assert_eq!(o.status.code(), Some(1), "{said}");
    assert!(said.contains("NO (register)"), "{said}");
    assert!(
        said.contains("2 operations whose outcomes cannot all be true:")
            && said.contains("p8 write 3 -> 3")
            && said.contains("p9 read -> 4"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
