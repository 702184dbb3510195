//! Pauses: a node stopped for a while (a long garbage collection, a
//! process stopped) keeps its state, timers and clock, handles nothing
//! meanwhile, and then takes what waited, in the order it came.

use crate::common;

use dsim::trace::{read_all, Kind, Record};
use dsim::{
    Context, Duration, Fault, FaultAction, Instant, Latency, LinkConfig, LossCause, Node, NodeId,
    SimConfig, Simulation,
};

fn ms(n: u64) -> Instant {
    Instant::ZERO.after(Duration::from_millis(n))
}

/// Node 0 sends node 1 a numbered message every 10 ms, 30 in all; node 1
/// notes each message and each timer with what its clock read, and sets
/// one timer at its start, due at 150 ms.
#[derive(Default)]
struct Relay {
    sent: u64,
    got: Vec<(u64, u64)>,
    timer_read: Option<u64>,
}

impl Node for Relay {
    type Msg = u64;
    type Timer = u8;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        match ctx.id() {
            NodeId(0) => ctx.set_timer(Duration::from_millis(10), 0),
            _ => ctx.set_timer(Duration::from_millis(150), 1),
        };
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, n: u64) {
        self.got.push((n, ctx.now().0));
    }
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, tag: u8) {
        if tag == 1 {
            self.timer_read = Some(ctx.now().0);
            return;
        }
        ctx.send(NodeId(1), &self.sent);
        self.sent += 1;
        if self.sent < 30 {
            ctx.set_timer(Duration::from_millis(10), 0);
        }
    }
}

fn relay(faults: Vec<(u64, FaultAction)>) -> Simulation<Relay> {
    let mut config = SimConfig::new(7, 2);
    config.network.default = LinkConfig {
        latency: Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(3),
        },
        ..LinkConfig::default()
    };
    config.faults = faults
        .into_iter()
        .map(|(at, action)| Fault {
            after: None,
            at: Duration::from_millis(at),
            action,
        })
        .collect();
    Simulation::new(config, |_| Relay::default())
}

fn records(bytes: &[u8]) -> Vec<Record<'static>> {
    read_all(bytes, None).unwrap().1
}

/// Records of node `n`'s handling: starts, deliveries, timers, inputs.
fn handled_by(r: &Record<'_>, n: NodeId) -> bool {
    matches!(
        &r.kind,
        Kind::Start { node, .. }
            | Kind::Deliver { node, .. }
            | Kind::Timer { node, .. }
            | Kind::Input { node, .. } if *node == n
    )
}

#[test]
fn a_paused_node_handles_nothing_until_resumed_then_what_waited_in_the_order_it_came() {
    let one = NodeId(1);
    let sim = relay(vec![
        (
            100,
            FaultAction::Pause {
                node: one,
                mid_handler: false,
            },
        ),
        (300, FaultAction::Resume { node: one }),
    ])
    // What node 1 saw: every message, in order; the timer due at 150 ms
    // and the copies that waited, at 300 ms by its own clock, which ran on.
    .at_end("kept", "node 1's state and clock", |v| {
        let r = v.node(NodeId(1)).unwrap();
        let numbers: Vec<u64> = r.got.iter().map(|g| g.0).collect();
        let at_resume = r.got.iter().filter(|g| g.1 == 300_000_000).count();
        let before = r.got.iter().filter(|g| g.1 < 100_000_000).count();
        match numbers == (0..30).collect::<Vec<u64>>()
            && r.timer_read == Some(300_000_000)
            && at_resume >= 19
            && before >= 9
        {
            true => Ok(()),
            false => Err(format!("{:?} {:?}", r.timer_read, r.got)),
        }
    });
    let (outcome, bytes) = sim.run_traced(Vec::new(), None).unwrap();
    assert_eq!(outcome.failure, None, "{:?}", outcome.checks);
    // Byte for byte the same, run again.
    assert_eq!(sim.run_traced(Vec::new(), None).unwrap().1, bytes);
    let records = records(&bytes);
    let at = |kind: fn(&Kind<'_>) -> bool| {
        records
            .iter()
            .position(|r| kind(&r.kind))
            .unwrap_or_else(|| panic!("no such record"))
    };
    let paused = at(|k| matches!(k, Kind::Pause { node } if *node == NodeId(1)));
    let resumed = at(|k| matches!(k, Kind::Resume { node } if *node == NodeId(1)));
    assert_eq!(
        (records[paused].time, records[resumed].time),
        (ms(100), ms(300))
    );
    // Nothing handled between; node 0 went on sending all the while.
    assert!(!records[paused..resumed].iter().any(|r| handled_by(r, one)));
    assert!(
        records[paused..resumed]
            .iter()
            .filter(|r| matches!(r.kind, Kind::Send { .. }))
            .count()
            >= 19
    );
    // Right after the resume, at its instant and before anything else:
    // the copies that reached node 1 meanwhile, in the order they came
    // (message ids grow with sends, and a send at 140 ms arrives before
    // the timer due at 150 ms, one at 150 ms after it), then the rest.
    let waited: Vec<&Record<'_>> = records[resumed + 1..]
        .iter()
        .take_while(|r| r.time == ms(300) && handled_by(r, one))
        .collect();
    let order: Vec<String> = waited
        .iter()
        .map(|r| match &r.kind {
            Kind::Deliver { msg, .. } => format!("m{msg}"),
            Kind::Timer { .. } => "timer".into(),
            other => format!("{other:?}"),
        })
        .collect();
    let timer = order.iter().position(|o| o == "timer").expect("the timer");
    assert!(order.len() >= 20, "{order:?}");
    assert_eq!(timer, 5, "sends at 100..=140 ms came before it: {order:?}");
    let ids: Vec<&String> = order.iter().filter(|o| *o != "timer").collect();
    let mut sorted = ids.clone();
    sorted.sort_by_key(|o| o[1..].parse::<u64>().unwrap());
    assert_eq!(ids, sorted);
}

#[test]
fn a_crash_ends_a_pause_and_what_waited_finds_the_node_down() {
    let one = NodeId(1);
    let sim = relay(vec![
        (
            100,
            FaultAction::Pause {
                node: one,
                mid_handler: false,
            },
        ),
        (200, FaultAction::Crash { node: one }),
        (250, FaultAction::Resume { node: one }),
        (260, FaultAction::Restart { node: one }),
    ]);
    let (outcome, bytes) = sim.run_traced(Vec::new(), None).unwrap();
    assert_eq!(outcome.failure, None);
    let records = records(&bytes);
    // The copies that waited are lost at the crash, as a down node's are.
    let lost_at_crash = records
        .iter()
        .filter(|r| {
            r.time == ms(200)
                && matches!(
                    r.kind,
                    Kind::Lost {
                        cause: LossCause::ReceiverDown,
                        ..
                    }
                )
        })
        .count();
    assert!(lost_at_crash >= 9, "{lost_at_crash}");
    // The resume finds no pause (the crash ended it): no record. The
    // restarted node handles what comes after.
    assert!(!records
        .iter()
        .any(|r| matches!(r.kind, Kind::Resume { .. })));
    assert!(records
        .iter()
        .any(|r| r.time > ms(260) && matches!(r.kind, Kind::Deliver { node, .. } if node == one)));
}

#[test]
fn a_pause_of_a_node_already_paused_or_down_does_nothing_and_a_resume_of_one_not_paused_neither() {
    let one = NodeId(1);
    let plain = relay(Vec::new()).run_traced(Vec::new(), None).unwrap().1;
    let no_ops = relay(vec![
        (50, FaultAction::Resume { node: one }),
        (100, FaultAction::Crash { node: one }),
        (
            110,
            FaultAction::Pause {
                node: one,
                mid_handler: false,
            },
        ),
        (120, FaultAction::Restart { node: one }),
        (130, FaultAction::Resume { node: one }),
    ])
    .run_traced(Vec::new(), None)
    .unwrap()
    .1;
    let kinds = |b: &[u8]| -> Vec<&'static str> {
        records(b)
            .iter()
            .filter_map(|r| match r.kind {
                Kind::Pause { .. } => Some("pause"),
                Kind::Resume { .. } => Some("resume"),
                _ => None,
            })
            .collect()
    };
    assert!(kinds(&plain).is_empty() && kinds(&no_ops).is_empty());
    let twice = relay(vec![
        (
            100,
            FaultAction::Pause {
                node: one,
                mid_handler: false,
            },
        ),
        (
            150,
            FaultAction::Pause {
                node: one,
                mid_handler: false,
            },
        ),
        (200, FaultAction::Resume { node: one }),
    ])
    .run_traced(Vec::new(), None)
    .unwrap()
    .1;
    assert_eq!(kinds(&twice), ["pause", "resume"]);
}

/// Notes each operation the workload hands it, with its clock's reading.
#[derive(Default)]
struct Taker {
    took: Vec<(u64, u64)>,
}

impl Node for Taker {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_timer(&mut self, _: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: dsim::Input) {
        self.took.push((input.id, ctx.now().0));
    }
}

#[test]
fn operations_handed_to_a_paused_node_wait_for_its_resume_in_order_and_a_crash_drops_them() {
    // Forty operations to node 0, one every 10 ms from 10 ms; it is paused
    // from 95 ms to 205 ms: those of 100..=200 ms are handed to it at
    // 205 ms, in order, none lost.
    let run = |faults: Vec<(u64, FaultAction)>| {
        let mut config = SimConfig::new(5, 1);
        config.workload = Some(dsim::Workload {
            count: 40,
            start: Duration::from_millis(10),
            interval: Latency::Constant {
                latency: Duration::from_millis(10),
            },
            targets: vec![NodeId(0)],
            value_range: 10,
            skip: Vec::new(),
        });
        config.faults = faults
            .into_iter()
            .map(|(at, action)| Fault {
                after: None,
                at: Duration::from_millis(at),
                action,
            })
            .collect();
        let (outcome, bytes) = Simulation::new(config, |_| Taker::default())
            .at_end("took", "what node 0 took, when", |v| {
                Err(format!("{:?}", v.node(NodeId(0)).map(|t| t.took.clone())))
            })
            .run_traced(Vec::new(), None)
            .unwrap();
        (outcome, records(&bytes))
    };
    let zero = NodeId(0);
    let (outcome, recs) = run(vec![
        (
            95,
            FaultAction::Pause {
                node: zero,
                mid_handler: false,
            },
        ),
        (205, FaultAction::Resume { node: zero }),
    ]);
    let took = outcome.failure.unwrap().message;
    let expected: Vec<(u64, u64)> = (0..40)
        .map(|id| {
            let at = 10 * (id + 1);
            (
                id,
                if (100..=200).contains(&at) { 205 } else { at } * 1_000_000,
            )
        })
        .collect();
    assert_eq!(took, format!("Some({expected:?})"));
    assert_eq!(outcome.inputs_at_down, 0);
    assert_eq!(
        recs.iter()
            .filter(|r| matches!(r.kind, Kind::Input { .. }))
            .count(),
        40
    );
    // Crashed while paused: the eleven that waited are never issued, and
    // counted as aimed at a node down.
    let (outcome, _) = run(vec![
        (
            95,
            FaultAction::Pause {
                node: zero,
                mid_handler: false,
            },
        ),
        (203, FaultAction::Crash { node: zero }),
        (205, FaultAction::Restart { node: zero }),
    ]);
    assert_eq!(outcome.inputs_at_down, 11);
}

/// A scenario file of `body` under this test file's scratch directory.
fn scenario(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn a_paused_leader_of_the_key_value_store_answers_stale_reads_in_its_twin_alone() {
    // The correct store passes with its leader paused twice; the twin
    // whose leader answers reads from its own state fails, and what a
    // paused node handles never falls inside its pause, in either.
    let dir = common::tmp("kv-paused");
    let out = common::dsim(&[
        "sweep",
        "scenarios/kv-leader-paused.toml",
        "--seeds",
        "0..30",
        "--out",
        dir.join("ok").to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("30 passed, 0 failed"), "{text}");
    assert!(!text.contains("NEVER HAPPENED"), "{text}");
    let out = common::dsim(&[
        "sweep",
        "scenarios/kv-bug-stale-reads-leader-paused.toml",
        "--seeds",
        "0..60",
        "--out",
        dir.join("twin").to_str().unwrap(),
    ]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let seed = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("seed "))
        .and_then(|l| l.split([' ', ':']).next())
        .unwrap_or_else(|| panic!("a failing seed: {text}"))
        .to_string();
    for (file, code) in [
        ("scenarios/kv-leader-paused.toml", 0),
        ("scenarios/kv-bug-stale-reads-leader-paused.toml", 1),
    ] {
        let trace = dir.join(format!("{code}.trace"));
        let out = common::dsim(&[
            "run",
            file,
            "--seed",
            &seed,
            "--trace",
            trace.to_str().unwrap(),
        ]);
        let text = common::text(&out);
        assert_eq!(out.status.code(), Some(code), "{text}");
        let records = records(&std::fs::read(&trace).unwrap());
        let mut paused: Vec<Option<usize>> = vec![None; 6];
        let mut pauses = 0;
        for (i, r) in records.iter().enumerate() {
            match &r.kind {
                Kind::Pause { node } => {
                    paused[node.index()] = Some(i);
                    pauses += 1;
                }
                Kind::Resume { node } | Kind::Crash { node, .. } => paused[node.index()] = None,
                _ => {}
            }
            for (n, since) in paused.iter().enumerate() {
                assert!(
                    since.is_none() || !handled_by(r, NodeId(n as u32)),
                    "{file} seed {seed}: record #{i} {r:?} inside node {n}'s pause"
                );
            }
        }
        assert!(pauses >= 1, "{file} seed {seed}: no pause\n{text}");
        // The trace holds up to `dsim check`: clocks, chain, causality.
        let out = common::dsim(&["check", trace.to_str().unwrap()]);
        let text = common::text(&out);
        assert_eq!(out.status.code(), Some(code), "{text}");
        assert!(text.contains("well-formed    ok"), "{text}");
        assert!(text.contains("vector-clocks  ok"), "{text}");
        // And a replay follows it record for record.
        let out = common::dsim(&["replay", trace.to_str().unwrap()]);
        let text = common::text(&out);
        assert!(
            text.contains("record for record the same")
                || text.contains("the original failure still occurs"),
            "{text}"
        );
    }
}

#[test]
fn a_scenario_pauses_a_node_for_a_while_and_says_where_a_pause_is_written_wrong() {
    let dir = common::tmp("scenarios");
    let base = "protocol = \"raft\"\nnodes = 3\nseed = 1\n[run]\ntime = \"2s\"\n";
    let ok = scenario(
        &dir,
        "ok.toml",
        &format!("{base}[[fault]]\nat = \"500ms\"\npause = 1\nfor = \"300ms\"\n"),
    );
    let trace = dir.join("ok.trace");
    let out = common::dsim(&["run", &ok, "--trace", trace.to_str().unwrap()]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("2 network and clock faults (partitions, heals, wires, skews, pauses)"),
        "{text}"
    );
    let records = records(&std::fs::read(&trace).unwrap());
    let marks: Vec<(Instant, String)> = records
        .iter()
        .filter_map(|r| match r.kind {
            Kind::Pause { node } => Some((r.time, format!("pause {node}"))),
            Kind::Resume { node } => Some((r.time, format!("resume {node}"))),
            _ => None,
        })
        .collect();
    assert_eq!(
        marks,
        [(ms(500), "pause n1".into()), (ms(800), "resume n1".into())]
    );
    // `dsim show` says what each is.
    let out = common::dsim(&["show", trace.to_str().unwrap()]);
    let shown = common::text(&out);
    assert!(
        shown.contains("pause     n1: handles nothing until resumed")
            && shown.contains("resume    n1: what waited comes now"),
        "{shown}"
    );
    // Never resumed: Raft's `leader-elected` is not judged, and the run
    // says why.
    let forever = scenario(
        &dir,
        "forever.toml",
        &format!("{base}[[fault]]\nat = \"1s\"\npause = 1\n"),
    );
    let out = common::dsim(&["run", &forever]);
    let text = common::text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("leader-elected NOT RUN (a pause was still in force when the run ended"),
        "{text}"
    );
    // Wrong, each at its place, exit 2.
    for (name, fault, expected) in [
        (
            "for-alone.toml",
            "at = \"1s\"\ncrash = 1\nfor = \"1s\"\n",
            "for-alone.toml:9:7: `for` resumes a paused node that long after its pause: this fault is no pause",
        ),
        (
            "down.toml",
            "at = \"1s\"\npause = 1\ndown = \"1s\"\n",
            "down.toml:9:8: `down` restarts a crashed node that long after its crash: this fault is no crash",
        ),
        (
            "node.toml",
            "at = \"1s\"\npause = 3\n",
            "node.toml:8:9: a pause names node 3, but nodes are numbered 0..2 (nodes = 3)",
        ),
        (
            "kind.toml",
            "at = \"1s\"\npause = 1.5\n",
            "kind.toml:8:9: pause must be a node id, a range [a, b] of node ids (nodes are numbered 0..2) or a role in quotes (\"leader\")",
        ),
        (
            "role.toml",
            "at = \"1s\"\npause = \"leadr\"\n",
            "role.toml:8:9: protocol `raft`'s nodes play no role \"leadr\": they play leader, candidate, follower: did you mean \"leader\"?",
        ),
        (
            "after.toml",
            "at = \"1s\"\npause = 1\nafter = { node = 1, deliveries = 3 }\n",
            "after.toml:9:9: `after` sets off a crash (and with `down`, its restart): this fault is no crash",
        ),
    ] {
        let file = scenario(&dir, name, &format!("{base}[[fault]]\n{fault}"));
        let out = common::dsim(&["run", &file]);
        let text = common::text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {text}");
        assert!(text.contains(expected), "{name}: {text}");
    }
}
