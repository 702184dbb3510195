//! The protocol library proves dsim finds real bugs: every correct protocol
//! passes 1,000 seeds of its fault scenario, every broken twin is caught
//! within 1,000 seeds by the expected check, and each caught failure's trace
//! replays to the same failure.

use crate::common;

use common::{dsim, text, tmp};

use std::path::PathBuf;

fn sweep(scenario: &str) -> (serde_json::Value, PathBuf) {
    let out = tmp(&scenario.replace('/', "_"));
    let o = dsim(&[
        "sweep",
        scenario,
        "--seeds",
        "0..1000",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{scenario}: {}",
        text(&o)
    );
    let summary = std::fs::read_to_string(out.join("summary.json")).unwrap();
    (serde_json::from_str(&summary).unwrap(), out)
}

/// (correct scenario, broken twin, the checks allowed to catch the twin)
const PAIRS: &[(&str, &str, &[&str])] = &[
    (
        "scenarios/echo-lossy.toml",
        "scenarios/echo-bug-no-dedup.toml",
        &["at-most-once"],
    ),
    (
        "scenarios/broadcast-lossy.toml",
        "scenarios/broadcast-bug-no-dedup.toml",
        &["no-duplicates"],
    ),
    (
        "scenarios/causal-reorder.toml",
        "scenarios/causal-bug-deliver-on-arrival.toml",
        &["causal-delivery"],
    ),
    (
        "scenarios/twophase-crash.toml",
        "scenarios/twophase-bug-commit-on-timeout.toml",
        &["atomicity", "commit-needs-all-votes"],
    ),
    (
        "scenarios/raft-partitions.toml",
        "scenarios/raft-bug-vote-without-log-check.toml",
        &[
            "leader-completeness",
            "state-machine-safety",
            "log-matching",
        ],
    ),
    (
        "scenarios/raft-crashes.toml",
        "scenarios/raft-bug-forget-vote.toml",
        &["election-safety"],
    ),
    (
        "scenarios/raft-crash-after-delivery.toml",
        "scenarios/raft-bug-forget-vote-after-delivery.toml",
        &["election-safety"],
    ),
];

#[test]
fn every_correct_protocol_passes_a_thousand_seeds_of_its_fault_scenario() {
    for (correct, _, _) in PAIRS {
        let (s, _) = sweep(correct);
        assert_eq!(s["run"], 1000, "{correct}");
        assert_eq!(s["failed"], 0, "{correct}: {}", s["failures_by_check"]);
    }
}

#[test]
fn every_broken_twin_is_caught_within_a_thousand_seeds_by_the_expected_check() {
    for (_, twin, checks) in PAIRS {
        let (s, out) = sweep(twin);
        let first = s["first_failing_seed"]
            .as_u64()
            .unwrap_or_else(|| panic!("{twin}: no seed of 1000 failed"));
        let outcome = s["outcomes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["seed"] == first)
            .unwrap();
        let check = outcome["failed_check"].as_str().unwrap();
        assert!(
            checks.contains(&check),
            "{twin}: caught by `{check}`, expected one of {checks:?}"
        );
        // The failure's trace replays to the same failure: by seed,
        // record for record, and by its recorded schedule.
        let trace = out.join(outcome["trace"].as_str().unwrap());
        let seed_replay = dsim(&["replay", trace.to_str().unwrap()]);
        assert_eq!(
            seed_replay.status.code(),
            Some(0),
            "{twin}: {}",
            text(&seed_replay)
        );
        let schedule_replay = dsim(&["replay", trace.to_str().unwrap(), "--schedule"]);
        assert_eq!(
            schedule_replay.status.code(),
            Some(1),
            "{twin}: {}",
            text(&schedule_replay)
        );
        assert!(
            text(&schedule_replay).contains("the original failure still occurs"),
            "{twin}: {}",
            text(&schedule_replay)
        );
        assert!(
            text(&schedule_replay).contains(&format!("FAILS `{check}`")),
            "{twin}: {}",
            text(&schedule_replay)
        );
    }
}

mod progress {
    //! The correct protocols are not vacuously safe: they do their job.
    use dsim::protocols::raft::{Raft, RaftSettings};
    use dsim::protocols::Registry;
    use dsim::scenario::Scenario;
    use dsim::{Duration, Simulation};

    #[test]
    fn raft_commits_most_client_writes_under_partitions_and_crashes() {
        let scenario = Scenario::load(
            "scenarios/raft-partitions.toml".as_ref(),
            &Registry::builtin(),
        )
        .unwrap();
        for seed in 0..20 {
            let run = scenario.resolve(seed).unwrap();
            let s = RaftSettings {
                election_min: Duration::from_millis(150),
                election_max: Duration::from_millis(300),
                heartbeat: Duration::from_millis(50),
                batch: 64,
                check_log: true,
                persist_vote: true,
                cluster: 0,
            };
            let sim = Simulation::new(run.config, move |_| Raft::<u64>::new(s)).at_end(
                "progress",
                "a leader was elected and entries committed",
                |v| {
                    let committed = v.up().map(|(_, n)| n.commit).max().unwrap_or(0);
                    if committed >= 40 {
                        Ok(())
                    } else {
                        Err(format!("only {committed} entries committed"))
                    }
                },
            );
            let outcome = sim.run().unwrap();
            assert_eq!(outcome.failure, None, "seed {seed}");
        }
    }
}

#[test]
fn a_correct_protocol_restarted_keeps_what_it_promised() {
    // A node crashed after it has acknowledged something, and restarted:
    // it must not forget it. The echo server would forget what it executed
    // (and execute a retry again). ABD's server would lose the pair a majority
    // was counted on to hold (its sequence going back); a broadcast node
    // what it delivered and broadcast, and what it still owed its peers; a
    // Bracha node its broadcasts (reusing their numbers for other values),
    // what it echoed and readied, and what was sent while it was down.
    for (name, node, marker) in [
        ("abd-quorums", 1, "AckRecord"),
        ("broadcast-lossy", 1, "Ack {"),
        ("broadcast-authenticated", 1, "Ack {"),
        ("bracha-mutate", 1, "Ready {"),
        ("bracha-twins", 1, "Ready {"),
        ("echo-lossy", 0, "Reply {"),
    ] {
        let dir = tmp(&format!("restart-{name}"));
        let base = std::fs::read_to_string(format!("scenarios/{name}.toml")).unwrap();
        let scenario = dir.join(format!("{name}.toml"));
        std::fs::write(
            &scenario,
            format!("{base}\n[[fault]]\nat = \"100ms\"\ncrash = {node}\n\n[[fault]]\nat = \"300ms\"\nrestart = {node}\n"),
        )
        .unwrap();
        let scenario = scenario.to_str().unwrap();
        let out = dir.join("sweep");
        let o = dsim(&[
            "sweep",
            scenario,
            "--seeds",
            "0..300",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        // In most seeds the node had acknowledged something before its
        // crash, so the sweep tested what it is meant to.
        let mut acked = 0;
        for seed in 0..10 {
            let t = dir.join(format!("{seed}.trace"));
            let r = dsim(&[
                "run",
                scenario,
                "--seed",
                &seed.to_string(),
                "--trace",
                t.to_str().unwrap(),
            ]);
            assert_eq!(r.status.code(), Some(0), "{name}: {}", text(&r));
            let timeline = text(&dsim(&["show", t.to_str().unwrap()]));
            let crash = timeline.find("crash").unwrap();
            acked += usize::from(
                timeline[..crash]
                    .lines()
                    .any(|l| l.contains(&format!("  n{node}  ")) && l.contains(marker)),
            );
        }
        assert!(
            acked >= 5,
            "{name}: only {acked} of 10 seeds had n{node} acknowledge before its crash"
        );
    }
}
