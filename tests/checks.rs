//! Checks you can trust: a check that did not run never reads as held, a
//! name that selects nothing is refused, liveness is judged only where it
//! can be, and a user's protocol gets all of it from one declaration.

use crate::common;

use common::{dsim, text, tmp, Detector};
use dsim::invariant::FaultState;
use dsim::protocols::{ParamDoc, ParamValue, Params, Protocol, Registry, RunOptions, Spec};
use dsim::scheduler::CheckStatus;
use dsim::trace::EndReason;
use dsim::{
    Context, Duration, Fault, FaultAction, Instant, Latency, Node, NodeId, PartitionSpec,
    SimConfig, Simulation, TimerId, View,
};
use serde::{Deserialize, Serialize};

/// Node 0 sends a token to every peer every 50 ms; a node that gets it
/// keeps it.
#[derive(Debug, Default)]
struct Token {
    has: bool,
    rounds: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Give;

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Tick {
    Again,
}

impl Node for Token {
    type Msg = Give;
    type Timer = Tick;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            self.has = true;
            ctx.set_timer(Duration::from_millis(50), Tick::Again);
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Give) {
        self.has = true;
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, Tick::Again: Tick) {
        ctx.broadcast(&Give);
        self.rounds += 1;
        if self.rounds < 40 {
            ctx.set_timer(Duration::from_millis(50), Tick::Again);
        }
    }
}

fn everyone_has_it(v: &View<'_, Token>) -> Result<(), String> {
    match v.up().find(|(_, n)| !n.has) {
        Some((id, _)) => Err(format!("{id} has no token")),
        None => Ok(()),
    }
}

/// Three nodes; node 2 cut off from 0 until `heal` (never if `None`);
/// latencies of 5 ms; a run of `time`.
fn token(heal: Option<u64>, time_ms: u64, within_ms: u64) -> Simulation<Token> {
    let mut config = SimConfig::new(1, 3);
    config.network.default.latency = Latency::Constant {
        latency: Duration::from_millis(5),
    };
    config.faults.push(Fault {
        after: None,
        at: Duration::ZERO,
        action: FaultAction::Partition {
            id: 1,
            spec: PartitionSpec::Groups(vec![vec![NodeId(2)]]),
        },
    });
    if let Some(at) = heal {
        config.faults.push(Fault {
            after: None,
            at: Duration::from_millis(at),
            action: FaultAction::Heal { id: Some(1) },
        });
    }
    config.limits.time = Duration::from_millis(time_ms);
    Simulation::new(config, |_| Token::default()).eventually(
        "spread",
        "everyone has the token soon after the network heals",
        Duration::from_millis(within_ms),
        everyone_has_it,
    )
}

fn status(outcome: &dsim::Outcome, name: &str) -> CheckStatus {
    outcome
        .checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {:?}", outcome.checks))
        .status
        .clone()
}

#[test]
fn an_eventually_check_holds_on_a_run_that_heals_in_time() {
    let outcome = token(Some(500), 2_000, 200).run().unwrap();
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(matches!(
        status(&outcome, "spread"),
        CheckStatus::Held { .. }
    ));
}

#[test]
fn an_eventually_check_fails_when_the_world_does_not_converge_in_time() {
    // Node 2 is cut off and sent to only every 50 ms: the heal at 510 ms
    // comes just after a round, and 20 ms later it has no token yet.
    let (outcome, bytes) = token(Some(510), 2_000, 20)
        .run_traced(Vec::new(), None)
        .unwrap();
    let f = outcome.failure.clone().expect("the check must fail");
    assert_eq!(f.check, "spread");
    assert!(f.message.contains("n2 has no token"), "{}", f.message);
    // At the deadline: 20 ms after the heal.
    assert_eq!(f.time, Instant(530_000_000));
    let (_, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    assert_eq!(records[f.record as usize].time, Instant(530_000_000));
    assert_eq!(status(&outcome, "spread"), CheckStatus::Failed);
    // The failure says when it was due and what started its clock: a
    // deadline its user never wrote down as such.
    let due = "due 20ms after the last fault ended (at 0.510000000s), so at 0.530000000s";
    assert_eq!(f.due.as_deref(), Some(due));
    assert!(outcome.pass().unwrap_err().ends_with(&format!("({due})")));
    // A link's steady loss is no fault that ends: the deadline is not put
    // off, and the failure says so.
    let mut lossy = token(Some(510), 2_000, 20);
    lossy.config_mut().network.default.loss = dsim::rng::Ppm(100_000);
    let f = lossy.run().unwrap().failure.expect("still fails");
    let due = f.due.expect("a liveness failure says when it was due");
    assert!(
        due.ends_with("the links' steady loss (up to 10%) is no fault that ends, and does not put the deadline off"),
        "{due}"
    );
}

/// Each client operation's value is sent to every peer; every node keeps
/// what it has heard.
#[derive(Debug, Default)]
struct Relay {
    heard: std::collections::BTreeSet<u64>,
    /// Hears no peer (a broken relay).
    deaf: bool,
}

impl Node for Relay {
    type Msg = u64;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: dsim::Input) {
        self.heard.insert(input.id);
        ctx.broadcast(&input.id);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, id: u64) {
        if !self.deaf {
            self.heard.insert(id);
        }
    }
}

/// Three relays, 5 ms links, `count` operations 7 ms apart from the start,
/// no fault, checked `within` after the world is calm: "every node heard
/// what any node heard" — as an `eventually`, or one of the system's own
/// if `amid` (judged after the last fault alone). Node 2 is deaf if `deaf`.
fn relays(count: u64, within_ms: u64, deaf: bool, amid: bool) -> dsim::Outcome {
    let mut config = SimConfig::new(1, 3);
    config.network.default.latency = Latency::Constant {
        latency: Duration::from_millis(5),
    };
    config.workload = Some(dsim::config::Workload {
        count,
        start: Duration::ZERO,
        interval: Latency::Constant {
            latency: Duration::from_millis(7),
        },
        targets: Vec::new(),
        value_range: 1000,
        skip: Vec::new(),
    });
    config.limits.time = Duration::from_secs(1);
    let all_heard = |v: &dsim::View<'_, Relay>| {
        let all: std::collections::BTreeSet<u64> =
            v.up().flat_map(|(_, n)| n.heard.iter().copied()).collect();
        match v.up().find(|(_, n)| n.heard != all) {
            Some((id, _)) => Err(format!("{id} has not heard everything")),
            None => Ok(()),
        }
    };
    let sim = Simulation::new(config, move |id| Relay {
        deaf: deaf && id == NodeId(2),
        ..Relay::default()
    });
    let (name, doc, within) = (
        "all-heard",
        "every node heard every operation some node heard",
        Duration::from_millis(within_ms),
    );
    if amid {
        sim.eventually_amid_workload(name, doc, within, all_heard)
    } else {
        sim.eventually(name, doc, within, all_heard)
    }
    .run()
    .unwrap()
}

#[test]
fn an_eventually_is_judged_after_the_workload_unless_it_is_of_the_system_itself() {
    // Operations until 98 ms, no fault, within 100 ms. Judged 100 ms after
    // the start, the last operation would still be on its way: an
    // `eventually` waits for the last operation (a property test of a
    // correct Bracha failed `totality` so, judged 62 ms after a broadcast).
    // The run goes quiet at 103 ms, before 198 ms: judged at its end.
    let o = relays(15, 100, false, false);
    assert!(o.failure.is_none(), "{:?}", o.failure);
    assert_eq!(
        status(&o, "all-heard"),
        CheckStatus::Held { evaluations: 1 }
    );
    // One of the system's own is judged amid the workload, at 100 ms:
    // here, where it is of the work, it sees work in progress.
    let f = relays(15, 100, false, true)
        .failure
        .expect("judged mid-broadcast, it fails");
    assert_eq!(f.check, "all-heard");
    assert_eq!(f.time, Instant(100_000_000));
    assert_eq!(
        f.due.as_deref(),
        Some("due 100ms after the run began, with no fault since, so at 0.100000000s")
    );
    // A workload over well before the deadline: both hold.
    for amid in [false, true] {
        let settled = relays(5, 100, false, amid);
        assert!(settled.failure.is_none(), "{:?}", settled.failure);
    }
    // A deaf node never hears: caught after the workload.
    let f = relays(15, 100, true, false)
        .failure
        .expect("a deaf node never hears");
    assert!(f.time >= Instant(98_000_000), "judged at {}", f.time);
    assert!(
        f.message.contains("n2 has not heard everything"),
        "{}",
        f.message
    );
    // The run went quiet before its deadline: judged early, and it says so.
    assert_eq!(
        f.due.as_deref(),
        Some(
            "judged early, at 0.103000000s, when nothing more could happen; due 100ms after the \
             last client operation arrived (at 0.098000000s), so at 0.198000000s"
        )
    );
    // A run cut at 1 s while operations still arrive (the last at 994 ms):
    // not run, and the reason says from when it counts.
    let long = relays(200, 100, false, false);
    match status(&long, "all-heard") {
        CheckStatus::NotRun { reason } => assert!(
            reason.contains("before 1.094000000s (100ms after 0.994000000s, when the last fault had ended and the last client operation had arrived and begun)"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Node 0 is a client that takes one operation at a time and queues the
/// rest; node 1 answers each (it forgets the `ignore`-th if given).
#[derive(Debug, Default)]
struct Queuer {
    queued: std::collections::VecDeque<u64>,
    busy: Option<u64>,
    done: u64,
    ignore: Option<u64>,
}

impl Queuer {
    fn begin(&mut self, ctx: &mut Context<'_, Self>) {
        if self.busy.is_some() {
            return;
        }
        if let Some(id) = self.queued.pop_front() {
            ctx.invoke(0, "write", None, dsim::history::Value::Int(id as i64));
            ctx.send(NodeId(1), &id);
            self.busy = Some(id);
        }
    }
}

impl Node for Queuer {
    type Msg = u64;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: dsim::Input) {
        self.queued.push_back(input.id);
        self.begin(ctx);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, id: u64) {
        if ctx.id() == NodeId(1) {
            if self.ignore != Some(id) {
                ctx.send(from, &id);
            }
        } else if self.busy == Some(id) {
            let v = dsim::history::Value::Nil;
            ctx.complete(0, dsim::history::Phase::Ok, "write", None, v);
            self.busy = None;
            self.done += 1;
            self.begin(ctx);
        }
    }
}

#[test]
fn an_eventually_waits_for_operations_a_client_queued_to_begin() {
    // 15 operations arrive 1 ms apart from the start; the client serves
    // them one at a time, 10 ms each (5 ms links), the last one beginning
    // at 140 ms. Judged 50 ms after the last arrival (64 ms), the client
    // would still be at work: a correct chain replication of a user's own
    // failed its catch-up check so in 121 of 500 seeds. Its `invoke`
    // counts as the operation's beginning.
    let run = |ignore: Option<u64>| {
        let mut config = SimConfig::new(1, 2);
        config.network.default.latency = Latency::Constant {
            latency: Duration::from_millis(5),
        };
        config.workload = Some(dsim::config::Workload {
            count: 15,
            start: Duration::ZERO,
            interval: Latency::Constant {
                latency: Duration::from_millis(1),
            },
            targets: vec![NodeId(0)],
            value_range: 1000,
            skip: Vec::new(),
        });
        config.limits.time = Duration::from_secs(1);
        Simulation::new(config, move |_| Queuer {
            ignore,
            ..Queuer::default()
        })
        .eventually(
            "served",
            "once calm, the client has every operation answered",
            Duration::from_millis(50),
            |v| match v.node(NodeId(0)) {
                Some(c) if c.done < 15 => Err(format!("{} of 15 answered", c.done)),
                _ => Ok(()),
            },
        )
        .run()
        .unwrap()
    };
    let o = run(None);
    assert!(o.failure.is_none(), "{:?}", o.failure);
    assert_eq!(status(&o, "served"), CheckStatus::Held { evaluations: 1 });
    // The last operation never answered: caught, judged after it began.
    let f = run(Some(14)).failure.expect("an operation never answered");
    assert_eq!(f.check, "served");
    assert!(f.message.contains("14 of 15 answered"), "{}", f.message);
    assert_eq!(
        f.due.as_deref(),
        Some(
            "judged early, at 0.145000000s, when nothing more could happen; due 50ms after a \
             client last began an operation (at 0.140000000s; the last one arrived at \
             0.014000000s), so at 0.190000000s"
        )
    );
}

#[test]
fn an_eventually_check_is_not_run_on_a_run_cut_short_before_its_deadline() {
    // The heal is at 500 ms, the deadline at 700 ms, the run ends at 600.
    let outcome = token(Some(500), 600, 200).run().unwrap();
    assert!(outcome.failure.is_none());
    match status(&outcome, "spread") {
        CheckStatus::NotRun { reason } => assert!(
            reason.contains("before 0.700000000s") && reason.contains("time limit"),
            "{reason}"
        ),
        other => panic!("reported as {other:?}, not as not run"),
    }
}

#[test]
fn an_eventually_check_is_not_run_while_a_fault_is_still_in_force() {
    let outcome = token(None, 2_000, 200).run().unwrap();
    assert!(outcome.failure.is_none());
    match status(&outcome, "spread") {
        CheckStatus::NotRun { reason } => assert!(reason.contains("still in force"), "{reason}"),
        other => panic!("reported as {other:?}"),
    }
}

/// Three detectors; `faults` (ms, action); a run of 1 s; the same
/// completeness property as `eventually` and in the crash-stop model.
fn detectors(blind: bool, faults: &[(u64, FaultAction)]) -> dsim::Outcome {
    let mut config = SimConfig::new(1, 3);
    config.network.default.latency = Latency::Constant {
        latency: Duration::from_millis(5),
    };
    config.limits.time = Duration::from_secs(1);
    for (at, action) in faults {
        config.faults.push(Fault {
            after: None,
            at: Duration::from_millis(*at),
            action: action.clone(),
        });
    }
    let complete = |v: &View<'_, Detector>| {
        for (a, node) in v.up() {
            for b in 0..v.node_count() {
                if v.node(NodeId(b as u32)).is_none() && !node.suspects[b] {
                    return Err(format!("{a} does not suspect n{b}, which is down"));
                }
            }
        }
        Ok(())
    };
    Simulation::new(config, move |_| Detector::new(blind))
        .eventually(
            "complete",
            "every node down is suspected",
            Duration::from_millis(300),
            complete,
        )
        .eventually_despite_crashes(
            "complete-crash-stop",
            "every node down is suspected, nodes crashed for good left down",
            Duration::from_millis(300),
            complete,
        )
        .invariant(
            dsim::Invariant::eventually_amid_workload(
                "complete-amid-workload",
                "the same, judged while clients call",
                Duration::from_millis(300),
                complete,
            )
            .despite_crashes(),
        )
        .run()
        .unwrap()
}

#[test]
fn liveness_in_the_crash_stop_model_is_judged_with_a_node_down_for_good() {
    let crash = (200, FaultAction::Crash { node: NodeId(2) });
    // A node that never comes back holds off `eventually` for the whole
    // run; in the crash-stop model it is judged 300 ms after the crash.
    let outcome = detectors(false, std::slice::from_ref(&crash));
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    match status(&outcome, "complete") {
        CheckStatus::NotRun { reason } => assert!(reason.contains("still in force"), "{reason}"),
        other => panic!("reported as {other:?}"),
    }
    for name in ["complete-crash-stop", "complete-amid-workload"] {
        assert!(
            matches!(status(&outcome, name), CheckStatus::Held { .. }),
            "{name}: {:?}",
            outcome.checks
        );
    }
    // A detector that suspects no one is caught, at the deadline.
    let outcome = detectors(true, std::slice::from_ref(&crash));
    let f = outcome.failure.expect("the blind detector fails");
    assert!(f.check.starts_with("complete-"), "{}", f.check);
    assert!(
        f.message.contains("n0 does not suspect n2"),
        "{}",
        f.message
    );
    assert_eq!(f.time, Instant(500_000_000));
    assert_eq!(
        f.due.as_deref(),
        Some(
            "due 300ms after the last partition or cut wire ended or the last crash or restart \
             happened (at 0.200000000s), so at 0.500000000s"
        )
    );
    // A restart starts the calm again: judged 300 ms after it, all up.
    let restart = (400, FaultAction::Restart { node: NodeId(2) });
    let outcome = detectors(true, &[crash.clone(), restart]);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    for name in ["complete", "complete-crash-stop", "complete-amid-workload"] {
        assert!(
            matches!(status(&outcome, name), CheckStatus::Held { .. }),
            "{name}"
        );
    }
    // A partition never healed holds it off, and it says so.
    let cut = (
        100,
        FaultAction::Partition {
            id: 1,
            spec: PartitionSpec::Groups(vec![vec![NodeId(0)]]),
        },
    );
    let outcome = detectors(true, &[cut, crash]);
    match status(&outcome, "complete-crash-stop") {
        CheckStatus::NotRun { reason } => assert!(
            reason.contains("a partition or cut wire was still in force"),
            "{reason}"
        ),
        other => panic!("reported as {other:?}"),
    }
}

#[test]
fn a_run_that_judged_none_of_its_checks_does_not_pass() {
    // Its one check not run: nothing it was asked to check was judged.
    let outcome = token(None, 2_000, 200).run().unwrap();
    let why = outcome.nothing_judged().expect("a run that judged nothing");
    assert!(
        why.contains("`spread` (") && why.contains("still in force"),
        "{why}"
    );
    assert!(outcome.failure.is_none());
    assert_eq!(outcome.pass(), Err(why), "no failure, and yet no pass");
    // With a check judged beside it, the one not run is only reported.
    let outcome = token(None, 2_000, 200)
        .always("counted", "rounds stay few", |v| {
            match v.up().any(|(_, n)| n.rounds > 40) {
                true => Err("too many rounds".into()),
                false => Ok(()),
            }
        })
        .run()
        .unwrap();
    assert!(matches!(
        status(&outcome, "spread"),
        CheckStatus::NotRun { .. }
    ));
    assert_eq!(outcome.nothing_judged(), None);
    assert_eq!(outcome.pass(), Ok(()));
    // A failed check does not pass either, named.
    let failed = token(Some(510), 2_000, 20).run().unwrap();
    let why = failed.pass().unwrap_err();
    assert!(why.starts_with("check `spread` failed at record"), "{why}");

    // On the command line: Raft's liveness check alone, on a run that ends
    // partitioned, exits 2 and keeps the trace; with Raft's other checks
    // judged, the same run passes.
    let dir = tmp("judged-nothing");
    let scenario = dir.join("raft-cut.toml");
    let fault = |f: &str, time: &str| {
        let s = format!("protocol = \"raft\"\nnodes = 3\n[[fault]]\nat = \"100ms\"\n{f}\n[run]\ntime = \"{time}\"\n");
        std::fs::write(&scenario, s).unwrap();
    };
    fault("partition = [[0], [1, 2]]", "800ms");
    let trace = dir.join("cut.trace");
    let run = |check: Option<&str>| {
        let mut args = vec![
            "run",
            scenario.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ];
        if let Some(c) = check {
            args.extend(["--check", c]);
        }
        dsim(&args)
    };
    let o = run(Some("leader-elected"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no check the run was given could be judged")
            && text(&o).contains("`leader-elected` (a partition or cut wire was still in force"),
        "{}",
        text(&o)
    );
    assert!(
        trace.exists(),
        "the trace of a run that cannot pass is kept"
    );
    let o = run(None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("leader-elected NOT RUN"), "{}", text(&o));
    // A node down for good does not hold Raft's liveness check off (the
    // crash-stop model): the two others elect a leader, judged 1 s after
    // the crash; with two of three down no leader can be, and none is
    // asked for.
    for (crash, time) in [
        ("crash = 1", "1200ms"),
        ("crash = 1\n[[fault]]\nat = \"100ms\"\ncrash = 2", "1200ms"),
    ] {
        fault(crash, time);
        std::fs::remove_file(&trace).unwrap();
        let o = run(Some("leader-elected"));
        assert_eq!(o.status.code(), Some(0), "{crash}: {}", text(&o));
        assert!(
            text(&o).contains("leader-elected ok"),
            "{crash}: {}",
            text(&o)
        );
    }

    // A search likewise: an end-of-run check alone, and no path that ends
    // within the budget, exits 2; a check judged at every state passes.
    let explore = |check: &str| {
        let out = dir.join(format!("explore-{check}"));
        dsim(&[
            "explore",
            "scenarios/explore/raft-forget-vote-one-crash.toml",
            "--check",
            check,
            "--max-states",
            "2000",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let o = explore("committed-on-majority");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("no check the search was given ran in any state it explored")
            && text(&o).contains("`committed-on-majority`"),
        "{}",
        text(&o)
    );
    let o = explore("election-safety");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn end_of_run_checks_are_not_run_on_a_run_a_tool_cut_short() {
    let mut sim = token(Some(500), 600, 200).at_end(
        "final",
        "everyone has the token at the end",
        everyone_has_it,
    );
    // As shrink would: a limit of its own, marked as such.
    sim.config_mut().limits.time = Duration::from_millis(100);
    sim.config_mut().limits_cut_by = Some("shrink".into());
    let outcome = sim.run().unwrap();
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    for name in ["final", "spread"] {
        match status(&outcome, name) {
            CheckStatus::NotRun { reason } => assert!(reason.contains("shrink"), "{reason}"),
            other => panic!("{name} reported as {other:?}"),
        }
    }
    // Without the mark, the same state is judged and fails.
    sim.config_mut().limits_cut_by = None;
    let outcome = sim.run().unwrap();
    assert_eq!(outcome.failure.unwrap().check, "final");
}

#[test]
fn the_view_says_how_the_run_ended_and_which_faults_are_in_force() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let sim = token(Some(500), 2_000, 200).at_end("end", "records the end", move |v| {
        log.lock()
            .unwrap()
            .push((v.end(), v.fault_active(), v.calm_for(), v.is_quiescent()));
        Ok(())
    });
    sim.run().unwrap();
    let (end, active, calm, quiet) = seen.lock().unwrap()[0];
    // Node 0 stops after 40 rounds (2 s of timers), so the run goes quiet.
    assert_eq!(end, Some(EndReason::TimeLimit));
    assert!(!active);
    assert_eq!(calm, Some(Duration::from_millis(1_500)));
    assert!(!quiet);
    // A hand-built view for a unit test of an invariant.
    let nodes = [Some(Token::default())];
    let v = View::new(&nodes).with_faults(FaultState {
        partitions: 1,
        ..FaultState::default()
    });
    assert!(v.is_partitioned() && v.fault_active() && v.calm_for().is_none());
}

/// The silent-check defect: an invariant renamed where it is registered
/// must not leave a scenario that names the old name checking nothing.
fn renamed() -> Spec<Token> {
    Spec::new("token", "a token spreads", |config, _| {
        Ok(Simulation::new(config, |_| Token::default()).always(
            "token-spread-safety",
            "nobody invents a token",
            |_| Ok(()),
        ))
    })
}

#[test]
fn a_name_that_selects_no_registered_invariant_is_refused_everywhere() {
    let mut registry = Registry::empty();
    registry.add(renamed());
    let scenario = "protocol = \"token\"\nnodes = 3\n[check]\ninvariants = [\"token-safety\"]\n";
    let err = dsim::scenario::Scenario::parse("t.toml", scenario, &registry).unwrap_err();
    assert_eq!((err.line, err.column), (Some(4), Some(15)));
    assert!(err.message.contains("no invariant `token-safety`"), "{err}");
    // Through the library, too: never a run that checks nothing.
    let p = registry.get("token").unwrap();
    let options = RunOptions {
        invariants: Some(vec!["token-safety".into()]),
        ..RunOptions::default()
    };
    let err = p
        .run(SimConfig::new(1, 3), &Params::default(), options)
        .unwrap_err();
    assert!(
        err.to_string().contains("no invariant `token-safety`"),
        "{err}"
    );
    // And on the command line, with a suggestion.
    let o = dsim(&["run", "scenarios/echo-lossy.toml", "--check", "at-most-one"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("did you mean `at-most-once`?"),
        "{}",
        text(&o)
    );
}

#[test]
fn an_invariant_that_panics_fails_as_itself_and_keeps_its_trace() {
    // An `assert!` inside a check: the run fails that check, at that event,
    // with the panic's text, instead of taking the process (and a sweep)
    // down.
    let sim = token(Some(10), 200, 50).always("asserts", "no node has the token", |v| {
        assert!(v.up().all(|(_, n)| !n.has), "a node has the token");
        Ok(())
    });
    let (outcome, bytes) = sim.run_traced(Vec::new(), None).unwrap();
    let f = outcome
        .failure
        .clone()
        .expect("the panicking check fails the run");
    assert_eq!(f.check, "asserts");
    assert!(
        f.message
            .contains("the check itself panicked: a node has the token"),
        "{}",
        f.message
    );
    assert!(matches!(status(&outcome, "asserts"), CheckStatus::Failed));
    let (_, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    assert!(records.iter().any(|r| matches!(&r.kind,
        dsim::trace::Kind::CheckFailed { check, .. } if check == "asserts")));
}

#[test]
fn two_invariants_of_one_name_are_refused_not_reported_twice() {
    let sim = token(Some(10), 200, 50).always("spread", "a second check of that name", |_| Ok(()));
    for got in [
        sim.run().map(|_| ()),
        sim.run_traced(Vec::new(), None).map(|_| ()),
    ] {
        match got {
            Err(dsim::SimError::Config(m)) => {
                assert!(m.contains("two invariants are named `spread`"), "{m}")
            }
            other => panic!("ran with two checks named `spread`: {other:?}"),
        }
    }
    // The same names under exploration.
    let mut config = sim.config().clone();
    config.strategy = dsim::Strategy::Explore {
        path: Vec::new(),
        budgets: dsim::Budgets::default(),
    };
    let explored = Simulation::new(config, |_| Token::default())
        .always("same", "one", |_| Ok(()))
        .always("same", "two", |_| Ok(()));
    let e = dsim::explore::search(&explored, &dsim::explore::Options::default()).unwrap_err();
    assert!(
        e.to_string().contains("two invariants are named `same`"),
        "{e}"
    );
}

#[test]
fn every_builtin_documents_exactly_the_invariants_a_run_checks() {
    let registry = Registry::builtin();
    for p in registry.iter() {
        let documented: Vec<String> = p.invariants().into_iter().map(|i| i.name).collect();
        assert!(
            !documented.is_empty(),
            "{} documents no invariant",
            p.name()
        );
        let params = Params::defaults(&p.params());
        let outcome = p
            .run(
                SimConfig::new(1, p.min_nodes().max(5)),
                &params,
                RunOptions::default(),
            )
            .unwrap();
        let checked: Vec<String> = outcome.checks.iter().map(|c| c.name.clone()).collect();
        assert_eq!(documented, checked, "{}", p.name());
    }
    // `dsim protocols` lists them with when each is checked.
    let o = dsim(&["protocols"]);
    assert!(text(&o).contains("leader-elected"), "{}", text(&o));
    assert!(
        text(&o).contains("after the last fault ended"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_run_prints_what_each_check_did_not_what_the_protocol_documents() {
    // Failing runs write their traces here, not into the corpus in traces/.
    let dir = tmp("what-each-check-did");
    let (echo, broadcast) = (dir.join("echo.trace"), dir.join("broadcast.trace"));
    let o = dsim(&[
        "run",
        "scenarios/echo-bug-no-dedup.toml",
        "--seed",
        "3",
        "--trace",
        echo.to_str().unwrap(),
    ]);
    let out = text(&o);
    // The scenario selects one invariant: only it is reported.
    assert!(out.contains("checks     at-most-once FAILED"), "{out}");
    assert!(!out.contains("acked-were-executed"), "{out}");
    let o = dsim(&[
        "run",
        "scenarios/broadcast-bug-no-dedup.toml",
        "--seed",
        "0",
        "--trace",
        broadcast.to_str().unwrap(),
    ]);
    assert!(
        text(&o).contains("agreement NOT RUN (the run failed before it was due)"),
        "{}",
        text(&o)
    );
}

#[test]
fn reading_a_parameter_that_does_not_exist_is_an_error_not_zero() {
    let docs = vec![
        ParamDoc::duration("timeout", Duration::from_millis(50), "how long"),
        ParamDoc::int("tries", 3, (1, 10), "how often"),
    ];
    let p = Params::defaults(&docs);
    assert_eq!(p.duration("timeout").unwrap(), Duration::from_millis(50));
    assert_eq!(p.int("tries").unwrap(), 3);
    let err = p.int("trys").unwrap_err().to_string();
    assert!(err.contains("did you mean `tries`?"), "{err}");
    assert!(p
        .int("timeout")
        .unwrap_err()
        .to_string()
        .contains("read as an integer"));
    // A protocol that reads a parameter it does not declare cannot run.
    let sloppy = Spec::new(
        "sloppy",
        "reads what it never declared",
        |config, params| {
            let _ = params.int("rounds")?;
            Ok(Simulation::new(config, |_| Token::default()))
        },
    );
    let err = sloppy
        .run(
            SimConfig::new(1, 2),
            &Params::default(),
            RunOptions::default(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("`rounds`"), "{err}");
    assert_eq!(
        Params::resolve(&docs, &[("timeout".into(), ParamValue::Int(5))].into())
            .unwrap_err()
            .to_string(),
        "`timeout` must be a duration such as \"50ms\""
    );
}

#[test]
fn the_workload_goes_to_the_protocols_clients_by_default() {
    let registry = Registry::builtin();
    let echo = registry.get("echo").unwrap();
    assert_eq!(
        echo.clients(4, &Params::defaults(&echo.params())),
        vec![NodeId(1), NodeId(2), NodeId(3)]
    );
    let twophase = registry.get("twophase").unwrap();
    assert_eq!(
        twophase.clients(4, &Params::defaults(&twophase.params())),
        vec![NodeId(0)]
    );
    // A scenario without targets: no operation reaches echo's server.
    let dir = tmp("clients");
    let trace = dir.join("t.trace");
    let o = dsim(&[
        "run",
        "scenarios/echo-lossy.toml",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, records, _) = dsim::trace::read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let inputs: Vec<NodeId> = records
        .iter()
        .filter_map(|r| match r.kind {
            dsim::trace::Kind::Input { node, .. } => Some(node),
            _ => None,
        })
        .collect();
    assert!(!inputs.is_empty());
    assert!(inputs.iter().all(|n| *n != NodeId(0)), "{inputs:?}");
}

#[test]
fn printed_command_lines_name_the_program_that_is_running() {
    // A user's binary is not `dsim`: the same code under another name.
    let dir = tmp("program-name");
    let mine = dir.join("mysim");
    std::fs::copy(env!("CARGO_BIN_EXE_dsim"), &mine).unwrap();
    let o = std::process::Command::new(&mine)
        .args(["run", "scenarios/echo-bug-no-dedup.toml", "--seed", "3"])
        .args(["--trace", dir.join("t.trace").to_str().unwrap()])
        .output()
        .unwrap();
    let out = text(&o);
    assert!(
        out.contains("reproduce  mysim run scenarios/echo-bug-no-dedup.toml --seed 3"),
        "{out}"
    );
    // And a replay against another scenario names that scenario.
    let o = dsim(&[
        "replay",
        dir.join("t.trace").to_str().unwrap(),
        "--schedule",
        "--scenario",
        "scenarios/echo-lossy.toml",
    ]);
    assert!(
        text(&o).contains("with scenarios/echo-lossy.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_timer_tag_is_shown_by_name() {
    let o = dsim(&["show", "traces/raft-bug-forget-vote-seed-78.min.trace"]);
    assert!(text(&o).contains("timer     t0 Election"), "{}", text(&o));
    // And a trace of format 2, whose tags were integers, still reads.
    let o = dsim(&["show", "tests/fixtures/format-2-twophase.trace"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("timer     t0 tag 9223372036854775808"),
        "{}",
        text(&o)
    );
    let o = dsim(&["check", "tests/fixtures/format-2-twophase.trace"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "it records a failure: {}",
        text(&o)
    );
}

/// Counts adds: each node adds what its clients add and tells the others;
/// a forgetful node acknowledges the second operation without counting it
/// (a broken twin).
#[derive(Clone, Default, Hash)]
struct Tally {
    count: u64,
    forgetful: bool,
}

impl Node for Tally {
    type Msg = u64;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: dsim::Input) {
        let process = u64::from(ctx.id().0);
        let one = dsim::history::Value::Int(1);
        ctx.invoke(process, "add", None, one.clone());
        if !(self.forgetful && input.id == 1) {
            self.count += 1;
            ctx.broadcast(&1);
        }
        ctx.complete(process, dsim::history::Phase::Ok, "add", None, one);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, n: u64) {
        self.count += n;
    }
}

/// Once calm, every node counts every add the clients were told was done:
/// a check of the nodes' states against the clients' history.
fn counts_every_add(v: &View<'_, Tally>) -> Result<(), String> {
    let history = v
        .history()
        .ok_or("the simulation does not show the history")?;
    let acknowledged = history
        .iter()
        .filter(|(_, _, op)| op.phase == dsim::history::Phase::Ok && op.f == "add")
        .count() as u64;
    match v.up().find(|(_, n)| n.count != acknowledged) {
        Some((id, n)) => Err(format!(
            "{id} counts {}, but {acknowledged} adds were acknowledged",
            n.count
        )),
        None => Ok(()),
    }
}

fn tallies(forgetful: bool, show: bool, config: SimConfig) -> Simulation<Tally> {
    let sim = Simulation::new(config, move |_| Tally {
        count: 0,
        forgetful,
    })
    .hashable()
    .cloneable()
    .eventually(
        "counts-every-add",
        "once calm, every node counts every acknowledged add",
        Duration::from_millis(100),
        counts_every_add,
    );
    match show {
        true => sim.history_in_view(),
        false => sim,
    }
}

#[test]
fn a_check_sees_the_clients_history_when_the_simulation_shows_it() {
    let mut config = SimConfig::new(3, 3);
    config.workload = Some(dsim::config::Workload {
        count: 20,
        start: Duration::ZERO,
        interval: Latency::Constant {
            latency: Duration::from_millis(3),
        },
        targets: Vec::new(),
        value_range: 1000,
        skip: Vec::new(),
    });
    let sound = tallies(false, true, config.clone()).run().unwrap();
    assert_eq!(sound.pass(), Ok(()));
    assert!(matches!(
        status(&sound, "counts-every-add"),
        CheckStatus::Held { .. }
    ));
    let twin = tallies(true, true, config.clone()).run().unwrap();
    let failure = twin.failure.expect("the forgetful twin is caught");
    assert!(
        failure.message.contains("but 20 adds were acknowledged"),
        "{}",
        failure.message
    );
    // Not shown, the history is `None`: the check cannot pass in silence.
    let hidden = tallies(false, false, config.clone()).run().unwrap();
    assert_eq!(
        hidden.failure.map(|f| f.message).as_deref(),
        Some("the simulation does not show the history")
    );
    // A search sees it too: the twin is found, the sound counter passes.
    let mut explored = config;
    explored.workload.as_mut().unwrap().count = 3;
    explored.strategy = dsim::Strategy::Explore {
        path: Vec::new(),
        budgets: dsim::Budgets::default(),
    };
    let options = dsim::explore::Options::default();
    let seen = dsim::explore::search(&tallies(false, true, explored.clone()), &options).unwrap();
    assert!(
        seen.complete && seen.violation.is_none() && seen.pass().is_ok(),
        "{seen:?}"
    );
    let found = dsim::explore::search(&tallies(true, true, explored), &options).unwrap();
    let v = found.violation.expect("the forgetful twin is found");
    assert!(
        v.check == "counts-every-add" && v.message.contains("but 3 adds were acknowledged"),
        "{v:?}"
    );
}
