//! `dsim show`: a trace as a timeline, JSON lines, a graph, a ShiViz log or
//! a space-time diagram.

use super::CliError;
use crate::node::NodeId;
use crate::protocols::Registry;
use crate::show::{dot, jsonl, shiviz, svg, text, Window};
use crate::time::{Duration, Instant};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// An aligned, greppable timeline, one record per line.
    Text,
    /// One JSON object per record.
    Jsonl,
    /// The happens-before graph for Graphviz.
    Dot,
    /// A log for ShiViz's default parser (always the whole trace).
    Shiviz,
    /// A space-time diagram.
    Svg,
    /// The clients' history: one line per operation event.
    History,
    /// An interactive viewer: one self-contained HTML file (always the
    /// whole trace).
    Html,
}

/// Render a trace.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim show traces/raft-bug-forget-vote-seed-78.trace\n  dsim show run.trace --format svg -o run.svg --from 1s --to 1.5s --nodes 0,1,2\n  dsim show run.trace --format jsonl | jq 'select(.type == \"lost\")'"
)]
pub struct ShowArgs {
    pub trace: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Only records at or after this virtual time (e.g. 1.5s).
    #[arg(long)]
    pub from: Option<String>,
    /// Only records at or before this virtual time.
    #[arg(long)]
    pub to: Option<String>,
    /// Only these nodes, e.g. 0,2,3.
    #[arg(long, value_delimiter = ',')]
    pub nodes: Option<Vec<u32>>,
    /// The key of a keyed trace.
    #[arg(long)]
    pub key: Option<String>,
    /// Render a log from elsewhere instead of a dsim trace (`shiviz`: a
    /// ShiViz / GoVector log, read as `dsim check --import shiviz` reads
    /// it; with --format html).
    #[arg(long, value_name = "FORMAT")]
    pub import: Option<super::check::ImportFormat>,
    /// With --import shiviz: the parser expression (as for dsim check).
    #[arg(long)]
    pub regex: Option<String>,
    /// With --import shiviz: the expression separating executions.
    #[arg(long)]
    pub delimiter: Option<String>,
    /// With --import shiviz: which execution to render (its name or its
    /// number from 0; default the first).
    #[arg(long)]
    pub execution: Option<String>,
}

fn time(flag: &str, text: &Option<String>) -> Result<Option<Instant>, CliError> {
    text.as_deref()
        .map(|t| {
            Duration::parse(t)
                .map(|d| Instant::ZERO.after(d))
                .map_err(|e| CliError::input(format!("--{flag}: {e}")))
        })
        .transpose()
}

pub fn show(registry: &Registry, args: ShowArgs) -> Result<(), CliError> {
    if let Some(out) = &args.output {
        super::files::refuse_overwrite(out, &[&args.trace])?;
    }
    if let Some(format) = &args.import {
        return show_log(format, &args);
    }
    if matches!(args.format, Format::Text | Format::Jsonl | Format::History) {
        return show_streamed(registry, &args);
    }
    // A damaged or cut-short trace still shows every record before the
    // damage, and then says what is wrong (exit 2).
    let (header, mut records, damage) =
        read_trace_prefix(&args.trace, args.key.as_deref().map(str::as_bytes))?;
    let n = header.nodes as usize;
    crate::show::raised_for_digests(n, &mut records);
    let window = window(&args, header.nodes)?.learn(&records);
    if matches!(args.format, Format::Shiviz | Format::Html)
        && (args.from.is_some() || args.to.is_some() || window.nodes.is_some())
    {
        return Err(CliError::input(format!(
            "--format {} renders the whole trace; --from, --to and --nodes apply to text, jsonl, dot, svg and history (the viewer has its own node filter and zoom)",
            if matches!(args.format, Format::Html) { "html" } else { "shiviz" }
        )));
    }
    if damage.is_none() && !records.iter().any(|r| window.shows(r)) {
        let span = records
            .first()
            .zip(records.last())
            .map(|(a, b)| (a.time, b.time));
        note_empty_window(&args, span);
    }
    let protocol = registry.get(&header.protocol);
    let decoder = protocol.map(super::ByProtocol);
    let decode = decoder.as_ref().map(|d| d as _);
    let body = match args.format {
        Format::Text | Format::Jsonl | Format::History => {
            unreachable!("shown as the trace is read, above")
        }
        Format::Dot => dot::render(n, &records, &window),
        Format::Shiviz => shiviz::render(n, &records, &Window::default()),
        Format::Svg => svg::render(n, &records, &window, decode),
        Format::Html => {
            crate::show::html::render(&args.trace.display().to_string(), n, &records, decode)
                .map_err(|why| {
                    CliError::input(format!(
                        "{} ({} records): {why}; show a stretch of it with --format svg and \
                         --from, --to or --nodes, or all of it with --format text or jsonl",
                        args.trace.display(),
                        records.len()
                    ))
                })?
        }
    };
    match &args.output {
        Some(path) => super::files::write(path, body.as_bytes())?,
        None => super::print(&body)?,
    }
    judge_damage(&args.trace, damage, records.len())
}

/// `dsim show --format text|jsonl|history`: a line a record (a history
/// event), written as the trace is read, so that a trace of millions of records is never held; a
/// delivery's clock digest is shown as the entries its merge raised,
/// rebuilt on the way (see [`crate::show::RaisedClocks`]).
fn show_streamed(registry: &Registry, args: &ShowArgs) -> Result<(), CliError> {
    let file = std::fs::File::open(&args.trace)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", args.trace.display())))?;
    let key = args.key.as_deref().map(str::as_bytes);
    let mut reader = crate::trace::TraceReader::new(std::io::BufReader::new(file), key)
        .map_err(|e| CliError::input(format!("{}: {e}", args.trace.display())))?;
    let header = reader.header().clone();
    let mut window = window(args, header.nodes)?;
    let decoder = registry.get(&header.protocol).map(super::ByProtocol);
    let decode = decoder.as_ref().map(|d| d as _);
    let mut clocks = crate::show::RaisedClocks::new(header.nodes as usize);
    let (mut damage, mut read) = (None, 0);
    let (mut shown, mut span) = (0u64, None);
    let format = args.format;
    let lines = reader
        .by_ref()
        .map_while(|r| r.map_err(|e| damage = Some(e)).ok())
        .filter_map(|mut r| {
            let i = read;
            read += 1;
            clocks.fill(&mut r);
            window.learn_one(&r);
            span = Some(span.map_or((r.time, r.time), |(a, _)| (a, r.time)));
            let line = match format {
                _ if !window.shows(&r) => None,
                Format::Jsonl => Some(jsonl::object(i, &r, decode).to_string() + "\n"),
                Format::History => crate::show::history::line(i, &r),
                _ => Some(text::line(i, &r, decode) + "\n"),
            };
            shown += u64::from(line.is_some());
            for m in clocks.done() {
                window.ends.remove(m);
            }
            line
        });
    super::stream(args.output.as_deref(), lines)?;
    match format {
        // An empty history says why, rather than print nothing at all.
        Format::History if shown == 0 && damage.is_none() => eprintln!(
            "note: {} records no client operation{}: the history is empty (nodes record \
             operations with ctx.invoke and ctx.complete)",
            args.trace.display(),
            match (&args.from, &args.to, &args.nodes) {
                (None, None, None) => "",
                _ => " in the window asked for",
            }
        ),
        _ if shown == 0 && damage.is_none() => note_empty_window(args, span),
        _ => {}
    }
    judge_damage(&args.trace, damage, read as usize)
}

/// The part of the trace `args` asks for; `--nodes` checked against the
/// trace's `nodes`.
fn window(args: &ShowArgs, nodes: u32) -> Result<Window, CliError> {
    if let Some(bad) = args.nodes.iter().flatten().find(|&&i| i >= nodes) {
        return Err(CliError::input(format!(
            "--nodes names node {bad}, but the trace has nodes 0..{}",
            nodes.saturating_sub(1)
        )));
    }
    let (from, to) = (time("from", &args.from)?, time("to", &args.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(CliError::input(format!(
                "--from {} is after --to {}: no record could fall in the window",
                args.from.as_deref().unwrap_or_default(),
                args.to.as_deref().unwrap_or_default()
            )));
        }
    }
    Ok(Window {
        from,
        to,
        nodes: args
            .nodes
            .clone()
            .map(|ns| ns.into_iter().map(NodeId).collect()),
        ends: Default::default(),
    })
}

/// Says on standard error that a window given on the command line held
/// no record, and where the trace's records lie: an empty output is not
/// left to look like an empty trace.
fn note_empty_window(args: &ShowArgs, span: Option<(Instant, Instant)>) {
    let mut given = Vec::new();
    for (flag, value) in [("--from", &args.from), ("--to", &args.to)] {
        if let Some(v) = value {
            given.push(format!("{flag} {v}"));
        }
    }
    if let Some(ns) = &args.nodes {
        let ns: Vec<String> = ns.iter().map(u32::to_string).collect();
        given.push(format!("--nodes {}", ns.join(",")));
    }
    if given.is_empty() {
        return;
    }
    let lie = match span {
        Some((a, b)) => format!("its records run from {a} to {b}"),
        None => "it has no records".to_string(),
    };
    eprintln!(
        "note: no record of {} falls in the window ({}); {lie}",
        args.trace.display(),
        given.join(" ")
    );
}

/// After a trace's records are shown: exit 2 naming the damage that cut
/// them short, if any.
fn judge_damage(
    trace: &std::path::Path,
    damage: Option<crate::trace::TraceError>,
    shown: usize,
) -> Result<(), CliError> {
    match damage {
        None => Ok(()),
        Some(e) => Err(CliError::input(format!(
            "{}: {e} (the {shown} records before it are shown)",
            trace.display(),
        ))),
    }
}

/// Reads a trace as far as it is sound: the header, every record before
/// any damage, and the damage, if any.
fn read_trace_prefix(
    path: &std::path::Path,
    key: Option<&[u8]>,
) -> Result<
    (
        crate::trace::Header,
        Vec<crate::trace::Record<'static>>,
        Option<crate::trace::TraceError>,
    ),
    CliError,
> {
    let file = std::fs::File::open(path)
        .map_err(|e| CliError::input(format!("{}: cannot read: {e}", path.display())))?;
    let mut reader = crate::trace::TraceReader::new(std::io::BufReader::new(file), key)
        .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
    let mut records = Vec::new();
    let mut damage = None;
    for r in reader.by_ref() {
        match r {
            Ok(r) => records.push(r),
            Err(e) => {
                damage = Some(e);
                break;
            }
        }
    }
    Ok((reader.header().clone(), records, damage))
}

/// `dsim show LOG --import shiviz --format html`.
fn show_log(format: &super::check::ImportFormat, args: &ShowArgs) -> Result<(), CliError> {
    if !matches!(format, super::check::ImportFormat::Shiviz) {
        return Err(CliError::input(
            "show --import renders ShiViz logs only (--import shiviz)",
        ));
    }
    if !matches!(args.format, Format::Html) {
        return Err(CliError::input("a ShiViz log renders with --format html"));
    }
    let report = super::check::load_shiviz(
        &args.trace,
        args.regex.as_deref(),
        args.delimiter.as_deref(),
    )?;
    let pick = match &args.execution {
        None => report.executions.first(),
        Some(want) => report
            .executions
            .iter()
            .enumerate()
            .find(|(i, e)| e.name == *want || want.parse::<usize>().ok() == Some(*i))
            .map(|(_, e)| e),
    };
    let Some(execution) = pick else {
        let names: Vec<String> = report
            .executions
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{i} \"{}\"", e.name))
            .collect();
        return Err(CliError::input(format!(
            "{}: no execution {:?}; the log has {}",
            args.trace.display(),
            args.execution.as_deref().unwrap_or(""),
            names.join(", ")
        )));
    };
    let title = if execution.name.is_empty() {
        args.trace.display().to_string()
    } else {
        format!("{} ({})", args.trace.display(), execution.name)
    };
    let body = crate::show::html::render_log(&title, &execution.log, &execution.violations)
        .map_err(|why| CliError::input(format!("{}: {why}", args.trace.display())))?;
    match &args.output {
        Some(path) => super::files::write(path, body.as_bytes())?,
        None => super::print(&body)?,
    }
    Ok(())
}
