//! `dsim replay`: rerun a trace's seed and prove the trace identical, or
//! drive the protocol with the trace's recorded schedule.

use super::CliError;
use crate::protocols::Registry;
use crate::replay::{first_divergence_of, Divergence, Recipe, ScheduleBuilder};
use crate::show::plain;
use crate::show::text;
use crate::trace::{read_all, Header, Record};
use clap::Args;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Replay a trace: by default rerun its scenario and seed and compare record
/// for record; with --schedule, follow its recorded network decisions.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim replay traces/echo-bug-no-dedup-seed-3.trace\n  dsim replay traces/echo-bug-no-dedup-seed-3.trace --schedule --scenario scenarios/echo-lossy.toml\n  dsim replay old.trace -o new.trace    # an older format's run, written in today's"
)]
pub struct ReplayArgs {
    /// The trace file, or a directory: a regression corpus, every trace in
    /// it replayed under the rules of `traces/README.md` (as
    /// `dsim::testing::assert_corpus` does in a test).
    pub trace: PathBuf,
    /// Run this scenario instead of the one recorded in the trace (a fixed
    /// build or a changed parameter, say).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Follow the recorded network decisions instead of the random stream.
    #[arg(long)]
    pub schedule: bool,
    /// The key of a keyed trace.
    #[arg(long)]
    pub key: Option<String>,
    /// Write the replayed run's trace to this file, in today's trace
    /// format (with --schedule, or for a trace of an older format, the
    /// recorded run written anew).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// Reads a whole trace, naming the file in any error.
pub fn read_trace(
    path: &Path,
    key: Option<&[u8]>,
) -> Result<(Header, Vec<Record<'static>>), CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let (header, records, _) =
        read_all(&bytes, key).map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    Ok((header, records))
}

/// The scenario a trace was recorded from, or the one given instead.
pub fn scenario_for(
    registry: &Registry,
    trace: &Path,
    header: &Header,
    given: Option<&Path>,
) -> Result<crate::scenario::Scenario, CliError> {
    match given {
        Some(path) => crate::scenario::Scenario::load(path, registry).map_err(CliError::input),
        None if header.config.trim().is_empty() => Err(CliError::input(format!(
            "{}: the trace does not carry its scenario (it was not written by `{p} run`, `{p} sweep` or a property test's `check_protocol`); pass --scenario FILE (a property test's `check` failure reruns with the `reproduce` line it printed)",
            trace.display(),
            p = super::program()
        ))),
        None => crate::scenario::Scenario::parse(&header.scenario, &header.config, registry)
            .map_err(|e| CliError::input(format!("{} (the scenario recorded in {}): {e}", header.scenario, trace.display()))),
    }
}

/// Names the scenario file in messages.
struct ScenarioName {
    file: String,
}

/// How to rerun a trace: its own recipe (shrunk traces), or its scenario
/// and seed; with `given`, that scenario's protocol and parameters (a fixed
/// build, say) over the trace's own configuration.
pub fn recipe_for(
    registry: &Registry,
    trace: &Path,
    header: &Header,
    given: Option<&Path>,
) -> Result<Recipe, CliError> {
    let own = if header.replay.is_empty() {
        None
    } else {
        Some(
            Recipe::from_json(&header.replay)
                .map_err(|e| CliError::input(format!("{}: {e}", trace.display())))?,
        )
    };
    let from_scenario = |s: &crate::scenario::Scenario| -> Result<Recipe, CliError> {
        let r = s.resolve(header.seed).map_err(CliError::input)?;
        Ok(Recipe {
            protocol: s.protocol.clone(),
            config: r.config,
            params: r.params,
            invariants: r.invariants,
            linearizable: r.linearizable,
            answered: r.answered,
        })
    };
    match (own, given) {
        (Some(mut recipe), Some(path)) => {
            let fixed = from_scenario(
                &crate::scenario::Scenario::load(path, registry).map_err(CliError::input)?,
            )?;
            recipe.protocol = fixed.protocol;
            recipe.params = fixed.params;
            recipe.invariants = fixed.invariants;
            recipe.linearizable = fixed.linearizable;
            recipe.answered = fixed.answered;
            Ok(recipe)
        }
        (Some(recipe), None) => Ok(recipe),
        (None, _) => from_scenario(&scenario_for(registry, trace, header, given)?),
    }
}

/// The protocol a recipe names, with the recipe's parameters checked
/// against what that protocol declares today.
pub fn protocol_for<'r>(
    registry: &'r Registry,
    trace: &Path,
    recipe: &mut Recipe,
) -> Result<&'r dyn crate::protocols::Protocol, CliError> {
    let protocol = registry.get(&recipe.protocol).ok_or_else(|| {
        let names = registry.names();
        let hint = crate::names::did_you_mean(&recipe.protocol, names.iter().copied(), '`');
        CliError::input(format!(
            "{}: the trace's protocol `{}` is not in this program{hint} (it has {})",
            trace.display(),
            recipe.protocol,
            names.join(", ")
        ))
    })?;
    recipe.params = crate::protocols::Params::resolve(&protocol.params(), &recipe.params.0)
        .map_err(|e| {
            CliError::input(format!(
                "{}: the trace's parameters do not fit protocol `{}` as it is now: {e}",
                trace.display(),
                recipe.protocol
            ))
        })?;
    Ok(protocol)
}

/// Prints where two record lists part ways, with what led there.
/// `decode` reads payloads and timer tags: the left side's (and the
/// context's) and the right side's, which differ when two protocols'
/// traces are compared.
pub fn print_divergence(
    d: &Divergence,
    left: &str,
    right: &str,
    decode: [Option<text::Decoder<'_>>; 2],
) {
    for line in divergence_lines(d, left, right, decode) {
        println!("{line}");
    }
}

/// The lines [`print_divergence`] prints.
pub fn divergence_lines(
    d: &Divergence,
    left: &str,
    right: &str,
    decode: [Option<text::Decoder<'_>>; 2],
) -> Vec<String> {
    let mut out = Vec::new();
    let start = d.index.saturating_sub(d.context.len());
    if !d.context.is_empty() {
        out.push("context (the records before, identical in both):".to_string());
        for (i, r) in d.context.iter().enumerate() {
            out.push(format!(
                "  {}",
                text::line((start + i) as u64, r, decode[0])
            ));
        }
    }
    let show = |r: &Option<Record<'static>>, decode| match r {
        Some(r) => text::line(d.index as u64, r, decode),
        None => "(no record: the trace ends here)".to_string(),
    };
    let (l, r) = (show(&d.left, decode[0]), show(&d.right, decode[1]));
    out.push(format!("{left:<10} {l}"));
    out.push(format!("{right:<10} {r}"));
    if l == r {
        // Decoded alike, recorded apart: a hash map's order in the bytes,
        // say, that decoding into another hash map hides.
        out.push("(the two read alike once decoded; as recorded:)".to_string());
        let raw = |r: &Option<Record<'static>>| r.as_ref().map(|r| format!("{:?}", r.kind));
        out.push(format!("{left:<10} {}", raw(&d.left).unwrap_or_default()));
        out.push(format!("{right:<10} {}", raw(&d.right).unwrap_or_default()));
    }
    out
}

/// `dsim replay DIR`: the corpus in DIR, each trace's verdict and problems.
fn replay_corpus(registry: &Registry, args: &ReplayArgs) -> Result<(), CliError> {
    let dir = args.trace.display();
    if args.schedule || args.scenario.is_some() || args.output.is_some() || args.key.is_some() {
        return Err(CliError::input(format!(
            "{dir} is a directory: a corpus replays each trace by its own rules (its `.expect` file names a fixed scenario); --schedule, --scenario, --key and -o are for one trace"
        )));
    }
    let replayed = crate::testing::replay_corpus(registry, &args.trace).map_err(CliError::input)?;
    if !replayed
        .iter()
        .any(|r| r.file.extension().is_some_and(|e| e == "trace"))
    {
        return Err(CliError::input(format!(
            "{dir}: no `*.trace` in the corpus, so it checks nothing"
        )));
    }
    for r in &replayed {
        let verdict = if r.holds() { "ok" } else { "FAILS" };
        println!("{verdict:<6} {}: {}", r.file.display(), plain(&r.summary));
        for p in &r.problems {
            for line in p.lines() {
                println!("         {}", plain(line));
            }
        }
    }
    let bad = replayed.iter().filter(|r| !r.holds()).count();
    println!(
        "corpus {dir}: {} files, {} behave as recorded, {bad} do not",
        replayed.len(),
        replayed.len() - bad
    );
    // A trace that does not read is bad input, as it is to `replay FILE`;
    // so is an `.expect` file that does not read or names a scenario that
    // does not, and one with no trace beside it.
    if let Some(r) = replayed.iter().find(|r| r.bad_input) {
        let what = if r.summary == crate::testing::UNREADABLE {
            "the trace does not read"
        } else {
            "a file it needs is missing or does not read"
        };
        return Err(CliError::input(format!(
            "{}: {what} (above)",
            r.file.display()
        )));
    }
    if bad > 0 {
        Err(CliError::CheckFailed)
    } else {
        Ok(())
    }
}

/// How a recording ended, seen record by record.
#[derive(Default)]
struct Ended {
    /// The end record's reason, virtual time and count of records.
    end: Option<(crate::trace::EndReason, crate::time::Instant, u64)>,
}

impl Ended {
    fn see(&mut self, r: &Record<'_>) {
        if let crate::trace::Kind::End { reason, records } = r.kind {
            self.end = Some((reason, r.time, records));
        }
    }

    /// When an interrupted recording stopped, and after how many records.
    fn interrupted(&self) -> Option<(crate::time::Instant, u64)> {
        self.end
            .filter(|(reason, ..)| *reason == crate::trace::EndReason::Interrupted)
            .map(|(_, at, records)| (at, records))
    }
}

/// What one read through a trace tells before it is rerun: its header,
/// its first failed check, and whether it was interrupted.
pub struct Recording {
    /// The trace's header.
    pub header: Header,
    /// Its first failed check: the record's index, the check, the message.
    pub failed: FirstFailure,
    /// The recording was interrupted (`dsim run` on Ctrl-C) at this
    /// virtual time, after this many records.
    pub interrupted: Option<(crate::time::Instant, u64)>,
}

impl Recording {
    /// The same, of a trace already read into memory.
    pub fn of(header: Header, records: &[Record<'_>]) -> Recording {
        let mut ended = Ended::default();
        records.iter().for_each(|r| ended.see(r));
        Recording {
            header,
            failed: crate::trace::first_failure(records)
                .map(|(i, check, message)| (i, check.to_string(), message.to_string())),
            interrupted: ended.interrupted(),
        }
    }
}

/// A trace rerun: what the rerun wrote, and where it first differs from
/// the recording. Neither trace is held as records: a replay of millions of
/// records compares them as they are read.
pub struct Rerun {
    /// The rerun's trace, as written: an anonymous temporary file, so that
    /// a long run's trace is not held in memory either.
    pub trace: std::fs::File,
    /// How the rerun ended.
    pub outcome: crate::Outcome,
    /// The recorded schedule the rerun followed (`None`: it reran the seed).
    pub schedule: Option<Arc<crate::network::Schedule>>,
    /// The first record where the two differ (`None`: record for record the
    /// same). Deliveries of a trace format that recorded their vector clocks
    /// otherwise are compared without them.
    pub divergence: Option<Divergence>,
    /// When the rerun differed from the recording, a second rerun was made:
    /// where the two reruns differ from each other (`None`: they agree, so
    /// the protocol, its parameters or dsim changed since the recording).
    /// Two runs of one recipe that differ mean something outside the seed
    /// decides what the protocol does.
    pub unsteady: Option<Divergence>,
    /// What was run: protocol, configuration, parameters, checks.
    pub recipe: Recipe,
    /// The recording was interrupted (`dsim run` on Ctrl-C) at this
    /// virtual time, after this many records: the rerun was stopped soon
    /// after and compared up to there.
    pub interrupted: Option<(crate::time::Instant, u64)>,
}

/// The records of the trace file at `path`, read as a stream; an error
/// names the file.
pub(crate) fn stream<'p>(
    path: &'p Path,
    key: Option<&[u8]>,
) -> Result<impl Iterator<Item = Result<Record<'static>, CliError>> + 'p, CliError> {
    let named =
        move |e: crate::trace::TraceError| CliError::input(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let reader =
        crate::trace::TraceReader::new(std::io::BufReader::new(file), key).map_err(named)?;
    Ok(reader.map(move |r| r.map_err(named)))
}

/// A trace's first failed check: its record's index, the check, the message.
pub type FirstFailure = Option<(usize, String, String)>;

/// A trace's header, its first failed check and how it ended, read
/// through once as a stream: an error names the file and the place of the
/// first damage, as [`read_trace`] does, without holding the records.
pub fn scan_trace(path: &Path, key: Option<&[u8]>) -> Result<Recording, CliError> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let mut reader = crate::trace::TraceReader::new(std::io::BufReader::new(file), key)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut failed = None;
    let mut ended = Ended::default();
    for (i, r) in reader.by_ref().enumerate() {
        let r = r.map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        ended.see(&r);
        if let (None, crate::trace::Kind::CheckFailed { check, message }) = (&failed, &r.kind) {
            failed = Some((i, check.to_string(), message.to_string()));
        }
    }
    Ok(Recording {
        header: reader.header().clone(),
        failed,
        interrupted: ended.interrupted(),
    })
}

/// Reruns the trace at `trace` (`recording`: what [`scan_trace`] or
/// [`Recording::of`] tells of it) as `dsim replay` does: a shrunk trace, or one
/// of a format whose seed drew its fates another way, by its recorded
/// schedule; others by their scenario and seed, or by the schedule when
/// `schedule` is set. `scenario` runs that scenario's protocol,
/// parameters and checks instead of the recorded ones (a fixed build,
/// say). `carry_recipe`: a rerun that followed a schedule records it, so
/// that its own trace replays the same way.
///
/// The recording is read as a stream, once more to take its schedule
/// when it is followed, and once to compare; the rerun's trace is written
/// to a temporary file and read back the same way.
pub fn rerun(
    registry: &Registry,
    trace: &Path,
    recording: &Recording,
    key: Option<&[u8]>,
    scenario: Option<&Path>,
    schedule: bool,
    carry_recipe: bool,
) -> Result<Rerun, CliError> {
    let header = &recording.header;
    let mut recipe = recipe_for(registry, trace, header, scenario)?;
    let protocol = protocol_for(registry, trace, &mut recipe)?;
    // A shrunk trace replays by its recorded schedule, always; so does one
    // whose seed drew its fates another way.
    let by_schedule = schedule
        || !header.replay.is_empty()
        || header.format_version < crate::trace::FATE_DRAW_VERSION;
    // Where an interrupted recording stopped, to stop the rerun there too.
    let interrupted = recording.interrupted;
    let schedule = match by_schedule {
        false => None,
        true => {
            let explored = matches!(
                recipe.config.strategy,
                crate::config::Strategy::Explore { .. }
            );
            // Followed by position on each link: what each send carried
            // is not needed.
            let mut builder = ScheduleBuilder::by_position();
            let mut steps = crate::replay::ExploredSteps::default();
            for r in stream(trace, key)? {
                let r = r?;
                builder.add(&r);
                if explored {
                    steps.add(&r);
                }
            }
            let mut s = builder.finish();
            if explored {
                s.steps = steps.steps;
                s.cuts = steps.cuts;
            }
            Some(Arc::new(s))
        }
    };
    let mut config = recipe.config.clone();
    if by_schedule && carry_recipe {
        // The run written anew carries its recipe, so that it too replays
        // by its schedule (its seed drew another run, or none at all).
        let mut carried = recipe.clone();
        carried.config.replay = String::new();
        config.replay = carried.to_json();
    }
    let run_once = || -> Result<(crate::Outcome, std::fs::File), CliError> {
        let scratch = |e: std::io::Error| {
            CliError::input(format!(
                "cannot write the rerun's trace to a temporary file: {e}"
            ))
        };
        let mut out = std::io::BufWriter::new(tempfile::tempfile().map_err(scratch)?);
        // An interrupted recording ends where a person stopped it: the
        // rerun is stopped soon after it passes that virtual time, and the
        // two are compared up to the recording's end.
        let (progress, stop) = match interrupted {
            Some((at, _)) => {
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let flag = stop.clone();
                let progress: crate::scheduler::ProgressFn = Arc::new(move |_, now| {
                    if now > at {
                        flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                });
                (Some(progress), Some(stop))
            }
            None => (None, None),
        };
        let options = crate::protocols::RunOptions {
            trace: Some(&mut out),
            key,
            invariants: recipe.invariants.clone(),
            linearizable: recipe.linearizable.clone(),
            answered: recipe.answered,
            digest: false,
            first_failure_only: false,
            schedule: schedule.clone(),
            progress,
            stop,
        };
        let outcome = protocol
            .run(config.clone(), &recipe.params, options)
            .map_err(|e| CliError::input(format!("{}: {e}", trace.display())))?;
        let file = out.into_inner().map_err(|e| scratch(e.into_error()))?;
        Ok((outcome, file))
    };
    // A trace of a format before 5 records raised entries where today's
    // records digests: deliveries are compared without their clocks.
    let older_clocks = header.format_version < crate::trace::CLOCK_DIGEST_VERSION;
    let comparable = move |r: Result<Record<'static>, CliError>| {
        r.map(|mut r| {
            if older_clocks {
                crate::replay::forget_delivery_clocks(std::slice::from_mut(&mut r));
            }
            r
        })
    };
    let (outcome, written) = run_once()?;
    let divergence = first_divergence_of(
        stream(trace, key)?.map(comparable),
        replayed(&written, key)?.map(comparable),
        true,
    )?
    // An interrupted recording is matched up to its end: the rerun went on.
    .filter(|d| {
        !matches!(
            d.left.as_ref().map(|r| &r.kind),
            Some(crate::trace::Kind::End {
                reason: crate::trace::EndReason::Interrupted,
                ..
            })
        )
    });
    // A rerun that differs from the recording: run it once more, to tell a
    // protocol that changed since (the two reruns agree) from one that
    // does not decide the same way twice (they differ).
    let unsteady = match divergence {
        Some(_) => {
            let (_, again) = run_once()?;
            let unsteady = first_divergence_of(
                replayed(&written, key)?.map(comparable),
                replayed(&again, key)?.map(comparable),
                false,
            )?;
            unsteady
        }
        None => None,
    };
    Ok(Rerun {
        interrupted,
        trace: written,
        outcome,
        schedule,
        divergence,
        unsteady,
        recipe,
    })
}

/// The records of a trace a rerun just wrote, read as a stream from its
/// start.
fn replayed<'f>(
    file: &'f std::fs::File,
    key: Option<&[u8]>,
) -> Result<impl Iterator<Item = Result<Record<'static>, CliError>> + 'f, CliError> {
    let unreadable = |e: crate::trace::TraceError| {
        CliError::input(format!("the replayed trace does not read back: {e}"))
    };
    let mut file = file;
    std::io::Seek::rewind(&mut file)
        .map_err(|e| unreadable(crate::trace::TraceError::Io(e.to_string())))?;
    let reader =
        crate::trace::TraceReader::new(std::io::BufReader::new(file), key).map_err(unreadable)?;
    Ok(reader.map(move |r| r.map_err(unreadable)))
}

pub fn replay(registry: &Registry, args: ReplayArgs) -> Result<(), CliError> {
    if args.trace.is_dir() {
        return replay_corpus(registry, &args);
    }
    let key = args.key.as_deref().map(str::as_bytes);
    if let Some(out) = &args.output {
        let mut inputs = vec![args.trace.as_path()];
        inputs.extend(args.scenario.as_deref());
        super::files::refuse_overwrite(out, &inputs)?;
    }
    // Read through once, as a stream: a damaged trace is refused before
    // anything runs, and no record is held.
    let recording = scan_trace(&args.trace, key)?;
    let header = &recording.header;
    let older = header.format_version < crate::trace::FORMAT_VERSION;
    if older {
        eprintln!(
            "note       {} was recorded in trace format {}, by an older dsim; this one writes format {}: a replay runs today's kernel and protocols, so it need not match the recording{}{}",
            args.trace.display(),
            header.format_version,
            crate::trace::FORMAT_VERSION,
            if header.format_version < crate::trace::FATE_DRAW_VERSION {
                "; that dsim drew message fates from the seed another way, so the trace is replayed by its recorded schedule (the fate of every send), not by its seed"
            } else {
                ""
            },
            if header.format_version < crate::trace::CLOCK_DIGEST_VERSION {
                format!("; deliveries are compared without their vector clocks, which that format records as raised entries and this one as digests (`{} check` verifies both against the causal structure)", super::program())
            } else {
                String::new()
            }
        );
    }
    let Rerun {
        interrupted,
        trace: written,
        outcome,
        schedule,
        divergence,
        unsteady,
        recipe,
    } = rerun(
        registry,
        &args.trace,
        &recording,
        key,
        args.scenario.as_deref(),
        args.schedule,
        args.output.is_some(),
    )?;
    if let Some(out) = &args.output {
        super::files::write_with(out, |w| {
            let mut file = &written;
            std::io::Seek::rewind(&mut file)?;
            std::io::copy(&mut file, w).map(drop)
        })?;
        eprintln!("trace      {}", out.display());
    }
    let protocol = registry
        .get(&recipe.protocol)
        .expect("the rerun found this protocol");
    let label = args.trace.display();
    // The scenario that ran: the one given instead of the recorded one.
    let scenario = ScenarioName {
        file: match &args.scenario {
            Some(path) => path.display().to_string(),
            None => recipe.config.scenario.clone(),
        },
    };
    let decode = super::ByProtocol(protocol);
    // Said after a divergence: whether the rerun itself is steady.
    let steadiness = |seed_replay: bool| {
        match &unsteady {
        Some(u) => {
            println!(
                "NONDETERMINISTIC  two reruns differ from each other too, first at record #{}: something outside the seed decides what the protocol does",
                u.index
            );
            print_divergence(u, "rerun 1", "rerun 2", [Some(&decode); 2]);
            println!("{}", crate::replay::LOOK_FOR);
        }
        None if seed_replay => println!(
            "note       a second rerun matches the first: the run is deterministic, so the protocol, its parameters or dsim changed since the recording"
        ),
        None => {}
    }
    };
    match schedule {
        None => match divergence {
            None => {
                match interrupted {
                    Some((at, records)) => println!(
                        "identical  seed {} of {} replayed up to where the recording was interrupted (t={at}): {records} records, record for record the same",
                        header.seed, scenario.file,
                    ),
                    None => println!(
                        "identical  seed {} of {} replayed: {} records, record for record the same",
                        header.seed,
                        scenario.file,
                        // Counted as `dsim run` and `dsim check` count them:
                        // the end marker is not one of them.
                        outcome.stats.records
                    ),
                }
                Ok(())
            }
            Some(d) => {
                println!(
                    "DIFFERS    seed {} of {} replayed: the first differing record is #{}",
                    header.seed, scenario.file, d.index
                );
                print_divergence(&d, "recorded", "replayed", [Some(&decode); 2]);
                steadiness(true);
                Err(CliError::CheckFailed)
            }
        },
        Some(s) => {
            println!(
                "replay     the schedule of {label} ({} recorded message fates) with {}, seed {}",
                s.len(),
                scenario.file,
                header.seed
            );
            if header.protocol != recipe.protocol {
                println!(
                    "note       the trace records protocol `{}` and the scenario runs `{}`: its fates go to that protocol's sends in order on each link",
                    plain(&header.protocol),
                    plain(&recipe.protocol)
                );
            }
            match &recording.failed {
                Some((i, check, message)) => {
                    println!(
                        "recorded   failed `{}` at record {i}: {}",
                        plain(check),
                        plain(message)
                    )
                }
                None => println!("recorded   passed every check"),
            }
            match &outcome.failure {
                Some(f) => {
                    println!(
                        "now        FAILS `{}` at record {} (t={}): {}",
                        plain(&f.check),
                        f.record,
                        f.time,
                        plain(&f.message)
                    );
                    if let Some(due) = &f.due {
                        println!("liveness   {}", plain(due));
                    }
                }
                None => println!(
                    "now        passes every check (end: {}, {} node events)",
                    outcome.end.name(),
                    outcome.stats.events
                ),
            }
            match (&recording.failed, &outcome.failure) {
                (Some((_, check, _)), Some(f)) if *check == f.check => {
                    println!("verdict    the original failure still occurs")
                }
                (Some(_), Some(_)) => {
                    println!("verdict    the original failure is gone, but another check fails")
                }
                (Some(_), None) => println!("verdict    the original failure no longer occurs"),
                (None, _) => {}
            }
            if outcome.unfollowed > 0 {
                println!(
                    "note       {} steps of the explored path do nothing the protocol as it is now offers there, and were skipped (or, where a crash cut a handler after a send it no longer makes, taken without the crash); the others were taken by what they did",
                    outcome.unfollowed
                );
            }
            if outcome.unscripted > 0 {
                println!(
                    "note       {} sends had no recorded fate and drew theirs from the seed",
                    outcome.unscripted
                );
            }
            match divergence {
                None => {
                    println!("diverges   never: the run matches the recording record for record")
                }
                Some(d) => {
                    println!("diverges   first at record #{}", d.index);
                    print_divergence(&d, "recorded", "replayed", [Some(&decode); 2]);
                    steadiness(false);
                }
            }
            if outcome.failure.is_some() {
                Err(CliError::CheckFailed)
            } else {
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::NodeId;
    use crate::time::Instant;
    use crate::trace::Kind;
    use std::borrow::Cow;

    /// Reads every payload as the same message, as decoding a hash map
    /// into another hash map reads two orders of its entries.
    struct Alike;
    impl text::Decode for Alike {
        fn message(&self, _: &[u8]) -> Option<String> {
            Some("Table({1: 0, 2: 0})".into())
        }
    }

    fn send(payload: &'static [u8]) -> Record<'static> {
        Record {
            time: Instant::ZERO,
            kind: Kind::Send {
                node: NodeId(0),
                lamport: 2,
                msg: 0,
                to: NodeId(1),
                payload: Cow::Borrowed(payload),
            },
        }
    }

    #[test]
    fn records_that_decode_alike_are_shown_as_recorded_too() {
        let d = Divergence {
            index: 0,
            left: Some(send(&[2, 1, 0, 2, 0])),
            right: Some(send(&[2, 2, 0, 1, 0])),
            context: Vec::new(),
        };
        let lines = divergence_lines(&d, "run 1", "run 2", [Some(&Alike); 2]);
        assert_eq!(lines[0], lines[1].replace("run 2", "run 1"), "{lines:#?}");
        assert_eq!(lines[2], "(the two read alike once decoded; as recorded:)");
        assert!(
            lines[3].contains("[2, 1, 0, 2, 0]") || lines[3].contains("02 01 00 02 00"),
            "{lines:#?}"
        );
        assert_ne!(lines[3], lines[4].replace("run 2", "run 1"));
        // Records that read apart are shown once.
        let d = Divergence {
            index: 0,
            left: Some(send(&[1])),
            right: None,
            context: Vec::new(),
        };
        assert_eq!(divergence_lines(&d, "a", "b", [Some(&Alike); 2]).len(), 2);
    }
}
