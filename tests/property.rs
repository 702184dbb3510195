//! Property testing with dsim's strategies and harness: a correct protocol
//! passes generated cases; a broken twin fails and shrinks to a small case.

use dsim::protocols::{ParamValue, Params, Protocol, Registry};
use dsim::testing::{cases, check, check_protocol, Bounds, Case};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestError, TestRunner};

fn params(protocol: &dyn Protocol, given: &[(&str, ParamValue)]) -> Params {
    let given = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    Params::resolve(&protocol.params(), &given).unwrap()
}

/// A runner with a fixed seed, so the test itself is deterministic.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        proptest::test_runner::TestRng::from_seed(
            proptest::test_runner::RngAlgorithm::ChaCha,
            &[7; 32],
        ),
    )
}

#[test]
fn correct_two_phase_commit_holds_on_generated_networks_and_fault_plans() {
    let registry = Registry::builtin();
    let tpc = registry.get("twophase").unwrap();
    let p = params(tpc, &[]);
    let result = runner(64).run(&cases(Bounds::default()), |case| {
        check_protocol(&case, tpc, &p)
    });
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_broken_two_phase_commit_fails_and_shrinks_to_a_small_case() {
    let registry = Registry::builtin();
    let tpc = registry.get("twophase").unwrap();
    let p = params(tpc, &[("commit_on_timeout", ParamValue::Bool(true))]);
    let result = runner(256).run(&cases(Bounds::default()), |case| {
        check_protocol(&case, tpc, &p)
    });
    let (message, minimal): (String, Case) = match result {
        Err(TestError::Fail(reason, case)) => (reason.to_string(), case),
        other => panic!("the broken twin was not caught: {other:?}"),
    };
    eprintln!("minimal failing case: {minimal:?}");
    // Shrinking simplified the case: few faults, few operations.
    assert!(
        minimal.faults.len() <= 2,
        "shrunk case still has {} faults: {minimal:?}",
        minimal.faults.len()
    );
    assert!(
        minimal.operations <= 10,
        "shrunk case still has {} operations: {minimal:?}",
        minimal.operations
    );
    assert!(
        message.contains("commit-needs-all-votes") || message.contains("atomicity"),
        "{message}"
    );
    assert!(
        message.contains("reproduce: dsim::testing::check("),
        "{message}"
    );
    // The message's trace exists and records the failure.
    let path = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("trace: "))
        .unwrap();
    let (_, records, _) = dsim::trace::read_all(&std::fs::read(path).unwrap(), None).unwrap();
    assert!(records
        .iter()
        .any(|r| matches!(r.kind, dsim::trace::Kind::CheckFailed { .. })));
}

mod user_protocol {
    //! How a user writes one property test for their own protocol.
    use super::*;
    use dsim::{Context, Node, NodeId, Simulation};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    struct Gossip(u64);

    /// Every node forwards the largest value it has heard to its next peer,
    /// once per new value.
    struct Max {
        best: u64,
    }

    impl Node for Max {
        type Msg = Gossip;
        fn on_start(&mut self, ctx: &mut Context<'_, Gossip>) {
            self.best = u64::from(ctx.id().0) * 10;
            let next = NodeId((ctx.id().0 + 1) % ctx.node_count());
            ctx.send(next, &Gossip(self.best));
        }
        fn on_message(&mut self, ctx: &mut Context<'_, Gossip>, _from: NodeId, Gossip(v): Gossip) {
            if v > self.best {
                self.best = v;
                let next = NodeId((ctx.id().0 + 1) % ctx.node_count());
                ctx.send(next, &Gossip(v));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn no_node_ever_holds_a_value_nobody_started_with(case in cases(Bounds::default())) {
            check(&case, |config| {
                let nodes = config.nodes;
                Simulation::new(config, |_| Max { best: 0 }).always("no invention", move |v| {
                    match v.up().find(|(_, n)| n.best % 10 != 0 || n.best >= u64::from(nodes) * 10) {
                        Some((id, n)) => Err(format!("{id} holds {}", n.best)),
                        None => Ok(()),
                    }
                })
            })?;
        }
    }
}
