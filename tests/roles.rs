//! Faults aimed at a role: a partition that isolates whoever leads when
//! it comes (`isolate = "leader"`, `PlannedFault::Isolate`) and a crash of
//! whoever leads (`crash = "leader"`, `PlannedFault::CrashPlaying`), read
//! from each node's `Node::role`.

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
    let spec = PartitionSpec::Isolate {
        role: "leader".into(),
    };
    baton_with(
        nodes,
        servers,
        vec![
            (at, FaultAction::Partition { id: 4, spec }),
            (75, FaultAction::Heal { id: Some(4) }),
        ],
    )
}

/// `nodes` nodes, `servers` of them servers; links of exactly 1 ms; the
/// faults given, each at its millisecond.
fn baton_with(nodes: u32, servers: u32, faults: Vec<(u64, FaultAction)>) -> Simulation<Baton> {
    let mut config = SimConfig::new(3, nodes);
    config.network.default = LinkConfig::reliable(Duration::from_millis(1));
    config.faults = faults
        .into_iter()
        .map(|(at, action)| Fault {
            after: None,
            at: Duration::from_millis(at),
            action,
        })
        .collect();
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

/// Each crash and restart of the run: when, which, and of what node.
fn crashes(records: &[Record<'static>]) -> Vec<(Instant, &'static str, NodeId)> {
    records
        .iter()
        .filter_map(|r| match &r.kind {
            Kind::Crash { node, .. } => Some((r.time, "crash", *node)),
            Kind::Restart { node, .. } => Some((r.time, "restart", *node)),
            _ => None,
        })
        .collect()
}

fn crash_of(role: &str, mark: u32) -> FaultAction {
    FaultAction::CrashPlaying {
        role: role.into(),
        mark,
    }
}

#[test]
fn a_crash_aimed_at_a_role_takes_down_whoever_plays_it_then_and_its_restart_brings_back_those() {
    // At 35 ms server 3 of 4 leads; at 45 ms, server 3 down, the others
    // have ticked four times: server 0 leads. Each crash's restart brings
    // back the node that crash took, paired by mark, not by order: the
    // second crash's restart comes first.
    let sim = baton_with(
        4,
        4,
        vec![
            (35, crash_of("leader", 7)),
            (45, crash_of("leader", 8)),
            (60, FaultAction::RestartCrashed { mark: 8 }),
            (70, FaultAction::RestartCrashed { mark: 7 }),
        ],
    );
    let (outcome, records, messages) = run(&sim);
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    assert!(
        outcome.aimed_at_none.is_empty(),
        "{:?}",
        outcome.aimed_at_none
    );
    assert_eq!(
        crashes(&records),
        vec![
            (ms(35), "crash", NodeId(3)),
            (ms(45), "crash", NodeId(0)),
            (ms(60), "restart", NodeId(0)),
            (ms(70), "restart", NodeId(3)),
        ]
    );
    // Down, a node sends nothing; what is sent to it is lost.
    for &(from, to, at, fate) in &messages {
        let down = |n: NodeId| match n.0 {
            3 => at >= ms(35) && at < ms(70),
            0 => at >= ms(45) && at < ms(60),
            _ => false,
        };
        assert!(!down(from), "{from} sent at {at}");
        if down(to) && at < ms(44) {
            assert_eq!(fate, Some(LossCause::ReceiverDown), "{from}->{to} at {at}");
        }
    }
    // The same seed gives the same trace.
    let again = sim.run_traced(Vec::new(), None).unwrap().1;
    assert_eq!(again, sim.run_traced(Vec::new(), None).unwrap().1);
}

#[test]
fn a_crash_that_finds_no_one_in_the_role_crashes_nothing_and_says_so() {
    // At 5 ms no server has ticked: none leads. Its restart brings back no
    // one either, and a crash of a node by number still comes.
    let sim = baton_with(
        4,
        4,
        vec![
            (5, crash_of("leader", 0)),
            (6, FaultAction::Crash { node: NodeId(2) }),
            (30, FaultAction::RestartCrashed { mark: 0 }),
            (31, FaultAction::Restart { node: NodeId(2) }),
        ],
    );
    let (outcome, records, _) = run(&sim);
    assert_eq!(
        crashes(&records),
        vec![(ms(6), "crash", NodeId(2)), (ms(31), "restart", NodeId(2))]
    );
    assert_eq!(
        outcome.aimed_at_none,
        vec![(ms(5), "leader".to_string(), "crash")]
    );
    // A restart of a role crash with no crash before it is refused.
    let mut config = SimConfig::new(1, 3);
    config.faults = vec![Fault {
        after: None,
        at: Duration::from_millis(5),
        action: FaultAction::RestartCrashed { mark: 2 },
    }];
    let e = config.validate().unwrap_err();
    assert_eq!(
        e,
        "restart of crash #2's nodes is at 5ms but no crash #2 comes before it"
    );
}

/// A scenario of the built-in Raft, `fault` its `[[fault]]` entries, in
/// `name`'s directory as `file`.
fn raft_scenario_with(name: &str, file: &str, fault: &str) -> std::path::PathBuf {
    let file = common::tmp(name).join(file);
    std::fs::write(
        &file,
        format!(
            "protocol = \"raft\"\nnodes = 3\n\n[network]\nlatency = {{ dist = \"uniform\", min = \"1ms\", max = \"5ms\" }}\n\n\
             {fault}\n[run]\ntime = \"3s\"\n"
        ),
    )
    .unwrap();
    file
}

/// A scenario of the built-in Raft with `isolate` at `at`.
fn raft_scenario(name: &str, role: &str, at: &str) -> std::path::PathBuf {
    let fault = format!(
        "[[fault]]\nat = \"{at}\"\nisolate = \"{role}\"\nid = 2\n\n[[fault]]\nat = \"1.5s\"\nheal = 2\n"
    );
    raft_scenario_with(name, "isolate.toml", &fault)
}

/// `early`, a scenario whose fault aimed at a role comes before any
/// election, and `typo`, one whose role is misspelt: `dsim run` says
/// `planned` of the first, a sweep counts it `never`, and the second is
/// refused with `refused`.
fn aimed_at_none_is_said_and_a_typo_refused(
    early: &std::path::Path,
    planned: &str,
    never: &str,
    typo: &std::path::Path,
    refused: &str,
) {
    let out = common::dsim(&["run", early.to_str().unwrap(), "--seed", "5"]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(planned), "{text}");
    let dir = early.with_extension("sweep");
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
        text.contains(&format!(
            "NEVER HAPPENED {never}: in 4 of 4 passing seeds (every one: it never happened)"
        )),
        "{text}"
    );
    let out = common::dsim(&["run", typo.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains(refused), "{text}");
}

/// `dsim run` of `file`, seed 5, passes with its aimed fault come: what it
/// said, and its trace.
fn passes_aimed(file: &std::path::Path) -> (String, std::path::PathBuf) {
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
    (text, trace)
}

#[test]
fn a_raft_leader_is_cut_off_alone_and_the_command_line_says_when_there_was_none() {
    // Raft elects within its first election timeouts: at 1 s one server
    // leads, and it alone is cut off.
    let file = raft_scenario("isolate-raft", "leader", "1s");
    let (_, trace) = passes_aimed(&file);
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
    // Before any election no one leads: nothing is cut, and the run says
    // so, as a sweep does for every seed it missed in. A role Raft's nodes
    // never play is refused before any run, by place.
    aimed_at_none_is_said_and_a_typo_refused(
        &raft_scenario("isolate-raft-early", "leader", "1ms"),
        "planned    the isolation of whoever is leader at 0.001000000s never happened: no up node was leader then",
        "isolate = \"leader\"",
        &raft_scenario("isolate-raft-typo", "leadr", "1s"),
        "isolate.toml:9:11: protocol `raft`'s nodes play no role \"leadr\": they play leader, candidate, follower: did you mean \"leader\"?",
    );
    // `dsim protocols` lists the roles.
    let listing = common::text(&common::dsim(&["protocols"]));
    assert!(
        listing.contains("roles (for a fault's `isolate = \"ROLE\"`, `crash = \"ROLE\"` or `pause = \"ROLE\"`): leader, candidate, follower"),
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

/// Over 400 cases of `bounds` drawn from `seed`, how many fail `kv` with
/// `p`, and how many of those plan a fault `aimed` says is aimed at a role.
fn failing(
    bounds: Bounds,
    seed: u8,
    kv: &dyn Protocol,
    p: &Params,
    aimed: fn(&PlannedFault) -> bool,
) -> (usize, usize) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let strategy = cases(bounds);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]),
    );
    let mut of_them = 0;
    let failed = (0..400)
        .filter(|_| {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            let failed = check_protocol_with(&case, kv, p, lin()).is_err();
            of_them += usize::from(failed && case.faults.iter().any(aimed));
            failed
        })
        .count();
    (failed, of_them)
}

/// Bounds that aim faults at a role kv's nodes never play fail the first
/// case that draws one, with `message`.
fn a_role_never_played_is_named(bounds: Bounds, kv: &dyn Protocol, p: &Params, message: &str) {
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let strategy = cases(bounds);
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[12; 32]),
    );
    let got = (0..200)
        .find_map(|_| {
            let case = strategy.new_tree(&mut runner).unwrap().current();
            check_protocol_with(&case, kv, p, lin()).err()
        })
        .map(|e| e.to_string())
        .unwrap();
    assert!(got.contains(message), "{got}");
}

#[test]
fn property_tests_that_may_isolate_the_leader_catch_a_deposed_leaders_stale_reads_more_often() {
    let (kv, p) = kv_twin();
    let isolates = |f: &PlannedFault| matches!(f, PlannedFault::Isolate { .. });
    let (plain, none) = failing(kv_bounds(), 11, kv, &p, isolates);
    let (aimed, isolating) = failing(kv_bounds().isolating(&["leader"]), 11, kv, &p, isolates);
    eprintln!("fixed partitions only: {plain} of 400 fail; with isolations: {aimed} ({isolating} of them isolate)");
    assert_eq!(none, 0);
    assert!(aimed > plain, "{aimed} <= {plain}");
    assert!(isolating * 2 > aimed, "{isolating} of {aimed}");
    // A role the protocol's nodes never play is the bounds' mistake, named.
    a_role_never_played_is_named(
        kv_bounds().isolating(&["primary"]),
        kv,
        &p,
        "Bounds::isolating names role \"primary\", but protocol `kv`'s nodes play leader, candidate, follower",
    );
}

#[test]
fn property_tests_that_may_pause_the_leader_catch_a_resumed_leaders_stale_reads() {
    // Pauses are off unless asked for: the same bounds without them draw
    // no pause. With them, the twin whose leader answers reads from its
    // own state fails now and then (a read must reach the resumed leader
    // before any message of its successor), each failing case with a
    // pause among its faults; the correct store passes every case.
    let (kv, p) = kv_twin();
    let pauses = |f: &PlannedFault| {
        matches!(
            f,
            PlannedFault::Pause { .. } | PlannedFault::PausePlaying { .. }
        )
    };
    let quiet = Bounds {
        faults: FaultKinds {
            partitions: false,
            crashes: false,
            skew: false,
            ..FaultKinds::default()
        },
        ..kv_bounds()
    };
    let (plain, none) = failing(quiet.clone(), 11, kv, &p, pauses);
    let (mut paused, mut pausing) = (0, 0);
    for seed in 11..16 {
        let (f, of_them) = failing(quiet.clone().pausing(&["leader"]), seed, kv, &p, pauses);
        paused += f;
        pausing += of_them;
    }
    eprintln!(
        "no pauses: {plain} of 400 fail; with pauses: {paused} of 2000 ({pausing} of them pause)"
    );
    assert_eq!(none, 0);
    assert!(paused > 0, "no case of 2000 caught the twin");
    assert_eq!(pausing, paused);
    let correct = Params::resolve(&kv.params(), &Default::default()).unwrap();
    let (wrong, _) = failing(quiet.clone().pausing(&["leader"]), 11, kv, &correct, pauses);
    assert_eq!(wrong, 0);
    a_role_never_played_is_named(
        quiet.pausing(&["primary"]),
        kv,
        &p,
        "Bounds::pausing names role \"primary\", but protocol `kv`'s nodes play leader, candidate, follower",
    );
}

/// A scenario of the built-in Raft that crashes whoever plays `role` at
/// `at`, for half a second.
fn raft_crash_scenario(name: &str, role: &str, at: &str) -> std::path::PathBuf {
    let fault = format!("[[fault]]\nat = \"{at}\"\ncrash = \"{role}\"\ndown = \"500ms\"\n");
    raft_scenario_with(name, "crash.toml", &fault)
}

#[test]
fn a_raft_leader_is_crashed_and_restarted_and_the_command_line_says_when_there_was_none() {
    let file = raft_crash_scenario("crash-raft", "leader", "1s");
    let (text, trace) = passes_aimed(&file);
    assert!(text.contains("1 crash, 1 restart"), "{text}");
    let (_, records, _) = read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let down = crashes(&records);
    let [(crashed, "crash", leader), (restarted, "restart", again)] = down[..] else {
        panic!("{down:?}")
    };
    assert_eq!((crashed, restarted, again), (ms(1000), ms(1500), leader));
    // The node crashed was the one leading: in the heartbeat (50 ms) or
    // two before, it alone sent to both other servers.
    let mut told: BTreeMap<NodeId, std::collections::BTreeSet<NodeId>> = BTreeMap::new();
    for r in records
        .iter()
        .filter(|r| r.time >= ms(900) && r.time < ms(1000))
    {
        if let Kind::Send { node, to, .. } = &r.kind {
            told.entry(*node).or_default().insert(*to);
        }
    }
    let broadcasting: Vec<NodeId> = told
        .iter()
        .filter(|(_, to)| to.len() == 2)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(broadcasting, vec![leader], "{told:?}");
    // A replay follows it record for record.
    let out = common::dsim(&["replay", trace.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("record for record the same"), "{text}");
    // Before any election no one leads: nothing is crashed, and the run
    // says so; a misspelt role is refused at its place.
    aimed_at_none_is_said_and_a_typo_refused(
        &raft_crash_scenario("crash-raft-early", "leader", "1ms"),
        "planned    the crash of whoever is leader at 0.001000000s never happened: no up node was leader then",
        "crash = \"leader\"",
        &raft_crash_scenario("crash-raft-typo", "leadr", "1s"),
        "crash.toml:9:9: protocol `raft`'s nodes play no role \"leadr\": they play leader, candidate, follower: did you mean \"leader\"?",
    );
}

#[test]
fn the_key_value_stores_leader_crashed_catches_retries_applied_twice_and_shrinks_to_one_crash() {
    // The correct store passes with its leader crashed twice; the twin
    // whose sessions live in the leader's memory fails at seed 1, and its
    // failure shrinks to the one crash that mattered.
    let dir = common::tmp("kv-leader-crashed");
    let out = common::dsim(&[
        "sweep",
        "scenarios/kv-leader-crashed.toml",
        "--seeds",
        "0..40",
        "--out",
        dir.join("ok").to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("40 passed, 0 failed"), "{text}");
    assert!(!text.contains("NEVER HAPPENED"), "{text}");
    let trace = dir.join("twin.trace");
    let out = common::dsim(&[
        "run",
        "scenarios/kv-bug-sessions-not-replicated-leader-crashed.toml",
        "--seed",
        "1",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED     check `linearizable`") && text.contains("n0 crashed at"),
        "{text}"
    );
    let small = dir.join("small.trace");
    let out = common::dsim(&[
        "shrink",
        trace.to_str().unwrap(),
        "--output",
        small.to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let (_, records, _) = read_all(&std::fs::read(&small).unwrap(), None).unwrap();
    let down = crashes(&records);
    assert!(matches!(down[..], [(_, "crash", _)]), "{down:?}\n{text}");
    let out = common::dsim(&["replay", small.to_str().unwrap()]);
    let text = common::text(&out);
    assert!(text.contains("the original failure still occurs"), "{text}");
}

/// Bounds for kv's twin whose sessions live in the leader's memory:
/// crashes only, operations from 400 ms on, once a leader is elected.
fn kv_crash_bounds() -> Bounds {
    Bounds {
        faults: FaultKinds {
            partitions: false,
            skew: false,
            ..FaultKinds::default()
        },
        ..kv_bounds()
    }
}

#[test]
fn property_tests_that_may_crash_the_leader_fail_the_twin_with_it_and_pass_the_correct_store() {
    let registry: &'static Registry = Box::leak(Box::new(Registry::builtin()));
    let kv = registry.get("kv").unwrap();
    let given = [("replicated_sessions".to_string(), ParamValue::Bool(false))]
        .into_iter()
        .collect();
    let p = Params::resolve(&kv.params(), &given).unwrap();
    let crashes = |f: &PlannedFault| matches!(f, PlannedFault::CrashPlaying { .. });
    let leader = || kv_crash_bounds().crashing(&["leader"]);
    let (plain, none) = failing(kv_crash_bounds(), 13, kv, &p, crashes);
    let (with, aimed) = failing(leader(), 13, kv, &p, crashes);
    // The correct store, its sessions replicated, fails none.
    let correct = Params::resolve(&kv.params(), &BTreeMap::new()).unwrap();
    let (failed, _) = failing(kv_crash_bounds(), 13, kv, &correct, crashes);
    let (failed_aimed, _) = failing(leader(), 13, kv, &correct, crashes);
    eprintln!(
        "the twin, crashes of drawn nodes only: {plain} of 400 cases fail; with the leader's \
         too: {with} ({aimed} of them crash it); the correct store: {failed} and {failed_aimed}"
    );
    assert_eq!(none, 0);
    assert!(aimed > 0, "no failing case crashed the leader: {with} fail");
    assert_eq!((failed, failed_aimed), (0, 0));
    a_role_never_played_is_named(
        kv_crash_bounds().crashing(&["primary"]),
        kv,
        &p,
        "Bounds::crashing names role \"primary\", but protocol `kv`'s nodes play leader, candidate, follower",
    );
}
