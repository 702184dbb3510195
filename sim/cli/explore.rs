//! `dsim explore`: every order of events, to a bound.

use super::run::load_checked;
use super::CliError;
use crate::config::{Budgets, Strategy};
use crate::explore::{Options, Order, Report};
use crate::protocols::{Registry, RunOptions};
use crate::show::plain;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Explore every order of deliveries, timers and client operations (and,
/// within budgets, drops, duplicates and crashes) to a depth; a violation
/// becomes a trace that replays exactly.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  dsim explore scenarios/echo-bug-no-dedup.toml --depth 12 --duplicates 1\n  dsim explore scenarios/twophase-crash.toml --dfs --depth 30 --crashes 1 --max-states 200000"
)]
pub struct ExploreArgs {
    /// The scenario file (its nodes, parameters, workload count and seed
    /// are used; its network and fault schedule are not).
    pub scenario: PathBuf,
    /// Breadth-first (the default: a violation found is a shortest one).
    #[arg(long, conflicts_with = "dfs")]
    pub bfs: bool,
    /// Depth-first.
    #[arg(long)]
    pub dfs: bool,
    /// Longest path explored, in steps.
    #[arg(long, default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub depth: usize,
    /// Stop after this many distinct states.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_states: u64,
    /// Messages that may be dropped along one path.
    #[arg(long, default_value_t = 0)]
    pub drops: u32,
    /// Messages that may be duplicated along one path.
    #[arg(long, default_value_t = 0)]
    pub duplicates: u32,
    /// Crashes along one path (a crashed node may restart at any step).
    #[arg(long, default_value_t = 0)]
    pub crashes: u32,
    /// Crashed nodes come back: a settle first restarts every node the
    /// path crashed and left down, so `eventually` checks are judged as of
    /// a system whose crashes are all followed by restarts. By default
    /// such a node stays down through the settle, judged as down for good.
    #[arg(long, requires = "crashes")]
    pub recover: bool,
    /// A crash may also fall in the middle of a handler: right after one
    /// of its first N sends, so that the rest of a broadcast never leaves
    /// and nothing the handler did after that send happens (its disk as
    /// it was then). Such crashes count among --crashes.
    #[arg(long, value_name = "N", requires = "crashes", value_parser = clap::value_parser!(u32).range(1..))]
    pub mid_handler: Option<u32>,
    /// Timers that may fire early along one path: while a message is in
    /// flight or a task is ready (a timeout that beats a slow message).
    /// By default any timer may fire at any step.
    #[arg(long, value_name = "N")]
    pub early_timers: Option<u32>,
    /// From each state explored, go on without faults for at most this
    /// many steps (tasks run, copies delivered oldest first, the
    /// operations left handed out, timers fired in the order they fall
    /// due) until every `eventually` check holds: one that never does
    /// fails the search. A settle whose failing check's message still
    /// changes (a system still converging) goes on, up to ten times as
    /// many. 0: judge `eventually` only where nothing more can happen.
    #[arg(long, value_name = "STEPS", default_value_t = crate::config::Budgets::SETTLE)]
    pub settle: u32,
    /// Client operations issued, at most (default: the scenario's count).
    #[arg(long)]
    pub operations: Option<u64>,
    /// The seed (default: the scenario's): node and workload randomness.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// Explore the workload of each seed of A..B in turn (B excluded),
    /// stopping at the first violation: the search orders a workload's
    /// operations, the seeds vary their values and nodes.
    #[arg(long, value_name = "A..B")]
    pub seeds: Option<String>,
    /// Where the summary and a counterexample's trace go.
    #[arg(long, default_value = "explore-out")]
    pub out: PathBuf,
    /// Check only this invariant (repeat for more).
    #[arg(long = "check", value_name = "INVARIANT")]
    pub checks: Vec<String>,
    /// A delivery its node ignores (changing nothing, sending nothing) is
    /// not a step: the message stays in flight for later, as in
    /// stateright's actor models. By default a delivery consumes its
    /// message, as a real network does.
    #[arg(long)]
    pub keep_ignored: bool,
    /// Take every order of steps that commute (two steps at different
    /// nodes that do not both record a client operation's event). By
    /// default such a step is not taken again from a state another order
    /// already covers (partial-order reduction with sleep sets): every
    /// state is still reached and checked, fewer times.
    #[arg(long)]
    pub no_reduction: bool,
}

pub fn explore(registry: &Registry, args: ExploreArgs) -> Result<(), CliError> {
    // A search refused (a scenario it cannot take, say) leaves no empty
    // `--out` directory behind; one that wrote something keeps it.
    let created = !args.out.exists();
    let out = args.out.clone();
    let searched = search(registry, args);
    if searched.is_err() && created {
        let _ = std::fs::remove_dir(&out);
    }
    searched
}

fn search(registry: &Registry, args: ExploreArgs) -> Result<(), CliError> {
    let scenario = load_checked(registry, &args.scenario, &args.checks, &Default::default())?;
    // The seeds searched, the last included (a lone seed may be u64::MAX).
    let (first, last_seed) = match &args.seeds {
        Some(range) => {
            let (a, b) = super::sweep::parse_seeds(range)?;
            (a, b - 1)
        }
        None => {
            let seed = args.seed.unwrap_or(scenario.seed);
            (seed, seed)
        }
    };
    let protocol = registry
        .get(&scenario.protocol)
        .ok_or_else(|| CliError::input(format!("unknown protocol {}", scenario.protocol)))?;
    // What spends crashes, with none to spend, would search nothing more
    // than the user asked for, unsaid.
    for (given, flag) in [
        (args.mid_handler.is_some(), "--mid-handler"),
        (args.recover, "--recover"),
    ] {
        if given && args.crashes == 0 {
            return Err(CliError::input(format!(
                "{flag} acts on the crashes a search chooses, but --crashes 0 allows none: give \
                 --crashes N"
            )));
        }
    }
    let budgets = Budgets {
        drops: args.drops,
        duplicates: args.duplicates,
        crashes: args.crashes,
        early_timers: args.early_timers,
        settle: args.settle,
        recover: args.recover,
        mid_handler: args.mid_handler.unwrap_or(0),
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    }
    let started = std::time::Instant::now();
    let many = args.seeds.is_some();
    super::files::out_dir(&args.out)?;
    // Each seed's report, a line each, streamed as the seeds are searched
    // (flat in memory however many seeds); the searches as one report.
    let per_seed = args.out.join("seeds.jsonl");
    let mut lines = match many {
        true => Some(super::files::Partial::create(&per_seed)?),
        false => None,
    };
    let mut all: Option<Report> = None;
    let mut searched = 0u64;
    let mut last = None;
    // Each seed's workload searched in turn; the first violation ends it.
    for seed in first..=last_seed {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let (report, config, resolved) =
            match search_seed(protocol, &scenario, seed, &args, budgets, &interrupted) {
                Ok(searched) => searched,
                Err(e) => {
                    // The seeds searched before stay recorded.
                    if let Some(p) = lines.take() {
                        let _ = p.commit();
                    }
                    return Err(e);
                }
            };
        if let Some(p) = lines.as_mut() {
            let drawn = searched_draws(&resolved);
            let of = drawn.as_ref().map(|d| format!(" (drew {d})"));
            let ops = operations_drawn(&config).map(|o| format!("; operations {o}"));
            println!(
                "seed {seed:<6} {}{}{}",
                seed_line(&report),
                plain(&of.unwrap_or_default()),
                ops.unwrap_or_default()
            );
            let mut line = match drawn {
                Some(drawn) => {
                    serde_json::json!({ "seed": seed, "drawn": drawn, "report": &report })
                }
                None => serde_json::json!({ "seed": seed, "report": &report }),
            }
            .to_string();
            line.push('\n');
            p.file().write_all(line.as_bytes()).map_err(|e| {
                CliError::input(format!("cannot write {}: {e}", per_seed.display()))
            })?;
        }
        let found = report.violation.is_some();
        fold(&mut all, many.then_some(seed), report);
        searched += 1;
        last = Some((seed, config, resolved));
        if found {
            break;
        }
    }
    let (Some((seed, mut config, resolved)), Some(mut report)) = (last, all) else {
        return Err(CliError::input(format!(
            "{}: the search was interrupted before its first seed",
            scenario.file
        )));
    };
    report.not_evaluated.retain(|c| !report.checks.contains(c));
    if let Some(p) = lines {
        p.commit()?;
    }
    let wall = started.elapsed().as_secs_f64();
    let summary = match many {
        false => serde_json::json!({
            "scenario": scenario.file,
            "protocol": scenario.protocol,
            "seed": seed,
            "drawn": searched_draws(&resolved),
            "budgets": &budgets,
            "report": &report,
            "seconds": wall,
        }),
        true => serde_json::json!({
            "scenario": scenario.file,
            "protocol": scenario.protocol,
            "seeds": { "start": first, "end": last_seed + 1, "searched": searched, "each": "seeds.jsonl" },
            "budgets": &budgets,
            "report": &report,
            "seconds": wall,
        }),
    };
    let mut text = serde_json::to_string_pretty(&summary).map_err(CliError::input)?;
    text.push('\n');
    super::files::write(&args.out.join("summary.json"), text.as_bytes())?;
    print_report(&report, wall, budgets);
    println!("{}", faults_line(&resolved.config, budgets));
    // The byzantine nodes the search ran with, fixed for all of it (under
    // --seeds, the last seed's: where the violation is, if one was found).
    if !many || report.violation.is_some() {
        for b in &resolved.config.adversary.byzantine {
            println!(
                "byzantine  {}: {} (in every state searched)",
                b.node, b.behaviour
            );
        }
    }
    // A scenario with ranges: the configuration searched is one seed's
    // draw (each seed's, under --seeds, on its own line above).
    match (searched_draws(&resolved), many) {
        (Some(drawn), false) => println!(
            "drawn      {} (seed {seed}'s draw of the scenario's ranges; --seeds A..B searches \
             each seed's)",
            plain(&drawn)
        ),
        (Some(drawn), true) if report.violation.is_some() => {
            println!(
                "drawn      {} (seed {seed}'s, where the violation is)",
                plain(&drawn)
            )
        }
        _ => {}
    }
    let workload = if many {
        many_workloads_line(&config, (first, last_seed + 1), searched)
    } else {
        workload_line(&config, seed)
    };
    if let Some(line) = workload {
        println!("{line}");
    }
    let Some(found) = &report.violation else {
        // A history check the search never judged: it cannot pass on it,
        // as a sweep in which a check ran in no seed does not. Nor can a
        // search stopped by a signal (Ctrl-C, a CI job's timeout) pass,
        // as an interrupted sweep does not.
        if interrupted.load(Ordering::SeqCst) {
            return Err(CliError::input(format!(
                "{}: the search was interrupted after {} states; what it covered is in {}",
                scenario.file,
                report.counts.states,
                args.out.join("summary.json").display()
            )));
        }
        return match report.unjudged() {
            Some(why) => Err(CliError::input(format!("{}: {why}", scenario.file))),
            None => Ok(()),
        };
    };
    if many {
        println!("seed       {seed}: the violation is in this seed's workload (`--seed {seed}` explores it alone)");
    }
    // The counterexample as a trace: the same run, following the path (to
    // the state whose settle failed: the run settles from there as the
    // search did).
    config.strategy = Strategy::Explore {
        path: found.path[..found.path.len() - found.settled].to_vec(),
        budgets,
    };
    let recipe = crate::replay::Recipe {
        protocol: scenario.protocol.clone(),
        config: config.clone(),
        params: resolved.params.clone(),
        invariants: resolved.invariants.clone(),
        linearizable: resolved.linearizable.clone(),
        answered: resolved.answered,
    };
    config.replay = recipe.to_json();
    let mut bytes = Vec::new();
    let options = RunOptions {
        trace: Some(&mut bytes),
        invariants: resolved.invariants.clone(),
        linearizable: resolved.linearizable.clone(),
        answered: resolved.answered,
        ..RunOptions::default()
    };
    let outcome = protocol
        .run(config, &resolved.params, options)
        .map_err(|e| CliError::input(e.to_string()))?;
    let stem = args
        .scenario
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "explore".into());
    let trace = args.out.join(format!("{stem}-explored.trace"));
    super::files::write(&trace, &bytes)?;
    if outcome.failure.as_ref().map(|f| &f.check) != Some(&found.check) {
        eprintln!("warning: the counterexample's trace does not fail as the search did; please report this with the trace");
    }
    println!(
        "trace      {} (replay it with: {} replay {})",
        trace.display(),
        super::program(),
        trace.display()
    );
    Err(CliError::CheckFailed)
}

/// The search of one seed's workload: its report, and the configuration
/// and scenario it ran, for the counterexample's trace.
fn search_seed(
    protocol: &dyn crate::protocols::Protocol,
    scenario: &crate::scenario::Scenario,
    seed: u64,
    args: &ExploreArgs,
    budgets: Budgets,
    interrupted: &Arc<AtomicBool>,
) -> Result<(Report, crate::SimConfig, crate::scenario::Resolved), CliError> {
    let resolved = scenario.resolve(seed).map_err(CliError::input)?;
    let mut config = resolved.config.clone();
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets,
    };
    if let (Some(ops), Some(w)) = (args.operations, config.workload.as_mut()) {
        w.count = w.count.min(ops);
    }
    let started = std::time::Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = ProgressBar::new_spinner();
        b.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        b
    });
    let shown = bar.clone();
    let progress: crate::explore::ProgressFn = Arc::new(move |p| {
        let rate = p.states as f64 / started.elapsed().as_secs_f64().max(1e-9);
        let msg = format!(
            "{} states, {} distinct, {rate:.0} states/s, depth {}, {} waiting",
            p.states, p.unique, p.depth, p.frontier
        );
        match &shown {
            Some(b) => b.set_message(msg),
            None if p.states % (1 << 16) == 0 => eprintln!("explore: {msg}"),
            None => {}
        }
    });
    let options = Options {
        order: if args.dfs { Order::Dfs } else { Order::Bfs },
        depth: args.depth,
        max_states: args.max_states,
        interrupted: Some(interrupted.clone()),
        progress: Some(progress),
        ignored_stay: args.keep_ignored,
        reduction: !args.no_reduction,
        ..Options::default()
    };
    let run_options = RunOptions {
        invariants: resolved.invariants.clone(),
        linearizable: resolved.linearizable.clone(),
        answered: resolved.answered,
        ..RunOptions::default()
    };
    let report = protocol.explore(config.clone(), &resolved.params, run_options, &options);
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let report = match report {
        Ok(report) => report,
        // The protocol's defect, as a sweep's `determinism` is: exit 1.
        Err(crate::SimError::Config(m)) if m.starts_with(crate::explore::NOT_DETERMINISTIC) => {
            println!("NONDETERMINISTIC  {}: {}", scenario.file, plain(&m));
            return Err(CliError::CheckFailed);
        }
        // Asked by a flag, not by the scenario: the flag is named.
        Err(crate::SimError::Config(m)) if m == crate::explore::IGNORED_NEEDS_HASH => {
            return Err(CliError::input(format!(
                "--keep-ignored: the nodes of protocol `{}` do not hash, and {m}",
                protocol.name()
            )))
        }
        Err(e) => return Err(CliError::input(format!("{}: {e}", scenario.file))),
    };
    Ok((report, config, resolved))
}

/// One seed's search, in a line, for `--seeds`.
fn seed_line(r: &Report) -> String {
    let how = match (&r.violation, &r.stopped) {
        (Some(f), _) => format!(
            "VIOLATION of `{}` after {} steps",
            plain(&f.check),
            f.path.len()
        ),
        (None, Some(why)) => format!("no violation; stopped early: {why}"),
        (None, None) if r.complete && r.cut_at_depth > 0 => {
            format!("no violation up to depth {}", r.depth_bound)
        }
        (None, None) => "no violation in any reachable state".to_string(),
    };
    format!("{} distinct states: {how}", r.counts.unique)
}

/// Adds one seed's search to the searches so far, as one report: counts
/// summed, a check counted as run if it ran in any seed's search (and as
/// not run only if it ran in none), complete only if every search was,
/// stopped early if any was (the first such seed named, when several are
/// searched), the violation the last search's (the search stops at the
/// first).
fn fold(all: &mut Option<Report>, seed: Option<u64>, mut r: Report) {
    let named = |why: String| match seed {
        Some(seed) => format!("seed {seed}: {why}"),
        None => why,
    };
    let Some(all) = all else {
        r.stopped = r.stopped.map(named);
        *all = Some(r);
        return;
    };
    let c = &mut all.counts;
    c.states += r.counts.states;
    c.unique += r.counts.unique;
    c.ignored += r.counts.ignored;
    c.early += r.counts.early;
    c.slept += r.counts.slept;
    c.again += r.counts.again;
    c.depth = c.depth.max(r.counts.depth);
    c.frontier += r.counts.frontier;
    all.cut_at_depth += r.cut_at_depth;
    all.terminal += r.terminal;
    all.settled += r.settled;
    all.settle_steps += r.settle_steps;
    all.settle_longest = all.settle_longest.max(r.settle_longest);
    // How states were told apart and reached, and why steps were not
    // reduced: as in every seed, or as in the first seed where not.
    all.hashed &= r.hashed;
    all.copied &= r.copied;
    if all.unhashable.is_none() {
        all.unhashable = r.unhashable;
    }
    if all.reduction_off.is_none() {
        all.reduction_off = r.reduction_off;
    }
    all.complete &= r.complete;
    if all.stopped.is_none() {
        all.stopped = r.stopped.map(named);
    }
    all.violation = r.violation;
    for check in r.checks {
        if !all.checks.contains(&check) {
            all.checks.push(check);
        }
    }
    all.not_evaluated.retain(|c| r.not_evaluated.contains(c));
    all.history_not_evaluated
        .retain(|c| r.history_not_evaluated.contains(c));
    all.clock_read |= r.clock_read;
}

/// The workloads `--seeds` searched.
fn many_workloads_line(
    config: &crate::SimConfig,
    seeds: (u64, u64),
    searched: u64,
) -> Option<String> {
    let w = config.workload.as_ref().filter(|w| w.count > 0)?;
    let range = format!("{}..{}", seeds.0, seeds.1);
    let of = if searched == seeds.1 - seeds.0 {
        format!("each seed of {range}")
    } else {
        format!(
            "each seed of {}..{} (the first {searched} of {range})",
            seeds.0,
            seeds.0 + searched
        )
    };
    let (s, them) = if w.count == 1 {
        ("", "it")
    } else {
        ("s", "them")
    };
    Some(format!(
        "workload   {} client operation{s} as {of} draws {them} (values and nodes): the search orders each seed's, the seeds vary {them}",
        w.count
    ))
}

/// The client operations the search interleaved: their values and nodes
/// are the seed's, not a choice, so a clean search covered that one
/// workload.
fn workload_line(config: &crate::SimConfig, seed: u64) -> Option<String> {
    let w = config.workload.as_ref().filter(|w| w.count > 0)?;
    let (n, s, them) = match w.count {
        1 => (1, "", "it"),
        n => (n, "s", "them"),
    };
    let ops = operations_drawn(config).unwrap_or_default();
    Some(format!(
        "workload   {n} client operation{s} as seed {seed} draws {them} (values and nodes: {ops}): the search orders {them}, it does not vary {them}; another --seed explores another workload, --seeds A..B one after another"
    ))
}

/// The first client operations a seed's workload hands out, as a search
/// draws them (the workload's own stream, one draw an operation): a seed
/// whose operations cannot meet (each on a key of its own, say) is seen
/// to search nothing that could fail.
fn operations_drawn(config: &crate::SimConfig) -> Option<String> {
    const SHOWN: u64 = 6;
    let w = config.workload.as_ref().filter(|w| w.count > 0)?;
    let mut rng = crate::rng::DetRng::new(config.seed, crate::rng::Stream::Workload);
    let shown: Vec<String> = (0..w.count.min(SHOWN))
        .map(|_| {
            let (to, value, _) = w.draw(&mut rng, config.nodes);
            format!("value {value} to {to}")
        })
        .collect();
    let more = match w.count > SHOWN {
        true => format!(" and {} more", w.count - SHOWN),
        false => String::new(),
    };
    Some(format!("{}{more}", shown.join(", ")))
}

/// What faults the search chose among, and what of the scenario's own
/// fault plan and network it did not use: a scenario written for runs and
/// sweeps says "crash node 1", and an exploration without `--crashes`
/// must not look as if it covered that.
fn faults_line(config: &crate::SimConfig, b: Budgets) -> String {
    let plural = |n: u32, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!(
        "faults     chosen by the search: up to {}, {}, {} (--drops, --duplicates, --crashes); {}",
        plural(b.drops, "drop", "drops"),
        plural(b.duplicates, "duplicate", "duplicates"),
        plural(b.crashes, "crash", "crashes"),
        match b.early_timers {
            None => "a timer may fire at any step, even before a message in flight arrives \
                     (--early-timers N bounds those)"
                .to_string(),
            Some(0) => "timers fire only when nothing else can happen: no message in flight, \
                        no task ready (--early-timers 0)"
                .to_string(),
            Some(n) => format!(
                "up to {} before a message in flight arrives or a ready task runs \
                 (--early-timers), the others only when nothing else can happen",
                plural(n, "timer fires", "timers fire")
            ),
        }
    );
    // Where in a node's work a crash may fall.
    if b.crashes > 0 {
        line.push_str(&match b.mid_handler {
            0 => "; crashes fall between handlers (--mid-handler N lets one fall right after a \
                  handler's send)"
                .to_string(),
            n => format!(
                "; a crash may fall right after any of a handler's first {} (--mid-handler)",
                plural(n, "send", "sends")
            ),
        });
    }
    // What becomes of a node crashed and not restarted when a settle
    // judges liveness.
    match (b.crashes, b.recover) {
        (0, _) => {}
        (_, true) => line.push_str("; a settle first restarts every crashed node (--recover)"),
        (_, false) => line.push_str(
            "; a node crashed and not restarted stays down through a settle (--recover \
             restarts it first)",
        ),
    }
    let net = &config.network;
    let mut unused = Vec::new();
    for (n, one, many, what) in [
        (
            config.faults.len(),
            "planned fault",
            "planned faults",
            " ([[fault]])",
        ),
        (
            net.planned.len(),
            "planned message fault",
            "planned message faults",
            "",
        ),
    ] {
        if n > 0 {
            unused.push(format!("its {}{what}", plural(n as u32, one, many)));
        }
    }
    let links: Vec<&crate::LinkConfig> = std::iter::once(&net.default)
        .chain(net.links.iter().map(|(_, _, l)| l))
        .collect();
    let random: Vec<&str> = [
        ("loss", links.iter().any(|l| l.loss.0 > 0)),
        ("duplication", links.iter().any(|l| l.duplicate.0 > 0)),
        ("corruption", links.iter().any(|l| l.corrupt.0 > 0)),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(name, _)| *name)
    .collect();
    if !random.is_empty() {
        unused.push(format!("its network's {}", random.join(", ")));
    }
    if links.iter().any(|l| l.capacity.is_some()) {
        unused.push("its links' capacity (a search's mailboxes are unbounded)".to_string());
    }
    if !unused.is_empty() {
        line.push_str(&format!(
            "; not used from the scenario: {}",
            unused.join(", ")
        ));
    }
    line
}

/// How a search tells apart states of nodes that do not hash.
const BY_EVENTS: &str = "so each node is known by the events it was handed, in order: two \
     paths that hand every node the same events are one state";

/// A seed's draws of the scenario's ranges that the search uses: not the
/// fault schedule's nor the network's (nor the faults a draw left out),
/// which a search does not use (its faults are its own choices), and
/// which would read as if it had.
fn searched_draws(resolved: &crate::scenario::Resolved) -> Option<String> {
    let unused = ["fault.", "network.", "skipped "];
    resolved.drawn_words_where(|k| !unused.iter().any(|u| k.starts_with(u)))
}

/// What a search that saw a node read its clock says about it.
const CLOCKS_NOT_EXPLORED: &str =
    "nodes read their clocks (ctx.now()), and a search does not model \
     time: each step takes 1 ms and timers fire in any order their own node's lengths allow, so what \
     the protocol decides from its clocks (a lease, a deadline) was not explored; random runs \
     (a sweep) keep time";

/// What a settle does first, by [`Budgets::recover`].
const RESTARTED: [&str; 2] = ["", "crashed nodes restarted first, "];

/// The first and last steps of a settle a violation's steps show.
const SETTLE_SHOWN: usize = 12;
const SETTLE_SHOWN_END: usize = 4;

fn print_report(r: &Report, wall: f64, budgets: Budgets) {
    let c = &r.counts;
    // Nodes that do not hash are known by what they were handed, which
    // tells apart states that only different events lead to.
    let counted = match (r.hashed, &r.unhashable) {
        (true, _) => format!("{} distinct", c.unique),
        (false, Some(why)) => format!("{} distinct; {why}, {BY_EVENTS}", c.unique),
        (false, None) => format!(
            "{} distinct; node states do not hash, {BY_EVENTS} (derive Hash on the node type \
             and build the simulation with .hashable() to also merge states that different \
             events lead to)",
            c.unique
        ),
    };
    println!(
        "explored   {} states ({counted}), {:?} to depth {}, in {wall:.2}s ({:.0} states/s)",
        c.states,
        r.order,
        r.depth_bound,
        c.states as f64 / wall.max(1e-9)
    );
    println!(
        "reached    depth {}, {} states where nothing more can happen, {} cut at the depth bound, {} waiting",
        c.depth, r.terminal, r.cut_at_depth, c.frontier
    );
    if r.settled > 0 {
        println!(
            "settled    {} states: from each, the path went on without faults ({}tasks run, \
             copies delivered oldest first, the operations left handed out, timers fired in the \
             order they fall due) until every `eventually` check held, for at most {} steps \
             (--settle; up to ten times as many while a failing check's message still changed): \
             {} steps in all, the longest {}",
            r.settled,
            RESTARTED[usize::from(budgets.recover)],
            budgets.settle,
            r.settle_steps,
            r.settle_longest
        );
        // Settles longer than the search itself: what they cost, and how
        // to spend less.
        if r.settle_steps > 10 * c.states {
            println!(
                "hint       the settles took {} steps where the search took {}, most of its \
                 time: a settle goes on until every `eventually` check holds, and first hands out \
                 the operations left when a check waits for the workload; --operations N hands \
                 out fewer, --settle 0 judges `eventually` only where nothing more can happen",
                r.settle_steps, c.states
            );
        }
    }
    match &r.reduction_off {
        None => println!(
            "reduced    {} steps not taken: another order of the same steps reached what they would (partial-order reduction; --no-reduction takes them){}",
            c.slept,
            match c.again {
                0 => String::new(),
                n => format!("; {n} states explored again for steps asleep the first time"),
            }
        ),
        Some(why) if why != "turned off" => println!(
            "reduced    nothing: {why} (every order of steps was taken)"
        ),
        Some(_) => {}
    }
    if c.ignored > 0 {
        println!(
            "ignored    {} deliveries changed nothing and were left in flight",
            c.ignored
        );
    }
    let none_unrun = r.not_evaluated.is_empty() && r.history_not_evaluated.is_empty();
    match (r.checks.is_empty(), none_unrun) {
        (true, true) => println!(
            "checked    no protocol invariant (the protocol registers none): only handler panics, messages that do not encode or read back, and stalls"
        ),
        (true, false) => println!(
            "checked    no protocol invariant: only handler panics, messages that do not encode or read back, and stalls"
        ),
        (false, _) => println!(
            "checked    {}, and handler panics, messages that do not encode or read back, and stalls",
            plain(&r.checks.join(", "))
        ),
    }
    if !r.not_evaluated.is_empty() {
        // No path came to rest: deeper, or never (timers that re-arm).
        let why = match r.terminal {
            0 if r.cut_at_depth > 0 => format!(
                "; every path was still going at depth {}: a deeper search (--depth) reaches rest if the protocol comes to it, but one whose timers re-arm forever (heartbeats, resends) never does, and a random run (`{} sweep`) judges it there",
                r.depth_bound,
                super::program()
            ),
            _ => String::new(),
        };
        let settle = match budgets.settle {
            0 => "; --settle N judges `eventually` after a settle from each state explored"
                .to_string(),
            _ => String::new(),
        };
        println!(
            "NOT RUN    {}: judged only where nothing more can happen (for `eventually`, with no fault in force, or after a settle), and the search reached no such state{why}{settle}",
            plain(&r.not_evaluated.join(", "))
        );
    }
    if !r.history_not_evaluated.is_empty() {
        println!(
            "NOT RUN    {}: {}",
            plain(&r.history_not_evaluated.join(", ")),
            crate::explore::HISTORY_NOT_RUN
        );
    }
    if r.clock_read {
        println!("time       {CLOCKS_NOT_EXPLORED}");
    }
    match (&r.violation, &r.stopped, r.complete) {
        (Some(f), _, _) => {
            println!(
                "VIOLATION  `{}` after {} steps: {}",
                plain(&f.check),
                f.path.len(),
                plain(&f.message)
            );
            if f.settled > 0 {
                println!(
                    "settled    steps {} to {} are a settle from {}: no fault, {}tasks run, \
                     copies delivered oldest first, the operations left handed out, timers fired \
                     in the order they fall due",
                    f.path.len() - f.settled,
                    f.path.len() - 1,
                    match f.path.len() - f.settled {
                        0 => "the start".to_string(),
                        1 => "the state the search reached in 1 step".to_string(),
                        n => format!("the state the search reached in {n} steps"),
                    },
                    RESTARTED[usize::from(budgets.recover)],
                );
            }
            if let (Some(due), false) = (&f.due, f.at_end) {
                println!("judged     {}", plain(due.trim_start_matches("judged ")));
            }
            if f.at_end {
                println!(
                    "judged     where the path ends: no step is left to take (no delivery, timer \
                     or operation), so nothing more can happen; the search has no clock, so an \
                     end-of-run or `eventually` check is judged only there"
                );
            }
            // A long settle is shown by its start and its end: its steps
            // are all in the trace.
            let settle_from = f.path.len() - f.settled;
            let (head, tail) = (
                settle_from + SETTLE_SHOWN,
                f.path.len().saturating_sub(SETTLE_SHOWN_END),
            );
            for (i, s) in f.steps.iter().enumerate() {
                if f.settled > SETTLE_SHOWN + SETTLE_SHOWN_END && (head..tail).contains(&i) {
                    if i == head {
                        println!(
                            "  ...       {} more steps of the settle (the trace has every one)",
                            tail - head
                        );
                    }
                    continue;
                }
                println!("  step {i:>3}  {}", plain(s));
            }
            for (i, m) in f.in_flight.iter().enumerate() {
                let head = if i == 0 { "in flight" } else { "" };
                println!("  {head:<9} {}", plain(m));
            }
        }
        (None, Some(why), _) => println!(
            "verdict    no violation in the {} states covered; the search stopped early: {why}",
            c.unique
        ),
        (None, None, true) if r.cut_at_depth > 0 => println!(
            "verdict    no violation up to depth {} ({} distinct states); deeper states were not explored",
            r.depth_bound, c.unique
        ),
        (None, None, _) if r.checks.is_empty() => println!(
            "verdict    no panic or stall in any reachable state ({} distinct states, all explored); no invariant was checked",
            c.unique
        ),
        (None, None, _) => println!(
            "verdict    no violation in any reachable state ({} distinct states, all explored)",
            c.unique
        ),
    }
    // A search that did not finish, of nodes that could be copied and were
    // not (async nodes cannot be): the user is told what copying gives.
    if r.violation.is_none() && !r.complete && !r.copied && r.unhashable.is_none() {
        println!(
            "hint       each state was reached by running its path again from the start; derive \
             Clone on the node type and build the simulation with .cloneable() to reach it one \
             step from a copy of its parent instead (about depth times less work)"
        );
    }
    // A search that did not finish, some of whose states a timer beating
    // a message made: the user is told how many, and how to bound those.
    if r.violation.is_none() && !r.complete && budgets.early_timers.is_none() && c.early > 0 {
        println!(
            "hint       {} of the {} states reached were reached by a timer that fired while a \
             message was in flight or a task was ready (a timeout beating a slow message); \
             --early-timers 0 lets timers fire only when nothing else can happen, --early-timers \
             1 allows one such firing a path: a far smaller search of every order of the \
             messages themselves",
            c.early, c.states
        );
    }
}
