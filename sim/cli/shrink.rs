//! `dsim shrink`: the smallest schedule that still fails the same check.

use super::replay::{protocol_for, read_trace, recipe_for};
use super::CliError;
use crate::protocols::{Registry, RunOptions};
use crate::replay::schedule_from;
use crate::show::plain;
use crate::shrink::{shrink as ddmin, Candidate};
use crate::trace::{first_failure, read_all, Stats};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Shrink a failing trace: fewer faults, fewer lost, duplicated or
/// corrupted messages, fewer operations, a shorter run; same failed check.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  dsim shrink traces/raft-bug-forget-vote-seed-78.trace -o raft-78.min.trace\n  dsim replay raft-78.min.trace"
)]
pub struct ShrinkArgs {
    pub trace: PathBuf,
    /// Where to write the shrunk trace (default: beside the input, *.min.trace).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// The key of a keyed trace (the shrunk trace is keyed with it too).
    #[arg(long)]
    pub key: Option<String>,
}

fn size_line(s: &Stats, faults: usize, ops: u64) -> String {
    format!(
        "{} records, {} node events, {} messages sent, {} lost, {} duplicated, {} corrupted, {faults} faults, {ops} operations",
        s.records,
        s.events,
        s.sent,
        s.lost_total(),
        s.duplicated,
        s.corrupted
    )
}

pub fn shrink(registry: &Registry, args: ShrinkArgs) -> Result<(), CliError> {
    let key = args.key.as_deref().map(str::as_bytes);
    if let Some(out) = &args.output {
        super::files::refuse_overwrite(out, &[&args.trace])?;
    }
    let (header, records) = read_trace(&args.trace, key)?;
    let (failed_check, failed_at) = first_failure(&records)
        .map(|(i, check, _)| (check.to_string(), records[i].time))
        .ok_or_else(|| {
            CliError::input(format!(
                "{}: the trace records no failed check; there is nothing to shrink",
                args.trace.display()
            ))
        })?;
    let mut recipe = recipe_for(registry, &args.trace, &header, None)?;
    let protocol = protocol_for(registry, &args.trace, &mut recipe)?;
    let before = Stats::of(&records);
    let start = Candidate {
        config: recipe.config.clone(),
        schedule: schedule_from(&records),
    };
    let start_size = start.size();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {pos} runs tried: {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b
    });
    let mut still_fails = |config: &crate::config::SimConfig, schedule| {
        let options = RunOptions {
            trace: None,
            key: None,
            invariants: recipe.invariants.clone(),
            linearizable: recipe.linearizable.clone(),
            schedule: Some(schedule),
            progress: None,
        };
        matches!(protocol.run(config.clone(), &recipe.params, options), Ok(o) if o.failure.as_ref().is_some_and(|f| f.check == failed_check))
    };
    let mut progress = |tests: u64, size: &crate::shrink::Size| {
        let msg = format!(
            "{} faults, {} losses, {} duplicates, {} corruptions left",
            size.faults, size.lost, size.duplicated, size.corrupted
        );
        match &bar {
            Some(b) => {
                b.set_position(tests);
                b.set_message(msg);
            }
            None => eprintln!("shrink: {tests} runs tried: {msg}"),
        }
    };
    let shrunk = ddmin(start, failed_at, &mut still_fails, &mut progress);
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
        schedule: Some(std::sync::Arc::new(shrunk.candidate.schedule.clone())),
        progress: None,
    };
    let outcome = protocol
        .run(config, &recipe.params, options)
        .map_err(|e| CliError::input(e.to_string()))?;
    let Some(failure) = outcome.failure.filter(|f| f.check == failed_check) else {
        return Err(CliError::input(
            "the shrunk run no longer fails; this is a dsim bug, please report it with the trace",
        ));
    };
    super::files::write(&out, &bytes)?;
    let (_, after_records, _) =
        read_all(&bytes, key).map_err(|e| CliError::input(e.to_string()))?;
    let after = Stats::of(&after_records);
    let end_size = shrunk.candidate.size();
    println!(
        "check      `{}` still fails: {}",
        plain(&failed_check),
        plain(&failure.message)
    );
    println!(
        "before     {}",
        size_line(&before, start_size.faults, start_size.operations)
    );
    println!(
        "after      {}",
        size_line(&after, end_size.faults, end_size.operations)
    );
    println!("runs       {} tried", shrunk.tests);
    println!(
        "written    {} (replay it with: {} replay {})",
        out.display(),
        super::program(),
        out.display()
    );
    Ok(())
}
