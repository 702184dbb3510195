//! The adversary: byzantine nodes (twins, mutation, silence, amnesia), a
//! network that forges, replays and alters, and authenticated channels.
//! Each action is seen as its own record, every trace it writes passes
//! `dsim check`, a forgery never passes MAC verification, shrink takes
//! the adversary away like any fault, and the broken twins are found.

use crate::common;

use common::{dsim, passing_sweep_digest, text, tmp, tmp_path};
use dsim::adversary::{AdversaryConfig, Behaviour, Byzantine, NetworkAdversary};
use dsim::trace::{Kind, TraceReader};
use dsim::{
    Context, Duration, Fault, FaultAction, Input, Node, NodeId, Ppm, SimConfig, Simulation,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::Path;

/// Every record of a trace file, owned.
fn records(path: &Path) -> Vec<Kind<'static>> {
    let reader = TraceReader::new(std::fs::File::open(path).unwrap(), None).unwrap();
    reader.map(|r| r.unwrap().into_owned().kind).collect()
}

fn records_of(bytes: &[u8]) -> Vec<Kind<'static>> {
    let reader = TraceReader::new(bytes, None).unwrap();
    reader.map(|r| r.unwrap().into_owned().kind).collect()
}

/// Runs a bundled scenario at `seed` into `dir`, checks the trace with
/// `dsim check` (every check must hold), and returns its records.
fn run_and_check(scenario: &str, seed: u64, dir: &Path) -> (bool, Vec<Kind<'static>>) {
    let trace = dir.join(format!("{scenario}-{seed}.trace"));
    let out = dsim(&[
        "run",
        &format!("scenarios/{scenario}.toml"),
        "--seed",
        &seed.to_string(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "{}", text(&out));
    let check = dsim(&["check", trace.to_str().unwrap()]);
    let report = text(&check);
    for check in [
        "integrity",
        "well-formed",
        "messages",
        "lamport",
        "vector-clocks",
        "happens-before",
        "fifo",
    ] {
        // FIFO is checked where links promise it, and skipped, saying
        // so, where they all reorder.
        let holds = |l: &str| match check {
            "fifo" if l.contains("skipped (no link promises FIFO order") => true,
            _ => l.split_whitespace().nth(1) == Some("ok"),
        };
        assert!(
            report.lines().any(|l| l.starts_with(check) && holds(l)),
            "{scenario} seed {seed}: {check} does not hold\n{report}"
        );
    }
    (code == Some(0), records(&trace))
}

/// A sender that sends authenticated numbered messages to node 1, and a
/// receiver that notes each message with whether it was authentic.
#[derive(Default)]
struct Pair {
    sent: Vec<Vec<u8>>,
    got: Vec<(bool, Num)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Num {
    n: u32,
    tag: u8,
}

impl Node for Pair {
    type Msg = Num;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        let m = Num {
            n: input.id as u32,
            tag: (input.value % 7) as u8,
        };
        self.sent.push(postcard::to_allocvec(&m).unwrap());
        ctx.send_authenticated(NodeId(1), &m);
    }
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _: NodeId, m: Num) {
        self.got.push((ctx.authentic(), m));
    }
}

fn pair_config(seed: u64, network: NetworkAdversary) -> SimConfig {
    let mut c = SimConfig::new(seed, 2);
    c.workload = Some(dsim::Workload {
        count: 200,
        start: Duration::ZERO,
        interval: dsim::Latency::Constant {
            latency: Duration::from_millis(1),
        },
        targets: vec![NodeId(0)],
        value_range: 1000,
        skip: Vec::new(),
    });
    c.adversary = AdversaryConfig {
        byzantine: Vec::new(),
        network,
    };
    c
}

#[test]
fn a_forged_or_altered_message_never_passes_as_authentic_and_a_replayed_one_does() {
    let mut forged_seen = 0;
    let mut replays_authentic = 0u32;
    for seed in 0..20 {
        let network = NetworkAdversary {
            forge: Ppm::from_probability(0.3).unwrap(),
            replay: Ppm::from_probability(0.3).unwrap(),
            alter: Ppm::from_probability(0.3).unwrap(),
            delay: Duration::from_millis(20),
        };
        let sim = Simulation::new(pair_config(seed, network), |_| Pair::default());
        let (_, bytes, nodes) = sim.run_traced_with_states(Vec::new(), None).unwrap();
        let sender = nodes[0].as_ref().unwrap();
        let receiver = nodes[1].as_ref().unwrap();
        let sent: BTreeSet<&Vec<u8>> = sender.sent.iter().collect();
        // Forgeries go to either node; node 0 sends to node 1 only.
        let got: Vec<&(bool, Num)> = sender.got.iter().chain(&receiver.got).collect();
        for (authentic, m) in &got {
            let bytes = postcard::to_allocvec(m).unwrap();
            if *authentic {
                // Every authentic message is one the sender sent, byte for byte.
                assert!(
                    sent.contains(&bytes),
                    "seed {seed}: {m:?} passed as authentic"
                );
            } else {
                forged_seen += 1;
            }
        }
        let kinds = records_of(&bytes);
        let unauthentic = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Unauthentic { .. }))
            .count();
        let altered = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Altered { .. }))
            .count();
        let forged = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Injected { change, .. } if !change.is_empty()))
            .count();
        let replays = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Injected { change, .. } if change.is_empty()))
            .count();
        // Every delivery of a copy the network changed or made up with a
        // MAC failed verification, and says so in the trace.
        let not_authentic = got.iter().filter(|(a, _)| !*a).count();
        assert_eq!(unauthentic, not_authentic, "seed {seed}");
        assert!(altered + forged >= unauthentic.min(1), "seed {seed}");
        // And each failure is of a copy the network changed or made up:
        // an honest copy that was not altered always verifies.
        let changed: BTreeSet<(u64, u32)> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Altered { msg, copy, .. } => Some((*msg, *copy)),
                _ => None,
            })
            .collect();
        let made_up: BTreeSet<u64> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Injected { msg, .. } => Some(*msg),
                _ => None,
            })
            .collect();
        for k in &kinds {
            if let Kind::Unauthentic { msg, copy } = k {
                assert!(
                    changed.contains(&(*msg, *copy)) || made_up.contains(msg),
                    "seed {seed}: m{msg}.{copy} failed verification untouched"
                );
            }
        }
        // Replays of intact messages verify: a MAC says who, not when.
        // (Each message is sent once, so an authentic one received twice
        // is a replay.)
        let mut authentic = BTreeSet::new();
        for (a, m) in &got {
            if *a && !authentic.insert(postcard::to_allocvec(m).unwrap()) {
                replays_authentic += 1;
            }
        }
        assert!(replays_authentic == 0 || replays > 0, "seed {seed}");
    }
    assert!(
        forged_seen > 100,
        "the adversary forged or altered only {forged_seen} messages"
    );
    assert!(replays_authentic > 0, "no replayed message verified");
}

#[test]
fn only_a_delivery_of_what_nodes_sent_sets_off_an_injection() {
    // Were an injected copy's delivery to set off injections too, forge
    // and replay at 1 would double the messages in flight every 20 ms and
    // the run would end at its event limit.
    for seed in 0..5 {
        let certain = Ppm::from_probability(1.0).unwrap();
        let network = NetworkAdversary {
            forge: certain,
            replay: certain,
            alter: Ppm::from_probability(0.0).unwrap(),
            delay: Duration::from_millis(20),
        };
        let mut config = pair_config(seed, network);
        config.limits.events = 100_000;
        let sim = Simulation::new(config, |_| Pair::default());
        let (outcome, bytes, _) = sim.run_traced_with_states(Vec::new(), None).unwrap();
        assert_eq!(
            outcome.end,
            dsim::trace::EndReason::Quiescent,
            "seed {seed}"
        );
        let kinds = records_of(&bytes);
        let injected: BTreeSet<u64> = kinds
            .iter()
            .filter_map(|k| match k {
                Kind::Injected { msg, .. } => Some(*msg),
                _ => None,
            })
            .collect();
        let honest = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Deliver { msg, .. } if !injected.contains(msg)))
            .count();
        // One forgery and one replay for each delivery of a message node
        // 0 sent, and none for the deliveries of injected ones.
        assert_eq!(honest, 200, "seed {seed}");
        assert_eq!(injected.len(), 2 * honest, "seed {seed}");
    }
}

#[test]
fn without_authentication_forgeries_are_delivered_and_with_it_they_are_ignored() {
    let dir = tmp("forged");
    // The broadcast protocol as it was: a forgery is delivered as a
    // broadcast nobody made.
    let seed = first_failure("broadcast-bug-unauthenticated", 50, &dir).expect("a failing seed");
    let (passed, kinds) = run_and_check("broadcast-bug-unauthenticated", seed, &dir);
    assert!(!passed);
    assert!(kinds.iter().any(|k| matches!(
        k,
        Kind::CheckFailed { check, .. } if check == "no-creation"
    )));
    assert!(kinds.iter().any(|k| matches!(k, Kind::Injected { .. })));
    // With authenticated channels, on a network that also alters: every
    // check holds, and the trace shows the forgeries that were refused.
    for seed in 0..10 {
        let (passed, kinds) = run_and_check("broadcast-authenticated", seed, &dir);
        assert!(passed, "seed {seed}");
        let bad = kinds
            .iter()
            .filter(|k| matches!(k, Kind::Unauthentic { .. }))
            .count();
        assert!(bad > 0, "seed {seed}: no forgery reached a node");
    }
}

#[test]
fn each_adversary_action_is_a_record_of_its_own_and_every_trace_checks() {
    let dir = tmp("records");
    // Twins: a lane for the extra instance, declared before the run.
    let (passed, kinds) = run_and_check("bracha-twins", 1, &dir);
    assert!(passed);
    let declared: Vec<(u32, u32)> = kinds
        .iter()
        .filter_map(|k| match k {
            Kind::Byzantine { node, of, .. } => Some((node.0, of.0)),
            _ => None,
        })
        .collect();
    assert_eq!(declared, vec![(3, 3), (4, 3)]);
    assert!(kinds
        .iter()
        .any(|k| matches!(k, Kind::Send { node, .. } if node.0 == 4)));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, Kind::Deliver { node, .. } if node.0 == 4)));
    // Mutation: the send holds the mutated bytes, the next record says how.
    let (passed, kinds) = run_and_check("bracha-mutate", 1, &dir);
    assert!(passed);
    let mutated: Vec<usize> = (0..kinds.len())
        .filter(|&i| matches!(kinds[i], Kind::Mutated { .. }))
        .collect();
    assert!(!mutated.is_empty());
    for &i in &mutated {
        let (
            Kind::Mutated { node, msg, change },
            Kind::Send {
                node: s, msg: m, ..
            },
        ) = (&kinds[i], &kinds[i - 1])
        else {
            panic!("record {i}: a mutation follows its send");
        };
        assert_eq!((node, msg), (s, m));
        assert!(!change.is_empty());
    }
    // The network: alterations, forgeries, replays.
    let (_, kinds) = run_and_check("broadcast-authenticated", 3, &dir);
    assert!(kinds.iter().any(|k| matches!(k, Kind::Altered { .. })));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, Kind::Injected { change, .. } if change.is_empty())));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, Kind::Injected { change, .. } if !change.is_empty())));
    // `dsim show` names them, as text and as JSON lines.
    let trace = dir.join("broadcast-authenticated-3.trace");
    let shown = text(&dsim(&["show", trace.to_str().unwrap()]));
    for word in [
        "altered",
        "injected",
        "bad-mac",
        "replay of m",
        "forged from m",
    ] {
        assert!(shown.contains(word), "{word} not shown");
    }
    let json = text(&dsim(&[
        "show",
        trace.to_str().unwrap(),
        "--format",
        "jsonl",
    ]));
    for kind in ["\"altered\"", "\"injected\"", "\"unauthentic\""] {
        assert!(json.contains(kind), "{kind} not in the JSON lines");
    }
    // A replay of the trace is identical.
    let replay = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay));
}

/// A node that keeps a counter on disk and reports what it found at start.
#[derive(Default)]
struct Keeper {
    found: Option<u64>,
}

impl Node for Keeper {
    type Msg = u64;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.found = ctx.disk().read::<u64>("count");
        ctx.disk().write("count", &7u64);
        ctx.disk().sync();
        if ctx.id() == NodeId(0) {
            ctx.send(NodeId(1), &1);
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: u64) {}
}

#[test]
fn a_silent_node_sends_nothing_and_an_amnesiac_one_forgets_its_disk() {
    let run = |behaviour: Behaviour| {
        let mut c = SimConfig::new(1, 2);
        for (at, action) in [
            (10, FaultAction::Crash { node: NodeId(0) }),
            (20, FaultAction::Restart { node: NodeId(0) }),
        ] {
            c.faults.push(Fault {
                after: None,
                at: Duration::from_millis(at),
                action,
            });
        }
        c.adversary.byzantine = vec![Byzantine {
            node: NodeId(0),
            behaviour,
        }];
        let sim = Simulation::new(c, |_| Keeper::default());
        let (_, bytes, nodes) = sim.run_traced_with_states(Vec::new(), None).unwrap();
        (records_of(&bytes), nodes)
    };
    let (kinds, nodes) = run(Behaviour::Silent);
    let silenced = kinds
        .iter()
        .filter(|k| matches!(k, Kind::Lost { cause, .. } if *cause == dsim::LossCause::Silenced))
        .count();
    assert_eq!(silenced, 2, "both starts' messages are silenced");
    assert!(!kinds.iter().any(|k| matches!(k, Kind::Deliver { .. })));
    // Not amnesiac: the restart finds what was synced.
    assert_eq!(nodes[0].as_ref().unwrap().found, Some(7));
    let (_, nodes) = run(Behaviour::Amnesia);
    assert_eq!(nodes[0].as_ref().unwrap().found, None, "the disk is gone");
}

/// Runs the bundled scenario `base` with `extra` appended (at its own
/// seed), asserts that the run fails, and returns its trace.
fn failing_run(dir: &Path, base: &str, extra: &str) -> std::path::PathBuf {
    let scenario = dir.join(format!("{base}-with-adversary.toml"));
    let text_of = std::fs::read_to_string(format!("scenarios/{base}.toml")).unwrap();
    std::fs::write(&scenario, format!("{text_of}\n{extra}")).unwrap();
    let trace = dir.join("t.trace");
    let out = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    trace
}

/// Shrinks `trace` into `small` within `max_runs` and returns the
/// configuration the shrunk trace replays.
fn shrunk(trace: &Path, small: &Path, max_runs: &str) -> SimConfig {
    let out = dsim(&[
        "shrink",
        trace.to_str().unwrap(),
        "-o",
        small.to_str().unwrap(),
        "--max-runs",
        max_runs,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let reader = TraceReader::new(std::fs::File::open(small).unwrap(), None).unwrap();
    let recipe: dsim::replay::Recipe = serde_json::from_str(&reader.header().replay).unwrap();
    recipe.config
}

/// The first failing seed of a sweep over `0..seeds`, if any.
fn first_failure(scenario: &str, seeds: u32, dir: &Path) -> Option<u64> {
    let out_dir = dir.join(scenario);
    let out = dsim(&[
        "sweep",
        &format!("scenarios/{scenario}.toml"),
        "--seeds",
        &format!("0..{seeds}"),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    summary["first_failing_seed"].as_u64()
}

#[test]
fn the_broken_twins_are_found_and_the_correct_protocol_holds() {
    let dir = tmp("twins");
    for correct in ["bracha-twins", "bracha-mutate", "bracha-forging-network"] {
        assert_eq!(first_failure(correct, 300, &dir), None, "{correct}");
    }
    for (twin, within) in [
        ("bracha-bug-crash-quorums", 1000),
        ("bracha-bug-crash-quorums-mutate", 1000),
        ("bracha-bug-unauthenticated", 1000),
    ] {
        let first = first_failure(twin, within, &dir);
        assert!(first.is_some(), "{twin}: no failure in {within} seeds");
    }
}

#[test]
fn shrink_takes_away_the_adversary_a_failure_does_not_need() {
    let dir = tmp("shrink");
    let seed = first_failure("bracha-bug-unauthenticated", 200, &dir).expect("a failing seed");
    let trace = dir.join("un.trace");
    let out = dsim(&[
        "run",
        "scenarios/bracha-bug-unauthenticated.toml",
        "--seed",
        &seed.to_string(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let small = dir.join("un.min.trace");
    let config = shrunk(&trace, &small, "3000");
    let net = &config.adversary.network;
    // The forgeries make the failure; the replays do not.
    assert_ne!(net.forge, Ppm::ZERO);
    assert_eq!(net.replay, Ppm::ZERO, "{net:?}");
    // And the shrunk trace replays to the same failure.
    let replay = dsim(&["replay", small.to_str().unwrap()]);
    assert!(
        matches!(replay.status.code(), Some(0 | 1)),
        "{}",
        text(&replay)
    );
    assert!(text(&replay).contains("identical") || text(&replay).contains("validity"));
}

#[test]
fn adversary_runs_are_deterministic_and_runs_without_one_keep_format_3() {
    let dir = tmp("determinism");
    for scenario in ["bracha-twins", "bracha-mutate", "broadcast-authenticated"] {
        let hash = |jobs: &str| passing_sweep_digest(&dir, scenario, "0..40", jobs);
        assert_eq!(hash("1"), hash("2"), "{scenario}");
        let a = dir.join(format!("{scenario}-a.trace"));
        let b = dir.join(format!("{scenario}-b.trace"));
        for t in [&a, &b] {
            dsim(&[
                "run",
                &format!("scenarios/{scenario}.toml"),
                "--seed",
                "5",
                "--trace",
                t.to_str().unwrap(),
            ]);
        }
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{scenario}"
        );
        let header = TraceReader::new(std::fs::File::open(&a).unwrap(), None)
            .unwrap()
            .header()
            .clone();
        assert_eq!(header.format_version, dsim::trace::FORMAT_VERSION);
    }
    let plain = dir.join("plain.trace");
    dsim(&[
        "run",
        "scenarios/broadcast-lossy.toml",
        "--trace",
        plain.to_str().unwrap(),
    ]);
    let header = TraceReader::new(std::fs::File::open(&plain).unwrap(), None)
        .unwrap()
        .header()
        .clone();
    assert_eq!(header.format_version, dsim::trace::FORMAT_VERSION);
}

#[test]
fn an_adversary_chance_drawn_per_seed_is_printed_and_kept_in_the_trace_header() {
    let dir = tmp("drawn");
    let base = std::fs::read_to_string("scenarios/bracha-bug-unauthenticated.toml").unwrap();
    assert_eq!(base.matches("forge = 0.2 ").count(), 1);
    let scenario = dir.join("forge-range.toml");
    std::fs::write(
        &scenario,
        base.replace("forge = 0.2 ", "forge = [0.1, 0.3] "),
    )
    .unwrap();
    let trace = dir.join("t.trace");
    let out = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "2",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let t = text(&out);
    let header = TraceReader::new(std::fs::File::open(&trace).unwrap(), None)
        .unwrap()
        .header()
        .clone();
    let forge = header.drawn.get("adversary.forge").unwrap_or_else(|| {
        panic!(
            "the header's draws miss the adversary's: {:?}\n{t}",
            header.drawn
        )
    });
    let p: f64 = forge.parse().unwrap();
    assert!((0.1..=0.3).contains(&p), "{forge}");
    assert!(
        t.contains(&format!("adversary.forge = {forge}")),
        "{forge}\n{t}"
    );
}

#[test]
fn bad_adversary_declarations_are_refused_with_their_place() {
    let dir = tmp("bad");
    let cases = [
        ("behaviour = \"twinz\"", "did you mean \"twins\""),
        ("behaviour = \"twins\"\nreach = [[3], [0]]", "itself"),
        ("behaviour = \"twins\"\nreach = [[0], [9]]", "node 9"),
        ("behaviour = \"silent\"\nchance = 0.5", "does not apply"),
        (
            "behaviour = \"mutate\"\nmutation = \"wild\"",
            "\"small\" or \"arbitrary\"",
        ),
        ("behaviour = \"twins\"\ninstances = 1", "2 to 8 instances"),
    ];
    for (i, (entry, expect)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad-{i}.toml"));
        std::fs::write(
            &path,
            format!("protocol = \"bracha\"\nnodes = 4\n\n[[byzantine]]\nnode = 3\n{entry}\n"),
        )
        .unwrap();
        let out = dsim(&["run", path.to_str().unwrap()]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{entry}: {t}");
        assert!(
            t.contains(&format!("bad-{i}.toml:")),
            "{entry}: no place in {t}"
        );
        assert!(t.contains(expect), "{entry}: {t}");
    }
    // A search cannot branch on what is drawn at random: a mutating node
    // and a network adversary are refused, named (twins, silent nodes and
    // amnesia are searched: `tests/explore.rs`).
    for (scenario, named) in [
        (
            "scenarios/bracha-mutate.toml",
            "a byzantine node that mutates what it sends (n3)",
        ),
        (
            "scenarios/bracha-forging-network.toml",
            "a network adversary",
        ),
    ] {
        let out = tmp_path("refused-search");
        let _ = std::fs::remove_dir_all(&out);
        let explore = dsim(&[
            "explore",
            scenario,
            "--depth",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        let t = text(&explore);
        assert_eq!(explore.status.code(), Some(2), "{scenario}: {t}");
        assert!(
            t.contains(&format!("exploration does not take {named} yet")),
            "{scenario}: {t}"
        );
        // Refused, it leaves no directory behind.
        assert!(!out.exists(), "{scenario}: {} left behind", out.display());
    }
}

/// The records of a bundled scenario's run, and its header, for tampering.
fn recorded(scenario: &str, seed: u64) -> (dsim::trace::Header, Vec<dsim::trace::Record<'static>>) {
    let bytes = {
        let dir = tmp(&format!("rec-{scenario}-{seed}"));
        let trace = dir.join("t.trace");
        dsim(&[
            "run",
            &format!("scenarios/{scenario}.toml"),
            "--seed",
            &seed.to_string(),
            "--trace",
            trace.to_str().unwrap(),
        ]);
        std::fs::read(trace).unwrap()
    };
    let (header, mut records, _) = dsim::trace::read_all(&bytes[..], None).unwrap();
    records.pop(); // the seal
    (header, records)
}

fn rewrite(header: &dsim::trace::Header, records: &[dsim::trace::Record<'_>]) -> Vec<u8> {
    let mut w = dsim::trace::TraceWriter::new(Vec::new(), header, None).unwrap();
    for r in records {
        w.append(r).unwrap();
    }
    let t = records.last().unwrap().time;
    w.finish(dsim::trace::EndReason::Quiescent, t).unwrap().0
}

/// The records with the first one `pick` selects changed by `edit`,
/// rewritten with a valid chain, and the first violation of `check`
/// (which must be violated).
fn tampered(
    header: &dsim::trace::Header,
    records: &[dsim::trace::Record<'static>],
    check: &str,
    pick: impl Fn(&Kind<'_>) -> bool,
    edit: impl FnOnce(&mut Kind<'static>),
) -> String {
    let mut recs = records.to_vec();
    let at = recs
        .iter()
        .position(|r| pick(&r.kind))
        .expect("such a record");
    edit(&mut recs[at].kind);
    violated(&rewrite(header, &recs), check)
}

fn violated(bytes: &[u8], check: &str) -> String {
    let r = dsim::check::audit(bytes, &dsim::check::Options::default()).unwrap();
    let v = r.verdicts.iter().find(|v| v.check == check).unwrap();
    assert!(!v.holds(), "{check} should be violated: {r:#?}");
    v.first.as_ref().unwrap().message.clone()
}

#[test]
fn the_checks_catch_lies_about_injected_and_altered_messages() {
    let (header, records) = recorded("broadcast-authenticated", 3);
    let clean = rewrite(&header, &records);
    assert!(dsim::check::audit(&clean[..], &Default::default())
        .unwrap()
        .holds());
    let injected = records
        .iter()
        .find_map(|r| match &r.kind {
            Kind::Injected { msg, .. } => Some(*msg),
            _ => None,
        })
        .unwrap();
    let delivers_injected =
        |r: &Kind<'_>| matches!(r, Kind::Deliver { msg, .. } if *msg == injected);
    // An injected message delivered as from another sender than it claimed.
    let m = tampered(&header, &records, "messages", delivers_injected, |k| {
        if let Kind::Deliver { from, .. } = k {
            *from = NodeId((from.0 + 1) % 4);
        }
    });
    assert!(m.contains("but it was sent"), "{m}");
    // An alteration of a copy that was never made.
    let altered = |k: &Kind<'_>| matches!(k, Kind::Altered { .. });
    let m = tampered(&header, &records, "messages", altered, |k| {
        if let Kind::Altered { copy, .. } = k {
            *copy = 7;
        }
    });
    assert!(m.contains("changed in transit but never made"), "{m}");
    // An injected message given an id out of order.
    let injection = |k: &Kind<'_>| matches!(k, Kind::Injected { .. });
    let m = tampered(&header, &records, "messages", injection, |k| {
        if let Kind::Injected { msg, .. } = k {
            *msg += 1000;
        }
    });
    assert!(m.contains("ids must count sends in order"), "{m}");
    // A delivery of an injected message that claims a clock it cannot have.
    let m = tampered(&header, &records, "vector-clocks", delivers_injected, |k| {
        if let Kind::Deliver { vc, .. } = k {
            *vc = vec![(0, 99)].into();
        }
    });
    assert!(m.contains("no send"), "{m}");
}

#[test]
fn shrink_makes_a_byzantine_node_honest_when_the_failure_does_not_need_it() {
    let dir = tmp("shrink-byzantine");
    // A failure that needs no adversary (receivers that do not
    // de-duplicate), run with a byzantine node that mutates everything.
    let trace = failing_run(
        &dir,
        "broadcast-bug-no-dedup",
        "[[byzantine]]\nnode = 4\nbehaviour = \"mutate\"\nchance = 0.5\n",
    );
    let kinds = records(&trace);
    assert!(kinds.iter().any(|k| matches!(k, Kind::Mutated { .. })));
    let small = dir.join("t.min.trace");
    let config = shrunk(&trace, &small, "2000");
    assert!(
        config.adversary.byzantine.is_empty(),
        "{:?}",
        config.adversary
    );
    assert!(!records(&small)
        .iter()
        .any(|k| matches!(k, Kind::Mutated { .. } | Kind::Byzantine { .. })));
}

#[test]
fn adversary_actions_in_the_fault_schedule_happen_when_asked_and_shrink_takes_them_away_one_by_one()
{
    let dir = tmp("timeline");
    // A failure that needs no adversary, with four scheduled adversary
    // actions beside it.
    // (The echo twin's seed 1 fails at 164 ms.)
    let trace = failing_run(
        &dir,
        "echo-bug-no-dedup",
        "[[fault]]\nat = \"20ms\"\nforge = { to = 2, from = 0 }\n\n[[fault]]\nat = \"30ms\"\nforge = { to = 3 }\n\n[[fault]]\nat = \"40ms\"\nreplay = 0\n\n[[fault]]\nat = \"10ms\"\nalter = 1\n",
    );
    let reader = TraceReader::new(std::fs::File::open(&trace).unwrap(), None).unwrap();
    let timed: Vec<(u64, Kind<'static>)> = reader
        .map(|r| {
            let r = r.unwrap().into_owned();
            (r.time.0, r.kind)
        })
        .filter(|(_, k)| matches!(k, Kind::Injected { .. } | Kind::Altered { .. }))
        .collect();
    let injected_at: Vec<u64> = timed
        .iter()
        .filter(|(_, k)| matches!(k, Kind::Injected { .. }))
        .map(|(t, _)| *t)
        .collect();
    assert_eq!(injected_at, vec![20_000_000, 30_000_000, 40_000_000]);
    assert!(timed
        .iter()
        .any(|(t, k)| matches!(k, Kind::Altered { .. }) && *t >= 10_000_000));
    // The claimed sender and the receiver are as asked.
    assert!(timed.iter().any(|(_, k)| matches!(
        k,
        Kind::Injected { from, to, change, .. } if from.0 == 0 && to.0 == 2 && !change.is_empty()
    )));
    let small = dir.join("t.min.trace");
    let config = shrunk(&trace, &small, "2000");
    assert!(
        !config.faults.iter().any(|f| f.action.is_adversary()),
        "{:?}",
        config.faults
    );
}

/// A message whose `u128` JSON data cannot carry: mutation cannot take it
/// apart.
#[derive(Debug, Serialize, Deserialize)]
struct Wide(u128);

#[derive(Default)]
struct WideSender;

impl Node for WideSender {
    type Msg = Wide;
    type Timer = ();
    fn on_start(&mut self, _: &mut Context<'_, Self>) {}
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        ctx.send(NodeId(1), &Wide(u128::MAX - u128::from(input.value)));
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Wide) {}
}

#[test]
fn an_adversary_that_cannot_mutate_the_protocols_messages_is_refused_not_idle() {
    // Before: every mutation attempt failed quietly, so a byzantine node
    // set to mutate every message, or a network set to alter or forge,
    // did nothing at all and the run passed as if it had been tried.
    let mutating = Byzantine {
        node: NodeId(0),
        behaviour: Behaviour::Mutate {
            chance: Ppm::from_probability(1.0).unwrap(),
            arbitrary: false,
        },
    };
    let cases = [
        (
            "byzantine n0 is to mutate its messages",
            Some(mutating),
            NetworkAdversary::default(),
        ),
        (
            "the network adversary alters copies in transit",
            None,
            NetworkAdversary {
                alter: Ppm::from_probability(1.0).unwrap(),
                ..NetworkAdversary::default()
            },
        ),
        (
            "the network adversary forges messages",
            None,
            NetworkAdversary {
                forge: Ppm::from_probability(1.0).unwrap(),
                ..NetworkAdversary::default()
            },
        ),
    ];
    for (who, byzantine, network) in cases {
        let mut config = pair_config(1, network);
        config.adversary.byzantine = byzantine.into_iter().collect();
        let sim = Simulation::new(config, |_| WideSender);
        let err = sim.run().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "invalid configuration: {who}, but a message of type `{}` cannot be mutated (number out of range)",
                std::any::type_name::<Wide>()
            )),
            "{err}"
        );
    }
}

/// A twin's drawn reach leaves no instance reaching nobody while the
/// nodes suffice: such an instance never equivocates (the other acts as
/// the honest node), and two instances over three peers drew one in a
/// quarter of the seeds. Three instances over three peers: one each.
#[test]
fn every_instance_of_a_drawn_twin_reaches_some_node() {
    let registry = dsim::protocols::Registry::builtin();
    let reach_of = |instances: u32, seed: u64| {
        let text = format!(
            "protocol = \"bracha\"\nnodes = 4\n[[byzantine]]\nnode = 3\nbehaviour = \"twins\"\ninstances = {instances}\n"
        );
        let scenario = dsim::scenario::Scenario::parse("twins.toml", &text, &registry).unwrap();
        let resolved = scenario.resolve(seed).unwrap();
        let drawn = resolved
            .drawn
            .iter()
            .find(|(k, _)| k == "byzantine.3.reach")
            .map(|(_, v)| v.clone());
        let Behaviour::Twins { reach } = &resolved.config.adversary.byzantine[0].behaviour else {
            panic!("not twins");
        };
        (reach.clone(), drawn)
    };
    for seed in 0..200 {
        let (reach, drawn) = reach_of(2, seed);
        assert!(
            reach.iter().all(|r| !r.is_empty()),
            "seed {seed}: {reach:?}"
        );
        let mut all: Vec<u32> = reach.iter().flatten().map(|n| n.0).collect();
        all.sort_unstable();
        assert_eq!(all, vec![0, 1, 2], "seed {seed}: {reach:?}");
        // What the seed says it drew is what runs.
        let words: Vec<String> = reach
            .iter()
            .map(|r| {
                format!(
                    "[{}]",
                    r.iter()
                        .map(|n| n.0.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        assert_eq!(
            drawn,
            Some(format!("[{}]", words.join(", "))),
            "seed {seed}"
        );
        let (three, _) = reach_of(3, seed);
        assert!(three.iter().all(|r| r.len() == 1), "seed {seed}: {three:?}");
    }
}
