//! `dsim sweep` and `dsim merge`: many seeds on every core, a summary that
//! does not depend on how many cores, shards for many machines.

use super::run::{default_trace_path, load_checked, run_seed_digest};
use super::summary::{
    journal_path, print_summary, read_resume, read_summary, unfinished, write_summary, Identity,
    Journal, Outcomes, SeedOutcome, Summary,
};
use super::CliError;
use crate::protocols::Registry;
use crate::scheduler::{NOT_UNDER_PCT, VERDICT_UNKNOWN};
use crate::show::plain;
use crate::trace::hex;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Run many seeds of a scenario in parallel; keep every failing seed's trace.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim sweep scenarios/echo-bug-no-dedup.toml --seeds 0..1000\n  dsim sweep scenarios/raft-lossy.toml --seeds 0..100000 --shard 3/8 --out out/shard-3\n  dsim merge out/shard-*/summary.json -o out/summary.json"
)]
pub struct SweepArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// Seeds to run, A..B (B excluded).
    #[arg(long, default_value = "0..1000")]
    pub seeds: String,
    /// Worker threads (default: every core).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Where the summary and failing traces go.
    #[arg(long, default_value = "traces")]
    pub out: PathBuf,
    /// Run only shard I of N (I from 0): the seeds whose offset from A is I modulo N.
    #[arg(long)]
    pub shard: Option<String>,
    /// Resume an interrupted or killed sweep: keep the outcomes recorded in
    /// this summary, or in the journal beside it (or give the sweep's
    /// directory), and run only the seeds they lack. The scenario, seeds,
    /// shard and checks must be the ones the record was made from.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Stop starting new seeds after this many failures. With more than
    /// one job, which seeds ran before the stop depends on timing, so the
    /// summary is then not reproducible (use --jobs 1 for that).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_failures: Option<u64>,
    /// A key that turns each trace's hash chain into a MAC.
    #[arg(long)]
    pub key: Option<String>,
    /// Check only this invariant (repeat for more); overrides the
    /// scenario's `[check] invariants`.
    #[arg(long = "check", value_name = "INVARIANT")]
    pub checks: Vec<String>,
    /// Run every seed with its trace on (slower). By default a seed runs
    /// with the trace off and only a failing one runs again to write its
    /// trace; the summary is the same either way.
    #[arg(long)]
    pub trace_every_seed: bool,
    /// Run every seed twice and fail a seed whose two runs differ (check
    /// `determinism`): a seed must name one run, which a hash map's order,
    /// a global or the wall clock in the protocol breaks. Without it only
    /// a failing seed runs twice. Costs a second run of every seed.
    #[arg(long)]
    pub check_determinism: bool,
    #[command(flatten)]
    pub strategy: super::run::StrategyArgs,
}

/// Join shard summaries into the summary an unsharded sweep would write.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dsim merge out/shard-0/summary.json out/shard-1/summary.json -o out/summary.json"
)]
pub struct MergeArgs {
    /// Shard summaries (summary.json files).
    #[arg(required = true)]
    pub summaries: Vec<PathBuf>,
    /// Where to write the merged summary (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// Parses `A..B`.
pub fn parse_seeds(text: &str) -> Result<(u64, u64), CliError> {
    let bad = || {
        CliError::input(format!(
            "--seeds must look like A..B (B excluded), e.g. 0..1000, not `{text}`"
        ))
    };
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    if b <= a {
        return Err(CliError::input(format!(
            "--seeds {text} is empty: the end must be greater than the start"
        )));
    }
    Ok((a, b))
}

/// Parses `I/N`.
pub fn parse_shard(text: &str) -> Result<(u64, u64), CliError> {
    let bad = || {
        CliError::input(format!(
            "--shard must look like I/N with 0 <= I < N, e.g. 0/4, not `{text}`"
        ))
    };
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let i: u64 = i.trim().parse().map_err(|_| bad())?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// The most worker threads a sweep starts: ten thousand took a minute and
/// a gigabyte to start on a small machine, before running a seed.
const MAX_JOBS: usize = 1024;

pub fn sweep(registry: &Registry, args: SweepArgs) -> Result<(), CliError> {
    let scenario = load_checked(registry, &args.scenario, &args.checks, &args.strategy)?;
    let (start, end) = parse_seeds(&args.seeds)?;
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;
    let jobs = match args.jobs {
        Some(0) => return Err(CliError::input("--jobs must be at least 1")),
        Some(j) if j > MAX_JOBS => {
            return Err(CliError::input(format!(
                "--jobs {j}: at most {MAX_JOBS} worker threads (this machine runs {} at once)",
                std::thread::available_parallelism().map_or(1, |n| n.get())
            )))
        }
        Some(j) => j,
        None => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    };
    // Check the scenario resolves before spending any time.
    scenario.resolve(start).map_err(CliError::input)?;
    let identity = Identity {
        scenario: scenario.file.clone(),
        scenario_hash: hex(blake3::hash(scenario.source.as_bytes()).as_bytes())[..32].to_string(),
        protocol: scenario.protocol.clone(),
        seeds: (start, end),
        shard,
        checks: scenario.invariants.clone(),
        strategy: format!("{:?}", scenario.strategy),
        dsim_version: env!("CARGO_PKG_VERSION").to_string(),
        trace_format: crate::trace::FORMAT_VERSION,
        determinism: args.check_determinism,
    };
    let mut done = Outcomes::default();
    // Whether the record resumed is `--out`'s own (then its journal is
    // carried on); a record elsewhere leaves `--out`'s own to be guarded.
    let mut resumed_here = false;
    if let Some(path) = &args.resume {
        let (previous, outcomes, running, from) = read_resume(path)?;
        let dir = |p: &Path| {
            std::fs::canonicalize(if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            })
            .ok()
        };
        resumed_here = from
            .parent()
            .and_then(dir)
            .is_some_and(|d| Some(d) == dir(&args.out));
        if let Some(why) = identity.mismatch(&previous) {
            return Err(CliError::input(format!(
                "{}: that record is of another sweep, so it cannot be resumed here: {why}",
                from.display()
            )));
        }
        done = outcomes;
        // Seeds that were running when the sweep stopped: if its process
        // died, one of them may be why, and would take this one down too.
        for seed in running {
            if let Some(aborted) = probe(&scenario, seed, &args)? {
                done.push(aborted);
            }
        }
        done.sort();
    }
    // The seeds are counted, not listed: `--seeds 0..10000000000
    // --max-failures 1` (run until something fails) must not begin by
    // allocating a list of ten billion.
    let (first, step) = match shard {
        Some((i, n)) => (start.saturating_add(i), n),
        None => (start, 1),
    };
    let covered = identity.expected();
    let to_run = covered.saturating_sub(done.len() as u64);
    // A record of an unfinished sweep is not written over unasked: it may
    // be hours of seeds (and a rerun of the same command is easy to type).
    if !resumed_here {
        if let Some(why) = unfinished(&args.out, &identity) {
            return Err(CliError::input(why));
        }
    }
    super::files::out_dir(&args.out)?;
    let summary_path = args.out.join("summary.json");
    let resume_command = || {
        let mut resume = format!(
            "{} sweep {} --seeds {start}..{end} --out {} --resume {}",
            super::program(),
            scenario.file,
            args.out.display(),
            args.out.display()
        );
        if let Some(s) = &args.shard {
            resume.push_str(&format!(" --shard {s}"));
        }
        if args.check_determinism {
            resume.push_str(" --check-determinism");
        }
        resume.push_str(&super::run::override_flags(&args.checks, &args.strategy));
        resume
    };
    let journal = Journal::start(&journal_path(&summary_path), &identity, &done)?;

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second sweep in one process (tests) finds a handler installed already.
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let failed_before = done.iter().filter(|o| o.verdict == "fail").count() as u64;
    let finished = &done;
    let progress = Progress::new(done.len() as u64, failed_before, to_run);
    // Whether any seed run now checked an invariant of the protocol's.
    let checked_any = std::sync::atomic::AtomicBool::new(false);
    let first_error: Mutex<Option<CliError>> = Mutex::new(None);
    // Passing seeds run now, and those that ended with client operations
    // never answered (how many; the lowest seed, its open and invoked).
    let open_at_end: Mutex<OpenAtEnd> = Mutex::new(OpenAtEnd::default());
    let key = args.key.as_deref().map(str::as_bytes);
    let started = std::time::Instant::now();
    // No more workers than seeds to run.
    let jobs = jobs.min(usize::try_from(to_run).unwrap_or(usize::MAX).max(1));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs)
        .build()
        .map_err(|e| CliError::input(format!("cannot start {jobs} worker threads: {e}")))?;
    // What runs now, packed as it finishes (sorted with the rest at the end).
    let fresh = Mutex::new(Outcomes::default());
    let ran_now = pool.install(|| {
        (0..covered)
            .into_par_iter()
            .map(|k| first + k * step)
            .filter(|seed| !finished.has(*seed))
            // Some(outcome) for a seed run, Some(None) for one that could
            // not run (the error is kept), None to stop the sweep there.
            .map(|seed| {
                let stop = interrupted.load(Ordering::SeqCst)
                    || args.max_failures.is_some_and(|m| progress.failures() >= m)
                    || first_error.lock().map(|e| e.is_some()).unwrap_or(true);
                if stop {
                    return None;
                }
                if let Err(e) = journal.started(seed) {
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    return None;
                }
                // A passing seed needs no trace: it runs with the trace off,
                // keeping only its digest; a failing one runs again with the
                // trace on — the same run, by determinism, which the two
                // digests must show.
                let mut bytes = Vec::new();
                let first = if args.trace_every_seed {
                    run_seed_digest(registry, &scenario, seed, Some(&mut bytes), key)
                } else {
                    run_seed_digest(registry, &scenario, seed, None, key)
                };
                let first = first.and_then(|(resolved, outcome)| {
                    if outcome.failure.is_none() || args.trace_every_seed {
                        return Ok((resolved, outcome));
                    }
                    let (_, traced) =
                        run_seed_digest(registry, &scenario, seed, Some(&mut bytes), key)?;
                    Ok((resolved, same_run(&scenario.file, seed, &outcome, traced)))
                });
                // Asked for: a passing seed runs twice too, and a second run
                // that differs fails it (with a trace of a third, so that
                // what ran is there to read).
                let first = first.and_then(|(resolved, outcome)| {
                    if !args.check_determinism || outcome.failure.is_some() {
                        return Ok((resolved, outcome));
                    }
                    let (_, again) = run_seed_digest(registry, &scenario, seed, None, key)?;
                    let again = same_run(&scenario.file, seed, &outcome, again);
                    let Some(failure) = again.failure else {
                        return Ok((resolved, outcome));
                    };
                    bytes.clear();
                    let (_, mut traced) =
                        run_seed_digest(registry, &scenario, seed, Some(&mut bytes), key)?;
                    traced.failure = Some(failure);
                    Ok((resolved, traced))
                });
                match first {
                    Err(e) => {
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        Some(None)
                    }
                    Ok((resolved, outcome)) => {
                        if !outcome.checks.is_empty() {
                            checked_any.store(true, Ordering::SeqCst);
                        }
                        if outcome.failure.is_none() {
                            if let Ok(mut open) = open_at_end.lock() {
                                open.count(seed, &outcome.stats);
                            }
                        }
                        let mut trace = None;
                        if outcome.failure.is_some() {
                            let path = default_trace_path(&args.out, &scenario, seed);
                            if let Err(e) = super::files::write(&path, &bytes) {
                                if let Ok(mut slot) = first_error.lock() {
                                    slot.get_or_insert(e);
                                }
                            }
                            trace = path.file_name().map(|n| n.to_string_lossy().into_owned());
                        }
                        progress.tick(outcome.failure.as_ref().map(|f| (seed, f.check.as_str())));
                        let f = outcome.failure.as_ref();
                        let recorded = SeedOutcome {
                            seed,
                            verdict: if f.is_some() { "fail" } else { "pass" }.into(),
                            end: outcome.end.name().into(),
                            events: outcome.stats.events,
                            virtual_time_ns: outcome.stats.time.0,
                            failed_check: f.map(|f| f.check.clone()),
                            message: f.map(|f| f.message.clone()),
                            due: f.and_then(|f| f.due.clone()),
                            record: f.map(|f| f.record),
                            trace,
                            // Only a failing seed's trace is kept, and hashed.
                            trace_hash: outcome
                                .trace_hash
                                .filter(|_| f.is_some())
                                .map(|h| hex(&h))
                                .unwrap_or_default(),
                            digest: outcome
                                .digest
                                .map(|d| format!("{d:016x}"))
                                .unwrap_or_default(),
                            drawn: resolved.drawn.into_iter().collect(),
                            not_run: outcome
                                .not_run()
                                .map(|(c, why)| (c.to_string(), why.to_string()))
                                .collect(),
                            also_failed: outcome
                                .also_failed()
                                .map(|(c, why)| (c.to_string(), why.to_string()))
                                .collect(),
                            missed: super::run::missed_faults(&outcome).into_iter().fold(
                                BTreeMap::new(),
                                |mut missed, (planned, why)| {
                                    // Two such crashes of one node, one line.
                                    missed
                                        .entry(planned)
                                        .and_modify(|w: &mut String| *w = format!("{w}; {why}"))
                                        .or_insert(why);
                                    missed
                                },
                            ),
                        };
                        if let Err(e) = journal.record(&recorded) {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                        }
                        if let Ok(mut fresh) = fresh.lock() {
                            fresh.push(recorded);
                        }
                        Some(Some(()))
                    }
                }
            })
            .while_some()
            .flatten()
            .count()
    });
    progress.finish();
    if let Some(e) = first_error.into_inner().ok().flatten() {
        // What finished is in the journal; the summary is not written over.
        let CliError::Input(why) = e else {
            return Err(e);
        };
        return Err(CliError::input(format!(
            "{why}\nthe seeds that finished are kept in {}; once the cause is mended, resume with:\n  {}",
            journal_path(&summary_path).display(),
            resume_command()
        )));
    }
    let mut fresh = fresh.into_inner().unwrap_or_else(|e| e.into_inner());
    done.append(&mut fresh);
    let expected = identity.expected() as usize;
    let complete = done.len() == expected;
    let summary = Summary::new(identity, done, complete);
    write_summary(&summary_path, &summary)?;
    journal.close();
    let wall = started.elapsed().as_secs_f64();
    eprintln!(
        "{} seeds run ({} now) in {wall:.2}s ({:.0} seeds/s with {jobs} jobs): {} passed, {} failed",
        summary.run,
        ran_now,
        ran_now as f64 / wall.max(1e-9),
        summary.passed,
        summary.failed
    );
    if ran_now > 0 && !checked_any.load(Ordering::SeqCst) {
        eprintln!(
            "  no protocol invariant was checked (the protocol registers none): only handler panics, stalls and dsim's own checks ran"
        );
    }
    print_failures(&summary);
    let open = open_at_end.into_inner().unwrap_or_else(|e| e.into_inner());
    if let (Some((seed, left, invoked)), None) = (open.first, scenario.answered) {
        eprintln!(
            "  left open: {} of the {} passing seeds run now ended with client operations never answered (seed {seed}: {left} of {invoked}); a history of nothing answered is linearizable, and `[check] answered = \"1s\"` fails a seed that leaves one open once calm",
            open.seeds, open.passed
        );
    }
    if let (Some((seed, ok, invoked)), Some(_)) = (open.first_few_ok, &scenario.linearizable) {
        eprintln!(
            "  little judged: in {} of the {} passing seeds run now, under one in ten client operations completed `ok` (seed {seed}: {ok} of {invoked}; the others `fail`, `info` (outcome unknown) or unanswered), so a history check had little to judge there (a schedule that starves messages, as PCT does on purpose, or a protocol that times out)",
            open.few_ok, open.passed
        );
    }
    for (check, count) in &summary.not_run_by_check {
        let why = summary
            .outcomes
            .iter()
            .filter(|o| o.verdict == "pass")
            .find_map(|mut o| o.not_run.remove(check))
            .unwrap_or_default();
        let all = if *count == summary.run {
            " (every seed: it never ran)"
        } else {
            ""
        };
        let seeds = if *count == 1 { "seed" } else { "seeds" };
        eprintln!("  NOT RUN {check}: in {count} {seeds}{all}; e.g. {why}");
    }
    print_missed(&summary);
    print_cut_short(&summary);
    print_draws(&summary);
    eprintln!("summary    {}", summary_path.display());
    if let Some(seed) = summary.first_failing_seed {
        let o = summary.outcomes.iter().find(|o| o.seed == seed);
        if let Some(o) = o {
            eprintln!(
                "first failure: seed {seed}, check `{}`: {}",
                plain(o.failed_check.as_deref().unwrap_or("?")),
                plain(o.message.as_deref().unwrap_or(""))
            );
            if let Some(due) = &o.due {
                eprintln!("  liveness   {}", plain(due));
            }
            if let Some(t) = &o.trace {
                eprintln!("  trace      {}", args.out.join(t).display());
            }
            eprintln!(
                "  reproduce  {} run {} --seed {seed}{}",
                super::program(),
                scenario.file,
                super::run::override_flags(&args.checks, &args.strategy)
            );
        }
    }
    if !complete {
        eprintln!(
            "interrupted: {} of {expected} seeds done; resume with:\n  {}",
            summary.run,
            resume_command()
        );
    }
    judge(
        &summary,
        &scenario.file,
        (!complete).then_some("the sweep was interrupted before every seed ran"),
        shard,
    )
}

/// Runs `seed`, which was running when an earlier sweep stopped, alone
/// in a child process (this program, `run`): a handler that overflows
/// its stack or runs out of memory aborts the process, and nothing in
/// the process can catch that. A seed whose child dies so is recorded as
/// failing check `aborted`, and the sweep goes on past it; any other is
/// left to run again.
/// The usual name of a signal a dying run meets, for a reader of a summary.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        4 => " (SIGILL)",
        6 => " (SIGABRT)",
        7 => " (SIGBUS)",
        8 => " (SIGFPE)",
        9 => " (SIGKILL)",
        11 => " (SIGSEGV)",
        15 => " (SIGTERM)",
        _ => "",
    }
}

fn probe(
    scenario: &crate::scenario::Scenario,
    seed: u64,
    args: &SweepArgs,
) -> Result<Option<SeedOutcome>, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::input(format!(
            "cannot find this program to rerun seed {seed}: {e}"
        ))
    })?;
    let scratch = tempfile::tempdir()
        .map_err(|e| CliError::input(format!("cannot make a scratch directory: {e}")))?;
    let mut child = std::process::Command::new(exe);
    child
        .arg("run")
        .arg(&scenario.file)
        .args(["--seed", &seed.to_string(), "--trace"])
        .arg(scratch.path().join("probe.trace"))
        .args(super::run::override_flags(&args.checks, &args.strategy).split_whitespace());
    if let Some(key) = &args.key {
        child.args(["--key", key]);
    }
    eprintln!("probe      seed {seed} was running when the sweep stopped: running it alone first");
    let o = child
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .output()
        .map_err(|e| CliError::input(format!("cannot rerun seed {seed}: {e}")))?;
    if matches!(o.status.code(), Some(0..=2)) {
        return Ok(None);
    }
    // Its last words, without the thread's number (a summary says the
    // same on every machine).
    let stderr = String::from_utf8_lossy(&o.stderr);
    let said: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once("' (") {
            Some((thread, rest)) if l.starts_with("thread '") => match rest.split_once(") ") {
                Some((number, rest)) if number.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{thread}' {rest}")
                }
                _ => l.to_string(),
            },
            _ => l.to_string(),
        })
        .collect();
    let said = said[said.len().saturating_sub(2)..].join("; ");
    // The signal alone: a status's text adds "(core dumped)" where the
    // machine keeps core files, and a summary says the same everywhere.
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&o.status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    let died = match (signal, o.status.code()) {
        (Some(signal), _) => format!("signal {signal}{}", signal_name(signal)),
        (None, Some(code)) => format!("exit status {code}"),
        (None, None) => o.status.to_string(),
    };
    let message = format!(
        "the process died running this seed ({died}{}{}); it took the sweep that ran it down, and \
         a resume ran it alone to find that out",
        if said.is_empty() { "" } else { ": " },
        plain(&said)
    );
    eprintln!("aborted    seed {seed}: {message}");
    Ok(Some(SeedOutcome {
        seed,
        verdict: "fail".into(),
        end: "aborted".into(),
        events: 0,
        virtual_time_ns: 0,
        failed_check: Some("aborted".into()),
        message: Some(message),
        due: None,
        record: None,
        trace: None,
        trace_hash: String::new(),
        digest: String::new(),
        drawn: BTreeMap::new(),
        not_run: BTreeMap::new(),
        also_failed: BTreeMap::new(),
        missed: BTreeMap::new(),
    }))
}

/// Each planned fault that never happened in some passing seed: in how
/// many, and why in one of them. A sweep meant to test a protocol under a
/// crash that never came tested it without one.
fn print_missed(summary: &Summary) {
    for (fault, count) in &summary.missed_faults {
        let example = summary
            .outcomes
            .iter()
            .filter(|o| o.verdict == "pass")
            .find_map(|mut o| Some((o.seed, o.missed.remove(fault)?)));
        let all = match *count == summary.passed {
            true => " (every one: it never happened)",
            false => "",
        };
        let (seed, why) = example.unwrap_or_default();
        eprintln!(
            "  NEVER HAPPENED {fault}: in {count} of {} passing seeds{all}; e.g. seed {seed}: {}",
            summary.passed,
            plain(&why)
        );
    }
}

/// Passing seeds whose run stopped at its event limit before its time
/// limit: what would have come after was never simulated.
fn print_cut_short(summary: &Summary) {
    let limit = crate::trace::EndReason::EventLimit.name();
    let mut cut = summary
        .outcomes
        .iter()
        .filter(|o| o.verdict == "pass" && o.end == limit);
    let Some(first) = cut.next() else {
        return;
    };
    let count = 1 + cut.count() as u64;
    let all = match count == summary.passed {
        true => " (every one)",
        false => "",
    };
    eprintln!(
        "  CUT SHORT in {count} of {} passing seeds{all}: the run reached its event limit \
         before its time limit (e.g. seed {} stopped at {}), and what would have come after \
         was never simulated; raise `[run] events` if the protocol is this busy, or look for \
         a message storm",
        summary.passed,
        first.seed,
        crate::time::Instant(first.virtual_time_ns),
    );
}

/// For a scenario with ranges: how often seeds failed by what each knob
/// drew ([`Summary::draws_and_failures`]).
fn print_draws(summary: &Summary) {
    let lines = summary.draws_and_failures();
    if lines.is_empty() {
        return;
    }
    eprintln!(
        "failing seeds by what they drew (each knob's values, the widest spread first; \
         `within chance`: rates no further apart than chance makes them once in 370 sweeps):"
    );
    for line in lines {
        eprintln!("{}", plain(&line));
    }
}

/// A sweep's exit status from its summary: 1 if a seed failed; else 2 if
/// it is `incomplete` (why), if a seed's history check could not be
/// judged (as `dsim run` of that seed exits 2), or if a check was
/// evaluated in none of its seeds — every seed passed, yet the sweep
/// cannot be said to pass on that check (exit 0 means every check held).
/// Liveness under PCT is left unjudged by the strategy the user chose, and
/// said so in the summary. A check that ran in none of one `shard`'s
/// seeds may have run in another's: only a note, the merge of them all
/// judges that.
fn judge(
    summary: &Summary,
    scenario: &str,
    incomplete: Option<&str>,
    shard: Option<(u64, u64)>,
) -> Result<(), CliError> {
    let never = summary.not_run_by_check.iter().find(|&(check, &count)| {
        count == summary.run
            && summary.run > 0
            && summary
                .outcomes
                .iter()
                .any(|o| o.not_run.get(check).is_some_and(|r| r != NOT_UNDER_PCT))
    });
    // Seeds whose history check could not be judged (over the search's
    // budget, or a model that does not fit the operations): not passes.
    // Counted, the first kept: they may be most of a million seeds.
    let mut unknown = (0, None);
    for o in summary.outcomes.iter().filter(|o| o.verdict == "pass") {
        if let Some((check, why)) = o
            .not_run
            .into_iter()
            .find(|(_, why)| why.starts_with(VERDICT_UNKNOWN))
        {
            unknown.0 += 1;
            unknown.1.get_or_insert((o.seed, check, why));
        }
    }
    if summary.failed > 0 {
        Err(CliError::CheckFailed)
    } else if let Some(why) = incomplete {
        Err(CliError::input(why))
    } else if let (count, Some((seed, check, why))) = unknown {
        Err(CliError::input(format!(
            "{scenario}: check `{check}` could not be judged in {} of the {} seeds (seed {seed}: \
             {why}), so the sweep cannot pass on them",
            count, summary.run
        )))
    } else if let Some((check, _)) = never {
        // The first seed's reason that is not PCT's (some seed has one).
        let why = summary
            .outcomes
            .iter()
            .filter_map(|mut o| o.not_run.remove(check))
            .find(|r| r != NOT_UNDER_PCT)
            .unwrap_or_default();
        if let Some((i, n)) = shard {
            eprintln!(
                "note: check `{check}` ran in none of the {} seeds of shard {i}/{n} ({why}); \
                 `{} merge` of every shard judges whether it ran in any",
                summary.run,
                super::program()
            );
            return Ok(());
        }
        Err(CliError::input(format!(
            "{scenario}: check `{check}` ran in none of the {} seeds ({why}), so the sweep \
             cannot pass on it; change the scenario so that it can run, or leave it out \
             (`[check]` or --check name the checks to run)",
            summary.run
        )))
    } else {
        Ok(())
    }
}

pub fn merge(args: MergeArgs) -> Result<(), CliError> {
    let mut parts = Vec::new();
    for p in &args.summaries {
        parts.push((p, read_summary(p)?));
    }
    let (first_path, first) = (parts[0].0, parts[0].1.identity.clone());
    let mut outcomes = Outcomes::default();
    let mut shards = std::collections::BTreeSet::new();
    let mut interrupted = Vec::new();
    if let Some(out) = &args.output {
        let inputs: Vec<&Path> = args.summaries.iter().map(PathBuf::as_path).collect();
        super::files::refuse_overwrite(out, &inputs)?;
    }
    for (path, s) in &mut parts {
        let mut mine = s.identity.clone();
        mine.shard = first.shard;
        if let Some(why) = first.mismatch(&mine) {
            return Err(CliError::input(format!(
                "{} and {} are not shards of one sweep: {why}",
                path.display(),
                first_path.display()
            )));
        }
        match s.shard {
            Some((i, n)) => {
                if !shards.insert((i, n)) {
                    return Err(CliError::input(format!(
                        "{}: shard {i}/{n} appears twice",
                        path.display()
                    )));
                }
            }
            None => {
                return Err(CliError::input(format!(
                    "{} is not a shard summary",
                    path.display()
                )))
            }
        }
        if !s.complete {
            interrupted.push(path.display().to_string());
        }
        outcomes.append(&mut s.outcomes);
    }
    let counts: std::collections::BTreeSet<u64> = shards.iter().map(|(_, n)| *n).collect();
    let n = *counts.iter().next().unwrap_or(&0);
    if counts.len() != 1 {
        return Err(CliError::input(
            "the summaries come from sweeps split into different numbers of shards",
        ));
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !shards.contains(&(*i, n)))
        .map(|i| format!("{i}/{n}"))
        .collect();
    let incomplete = match (missing.is_empty(), interrupted.is_empty()) {
        (true, true) => None,
        (false, _) => Some(format!(
            "shard{} {} {} missing; the merged summary is incomplete",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" },
        )),
        (true, false) => Some(format!(
            "{} {} interrupted before every seed ran (resume {}); the merged summary is \
             incomplete",
            interrupted.join(", "),
            if interrupted.len() == 1 {
                "was"
            } else {
                "were"
            },
            if interrupted.len() == 1 {
                "its sweep"
            } else {
                "their sweeps"
            },
        )),
    };
    let complete = incomplete.is_none();
    let mut identity = first;
    identity.shard = None;
    let summary = Summary::new(identity, outcomes, complete);
    match &args.output {
        Some(path) => write_summary(path, &summary)?,
        None => print_summary(&summary)?,
    }
    eprintln!(
        "merged {} shards: {} seeds, {} passed, {} failed",
        parts.len(),
        summary.run,
        summary.passed,
        summary.failed
    );
    print_failures(&summary);
    print_missed(&summary);
    print_cut_short(&summary);
    print_draws(&summary);
    judge(&summary, &summary.scenario, incomplete.as_deref(), None)
}

/// For each failed check, how many seeds failed it and the first of them,
/// in seed order: the lines printed as seeds finished come in the order
/// threads finish them. Then each check a failing seed judged past its
/// failure and failed too, the same way.
fn print_failures(summary: &Summary) {
    for (check, count) in &summary.failures_by_check {
        let seeds = first_seeds(summary, |o| {
            o.failed_check.as_deref() == Some(check.as_str())
        });
        let word = if *count == 1 { "seed" } else { "seeds" };
        eprintln!("  {}: {count} {word}: {seeds}", plain(check));
    }
    for (check, count) in &summary.also_failed_by_check {
        let seeds = first_seeds(summary, |o| o.also_failed.contains_key(check));
        let word = if *count == 1 { "seed" } else { "seeds" };
        eprintln!(
            "  {}: failed too, judged past another check's failure, in {count} {word}: {seeds}",
            plain(check)
        );
    }
}

/// The first [`SEEDS_NAMED`] seeds whose outcome `pick`s, in seed order,
/// and "..." if there are more.
fn first_seeds(summary: &Summary, pick: impl Fn(&SeedOutcome) -> bool) -> String {
    let seeds: Vec<String> = summary
        .outcomes
        .iter()
        .filter(|o| pick(o))
        .take(SEEDS_NAMED + 1)
        .map(|o| o.seed.to_string())
        .collect();
    let more = if seeds.len() > SEEDS_NAMED {
        ", ..."
    } else {
        ""
    };
    format!("{}{more}", seeds[..seeds.len().min(SEEDS_NAMED)].join(", "))
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    // Seeds finished and how many of them failed, counted together so that
    // a line never shows a failure whose seed it does not count yet
    // (seeds finish on several threads).
    counts: Mutex<(u64, u64)>,
    listed: AtomicU64,
}

/// Failing seeds named one by one as they fail; the rest are counted (the
/// summary lists them all).
const LISTED_FAILURES: u64 = 20;

/// Failing seeds named, in seed order, for each check in a sweep's report.
const SEEDS_NAMED: usize = 8;

impl Progress {
    /// A sweep of `done + remaining` seeds, `done` of them finished
    /// before (a resumed sweep), `failed` of those failing.
    fn new(done: u64, failed: u64, remaining: u64) -> Progress {
        let total = done + remaining;
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_position(done);
            let style = ProgressStyle::with_template(
                "{bar:40} {pos}/{len} seeds, {msg} [{per_sec}, eta {eta}]",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_message(failures_word(failed));
            bar
        });
        Progress {
            bar,
            total,
            counts: Mutex::new((done, failed)),
            listed: AtomicU64::new(0),
        }
    }

    /// How many seeds failed so far, those of a resumed sweep's first run
    /// included.
    fn failures(&self) -> u64 {
        self.counts.lock().map_or(u64::MAX, |c| c.1)
    }

    /// One more seed finished; `failure` if it failed.
    fn tick(&self, failure: Option<(u64, &str)>) {
        let Ok(mut counts) = self.counts.lock() else {
            return;
        };
        counts.0 += 1;
        counts.1 += u64::from(failure.is_some());
        let (done, failures) = *counts;
        let failure = failure.and_then(|(seed, check)| {
            let n = self.listed.fetch_add(1, Ordering::SeqCst) + 1;
            let more = if n == LISTED_FAILURES {
                "; further failing seeds are counted, not listed here (the summary has them all)"
            } else {
                ""
            };
            (n <= LISTED_FAILURES).then(|| format!("seed {seed}: {} failed{more}", plain(check)))
        });
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                bar.set_message(failures_word(failures));
                if let Some(line) = failure {
                    bar.println(line);
                }
            }
            None => {
                if let Some(line) = failure {
                    eprintln!("{line}");
                }
                let step = (self.total / 10).max(1);
                if done % step == 0 || done == self.total {
                    eprintln!(
                        "progress: {done}/{} seeds, {}",
                        self.total,
                        failures_word(failures)
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A failing seed's traced rerun, checked against its first run (trace
/// off): by determinism the same run, with the same digest. One that ran
/// differently is reported as failing check `determinism`, its trace kept.
fn same_run(
    scenario: &str,
    seed: u64,
    first: &crate::scheduler::Outcome,
    traced: crate::scheduler::Outcome,
) -> crate::scheduler::Outcome {
    if traced.digest == first.digest {
        return traced;
    }
    let mut traced = traced;
    let (record, time) = match &traced.failure {
        Some(f) => (f.record, f.time),
        None => (traced.stats.records, traced.stats.time),
    };
    traced.failure = Some(crate::scheduler::Failure {
        check: "determinism".into(),
        message: format!(
            "seed {seed} ran differently when run again (digest {:016x}, then {:016x}): something outside the seed decides what the protocol does; `{} run {scenario} --seed {seed} --check-determinism` shows where",
            first.digest.unwrap_or_default(),
            traced.digest.unwrap_or_default(),
            super::program()
        ),
        record,
        time,
        due: None,
    });
    traced
}

/// "1 failure", "2 failures".
fn failures_word(n: u64) -> String {
    format!("{n} failure{}", if n == 1 { "" } else { "s" })
}

/// Passing seeds of a sweep, and those whose run ended with client
/// operations still open: a stalled protocol passes a linearizability
/// check, so the report says so. Threads finish seeds in any order; the
/// counts and the lowest seed do not depend on it.
#[derive(Default)]
struct OpenAtEnd {
    passed: u64,
    seeds: u64,
    /// The lowest such seed: (seed, operations open, operations invoked).
    first: Option<(u64, u64, u64)>,
    /// Passing seeds whose operations almost never completed `ok`
    /// ([`crate::trace::Stats::few_ok`]), and the lowest: (seed, `ok`,
    /// operations invoked).
    few_ok: u64,
    first_few_ok: Option<(u64, u64, u64)>,
}

impl OpenAtEnd {
    fn count(&mut self, seed: u64, stats: &crate::trace::Stats) {
        self.passed += 1;
        let (invoked, left) = stats.operations();
        if left > 0 {
            self.seeds += 1;
            if self.first.is_none_or(|(s, ..)| seed < s) {
                self.first = Some((seed, left, invoked));
            }
        }
        if stats.few_ok() {
            self.few_ok += 1;
            if self.first_few_ok.is_none_or(|(s, ..)| seed < s) {
                self.first_few_ok = Some((seed, stats.ok, invoked));
            }
        }
    }
}
