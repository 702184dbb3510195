//! The check `answered`: a protocol that stalls answers nothing, and a
//! history of nothing answered is linearizable; `answered` is the check
//! that fails such a run, from the library, a scenario and a search.

use crate::common;

use common::{dsim, text, tmp};
use dsim::check::linearizable::Register;
use dsim::history::{Phase, Value};
use dsim::scheduler::CheckStatus;
use dsim::{
    Context, Duration, Fault, FaultAction, Latency, Node, NodeId, SimConfig, Simulation, TimerId,
};
use serde::{Deserialize, Serialize};

/// Node 0 writes 1 through node 1, which answers only if `answers`;
/// node 0 completes the write when the answer comes.
#[derive(Clone, Default)]
struct Relay {
    answers: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum Msg {
    Write(i64),
    Done,
}

impl Node for Relay {
    type Msg = Msg;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        if ctx.id() == NodeId(0) && ctx.disk().read::<bool>("began").is_none() {
            ctx.disk().write("began", &true);
            ctx.disk().sync();
            ctx.invoke(0, "write", None, Value::Int(1));
            ctx.send(NodeId(1), &Msg::Write(1));
        }
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Write(_) if self.answers => ctx.send(from, &Msg::Done),
            Msg::Write(_) => {}
            Msg::Done => ctx.complete(0, Phase::Ok, "write", None, Value::Nil),
        }
    }
    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: TimerId, _: ()) {}
}

/// `crash`: node 0 crashes at 3 ms and restarts at 4 ms; `stop`: node 1
/// crashes at 1 ms for good.
fn relay(answers: bool, crash: bool) -> Simulation<Relay> {
    relay_with(answers, crash, false)
}

fn relay_with(answers: bool, crash: bool, stop: bool) -> Simulation<Relay> {
    let mut config = SimConfig::new(1, 2);
    config.network.default.latency = Latency::Constant {
        latency: Duration::from_millis(5),
    };
    if crash {
        for (at, action) in [
            (3, FaultAction::Crash { node: NodeId(0) }),
            (4, FaultAction::Restart { node: NodeId(0) }),
        ] {
            config.faults.push(Fault {
                after: None,
                at: Duration::from_millis(at),
                action,
            });
        }
    }
    if stop {
        config.faults.push(Fault {
            after: None,
            at: Duration::from_millis(1),
            action: FaultAction::Crash { node: NodeId(1) },
        });
    }
    config.limits.time = Duration::from_secs(2);
    Simulation::new(config, move |_| Relay { answers }).linearizable(Register::new(Value::Nil))
}

fn status(outcome: &dsim::Outcome, name: &str) -> CheckStatus {
    let check = outcome.checks.iter().find(|c| c.name == name);
    check
        .unwrap_or_else(|| panic!("no check {name}: {:?}", outcome.checks))
        .status
        .clone()
}

#[test]
fn a_write_never_answered_is_linearizable_and_fails_answered_naming_it() {
    // Linearizability alone passes the stalled run: an open write may or
    // may not have happened.
    let alone = relay(false, false).run().unwrap();
    assert!(alone.failure.is_none(), "{:?}", alone.failure);
    assert_eq!(
        status(&alone, "linearizable"),
        CheckStatus::Held { evaluations: 1 }
    );

    let outcome = relay(false, false)
        .answered(Duration::from_millis(100))
        .run()
        .unwrap();
    let failure = outcome
        .failure
        .expect("an operation never answered fails `answered`");
    assert_eq!(failure.check, "answered");
    assert!(
        failure
            .message
            .contains("1 operation never answered: p0 write 1 (invoked on n0 at #"),
        "{}",
        failure.message
    );
}

#[test]
fn an_answer_or_a_crash_that_cut_the_operation_off_satisfies_answered() {
    let answered = relay(true, false)
        .answered(Duration::from_millis(100))
        .run()
        .unwrap();
    assert!(answered.failure.is_none(), "{:?}", answered.failure);
    assert_eq!(
        status(&answered, "answered"),
        CheckStatus::Held { evaluations: 1 }
    );

    // Node 0 crashes with its write open: the kernel records `info` for it,
    // which is an answer (of unknown outcome), and the restarted node does
    // not write again.
    let cut = relay(false, true)
        .answered(Duration::from_millis(100))
        .run()
        .unwrap();
    assert!(cut.failure.is_none(), "{:?}", cut.failure);
    assert_eq!(
        status(&cut, "answered"),
        CheckStatus::Held { evaluations: 1 }
    );
}

#[test]
fn a_node_down_for_good_does_not_put_answered_off() {
    // Node 1, which would answer, is down from 1 ms to the end: the write
    // sent to it is lost. A system that tolerates a node down answers
    // without it, so the check is judged 100 ms after the crash (not left
    // NOT RUN for want of calm), and fails.
    let outcome = relay_with(true, false, true)
        .answered(Duration::from_millis(100))
        .run()
        .unwrap();
    let failure = outcome.failure.expect("judged with node 1 left down");
    assert_eq!(failure.check, "answered");
    assert!(
        failure.message.contains("p0 write 1"),
        "{}",
        failure.message
    );
}

/// ABD over a partition, as bundled: this ABD does not retransmit, so an
/// operation whose messages went to the cut-off server never completes.
fn abd_with(dir: &std::path::Path, extra: &str, name: &str) -> std::path::PathBuf {
    let source = std::fs::read_to_string("scenarios/abd-quorums.toml").unwrap();
    let source = source.replace(
        "linearizable = \"register\"",
        &format!("linearizable = \"register\"\n{extra}"),
    );
    assert!(source.contains(extra));
    let path = dir.join(name);
    std::fs::write(&path, source).unwrap();
    path
}

#[test]
fn a_scenario_run_says_how_many_operations_were_left_open_and_answered_fails_it() {
    let dir = tmp("scenario-runs");
    let plain = abd_with(&dir, "", "plain.toml");
    let out = dsim(&[
        "run",
        plain.to_str().unwrap(),
        "--trace",
        dir.join("plain.trace").to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("checks     seq-monotonic ok; linearizable ok"),
        "{t}"
    );
    assert!(
        t.contains(
            "history    9 client operations invoked, 5 answered (ok, fail or info); 4 still open at the end (`[check] answered = \"1s\"`"
        ),
        "{t}"
    );

    let checked = abd_with(&dir, "answered = \"1s\"", "answered-1s.toml");
    let trace = dir.join("answered-1s.trace");
    let out = dsim(&[
        "run",
        checked.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("answered FAILED"), "{t}");
    assert!(
        t.contains("4 operations never answered: p5 write 3 (invoked on n5 at #10); p4 write 6"),
        "{t}"
    );
    assert!(t.contains("4 still open at the end\n"), "{t}");
    // The failing trace replays as recorded, and `--check answered` is a name.
    let out = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("record for record the same"),
        "{}",
        text(&out)
    );
    let again = dir.join("again.trace");
    let out = dsim(&[
        "run",
        checked.to_str().unwrap(),
        "--check",
        "answered",
        "--trace",
        again.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("checks     answered FAILED"),
        "{}",
        text(&out)
    );
    // Without the key in the scenario the name is unknown.
    let out = dsim(&["run", plain.to_str().unwrap(), "--check", "answered"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn answered_as_a_range_or_not_a_duration_is_refused_at_its_line() {
    let dir = tmp("refused");
    for (value, says) in [
        ("[\"1s\", \"2s\"]", "check.answered: one duration"),
        ("5", "a duration needs a unit"),
    ] {
        let path = abd_with(&dir, &format!("answered = {value}"), "answered-bad.toml");
        let out = dsim(&["run", path.to_str().unwrap()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(t.contains("answered-bad.toml:"), "{t}");
        assert!(t.contains(says), "{t}");
        assert!(!t.contains("panicked"), "{t}");
    }
}

#[test]
fn a_search_finds_a_request_a_busy_server_ignored_for_good() {
    // stateright's ABD: a busy server ignores a request, and with
    // --keep-ignored the ignored message stays undelivered; its client
    // waits for ever.
    let source = std::fs::read_to_string("scenarios/explore/abd-stateright.toml").unwrap();
    let dir = tmp("search");
    let path = dir.join("abd-stateright.toml");
    std::fs::write(&path, format!("{source}answered = \"1s\"\n")).unwrap();
    let out_dir = dir.join("out");
    let out = dsim(&[
        "explore",
        path.to_str().unwrap(),
        "--keep-ignored",
        "--depth",
        "100",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("VIOLATION  `answered` after"), "{t}");
    assert!(t.contains("1 operation never answered: p"), "{t}");
}

#[test]
fn a_sweep_says_how_many_passing_seeds_left_operations_open() {
    let dir = tmp("sweep");
    // Seeds 0..20 of ABD with `extra` in its [check] section.
    let sweep = |extra: &str, name: &str| {
        let path = abd_with(&dir, extra, &format!("{name}.toml"));
        let out = dsim(&[
            "sweep",
            path.to_str().unwrap(),
            "--seeds",
            "0..20",
            "--out",
            dir.join(name).to_str().unwrap(),
        ]);
        (out.status.code(), text(&out))
    };
    let (code, t) = sweep("", "plain");
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("20 passed, 0 failed"), "{t}");
    assert!(
        t.contains("left open: 20 of the 20 passing seeds run now ended with client operations never answered (seed 0: 3 of 10)"),
        "{t}"
    );
    // With the check, those seeds fail it, and the line has nothing to add.
    let (code, t) = sweep("answered = \"1s\"", "checked");
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("answered: 20 seeds: 0, 1, 2"), "{t}");
    assert!(!t.contains("left open"), "{t}");
}

/// Clients (nodes 1..) write through node 0, which acknowledges; nothing
/// is sent again, so a lost request or acknowledgement leaves its write
/// open for good. A duplicated acknowledgement completes nothing twice.
#[derive(Clone, Default)]
struct Acked {
    open: std::collections::BTreeSet<u64>,
}

impl Node for Acked {
    type Msg = u64;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: dsim::Input) {
        self.open.insert(input.id);
        ctx.invoke(input.id, "write", None, Value::Int(input.id as i64));
        ctx.send(NodeId(0), &input.id);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, op: u64) {
        if ctx.id() == NodeId(0) {
            ctx.send(from, &op);
        } else if self.open.remove(&op) {
            ctx.complete(op, Phase::Ok, "write", None, Value::Nil);
        }
    }
}

#[test]
fn a_property_test_with_answered_catches_a_write_lost_for_good_and_its_scenario_fails_alike() {
    use dsim::history::{HistoryChecks, Linearizability};
    use dsim::protocols::{Params, Registry, RunOptions, Spec};
    use dsim::testing::{cases, check_protocol_with, Bounds};
    use proptest::test_runner::{Config, RngAlgorithm, TestError, TestRng, TestRunner};
    let runner = |cases: u32| {
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
    };
    let mut registry = Registry::builtin();
    registry.add(
        Spec::new("acked", "writes acknowledged once", |config, _| {
            Ok(Simulation::new(config, |_| Acked::default()))
        })
        .min_nodes(2)
        .clients(|nodes, _| (1..nodes).map(NodeId).collect()),
    );
    let acked = registry.get("acked").unwrap();
    let p = Params::resolve(&acked.params(), &Default::default()).unwrap();
    let lin = Linearizability {
        model: "register".into(),
        initial: Value::Nil,
    };
    let checks = HistoryChecks::from(lin.clone()).answered(Duration::from_secs(1));

    // Over links that lose messages, linearizability alone holds in every
    // case (an open write may not have happened) ...
    let lossy = Bounds::default().no_crashes().no_partitions();
    let alone = runner(64).run(&cases(lossy.clone()), |case| {
        check_protocol_with(&case, acked, &p, Some(lin.clone()))
    });
    assert!(alone.is_ok(), "{alone:?}");
    // ... and `answered` catches a write lost for good.
    let (why, case) = match runner(64).run(&cases(lossy), |case| {
        check_protocol_with(&case, acked, &p, checks.clone())
    }) {
        Err(TestError::Fail(why, case)) => (why.to_string(), case),
        other => panic!("a lost write was not caught: {other:?}"),
    };
    assert!(
        why.contains("`answered`") && why.contains("never answered"),
        "{why}"
    );
    assert!(why.contains("check_protocol_with(&"), "{why}");
    // The case as a scenario asks for the same checks, and fails alike.
    let text = case.to_scenario_with("acked", &p, checks.clone());
    assert!(
        text.contains("[check]\nanswered = \"1s\"\nlinearizable = \"register\"\n"),
        "{text}"
    );
    let scenario = dsim::scenario::Scenario::parse("case.toml", &text, &registry)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let resolved = scenario.resolve(case.seed).unwrap();
    assert_eq!(resolved.answered, Some(Duration::from_secs(1)));
    let options = RunOptions {
        linearizable: resolved.linearizable.clone(),
        answered: resolved.answered,
        ..RunOptions::default()
    };
    let outcome = acked
        .run(resolved.config, &resolved.params, options)
        .unwrap();
    assert_eq!(
        outcome.failure.map(|f| f.check).as_deref(),
        Some("answered"),
        "{text}"
    );

    // Over reliable links every write is answered, in every case.
    let reliable = Bounds::default().no_crashes().no_partitions().reliable();
    let held = runner(32).run(&cases(reliable), |case| {
        check_protocol_with(&case, acked, &p, checks.clone())
    });
    assert!(held.is_ok(), "{held:?}");
}

#[test]
fn a_protocol_with_its_own_check_named_answered_is_told_at_the_key() {
    use dsim::protocols::{Registry, Spec};
    let mut registry = Registry::builtin();
    registry.add(
        Spec::new("own", "checks its answers itself", |config, _| {
            Ok(Simulation::new(config, |_| Acked::default())
                .eventually("answered", "its own", Duration::from_secs(1), |_| Ok(()))
                .always("fine", "always", |_| Ok(())))
        })
        .min_nodes(2),
    );
    let text = "protocol = \"own\"\nnodes = 2\n\n[check]\nanswered = \"1s\"\n";
    let Err(e) = dsim::scenario::Scenario::parse("own.toml", text, &registry) else {
        panic!("two checks named `answered` were let through");
    };
    let e = e.to_string();
    assert!(
        e.starts_with(
            "own.toml:5:12: protocol `own` registers an invariant of its own named `answered`"
        ),
        "{e}"
    );
    // Without the key its own check stands, and a list that leaves its
    // own out leaves it out: only the section's keys are kept beside a list.
    let plain = "protocol = \"own\"\nnodes = 2\n";
    assert!(dsim::scenario::Scenario::parse("own.toml", plain, &registry).is_ok());
    let listed = format!("{plain}\n[check]\ninvariants = [\"fine\"]\n");
    let scenario = dsim::scenario::Scenario::parse("own.toml", &listed, &registry)
        .unwrap_or_else(|e| panic!("{e}"));
    let resolved = scenario.resolve(1).unwrap();
    assert_eq!(resolved.invariants, Some(vec!["fine".to_string()]));
}

#[test]
fn answered_over_a_run_that_recorded_no_operation_is_not_run_never_held() {
    // Raft's nodes take the workload's inputs and record no operation:
    // nothing was invoked, so nothing was judged answered.
    let dir = tmp("no-operations");
    let source = std::fs::read_to_string("scenarios/raft-partitions.toml").unwrap();
    assert!(!source.contains("[check]"));
    let path = dir.join("raft.toml");
    std::fs::write(&path, format!("{source}\n[check]\nanswered = \"1s\"\n")).unwrap();
    let trace = dir.join("raft.trace");
    let out = dsim(&[
        "run",
        path.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("answered NOT RUN (the run recorded no client operation"),
        "{t}"
    );
    assert!(
        t.contains("check `answered` did not run: 120 workload inputs reached nodes"),
        "{t}"
    );
    // A search says the same, not that no state came to judge it.
    let out = dsim(&[
        "explore",
        path.to_str().unwrap(),
        "--depth",
        "3",
        "--out",
        dir.join("explored").to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains(
            "NOT RUN    answered: no state the search reached had recorded a client operation"
        ),
        "{t}"
    );
    assert!(
        t.contains("check `answered` ran in none of the states explored"),
        "{t}"
    );
}

#[test]
fn a_list_of_the_protocols_invariants_leaves_the_history_checks_of_the_section_in() {
    // `invariants` names the protocol's checks; `linearizable` and
    // `answered`, set by keys of their own beside it, were dropped in
    // silence when it did not name them too.
    let dir = tmp("listed");
    let path = abd_with(
        &dir,
        "invariants = [\"seq-monotonic\"]\nanswered = \"1s\"",
        "listed.toml",
    );
    let run = |extra: &[&str], name: &str| {
        let trace = dir.join(name);
        let mut args = vec![
            "run",
            path.to_str().unwrap(),
            "--trace",
            trace.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = dsim(&args);
        (out.status.code(), text(&out))
    };
    let (code, t) = run(&[], "listed.trace");
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("checks     seq-monotonic held until the failure; linearizable held until the failure; answered FAILED"),
        "{t}"
    );
    // `--check` keeps only what it names, history checks included.
    let (code, t) = run(&["--check", "seq-monotonic"], "only.trace");
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("checks     seq-monotonic ok\n"), "{t}");
    let (code, t) = run(&["--check", "linearizable"], "lin.trace");
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("checks     linearizable ok\n"), "{t}");
}

#[test]
fn a_run_and_a_sweep_say_when_almost_no_operation_completed_ok() {
    // Answered, but as `info` (timed out) or `fail`: a history of unknown
    // outcomes is linearizable whatever the store did. A key-value store
    // losing four messages in five completes none of its operations `ok`;
    // the run and the sweep pass and say the check had little to judge.
    let dir = tmp("few-ok");
    let source = std::fs::read_to_string("scenarios/kv-partitions.toml").unwrap();
    assert!(source.contains("loss = 0.02"));
    let lossy = dir.join("kv-lossy.toml");
    std::fs::write(&lossy, source.replace("loss = 0.02", "loss = 0.8")).unwrap();
    let out = dsim(&["run", lossy.to_str().unwrap(), "--seed", "1"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("answered (ok, fail or info); only 0 completed `ok`, the others `fail`, `info` (outcome unknown) or unanswered: a history check had little to judge"),
        "{t}"
    );
    let out = dsim(&[
        "sweep",
        lossy.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--out",
        dir.join("lossy").to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("little judged: in 4 of the 4 passing seeds run now, under one in ten client operations completed `ok` (seed 0: 0 of "),
        "{t}"
    );
    // The store as bundled: most operations complete `ok`, nothing said.
    let out = dsim(&[
        "sweep",
        "scenarios/kv-partitions.toml",
        "--seeds",
        "0..4",
        "--out",
        dir.join("plain").to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        !t.contains("little judged") && !t.contains("little to judge"),
        "{t}"
    );
}
