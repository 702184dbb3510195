//! Exploration and PCT: every built-in broken twin found with small
//! bounds, correct protocols clean to a stated depth, counterexamples that
//! replay, shortest paths from BFS, nondeterminism caught, and the
//! ordering a random sweep never lines up.

use crate::common;

use common::{dsim, text, tmp};
use dsim::explore::{search, Options, Order};
use dsim::protocols::abd::stateright_model;
use dsim::{Budgets, Context, Node, NodeId, SimConfig, Simulation, Strategy};
use serde::{Deserialize, Serialize};

/// `dsim explore SCENARIO --out DIR EXTRA...`: its exit code, its output,
/// and DIR.
pub(crate) fn explore(scenario: &str, extra: &[&str]) -> (Option<i32>, String, std::path::PathBuf) {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = tmp(&format!("explore-{run}"));
    let mut args = vec!["explore", scenario, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = dsim(&args);
    (o.status.code(), text(&o), out)
}

/// The bundled twins exploration finds with small bounds: scenario, its
/// flags, the steps of a shortest violation.
pub(crate) const SMALL_TWINS: &[(&str, &[&str], usize)] = &[
    (
        "scenarios/echo-bug-no-dedup.toml",
        &["--operations", "1"],
        5,
    ),
    (
        "scenarios/broadcast-bug-no-dedup.toml",
        &["--operations", "1"],
        4,
    ),
    (
        "scenarios/causal-bug-deliver-on-arrival.toml",
        &["--operations", "2"],
        4,
    ),
    (
        "scenarios/twophase-bug-commit-on-timeout.toml",
        &["--operations", "1"],
        3,
    ),
    (
        "scenarios/explore/raft-forget-vote-one-crash.toml",
        &["--crashes", "1", "--depth", "9"],
        8,
    ),
    // Against a byzantine twin: a search takes twins as it takes honest
    // nodes (`--settle 0`: the shortest violation, not a settle's path).
    (
        "scenarios/explore/bracha-bug-twins-small.toml",
        &["--settle", "0"],
        10,
    ),
];

#[test]
fn every_small_broken_twin_is_found_and_its_trace_replays() {
    for &(scenario, extra, steps) in SMALL_TWINS {
        let (code, out, dir) = explore(scenario, extra);
        assert_eq!(code, Some(1), "{scenario}: {out}");
        assert!(
            out.contains(&format!("after {steps} steps")),
            "{scenario}: a shortest violation has {steps} steps:\n{out}"
        );
        let trace = common::files(dir.to_str().unwrap(), "trace").pop().unwrap();
        let o = dsim(&["replay", trace.to_str().unwrap()]);
        assert!(
            text(&o).contains("the original failure still occurs")
                && text(&o).contains("record for record"),
            "{scenario}: {}",
            text(&o)
        );
        let o = dsim(&["check", trace.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(dir.join("summary.json").exists());
    }
}

#[test]
fn correct_protocols_explore_clean_to_a_stated_depth() {
    for (scenario, extra, complete) in [
        (
            "scenarios/explore/echo-small.toml",
            &["--depth", "40"][..],
            true,
        ),
        (
            "scenarios/explore/echo-small.toml",
            &["--depth", "14", "--drops", "1", "--duplicates", "1"][..],
            false,
        ),
        (
            "scenarios/explore/causal-small.toml",
            &["--depth", "20"][..],
            true,
        ),
        (
            "scenarios/explore/twophase-small.toml",
            &["--depth", "10"][..],
            false,
        ),
        (
            "scenarios/explore/twophase-small.toml",
            &["--depth", "9", "--crashes", "1"][..],
            false,
        ),
        // A crash may fall right after a handler's first or second send:
        // the decision is logged before it is told.
        (
            "scenarios/explore/twophase-small.toml",
            &["--depth", "9", "--crashes", "1", "--mid-handler", "2"][..],
            false,
        ),
        // Twins crash and restart together: a crash is of a node, never
        // of one instance (which once indexed past the nodes and panicked).
        (
            "scenarios/explore/bracha-twins-small.toml",
            &["--depth", "8", "--crashes", "1"][..],
            false,
        ),
        // A twin's instance cut in the middle of its handler: the node,
        // all its instances, goes down (the process once indexed past the
        // nodes and panicked).
        (
            "scenarios/explore/bracha-twins-small.toml",
            &["--depth", "6", "--crashes", "1", "--mid-handler", "2"][..],
            false,
        ),
    ] {
        let (code, out, dir) = explore(scenario, extra);
        assert_eq!(code, Some(0), "{scenario} {extra:?}: {out}");
        assert!(out.contains("verdict    no violation"), "{scenario}: {out}");
        assert_eq!(
            out.contains("all explored"),
            complete,
            "{scenario} {extra:?}: {out}"
        );
        assert!(common::files(dir.to_str().unwrap(), "trace").is_empty());
    }
}

#[test]
fn a_search_names_the_byzantine_nodes_it_ran_with() {
    let (code, out, _) = explore(
        "scenarios/explore/bracha-bug-twins-small.toml",
        &["--settle", "0"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "byzantine  n3: twins; instance 0 reaches [n0 n1]; instance 1 reaches [n2] \
             (in every state searched)"
        ),
        "{out}"
    );
    // Depth-first with a crash, the path crashes and restarts the twinned
    // node first (both its instances), and its trace replays.
    let (code, out, dir) = explore(
        "scenarios/explore/bracha-bug-twins-small.toml",
        &["--settle", "0", "--dfs", "--crashes", "1"],
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("step   0  crash n3\n"), "{out}");
    let trace = common::files(dir.to_str().unwrap(), "trace").pop().unwrap();
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    assert!(text(&o).contains("record for record"), "{}", text(&o));
    // Under --seeds, each seed's settles count in the summary's (once only
    // the first seed's did).
    let (code, out, dir) = explore(
        "scenarios/explore/bracha-twins-small.toml",
        &["--depth", "5", "--seeds", "1..3"],
    );
    assert_eq!(code, Some(0), "{out}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    let each: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("seeds.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for count in ["/settled", "/settle_steps", "/counts/slept"] {
        assert_eq!(
            added(&summary, count),
            added(&each[0], count) + added(&each[1], count),
            "{count}: {summary}"
        );
        assert!(added(&each[1], count) > 0, "{count}: {each:?}");
    }
    // A silent node is searched too: what it sends is lost, so Bracha's
    // three honest nodes still deliver (n ≥ 3f+1), in every order.
    let dir = tmp("silent");
    let scenario = dir.join("silent.toml");
    std::fs::write(
        &scenario,
        "protocol = \"bracha\"\nnodes = 4\nseed = 1\n\n[[byzantine]]\nnode = 3\n\
         behaviour = \"silent\"\n\n[workload]\ncount = 1\ntargets = [0]\n",
    )
    .unwrap();
    let (code, out, _) = explore(scenario.to_str().unwrap(), &["--depth", "40"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("all explored"), "{out}");
    assert!(
        out.contains("byzantine  n3: silent (in every state searched)"),
        "{out}"
    );
}

#[test]
fn the_ordering_no_random_seed_lines_up_is_found_by_exploration() {
    let s = "scenarios/explore/raft-forget-vote-one-crash.toml";
    let out = tmp("rare");
    let o = dsim(&[
        "sweep",
        s,
        "--seeds",
        "0..2000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "random seeds pass: {}", text(&o));
    let (code, text, _) = explore(s, &["--crashes", "1", "--depth", "9"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("election-safety"), "{text}");
}

/// Three nodes that each greet the others once.
#[derive(Clone, Hash)]
struct Greeter {
    heard: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Hello;

impl Node for Greeter {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.broadcast(&Hello);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Hello) {
        self.heard += 1;
    }
}

fn explored(budgets: Budgets) -> SimConfig {
    let mut config = SimConfig::new(0, 3);
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets,
    };
    config
}

#[test]
fn a_check_under_exploration_sees_the_nodes_a_crash_took_down() {
    // As in runs, `View::faults` counts the nodes down and holds off the
    // calm while one is: a check that trusts it is not misled.
    let sim = Simulation::new(
        explored(Budgets {
            crashes: 1,
            ..Budgets::default()
        }),
        |_| Greeter { heard: 0 },
    )
    .always("faults-seen", "the view counts the nodes down", |v| {
        let down = v.node_count() - v.up().count();
        let f = v.faults();
        match (
            f.down as usize == down,
            f.calm_since.is_some() == (down == 0),
        ) {
            (true, true) => Ok(()),
            _ => Err(format!("{down} down, the view says {f:?}")),
        }
    })
    .hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.violation.is_none() && r.complete, "{r:?}");
}

#[test]
fn a_search_in_which_no_path_comes_to_rest_says_why_its_liveness_is_not_run() {
    // Raft's heartbeats re-arm forever: no explored state is one where
    // nothing more can happen, at any depth, and without a settle
    // `leader-elected` is judged only there (so is `committed-on-majority`,
    // judged at the end, settle or not). The search says so, and where
    // they are judged.
    let (code, out, _) = explore(
        "scenarios/raft-partitions.toml",
        &["--depth", "4", "--settle", "0"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "NOT RUN    committed-on-majority, leader-elected: judged only where nothing more can \
             happen (for `eventually`, with no fault in force, or after a settle), and the \
             search reached no such state; every path was still going at depth 4: a deeper \
             search (--depth) reaches rest if the protocol comes to it, but one whose timers \
             re-arm forever (heartbeats, resends) never does, and a random run (`dsim sweep`) \
             judges it there; --settle N judges `eventually` after a settle from each state \
             explored\n"
        ),
        "{out}"
    );
    assert!(!out.contains("settled    "), "{out}");
}

#[test]
fn a_search_says_which_invariants_it_checked_and_when_it_checked_none() {
    let sim = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 }).hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.checks.is_empty() && r.violation.is_none());
    let sim = sim.always(
        "heard-at-most-two",
        "no node hears more than two",
        |v| match v.up().find(|(_, n)| n.heard > 2) {
            Some((id, _)) => Err(format!("{id} heard three")),
            None => Ok(()),
        },
    );
    let r = search(&sim, &Options::default()).unwrap();
    assert_eq!(r.checks, ["heard-at-most-two"]);
    assert!(r.not_evaluated.is_empty());
    // An end-of-run check is judged only where nothing more can happen: a
    // bound that reaches no such state leaves it unevaluated, and says so.
    let sim = sim.at_end("all-heard", "every node heard both others", |v| {
        match v.up().find(|(_, n)| n.heard != 2) {
            Some((id, n)) => Err(format!("{id} heard {}", n.heard)),
            None => Ok(()),
        }
    });
    let shallow = Options {
        depth: 2,
        ..Options::default()
    };
    let r = search(&sim, &shallow).unwrap();
    assert_eq!(r.checks, ["heard-at-most-two"]);
    assert_eq!(r.not_evaluated, ["all-heard"]);
    // Some check judged: the one not judged is reported, and it passes.
    assert_eq!(r.pass(), Ok(()));
    let r = search(&sim, &Options::default()).unwrap();
    assert_eq!(r.checks, ["heard-at-most-two", "all-heard"]);
    assert!(r.not_evaluated.is_empty());
    // The end-of-run check alone, and no state where it is judged: the
    // search judged nothing it was given, and does not pass.
    let alone = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 })
        .hashable()
        .at_end("all-heard", "every node heard both others", |v| {
            match v.up().find(|(_, n)| n.heard != 2) {
                Some((id, n)) => Err(format!("{id} heard {}", n.heard)),
                None => Ok(()),
            }
        });
    let r = search(&alone, &shallow).unwrap();
    assert!(r.violation.is_none() && r.checks.is_empty());
    let why = r.pass().unwrap_err();
    assert!(
        why.starts_with(
            "no check the search was given ran in any state it explored (check `all-heard`"
        ),
        "{why}"
    );
    assert!(why.contains("raise --depth or --max-states"), "{why}");
    assert_eq!(search(&alone, &Options::default()).unwrap().pass(), Ok(()));
    // A failing end-of-run check fails where the path ends, and the
    // violation says it was judged there; a check of every step does not.
    let wrong = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 })
        .hashable()
        .at_end("heard-three", "every node heard three", |v| {
            match v.up().find(|(_, n)| n.heard != 3) {
                Some((id, n)) => Err(format!("{id} heard {}", n.heard)),
                None => Ok(()),
            }
        });
    let f = search(&wrong, &Options::default()).unwrap().violation;
    assert!(f.as_ref().is_some_and(|f| f.at_end), "{f:?}");
    let early = wrong.always("heard-at-most-one", "no node hears two", |v| {
        match v.up().find(|(_, n)| n.heard > 1) {
            Some((id, _)) => Err(format!("{id} heard two")),
            None => Ok(()),
        }
    });
    let f = search(&early, &Options::default()).unwrap().violation;
    assert!(
        f.as_ref()
            .is_some_and(|f| f.check == "heard-at-most-one" && !f.at_end),
        "{f:?}"
    );
    // Every state explored and in none does nothing more happen (a token
    // passed back and forth for ever): no bound would reach an end.
    let forever = Simulation::new(explored(Budgets::default()), |_| Passer)
        .hashable()
        .at_end(
            "never-judged",
            "judged at an end, which never comes",
            |_| Ok(()),
        );
    let r = search(&forever, &Options::default()).unwrap();
    assert!(
        r.complete && r.terminal == 0 && r.cut_at_depth == 0,
        "{r:?}"
    );
    let why = r.pass().unwrap_err();
    assert!(
        why.contains("every state was explored and in none does nothing more happen, so no bound will reach one"),
        "{why}"
    );
    // A scenario's fault plan and random network are not what the search
    // explores: the report says so, beside the budgets it used.
    let (code, out, _) = explore("scenarios/twophase-crash.toml", &["--depth", "2"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("faults     chosen by the search: up to 0 drops, 0 duplicates, 0 crashes")
            && out.contains(
                "not used from the scenario: its 6 planned faults ([[fault]]), its network's loss"
            ),
        "{out}"
    );
    // The command line names them.
    let (code, out, _) = explore("scenarios/explore/echo-small.toml", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("checked    at-most-once, acked-were-executed, and handler panics")
            && out.contains("faults     chosen by the search: up to 0 drops")
            && !out.contains("not used from the scenario"),
        "{out}"
    );
}

/// Passes a token to the next node, for ever.
#[derive(Clone, Hash)]
struct Passer;

impl Node for Passer {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), &Hello);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, _: Hello) {
        let next = NodeId((ctx.id().0 + 1) % ctx.node_count());
        ctx.send(next, &Hello);
    }
}

/// Panics on its second greeting.
#[derive(Hash)]
struct Touchy;

impl Node for Touchy {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.broadcast(&Hello);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, from: NodeId, _: Hello) {
        assert!(from != NodeId(2), "n2 greeted");
    }
}

/// Greets, and notes the time of the last greeting it heard.
#[derive(Hash)]
struct Clocked {
    last: dsim::Instant,
}

impl Node for Clocked {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.broadcast(&Hello);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, _: Hello) {
        self.last = ctx.now();
    }
}

#[test]
fn a_search_says_when_the_nodes_read_clocks_it_does_not_model() {
    // Time under exploration is a step count: a protocol that decides by
    // its clock (a lease) is not explored in what it decides, and the
    // report must say so rather than pass in silence.
    let sim = Simulation::new(explored(Budgets::default()), |_| Clocked {
        last: dsim::Instant::ZERO,
    })
    .hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.violation.is_none());
    assert!(r.clock_read, "a node read its clock: {r:?}");
    let sim = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 }).hashable();
    assert!(!search(&sim, &Options::default()).unwrap().clock_read);
    // No built-in protocol reads its clock: their searches say nothing.
    let (code, out, out_dir) = explore("scenarios/explore/echo-small.toml", &["--depth", "6"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("read their clocks"), "{out}");
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap();
    assert!(summary.contains("\"clock_read\": false"), "{summary}");
}

#[test]
fn a_panic_in_a_handler_or_a_check_is_a_violation_under_exploration() {
    let sim = Simulation::new(explored(Budgets::default()), |_| Touchy).hashable();
    let r = search(&sim, &Options::default()).unwrap();
    let v = r.violation.expect("the handler's panic is found");
    assert_eq!(v.check, "panic");
    assert!(v.message.contains("n2 greeted"), "{}", v.message);
    assert_eq!(v.path.len(), 1, "one delivery from n2 is enough");
    let sim = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 })
        .hashable()
        .always("asserts", "no node hears twice", |v| {
            assert!(v.up().all(|(_, n)| n.heard < 2), "heard twice");
            Ok(())
        });
    let r = search(&sim, &Options::default()).unwrap();
    let v = r.violation.expect("the check's panic is found");
    assert_eq!(v.check, "asserts");
    assert!(
        v.message.contains("the check itself panicked: heard twice"),
        "{}",
        v.message
    );
    assert_eq!(v.path.len(), 2);
}

#[test]
fn states_reached_twice_are_explored_once_by_state_or_by_what_each_node_was_handed() {
    let sim = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 }).hashable();
    let r = search(&sim, &Options::default()).unwrap();
    // Six greetings: a state is the set delivered so far.
    assert_eq!(r.counts.unique, 64);
    assert!(r.complete && r.hashed);
    // Without hashing a node is known by the greetings it was handed, in
    // order: none, either one, or both in either order (5 for each of the
    // three nodes), where every path would be 1,957 (6! orders and their
    // prefixes).
    let sim = Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 });
    let r = search(&sim, &Options::default()).unwrap();
    assert!(!r.hashed && r.complete);
    assert_eq!(r.counts.unique, 5 * 5 * 5);
    // A drop budget adds states where a greeting never arrives.
    let sim = Simulation::new(
        explored(Budgets {
            drops: 1,
            ..Budgets::default()
        }),
        |_| Greeter { heard: 0 },
    )
    .hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.counts.unique > 64);
    // The command line says how async nodes' states are told apart, and
    // gives no advice an async node cannot take.
    let (code, out, _) = explore("scenarios/async-abd.toml", &["--depth", "2"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "distinct; an async node's tasks are futures, which do not hash, so each node is \
             known by the events it was handed, in order"
        ) && out.contains("distinct states); deeper states were not explored")
            && !out.contains(".hashable()")
            && !out.contains("by path"),
        "{out}"
    );
    // Its progress lines (every 65,536 states when standard error is not
    // a terminal) and the state budget running out count distinct states.
    let (code, out, _) = explore(
        "scenarios/async-abd.toml",
        &["--depth", "5", "--max-states", "30000"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("explore: 65536 states, ")
            && out.contains("the state budget of 30000 distinct states ran out"),
        "{out}"
    );
}

/// A node whose state depends on everything a handler can read besides
/// its events: the disk it boots from, where its random stream stands,
/// the timer ids it is given, its clock.
#[derive(Debug, Default, Hash)]
struct Ledger {
    boot: Vec<u32>,
    got: Vec<u32>,
    coin: u64,
    timer: Option<dsim::TimerId>,
    at: Vec<u64>,
}

impl Node for Ledger {
    type Msg = u32;
    /// 0 syncs the disk, 1 draws a number, 2 sets another timer.
    type Timer = u8;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        // What the last life synced, then forgotten: the disk is the same
        // whatever it held, the node is not.
        self.boot = ctx.disk().read("got").unwrap_or_default();
        ctx.disk().remove("got");
        ctx.disk().sync();
        self.coin = ctx.rng().below(3);
        self.timer = Some(ctx.set_timer(dsim::Duration::from_millis(5), 3));
        if ctx.id() == NodeId(0) {
            ctx.broadcast(&1);
        } else {
            ctx.send(NodeId(0), &ctx.id().0);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, m: u32) {
        self.got.push(from.0 * 10 + m);
        ctx.disk().write("got", &self.got);
        self.at.push(ctx.now().0 / 1_000_000);
        for tag in 0..3 {
            ctx.set_timer(dsim::Duration::from_millis(5), tag);
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, tag: u8) {
        match tag {
            0 => ctx.disk().sync(),
            1 => {
                ctx.rng().next_u64();
            }
            2 => {
                ctx.set_timer(dsim::Duration::from_millis(5), 3);
            }
            _ => {}
        }
    }
}

#[test]
fn nodes_known_by_what_they_were_handed_reach_every_state_hashed_nodes_do() {
    // Every combination of node states each search visits, as text: a
    // search that merged two paths into one state while the nodes differ
    // would miss some.
    let reached = |hashed: bool| {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
        let log = seen.clone();
        let config = explored(Budgets {
            crashes: 1,
            ..Budgets::default()
        });
        let sim = Simulation::new(config, |_| Ledger::default()).always(
            "record",
            "notes every state",
            move |v| {
                let nodes: Vec<String> =
                    (0..3).map(|i| format!("{:?}", v.node(NodeId(i)))).collect();
                log.lock().unwrap().insert(nodes.join(" | "));
                Ok(())
            },
        );
        let sim = if hashed { sim.hashable() } else { sim };
        let options = Options {
            depth: 6,
            ..Options::default()
        };
        let r = search(&sim, &options).unwrap();
        assert!(r.complete && r.hashed == hashed && r.violation.is_none());
        let states = std::mem::take(&mut *seen.lock().unwrap());
        (states, r.counts.unique)
    };
    let (by_state, hashed) = reached(true);
    let (by_events, unhashed) = reached(false);
    assert!(unhashed >= hashed, "{unhashed} < {hashed}");
    assert_eq!(by_state.len(), by_events.len());
    assert!(by_state == by_events);
}

/// Greeters checked that nobody hears two greetings: violated in two steps.
fn quiet_greeters() -> Simulation<Greeter> {
    Simulation::new(explored(Budgets::default()), |_| Greeter { heard: 0 })
        .always("quiet", "nobody hears two greetings", |v| {
            match v.up().find(|(_, n)| n.heard >= 2) {
                Some((id, _)) => Err(format!("{id} heard two")),
                None => Ok(()),
            }
        })
        .hashable()
}

#[test]
fn bfs_finds_a_shortest_violation_and_dfs_some_violation() {
    let sim = |order| {
        let s = quiet_greeters();
        let options = Options {
            order,
            ..Options::default()
        };
        search(&s, &options).unwrap().violation.unwrap()
    };
    assert_eq!(sim(Order::Bfs).path.len(), 2);
    assert!(sim(Order::Dfs).path.len() >= 2);
}

/// A node whose choice of peer depends on a hash map's iteration order,
/// which differs from one map to the next.
#[derive(Hash)]
struct Leaky {
    greeted: bool,
}

impl Node for Leaky {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            let peers: std::collections::HashMap<u32, ()> =
                (1..8).map(|p| (p % ctx.node_count(), ())).collect();
            let first = peers.keys().next().copied().unwrap_or(1);
            ctx.send(NodeId(first), &Hello);
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Hello) {
        self.greeted = true;
    }
}

#[test]
fn a_node_that_is_not_deterministic_is_named_so() {
    let mut config = explored(Budgets::default());
    config.nodes = 8;
    let sim = Simulation::new(config, |_| Leaky { greeted: false }).hashable();
    // Some runs of the start pick the same peer; enough of them differ.
    let mut caught = false;
    for _ in 0..20 {
        if let Err(e) = search(&sim, &Options::default()) {
            assert!(e.to_string().contains("not deterministic"), "{e}");
            caught = true;
            break;
        }
    }
    assert!(caught, "a hash-map order leak went unnoticed");
    // On the command line it is the protocol's failed check (exit 1), as
    // in a sweep, not bad input.
    let dir = tmp("explore-leaky");
    let scenario = dir.join("leaky.toml");
    std::fs::write(&scenario, "protocol = \"leaky\"\nnodes = 8\n").unwrap();
    let mut registry = dsim::protocols::Registry::empty();
    registry.add(dsim::protocols::Spec::new(
        "leaky",
        "a hash map's order",
        |c, _| Ok(Simulation::new(c, |_| Leaky { greeted: false }).hashable()),
    ));
    let codes: Vec<u8> = (0..20)
        .map(|i| {
            let out = dir.join(format!("out-{i}"));
            dsim::cli::run_with(
                &registry,
                [
                    "dsim",
                    "explore",
                    scenario.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                ],
            )
        })
        .collect();
    assert!(codes.contains(&1), "{codes:?}");
    assert!(!codes.contains(&2), "{codes:?}");
}

#[test]
fn pct_runs_replay_exactly_and_find_twins_random_finds_less_often() {
    let dir = tmp("pct");
    let trace = dir.join("pct.trace");
    let o = dsim(&[
        "run",
        "scenarios/raft-bug-forget-vote.toml",
        "--seed",
        "29",
        "--strategy",
        "pct",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("--strategy pct"),
        "the reproduce line says it"
    );
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("record for record"), "{}", text(&o));
    // Liveness is not judged under PCT.
    let o = dsim(&["run", "scenarios/raft-partitions.toml", "--strategy", "pct"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("leader-elected NOT RUN (liveness is not judged under PCT"),
        "{}",
        text(&o)
    );
}

/// Node 0 folds each greeting's sender into `x` (1 xor 2 = 3 either way)
/// and, at 3, tells node 1; node 1 notes it.
#[derive(Clone, Hash)]
struct Folder {
    x: u32,
    told: bool,
}

#[derive(Debug, Serialize, Deserialize)]
enum Fold {
    Hello,
    Done,
}

impl Node for Folder {
    type Msg = Fold;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() != NodeId(0) {
            ctx.send(NodeId(0), &Fold::Hello);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Fold) {
        match msg {
            Fold::Hello => {
                self.x ^= from.0;
                if self.x == 3 {
                    ctx.send(NodeId(1), &Fold::Done);
                }
            }
            Fold::Done => self.told = true,
        }
    }
}

#[test]
fn what_a_monitor_remembers_tells_states_apart() {
    // Both delivery orders reach the same nodes and messages; only the
    // order 2-then-1 passes through x = 2, which the monitor remembers and
    // holds against node 1 being told. Merging the two states would lose
    // the violation; so would a copied state that forgot the summary.
    for copied in [false, true] {
        let sim = folder_with_monitor();
        let sim = if copied { sim.cloneable() } else { sim };
        let r = search(&sim, &Options::default()).unwrap();
        let found = r.violation.expect("the second order's violation is found");
        assert_eq!(found.path.len(), 3, "copied: {copied}");
    }
}

fn folder_with_monitor() -> Simulation<Folder> {
    Simulation::new(explored(Budgets::default()), |_| Folder {
        x: 0,
        told: false,
    })
    .monitor(
        "never-two-then-told",
        "node 1 is not told after node 0 held 2",
        || false,
        |saw_two: &mut bool, v| {
            *saw_two |= v.node(NodeId(0)).is_some_and(|n| n.x == 2);
            match v.node(NodeId(1)) {
                Some(n) if n.told && *saw_two => Err("told after 2".into()),
                _ => Ok(()),
            }
        },
    )
    .hashable()
}

#[test]
fn a_state_copied_from_its_parent_is_the_state_its_path_reaches() {
    // Each search twice, its states copied from their parents and its
    // paths run from the start, with every new state also reached again
    // from the start and compared (a copy that differed from the run
    // would end the search as "not deterministic"): the same counts, the
    // same violation by the same path, breadth- and depth-first.
    let faults = Budgets {
        drops: 1,
        crashes: 1,
        ..Budgets::default()
    };
    for (clients, budgets, depth) in [(2, Budgets::default(), 100), (2, faults, 9)] {
        for order in [Order::Bfs, Order::Dfs] {
            let report = |copied| {
                let options = Options {
                    order,
                    depth,
                    determinism_checks: u64::MAX,
                    ..Options::default()
                };
                let sim = stateright_model(clients, budgets);
                let sim = if copied { sim.cloneable() } else { sim };
                search(&sim, &options).unwrap()
            };
            let (copied, run) = (report(true), report(false));
            let what = format!("{clients} clients, {budgets:?}, {order:?}");
            assert_eq!(copied.counts, run.counts, "{what}");
            assert_eq!(copied.violation, run.violation, "{what}");
            assert_eq!(copied.complete, run.complete, "{what}");
            assert_eq!(copied.checks, run.checks, "{what}");
            assert!(copied.copied && !run.copied, "{what}");
            assert!(copied.counts.unique > 100, "{what}: {:?}", copied.counts);
        }
    }
    // A violation: found by the same path either way.
    for order in [Order::Bfs, Order::Dfs] {
        let found = |copied| {
            let sim = quiet_greeters();
            let sim = if copied { sim.cloneable() } else { sim };
            let options = Options {
                order,
                ..Options::default()
            };
            let r = search(&sim, &options).unwrap();
            (r.violation.expect("found"), r.counts)
        };
        assert_eq!(found(true), found(false), "{order:?}");
    }
}

/// A node whose `Clone` forgets what it heard.
#[derive(Hash)]
struct Forgetful {
    heard: u32,
}

impl Clone for Forgetful {
    fn clone(&self) -> Forgetful {
        Forgetful { heard: 0 }
    }
}

impl Node for Forgetful {
    type Msg = Hello;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.broadcast(&Hello);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Hello) {
        self.heard += 1;
    }
}

#[test]
fn a_copy_that_is_not_the_state_is_caught_as_not_deterministic() {
    let sim = Simulation::new(explored(Budgets::default()), |_| Forgetful { heard: 0 })
        .hashable()
        .cloneable();
    let err = search(&sim, &Options::default()).unwrap_err().to_string();
    assert!(err.contains(dsim::explore::NOT_DETERMINISTIC), "{err}");
    // Run again from the start instead, the same nodes explore cleanly.
    let sim = Simulation::new(explored(Budgets::default()), |_| Forgetful { heard: 0 }).hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.complete && r.violation.is_none());
}

#[test]
fn abd_as_stateright_models_it_has_stateright_s_state_count() {
    // stateright's linearizable-register example asserts 544 distinct
    // states for this model (2 servers, 2 clients, an ignored message left
    // in the network); it reaches them 875 times, as dsim does.
    let s = "scenarios/explore/abd-stateright.toml";
    let (code, out, _) = explore(s, &["--keep-ignored", "--depth", "100"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("explored   875 states (544 distinct)") && out.contains("all explored"),
        "{out}"
    );
    // Where a delivery always consumes its message, ignored requests are
    // lost instead of waiting: other states.
    let (code, out, _) = explore(s, &["--depth", "100"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(626 distinct)"), "{out}");
    // Nodes that do not hash cannot tell an ignored delivery: the flag
    // that asked for it is named, not the scenario.
    let (code, out, _) = explore("scenarios/async-abd.toml", &["--keep-ignored"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("error: --keep-ignored: the nodes of protocol `async-abd` do not hash"),
        "{out}"
    );
}

/// The report says the client operations are the seed's: a search orders
/// them and does not vary their values, so a clean search covered that
/// one workload.
#[test]
fn a_search_says_its_workload_is_the_seeds() {
    // The operations it lists are those a run of that seed hands out.
    let dir = tmp("explore-workload");
    let trace = dir.join("run.trace");
    let o = dsim(&[
        "run",
        "scenarios/causal-minimal.toml",
        "--seed",
        "5",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(o.status.code().is_some_and(|c| c < 2), "{}", text(&o));
    let shown = text(&dsim(&["show", trace.to_str().unwrap()]));
    let inputs: Vec<String> = shown
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(4) == Some(&"input")).then(|| format!("value {} to {}", f[7], f[2]))
        })
        .collect();
    assert_eq!(inputs.len(), 2, "{shown}");
    for (ops, line) in [
        ("2", format!("workload   2 client operations as seed 5 draws them (values and nodes: {}, {}): the search orders them, it does not vary them; another --seed explores another workload, --seeds A..B one after another", inputs[0], inputs[1])),
        ("1", format!("workload   1 client operation as seed 5 draws it (values and nodes: {}):", inputs[0])),
    ] {
        let (_, out, _) = explore(
            "scenarios/causal-minimal.toml",
            &["--operations", ops, "--seed", "5", "--depth", "3"],
        );
        assert!(out.contains(&line), "{line}\n{out}");
    }
}

/// A server (node 0) that stores the client's value on its disk and
/// acknowledges it; `lazy` acknowledges first and syncs on a timer.
struct Ack {
    lazy: bool,
    stored: Option<u32>,
    acked: bool,
}

#[derive(Debug, Serialize, Deserialize)]
enum AckMsg {
    Put(u32),
    Done,
}

impl Node for Ack {
    type Msg = AckMsg;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            self.stored = ctx.disk().read("value");
        } else if !self.acked {
            ctx.send(NodeId(0), &AckMsg::Put(7));
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: AckMsg) {
        match msg {
            AckMsg::Put(v) => {
                self.stored = Some(v);
                ctx.disk().write("value", &v);
                if self.lazy {
                    ctx.set_timer(dsim::Duration::from_millis(5), ());
                } else {
                    ctx.disk().sync();
                }
                ctx.send(from, &AckMsg::Done);
            }
            AckMsg::Done => self.acked = true,
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {
        ctx.disk().sync();
    }
}

fn ack_registry(lazy: bool) -> dsim::protocols::Registry {
    let mut r = dsim::protocols::Registry::empty();
    r.add(dsim::protocols::Spec::new(
        "ack",
        "stores a value, then acknowledges it",
        move |config, _| {
            Ok(Simulation::new(config, move |_| Ack {
                lazy,
                stored: None,
                acked: false,
            })
            .always("durable", "an acknowledged value survives a crash", |v| {
                let acked = v.node(NodeId(1)).is_some_and(|c| c.acked);
                match v.node(NodeId(0)) {
                    Some(s) if acked && s.stored.is_none() => {
                        Err("n0 lost an acknowledged value".into())
                    }
                    _ => Ok(()),
                }
            }))
        },
    ));
    r
}

#[test]
fn an_explored_failure_replays_against_a_fix_by_what_each_step_did() {
    // The fix drops the sync timer, so every action after the first
    // delivery sits at another position among those enabled: the path's
    // recorded positions would take other actions (or none), where its
    // recorded steps find the same crash.
    let dir = tmp("explore-fix");
    let scenario = dir.join("ack.toml");
    std::fs::write(&scenario, "protocol = \"ack\"\nnodes = 2\n").unwrap();
    let out = dir.join("out");
    let cli = |lazy: bool, args: &[&str]| {
        dsim::cli::run_with(
            &ack_registry(lazy),
            std::iter::once("dsim").chain(args.iter().copied()),
        )
    };
    let s = scenario.to_str().unwrap();
    assert_eq!(
        cli(
            true,
            &[
                "explore",
                s,
                "--crashes",
                "1",
                "--out",
                out.to_str().unwrap()
            ]
        ),
        1,
        "the lazy server is caught"
    );
    let trace = out.join("ack-explored.trace");
    let t = trace.to_str().unwrap();
    assert_eq!(cli(true, &["replay", t]), 1, "the twin still fails");
    assert_eq!(
        cli(false, &["replay", t]),
        0,
        "the fix passes the same steps"
    );
    // Its steps are followed by what they did: the crash of n0 is taken.
    let (header, records, _) =
        dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let steps = dsim::replay::explored_steps(&records);
    assert!(
        steps.contains(&Some(dsim::network::Step::Crash { node: 0, kept: 0 })),
        "{steps:?}"
    );
    let replayed = dir.join("fixed.trace");
    assert_eq!(
        cli(false, &["replay", t, "-o", replayed.to_str().unwrap()]),
        0
    );
    let (_, fixed, _) = dsim::trace::read_all(&std::fs::read(&replayed).unwrap(), None).unwrap();
    assert!(
        fixed.iter().any(|r| matches!(
            r.kind,
            dsim::trace::Kind::Crash {
                node: NodeId(0),
                ..
            }
        )),
        "the fix's run crashed n0 as the recorded one did"
    );
    assert!(header.replay.contains("Explore"), "an explored trace");
    // A corpus keeps it as the regression of the fix.
    let corpus = dir.join("corpus");
    std::fs::create_dir_all(&corpus).unwrap();
    std::fs::copy(&trace, corpus.join("lazy.trace")).unwrap();
    std::fs::write(
        corpus.join("lazy.expect"),
        "fails = \"durable\"\nfixed_in_place = true\n",
    )
    .unwrap();
    let r = dsim::testing::assert_corpus(&ack_registry(false), &corpus);
    assert_eq!(
        r[0].summary,
        "failed `durable` when recorded; fixed in place, it passes against its recorded schedule"
    );
    let r = dsim::testing::replay_corpus(&ack_registry(true), &corpus).unwrap();
    assert!(!r[0].holds(), "the bug back is caught: {r:?}");
}

#[test]
fn an_interrupted_search_does_not_pass() {
    // Before: Ctrl-C (or a CI job's SIGINT) stopped the search and it
    // exited 0, "no violation in the states covered".
    use std::io::{BufRead, BufReader};
    let out = tmp("explore-interrupted");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dsim"))
        .args([
            "explore",
            "scenarios/raft-partitions.toml",
            "--depth",
            "60",
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first progress line says the search is under way (one every
    // 65,536 states when standard error is not a terminal).
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.starts_with("explore: "), "{line}");
    common::interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    let o = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(2), "{stdout}{rest}");
    assert!(
        stdout.contains("the search stopped early: interrupted"),
        "{stdout}"
    );
    assert!(
        rest.contains("raft-partitions.toml: the search was interrupted after "),
        "{rest}"
    );
    assert!(out.join("summary.json").exists());
}

#[test]
fn a_search_names_no_draw_of_the_fault_schedule_or_network_it_does_not_use() {
    // A seed's fault times and latency are drawn, and a search uses
    // neither: naming them as what was searched would say it had.
    let dir = tmp("explore-draws");
    let scenario = dir.join("echo-drawn-faults.toml");
    let source = std::fs::read_to_string("scenarios/echo-minimal.toml").unwrap();
    let source = source
        .replace(
            "latency = \"5ms\"",
            "latency = { dist = \"uniform\", min = \"1ms\", max = [\"2ms\", \"9ms\"] }",
        )
        .replace("timeout = \"50ms\"", "timeout = [\"40ms\", \"60ms\"]");
    // The second crash finds its node down: the draw leaves it out.
    let faults = "[[fault]]\nat = [\"1ms\", \"5ms\"]\ncrash = 1\n\n[[fault]]\nat = \"10ms\"\n\
                  crash = [1, 1]\n\n[[fault]]\nat = \"50ms\"\nrestart = 1\n";
    std::fs::write(&scenario, format!("{source}\n{faults}")).unwrap();
    let (code, out, _) = explore(scenario.to_str().unwrap(), &["--depth", "2"]);
    assert_eq!(code, Some(0), "no duplicate without --duplicates: {out}");
    let drawn = out
        .lines()
        .find(|l| l.starts_with("drawn "))
        .expect("the timeout is drawn");
    assert!(drawn.contains("params.timeout = "), "{drawn}");
    assert!(
        !drawn.contains("fault.") && !drawn.contains("network.") && !drawn.contains("skipped"),
        "{drawn}"
    );
    // A run of the scenario still names them all.
    let run = crate::common::dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        dir.join("run.trace").to_str().unwrap(),
    ]);
    let t = crate::common::text(&run);
    assert!(
        t.contains("fault.0.at = ")
            && t.contains("network.")
            && t.contains("skipped crash of node 1 = already down"),
        "{t}"
    );
}

/// A count of a `--seeds` search's summary or of one seed's line in
/// `seeds.jsonl`, by its JSON pointer within the report.
fn added(searched: &serde_json::Value, count: &str) -> u64 {
    searched["report"].pointer(count).unwrap().as_u64().unwrap()
}

#[test]
fn explore_seeds_searches_each_seeds_workload_until_one_violates() {
    // The echo twin runs a retried request twice; with one attempt drawn
    // (seed 2 draws 1 of [1, 3]) there is no retry and nothing to find.
    let dir = tmp("explore-seeds");
    let scenario = dir.join("echo-attempts.toml");
    let twin = std::fs::read_to_string("scenarios/echo-bug-no-dedup.toml").unwrap();
    std::fs::write(&scenario, twin.replace("attempts = 6", "attempts = [1, 3]")).unwrap();
    let scenario = scenario.to_str().unwrap();
    let one = ["--operations", "1"];
    let (code, out, _) = explore(scenario, &[&one[..], &["--seed", "2"]].concat());
    assert_eq!(code, Some(0), "seed 2 draws one attempt: {out}");
    // What was searched is one seed's draw of the ranges, and it says so.
    assert!(
        out.contains("drawn      params.attempts = 1 (seed 2's draw of the scenario's ranges"),
        "{out}"
    );
    // From seed 2: its workload is clean, seed 3's is not; seed 4 is never
    // searched.
    let (code, out, dir) = explore(scenario, &[&one[..], &["--seeds", "2..9"]].concat());
    assert_eq!(code, Some(1), "{out}");
    // One line a seed searched ("seed 2      7 distinct states: ...").
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| {
            l.strip_prefix("seed ")
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("seed 2 ") && lines[0].contains("no violation in any reachable state"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("seed 3 ") && lines[1].contains("VIOLATION of `at-most-once`"),
        "{out}"
    );
    assert!(
        out.contains("seed       3: the violation is in this seed's workload"),
        "{out}"
    );
    assert!(out.contains("the first 2 of 2..9"), "{out}");
    // Each seed's line names its draw, the violation's seed again below.
    // And the operation it hands out (one, by --operations).
    assert!(
        lines[0].contains("(drew params.attempts = 1); operations value "),
        "{out}"
    );
    assert!(
        lines[1].contains("(drew params.attempts = 3); operations value "),
        "{out}"
    );
    assert!(!lines[1].contains(", value "), "{out}");
    assert!(
        out.contains("drawn      params.attempts = 3 (seed 3's, where the violation is)"),
        "{out}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["seeds"]["searched"], 2, "{summary}");
    assert!(!summary["report"]["violation"].is_null(), "{summary}");
    let each: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("seeds.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(each.len(), 2, "{each:?}");
    assert_eq!(each[1]["seed"], 3, "{each:?}");
    assert_eq!(each[1]["drawn"], "params.attempts = 3", "{each:?}");
    assert!(each[0]["report"]["violation"].is_null(), "{each:?}");
    assert!(!each[1]["report"]["violation"].is_null(), "{each:?}");
    // Added up: the summary's states and steps reduced are the two
    // seeds' (the steps reduced were once the first seed's alone; the
    // settles are added up in `a_search_names_the_byzantine_nodes_it_ran_with`).
    for count in [
        "/counts/states",
        "/counts/unique",
        "/counts/slept",
        "/terminal",
    ] {
        assert_eq!(
            added(&summary, count),
            added(&each[0], count) + added(&each[1], count),
            "{count}: {summary}"
        );
        assert!(added(&each[1], count) > 0, "{count}: {each:?}");
    }
    // The counterexample is seed 3's run, and replays.
    let trace = common::files(dir.to_str().unwrap(), "trace").pop().unwrap();
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    assert!(
        text(&o).contains("the original failure still occurs"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("seed 3"), "{}", text(&o));
    // The step that hands out an operation names it as the trace records
    // it: which one, its value, the node it goes to.
    let (_, records, _) = dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let inputs: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.kind {
            dsim::trace::Kind::Input {
                node, id, value, ..
            } => Some(format!(
                "next client operation: op{id} value {value} to {node}"
            )),
            _ => None,
        })
        .collect();
    assert_eq!(inputs.len(), 1, "{records:?}");
    assert!(out.contains(&inputs[0]), "{}\n{out}", inputs[0]);
    // Clean seeds only: every one searched, and the search passes.
    let (code, out, dir) = explore(scenario, &[&one[..], &["--seeds", "2..3"]].concat());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("each seed of 2..3"), "{out}");
    assert!(!dir.join("echo-attempts-explored.trace").exists());
    // --seed and --seeds together, or an empty range: bad usage.
    let (code, _, _) = explore(scenario, &["--seeds", "0..3", "--seed", "1"]);
    assert_eq!(code, Some(2));
    let (code, out, _) = explore(scenario, &["--seeds", "3..3"]);
    assert_eq!(code, Some(2), "{out}");
}

/// Node 0 sets two timers, each sending its letter to node 1 when it
/// fires (and noting it in `sent` if it keeps a note); node 1 keeps what
/// it heard, in order. The second is set by a third that falls due
/// first (`k`), for less time than the first: then either may fire first
/// (set in one handler, the shorter would).
#[derive(Hash)]
struct Letters {
    keeps_note: bool,
    sent: Vec<u8>,
    heard: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Letter(u8);

impl Node for Letters {
    type Msg = Letter;
    type Timer = u8;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer(dsim::Duration::from_millis(2), b'a');
            ctx.set_timer(dsim::Duration::ZERO, b'k');
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, Letter(l): Letter) {
        self.heard.push(l);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, letter: u8) {
        if letter == b'k' {
            ctx.set_timer(dsim::Duration::from_millis(1), b'b');
            return;
        }
        if self.keeps_note {
            self.sent.push(letter);
        }
        ctx.send(NodeId(1), &Letter(letter));
    }
}

#[test]
fn a_fifo_link_keeps_its_order_under_exploration() {
    let letters = |ordering, keeps_note| {
        let mut config = explored(Budgets {
            duplicates: 1,
            ..Budgets::default()
        });
        config.nodes = 2;
        config.network.default.ordering = ordering;
        Simulation::new(config, move |_| Letters {
            keeps_note,
            sent: Vec::new(),
            heard: Vec::new(),
        })
        .always("sent-order", "node 1 hears the letters as sent", |v| {
            let (Some(a), Some(b)) = (v.node(NodeId(0)), v.node(NodeId(1))) else {
                return Ok(());
            };
            let mut heard = b.heard.clone();
            heard.dedup();
            match a.sent.starts_with(&heard) {
                true => Ok(()),
                false => Err(format!("sent {:?}, heard {:?}", a.sent, b.heard)),
            }
        })
        .hashable()
    };
    // Reordering links: a letter sent second can arrive first. The
    // counterexample names what each step carried, and the letter
    // overtaken, still in flight.
    let r = search(
        &letters(dsim::network::Ordering::Reorder, true),
        &Options::default(),
    )
    .unwrap();
    let found = r.violation.expect("a letter overtakes the other");
    assert_eq!(
        found.steps,
        [
            "fire n0's timer t1: 107",
            "fire n0's timer t0: 97",
            "fire n0's timer t2: 98",
            "deliver m1.0 n0 -> n1: Letter(98)"
        ],
        "{found:?}"
    );
    assert_eq!(found.in_flight, ["m0.0 n0 -> n1: Letter(97)"], "{found:?}");
    // A FIFO link never: a duplicate arrives after its original, before
    // what was sent later.
    let r = search(
        &letters(dsim::network::Ordering::Fifo, true),
        &Options::default(),
    )
    .unwrap();
    assert!(r.violation.is_none() && r.complete, "{r:?}");
    // The order of a FIFO queue is state. Without duplicates and without
    // the sender's note: `k` not fired; nothing sent; a or b sent,
    // delivered or not; both sent, in either order, with none, one or
    // both delivered: 1 + 1 + 2 + 2 + 6 = 12 states. Hashed as a
    // multiset, the two full queues were one; a reordering link has 11
    // (either letter may arrive first from the same queue).
    let count = |ordering| {
        let mut config = explored(Budgets::default());
        config.nodes = 2;
        config.network.default.ordering = ordering;
        let sim = Simulation::new(config, |_| Letters {
            keeps_note: false,
            sent: Vec::new(),
            heard: Vec::new(),
        })
        .hashable();
        let r = search(&sim, &Options::default()).unwrap();
        assert!(r.complete && r.violation.is_none(), "{r:?}");
        r.counts.unique
    };
    assert_eq!(count(dsim::network::Ordering::Fifo), 12);
    assert_eq!(count(dsim::network::Ordering::Reorder), 11);
}

#[test]
fn a_search_loses_what_the_topology_cannot_route() {
    // Three greeters, one wire 0-1: node 2 can reach no one and no one it,
    // so only two greetings are ever in flight (four states), the other
    // four lost as `no-route` when sent.
    let mut config = explored(Budgets::default());
    config.network.topology = Some(vec![(NodeId(0), NodeId(1))]);
    let sim = Simulation::new(config, |_| Greeter { heard: 0 }).hashable();
    let r = search(&sim, &Options::default()).unwrap();
    assert!(r.complete, "{r:?}");
    assert_eq!(r.counts.unique, 4, "{r:?}");
    // Bounded mailboxes are not modelled, and the report says so.
    let (code, out, _) = explore(
        "scenarios/broadcast-bounded-mailboxes.toml",
        &["--depth", "1"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("its links' capacity (a search's mailboxes are unbounded)"),
        "{out}"
    );
}

#[test]
fn a_shrink_of_an_explored_trace_counts_the_paths_crashes_among_its_faults() {
    // The path crashes a node and restarts it: two faults, which a shrink
    // table once counted as none (only a scenario's own faults counted).
    let (code, out, dir) = explore(
        "scenarios/explore/raft-forget-vote-one-crash.toml",
        &["--crashes", "1", "--depth", "9"],
    );
    assert_eq!(code, Some(1), "{out}");
    let trace = common::files(dir.to_str().unwrap(), "trace").pop().unwrap();
    let small = dir.join("small.trace");
    let o = dsim(&[
        "shrink",
        trace.to_str().unwrap(),
        "-o",
        small.to_str().unwrap(),
        "--max-runs",
        "200",
    ]);
    let said = text(&o);
    assert_eq!(o.status.code(), Some(0), "{said}");
    let row: Vec<u64> = said
        .lines()
        .find(|l| l.starts_with("faults "))
        .unwrap_or_else(|| panic!("no faults row: {said}"))
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(row, [2, 2], "{said}");
    assert!(
        said.contains("explored   2 of the faults are the explored path's crashes and restarts"),
        "{said}"
    );
}
