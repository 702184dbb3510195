//! A regression corpus of one's own: every trace in a directory replayed
//! by `cargo test`, under the rules `dsim`'s own `traces/` keeps.
//!
//! - A trace that records a failed check must still fail it, record for
//!   record: a shrunk trace reruns its recorded schedule, others their
//!   scenario and seed.
//! - A trace that records no failure must replay record for record.
//! - `NAME.expect` beside `NAME.trace` (optional, TOML) says what the
//!   trace is for: `fails = "CHECK"`, the check it must fail; `fixed =
//!   "SCENARIO"`, a scenario whose protocol must pass when run against the
//!   trace's recorded schedule (a scenario path is taken from the working
//!   directory, which under `cargo test` is the crate's root);
//!   `fixed_in_place = true`, the trace's own protocol has been fixed since
//!   it failed (the usual case for a protocol of one's own, mended under
//!   its name rather than kept as a broken twin): the trace need no
//!   longer replay record for record, and its protocol as it is now must
//!   pass when run against its recorded schedule.
//!
//! ```no_run
//! # fn registry() -> dsim::protocols::Registry { dsim::protocols::Registry::builtin() }
//! #[test]
//! fn every_trace_in_the_corpus_still_behaves_as_recorded() {
//!     // `registry()`: the crate's protocols, as its binary registers them.
//!     dsim::testing::assert_corpus(&registry(), "traces");
//! }
//! ```

use crate::cli::replay::{divergence_lines, rerun, scan_trace, Rerun};
use crate::cli::CliError;
use crate::protocols::Registry;
use crate::show::text;
use std::path::{Path, PathBuf};

/// What a trace's `.expect` file says it is for.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    fails: Option<String>,
    fixed: Option<PathBuf>,
    #[serde(default)]
    fixed_in_place: bool,
}

/// The summary of a trace that does not read (damaged, cut short, keyed).
pub const UNREADABLE: &str = "unreadable";

/// How one trace of a corpus behaved when replayed.
#[derive(Clone, Debug)]
pub struct Replayed {
    /// The trace (or, for an `.expect` file with no trace beside it, that
    /// file).
    pub file: PathBuf,
    /// What the replay showed, in a sentence.
    pub summary: String,
    /// Every way the trace no longer behaves as recorded; empty if it does.
    pub problems: Vec<String>,
    /// A file the replay reads is missing or does not read: the trace,
    /// its `.expect` file, or the fixed scenario that names. The corpus is
    /// at fault, not the protocol (`dsim replay DIR` exits 2).
    pub bad_input: bool,
}

impl Replayed {
    /// True when the trace behaves as recorded.
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Replays every `*.trace` in `dir` (not its subdirectories) with the
/// protocols of `registry`, in file-name order, and says how each behaved
/// (see the module's rules). An `Err` only when `dir` cannot be read.
pub fn replay_corpus(registry: &Registry, dir: impl AsRef<Path>) -> Result<Vec<Replayed>, String> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: cannot read the corpus: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in &files {
        match file.extension().and_then(|e| e.to_str()) {
            Some("trace") => out.push(replay_one(registry, file)),
            Some("expect") if !file.with_extension("trace").exists() => out.push(Replayed {
                file: file.clone(),
                summary: "an expectation with no trace".into(),
                problems: vec![format!(
                    "{} has no trace beside it ({} is missing)",
                    file.display(),
                    file.with_extension("trace").display()
                )],
                bad_input: true,
            }),
            _ => {}
        }
    }
    Ok(out)
}

/// Replays the corpus in `dir` and panics, naming every trace that no
/// longer behaves as recorded and how, if any does, or if `dir` holds no
/// trace at all (a corpus that replays nothing checks nothing). Prints
/// and returns what each trace showed (`cargo test -- --nocapture` shows
/// it).
#[track_caller]
pub fn assert_corpus(registry: &Registry, dir: impl AsRef<Path>) -> Vec<Replayed> {
    let dir = dir.as_ref();
    let replayed = replay_corpus(registry, dir).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        replayed
            .iter()
            .any(|r| r.file.extension().is_some_and(|e| e == "trace")),
        "{}: no `*.trace` in the corpus, so it checks nothing",
        dir.display()
    );
    for r in &replayed {
        println!("{}: {}", r.file.display(), r.summary);
    }
    let failing: Vec<String> = replayed
        .iter()
        .filter(|r| !r.holds())
        .map(|r| format!("{}:\n  {}", r.file.display(), r.problems.join("\n  ")))
        .collect();
    assert!(
        failing.is_empty(),
        "{} of {} corpus files no longer behave as recorded:\n{}",
        failing.len(),
        replayed.len(),
        failing.join("\n")
    );
    replayed
}

/// What of the recorded schedule a rerun could not follow, if anything.
fn skipped(outcome: &crate::Outcome) -> String {
    match (outcome.unscripted, outcome.unfollowed) {
        (0, 0) => String::new(),
        (n, 0) => format!(" ({n} sends had no recorded fate and drew theirs from the seed)"),
        (_, n) => format!(
            " ({n} steps of the explored path do nothing the protocol as it is now offers there, and were skipped, or taken without the crash that cut their handler after a send it no longer makes)"
        ),
    }
}

/// Whether the check a trace failed was judged in a run of its fix (and
/// held: the run did not fail): a fix whose run never judged it, or no
/// longer checks it, shows nothing mended.
fn judged(outcome: &crate::Outcome, check: &str) -> Result<(), String> {
    match outcome.checks.iter().find(|c| c.name == check) {
        None => Err(format!("`{check}` is not among the checks it runs")),
        Some(c) => match &c.status {
            crate::scheduler::CheckStatus::NotRun { reason } => {
                Err(format!("`{check}` was not judged there ({reason})"))
            }
            _ => Ok(()),
        },
    }
}

/// An error's message; `bad_input` set when the input was at fault.
fn message(e: CliError, bad_input: &mut bool) -> String {
    match e {
        CliError::Input(m) => {
            *bad_input = true;
            m
        }
        CliError::CheckFailed => "a check failed".into(),
        CliError::Quiet => "stopped".into(),
    }
}

fn replay_one(registry: &Registry, trace: &Path) -> Replayed {
    let mut problems = Vec::new();
    let mut summary = String::new();
    let mut bad_input = false;
    let expect_path = trace.with_extension("expect");
    let expect = match std::fs::read_to_string(&expect_path) {
        Ok(t) => match toml::from_str::<Expect>(&t) {
            Ok(e) => e,
            Err(e) => {
                problems.push(format!("{}: {e}", expect_path.display()));
                bad_input = true;
                Expect::default()
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Expect::default(),
        Err(e) => {
            problems.push(format!("{}: cannot read: {e}", expect_path.display()));
            bad_input = true;
            Expect::default()
        }
    };
    let recording = match scan_trace(trace, None) {
        Ok(read) => read,
        Err(e) => {
            problems.push(message(e, &mut bad_input));
            return Replayed {
                file: trace.to_path_buf(),
                summary: UNREADABLE.into(),
                problems,
                bad_input,
            };
        }
    };
    let header = &recording.header;
    if header.config.trim().is_empty() && header.replay.is_empty() {
        problems.push(format!(
            "{}: the trace does not carry its scenario, so it cannot be rerun: a property test's `check` (a simulation built in the test) writes such traces; `check_protocol` (a registered protocol), `run`, `sweep` and `shrink` write traces that carry theirs",
            trace.display()
        ));
        return Replayed {
            file: trace.to_path_buf(),
            summary: "cannot be rerun".into(),
            problems,
            bad_input: true,
        };
    }
    let failed = recording.failed.as_ref().map(|(_, check, _)| check.clone());
    match (&failed, &expect.fails) {
        (Some(check), Some(want)) if check != want => problems.push(format!(
            "it records a failure of `{check}`, where {} says `{want}`",
            expect_path.display()
        )),
        (None, Some(want)) => problems.push(format!(
            "it records no failure, where {} says it fails `{want}`",
            expect_path.display()
        )),
        _ => {}
    }
    if expect.fixed_in_place {
        // Mended since: its schedule, with the protocol as it is now.
        match (&failed, rerun(registry, trace, &recording, None, None, true, false)) {
            (None, _) => problems.push(format!(
                "{} says the protocol was fixed in place, but the trace records no failure",
                expect_path.display()
            )),
            (_, Err(e)) => problems.push(message(e, &mut bad_input)),
            (Some(check), Ok(run)) => match &run.outcome.failure {
                Some(f) => problems.push(format!(
                    "{} says its protocol was fixed in place, but against its recorded schedule it still fails `{}` at record {}: {}",
                    expect_path.display(),
                    f.check,
                    f.record,
                    f.message
                )),
                None => match judged(&run.outcome, check) {
                    Err(why) => problems.push(format!(
                        "{} says its protocol was fixed in place, and against its recorded schedule it no longer fails, but {why}: the run does not show the failure mended",
                        expect_path.display()
                    )),
                    Ok(()) => {
                        summary = format!(
                            "failed `{check}` when recorded; fixed in place, it passes against its recorded schedule{}",
                            skipped(&run.outcome)
                        )
                    }
                },
            },
        }
    } else {
        match rerun(registry, trace, &recording, None, None, false, false) {
            Err(e) => problems.push(message(e, &mut bad_input)),
            Ok(run) => {
                let how = if run.schedule.is_some() {
                    "by its recorded schedule"
                } else {
                    "by its scenario and seed"
                };
                match (&run.divergence, &failed) {
                    (None, Some(check)) => {
                        summary = format!("fails `{check}` as recorded, record for record ({how})")
                    }
                    (None, None) => summary = format!("replays record for record ({how})"),
                    (Some(_), _) => {
                        summary = format!("differs from its recording ({how})");
                        let mended = failed.is_some().then_some(expect_path.as_path());
                        problems.push(divergence(registry, &run, how, mended));
                    }
                }
            }
        }
    }
    match (&expect.fixed, &failed) {
        (Some(fixed), None) => problems.push(format!(
            "{} names a fixed scenario ({}), but the trace records no failure for it to mend",
            expect_path.display(),
            fixed.display()
        )),
        (Some(fixed), Some(check)) => {
            match rerun(registry, trace, &recording, None, Some(fixed), true, false) {
                Err(e) => problems.push(message(e, &mut bad_input)),
                Ok(run) => match &run.outcome.failure {
                    Some(f) => problems.push(format!(
                        "against its recorded schedule, {} still fails `{}` at record {}: {}{}",
                        fixed.display(),
                        f.check,
                        f.record,
                        f.message,
                        if f.check == *check {
                            " (the recorded failure)"
                        } else {
                            ""
                        }
                    )),
                    None => match judged(&run.outcome, check) {
                        Err(why) => problems.push(format!(
                            "against its recorded schedule, {} no longer fails, but {why}: the run does not show the failure mended",
                            fixed.display()
                        )),
                        Ok(()) => summary.push_str(&format!(
                            "; {} passes against its schedule{}",
                            fixed.display(),
                            skipped(&run.outcome)
                        )),
                    },
                },
            }
        }
        (None, _) => {}
    }
    Replayed {
        file: trace.to_path_buf(),
        summary,
        problems,
        bad_input,
    }
}

/// Where a rerun first parted from its recording, decoded by the protocol
/// that ran.
/// `mended`: the trace recorded a failure; where to say it was fixed since,
/// if the rerun passes.
fn divergence(registry: &Registry, run: &Rerun, how: &str, mended: Option<&Path>) -> String {
    let Some(d) = &run.divergence else {
        return String::new();
    };
    let protocol = registry.get(&run.recipe.protocol);
    let decode = protocol.map(crate::cli::ByProtocol);
    let decode = decode.as_ref().map(|d| d as text::Decoder<'_>);
    let lines = |d: &crate::replay::Divergence, l, r| {
        divergence_lines(d, l, r, [decode; 2])
            .iter()
            .map(|line| format!("\n    {line}"))
            .collect::<String>()
    };
    if let Some(u) = &run.unsteady {
        return format!(
            "it does not replay the same way twice ({how}): two reruns differ from each other first at record #{}, so something outside the seed decides what the protocol does ({}){}",
            u.index,
            crate::replay::LOOK_FOR,
            lines(u, "rerun 1", "rerun 2")
        );
    }
    format!(
        "it no longer replays record for record ({how}): the first differing record is #{}{}{}",
        d.index,
        lines(d, "recorded", "replayed"),
        match &run.outcome.failure {
            Some(f) => format!("\n    the rerun fails `{}`: {}", f.check, f.message),
            None => format!(
                "\n    the rerun passes every check{}",
                match mended {
                    Some(expect) => format!(
                        ": if the protocol has been fixed since, say so with `fixed_in_place = true` in {}",
                        expect.display()
                    ),
                    None => String::new(),
                }
            ),
        }
    )
}
