//! `dsim shrink`: the smallest schedule that still fails the same check.

use super::replay::{protocol_for, read_trace, recipe_for};
use super::CliError;
use crate::protocols::{Protocol, Registry, RunOptions};
use crate::replay::{schedule_from, Recipe};
use crate::show::plain;
use crate::shrink::{shared, verify, Candidate, Options, Progress, Runner, Shrinker, Size};
use crate::trace::{first_failure, read_all, Kind, Stats};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Shrink a failing trace: fewer faults and operations first, then fewer
/// lost, duplicated or corrupted messages, nodes and steadier latencies;
/// never larger, 1-minimal, the same failed check.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim shrink traces/raft-bug-forget-vote-seed-78.trace -o raft-78.min.trace --verify\n  dsim replay raft-78.min.trace\n  dsim shrink big.trace --time-limit 30s --any-check"
)]
pub struct ShrinkArgs {
    pub trace: PathBuf,
    /// Where to write the shrunk trace (default: beside the input, *.min.trace).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The key of a keyed trace (the shrunk trace is keyed with it too).
    #[arg(long)]
    pub key: Option<String>,
    /// Keep a candidate only if the same check fails (the default).
    #[arg(long, conflicts_with = "any_check")]
    pub same_check: bool,
    /// Keep a candidate if any check fails.
    #[arg(long)]
    pub any_check: bool,
    /// Keep a candidate only if it issues as many client operations as
    /// the trace's run did before it failed: for a check that also fails,
    /// vacuously, in a run with none (an `eventually` that every node
    /// learns what no client told any).
    #[arg(long)]
    pub keep_operations: bool,
    /// Runs tried at most (a deterministic budget).
    #[arg(long, default_value_t = 80_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_runs: u64,
    /// Records simulated at most, each run counted as long as the trace's
    /// (a deterministic budget): a long trace gets fewer runs than
    /// --max-runs (never fewer than 100).
    #[arg(long, default_value_t = 1_000_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_records: u64,
    /// Stop searching after this much wall-clock time ("30s", "2m"),
    /// keeping the smallest run found so far (checking and writing it takes
    /// a run or two more); the result then depends on the machine.
    #[arg(long, value_name = "DURATION")]
    pub time_limit: Option<String>,
    /// Then take away each remaining fault, operation and message fault
    /// alone and confirm the failure goes away (1-minimality).
    #[arg(long)]
    pub verify: bool,
}

/// Runs candidates of one protocol against the failure being shrunk.
struct Against<'a> {
    protocol: &'a dyn Protocol,
    recipe: &'a Recipe,
    check: Option<&'a str>,
    /// Client operations a candidate must issue, at least.
    operations: u64,
}

impl Against<'_> {
    fn options<'o>(
        &self,
        c: &Candidate,
        trace: Option<&'o mut dyn std::io::Write>,
    ) -> RunOptions<'o> {
        RunOptions {
            trace,
            key: None,
            invariants: self.recipe.invariants.clone(),
            linearizable: self.recipe.linearizable.clone(),
            answered: self.recipe.answered,
            digest: false,
            // A candidate is asked only whether it fails.
            first_failure_only: true,
            schedule: shared(c),
            progress: None,
            stop: None,
        }
    }
}

impl Runner for Against<'_> {
    fn fails(&self, c: &Candidate) -> Option<Stats> {
        let o = self
            .protocol
            .run(c.config.clone(), &self.recipe.params, self.options(c, None))
            .ok()?;
        let f = o.failure.as_ref()?;
        (self.check.is_none_or(|check| f.check == check) && o.stats.inputs >= self.operations)
            .then_some(o.stats)
    }

    fn record(&self, c: &Candidate) -> Option<crate::network::Schedule> {
        let mut bytes = Vec::new();
        self.protocol
            .run(
                c.config.clone(),
                &self.recipe.params,
                self.options(c, Some(&mut bytes)),
            )
            .ok()?;
        let (_, records, _) = read_all(&bytes, None).ok()?;
        Some(by_content(schedule_from(&records)))
    }
}

/// A schedule whose fates follow messages by content: taking an event
/// away then moves no other message's fate.
fn by_content(mut s: crate::network::Schedule) -> crate::network::Schedule {
    s.by_content = true;
    s
}

fn table(before: &Size, after: &Size) {
    println!("           {:>10} {:>10}", "before", "after");
    for (name, b, a) in [
        ("records", before.records, after.records),
        ("events", before.events, after.events),
        ("messages", before.sent, after.sent),
        ("lost", before.lost, after.lost),
        ("duplicated", before.duplicated, after.duplicated),
        ("corrupted", before.corrupted, after.corrupted),
        ("faults", before.faults, after.faults),
        ("operations", before.operations, after.operations),
        ("nodes", before.nodes, after.nodes),
    ] {
        println!("{name:<10} {b:>10} {a:>10}");
    }
    // A disk that may keep unsynced writes at a crash: how many it kept.
    if before.kept + after.kept > 0 {
        println!("{:<10} {:>10} {:>10}", "kept", before.kept, after.kept);
    }
}

pub fn shrink(registry: &Registry, args: ShrinkArgs) -> Result<(), CliError> {
    let key = args.key.as_deref().map(str::as_bytes);
    if let Some(out) = &args.output {
        super::files::refuse_overwrite(out, &[&args.trace])?;
    }
    let deadline = match &args.time_limit {
        Some(text) => {
            let d = crate::time::Duration::parse(text)
                .map_err(|e| CliError::input(format!("--time-limit {text}: {e}")))?;
            if d == crate::time::Duration::ZERO {
                return Err(CliError::input(
                    "--time-limit 0s leaves no time to shrink: give a duration above zero",
                ));
            }
            Some(std::time::Instant::now() + std::time::Duration::from_nanos(d.0))
        }
        None => None,
    };
    let (header, records) = read_trace(&args.trace, key)?;
    let (failed_check, failed_message, failed_at, operations) = first_failure(&records)
        .map(|(i, check, message)| {
            // The operations issued before the failure (a shrink cuts the
            // run just after it).
            let operations = (records[..i].iter())
                .filter(|r| matches!(r.kind, Kind::Input { .. }))
                .count() as u64;
            (
                check.to_string(),
                message.to_string(),
                records[i].time,
                operations,
            )
        })
        .ok_or_else(|| {
            CliError::input(format!(
                "{}: the trace records no failed check; there is nothing to shrink",
                args.trace.display()
            ))
        })?;
    // Shrinking compares thousands of runs: it needs a protocol that runs
    // the same way twice. The trace's schedule, rerun: if it differs from
    // the recording, a second rerun tells a protocol that changed since
    // from one that runs two ways, which no shrink can trust.
    let recording = super::replay::Recording::of(header.clone(), &records);
    let steady = super::replay::rerun(registry, &args.trace, &recording, key, None, true, false)?;
    if let Some(u) = &steady.unsteady {
        println!(
            "NONDETERMINISTIC  two runs of the trace's schedule differ first at record #{}: something outside the seed decides what the protocol does, so a shrink cannot tell a smaller failing run from noise",
            u.index
        );
        let decode = registry.get(&steady.recipe.protocol).map(super::ByProtocol);
        let decode = decode.as_ref().map(|d| d as _);
        super::replay::print_divergence(u, "run 1", "run 2", [decode; 2]);
        println!("{}", crate::replay::LOOK_FOR);
        return Err(CliError::CheckFailed);
    }
    // The run the trace names must fail as recorded: a trace altered after
    // it was written (its chain rebuilt), or recorded by another version of
    // the protocol, may name a run that passes, and no shrink keeps a
    // failure its start does not have.
    let reproduced = steady
        .outcome
        .failure
        .as_ref()
        .is_some_and(|f| args.any_check || f.check == failed_check);
    if !reproduced {
        let decode = registry.get(&steady.recipe.protocol).map(super::ByProtocol);
        let decode = decode.as_ref().map(|d| d as _);
        if let Some(d) = &steady.divergence {
            super::replay::print_divergence(d, "recorded", "rerun", [decode; 2]);
        }
        let rerun = match &steady.outcome.failure {
            Some(f) => format!("it fails `{}` instead", plain(&f.check)),
            None => "it passes".to_string(),
        };
        let differs = steady.divergence.as_ref().map_or(String::new(), |d| {
            format!(
                " and differs from the recording first at record #{} (above)",
                d.index
            )
        });
        return Err(CliError::input(format!(
            "{}: the run this trace names, rerun by its schedule, does not fail `{}` as recorded: \
             {rerun}{differs}; the trace was altered after it was written, or recorded by another \
             version of the protocol, so there is no failing run to shrink",
            args.trace.display(),
            plain(&failed_check)
        )));
    }
    if let Some(d) = &steady.divergence {
        println!(
            "rerun      the trace's schedule, rerun, differs from the recording first at record #{} \
             (the trace was altered, or the protocol changed since it was recorded); it still \
             fails `{}`, and that run is what is shrunk",
            d.index,
            plain(steady.outcome.failure.as_ref().map_or(&failed_check, |f| &f.check))
        );
    }
    let mut recipe = recipe_for(registry, &args.trace, &header, None)?;
    let protocol = protocol_for(registry, &args.trace, &mut recipe)?;
    let before = Stats::of(&records);
    let start = Candidate {
        config: recipe.config.clone(),
        schedule: Some(by_content(schedule_from(&records))),
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {pos} runs: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b
    });
    let shown = std::cell::Cell::new(0u64);
    let options = Options {
        max_runs: args.max_runs,
        max_records: args.max_records,
        deadline,
        min_nodes: protocol.min_nodes(),
        ..Options::default()
    };
    // A tenth of the budget (a long trace's runs are few and slow), at
    // most every 10,000 runs.
    let every = (options.runs_for(before.records) / 10).clamp(1, 10_000);
    let mut progress = |p: &Progress| {
        let msg = progress_line(p);
        match &bar {
            Some(b) => {
                b.set_position(p.runs);
                b.set_message(msg);
            }
            // Without a terminal: a line every so many runs.
            None if p.runs / every > shown.get() / every => {
                shown.set(p.runs);
                eprintln!("shrink: {} runs: {msg}", p.runs);
            }
            None => {}
        }
    };
    let check = (!args.any_check).then_some(failed_check.as_str());
    let runner = Against {
        protocol,
        recipe: &recipe,
        check,
        operations: if args.keep_operations { operations } else { 0 },
    };
    let shrunk = Shrinker::new(start, &before, options, &runner, &mut progress).shrink(failed_at);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    // Write the minimal run; it carries its own recipe and replays by schedule.
    let mut config = shrunk.candidate.config.clone();
    let mut carried = recipe.clone();
    carried.config = config.clone();
    config.replay = carried.to_json();
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| args.trace.with_extension("min.trace"));
    let mut bytes = Vec::new();
    let options = RunOptions {
        trace: Some(&mut bytes),
        key,
        invariants: recipe.invariants.clone(),
        linearizable: recipe.linearizable.clone(),
        answered: recipe.answered,
        digest: false,
        first_failure_only: false,
        schedule: shared(&shrunk.candidate),
        progress: None,
        stop: None,
    };
    let outcome = protocol
        .run(config, &recipe.params, options)
        .map_err(|e| CliError::input(e.to_string()))?;
    let Some(failure) = outcome
        .failure
        .filter(|f| check.is_none_or(|c| f.check == c))
    else {
        return Err(CliError::input(
            "the shrunk run no longer fails; this is a dsim bug, please report it with the trace",
        ));
    };
    super::files::write(&out, &bytes)?;
    let (_, after_records, _) =
        read_all(&bytes, key).map_err(|e| CliError::input(e.to_string()))?;
    let after = Size::of(&shrunk.candidate, &Stats::of(&after_records));
    println!(
        "check      `{}` still fails: {}",
        plain(&failure.check),
        plain(&failure.message)
    );
    if failure.check != failed_check || failure.message != failed_message {
        println!(
            "was        `{}`: {}",
            plain(&failed_check),
            plain(&failed_message)
        );
    }
    if after.operations == 0 && shrunk.before.operations > 0 {
        println!(
            "no client operation is left: the check fails in a run without any, which may be a \
             failure of another kind than the trace's; if the check should hold until a client \
             asks something, say so in the check, or shrink with --keep-operations"
        );
    }
    table(&shrunk.before, &after);
    let path_faults = crate::shrink::explored_faults(&shrunk.candidate, &Stats::of(&after_records));
    if let Some(path_faults) = path_faults.filter(|&n| n > 0) {
        println!(
            "explored   {path_faults} of the faults are the explored path's crashes and restarts, \
             steps of the path: a shrink follows the path's steps and takes none of them away"
        );
    }
    if let Some(line) = fewer_nodes(shrunk.before.nodes, after.nodes, protocol.min_nodes()) {
        println!("{line}");
    }
    println!(
        "runs       {} tried, the result found at run {}{}",
        shrunk.runs,
        shrunk.found_at,
        match &shrunk.stopped {
            Some(why) if shrunk.minimal => format!(
                " (the search was cut short: {why}, so a larger budget (--max-runs, --max-records) may find a smaller run; its last pass finished: no event left can be taken away alone, the run kept no larger than the input)"
            ),
            Some(why) => format!(" (stopped early: {why}; the run is the smallest found)"),
            None => String::new(),
        }
    );
    if args.verify {
        let mut exact = shrunk.candidate.clone();
        exact.schedule = Some(by_content(schedule_from(&after_records)));
        let m = verify(&exact, &runner, &shrunk.before);
        if m.still_fail.is_empty() && m.outgrow.is_empty() {
            println!(
                "1-minimal  yes: each of the {} faults, operations and message faults, taken away alone, makes the failure go away",
                m.tried
            );
        } else if m.still_fail.is_empty() {
            println!(
                "1-minimal  yes among runs no larger than the input: of the {} faults, operations and message faults, each taken away alone makes the failure go away or the run outgrow the input, which a shrink never keeps: {}",
                m.tried,
                m.outgrow.join("; ")
            );
        } else {
            println!(
                "1-minimal  NO: {} of {} single removals still fail: {}{}",
                m.still_fail.len(),
                m.tried,
                m.still_fail.join("; "),
                match m.outgrow.len() {
                    0 => String::new(),
                    _ => format!(
                        "; these too, but the run then outgrows the input: {}",
                        m.outgrow.join("; ")
                    ),
                }
            );
        }
        let larger = !after.within(&shrunk.before);
        if larger {
            println!("never larger  NO: the result is larger than the input in some measure");
        }
    }
    println!(
        "written    {} (replay it with: {} replay {})",
        out.display(),
        super::program(),
        out.display()
    );
    Ok(())
}

/// What a shrink to fewer nodes says: how few, and when it reached a
/// single node the protocol did not declare it needs more than, how a
/// protocol says so (a check may fail alone for reasons of its own: a
/// node sending to itself).
fn fewer_nodes(before: u64, after: u64, min_nodes: u32) -> Option<String> {
    if after >= before {
        return None;
    }
    let least = u64::from(min_nodes.max(1));
    let why = match after <= least {
        true if least == 1 => ", alone: a protocol meant for more nodes declares how many it needs (`Spec::min_nodes`), and shrink keeps that many".to_string(),
        true => format!(", as few as the protocol allows ({least})"),
        false => String::new(),
    };
    Some(format!(
        "fewer      nodes: the same check fails with {after} of the {before}{why}"
    ))
}

/// A shrink's progress in one line. Its message faults are those the
/// network decided (losses drawn or planned, duplicates, corruptions), which
/// shrinking can take away; a message lost to a crashed receiver or a
/// partition goes with its fault.
fn progress_line(p: &Progress) -> String {
    let s = &p.size;
    format!(
        "{}: {} faults, {} operations, {} nodes, {} message faults, {} records",
        p.phase, s.faults, s.operations, s.nodes, s.decided, s.records
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shrink_to_fewer_nodes_says_how_few_and_alone_how_to_keep_more() {
        assert_eq!(fewer_nodes(3, 3, 1), None);
        assert_eq!(
            fewer_nodes(5, 3, 1).unwrap(),
            "fewer      nodes: the same check fails with 3 of the 5"
        );
        assert_eq!(
            fewer_nodes(4, 2, 2).unwrap(),
            "fewer      nodes: the same check fails with 2 of the 4, as few as the protocol allows (2)"
        );
        assert!(fewer_nodes(4, 1, 1)
            .unwrap()
            .ends_with("1 of the 4, alone: a protocol meant for more nodes declares how many it needs (`Spec::min_nodes`), and shrink keeps that many"));
    }

    #[test]
    fn progress_counts_only_the_message_faults_shrinking_can_take_away() {
        let size = Size {
            faults: 2,
            lost: 31,
            decided: 1,
            records: 1712,
            ..Default::default()
        };
        let line = progress_line(&Progress {
            runs: 10,
            phase: "schedules",
            size,
        });
        assert!(
            line.contains("2 faults") && line.contains(", 1 message faults,"),
            "{line}"
        );
    }
}
