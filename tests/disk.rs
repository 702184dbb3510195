//! A crash on a disk that may keep some writes not yet synced
//! (`DiskConfig::unsynced_kept`): a node that writes two keys that must
//! agree and syncs them later, together (group commit), is correct when a
//! crash loses every unsynced write and caught when it keeps some; the
//! trace says what each crash kept, replays record for record by its seed
//! and by its schedule, and `dsim check` refuses a disk record out of
//! place; exploration branches on what a crash keeps and its
//! counterexample replays.

use dsim::check::{audit, Options};
use dsim::explore::{search, Options as ExploreOptions};
use dsim::shrink::{Candidate, Runner as _};
use dsim::time::Duration;
use dsim::trace::{read_all, Kind, Record};
use dsim::{
    Budgets, Context, DiskConfig, Fault, FaultAction, Node, NodeId, Ppm, SimConfig, Simulation,
    Strategy,
};
use std::sync::Arc;

/// Counts in two keys that must agree, synced every third tick.
#[derive(Clone, Hash, Default)]
struct Pair {
    a: u64,
    b: u64,
    ticks: u64,
    /// The broken twin's fix: both counts under one key.
    one_key: bool,
    /// Also write the tick count, which nothing reads.
    extra: bool,
}

impl Node for Pair {
    type Msg = ();
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let d = ctx.disk();
        if self.one_key {
            (self.a, self.b) = d.read("ab").unwrap_or((0, 0));
        } else {
            self.a = d.read("a").unwrap_or(0);
            self.b = d.read("b").unwrap_or(0);
        }
        ctx.set_timer(Duration::from_millis(1), ());
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: ()) {}
    fn on_input(&mut self, _: &mut Context<'_, Self>, _: dsim::Input) {}
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: dsim::TimerId, _: ()) {
        self.a += 1;
        self.b += 1;
        self.ticks += 1;
        let d = ctx.disk();
        if self.one_key {
            d.write("ab", &(self.a, self.b));
        } else {
            d.write("a", &self.a);
            d.write("b", &self.b);
        }
        if self.extra {
            d.write("ticks", &self.ticks);
        }
        if self.ticks % 3 == 0 {
            d.sync();
        }
        ctx.set_timer(Duration::from_millis(1), ());
    }
}

fn pair(config: SimConfig, one_key: bool) -> Simulation<Pair> {
    pair_with(config, one_key, false)
}

fn pair_with(config: SimConfig, one_key: bool, extra: bool) -> Simulation<Pair> {
    Simulation::new(config, move |_| Pair {
        one_key,
        extra,
        ..Pair::default()
    })
    .always("agree", "the two counts agree", |v| {
        for (id, n) in v.up() {
            if n.a != n.b {
                return Err(format!("{id} holds a = {} and b = {}", n.a, n.b));
            }
        }
        Ok(())
    })
    .hashable()
    .cloneable()
}

/// One node, crashed at a time the seed draws and restarted 5 ms later.
fn crashing(seed: u64, kept: Ppm) -> SimConfig {
    let mut c = SimConfig::new(seed, 1);
    let at = 20 + seed % 7;
    c.faults = vec![
        Fault::at(
            Duration::from_millis(at),
            FaultAction::Crash { node: NodeId(0) },
        ),
        Fault::at(
            Duration::from_millis(at + 5),
            FaultAction::Restart { node: NodeId(0) },
        ),
    ];
    c.limits.time = Duration::from_millis(60);
    c.disk = DiskConfig {
        unsynced_kept: kept,
    };
    c
}

fn traced(sim: &Simulation<Pair>) -> (dsim::Outcome, Vec<u8>) {
    let mut bytes = Vec::new();
    let (out, _) = sim.run_traced(&mut bytes, None).unwrap();
    (out, bytes)
}

fn disk_records(bytes: &[u8]) -> Vec<(Vec<String>, Vec<String>)> {
    let (_, records, _) = read_all(bytes, None).unwrap();
    records
        .into_iter()
        .filter_map(|r| match r.kind {
            Kind::DiskAtCrash { kept, lost, .. } => Some((kept, lost)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_crash_that_loses_every_unsynced_write_hides_what_one_that_keeps_some_catches() {
    let half = Ppm(500_000);
    let mut caught = None;
    for seed in 0..40 {
        // Losing every unsynced write (the default), the twin passes, and
        // its traces say nothing of the disk.
        let (out, bytes) = traced(&pair(crashing(seed, Ppm::ZERO), false));
        assert!(out.pass().is_ok(), "seed {seed}: {:?}", out.failure);
        assert!(disk_records(&bytes).is_empty());
        // Keeping each with chance 1/2, the fix (one key) passes.
        let (out, _) = traced(&pair(crashing(seed, half), true));
        assert!(out.pass().is_ok(), "seed {seed}: {:?}", out.failure);
        let (out, bytes) = traced(&pair(crashing(seed, half), false));
        if let Some(f) = out.failure {
            assert_eq!(f.check, "agree");
            caught.get_or_insert((seed, bytes));
        }
    }
    let (seed, bytes) = caught.expect("a crash kept one count and lost the other");
    let (out, _) = traced(&pair(crashing(seed, half), false));
    assert_eq!((out.stats.unsynced_kept, out.stats.unsynced_lost), (1, 1));
    // The trace says which key the crash kept: one of the two, not both.
    let disk = disk_records(&bytes);
    assert_eq!(disk.len(), 1, "{disk:?}");
    let (kept, lost) = &disk[0];
    assert_eq!((kept.len(), lost.len()), (1, 1), "{disk:?}");
    // It checks clean, and reruns record for record from its seed.
    let report = audit(&bytes[..], &Options::default()).unwrap();
    assert!(report.holds(), "{report:#?}");
    let (_, again) = traced(&pair(crashing(seed, half), false));
    assert_eq!(again, bytes, "seed {seed} names one run");
    // Followed by its schedule, a run keeps what the recording kept
    // (whatever the disk stream would draw: another seed's stream here).
    let (_, records, _) = read_all(&bytes, None).unwrap();
    let mut other = crashing(seed, half);
    other.seed = seed + 1000;
    let mut sim = pair(other, false);
    sim.follow(Arc::new(dsim::replay::schedule_from(&records)));
    let (out, followed) = traced(&sim);
    assert_eq!(out.failure.map(|f| f.check), Some("agree".to_string()));
    assert_eq!(disk_records(&followed), disk);
}

#[test]
fn with_every_unsynced_write_kept_or_each_kept_alone_the_draws_say_so() {
    // A chance of 1 keeps every unsynced write: the counts agree (both
    // kept), and the node lost nothing since its last sync.
    for seed in 0..10 {
        let (out, bytes) = traced(&pair(crashing(seed, Ppm::ONE), false));
        assert!(out.pass().is_ok(), "seed {seed}: {:?}", out.failure);
        for (kept, lost) in disk_records(&bytes) {
            assert!(lost.is_empty() && !kept.is_empty());
        }
    }
}

#[test]
fn check_refuses_a_disk_record_out_of_place_or_with_lists_no_run_writes() {
    let (out, bytes) = (0..40)
        .map(|seed| traced(&pair(crashing(seed, Ppm(500_000)), false)))
        .find(|(o, _)| o.failure.is_some())
        .expect("a failing seed");
    assert!(out.failure.is_some());
    let (header, mut records, seal) = crate::common::unsealed(&bytes);
    // The chain is rebuilt, as a forger would.
    let forge = |records: &[Record<'static>]| crate::common::resealed(&header, records, &seal);
    let at = records
        .iter()
        .position(|r| matches!(r.kind, Kind::DiskAtCrash { .. }))
        .unwrap();
    let Kind::DiskAtCrash { kept, lost, .. } = records[at].kind.clone() else {
        unreachable!()
    };
    assert_eq!((kept.len(), lost.len()), (1, 1), "{kept:?} {lost:?}");
    // Untouched, it checks clean.
    let report = audit(&forge(&records)[..], &Options::default()).unwrap();
    assert!(report.integrity().holds(), "{report:#?}");
    // Lists no run writes: empty, a key both kept and lost, a key twice,
    // keys out of order.
    let lists = |k: &[&String], l: &[&String]| -> (Vec<String>, Vec<String>) {
        (
            k.iter().map(|s| s.to_string()).collect(),
            l.iter().map(|s| s.to_string()).collect(),
        )
    };
    let (a, b) = (&kept[0], &lost[0]);
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    for ((new_kept, new_lost), says) in [
        (lists(&[], &[]), "no write"),
        (lists(&[a], &[b, b]), "twice"),
        (lists(&[a], &[a]), "both kept and lost"),
        (lists(&[hi, lo], &[]), "out of order"),
    ] {
        let mut edited = records.clone();
        if let Kind::DiskAtCrash { kept, lost, .. } = &mut edited[at].kind {
            (*kept, *lost) = (new_kept, new_lost);
        }
        let report = audit(&forge(&edited)[..], &Options::default()).unwrap();
        let first = report.integrity().first.as_ref().expect(says);
        assert_eq!(first.record, at as u64, "{report:#?}");
        assert!(first.message.contains(says), "{says}: {}", first.message);
    }
    // Move the disk record one place later: it no longer follows the
    // crash.
    let moved: Record<'static> = records.remove(at);
    let mut moved = moved;
    moved.time = records[at].time;
    records.insert(at + 1, moved);
    let report = audit(&forge(&records)[..], &Options::default()).unwrap();
    let integrity = report.integrity();
    let first = integrity.first.as_ref().expect("caught");
    assert_eq!(first.record, at as u64 + 1, "{report:#?}");
    assert!(first.message.contains("crash"), "{}", first.message);
}

fn explored(kept: Ppm, one_key: bool) -> Simulation<Pair> {
    let mut c = SimConfig::new(0, 1);
    c.strategy = Strategy::Explore {
        path: Vec::new(),
        budgets: Budgets {
            crashes: 1,
            ..Budgets::default()
        },
    };
    c.disk = DiskConfig {
        unsynced_kept: kept,
    };
    pair(c, one_key)
}

#[test]
fn exploration_branches_on_what_a_crash_keeps_and_its_counterexample_replays() {
    let options = ExploreOptions {
        depth: 5,
        ..ExploreOptions::default()
    };
    // Losing every unsynced write, no path breaks the twin; nor, keeping
    // some, the fix.
    let r = search(&explored(Ppm::ZERO, false), &options).unwrap();
    assert!(r.violation.is_none(), "{r:?}");
    let r = search(&explored(Ppm(500_000), true), &options).unwrap();
    assert!(r.violation.is_none(), "{r:?}");
    // Keeping some, a crash after one tick that keeps one count is found.
    let r = search(&explored(Ppm(500_000), false), &options).unwrap();
    let f = r.violation.expect("a crash that keeps `a` and loses `b`");
    assert_eq!(f.check, "agree");
    assert!(
        f.steps.iter().any(
            |s| s == "crash n0 keeping a and losing b of its writes not yet synced"
                || s == "crash n0 keeping b and losing a of its writes not yet synced"
        ),
        "{:?}",
        f.steps
    );
    // Its path replays to the same failure.
    let mut c = SimConfig::new(0, 1);
    c.strategy = Strategy::Explore {
        path: f.path.clone(),
        budgets: Budgets {
            crashes: 1,
            ..Budgets::default()
        },
    };
    c.disk = DiskConfig {
        unsynced_kept: Ppm(500_000),
    };
    let (out, bytes) = traced(&pair(c, false));
    assert_eq!(out.failure.map(|f| f.check), Some("agree".to_string()));
    let disk = disk_records(&bytes);
    assert_eq!(disk.len(), 1, "{disk:?}");
    assert_eq!((disk[0].0.len(), disk[0].1.len()), (1, 1), "{disk:?}");
    // And by its recorded steps (what `dsim replay` of an explored trace
    // follows), the crash keeps the same key.
    let (_, records, _) = read_all(&bytes, None).unwrap();
    let steps = dsim::replay::explored_steps(&records);
    let crash = steps
        .iter()
        .flatten()
        .find_map(|s| match s {
            dsim::network::Step::Crash { kept, .. } => Some(*kept),
            _ => None,
        })
        .unwrap();
    let expected = if disk[0].0 == ["a"] { 0b01 } else { 0b10 };
    assert_eq!(crash, expected, "{disk:?}");
}

#[test]
fn property_tests_on_a_disk_that_keeps_some_unsynced_writes_catch_the_twin() {
    use dsim::testing::{cases, check, Bounds};
    use proptest::test_runner::{Config, TestError, TestRng, TestRunner};
    let run = |bounds: Bounds, one_key: bool| {
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: 200,
                failure_persistence: None,
                ..Config::default()
            },
            TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &[3; 32]),
        );
        match runner.run(&cases(bounds), |case| {
            check(&case, |config| pair(config, one_key))
        }) {
            Ok(()) => None,
            Err(TestError::Fail(why, case)) => Some((why.message().to_string(), case)),
            Err(e) => panic!("{e}"),
        }
    };
    let bounds = Bounds::default().no_partitions().no_skew();
    // By default a crash loses every unsynced write: the twin passes.
    assert!(run(bounds.clone(), false).is_none());
    let keeping = bounds.unsynced_kept(0.5);
    // Keeping some, the fix passes and the twin is caught, its case
    // saying so.
    assert!(run(keeping.clone(), true).is_none());
    let (why, case) = run(keeping, false).expect("the twin is caught");
    assert_eq!(case.disk.unsynced_kept, Ppm(500_000));
    assert!(why.contains("agree"), "{why}");
    assert!(why.contains("a crash keeps each unsynced write"), "{why}");
}

/// Shrinks through the library, as `dsim shrink` does for a registered
/// protocol.
struct PairRunner;

impl PairRunner {
    fn run(c: &Candidate, trace: Option<&mut Vec<u8>>) -> dsim::Outcome {
        let mut sim = pair_with(c.config.clone(), false, true);
        if let Some(s) = dsim::shrink::shared(c) {
            sim.follow(s);
        }
        match trace {
            Some(bytes) => sim.run_traced(bytes, None).unwrap().0,
            None => sim.run().unwrap(),
        }
    }
}

impl dsim::shrink::Runner for PairRunner {
    fn fails(&self, c: &Candidate) -> Option<dsim::trace::Stats> {
        let o = PairRunner::run(c, None);
        (o.failure?.check == "agree").then_some(o.stats)
    }
    fn record(&self, c: &Candidate) -> Option<dsim::network::Schedule> {
        let mut bytes = Vec::new();
        PairRunner::run(c, Some(&mut bytes));
        recorded_schedule(&bytes)
    }
}

/// A trace's schedule, followed by what each send carried, as shrink
/// follows it.
fn recorded_schedule(bytes: &[u8]) -> Option<dsim::network::Schedule> {
    let (_, records, _) = read_all(bytes, None).ok()?;
    let mut s = dsim::replay::schedule_from(&records);
    s.by_content = true;
    Some(s)
}

#[test]
fn shrink_loses_the_kept_writes_the_failure_does_not_need() {
    // A seed whose crash kept the unread tick count besides one count.
    let half = Ppm(500_000);
    let (config, bytes) = (0..200)
        .find_map(|seed| {
            let c = Candidate {
                config: crashing(seed, half),
                schedule: None,
            };
            let mut bytes = Vec::new();
            let o = PairRunner::run(&c, Some(&mut bytes));
            let kept = disk_records(&bytes).first()?.0.clone();
            (o.failure.is_some() && kept.len() == 2 && kept.contains(&"ticks".to_string()))
                .then_some((c.config, bytes))
        })
        .expect("a crash that kept a count and the ticks");
    let start = Candidate {
        config,
        schedule: recorded_schedule(&bytes),
    };
    let stats = PairRunner.fails(&start).expect("it fails as recorded");
    let before = dsim::shrink::Size::of(&start, &stats);
    assert_eq!(before.kept, 2);
    let failed_at = stats.time;
    let shrunk = dsim::shrink::Shrinker::new(
        start,
        &stats,
        dsim::shrink::Options::default(),
        &PairRunner,
        &mut |_| {},
    )
    .shrink(failed_at);
    assert_eq!(shrunk.after.kept, 1, "{:?}", shrunk.after);
    // Its run keeps one count alone, and fails.
    let mut bytes = Vec::new();
    let o = PairRunner::run(&shrunk.candidate, Some(&mut bytes));
    assert_eq!(o.failure.map(|f| f.check), Some("agree".to_string()));
    let disk = disk_records(&bytes);
    assert_eq!(disk.len(), 1, "{disk:?}");
    assert!(disk[0].0 == ["a"] || disk[0].0 == ["b"], "{disk:?}");
}

#[test]
fn dsim_run_says_what_the_crashes_kept_and_a_range_is_drawn_per_seed() {
    use crate::common::{dsim, text, tmp};
    let dir = tmp("run");
    let scenario = dir.join("raft-crashes-disk.toml");
    let base = std::fs::read_to_string("scenarios/raft-crashes.toml").unwrap();
    std::fs::write(
        &scenario,
        format!("{base}\n[disk]\nunsynced_kept = [0.25, 0.75]\n"),
    )
    .unwrap();
    let trace = dir.join("t.trace");
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "3",
        "--trace",
        trace.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    // Raft syncs before anything leaves a handler: nothing is unsynced at
    // a crash, and the run says so.
    assert!(
        t.contains("disk       at crashes, of the writes not yet synced, 0 kept and 0 lost (each kept with chance 0."),
        "{t}"
    );
    assert!(t.contains("disk.unsynced_kept = 0."), "{t}");
    // The trace's header keeps the draw too, with the run's other draws.
    let (header, _, _) = read_all(&std::fs::read(&trace).unwrap(), None).unwrap();
    let kept = &header.drawn["disk.unsynced_kept"];
    assert!(
        t.contains(&format!("disk.unsynced_kept = {kept}")),
        "{kept} {t}"
    );
}
