//! Exploration's timers: a budget of timers that fire before a message in
//! flight arrives (`--early-timers`), and replies nobody waits for any
//! more, which change nothing and so do not tell states apart.

use crate::common;

use crate::explore::explore;
use common::{dsim, text};
use dsim::aio::{Async, AsyncNode, Ctx};
use dsim::explore::{search, Options, Report};
use dsim::{Budgets, Duration, NodeId, SimConfig, Simulation, Strategy};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

#[derive(Debug, Serialize, Deserialize)]
enum Ask {
    Who,
    Me(u32),
}

/// n0 asks n1 and n2 who they are, takes the first answer and drops the
/// other call, twice; a call that times out counts as 0. n1 and n2 answer.
struct Race;

impl AsyncNode for Race {
    type Msg = Ask;
    /// n0's winners, in order.
    type State = Vec<u32>;

    async fn main(self, ctx: Ctx<Self>) {
        if ctx.id() != NodeId(0) {
            loop {
                let m = ctx.recv().await;
                ctx.reply(&m, &Ask::Me(ctx.id().0));
            }
        }
        for _ in 0..2 {
            let mut calls: FuturesUnordered<_> = [NodeId(1), NodeId(2)]
                .into_iter()
                .map(|to| ctx.call(to, &Ask::Who, Duration::from_millis(10)))
                .collect();
            let winner = match calls.next().await {
                Some(Ok(Ask::Me(id))) => id,
                _ => 0,
            };
            drop(calls);
            ctx.state_mut(|s| s.push(winner));
        }
    }
}

/// Searches `Race` to the end; the winners n0 ended with, in every state
/// where nothing more could happen.
fn race(early_timers: Option<u32>) -> (Report, BTreeSet<Vec<u32>>) {
    let mut config = SimConfig::new(0, 3);
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets: Budgets {
            early_timers,
            ..Budgets::default()
        },
    };
    let ends = Arc::new(Mutex::new(BTreeSet::new()));
    let log = ends.clone();
    let sim = Simulation::new(config, |_| Async::new(Race)).at_end(
        "record",
        "notes n0's winners where the run ends",
        move |v| {
            if let Some(n) = v.node(NodeId(0)) {
                log.lock().unwrap().insert(n.state().clone());
            }
            Ok(())
        },
    );
    let options = Options {
        depth: 100,
        ..Options::default()
    };
    let report = search(&sim, &options).unwrap();
    assert!(report.complete && report.violation.is_none(), "{report:?}");
    let ends = std::mem::take(&mut *ends.lock().unwrap());
    (report, ends)
}

#[test]
fn timers_fire_early_only_within_the_budget_and_late_replies_tell_no_states_apart() {
    // Timers only when nothing else can happen: a call times out only
    // when its reply cannot come, and here every reply comes, so no round
    // is lost.
    let (patient, ends) = race(Some(0));
    let all: BTreeSet<Vec<u32>> = [[1, 1], [1, 2], [2, 1], [2, 2]]
        .into_iter()
        .map(Vec::from)
        .collect();
    assert_eq!(ends, all);
    // Eight end states: the four pairs of winners, and whether the first
    // round's loser heard its first call before the second (servers are
    // known by the order of what they were handed). However the losing
    // replies interleave with n0's second round, they do not multiply
    // them: each changed nothing at n0 (its call was dropped), so it is
    // not part of what n0 was handed (24 end states, 122 in all, if it
    // were).
    assert_eq!(patient.terminal, 8, "{patient:?}");
    assert_eq!(patient.counts.unique, 92, "{patient:?}");
    assert_eq!(patient.counts.early, 0);
    // One early timer a path: a round may time out while both answers
    // are on their way, but not both rounds.
    let (one, ends) = race(Some(1));
    assert!(ends.is_superset(&all) && ends.contains(&vec![0, 1]) && ends.contains(&vec![2, 0]));
    assert!(!ends.contains(&vec![0, 0]), "{ends:?}");
    assert!(one.counts.early > 0 && one.counts.unique > patient.counts.unique);
    // Unbounded, the default: any timer at any step.
    let (any, ends) = race(None);
    assert!(ends.contains(&vec![0, 0]), "{ends:?}");
    assert!(any.counts.unique > one.counts.unique);
}

#[test]
fn a_bug_that_needs_a_timeout_is_found_with_an_early_timer_or_a_drop_and_not_without() {
    // The twin counts a vote whose call timed out as a yes: a timeout
    // must beat a vote, or a vote must be lost.
    let twin = "scenarios/async-twophase-bug-commit-on-timeout.toml";
    let base = ["--operations", "1", "--depth", "30"];
    let (code, out, dir) = explore(twin, &[&base[..], &["--early-timers", "0"]].concat());
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("all explored"), "{out}");
    assert!(
        out.contains("timers fire only when nothing else can happen: no message in flight, no task ready (--early-timers 0)"),
        "{out}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(summary.contains("\"early_timers\": 0"), "{summary}");
    for extra in [
        &["--early-timers", "1"][..],
        &["--early-timers", "0", "--drops", "1"],
    ] {
        let (code, out, dir) = explore(twin, &[&base[..], extra].concat());
        assert_eq!(code, Some(1), "{extra:?}: {out}");
        assert!(out.contains("VIOLATION  `commit-needs-all-votes`"), "{out}");
        // The counterexample replays record for record.
        let trace = dir.join("async-twophase-bug-commit-on-timeout-explored.trace");
        let o = dsim(&["replay", trace.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("diverges   never: the run matches the recording record for record"),
            "{}",
            text(&o)
        );
    }
}

#[test]
fn a_search_cut_short_by_timers_beating_messages_says_how_to_bound_them() {
    let (code, out, dir) = explore(
        "scenarios/async-abd.toml",
        &["--depth", "8", "--max-states", "3000"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("the state budget of 3000 distinct states ran out"),
        "{out}"
    );
    assert!(
        out.contains("a timer may fire at any step, even before a message in flight arrives (--early-timers N bounds those)"),
        "{out}"
    );
    let hint = out.lines().find(|l| l.starts_with("hint ")).expect(&out);
    assert!(
        hint.contains("--early-timers 0 lets timers fire only when nothing else can happen"),
        "{hint}"
    );
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    assert!(summary.contains("\"early_timers\": null"), "{summary}");
    // Bounded, the same search says nothing of the kind.
    let (_, out, _) = explore(
        "scenarios/async-abd.toml",
        &[
            "--depth",
            "8",
            "--max-states",
            "3000",
            "--early-timers",
            "1",
        ],
    );
    assert!(!out.contains("hint "), "{out}");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Alarm {
    Short,
    Mid,
    Long,
    Slow,
}

#[derive(Debug, Serialize, Deserialize)]
enum Knock {
    Ping,
    Pong,
}

/// n0 sets a 50 ms and a 5 ms timer in one handler and pings n1; n1
/// answers and sets a 100 ms timer; n0, answered, sets a 20 ms one. Each
/// notes what fired and when (a step is 1 ms of the search's time).
#[derive(Clone, Debug, Default, Hash)]
struct Alarms {
    fired: Vec<(u64, Alarm)>,
}

impl dsim::Node for Alarms {
    type Msg = Knock;
    type Timer = Alarm;
    fn on_start(&mut self, ctx: &mut dsim::Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer(Duration::from_millis(50), Alarm::Long);
            ctx.set_timer(Duration::from_millis(5), Alarm::Short);
            ctx.send(NodeId(1), &Knock::Ping);
        }
    }
    fn on_message(&mut self, ctx: &mut dsim::Context<'_, Self>, from: NodeId, msg: Knock) {
        match msg {
            Knock::Ping => {
                ctx.set_timer(Duration::from_millis(100), Alarm::Slow);
                ctx.send(from, &Knock::Pong);
            }
            Knock::Pong => {
                ctx.set_timer(Duration::from_millis(20), Alarm::Mid);
            }
        }
    }
    fn on_timer(&mut self, ctx: &mut dsim::Context<'_, Self>, _: dsim::TimerId, alarm: Alarm) {
        self.fired.push((ctx.now().0 / 1_000_000, alarm));
    }
}

/// Every order n0's alarms fired in, and every (n0's, n1's) firings, in
/// the states where nothing more could happen, of a complete search.
type Fired = BTreeSet<(Vec<(u64, Alarm)>, Vec<(u64, Alarm)>)>;

fn alarms(reduction: bool) -> Fired {
    let mut config = SimConfig::new(0, 2);
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets: Budgets::default(),
    };
    let ends = Arc::new(Mutex::new(BTreeSet::new()));
    let log = ends.clone();
    let sim = Simulation::new(config, |_| Alarms::default())
        .at_end("record", "notes what fired where the run ends", move |v| {
            let fired = |n: u32| {
                v.node(NodeId(n))
                    .map(|a| a.fired.clone())
                    .unwrap_or_default()
            };
            log.lock().unwrap().insert((fired(0), fired(1)));
            Ok(())
        })
        .hashable()
        .cloneable();
    let options = Options {
        depth: 100,
        reduction,
        ..Options::default()
    };
    let report = search(&sim, &options).unwrap();
    assert!(report.complete && report.violation.is_none(), "{report:?}");
    let ends = std::mem::take(&mut *ends.lock().unwrap());
    ends
}

#[test]
fn a_nodes_timers_fire_in_the_order_their_settings_fix_and_other_nodes_in_any() {
    for reduction in [true, false] {
        let ends = alarms(reduction);
        let orders: BTreeSet<Vec<Alarm>> = ends
            .iter()
            .map(|(n0, _)| n0.iter().map(|&(_, a)| a).collect())
            .collect();
        // The 5 ms alarm, set in the handler that set the 50 ms one,
        // fires first; the 20 ms one, set later, may beat the 50 ms one
        // or not, but never the 5 ms one set before it. (With timers in
        // any order, all six orders of the three.)
        let expected: BTreeSet<Vec<Alarm>> = [
            vec![Alarm::Short, Alarm::Mid, Alarm::Long],
            vec![Alarm::Short, Alarm::Long, Alarm::Mid],
        ]
        .into_iter()
        .collect();
        assert_eq!(orders, expected, "reduction {reduction}");
        // Another node's clock and speed are not known: n1's 100 ms alarm,
        // set after n0's 5 ms one, may still fire before it.
        let when = |fired: &[(u64, Alarm)], alarm| fired.iter().find(|f| f.1 == alarm).map(|f| f.0);
        assert!(
            ends.iter()
                .any(|(n0, n1)| when(n1, Alarm::Slow) < when(n0, Alarm::Short)),
            "reduction {reduction}: {ends:?}"
        );
        assert!(ends
            .iter()
            .any(|(n0, n1)| when(n1, Alarm::Slow) > when(n0, Alarm::Long)));
    }
}
