//! `dsim check`: audit a trace file on its own, without the protocol's code.

use super::CliError;
use crate::check::jepsen;
use crate::check::linearizable::{find, Budget, History, NamedModel, Verdict};
use crate::check::{audit, Options, Report};
use crate::show::plain;
use clap::Args;
use std::io::BufReader;
use std::path::PathBuf;

/// Check a trace: integrity, message accounting, Lamport and vector clocks,
/// the happens-before graph, FIFO promises (and causal delivery if asked).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim check traces/echo-bug-no-dedup-seed-3.trace\n  dsim check run.trace --causal --json\n  dsim check signed.trace --key \"$DSIM_KEY\""
)]
pub struct CheckArgs {
    /// The trace file (with --import, the log file).
    pub trace: PathBuf,
    /// The key the trace was signed with (its chain is then a MAC). A
    /// verifier must always pass it: anyone can re-seal an edited keyed
    /// trace as an unkeyed one, and only `--key` (which refuses an unkeyed
    /// trace) tells the two apart.
    #[arg(long)]
    pub key: Option<String>,
    /// Also check causal delivery (for protocols that promise it).
    #[arg(long)]
    pub causal: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Read a log from elsewhere instead of a dsim trace (`shiviz`: a
    /// ShiViz / GoVector log with vector clocks).
    #[arg(long, value_name = "FORMAT")]
    pub import: Option<ImportFormat>,
    /// With --import shiviz: the parser expression, a JavaScript regular
    /// expression as in ShiViz (multiline; named groups host, clock and
    /// event). Default: the log's first line when it is one (as GoVector
    /// writes it), else ShiViz's default.
    #[arg(long)]
    pub regex: Option<String>,
    /// With --import shiviz: an expression separating executions (its
    /// `trace` group names the execution after it). Default: the log's
    /// second line when the first is an expression.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Check the clients' history for linearizability against this model
    /// (register, cas-register, kv, mutex, queue, multi-register, set,
    /// unordered-queue, or one a protocol of this program declares).
    #[arg(long, value_name = "MODEL")]
    pub linearizable: Option<String>,
    /// With --import jepsen: the model (as --linearizable).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// A register's (or every key's) value before any write, in EDN
    /// (default: nil, never written: a read returns nil).
    #[arg(long, value_name = "VALUE", default_value = "nil")]
    pub initial: String,
    /// The most search steps the linearizability check may take before
    /// its verdict is "unknown" (exit 2).
    #[arg(long, default_value_t = 50_000_000)]
    pub budget: u64,
    /// With --linearizable or --model: also draw the history as SVG here
    /// (client lanes, operations as bars, the witnesses in red).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ImportFormat {
    /// ShiViz / GoVector logs with vector clocks.
    Shiviz,
    /// Jepsen, Knossos or Porcupine histories: EDN maps or log lines.
    Jepsen,
}

/// `models`: the protocols' own models, looked up before the built-ins.
pub fn check(args: CheckArgs, models: &[NamedModel]) -> Result<(), CliError> {
    match args.import {
        Some(ImportFormat::Shiviz) => return import_shiviz(&args),
        Some(ImportFormat::Jepsen) => return import_jepsen(&args, models),
        None => {}
    }
    if let Some(model) = &args.linearizable {
        return check_history(&args, model, models);
    }
    let file = std::fs::File::open(&args.trace)
        .map_err(|e| CliError::input(format!("{}: cannot open: {e}", args.trace.display())))?;
    let options = Options {
        key: args.key.map(String::into_bytes),
        causal: args.causal,
    };
    let report = audit(BufReader::with_capacity(1 << 20, file), &options)
        .map_err(|e| CliError::input(format!("{}: {e}", args.trace.display())))?;
    if args.json {
        let text = serde_json::to_string_pretty(&report).map_err(CliError::input)?;
        println!("{text}");
    } else {
        print_report(&args.trace.display().to_string(), &report);
    }
    if !report.integrity().holds() {
        let first = report
            .integrity()
            .first
            .as_ref()
            .map(|v| v.message.clone())
            .unwrap_or_default();
        return Err(CliError::input(format!(
            "{}: {first}",
            args.trace.display()
        )));
    }
    if !report.holds() || report.recorded_failure.is_some() {
        return Err(CliError::CheckFailed);
    }
    Ok(())
}

fn print_report(file: &str, r: &Report) {
    println!(
        "trace          {file} ({} protocol, seed {}, {} nodes, {} records, ended: {})",
        r.protocol,
        r.seed,
        r.nodes,
        r.records,
        r.end.as_deref().unwrap_or("never: no seal")
    );
    let s = &r.stats;
    println!(
        "messages       sent {}, delivered {}, lost {}, duplicated {}, corrupted {}",
        s.sent,
        s.delivered,
        s.lost_total(),
        s.duplicated,
        s.corrupted
    );
    if let Some(f) = &r.recorded_failure {
        println!(
            "run            FAILED during the run (recorded in the trace): {}",
            plain(f)
        );
    }
    for v in &r.verdicts {
        let line = match (&v.skipped, &v.first) {
            (Some(why), _) => format!("skipped ({why})"),
            (None, None) => "ok".to_string(),
            (None, Some(first)) => {
                let nodes: Vec<String> = first.nodes.iter().map(|n| n.to_string()).collect();
                let at = if first.record == u64::MAX {
                    "the end".to_string()
                } else {
                    format!("record {}", first.record)
                };
                format!(
                    "VIOLATED {} time{}; first at {at} (t={}{}): {}",
                    v.violations,
                    if v.violations == 1 { "" } else { "s" },
                    first.time,
                    if nodes.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", nodes.join(" "))
                    },
                    plain(&first.message)
                )
            }
        };
        println!("{:<14} {line}", v.check);
    }
}

/// Reads a ShiViz / GoVector log as ShiViz reads it: its report, or what
/// ShiViz would refuse it for (bad input).
pub(super) fn load_shiviz(
    path: &std::path::Path,
    regex: Option<&str>,
    delimiter: Option<&str>,
) -> Result<crate::check::shiviz::LogReport, CliError> {
    use crate::check::shiviz::{check_log, compile, DEFAULT_REGEX};
    let file = path.display();
    let text =
        std::fs::read(path).map_err(|e| CliError::input(format!("{file}: cannot read: {e}")))?;
    let text = String::from_utf8(text)
        .map_err(|_| CliError::input(format!("{file}: the log is not UTF-8 text")))?;
    // A log whose first line is a parser expression (as GoVector writes
    // it) and whose second is a delimiter or blank is read as ShiViz reads
    // an uploaded file: `^line$` for each, the log from the third line.
    let mut text = text;
    let mut header: (Option<String>, Option<String>) = (None, None);
    if regex.is_none() {
        let mut first_two = text.splitn(3, '\n');
        let (first, second) = (first_two.next().unwrap_or(""), first_two.next());
        if ["(?<host>", "(?<clock>", "(?<event>"]
            .iter()
            .all(|g| first.contains(g))
        {
            header.0 = Some(format!("^{first}$"));
            if let Some(second) = second.filter(|l| !l.trim().is_empty()) {
                header.1 = Some(format!("^{}$", second.trim()));
            }
            // Blank the two lines, so that line numbers stay the file's.
            let rest = text.splitn(3, '\n').nth(2).unwrap_or("").to_string();
            text = format!("\n\n{rest}");
        }
    }
    let (regex_from, regex) = match (regex, &header.0) {
        (Some(r), _) => ("--regex", r),
        (None, Some(r)) => ("the log's first line", r.as_str()),
        (None, None) => ("the default expression", DEFAULT_REGEX),
    };
    let expression = compile(regex).map_err(|e| CliError::input(format!("{regex_from}: {e}")))?;
    let delimiter = match (delimiter, &header.1) {
        (Some(d), _) => Some(compile(d).map_err(|e| CliError::input(format!("--delimiter: {e}")))?),
        (None, Some(d)) => {
            Some(compile(d).map_err(|e| CliError::input(format!("the log's second line: {e}")))?)
        }
        (None, None) => None,
    };
    let report = match check_log(&text, &expression, delimiter.as_ref()) {
        Ok(report) => report,
        Err(refused) => {
            let mut message = format!(
                "{file}: ShiViz would not read this log ({} line(s) not matched by {regex_from}):",
                refused.skipped_lines
            );
            for r in &refused.refusals {
                let at = match r.line {
                    Some(l) => format!("{file}:{l}"),
                    None => file.to_string(),
                };
                let execution = if r.execution.is_empty() {
                    String::new()
                } else {
                    format!(" (execution \"{}\")", r.execution)
                };
                message.push_str(&format!(
                    "\n  {at}: {}{execution}: {}",
                    r.rule,
                    plain(&r.message)
                ));
            }
            return Err(CliError::input(message));
        }
    };
    Ok(report)
}

fn import_shiviz(args: &CheckArgs) -> Result<(), CliError> {
    let file = args.trace.display();
    let report = load_shiviz(
        &args.trace,
        args.regex.as_deref(),
        args.delimiter.as_deref(),
    )?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(CliError::input)?
        );
    } else {
        println!("log        {file}: {} execution(s), {} line(s) skipped (not matched by the expression)", report.executions.len(), report.skipped_lines);
        for (i, e) in report.executions.iter().enumerate() {
            let name = if e.name.is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", plain(&e.name))
            };
            let verdict = if e.violations.is_empty() {
                "ok".to_string()
            } else {
                format!("{} violation(s)", e.violations.len())
            };
            println!(
                "execution  {i}{name}: {} events on {} hosts: {verdict}",
                e.events, e.hosts
            );
            let mut firsts: Vec<&str> = Vec::new();
            for v in &e.violations {
                if !firsts.contains(&v.rule) {
                    firsts.push(v.rule);
                    let n = e.violations.iter().filter(|x| x.rule == v.rule).count();
                    println!(
                        "  {file}:{}: {} ({} in all of this kind): {}",
                        v.line,
                        v.rule,
                        n,
                        plain(&v.message)
                    );
                }
            }
        }
    }
    if report.holds() {
        Ok(())
    } else {
        Err(CliError::CheckFailed)
    }
}

/// Checks the linearizability of `history` with the named model, prints
/// the verdict, and turns it into the exit status (0, 1, or 2 when
/// unknown).
fn judge(
    file: &str,
    history: &History,
    (model, models): (&str, &[NamedModel]),
    args: &CheckArgs,
    describe_at: &dyn Fn(u64) -> String,
    crashes: &dyn Fn(u64) -> Option<String>,
) -> Result<(), CliError> {
    let initial =
        jepsen::initial(&args.initial).map_err(|e| CliError::input(format!("--initial: {e}")))?;
    let budget = Budget {
        steps: args.budget,
        ..Budget::default()
    };
    let named = find(model, models).map_err(CliError::input)?;
    let verdict = named.check(initial.clone(), history, &budget);
    if let Some(path) = &args.svg {
        super::files::refuse_overwrite(path, &[&args.trace])?;
        super::files::write(
            path,
            crate::show::history::svg(history, &verdict).as_bytes(),
        )?;
    }
    let processes: std::collections::BTreeSet<u64> =
        history.ops.iter().map(|o| o.process).collect();
    let failed = match history.failed.len() {
        0 => String::new(),
        n => format!(" ({n} more completed as `fail`, left out: they did not happen)"),
    };
    println!(
        "history        {file}: {} operations of {} processes{failed}",
        history.ops.len(),
        processes.len()
    );
    match &verdict {
        Verdict::Linearizable => {
            println!("linearizable   yes ({model})");
            Ok(())
        }
        Verdict::Unknown(why) => Err(CliError::input(format!(
            "{file}: the linearizability of the history is unknown: {why}"
        ))),
        Verdict::NotLinearizable(v) => {
            println!(
                "linearizable   NO ({model}): the history stops being linearizable at {}",
                describe_at(v.at)
            );
            let what = match v.ops.len() {
                1 => "1 operation whose outcome cannot be true".to_string(),
                n => format!("{n} operations whose outcomes cannot all be true"),
            };
            println!(
                "witnesses      {what}{}:",
                if v.minimal {
                    ""
                } else {
                    " (not minimized: over its budget)"
                }
            );
            for &i in &v.ops {
                println!("  {}", plain(&history.ops[i].to_string()));
            }
            if let Some(r) = crate::check::linearizable::free_words(history, v) {
                println!(
                    "free           {} (the other operations that change state, their outcomes set aside: each free to have taken effect while it ran, or not at all, the witnesses cannot all be true even so)",
                    plain(&r)
                );
            }
            let hint = crate::check::linearizable::alone_hint(history, v, &initial)
                .or_else(|| crate::check::linearizable::locks_hint(history, v).map(String::from));
            // A failed operation that took effect, where no value only it
            // wrote shows it, or one that took effect twice.
            let failed = match &hint {
                Some(h) if h.contains("completed as `fail`") => None,
                _ => crate::check::linearizable::effect_hint(history, v, |h| {
                    named.check(
                        initial.clone(),
                        h,
                        &crate::check::linearizable::FAILED_EFFECT_BUDGET,
                    )
                }),
            };
            for hint in hint.iter().chain(&failed) {
                println!("hint           {hint}");
            }
            if let Some(note) = crashes(v.at) {
                println!("crashes        {note}");
            }
            let order = "in this order (one still running then shows its outcome as unknown):";
            match v.prefix.len() {
                0 => println!("prefix         none: no operation completed before it"),
                1 => println!("prefix         the 1 operation before it linearizes, {order}"),
                n => println!("prefix         the {n} operations before it linearize, {order}"),
            }
            // As of the completion before the violation: an operation that
            // completed only later was running, its outcome unknown.
            let as_then = |op: &crate::check::linearizable::Operation| {
                if op.ret.is_some_and(|r| r < v.at) {
                    op.to_string()
                } else {
                    let mut running = op.clone();
                    running.ret = None;
                    running.output = None;
                    running.to_string()
                }
            };
            let shown: Vec<String> = v
                .prefix
                .iter()
                .rev()
                .take(12)
                .rev()
                .map(|&i| plain(&as_then(&history.ops[i])).into_owned())
                .collect();
            if v.prefix.len() > shown.len() {
                println!("  ... ({} earlier)", v.prefix.len() - shown.len());
            }
            for s in shown {
                println!("  {s}");
            }
            Err(CliError::CheckFailed)
        }
    }
}

/// The `Op` records of a trace, by record index.
pub fn history_of(records: &[crate::trace::Record<'_>]) -> Vec<(u64, crate::history::Op)> {
    records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.kind {
            crate::trace::Kind::Op { op, .. } => Some((i as u64, op.clone())),
            _ => None,
        })
        .collect()
}

fn check_history(args: &CheckArgs, model: &str, models: &[NamedModel]) -> Result<(), CliError> {
    let file = args.trace.display().to_string();
    let (_, records) =
        super::replay::read_trace(&args.trace, args.key.as_deref().map(str::as_bytes))?;
    let events = history_of(&records);
    if events.is_empty() {
        return Err(CliError::input(format!(
            "{file}: the trace records no client history (nodes record it with ctx.invoke and ctx.complete)"
        )));
    }
    let history =
        History::from_events(events).map_err(|e| CliError::input(format!("{file}: record {e}")))?;
    // What a crash lost of its disk is known when the trace records it
    // (a disk that keeps some unsynced writes: the record after it).
    let lost = |i: usize, crashed| match records.get(i + 1).map(|r| &r.kind) {
        Some(crate::trace::Kind::DiskAtCrash { node, lost, .. }) if *node == crashed => {
            Some(lost.len() as u64)
        }
        _ => None,
    };
    let crashes: Vec<_> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.kind {
            crate::trace::Kind::Crash { node, .. } => Some((i as u64, node, r.time, lost(i, node))),
            _ => None,
        })
        .collect();
    let ops = || {
        records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.kind {
                crate::trace::Kind::Op { node, .. } => Some((i as u64, *node)),
                _ => None,
            })
    };
    let note = |at| crate::check::linearizable::crash_note(&crashes, ops(), Some(at));
    judge(
        &file,
        &history,
        (model, models),
        args,
        &|at| format!("record {at} (t={})", records[at as usize].time),
        &note,
    )
}

fn import_jepsen(args: &CheckArgs, models: &[NamedModel]) -> Result<(), CliError> {
    let file = args.trace.display().to_string();
    let model = args
        .model
        .as_deref()
        .or(args.linearizable.as_deref())
        .ok_or_else(|| {
            let names: Vec<&str> = models
                .iter()
                .map(NamedModel::name)
                .chain(crate::check::linearizable::MODEL_NAMES)
                .collect();
            CliError::input(format!(
                "--import jepsen needs --model MODEL (one of {})",
                names.join(", ")
            ))
        })?;
    let text = std::fs::read(&args.trace)
        .map_err(|e| CliError::input(format!("{file}: cannot read: {e}")))?;
    let text = String::from_utf8(text)
        .map_err(|_| CliError::input(format!("{file}: the history is not UTF-8 text")))?;
    let events = jepsen::read(&text).map_err(|e| CliError::input(format!("{file}:{e}")))?;
    let history = History::from_events(events)
        .map_err(|e| CliError::input(format!("{file}:{}: {}", e.at, e.message)))?;
    judge(
        &file,
        &history,
        (model, models),
        args,
        &|at| format!("line {at}"),
        &|_| None,
    )
}
