//! A run that fails still judges its other checks: the checks of its end
//! when the failure came there, the clients' history so far when it came
//! before; each is reported held or failed too, never silently not run.
//! The trace is the same either way: it ends at the first failure.

use crate::common;

use common::{dsim, text, tmp};
use dsim::check::linearizable::Register;
use dsim::history::{Phase, Value};
use dsim::scheduler::CheckStatus;
use dsim::{Context, Duration, Invariant, Node, NodeId, SimConfig, Simulation, TimerId};

/// One node, one step a millisecond: writes 1, reads back `read` (1 is
/// right, anything else a stale or made-up value), then, if `leave_open`,
/// begins a write it never answers. From step `break_at` on it reports
/// itself broken, which the check `intact` fails on.
#[derive(Clone)]
struct Steps {
    read: i64,
    leave_open: bool,
    break_at: Option<u32>,
    broken: bool,
}

impl Node for Steps {
    type Msg = ();
    type Timer = u32;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) {
            ctx.set_timer(Duration::from_millis(1), 0);
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, step: u32) {
        if self.break_at == Some(step) {
            self.broken = true;
        }
        match step {
            0 => {
                ctx.invoke(0, "write", None, Value::Int(1));
                ctx.complete(0, Phase::Ok, "write", None, Value::Nil);
            }
            1 => {
                ctx.invoke(0, "read", None, Value::Nil);
                ctx.complete(0, Phase::Ok, "read", None, Value::Int(self.read));
            }
            2 if self.leave_open => ctx.invoke(1, "write", None, Value::Int(3)),
            _ => {}
        }
        if step < 3 {
            ctx.set_timer(Duration::from_millis(1), step + 1);
        }
    }
}

fn steps(read: i64, leave_open: bool, break_at: Option<u32>) -> Simulation<Steps> {
    let mut config = SimConfig::new(1, 1);
    config.limits.time = Duration::from_secs(1);
    Simulation::new(config, move |_| Steps {
        read,
        leave_open,
        break_at,
        broken: false,
    })
    .invariant(Invariant::always(
        "intact",
        "the node does not report itself broken",
        |view: &dsim::View<'_, Steps>| match view.node(NodeId(0)).is_some_and(|n| n.broken) {
            true => Err("the node reports itself broken".into()),
            false => Ok(()),
        },
    ))
    .linearizable(Register::new(Value::Int(0)))
    .answered(Duration::from_millis(10))
}

fn status(outcome: &dsim::Outcome, name: &str) -> CheckStatus {
    let check = outcome.checks.iter().find(|c| c.name == name);
    check
        .unwrap_or_else(|| panic!("no check {name}: {:?}", outcome.checks))
        .status
        .clone()
}

fn trace_of(sim: &Simulation<Steps>) -> (dsim::Outcome, Vec<u8>) {
    let mut bytes = Vec::new();
    let (outcome, _) = sim.run_traced(&mut bytes, None).unwrap();
    (outcome, bytes)
}

#[test]
fn a_run_that_fails_answered_at_its_end_judges_its_history_too() {
    // A write left open fails `answered`; the history is judged all the
    // same: linearizable when the read was right...
    let right = steps(1, true, None).run().unwrap();
    assert_eq!(right.failure.as_ref().unwrap().check, "answered");
    assert_eq!(
        status(&right, "linearizable"),
        CheckStatus::Held { evaluations: 1 }
    );
    assert!(matches!(status(&right, "intact"), CheckStatus::Held { .. }));

    // ...and failed too, with why, when the read made its value up.
    let wrong = steps(7, true, None).run().unwrap();
    assert_eq!(wrong.failure.as_ref().unwrap().check, "answered");
    match status(&wrong, "linearizable") {
        CheckStatus::AlsoFailed { message } => assert!(message.contains('7'), "{message}"),
        other => panic!("linearizable was not judged past the failure: {other:?}"),
    }
    let line = wrong
        .checks
        .iter()
        .find(|c| c.name == "linearizable")
        .unwrap()
        .verdict(true);
    assert_eq!(line, "FAILED TOO (judged past the failure)");
    // Alone, the made-up read fails the history as the run's failure.
    let alone = steps(7, false, None).run().unwrap();
    assert_eq!(alone.failure.as_ref().unwrap().check, "linearizable");
    assert!(matches!(
        status(&alone, "answered"),
        CheckStatus::Held { .. }
    ));
}

#[test]
fn a_run_that_fails_before_its_end_judges_the_history_so_far() {
    // Broken at step 2, after the made-up read: the history so far is
    // not linearizable, and says so; `answered` was not due.
    let after = steps(7, false, Some(2)).run().unwrap();
    assert_eq!(after.failure.as_ref().unwrap().check, "intact");
    assert!(
        matches!(
            status(&after, "linearizable"),
            CheckStatus::AlsoFailed { .. }
        ),
        "{:?}",
        after.checks
    );
    match status(&after, "answered") {
        CheckStatus::NotRun { reason } => {
            assert!(reason.contains("failed before it was due"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // Broken at step 1, as the read is answered: the same. Broken at
    // step 0, with only the write: its history so far held.
    let at = steps(7, false, Some(1)).run().unwrap();
    assert!(matches!(
        status(&at, "linearizable"),
        CheckStatus::AlsoFailed { .. }
    ));
    let before = steps(7, false, Some(0)).run().unwrap();
    assert_eq!(before.failure.as_ref().unwrap().check, "intact");
    assert_eq!(
        status(&before, "linearizable"),
        CheckStatus::Held { evaluations: 1 }
    );
    let line = before
        .checks
        .iter()
        .find(|c| c.name == "linearizable")
        .unwrap()
        .verdict(true);
    assert_eq!(line, "held until the failure");
}

#[test]
fn judging_past_the_failure_leaves_the_trace_as_it_was_and_can_be_turned_off() {
    let judged = steps(7, true, None);
    let mut first_only = steps(7, true, None);
    first_only.first_failure_only();
    let (a, trace_a) = trace_of(&judged);
    let (b, trace_b) = trace_of(&first_only);
    assert_eq!(trace_a, trace_b, "the trace ends at the first failure");
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(
        a.failure.as_ref().unwrap().line(),
        b.failure.as_ref().unwrap().line()
    );
    assert!(matches!(
        status(&a, "linearizable"),
        CheckStatus::AlsoFailed { .. }
    ));
    match status(&b, "linearizable") {
        CheckStatus::NotRun { reason } => {
            assert!(reason.contains("failed before it was due"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sweep_and_a_run_name_the_checks_a_failing_seed_failed_too() {
    // The stale-reads twin with `answered` asked for: seed 68 fails
    // `answered` first, and its history is not linearizable either.
    let dir = tmp("sweep");
    let scenario = dir.join("kv.toml");
    let original = std::fs::read_to_string("scenarios/kv-bug-stale-reads.toml").unwrap();
    let edited = original.replace(
        "linearizable = \"kv\"",
        "linearizable = \"kv\"\nanswered = \"300ms\"",
    );
    assert_ne!(edited, original);
    std::fs::write(&scenario, edited).unwrap();
    let out = dir.join("out");
    let sweep = dsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--seeds",
        "60..70",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(sweep.status.code(), Some(1), "{}", text(&sweep));
    assert!(
        text(&sweep).contains(
            "linearizable: failed too, judged past another check's failure, in 1 seed: 68"
        ),
        "{}",
        text(&sweep)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["also_failed_by_check"]["linearizable"], 1,
        "{summary}"
    );
    let seed = summary["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["seed"] == 68)
        .unwrap();
    assert_eq!(seed["failed_check"], "answered", "{seed}");
    let why = seed["also_failed"]["linearizable"].as_str().unwrap();
    assert!(why.contains("cannot be linearized together"), "{why}");

    let trace = dir.join("68.trace");
    let run = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "68",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let said = text(&run);
    assert!(
        said.contains("linearizable FAILED TOO (judged past the failure)")
            && said.contains("also       check `linearizable` failed too, judged past that failure: not linearizable"),
        "{said}"
    );
    // The trace ends at the first failure, and replays as recorded.
    let replay = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
    assert!(
        text(&replay).contains("record for record the same"),
        "{}",
        text(&replay)
    );
}

#[test]
fn a_property_tests_failure_names_the_checks_that_failed_too() {
    use dsim::history::{HistoryChecks, Linearizability};
    use dsim::protocols::{Params, Protocol, Spec};
    use dsim::testing::{cases, check_protocol_with, Bounds};
    use proptest::test_runner::{Config, TestError, TestRunner};

    // Node 0 reads a value never written and leaves a write open: the
    // case fails `answered` at its end, and its history fails too.
    let spec = Spec::new(
        "steps",
        "a made-up read and a write never answered",
        |config, _| {
            Ok(Simulation::new(config, |_| Steps {
                read: 7,
                leave_open: true,
                break_at: None,
                broken: false,
            }))
        },
    );
    let params = Params::resolve(&spec.params(), &Default::default()).unwrap();
    let checks = HistoryChecks::from(Linearizability {
        model: "register".into(),
        initial: Value::Int(0),
    })
    .answered(Duration::from_millis(10));
    let bounds = Bounds {
        nodes: 1..=2,
        ..Bounds::default()
    }
    .no_operations()
    .no_crashes()
    .reliable();
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 4,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[7; 32],
        ),
    );
    match runner.run(&cases(bounds), |case| {
        check_protocol_with(&case, &spec, &params, checks.clone())
    }) {
        Err(TestError::Fail(why, _)) => {
            let why = why.to_string();
            assert!(why.contains("check `answered` failed"), "{why}");
            assert!(
                why.contains("check `linearizable` failed too, judged past that failure"),
                "{why}"
            );
        }
        other => panic!("the case did not fail: {other:?}"),
    }
}

/// A node that does nothing: no client operation is ever recorded.
struct Idle;

impl Node for Idle {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: TimerId, _: ()) {}
}

#[test]
fn a_history_check_past_a_failure_at_the_end_over_no_operation_says_so() {
    let outcome = Simulation::new(SimConfig::new(1, 1), |_| Idle)
        .invariant(Invariant::at_end(
            "never",
            "fails at every run's end",
            |_: &dsim::View<'_, Idle>| Err("it never holds".into()),
        ))
        .linearizable(Register::new(Value::Int(0)))
        .run()
        .unwrap();
    assert_eq!(outcome.failure.as_ref().unwrap().check, "never");
    match status(&outcome, "linearizable") {
        CheckStatus::NotRun { reason } => {
            assert!(reason.contains("recorded no client operation"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}
