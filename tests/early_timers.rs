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
