//! Seed replay, schedule replay, the determinism self-check and trace diff.

use crate::common;

use common::{dsim, files, text, tmp};

use dsim::replay::compare_traces;
use dsim::trace::Kind;
use dsim::{Context, Duration, Node, NodeId, SimConfig, Simulation, TimerId};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

fn record(scenario: &str, seed: u64, dir: &str) -> PathBuf {
    let trace = tmp(dir).join("t.trace");
    let o = dsim(&[
        "run",
        scenario,
        "--seed",
        &seed.to_string(),
        "--trace",
        trace.to_str().unwrap(),
    ]);
    assert!(matches!(o.status.code(), Some(0 | 1)), "{}", text(&o));
    trace
}

#[test]
fn every_bundled_scenario_replays_identically_from_its_trace() {
    let scenarios = files("scenarios", "toml");
    for (i, s) in scenarios.iter().enumerate() {
        let trace = record(s.to_str().unwrap(), 11, &format!("bundled-{i}"));
        let o = dsim(&["replay", trace.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}: {}", s.display(), text(&o));
        assert!(
            text(&o).contains("record for record the same"),
            "{}",
            text(&o)
        );
        // It counts the records as `dsim check` does.
        let count = |out: &str, before: &str| -> String {
            let at = out.find(before).unwrap_or_else(|| panic!("{out}"));
            out[..at].rsplit(' ').next().unwrap().to_string()
        };
        let check = dsim(&["check", trace.to_str().unwrap()]);
        assert_eq!(
            count(&text(&o), " records, record for record"),
            count(&text(&check), " records, ended"),
            "{}\n{}",
            text(&o),
            text(&check)
        );
        // By its recorded schedule, the same run record for record too (a
        // message the scenario plans to lose was replayed as lost at
        // random).
        let o = dsim(&["replay", trace.to_str().unwrap(), "--schedule"]);
        assert!(
            text(&o).contains("diverges   never"),
            "{}: {}",
            s.display(),
            text(&o)
        );
    }
}

#[test]
fn a_fixed_bug_replayed_against_the_failing_schedule_no_longer_fails() {
    let trace = record("scenarios/echo-bug-no-dedup.toml", 3, "fixed");
    let o = dsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--schedule",
        "--scenario",
        "scenarios/echo-lossy.toml",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("the original failure no longer occurs"), "{t}");
    assert!(t.contains("diverges   first at record #"), "{t}");
    // The same protocol, another parameter: nothing to warn about.
    assert!(!t.contains("the trace records protocol"), "{t}");
}

#[test]
fn a_schedule_replayed_with_another_protocol_says_so() {
    let trace = record("scenarios/echo-lossy.toml", 1, "other-protocol");
    let o = dsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--schedule",
        "--scenario",
        "scenarios/broadcast-lossy.toml",
    ]);
    let t = text(&o);
    assert!(
        t.contains(
            "note       the trace records protocol `echo` and the scenario runs `broadcast`"
        ),
        "{t}"
    );
}

#[test]
fn a_seed_replay_that_differs_says_whether_the_run_is_deterministic() {
    // The twin's trace rerun as the correct protocol: it differs, and a
    // second rerun agrees with the first, so the protocol changed (here,
    // on purpose) rather than ran two ways.
    let trace = record("scenarios/echo-bug-no-dedup.toml", 3, "changed");
    let o = dsim(&[
        "replay",
        trace.to_str().unwrap(),
        "--scenario",
        "scenarios/echo-lossy.toml",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(
        t.contains("DIFFERS    seed 3 of scenarios/echo-lossy.toml replayed"),
        "{t}"
    );
    assert!(
        t.contains("a second rerun matches the first: the run is deterministic, so the protocol, its parameters or dsim changed since the recording"),
        "{t}"
    );
    assert!(!t.contains("NONDETERMINISTIC"), "{t}");
}

#[test]
fn the_broken_twin_replayed_against_its_own_schedule_fails_the_same_way() {
    let trace = record("scenarios/echo-bug-no-dedup.toml", 3, "same");
    let o = dsim(&["replay", trace.to_str().unwrap(), "--schedule"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("the original failure still occurs"), "{t}");
    assert!(t.contains("diverges   never"), "{t}");
}

#[test]
fn a_schedule_holds_one_recorded_fate_per_send() {
    let a = record("scenarios/echo-lossy.toml", 3, "pin");
    let bytes = std::fs::read(&a).unwrap();
    let (_, recorded, _) = dsim::trace::read_all(&bytes, None).unwrap();
    let schedule = dsim::replay::schedule_from(&recorded);
    assert!(!schedule.is_empty());
    let sends = recorded
        .iter()
        .filter(|r| matches!(r.kind, Kind::Send { .. }))
        .count();
    assert_eq!(schedule.len(), sends);
}

#[test]
fn a_tampered_trace_is_refused_by_replay_with_exit_2() {
    let trace = record("scenarios/echo-lossy.toml", 2, "tamper");
    let mut bytes = std::fs::read(&trace).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&trace, &bytes).unwrap();
    let o = dsim(&["replay", trace.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains(trace.to_str().unwrap()));
}

#[test]
fn the_determinism_check_passes_a_deterministic_scenario() {
    let o = dsim(&["run", "scenarios/echo-lossy.toml", "--check-determinism"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("gave identical traces"));
}

static RUNS: AtomicU64 = AtomicU64::new(0);

/// Leaks state between runs through a global: a classic source of
/// nondeterminism.
struct Leaky {
    ticks: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct Beat(u64);

impl Node for Leaky {
    type Msg = Beat;
    type Timer = u64;
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        ctx.set_timer(Duration::from_millis(5), 0);
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Beat) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, _: u64) {
        self.ticks += 1;
        let leaked = if self.ticks == 3 {
            RUNS.fetch_add(1, Ordering::SeqCst)
        } else {
            0
        };
        ctx.broadcast(&Beat(leaked));
        if self.ticks < 5 {
            ctx.set_timer(Duration::from_millis(5), 0);
        }
    }
}

#[test]
fn a_node_made_nondeterministic_on_purpose_is_caught_at_the_first_differing_record() {
    let sim = Simulation::new(SimConfig::new(9, 3), |_| Leaky { ticks: 0 });
    let a = sim.run_traced(Vec::new(), None).unwrap().1;
    let b = sim.run_traced(Vec::new(), None).unwrap().1;
    let d = compare_traces(&a, &b, None)
        .unwrap()
        .expect("the leak must show");
    // The counter leaks into node 0's third-round messages: in the second
    // run it is never 0, so the first of those sends is where runs differ.
    let (_, second, _) = dsim::trace::read_all(&b, None).unwrap();
    let expected = second
        .iter()
        .position(|r| matches!(&r.kind, Kind::Send { node: NodeId(0), payload, .. } if payload.first().is_some_and(|b| *b != 0)))
        .unwrap();
    assert_eq!(d.index, expected);
    assert!(matches!(d.left.unwrap().kind, Kind::Send { .. }));
    // A deterministic run compares equal.
    let sim2 = Simulation::new(SimConfig::new(9, 3), |_| {
        common::Chatter::new(Duration::from_millis(3), 4)
    });
    let x = sim2.run_traced(Vec::new(), None).unwrap().1;
    let y = sim2.run_traced(Vec::new(), None).unwrap().1;
    assert_eq!(compare_traces(&x, &y, None).unwrap(), None);
}

#[test]
fn diff_shows_where_a_passing_and_a_failing_run_part_ways() {
    let pass = record("scenarios/echo-lossy.toml", 3, "diff-pass");
    let fail = record("scenarios/echo-bug-no-dedup.toml", 3, "diff-fail");
    let o = dsim(&["diff", pass.to_str().unwrap(), fail.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("differ     first at record #55"), "{t}");
    assert!(t.contains("after the divergence:"), "{t}");
    assert!(t.contains("fails `at-most-once`"), "{t}");
    let same = dsim(&["diff", pass.to_str().unwrap(), pass.to_str().unwrap()]);
    assert_eq!(same.status.code(), Some(0), "{}", text(&same));
}

#[test]
fn a_keyed_trace_diffs_against_an_unkeyed_one_with_its_key() {
    // Before, `--key` applied to both sides, and an unkeyed trace refuses a
    // key: a signed run could not be diffed against an unsigned one.
    let pass = record("scenarios/echo-lossy.toml", 3, "diff-key-pass");
    let keyed = tmp("diff-key-fail").join("t.trace");
    let o = dsim(&[
        "run",
        "scenarios/echo-bug-no-dedup.toml",
        "--seed",
        "3",
        "--trace",
        keyed.to_str().unwrap(),
        "--key",
        "sesame",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let (pass, keyed) = (pass.to_str().unwrap(), keyed.to_str().unwrap());
    for (a, b) in [(pass, keyed), (keyed, pass)] {
        let o = dsim(&["diff", a, b, "--key", "sesame"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(
            text(&o).contains("differ     first at record #55"),
            "{}",
            text(&o)
        );
        let unkeyed = format!("header     {pass} is not keyed: read without --key");
        assert!(text(&o).contains(&unkeyed), "{}", text(&o));
    }
    // Without the key, the keyed side is refused; with a wrong one, it
    // fails to verify; a key for two unkeyed traces is refused.
    for args in [
        vec!["diff", pass, keyed],
        vec!["diff", pass, keyed, "--key", "wrong"],
        vec!["diff", pass, pass, "--key", "sesame"],
    ] {
        let o = dsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
    }
}

/// Traces of two protocols (a protocol and a twin registered under
/// another name, say): each side's messages read by its own protocol,
/// where before neither was decoded.
#[test]
fn diff_of_two_protocols_reads_each_side_by_its_own() {
    let sync = record("scenarios/twophase-minimal.toml", 1, "diff-sync");
    let scenario = tmp("diff-async-scenario").join("async.toml");
    let text_of = std::fs::read_to_string("scenarios/twophase-minimal.toml").unwrap();
    std::fs::write(
        &scenario,
        text_of.replace("protocol = \"twophase\"", "protocol = \"async-twophase\""),
    )
    .unwrap();
    let task = record(scenario.to_str().unwrap(), 1, "diff-async");
    let o = dsim(&["diff", sync.to_str().unwrap(), task.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        t.contains("left       #000003") && t.contains("Prepare { tx: 0 }\n"),
        "{t}"
    );
    assert!(t.contains("Call(0, Prepare { tx: 0 })\n"), "{t}");
}

#[test]
fn a_sweep_asked_to_runs_every_seed_twice_and_fails_one_that_differs() {
    // A protocol that passes every seed but never runs the same way twice:
    // a plain sweep passes it (only failing seeds run twice); asked to
    // check determinism, the sweep fails every seed.
    let dir = tmp("sweep-determinism");
    let mut registry = dsim::protocols::Registry::empty();
    registry.add(dsim::protocols::Spec::new(
        "leaky",
        "leaks a global",
        |c, _| Ok(Simulation::new(c, |_| common::Leaky)),
    ));
    registry.add(dsim::protocols::Spec::new("steady", "chatters", |c, _| {
        Ok(Simulation::new(c, |_| {
            common::Chatter::new(Duration::from_millis(3), 2)
        }))
    }));
    let sweep = |protocol: &str, extra: &[&str]| {
        let scenario = dir.join(format!("{protocol}.toml"));
        std::fs::write(&scenario, format!("protocol = \"{protocol}\"\nnodes = 3\n")).unwrap();
        let out = dir.join(format!("out-{protocol}-{}", extra.len()));
        let mut args = vec![
            "dsim",
            "sweep",
            scenario.to_str().unwrap(),
            "--seeds",
            "0..20",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let code = dsim::cli::run_with(&registry, args);
        let summary: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap())
                .unwrap();
        (code, summary)
    };
    let (code, _) = sweep("leaky", &[]);
    assert_eq!(code, 0, "a plain sweep runs a passing seed once");
    let (code, summary) = sweep("leaky", &["--check-determinism"]);
    assert_eq!(code, 1);
    assert_eq!(summary["failures_by_check"]["determinism"], 20, "{summary}");
    assert_eq!(summary["identity"]["determinism"], true, "{summary}");
    // Each failing seed's trace is kept.
    let kept = std::fs::read_dir(dir.join("out-leaky-1"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "trace")
        })
        .count();
    assert_eq!(kept, 20);
    let (code, summary) = sweep("steady", &["--check-determinism"]);
    assert_eq!(code, 0, "{summary}");
    // A sweep checked for determinism is not resumed as one that was not.
    let resumed = dir.join("out-leaky-1");
    let code = dsim::cli::run_with(
        &registry,
        [
            "dsim",
            "sweep",
            dir.join("leaky.toml").to_str().unwrap(),
            "--seeds",
            "0..20",
            "--out",
            dir.join("resumed").to_str().unwrap(),
            "--resume",
            resumed.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2);
}

/// A run that follows a schedule recorded under a partition, without the
/// partition (what a shrinker tries when it takes the partition away):
/// the messages the partition cut as they were sent never went on the
/// network in the recording, so they travel as the network makes them
/// travel, not held until the recording ended (a partition of the
/// schedule's own making, which made a shrunk run fail for a fault it no
/// longer listed).
#[test]
fn a_message_cut_at_its_send_by_a_partition_a_full_mailbox_or_no_route_travels_when_the_cut_is_gone(
) {
    use dsim::network::LossCause;
    use dsim::{Fault, FaultAction, Latency, PartitionSpec};
    // Each way a message is lost as it is sent (a partition, a full
    // mailbox, no route) leaves it no recorded time on the network;
    // followed without that cut, it travels as the link says.
    for cause in [
        LossCause::Partition,
        LossCause::MailboxFull,
        LossCause::NoRoute,
    ] {
        let (min, max) = match cause {
            // Slow enough that two copies share a link's one-slot mailbox.
            LossCause::MailboxFull => (Duration::from_millis(15), Duration::from_millis(25)),
            _ => (Duration::from_millis(1), Duration::from_millis(5)),
        };
        let config = |cut: bool| {
            let mut config = SimConfig::new(4, 3);
            config.network.default.latency = Latency::Uniform { min, max };
            if !cut {
                return config;
            }
            match cause {
                LossCause::Partition => {
                    config.faults.push(Fault {
                        after: None,
                        at: Duration::from_millis(45),
                        action: FaultAction::Partition {
                            id: 1,
                            spec: PartitionSpec::Groups(vec![vec![NodeId(0)]]),
                        },
                    });
                    config.faults.push(Fault {
                        after: None,
                        at: Duration::from_millis(125),
                        action: FaultAction::Heal { id: Some(1) },
                    });
                }
                LossCause::MailboxFull => config.network.default.capacity = Some(1),
                _ => config.network.topology = Some(vec![(NodeId(0), NodeId(1))]),
            }
            config
        };
        let chatter = |_| common::Chatter::new(Duration::from_millis(10), 20);
        let recording = Simulation::new(config(true), chatter)
            .run_traced(Vec::new(), None)
            .unwrap()
            .1;
        let (_, records, _) = dsim::trace::read_all(&recording, None).unwrap();
        let cut = records
            .iter()
            .filter(|r| matches!(r.kind, Kind::Lost { cause: c, .. } if c == cause))
            .count();
        assert!(cut >= 30, "{cause:?} cut {cut} messages");
        for by_content in [false, true] {
            let mut schedule = dsim::replay::schedule_from(&records);
            schedule.by_content = by_content;
            let mut sim = Simulation::new(config(false), chatter);
            sim.follow(std::sync::Arc::new(schedule));
            let (outcome, trace) = sim.run_traced(Vec::new(), None).unwrap();
            let what = format!("{cause:?}, by content {by_content}");
            delivered_within(&trace, min, max, &what);
            assert_eq!(outcome.stats.lost.values().sum::<u64>(), 0, "{cause:?}");
        }
    }
}

/// Two seeds of a scenario with ranges part ways first of all in what
/// each drew: diff says so before the first differing record.
#[test]
fn diff_of_two_seeds_names_what_each_drew_where_they_differ() {
    let scenario = "scenarios/raft-bug-vote-without-log-check.toml";
    let a = record(scenario, 0, "drawn-0");
    let b = record(scenario, 1, "drawn-1");
    let t = text(&dsim(&["diff", a.to_str().unwrap(), b.to_str().unwrap()]));
    let again = tmp("drawn-again");
    let drawn = |seed: &str| {
        let trace = again.join(format!("{seed}.trace"));
        let o = dsim(&[
            "run",
            scenario,
            "--seed",
            seed,
            "--trace",
            trace.to_str().unwrap(),
        ]);
        let line = text(&o)
            .lines()
            .find(|l| l.starts_with("drawn"))
            .unwrap()
            .to_string();
        let first = line.trim_start_matches("drawn").trim().split(", ").next();
        first.unwrap().split(" = ").nth(1).unwrap().to_string()
    };
    let expected = format!(
        "header     drawn fault.0.at: {} vs {}",
        drawn("0"),
        drawn("1")
    );
    assert!(t.contains(&expected), "{expected}\n{t}");
    // A seed against itself: nothing drawn differs.
    let t = text(&dsim(&["diff", a.to_str().unwrap(), a.to_str().unwrap()]));
    assert!(!t.contains("drawn"), "{t}");
}

/// Checks that every message `trace` sends is delivered, each within
/// `min..=max` of its send (`what` names the case); how many were.
fn delivered_within(trace: &[u8], min: Duration, max: Duration, what: &str) -> usize {
    let (_, run, _) = dsim::trace::read_all(trace, None).unwrap();
    let mut sent = std::collections::BTreeMap::new();
    let mut delivered = 0;
    for r in &run {
        match r.kind {
            Kind::Send { msg, .. } => {
                sent.insert(msg, r.time);
            }
            Kind::Deliver { msg, .. } => {
                let took = r.time.since(sent.remove(&msg).unwrap());
                assert!(
                    (min..=max).contains(&took),
                    "{what}: m{msg} took {took} (the link takes {min}-{max})"
                );
                delivered += 1;
            }
            _ => {}
        }
    }
    assert!(sent.is_empty(), "{what}: never delivered: {sent:?}");
    delivered
}

/// A message still in flight when the recording ended took longer than it
/// had been on its way; a run that sends the same bytes earlier (a
/// shrinker's, matching by content) gets it that much later, not held
/// until the recording's end: a hold the shrunk run would suffer without
/// listing it (a Go-Back-N stream's resend so held on a FIFO link held
/// back every later one, and a shrunk liveness failure listed 4 losses
/// where its messages had 11).
#[test]
fn a_message_in_flight_when_the_recording_ended_is_late_by_as_much_not_held_to_its_end() {
    use dsim::Latency;
    let (min, max) = (Duration::from_millis(8), Duration::from_millis(12));
    let config = |limit_ms: u64| {
        let mut config = SimConfig::new(4, 3);
        config.network.default.latency = Latency::Uniform { min, max };
        config.limits.time = Duration::from_millis(limit_ms);
        config
    };
    // Rounds every 10 ms, cut at 95 ms: round 9's messages, sent at 90 ms,
    // are still on their way.
    let recording = Simulation::new(config(95), |_| {
        common::Chatter::new(Duration::from_millis(10), 9)
    })
    .run_traced(Vec::new(), None)
    .unwrap()
    .1;
    let (_, records, _) = dsim::trace::read_all(&recording, None).unwrap();
    let schedule = dsim::replay::schedule_from(&records);
    let unseen: Vec<Duration> = schedule
        .links
        .values()
        .flatten()
        .filter_map(|f| f.unseen_for)
        .collect();
    assert_eq!(
        unseen,
        vec![Duration::from_millis(5); 6],
        "round 9's six sends"
    );
    // The same run, following its recording by position: identical.
    let mut again = Simulation::new(config(95), |_| {
        common::Chatter::new(Duration::from_millis(10), 9)
    });
    again.follow(std::sync::Arc::new(dsim::replay::schedule_from(&records)));
    assert_eq!(again.run_traced(Vec::new(), None).unwrap().1, recording);
    // Rounds every 5 ms, matched by content: round 9 goes at 45 ms and
    // takes no longer than the link allows (it had taken more than 5 ms).
    let mut schedule = schedule;
    schedule.by_content = true;
    let mut faster = Simulation::new(config(200), |_| {
        common::Chatter::new(Duration::from_millis(5), 9)
    });
    faster.follow(std::sync::Arc::new(schedule));
    let (outcome, trace) = faster.run_traced(Vec::new(), None).unwrap();
    assert_eq!(delivered_within(&trace, min, max, "faster rounds"), 9 * 6);
    assert_eq!(outcome.stats.lost.values().sum::<u64>(), 0);
}

/// A copy a full mailbox evicted had not arrived by then, and no more is
/// known of it: followed where no mailbox fills, it arrives within what
/// the link allows, not held until the recording's end.
#[test]
fn a_message_a_full_mailbox_evicted_travels_when_the_mailbox_has_room() {
    use dsim::network::{LossCause, Overflow};
    use dsim::Latency;
    let (min, max) = (Duration::from_millis(15), Duration::from_millis(25));
    let config = |capacity: Option<u32>| {
        let mut config = SimConfig::new(4, 3);
        config.network.default.latency = Latency::Uniform { min, max };
        config.network.default.capacity = capacity;
        config.network.default.overflow = Overflow::DropOldest;
        config
    };
    let chatter = |_| common::Chatter::new(Duration::from_millis(10), 20);
    let recording = Simulation::new(config(Some(1)), chatter)
        .run_traced(Vec::new(), None)
        .unwrap()
        .1;
    let (_, records, _) = dsim::trace::read_all(&recording, None).unwrap();
    let evicted = records
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                Kind::Lost {
                    cause: LossCause::MailboxFull,
                    ..
                }
            )
        })
        .count();
    assert!(evicted >= 20, "{evicted} evicted");
    let mut schedule = dsim::replay::schedule_from(&records);
    schedule.by_content = true;
    let mut roomy = Simulation::new(config(None), chatter);
    roomy.follow(std::sync::Arc::new(schedule));
    let (outcome, trace) = roomy.run_traced(Vec::new(), None).unwrap();
    delivered_within(&trace, min, max, "room in every mailbox");
    assert_eq!(outcome.stats.lost.values().sum::<u64>(), 0);
}
