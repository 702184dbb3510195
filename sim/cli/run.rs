//! `dsim run`: one seed, a summary, and the trace.

use super::CliError;
use crate::network::MessageFault;
use crate::protocols::{Registry, RunOptions};
use crate::scenario::{Resolved, Scenario};
use crate::scheduler::Outcome;
use crate::show::plain;
use crate::trace::hex;
use clap::Args;
use std::fs::File;
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// Run one seed of a scenario and check it.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim run scenarios/echo-lossy.toml\n  dsim run scenarios/echo-bug-no-dedup.toml --seed 12 --trace echo-12.trace"
)]
pub struct RunArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// The root seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the trace. Without it, a failing run's trace goes to
    /// traces/<scenario>-seed-<N>.trace and a passing run keeps none.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// A key that turns the trace's hash chain into a MAC.
    #[arg(long)]
    pub key: Option<String>,
    /// Run the seed twice first and compare the traces record for record;
    /// on any difference, show the first differing record and what led to it.
    #[arg(long)]
    pub check_determinism: bool,
    /// Check only this invariant (repeat for more); overrides the
    /// scenario's `[check] invariants`. A name the protocol does not
    /// register is an error.
    #[arg(long = "check", value_name = "INVARIANT")]
    pub checks: Vec<String>,
    #[command(flatten)]
    pub strategy: StrategyArgs,
}

/// How the scheduler chooses the next event, over the scenario's choice.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct StrategyArgs {
    /// `random` (by time: the network's latencies decide), or `pct`
    /// (probabilistic concurrency testing: deliveries by chain priority).
    #[arg(long, value_name = "STRATEGY")]
    pub strategy: Option<String>,
    /// PCT's bug depth d: d − 1 priority change points (default 3).
    #[arg(long, value_name = "D")]
    pub pct_depth: Option<u64>,
    /// How many steps PCT places its change points among (default 1000).
    #[arg(long, value_name = "K")]
    pub pct_steps: Option<u64>,
}

/// The flags that changed the scenario, as they would be typed again.
pub fn override_flags(checks: &[String], strategy: &StrategyArgs) -> String {
    let mut out = String::new();
    for c in checks {
        out.push_str(&format!(" --check {c}"));
    }
    if let Some(s) = &strategy.strategy {
        out.push_str(&format!(" --strategy {s}"));
    }
    if let Some(d) = strategy.pct_depth {
        out.push_str(&format!(" --pct-depth {d}"));
    }
    if let Some(k) = strategy.pct_steps {
        out.push_str(&format!(" --pct-steps {k}"));
    }
    out
}

impl StrategyArgs {
    fn is_empty(&self) -> bool {
        self.strategy.is_none() && self.pct_depth.is_none() && self.pct_steps.is_none()
    }

    /// Writes the strategy the flags ask for into a scenario's `[run]`.
    fn write_into(&self, table: &mut toml::Table) -> Result<(), CliError> {
        if self.is_empty() {
            return Ok(());
        }
        let pct = self.pct_depth.is_some() || self.pct_steps.is_some();
        let name = self.strategy.as_deref().unwrap_or("pct");
        match name {
            "random" if pct => {
                return Err(CliError::input(
                    "--pct-depth and --pct-steps go with --strategy pct",
                ))
            }
            "random" | "pct" => {}
            other => {
                return Err(CliError::input(format!(
                    "--strategy must be random or pct, not {other}"
                )))
            }
        }
        let run = table
            .entry("run")
            .or_insert_with(|| toml::Value::Table(Default::default()));
        let toml::Value::Table(run) = run else {
            return Err(CliError::input("the scenario's `run` is not a table"));
        };
        run.insert("strategy".into(), toml::Value::String(name.into()));
        if name == "random" {
            run.remove("pct_depth");
            run.remove("pct_steps");
        }
        for (key, value) in [("pct_depth", self.pct_depth), ("pct_steps", self.pct_steps)] {
            if let Some(v) = value {
                let v = i64::try_from(v)
                    .map_err(|_| CliError::input(format!("--{key} is too large")))?;
                run.insert(key.into(), toml::Value::Integer(v));
            }
        }
        Ok(())
    }
}

pub fn load(registry: &Registry, path: &Path) -> Result<Scenario, CliError> {
    Scenario::load(path, registry).map_err(CliError::input)
}

/// [`load`], with what the command line changes — `--check` names, a
/// `--strategy` — written into the scenario's own text, so that the trace
/// (whose header carries that text) replays and shrinks as it ran. Each
/// `--check` name must be one of the protocol's invariants.
pub fn load_checked(
    registry: &Registry,
    path: &Path,
    checks: &[String],
    strategy: &StrategyArgs,
) -> Result<Scenario, CliError> {
    let scenario = load(registry, path)?;
    if checks.is_empty() && strategy.is_empty() {
        return Ok(scenario);
    }
    if !checks.is_empty() {
        let protocol = registry
            .get(&scenario.protocol)
            .ok_or_else(|| CliError::input(format!("unknown protocol {}", scenario.protocol)))?;
        let documented = protocol.invariants();
        let mut known: Vec<&str> = documented.iter().map(|i| i.name.as_str()).collect();
        if scenario.linearizable.is_some() {
            known.push("linearizable");
        }
        if scenario.answered.is_some() {
            known.push("answered");
        }
        if let Some(bad) = checks.iter().find(|c| !known.contains(&c.as_str())) {
            return Err(CliError::input(format!(
                "--check {bad}: {}",
                crate::scenario::unknown_check(protocol, bad, &known)
            )));
        }
    }
    let mut table: toml::Table = toml::from_str(&scenario.source).map_err(CliError::input)?;
    if !checks.is_empty() {
        let check = table
            .entry("check")
            .or_insert_with(|| toml::Value::Table(Default::default()));
        if let toml::Value::Table(t) = check {
            // Only what `--check` names: a history check it leaves out
            // goes with its key.
            if !checks.iter().any(|c| c == "linearizable") {
                t.remove("linearizable");
                t.remove("initial");
            }
            if !checks.iter().any(|c| c == "answered") {
                t.remove("answered");
            }
            t.insert(
                "invariants".into(),
                toml::Value::Array(
                    checks
                        .iter()
                        .map(|c| toml::Value::String(c.clone()))
                        .collect(),
                ),
            );
        }
    }
    strategy.write_into(&mut table)?;
    let text = format!(
        "# {} with the command line's changes\n{}",
        scenario.file,
        toml::to_string(&table).map_err(CliError::input)?
    );
    // A place in the rewritten text is no place in the user's file: name
    // the flags instead.
    Scenario::parse(&scenario.file, &text, registry).map_err(|e| {
        CliError::input(format!(
            "{} with{}: {}",
            scenario.file,
            override_flags(checks, strategy),
            e.message
        ))
    })
}

/// Runs `seed` of `scenario`, streaming the trace to `trace` if given.
pub fn run_seed<'a>(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    trace: Option<&'a mut dyn Write>,
    key: Option<&'a [u8]>,
) -> Result<(Resolved, Outcome), CliError> {
    run_seed_with(registry, scenario, seed, trace, key, None, None)
}

/// [`run_seed`], keeping the run's digest ([`crate::trace::Digest`]) in
/// the outcome: how a sweep runs a seed, with or without its trace.
pub fn run_seed_digest<'a>(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    trace: Option<&'a mut dyn Write>,
    key: Option<&'a [u8]>,
) -> Result<(Resolved, Outcome), CliError> {
    run_seed_options(registry, scenario, seed, trace, key, None, None, None, true)
}

/// [`run_seed`], following a recorded schedule if one is given.
pub fn run_seed_with<'a>(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    trace: Option<&'a mut dyn Write>,
    key: Option<&'a [u8]>,
    schedule: Option<std::sync::Arc<crate::network::Schedule>>,
    progress: Option<crate::scheduler::ProgressFn>,
) -> Result<(Resolved, Outcome), CliError> {
    run_seed_options(
        registry, scenario, seed, trace, key, schedule, progress, None, false,
    )
}

#[allow(clippy::too_many_arguments)]
fn run_seed_options<'a>(
    registry: &Registry,
    scenario: &Scenario,
    seed: u64,
    trace: Option<&'a mut dyn Write>,
    key: Option<&'a [u8]>,
    schedule: Option<std::sync::Arc<crate::network::Schedule>>,
    progress: Option<crate::scheduler::ProgressFn>,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    digest: bool,
) -> Result<(Resolved, Outcome), CliError> {
    let resolved = scenario.resolve(seed).map_err(CliError::input)?;
    let protocol = registry.get(&scenario.protocol).ok_or_else(|| {
        CliError::input(format!(
            "{}: unknown protocol {}",
            scenario.file, scenario.protocol
        ))
    })?;
    let options = RunOptions {
        trace,
        key,
        invariants: resolved.invariants.clone(),
        linearizable: resolved.linearizable.clone(),
        answered: resolved.answered,
        digest,
        first_failure_only: false,
        schedule,
        progress,
        stop,
    };
    let outcome = protocol
        .run(resolved.config.clone(), &resolved.params, options)
        .map_err(|e| CliError::input(format!("{}: seed {seed}: {e}", scenario.file)))?;
    Ok((resolved, outcome))
}

/// `traces/<stem>-seed-<N>.trace`, or the same name under `dir`.
pub fn default_trace_path(dir: &Path, scenario: &Scenario, seed: u64) -> PathBuf {
    let stem = Path::new(&scenario.file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("run");
    dir.join(format!("{stem}-seed-{seed}.trace"))
}

pub fn run(registry: &Registry, args: RunArgs) -> Result<(), CliError> {
    let scenario = load_checked(registry, &args.scenario, &args.checks, &args.strategy)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    if args.check_determinism {
        check_determinism(registry, &scenario, seed)?;
    }
    let keep_always = args.trace.is_some();
    let path = args
        .trace
        .clone()
        .unwrap_or_else(|| default_trace_path(Path::new("traces"), &scenario, seed));
    super::files::refuse_overwrite(&path, &[&args.scenario])?;
    // With --trace the run streams to a file beside the trace, renamed
    // into place when the run ends (a run cut short by an error keeps what
    // it wrote as NAME.partial). Without it, to a scratch file in the
    // temporary directory, removed on every way out, and only a failing
    // run's trace is copied into traces/: a passing run never creates,
    // overwrites or deletes anything there (it is the regression corpus).
    enum Out {
        Kept(super::files::Partial),
        Scratch(tempfile::NamedTempFile),
    }
    let mut out = if keep_always {
        Out::Kept(super::files::Partial::create(&path)?)
    } else {
        Out::Scratch(
            tempfile::Builder::new()
                .prefix("dsim-run-")
                .suffix(".trace")
                .tempfile()
                .map_err(|e| CliError::input(format!("cannot create a scratch trace: {e}")))?,
        )
    };
    // Ctrl-C (or a CI job's SIGINT) ends the run where it has got to, and
    // its trace is sealed and kept like a failing run's: nothing recorded
    // is lost. A second Ctrl-C a second or more later (a handler that never
    // returns) quits at once; one that comes with the first (`timeout`
    // signals the process and its group) does not.
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let first = std::sync::Mutex::new(None::<std::time::Instant>);
        let _ = ctrlc::set_handler(move || {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            let Ok(mut first) = first.lock() else { return };
            match *first {
                Some(at) if at.elapsed() >= std::time::Duration::from_secs(1) => {
                    std::process::exit(130)
                }
                Some(_) => {}
                None => *first = Some(std::time::Instant::now()),
            }
        });
    }
    let started = std::time::Instant::now();
    let spinner = Spinner::new(started);
    let report = spinner.reporter();
    let result = {
        // The trace writer writes whole frames: no buffering needed.
        let shown = match &out {
            Out::Kept(_) => path.clone(),
            Out::Scratch(t) => t.path().to_path_buf(),
        };
        let mut file = Named(
            match &mut out {
                Out::Kept(p) => p.file(),
                Out::Scratch(t) => t.as_file_mut(),
            },
            &shown,
        );
        run_seed_options(
            registry,
            &scenario,
            seed,
            Some(&mut file),
            args.key.as_deref().map(str::as_bytes),
            None,
            Some(report),
            Some(interrupted),
            false,
        )
    };
    spinner.finish();
    let wall = started.elapsed();
    let (resolved, outcome) = match result {
        Ok(r) => r,
        Err(e) => {
            if let Out::Kept(p) = out {
                if let Some(kept) = p.keep_partial() {
                    eprintln!(
                        "note: what the run wrote before the error is in {}",
                        kept.display()
                    );
                }
            }
            return Err(e);
        }
    };
    let failed = outcome.failure.is_some();
    // A history check the run could not judge: not a pass (exit 2), and
    // the trace is kept for a look (`dsim check --linearizable`).
    // Nor can a run that judged none of its checks (each not run).
    let unjudged = outcome.unjudged();
    let cut = outcome.end == crate::trace::EndReason::Interrupted;
    match out {
        Out::Kept(p) => p.commit()?,
        Out::Scratch(mut t) if failed || unjudged.is_some() || cut => {
            let mut dest = super::files::Partial::create(&path)?;
            let fail = |e: std::io::Error| {
                CliError::input(format!("cannot write {}: {e}", path.display()))
            };
            t.as_file_mut()
                .seek(std::io::SeekFrom::Start(0))
                .map_err(fail)?;
            std::io::copy(t.as_file_mut(), dest.file()).map_err(fail)?;
            dest.commit()?;
        }
        Out::Scratch(_) => {}
    }
    print_summary(
        &scenario,
        &resolved,
        &outcome,
        wall,
        (failed || unjudged.is_some() || keep_always || cut).then_some(path.as_path()),
    );
    if let Some(f) = &outcome.failure {
        println!(
            "FAILED     check `{}` at record {} (t={}): {}",
            plain(&f.check),
            f.record,
            f.time,
            plain(&f.message)
        );
        if let Some(due) = &f.due {
            println!("liveness   {}", plain(due));
        }
        // Checks judged past the failure that failed too (not in the
        // trace, which ends at the failure).
        for (check, message) in outcome.also_failed() {
            println!(
                "also       check `{}` failed too, judged past that failure: {}",
                plain(check),
                plain(message)
            );
        }
        println!(
            "reproduce  {} run {} --seed {seed}{}",
            super::program(),
            scenario.file,
            override_flags(&args.checks, &args.strategy)
        );
        return Err(CliError::CheckFailed);
    }
    if cut {
        // Not a pass: the run did not get to its end.
        return Err(CliError::input(format!(
            "{}: seed {seed}: the run was interrupted at {} after {} node events; its trace holds everything up to there: {}",
            scenario.file,
            outcome.stats.time,
            outcome.stats.events,
            path.display()
        )));
    }
    match unjudged {
        Some(why) => Err(CliError::input(format!(
            "{}: seed {seed}: {why}",
            scenario.file
        ))),
        None => Ok(()),
    }
}

/// A file whose write errors name it.
struct Named<'a>(&'a mut File, &'a Path);

impl Write for Named<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes).map_err(|e| self.named(e))
    }
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes).map_err(|e| self.named(e))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(|e| self.named(e))
    }
}

impl Named<'_> {
    fn named(&self, e: std::io::Error) -> std::io::Error {
        std::io::Error::new(e.kind(), format!("{}: {e}", self.1.display()))
    }
}

fn print_summary(
    scenario: &Scenario,
    resolved: &Resolved,
    outcome: &Outcome,
    wall: std::time::Duration,
    trace: Option<&Path>,
) {
    let s = &outcome.stats;
    let c = &resolved.config;
    println!(
        "scenario   {} ({} protocol, {} node{})",
        scenario.file,
        scenario.protocol,
        c.nodes,
        if c.nodes == 1 { "" } else { "s" }
    );
    println!("seed       {}", c.seed);
    if let Some(drawn) = resolved.drawn_words() {
        println!("drawn      {drawn}");
    }
    println!(
        "events     {} node events, {} records, virtual time {}, wall {:.3}s",
        s.events,
        s.records,
        s.time,
        wall.as_secs_f64()
    );
    let lost: Vec<String> = s.lost.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "messages   sent {}, delivered {}, lost {}{}, duplicated {}, corrupted {}",
        s.sent,
        s.delivered,
        s.lost_total(),
        if lost.is_empty() {
            String::new()
        } else {
            format!(" ({})", lost.join(", "))
        },
        s.duplicated,
        s.corrupted
    );
    // A planned fault that did nothing is said, as a workload the run
    // ended before is: its message was never sent, was the adversary's, or
    // was lost before it could be duplicated.
    let mut missed: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for &(m, f, why) in &outcome.planned_missed {
        let list = match f {
            MessageFault::Lose => "lose_messages",
            MessageFault::Duplicate => "duplicate_messages",
        };
        missed.entry(why).or_default().push(format!("{list} {m}"));
    }
    for (why, faults) in missed {
        let why = match why {
            "never sent" => format!("the run sent {} messages (ids from 0)", s.sent),
            why => format!(
                "{} {why}",
                if faults.len() == 1 {
                    "its message was"
                } else {
                    "their messages were"
                }
            ),
        };
        println!("planned    {} never happened: {why}", faults.join(", "));
    }
    // So is a crash whose trigger never came.
    for (_, why) in untriggered(outcome)
        .into_iter()
        .chain(aimed_at_none(outcome))
    {
        println!("planned    {why}");
    }
    let count = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    println!(
        "faults     {} (partitions, heals, wires, skews, pauses), {}, {}",
        count(
            s.faults,
            "network or clock fault",
            "network and clock faults"
        ),
        count(s.crashes, "crash", "crashes"),
        count(s.restarts, "restart", "restarts")
    );
    // A clock set back past zero stood still: a protocol that measured
    // time with it saw no time pass, which no real clock does.
    for h in &outcome.clocks_held {
        println!("clock      {}", h.describe(s.time));
    }
    if c.disk.unsynced_kept > crate::rng::Ppm::ZERO {
        println!(
            "disk       at crashes, of the writes not yet synced, {} kept and {} lost (each kept with chance {}: [disk] unsynced_kept)",
            s.unsynced_kept, s.unsynced_lost, c.disk.unsynced_kept
        );
    }
    // An empty workload is said: the checks held over no operation.
    if c.workload.as_ref().is_some_and(|w| w.count == 0) {
        println!(
            "workload   none: its count is 0{}, so the checks saw no client operation",
            if c.drawn.contains_key("workload.count") {
                " (drawn for this seed)"
            } else {
                ""
            }
        );
    }
    // A workload the run ended before issuing is said: a check that held
    // over 1,300 operations did not hold over the 100,000 asked for.
    if let Some(w) = c.workload.as_ref().filter(|w| w.count > 0) {
        let asked = w.count - w.skip.len() as u64;
        println!(
            "workload   {} of {asked} client operations issued{}",
            s.inputs.min(asked),
            not_issued(asked, s.inputs, outcome)
        );
    }
    // Operations left unanswered are said: a history of nothing answered
    // is linearizable, and a run can pass while its protocol stalls.
    if s.history > 0 {
        let (invoked, open) = s.operations();
        println!(
            "history    {invoked} client operations invoked, {} answered (ok, fail or info){}{}",
            s.answered,
            if s.few_ok() && outcome.checks.iter().any(|c| c.name == "linearizable") {
                format!(
                    "; only {} completed `ok`, the others `fail`, `info` (outcome unknown) or unanswered: a history check had little to judge",
                    s.ok
                )
            } else {
                String::new()
            },
            match open {
                0 => String::new(),
                n => format!(
                    "; {n} still open at the end{}",
                    if !outcome.checks.iter().any(|c| c.name == "answered") {
                        " (`[check] answered = \"1s\"` fails a run that leaves any open once calm)"
                    } else {
                        ""
                    }
                ),
            }
        );
    }
    match outcome.end {
        crate::trace::EndReason::EventLimit => println!(
            "end        event limit: {} events handled (deliveries, timers, inputs) by {}, \
             before the time limit ({}); what would have come after was never simulated: \
             raise `[run] events` if the protocol is this busy, or look for a message storm",
            c.limits.events, s.time, c.limits.time
        ),
        end => println!("end        {}", end.name()),
    }
    // What the kernel evaluated, not what the protocol documents: a check
    // that did not run says so.
    let failed = outcome.failure.is_some();
    let verdicts: Vec<String> = outcome
        .checks
        .iter()
        .map(|c| format!("{} {}", c.name, c.verdict(failed)))
        .collect();
    if verdicts.is_empty() {
        println!("checks     none (the run checked no protocol invariant)");
    } else {
        println!("checks     {}", verdicts.join("; "));
    }
    match (trace, outcome.trace_hash) {
        (Some(p), Some(h)) => println!("trace      {} (hash {})", p.display(), &hex(&h)[..16]),
        (None, Some(h)) => println!(
            "trace      not kept (the run passed; pass --trace FILE to keep it; hash {})",
            &hex(&h)[..16]
        ),
        _ => {}
    }
}

/// Runs `seed` twice and compares the traces record for record.
fn check_determinism(registry: &Registry, scenario: &Scenario, seed: u64) -> Result<(), CliError> {
    let mut first = Vec::new();
    let mut second = Vec::new();
    run_seed(registry, scenario, seed, Some(&mut first), None)?;
    run_seed(registry, scenario, seed, Some(&mut second), None)?;
    let read = |b: &[u8]| {
        crate::trace::read_all(b, None).map_err(|e| {
            CliError::input(format!("a trace written in memory does not read back: {e}"))
        })
    };
    let (_, a, hash) = read(&first)?;
    let (_, b, _) = read(&second)?;
    match crate::replay::first_divergence(&a, &b) {
        None => {
            println!(
                "determinism  two runs of seed {seed} gave identical traces ({} records, hash {})",
                a.len(),
                &hex(&hash)[..16]
            );
            Ok(())
        }
        Some(d) => {
            println!(
                "NONDETERMINISTIC  two runs of seed {seed} differ first at record #{}",
                d.index
            );
            let decode = registry.get(&scenario.protocol).map(super::ByProtocol);
            let decode = decode.as_ref().map(|d| d as _);
            super::replay::print_divergence(&d, "run 1", "run 2", [decode; 2]);
            println!("{}", crate::replay::LOOK_FOR);
            Err(CliError::CheckFailed)
        }
    }
}

/// Progress of a long run on standard error: a spinner on a terminal, a
/// line every few seconds otherwise; nothing for a run that ends within a
/// second. Wall time here only paces what people see; the run never reads
/// it.
struct Spinner {
    bar: std::sync::Arc<std::sync::Mutex<Option<indicatif::ProgressBar>>>,
    started: std::time::Instant,
}

impl Spinner {
    fn new(started: std::time::Instant) -> Spinner {
        Spinner {
            bar: Default::default(),
            started,
        }
    }

    fn reporter(&self) -> crate::scheduler::ProgressFn {
        use std::io::IsTerminal;
        let bar = self.bar.clone();
        let started = self.started;
        let last_line = std::sync::Mutex::new(None::<u64>);
        std::sync::Arc::new(move |events, now| {
            let secs = started.elapsed().as_secs();
            if secs < 1 {
                return;
            }
            let msg = format!("{events} node events, virtual time {now}");
            if std::io::stderr().is_terminal() {
                let Ok(mut slot) = bar.lock() else { return };
                let b = slot.get_or_insert_with(|| {
                    let b = indicatif::ProgressBar::new_spinner();
                    b.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} running: {msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                    );
                    b
                });
                b.set_message(msg);
                b.tick();
            } else if let Ok(mut last) = last_line.lock() {
                if last.is_none_or(|l| secs >= l + 5) {
                    *last = Some(secs);
                    eprintln!("progress: {msg}");
                }
            }
        })
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().ok().and_then(|mut s| s.take()) {
            b.finish_and_clear();
        }
    }
}

/// Why some of the `asked` workload operations were not issued: aimed at
/// a node that was down when they arrived, or still to come when the run
/// ended.
fn not_issued(asked: u64, issued: u64, outcome: &Outcome) -> String {
    let missing = asked.saturating_sub(issued);
    let down = outcome.inputs_at_down.min(missing);
    let mut why = Vec::new();
    if down > 0 {
        why.push(match down {
            1 => "1 was aimed at a node that was down when it arrived".to_string(),
            n => format!("{n} were aimed at a node that was down when they arrived"),
        });
    }
    match (missing - down, down) {
        (0, _) => {}
        (_, 0) => why.push(format!(
            "the run ended ({}) before the rest",
            outcome.end.name()
        )),
        (n, _) => why.push(format!(
            "the run ended ({}) before the other {n}",
            outcome.end.name()
        )),
    }
    why.iter().map(|w| format!("; {w}")).collect()
}

/// Each planned fault of the run that never happened: (what was planned,
/// the same for every seed of a scenario; what happened, in words). A
/// sweep counts the seeds each one missed in.
pub(crate) fn missed_faults(outcome: &crate::scheduler::Outcome) -> Vec<(String, String)> {
    let mut missed: Vec<(String, String)> = outcome
        .planned_missed
        .iter()
        .map(|&(m, f, why)| {
            let planned = match f {
                MessageFault::Lose => format!("lose_messages {m}"),
                MessageFault::Duplicate => format!("duplicate_messages {m}"),
            };
            let why = match why {
                "never sent" => {
                    format!("the run sent {} messages (ids from 0)", outcome.stats.sent)
                }
                why => format!("its message was {why}"),
            };
            let words = format!("{planned} never happened: {why}");
            (planned, words)
        })
        .collect();
    missed.extend(untriggered(outcome));
    missed.extend(aimed_at_none(outcome));
    missed
}

/// Each fault aimed at a role that no up node played when it came: (what
/// was planned, the same for every seed of a scenario; what happened, in
/// words).
pub(crate) fn aimed_at_none(outcome: &crate::scheduler::Outcome) -> Vec<(String, String)> {
    outcome
        .aimed_at_none
        .iter()
        .map(|(at, role, why)| {
            if *why == "unfallen" {
                return (
                    format!("pause = {role} in a handler"),
                    format!(
                        "the pause of {role} that came at {at} to fall in its next handler that \
                         sends or answers never fell: {role} sent and answered nothing before its \
                         resume"
                    ),
                );
            }
            let (key, what) = match *why {
                "crash" => ("crash", "crash"),
                "pause" => ("pause", "pause"),
                _ => ("isolate", "isolation"),
            };
            let why = match *why {
                "alone" => format!(
                    "every up node but whoever was {role} plays no role, so nothing was cut"
                ),
                _ => format!("no up node was {role} then"),
            };
            (
                format!("{key} = \"{role}\""),
                format!("the {what} of whoever is {role} at {at} never happened: {why}"),
            )
        })
        .collect()
}

/// Each crash of the run whose trigger never came: (what was planned, the
/// same for every seed of a scenario; what happened, in words).
pub(crate) fn untriggered(outcome: &crate::scheduler::Outcome) -> Vec<(String, String)> {
    outcome
        .untriggered
        .iter()
        .map(|&(t, handled)| {
            (
                format!("a crash set off by {}'s {}", t.node, t.counts()),
                format!(
                    "the crash after {t} never happened: {} {} {handled} message{}",
                    t.node,
                    t.of.words().2,
                    if handled == 1 { "" } else { "s" }
                ),
            )
        })
        .collect()
}
