//! Faults aimed at a role: a partition that isolates whoever leads when
//! it comes (`isolate = "leader"`, `PlannedFault::Isolate`), read from
//! each node's `Node::role`.

use crate::common;

use dsim::history::{Linearizability, Value};
use dsim::protocols::{ParamValue, Params, Protocol, Registry};
use dsim::testing::{cases, check_protocol_with, Bounds, FaultKinds, PlannedFault};
use dsim::trace::{read_all, Kind, Record};
use dsim::{
    Context, Duration, Fault, FaultAction, Instant, LinkConfig, LossCause, Node, NodeId,
    PartitionSpec, SimConfig, Simulation, TimerId,
};
use std::collections::BTreeMap;

/// Servers `0..servers` take turns to lead, one tick (10 ms) each: after
/// its `k`-th tick, server `k % servers` leads and the others follow; before
/// its first tick a server plays no part yet. Nodes from `servers` on are
/// clients, which play none. Every node sends every other a note each tick.
struct Baton {
    id: u32,
    servers: u32,
    ticks: u32,
}

impl Node for Baton {
    type Msg = u32;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::from_millis(10), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: u32) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, _: ()) {
        self.ticks += 1;
        ctx.broadcast(&self.ticks);
        if self.ticks < 12 {
            ctx.set_timer(Duration::from_millis(10), ());
        }
    }
    fn role(&self) -> Option<&'static str> {
        match (self.id < self.servers, self.ticks) {
            (false, _) | (true, 0) => None,
            (true, k) if k % self.servers == self.id => Some("leader"),
            (true, _) => Some("follower"),
        }
    }
}

/// `nodes` nodes, `servers` of them servers; links of exactly 1 ms; the
/// leader isolated at `at` ms, healed at 75 ms.
fn baton(nodes: u32, servers: u32, at: u64) -> Simulation<Baton> {
    let mut config = SimConfig::new(3, nodes);
    config.network.default = LinkConfig::reliable(Duration::from_millis(1));
    config.faults = vec![
        Fault {
            after: None,
            at: Duration::from_millis(at),
            action: FaultAction::Partition {
                id: 4,
                spec: PartitionSpec::Isolate {
                    role: "leader".into(),
                },
            },
        },
        Fault {
            after: None,
            at: Duration::from_millis(75),
            action: FaultAction::Heal { id: Some(4) },
        },
    ];
    Simulation::new(config, move |id| Baton {
        id: id.0,
        servers,
        ticks: 0,
    })
}

/// The run's records, and each message's sender, receiver, send time and
/// fate (`None`: delivered).
#[allow(clippy::type_complexity)]
fn run(
    sim: &Simulation<Baton>,
) -> (
    dsim::scheduler::Outcome,
    Vec<Record<'static>>,
    Vec<(NodeId, NodeId, Instant, Option<LossCause>)>,
) {
    let (outcome, bytes) = sim.run_traced(Vec::new(), None).unwrap();
    let records = read_all(&bytes, None).unwrap().1;
    let mut sends = BTreeMap::new();
    let mut fates = BTreeMap::new();
    for r in &records {
        match &r.kind {
            Kind::Send { node, to, msg, .. } => {
                sends.insert(*msg, (*node, *to, r.time));
            }
            Kind::Deliver { msg, .. } => {
                fates.insert(*msg, None);
            }
            Kind::Lost { msg, cause, .. } => {
                fates.insert(*msg, Some(*cause));
            }
            _ => {}
        }
    }
    let messages = sends
        .into_iter()
        .map(|(m, (from, to, at))| (from, to, at, fates.get(&m).copied().flatten()))
        .collect();
    (outcome, records, messages)
}

fn partitions(records: &[Record<'static>]) -> Vec<(Instant, u32, PartitionSpec)> {
    records
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Partition { id, spec } => Some((r.time, *id, spec.clone())),
            _ => None,
        })
        .collect()
}

fn ms(n: u64) -> Instant {
    Instant::ZERO.after(Duration::from_millis(n))
}

#[test]
fn an_isolation_cuts_off_whoever_leads_when_it_comes_and_holds_while_the_lead_moves_on() {
    // At 35 ms every server has ticked three times: server 3 of 4 leads.
    let sim = baton(4, 4, 35);
    let (outcome, records, messages) = run(&sim);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(outcome.aimed_at_none.is_empty());
    // Recorded as the partition it came to: server 3 alone.
    assert_eq!(
        partitions(&records),
        vec![(ms(35), 4, PartitionSpec::Groups(vec![vec![NodeId(3)]]))]
    );
    // Cut off from every other node while in force, though from 40 ms on
    // server 0 leads: the isolation is of whoever led when it came.
    let (mut cut, mut through) = (0, 0);
    for &(from, to, at, fate) in &messages {
        let crosses = (from == NodeId(3)) != (to == NodeId(3));
        if crosses && at >= ms(35) && at < ms(75) {
            assert_eq!(fate, Some(LossCause::Partition), "{from}->{to} at {at}");
            cut += 1;
        } else if at < ms(34) || at >= ms(75) || !crosses {
            assert_eq!(fate, None, "{from}->{to} at {at}");
            through += 1;
        }
    }
    assert_eq!(cut, 4 * 6, "four ticks in force, six crossing notes a tick");
    assert!(through > 50, "{through}");
    // The same seed gives the same trace.
    let again = sim.run_traced(Vec::new(), None).unwrap().1;
    assert_eq!(again, sim.run_traced(Vec::new(), None).unwrap().1);
}

#[test]
fn nodes_that_play_no_role_still_reach_the_isolated_node() {
    // Three servers and two clients: at 35 ms server 0 leads (3 % 3). It is
    // cut off from the other servers both ways; the clients, which play no
    // part, still reach it and hear it, as Jepsen's clients reach every
    // server its nemesis partitions.
    let (outcome, records, messages) = run(&baton(5, 3, 35));
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    let servers = vec![NodeId(1), NodeId(2)];
    assert_eq!(
        partitions(&records),
        vec![
            (
                ms(35),
                4,
                PartitionSpec::OneWay {
                    from: vec![NodeId(0)],
                    to: servers.clone(),
                }
            ),
            (
                ms(35),
                4,
                PartitionSpec::OneWay {
                    from: servers,
                    to: vec![NodeId(0)],
                }
            ),
        ]
    );
    let server = |n: NodeId| n.0 < 3;
    let (mut cut, mut clients_through) = (0, 0);
    for &(from, to, at, fate) in &messages {
        if at < ms(35) || at >= ms(75) {
            continue;
        }
        let touches_leader = from == NodeId(0) || to == NodeId(0);
        if touches_leader && server(from) && server(to) {
            assert_eq!(fate, Some(LossCause::Partition), "{from}->{to} at {at}");
            cut += 1;
        } else {
            assert_eq!(fate, None, "{from}->{to} at {at}");
            clients_through += usize::from(touches_leader);
        }
    }
    assert_eq!(cut, 4 * 4);
    assert_eq!(
        clients_through,
        4 * 4,
        "n0 to and from both clients, each tick"
    );
    // The heal lifts both directions.
    assert!(messages
        .iter()
        .filter(|m| m.2 >= ms(75))
        .all(|m| m.3.is_none()));
}

#[test]
fn an_isolation_that_finds_no_one_in_the_role_cuts_nothing_and_says_so() {
    // At 5 ms no server has ticked: none plays any part.
    let (outcome, records, messages) = run(&baton(4, 4, 5));
    assert!(partitions(&records).is_empty());
    assert!(messages.iter().all(|m| m.3.is_none()));
    assert_eq!(
        outcome.aimed_at_none,
        vec![(ms(5), "leader".to_string(), "none")]
    );
}

/// A scenario of the built-in Raft with `isolate` at `at`.
fn raft_scenario(name: &str, role: &str, at: &str) -> std::path::PathBuf {
    let dir = common::tmp(name);
    let file = dir.join("isolate.toml");
    std::fs::write(
        &file,
        format!(
            "protocol = \"raft\"\nnodes = 3\n\n[network]\nlatency = {{ dist = \"uniform\", min = \"1ms\", max = \"5ms\" }}\n\n\
             [[fault]]\nat = \"{at}\"\nisolate = \"{role}\"\nid = 2\n\n[[fault]]\nat = \"1.5s\"\nheal = 2\n\n[run]\ntime = \"3s\"\n"
        ),
    )
    .unwrap();
    file
}

#[test]
fn a_raft_leader_is_cut_off_alone_and_the_command_line_says_when_there_was_none() {
    // Raft elects within its first election timeouts: at 1 s one server
    // leads, and it alone is cut off.
    let file = raft_scenario("isolate-raft", "leader", "1s");
    let trace = file.with_extension("trace");
    let out = common::dsim(&[
        "run",
        file.to_str().unwrap(),
        "--seed",
        "5",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("never happened"), "{text}");
    let show = common::text(&common::dsim(&["show", trace.to_str().unwrap()]));
    let line = show
        .lines()
        .find(|l| l.contains("partition #2"))
        .unwrap_or_else(|| panic!("{show}"));
    assert!(line.contains("1.000000000s"), "{line}");
    let (_, records, _) = read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let Some(PartitionSpec::Groups(groups)) = records.iter().find_map(|r| match &r.kind {
        Kind::Partition { spec, .. } => Some(spec.clone()),
        _ => None,
    }) else {
        panic!("{show}")
    };
    let groups: Vec<NodeId> = groups.concat();
    let [leader] = groups[..] else {
        panic!("{groups:?}")
    };
    let after: Vec<&Record<'static>> = records
        .iter()
        .filter(|r| r.time > ms(1000) && r.time < ms(1500))
        .collect();
    assert!(
        after.iter().any(|r| matches!(
            &r.kind,
            Kind::Lost {
                cause: LossCause::Partition,
                ..
            }
        )),
        "the isolated {leader} lost messages: {groups:?}"
    );
    // The same isolation before any election: no node leads, nothing is
    // cut, and the run says so, as a sweep does for every seed it missed in.
    let early = raft_scenario("isolate-raft-early", "leader", "1ms");
    let out = common::dsim(&["run", early.to_str().unwrap(), "--seed", "5"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(
            "planned    the isolation of whoever is leader at 0.001000000s never happened: no up node was leader then"
        ),
        "{text}"
    );
    let dir = common::tmp("isolate-raft-sweep");
    let out = common::dsim(&[
        "sweep",
        early.to_str().unwrap(),
        "--seeds",
        "0..4",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("NEVER HAPPENED isolate = \"leader\": in 4 of 4 passing seeds (every one: it never happened)"),
        "{text}"
    );
    // A role Raft's nodes never play is refused before any run, by place.
    let typo = raft_scenario("isolate-raft-typo", "leadr", "1s");
    let out = common::dsim(&["run", typo.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("isolate.toml:9:11: protocol `raft`'s nodes play no role \"leadr\": they play leader, candidate, follower: did you mean \"leader\"?"),
        "{text}"
    );
    // `dsim protocols` lists the roles.
    let listing = common::text(&common::dsim(&["protocols"]));
    assert!(
        listing.contains("roles (for a fault's `isolate = \"ROLE\"`): leader, candidate, follower"),
        "{listing}"
    );
}

fn lin() -> Linearizability {
    Linearizability {
        model: "kv".into(),
        initial: Value::Nil,
    }
}

fn kv_twin() -> (&'static dyn Protocol, Params) {
    let registry: &'static Registry = Box::leak(Box::new(Registry::builtin()));
    let kv = registry.get("kv").unwrap();
    let given = [("local_reads".to_string(), ParamValue::Bool(true))]
        .into_iter()
        .collect();
    (kv, Params::resolve(&kv.params(), &given).unwrap())
}

/// Bounds for kv's twin whose leader serves reads from its own state:
/// five or six nodes (three servers), partitions only, operations from
/// 400 ms on, once a leader is elected.
fn kv_bounds() -> Bounds {
    Bounds {
        nodes: 5..=6,
        horizon: Duration::from_secs(2),
        workload_start: Duration::from_millis(400),
        operations: 20..=60,
        faults: FaultKinds {
            crashes: false,
            skew: false,
            ..FaultKinds::default()
        },
        ..Bounds::default()
    }
}

#[test]
fn property_tests_that_may_isolate_the_leader_catch_a_deposed_leaders_stale_reads_more_often() {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let (kv, p) = kv_twin();
    let failing = |bounds: Bounds| {
        let strategy = cases(bounds);
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
        );
        let mut isolating = 0;
        let failed = (0..400)
            .filter(|_| {
                let case = strategy.new_tree(&mut runner).unwrap().current();
                let failed = check_protocol_with(&case, kv, &p, lin()).is_err();
                let isolates = case
                    .faults
                    .iter()
                    .any(|f| matches!(f, PlannedFault::Isolate { .. }));
                isolating += usize::from(failed && isolates);
                failed
            })
            .count();
        (failed, isolating)
    };
    let (plain, none) = failing(kv_bounds());
    let (aimed, isolating) = failing(kv_bounds().isolating(&["leader"]));
    eprintln!("fixed partitions only: {plain} of 400 fail; with isolations: {aimed} ({isolating} of them isolate)");
    assert_eq!(none, 0);
    assert!(aimed > plain, "{aimed} <= {plain}");
    assert!(isolating * 2 > aimed, "{isolating} of {aimed}");
    // A role the protocol's nodes never play is the bounds' mistake, named.
    let strategy = cases(kv_bounds().isolating(&["primary"]));
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]),
    );
    let message = (0..200)
        .find_map(|_| {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            check_protocol_with(&case, kv, &p, lin()).err()
        })
        .map(|e| e.to_string())
        .unwrap();
    assert!(
        message.contains(
            "Bounds::isolating names role \"primary\", but protocol `kv`'s nodes play leader, candidate, follower"
        ),
        "{message}"
    );
}
