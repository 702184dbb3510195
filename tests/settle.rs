//! Exploration's settle: from each state a search explores, a fault-free
//! continuation judges the `eventually` checks of a protocol whose timers
//! never stop, so no path comes to rest. A sender
//! that resends until acknowledged passes; one that never resends is
//! caught after a drop; the counterexample replays to the same failure;
//! timers fire by deadline in a settle; the search says what it judged.

use crate::explore::explore;
use dsim::explore::{search, Options, Report};
use dsim::time::Duration;
use dsim::{Budgets, Context, Node, NodeId, SimConfig, Simulation, Strategy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
enum Msg {
    Data(u32),
    Ack,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Tick {
    /// Resend while unacknowledged; re-armed forever, acknowledged or not
    /// (a heartbeat), so no state is one where nothing more can happen.
    Resend,
    /// Stop resending.
    GiveUp,
}

#[derive(Hash)]
struct Sender {
    /// Whether the sender resends at all (the broken twin does not).
    resends: bool,
    /// Whether the first copy goes out at the start or at the first tick.
    eager: bool,
    acked: bool,
    gave_up: bool,
    got: Option<u32>,
}

impl Node for Sender {
    type Msg = Msg;
    type Timer = Tick;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            if !self.eager {
                // Set first, so it has the lower id: only its deadline,
                // later than the first resend's, puts it second.
                ctx.set_timer(Duration::from_millis(100), Tick::GiveUp);
            }
            if self.eager {
                ctx.send(NodeId(1), &Msg::Data(7));
            }
            ctx.set_timer(Duration::from_millis(10), Tick::Resend);
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Data(v) => {
                self.got = Some(v);
                ctx.send(from, &Msg::Ack);
            }
            Msg::Ack => self.acked = true,
        }
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, tick: Tick) {
        match tick {
            Tick::GiveUp => self.gave_up = true,
            Tick::Resend => {
                let first = !self.eager && !self.gave_up && !self.acked;
                if first || (self.resends && !self.acked && !self.gave_up) {
                    self.eager = true;
                    ctx.send(NodeId(1), &Msg::Data(7));
                }
                ctx.set_timer(Duration::from_millis(10), Tick::Resend);
            }
        }
    }
}

fn sender(resends: bool, eager: bool, budgets: Budgets) -> Simulation<Sender> {
    sender_on(explored(Vec::new(), budgets), resends, eager)
}

/// Two nodes, under exploration along `path` (empty: searched).
fn explored(path: Vec<u32>, budgets: Budgets) -> SimConfig {
    let mut config = SimConfig::new(0, 2);
    config.strategy = Strategy::Explore { path, budgets };
    config
}

fn sender_on(config: SimConfig, resends: bool, eager: bool) -> Simulation<Sender> {
    Simulation::new(config, move |_| Sender {
        resends,
        eager,
        acked: false,
        gave_up: false,
        got: None,
    })
    .eventually(
        "delivered",
        "the receiver has the value",
        Duration::from_secs(1),
        |v| match v.node(NodeId(1)).and_then(|n| n.got) {
            Some(7) => Ok(()),
            _ => Err("the receiver never got the value".into()),
        },
    )
    .hashable()
}

fn one_drop(settle: u32) -> Budgets {
    Budgets {
        drops: 1,
        settle,
        ..Budgets::default()
    }
}

fn searched<N: Node>(sim: &Simulation<N>, depth: usize) -> Report {
    let options = Options {
        depth,
        ..Options::default()
    };
    search(sim, &options).unwrap()
}

#[test]
fn a_resender_whose_timers_never_stop_has_its_liveness_judged_and_passes() {
    let r = searched(&sender(true, true, Budgets::default()), 6);
    assert!(r.pass().is_ok(), "{r:?}");
    assert_eq!(r.terminal, 0, "the resend timer re-arms forever: {r:?}");
    // Every state explored was settled, those at the depth bound too.
    assert!(r.complete && r.cut_at_depth > 0, "{r:?}");
    assert_eq!(r.settled, r.counts.unique, "{r:?}");
    assert_eq!(r.checks, ["delivered"]);
    // With a drop allowed too: resent after a drop, it still holds.
    let r = searched(&sender(true, true, one_drop(Budgets::SETTLE)), 6);
    assert!(r.pass().is_ok() && r.settled > 0, "{r:?}");
    // Without a settle, nothing is judged, and the search cannot pass.
    let r = searched(&sender(true, true, one_drop(0)), 6);
    assert_eq!(r.settled, 0);
    assert_eq!(r.not_evaluated, ["delivered"]);
    assert!(r.pass().is_err(), "{r:?}");
}

#[test]
fn a_sender_that_never_resends_is_caught_after_a_drop_and_its_path_replays() {
    let sim = sender(false, true, one_drop(50));
    let r = searched(&sim, 3);
    let f = r
        .violation
        .as_ref()
        .expect("the dropped value is never resent");
    assert_eq!(f.check, "delivered");
    assert!(!f.at_end, "{f:?}");
    // The path: a shortest one to a state whose settle fails (the drop
    // of the one copy), then the settle, every step it had.
    assert_eq!(f.settled, 50, "{f:?}");
    assert_eq!(f.path.len(), 1 + 50, "{f:?}");
    assert!(f.steps[0].starts_with("drop"), "{f:?}");
    let settle = &f.steps[f.path.len() - f.settled..];
    assert!(
        settle
            .iter()
            .all(|s| s.starts_with("fire") || s.starts_with("deliver")),
        "a settle takes no fault: {settle:?}"
    );
    assert!(
        f.due.as_deref().unwrap().contains("after a settle")
            && f.due.as_deref().unwrap().contains(
                "the settle stopped at its step 50 (counted from the last operation it handed out, if any), its check's message unchanged for the last 50"
            ),
        "{f:?}"
    );
    // Without the drop the value arrives: the twin passes.
    assert!(searched(&sender(false, true, Budgets::default()), 3)
        .pass()
        .is_ok());
    // Run by its path to the state (the drop), under the same settle
    // budget, it settles as the search did and fails the same check.
    let to_state = f.path[..f.path.len() - f.settled].to_vec();
    let replayed = |settle: u32| {
        sender_on(explored(to_state.clone(), one_drop(settle)), false, true)
            .run()
            .unwrap()
    };
    let out = replayed(50);
    let failure = out.failure.expect("the path ends in a settle");
    assert_eq!(failure.check, "delivered");
    assert!(
        failure.line().contains("after a settle"),
        "{}",
        failure.line()
    );
    // Every step of the settle was taken: 50 timers, each resending
    // nothing.
    assert_eq!(out.stats.timers, 50, "{:?}", out.stats);
    assert_eq!(out.stats.sent, 1, "{:?}", out.stats);
    // The same path with no settle asked for ends at a state where more
    // can happen: no `eventually` is judged there.
    let out = replayed(0);
    assert!(out.failure.is_none(), "{:?}", out.failure);
}

#[test]
fn a_settle_fires_timers_in_the_order_they_fall_due() {
    // The give-up timer has the lower id and the later deadline: a settle
    // from the start fires the first resend first, and the value arrives.
    // Were timers fired by id, the sender would give up first and the
    // check would fail.
    let r = searched(&sender(true, false, Budgets::default()), 0);
    assert!(r.pass().is_ok(), "{r:?}");
    assert_eq!(r.settled, 1, "{r:?}");
    // Explored, the give-up cannot fire first either: set in the same
    // handler for longer, it falls due after the first resend on any
    // timing (a search fires a node's timers in the order their lengths
    // fix). It may beat a later resend, by then needless.
    for depth in [1, 6] {
        let r = searched(&sender(true, false, Budgets::default()), depth);
        assert!(r.pass().is_ok(), "{r:?}");
    }
}

#[test]
fn the_cli_settles_raft_and_says_what_it_judged() {
    let (code, out, _) = explore("scenarios/raft-partitions.toml", &["--depth", "4"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("checked    election-safety, log-matching, leader-completeness, state-machine-safety, leader-elected,"), "{out}");
    assert!(
        out.contains("settled    1810 states: from each, the path went on without faults"),
        "{out}"
    );
    assert!(out.contains("NOT RUN    committed-on-majority:"), "{out}");
    // What a settle does with a node the path crashed is said, and
    // --recover, which only crashes give a meaning, needs them.
    let (code, out, _) = explore(
        "scenarios/raft-partitions.toml",
        &["--depth", "2", "--crashes", "1", "--recover"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("crashed nodes restarted first, tasks run")
            && out.contains("a settle first restarts every crashed node (--recover)"),
        "{out}"
    );
    let (code, out, _) = explore("scenarios/raft-partitions.toml", &["--recover"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--crashes"), "{out}");
}

/// Node 0 passes each client operation on to node 1, which counts them;
/// node 0's heartbeat re-arms forever.
#[derive(Hash)]
struct Relay {
    counted: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Note;

impl Node for Relay {
    type Msg = Note;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer(Duration::from_millis(10), ());
        }
    }
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, _: dsim::Input) {
        ctx.send(NodeId(1), &Note);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Note) {
        self.counted += 1;
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {
        ctx.set_timer(Duration::from_millis(10), ());
    }
}

#[test]
fn a_settle_hands_out_the_whole_workload_before_it_judges_a_check_that_waits_for_it() {
    // 30 operations take 60 steps to hand out and deliver, a settle of 10
    // steps after the last of them: a check judged after the workload is
    // judged when it is all handed out, not when 10 steps have gone by
    // (then a false violation), nor before (then `counted == 30` could
    // not hold, and a weaker check could hold vacuously at the start).
    let r = searched(&relay(30), 2);
    assert!(r.pass().is_ok(), "{r:?}");
    assert!(r.settle_longest >= 60, "{r:?}");
    // A check that cannot hold: caught, after the whole workload.
    let never = relay(31);
    let f = searched(&never, 0).violation.expect("31 is never counted");
    assert_eq!(f.message, "node 1 counted 30 of 31");
    // 30 operations and 29 deliveries, then the budget's 10 steps after
    // the last operation, and on until the check's message stood still
    // for 10: its delivery (30 of 31 counted) and 10 heartbeats.
    assert_eq!(f.settled, 59 + 11, "{f:?}");
}

/// Relays of a workload of 30 operations, settled 10 steps after the
/// last, checked that node 1 counts `wanted` of them in the end.
fn relay(wanted: u64) -> Simulation<Relay> {
    relay_with(wanted, 0)
}

/// [`relay`], the search allowed `drops` drops.
fn relay_with(wanted: u64, drops: u32) -> Simulation<Relay> {
    let mut config = explored(
        Vec::new(),
        Budgets {
            settle: 10,
            drops,
            ..Budgets::default()
        },
    );
    config.workload = Some(dsim::Workload {
        count: 30,
        start: Duration::from_millis(1),
        interval: dsim::Latency::Constant {
            latency: Duration::from_millis(1),
        },
        targets: vec![NodeId(0)],
        value_range: 10,
        skip: Vec::new(),
    });
    Simulation::new(config, |_| Relay { counted: 0 })
        .eventually(
            "counted",
            "node 1 counted what it was meant to",
            Duration::from_secs(1),
            move |v| match v.node(NodeId(1)).map(|n| n.counted) {
                Some(n) if n == wanted => Ok(()),
                n => Err(format!("node 1 counted {} of {wanted}", n.unwrap_or(0))),
            },
        )
        .hashable()
}

#[test]
fn settles_that_meet_where_an_operation_is_handed_out_stop_there() {
    // Each state's settle hands out the operations left, one by one, at
    // states where nothing else can happen; settles from many states
    // meet at such states, and one that reaches a state where another
    // settle went on to hold stops there. Without that, every settle
    // here runs most of the workload (up to 60 steps), over a thousand
    // steps in all; with it, those from states with the same timers meet
    // (a timer fired early re-arms with a new id: a state of its own).
    let r = searched(&relay(30), 4);
    assert!(r.pass().is_ok(), "{r:?}");
    assert!(r.settled > 20, "{r:?}");
    assert!(r.settle_longest >= 60, "{r:?}");
    assert!(
        r.settle_steps < r.settled * 30,
        "the settles walked the workload again and again: {r:?}"
    );
    // A check that cannot hold is still caught, from the first settle.
    let f = searched(&relay(31), 4)
        .violation
        .expect("31 is never counted");
    assert_eq!(f.message, "node 1 counted 30 of 31");
    assert_eq!(f.path.len(), 59 + 11, "{f:?}");
    // With a drop allowed, the root's settle holds first and teaches the
    // states it passed; the settle after a drop reaches none of them (a
    // note is missing from every state after it) and fails: the search
    // finds the drop of the first note, at the shallowest depth.
    let f = searched(&relay_with(30, 1), 4)
        .violation
        .expect("a dropped note is never counted");
    assert_eq!(f.message, "node 1 counted 29 of 30");
    assert_eq!(f.path.len() - f.settled, 2, "{f:?}");
    assert!(f.steps[1].starts_with("drop"), "{f:?}");
}

/// The sender's value acknowledged, a check that tolerates a node down
/// for good (judged with it down, not held off).
fn acknowledged(budgets: Budgets, path: Vec<u32>) -> Simulation<Sender> {
    Simulation::new(explored(path, budgets), |_| Sender {
        resends: true,
        eager: true,
        acked: false,
        gave_up: false,
        got: None,
    })
    .eventually_despite_crashes(
        "acknowledged",
        "the sender's value is acknowledged",
        Duration::from_secs(1),
        |v| match v.node(NodeId(0)) {
            Some(n) if n.acked => Ok(()),
            _ => Err("the value was never acknowledged".into()),
        },
    )
    .hashable()
}

#[test]
fn a_node_crashed_and_not_restarted_stays_down_through_a_settle_unless_nodes_recover() {
    // Crash-stop: a node crashed and never restarted is down for good, so
    // no acknowledgement ever comes; the report says why it was judged so.
    let crash = Budgets {
        crashes: 1,
        settle: 20,
        ..Budgets::default()
    };
    let f = searched(&acknowledged(crash, Vec::new()), 4)
        .violation
        .expect("a node down for good stops the acknowledgement");
    assert_eq!(f.check, "acknowledged");
    assert!(f.steps[0].starts_with("crash"), "{f:?}");
    let due = f.due.as_deref().unwrap();
    assert!(
        due.contains("crashed on the path and stayed down through the settle, judged as down for good (--recover"),
        "{due}"
    );
    // Crash-recovery: each settle first restarts the node the path left
    // down, and the restarted sender (or the receiver) gets the value
    // through: every state explored passes.
    let recover = Budgets {
        recover: true,
        ..crash
    };
    let r = searched(&acknowledged(recover, Vec::new()), 4);
    assert!(r.pass().is_ok() && r.complete, "{r:?}");
    assert!(r.settled > 0, "{r:?}");
    // Without the check's tolerance a node down holds it off: nothing is
    // judged in such a settle, and under `recover` it is judged after
    // the restart. The receiver that forgets on a crash a value it had
    // acknowledged is the twin that only recovery shows: the sender does
    // not resend an acknowledged value.
    let delivered = |budgets: Budgets| sender_on(explored(Vec::new(), budgets), true, true);
    // Two steps reach the crash of the receiver that has acknowledged
    // the value, not its restart: only a settle that restarts it judges
    // the check there.
    let r = searched(&delivered(crash), 2);
    assert!(r.violation.is_none(), "{r:?}");
    let f = searched(&delivered(recover), 2)
        .violation
        .expect("a receiver that forgets across a restart never gets the value again");
    assert_eq!(f.check, "delivered");
    assert_eq!(f.steps[1], "crash n1", "{f:?}");
    assert_eq!(f.steps[2], "restart n1", "the settle's first step: {f:?}");
    // The counterexample replays: its path to the state, settled again
    // under the same budgets, restarts the node and fails the same way.
    let to_state = f.path[..f.path.len() - f.settled].to_vec();
    let out = sender_on(explored(to_state, recover), true, true)
        .run()
        .unwrap();
    assert_eq!(out.failure.expect("the same settle").check, "delivered");
}

/// Passes a token down a line of nodes, one hop a step: "k nodes without
/// the token" changes at every step of a settle until none is left.
#[derive(Hash)]
struct Line {
    has: bool,
}

impl Node for Line {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            self.has = true;
            ctx.send(NodeId(1), &());
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, _: ()) {
        self.has = true;
        let next = ctx.id().0 + 1;
        if next < ctx.node_count() {
            ctx.send(NodeId(next), &());
        }
    }
}

fn line(nodes: u32, settle: u32) -> Simulation<Line> {
    let mut config = SimConfig::new(0, nodes);
    config.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets: Budgets {
            settle,
            ..Budgets::default()
        },
    };
    Simulation::new(config, |_| Line { has: false })
        .eventually(
            "all-have",
            "every node has the token",
            Duration::from_secs(1),
            |v| match v.up().filter(|(_, n)| !n.has).count() {
                0 => Ok(()),
                k => Err(format!("{k} nodes without the token")),
            },
        )
        .hashable()
}

/// A settle whose failing check's message still changes at its budget is
/// a system still converging: it goes on, up to ten times the budget.
/// Before, a budget of 5 steps failed a line of 20 nodes the token reaches
/// in 19 (as 1,000 steps failed a correct rumor protocol of 500 nodes).
#[test]
fn a_settle_still_converging_goes_on_past_its_budget_up_to_ten_times_it() {
    let r = searched(&line(20, 5), 1);
    assert!(r.pass().is_ok(), "{r:?}");
    assert!(r.settle_longest > 5, "{r:?}");
    // A line longer than ten budgets: judged there, saying a larger
    // budget may see the check hold.
    let r = searched(&line(100, 5), 1);
    let f = r.violation.as_ref().expect("50 steps reach 51 nodes");
    assert_eq!(f.check, "all-have");
    assert_eq!(f.settled, 50, "{f:?}");
    let due = f.due.as_deref().unwrap();
    assert!(
        due.contains("the settle stopped at its step 50, ten times --settle 5, its check's message still changing: a larger --settle may see the check hold"),
        "{due}"
    );
    assert!(searched(&line(100, 10), 1).pass().is_ok());
}
