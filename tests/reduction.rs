//! Partial-order reduction (sleep sets): a search that skips the orders of
//! commuting steps another order covers reaches every state the full
//! search reaches, finds the same violations at the same depth, and says
//! when and why it could not reduce.

use crate::common;
use crate::explore::{explore, SMALL_TWINS};

use dsim::explore::{search, Options, Order, Report};
use dsim::protocols::abd::stateright_model;
use dsim::{Budgets, Context, Node, NodeId, SimConfig, Simulation, Strategy};
use serde::{Deserialize, Serialize};

/// The line of a `dsim explore` report that begins with `head`.
fn line<'o>(out: &'o str, head: &str) -> &'o str {
    out.lines()
        .find(|l| l.starts_with(head))
        .unwrap_or_else(|| panic!("no `{head}` line in:\n{out}"))
}

/// The distinct states of a report's first line: "(N distinct".
fn distinct(out: &str) -> u64 {
    let l = line(out, "explored ");
    let at = l.find('(').unwrap() + 1;
    l[at..].split(' ').next().unwrap().parse().unwrap()
}

/// Reached states: the number the first line begins with.
fn reached(out: &str) -> u64 {
    line(out, "explored ")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn every_state_the_full_search_reaches_is_reached_with_fewer_steps() {
    // Complete searches (breadth-first to a depth, and depth-first to
    // the end): the same distinct states, the same states where nothing
    // more can happen and cut at the bound, the same verdict; fewer states
    // reached.
    for (scenario, extra) in [
        ("scenarios/explore/echo-small.toml", &["--depth", "40"][..]),
        (
            "scenarios/explore/echo-small.toml",
            &["--drops", "1", "--duplicates", "1"][..],
        ),
        ("scenarios/explore/causal-small.toml", &["--drops", "1"][..]),
        (
            "scenarios/explore/causal-small.toml",
            &["--dfs", "--drops", "1", "--duplicates", "1"][..],
        ),
        (
            "scenarios/explore/twophase-small.toml",
            &["--depth", "11"][..],
        ),
        (
            "scenarios/explore/twophase-small.toml",
            &["--depth", "9", "--crashes", "1"][..],
        ),
        (
            "scenarios/async-twophase-crash.toml",
            &["--operations", "2", "--depth", "11", "--early-timers", "0"][..],
        ),
        (
            "scenarios/broadcast-lossy.toml",
            &["--operations", "1", "--depth", "5"][..],
        ),
        // Twins act the same in every order: their steps commute too.
        (
            "scenarios/explore/bracha-twins-small.toml",
            &["--depth", "8", "--crashes", "1"][..],
        ),
    ] {
        let (code, reduced, _) = explore(scenario, extra);
        let mut full_args = extra.to_vec();
        full_args.push("--no-reduction");
        let (full_code, full, _) = explore(scenario, &full_args);
        let what = format!("{scenario} {extra:?}");
        assert_eq!(
            (code, full_code),
            (Some(0), Some(0)),
            "{what}:\n{reduced}\n{full}"
        );
        assert_eq!(
            distinct(&reduced),
            distinct(&full),
            "{what}:\n{reduced}\n{full}"
        );
        assert!(distinct(&full) > 100, "{what}: too small to tell:\n{full}");
        for head in ["reached ", "verdict ", "checked "] {
            assert_eq!(line(&reduced, head), line(&full, head), "{what}");
        }
        assert!(
            reached(&reduced) < reached(&full),
            "{what}: nothing reduced:\n{reduced}\n{full}"
        );
        assert!(
            line(&reduced, "reduced ").contains("steps not taken"),
            "{what}"
        );
        assert!(!full.contains("reduced "), "{what}:\n{full}");
    }
}

#[test]
fn every_twin_is_found_at_its_shortest_with_reduction() {
    let twins = SMALL_TWINS.iter().map(|&(s, e, _)| (s, e)).chain([(
        "scenarios/async-twophase-bug-commit-on-timeout.toml",
        &["--operations", "1"][..],
    )]);
    for (scenario, extra) in twins {
        let (code, reduced, dir) = explore(scenario, extra);
        let mut full_args = extra.to_vec();
        full_args.push("--no-reduction");
        let (_, full, _) = explore(scenario, &full_args);
        let what = format!("{scenario} {extra:?}");
        assert_eq!(code, Some(1), "{what}:\n{reduced}");
        let violation = |out: &str| line(out, "VIOLATION ").to_string();
        assert_eq!(violation(&reduced), violation(&full), "{what}");
        // Its trace replays as any search's does.
        let trace = common::files(dir.to_str().unwrap(), "trace").pop().unwrap();
        let o = common::dsim(&["replay", trace.to_str().unwrap()]);
        assert!(
            common::text(&o).contains("record for record"),
            "{what}: {}",
            common::text(&o)
        );
    }
}

/// The ABD register as stateright models it (no monitor, a
/// linearizability check over the clients' history), with or without
/// reduction.
fn abd(clients: u32, budgets: Budgets, order: Order, reduction: bool) -> Report {
    let sim = stateright_model(clients, budgets);
    let options = Options {
        order,
        depth: 100,
        reduction,
        ..Options::default()
    };
    search(&sim.cloneable(), &options).unwrap()
}

#[test]
fn steps_that_both_record_a_client_operation_are_taken_in_both_orders() {
    // Clients that complete an operation and begin the next in one
    // delivery: which completion comes first is what a linearizability
    // check reads, so those steps never sleep for each other. Without
    // that rule this model loses states (checked by removing it).
    let faults = Budgets {
        drops: 1,
        ..Budgets::default()
    };
    for (clients, budgets) in [
        (2, Budgets::default()),
        (3, Budgets::default()),
        (2, faults),
    ] {
        for order in [Order::Bfs, Order::Dfs] {
            let what = format!("{clients} clients, {budgets:?}, {order:?}");
            let reduced = abd(clients, budgets, order, true);
            let full = abd(clients, budgets, order, false);
            assert!(reduced.complete && full.complete, "{what}");
            assert_eq!(reduced.counts.unique, full.counts.unique, "{what}");
            assert_eq!(reduced.terminal, full.terminal, "{what}");
            assert_eq!(reduced.checks, full.checks, "{what}");
            assert!(reduced.reduction_off.is_none(), "{what}");
            assert_eq!(full.reduction_off.as_deref(), Some("turned off"));
            assert!(
                reduced.counts.slept > 0 && reduced.counts.states < full.counts.states,
                "{what}: {:?} vs {:?}",
                reduced.counts,
                full.counts
            );
        }
    }
}

#[derive(Clone, Debug, Hash, Serialize, Deserialize)]
struct Note(u32);

/// Node 0 sends each other node a note; an invariant fails in the one
/// state where nodes 1 and 3 have their notes and node 2 does not, after
/// node 4 has: a state only some orders of the deliveries pass through.
#[derive(Clone, Hash)]
struct Notes(bool);

impl Node for Notes {
    type Msg = Note;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            for to in 1..ctx.node_count() {
                ctx.send(NodeId(to), &Note(to));
            }
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Note) {
        self.0 = true;
    }
}

fn notes() -> Simulation<Notes> {
    let mut config = SimConfig::new(0, 6);
    config.strategy = Strategy::Explore {
        path: vec![],
        budgets: Budgets::default(),
    };
    Simulation::new(config, |_| Notes(false))
        .always(
            "not-1-3-4-without-2",
            "a state some orders pass through",
            |v| {
                let heard = |i: usize| v.up().any(|(id, n)| id == NodeId(i as u32) && n.0);
                match heard(1) && heard(3) && heard(4) && !heard(2) && !heard(5) {
                    true => Err("1, 3 and 4 heard, 2 and 5 did not".into()),
                    false => Ok(()),
                }
            },
        )
        .hashable()
        .cloneable()
}

#[test]
fn a_state_only_some_orders_pass_through_is_still_reached() {
    for order in [Order::Bfs, Order::Dfs] {
        let run = |reduction| {
            let options = Options {
                order,
                reduction,
                ..Options::default()
            };
            search(&notes(), &options).unwrap()
        };
        let (reduced, full) = (run(true), run(false));
        let found = reduced.violation.expect("found with reduction");
        assert_eq!(found.check, "not-1-3-4-without-2");
        if order == Order::Bfs {
            assert_eq!(found.path.len(), 3, "{found:?}");
            assert_eq!(Some(found.path.len()), full.violation.map(|f| f.path.len()));
        }
        assert!(reduced.counts.slept > 0, "{:?}", reduced.counts);
    }
    // Without the invariant, all 2^5 subsets of the notes delivered are
    // reached either way, and each of the 5! orders is taken only without
    // reduction.
    let mut sim = notes();
    sim.retain_invariants(|_| false);
    let run = |reduction| {
        let options = Options {
            reduction,
            ..Options::default()
        };
        search(&sim, &options).unwrap()
    };
    let (reduced, full) = (run(true), run(false));
    assert_eq!((reduced.counts.unique, full.counts.unique), (32, 32));
    // Every state is reached once from each of its parents without
    // reduction (the root once): 1 + sum over k of C(5,k)·k = 81; with
    // sleep sets each state once (32).
    assert_eq!(full.counts.states, 81);
    assert_eq!(reduced.counts.states, 32);
}

#[test]
fn a_search_says_why_it_could_not_reduce() {
    // A monitor sees every state a path passes through: no two orders
    // are known to agree, and the report says so, naming it.
    let (code, out, _) = explore("scenarios/explore/abd-stateright.toml", &["--depth", "100"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        line(&out, "reduced ").contains("nothing: the monitor seq-monotonic sees every state"),
        "{out}"
    );
    // stateright's semantics count every order.
    let (_, out, _) = explore(
        "scenarios/explore/abd-stateright.toml",
        &["--keep-ignored", "--depth", "100"],
    );
    assert!(line(&out, "reduced ").contains("stateright"), "{out}");
    // Turned off, it says nothing.
    let (_, out, _) = explore("scenarios/explore/echo-small.toml", &["--no-reduction"]);
    assert!(!out.contains("reduced "), "{out}");
}

/// A protocol drawn from a seed: each delivery mixes the message into the
/// node's value, draws from the node's random stream, may read its clock
/// and write its disk,
/// send on, set a timer, and begin or end a client operation, each as the
/// seed decides; a node sends at most a few messages.
#[derive(Clone, Hash)]
struct Drawn {
    seed: u64,
    /// Whether it may read its clock.
    clock: bool,
    value: u64,
    sends: u8,
    /// How many messages a node sends at most (and one timer more).
    most: u8,
    open: bool,
}

#[derive(Clone, Debug, Hash, Serialize, Deserialize)]
struct Mix(u64);

fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(17)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

impl Drawn {
    fn react(&mut self, ctx: &mut Context<'_, Self>, input: u64) {
        let me = u64::from(ctx.id().0);
        let h = mix(mix(self.seed, me), mix(self.value, input));
        self.value = h % 3;
        if h & 0x10 != 0 {
            self.value ^= ctx.rng().below(2);
        }
        if h & 0x20 != 0 {
            ctx.disk().write("v", &self.value);
        }
        // What the clock says depends on the order of steps: such a step
        // commutes with none.
        if self.clock && h & 0xC00 == 0xC00 {
            self.value ^= (ctx.now().as_nanos() / 1_000_000) % 2;
        }
        let process = me;
        if h & 0x40 != 0 && !self.open {
            self.open = true;
            let v = dsim::history::Value::Int(self.value as i64);
            ctx.invoke(process, "write", None, v);
        } else if h & 0x80 != 0 && self.open {
            self.open = false;
            let v = dsim::history::Value::Int(0);
            ctx.complete(process, dsim::history::Phase::Ok, "write", None, v);
        }
        if self.sends < self.most && h & 0x3 != 0 {
            self.sends += 1;
            let to = (h >> 8) % u64::from(ctx.node_count());
            ctx.send(NodeId(to as u32), &Mix(self.value));
        }
        if h & 0x300 == 0x300 && self.sends <= self.most {
            self.sends += 1;
            ctx.set_timer(dsim::Duration::from_millis(5), ());
        }
    }
}

impl Node for Drawn {
    type Msg = Mix;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id().0 < 2 {
            self.react(ctx, 7);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, m: Mix) {
        self.react(ctx, m.0);
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {
        self.react(ctx, 99);
    }
}

fn drawn(seed: u64, nodes: u32, budgets: Budgets, clock: bool, most: u8) -> Simulation<Drawn> {
    let mut config = SimConfig::new(0, nodes);
    config.strategy = Strategy::Explore {
        path: vec![],
        budgets,
    };
    // Writes only: every history is linearizable, so the check records
    // and judges the history without ending the search.
    let check = dsim::history::Linearizability {
        model: "register".into(),
        initial: dsim::history::Value::Nil,
    };
    Simulation::new(config, move |_| Drawn {
        seed,
        clock,
        value: 0,
        sends: 0,
        most,
        open: false,
    })
    .invariant(dsim::protocols::linearizable(check).unwrap())
    .hashable()
    .cloneable()
}

/// A search to the end in `order`, with reduction and without.
fn both_ways(sim: &Simulation<Drawn>, order: Order) -> (Report, Report) {
    let run = |reduction| {
        let options = Options {
            order,
            depth: 1_000,
            max_states: 300_000,
            reduction,
            determinism_checks: 0,
            ..Options::default()
        };
        search(sim, &options).unwrap()
    };
    (run(true), run(false))
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 300, ..Default::default() })]
    /// Over protocols drawn at random, with drops and crashes or without,
    /// breadth- and depth-first to the end: the same distinct states, the
    /// same states where nothing more can happen, the same checks, with
    /// reduction and without.
    #[test]
    fn drawn_protocols_reach_the_same_states_with_reduction(
        seed in 0u64..u64::MAX,
        nodes in 2u32..5,
        faults in 0u32..3,
        dfs in proptest::bool::ANY,
    ) {
        let budgets = Budgets {
            drops: u32::from(faults == 1),
            crashes: u32::from(faults == 2),
            ..Budgets::default()
        };
        // Nodes that read their clocks only breadth-first: a step takes a
        // millisecond, so depth-first a state's time is that of the first
        // path to reach it, which differs between two searches that take
        // steps in another order, with reduction or without.
        let sim = drawn(seed, nodes, budgets, !dfs, 2);
        let (reduced, full) = both_ways(&sim, if dfs { Order::Dfs } else { Order::Bfs });
        // A drawn protocol too large for the state budget says nothing
        // either way (one of 4 nodes with a crash ran past a million
        // states in each search): drawn again.
        let budget = |r: &Report| r.stopped.as_deref().is_some_and(|s| s.contains("state budget"));
        proptest::prop_assume!(!budget(&reduced) && !budget(&full));
        proptest::prop_assert!(
            reduced.complete && full.complete,
            "{:?} / {:?}",
            reduced.stopped,
            full.stopped
        );
        proptest::prop_assert_eq!(reduced.counts.unique, full.counts.unique);
        proptest::prop_assert_eq!(reduced.terminal, full.terminal);
        proptest::prop_assert_eq!(&reduced.checks, &full.checks);
        proptest::prop_assert!(reduced.counts.states <= full.counts.states);
    }
}

/// A state met again before it is explored sleeps only the steps both
/// paths sleep; kept with its first path's set, it is explored again for
/// the same steps at every later meeting, and the search takes more steps
/// than one without reduction. Found among drawn protocols whose nodes
/// send three messages.
#[test]
fn a_state_met_again_sleeps_only_what_both_paths_sleep() {
    let budgets = Budgets {
        drops: 1,
        ..Budgets::default()
    };
    let sim = drawn(7654691489480981183, 4, budgets, false, 3);
    let (reduced, full) = both_ways(&sim, Order::Dfs);
    assert!(reduced.complete && full.complete);
    assert_eq!(reduced.counts.unique, full.counts.unique);
    assert_eq!(reduced.terminal, full.terminal);
    assert!(
        reduced.counts.states <= full.counts.states,
        "{} steps with reduction, {} without",
        reduced.counts.states,
        full.counts.states
    );
}
