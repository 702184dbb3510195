//! The regression corpus: every trace under traces/ still behaves as
//! recorded (see traces/README.md).

use crate::common;

use common::{dsim, text, tmp, Leaky};

use dsim::protocols::{Registry, RunOptions, Spec};
use dsim::{Context, Node, NodeId, Simulation};
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Expect {
    fails: Option<String>,
    fixed: Option<String>,
}

fn expectation(trace: &Path) -> Expect {
    let name = trace
        .file_name()
        .unwrap()
        .to_string_lossy()
        .trim_end_matches(".trace")
        .to_string();
    let path = trace.with_file_name(format!("{name}.expect"));
    match std::fs::read_to_string(&path) {
        Ok(t) => toml::from_str(&t).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        Err(_) => Expect::default(),
    }
}

#[test]
fn every_trace_in_the_corpus_still_behaves_as_recorded() {
    // The same rules a user's crate gets from `dsim::testing::assert_corpus`.
    let replayed = dsim::testing::assert_corpus(&Registry::builtin(), "traces");
    assert!(
        replayed.len() >= 7,
        "the corpus holds a shrunk failure of every broken twin and a passing run"
    );
    // Every recorded failure is replayed, and with an `.expect` naming a
    // fixed scenario, that scenario is run against its schedule.
    for t in &replayed {
        let bytes = std::fs::read(&t.file).unwrap();
        let (_, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
        if let Some((_, check, _)) = dsim::trace::first_failure(&records) {
            assert!(
                t.summary
                    .starts_with(&format!("fails `{check}` as recorded, record for record")),
                "{}: {}",
                t.file.display(),
                t.summary
            );
            let expect = expectation(&t.file);
            if let Some(want) = &expect.fails {
                assert_eq!(want, check, "{}", t.file.display());
            }
            if expect.fixed.is_some() {
                assert!(
                    t.summary.contains("passes against its schedule"),
                    "{}: {}",
                    t.file.display(),
                    t.summary
                );
            }
        }
    }
    // What the command line says of a fixed scenario agrees.
    let f = dsim(&[
        "replay",
        "traces/broadcast-bug-no-dedup-seed-0.min.trace",
        "--schedule",
        "--scenario",
        "scenarios/broadcast-lossy.toml",
    ]);
    assert_eq!(f.status.code(), Some(0), "{}", text(&f));
    assert!(
        text(&f).contains("the original failure no longer occurs"),
        "{}",
        text(&f)
    );
}

/// A user's protocol for the corpus tests: each node sends `copies`
/// messages to the next; `at-most-one` fails when a node hears more than one.
struct Tally {
    copies: u32,
    heard: u32,
}

impl Node for Tally {
    type Msg = u32;
    type Timer = ();
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let next = NodeId((ctx.id().0 + 1) % ctx.node_count());
        for i in 0..self.copies {
            ctx.send(next, &i);
        }
    }
    fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: u32) {
        self.heard += 1;
    }
}

fn tally(name: &str, copies: u32) -> Spec<Tally> {
    tally_checking(name, copies, "at-most-one")
}

/// `tally`, its check under the name `check`.
fn tally_checking(name: &str, copies: u32, check: &'static str) -> Spec<Tally> {
    Spec::new(name, "each node sends to the next", move |config, _| {
        Ok(
            Simulation::new(config, move |_| Tally { copies, heard: 0 }).always(
                check,
                "no node hears more than one message",
                |v| match v.up().find(|(_, t)| t.heard > 1) {
                    Some((id, t)) => Err(format!("{id} heard {}", t.heard)),
                    None => Ok(()),
                },
            ),
        )
    })
}

fn tally_registry(bug_copies: u32) -> Registry {
    let mut r = Registry::empty();
    r.add(tally("tally", 1));
    r.add(tally("tally-bug", bug_copies));
    r
}

/// Runs `scenario` (written to `dir/NAME.toml`) as `dsim run` would and
/// keeps its trace at `dir/NAME.trace`.
fn record(registry: &Registry, dir: &Path, name: &str, scenario: &str) -> PathBuf {
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, scenario).unwrap();
    let s = dsim::scenario::Scenario::load(&file, registry).unwrap();
    let r = s.resolve(3).unwrap();
    let mut bytes = Vec::new();
    registry
        .get(&s.protocol)
        .unwrap()
        .run(
            r.config,
            &r.params,
            RunOptions {
                trace: Some(&mut bytes),
                key: None,
                invariants: r.invariants,
                schedule: None,
                progress: None,
                stop: None,
                linearizable: r.linearizable,
                answered: r.answered,
                digest: false,
                first_failure_only: false,
            },
        )
        .unwrap();
    let trace = dir.join(format!("{name}.trace"));
    std::fs::write(&trace, bytes).unwrap();
    trace
}

const NET: &str =
    "nodes = 3\n[network]\nlatency = { dist = \"uniform\", min = \"1ms\", max = \"9ms\" }\n";

/// A corpus of a user's own: a failure of the twin with its fix named, and
/// a passing run. Returns (corpus, the failing trace, the fixed scenario).
fn user_corpus(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = tmp(name);
    let corpus = dir.join("traces");
    std::fs::create_dir_all(&corpus).unwrap();
    let registry = tally_registry(2);
    let fixed = dir.join("tally.toml");
    std::fs::write(&fixed, format!("protocol = \"tally\"\n{NET}")).unwrap();
    let bug = record(
        &registry,
        &corpus,
        "bug",
        &format!("protocol = \"tally-bug\"\n{NET}"),
    );
    std::fs::write(
        corpus.join("bug.expect"),
        format!(
            "fails = \"at-most-one\"\nfixed = {:?}\n",
            fixed.display().to_string()
        ),
    )
    .unwrap();
    record(
        &registry,
        &corpus,
        "ok",
        &format!("protocol = \"tally\"\n{NET}"),
    );
    // The scenarios `record` wrote are not traces; the corpus ignores them.
    (corpus, bug, fixed)
}

/// Every problem the corpus in `dir` shows, in file order.
fn problems(registry: &Registry, dir: &Path) -> Vec<String> {
    dsim::testing::replay_corpus(registry, dir)
        .unwrap()
        .into_iter()
        .flat_map(|r| r.problems)
        .collect()
}

#[test]
fn a_users_own_corpus_replays_under_the_same_rules() {
    let (corpus, _, _) = user_corpus("own-corpus");
    let replayed = dsim::testing::assert_corpus(&tally_registry(2), &corpus);
    let summaries: Vec<&str> = replayed.iter().map(|r| r.summary.as_str()).collect();
    assert_eq!(replayed.len(), 2, "{summaries:?}");
    assert!(
        summaries[0].starts_with(
            "fails `at-most-one` as recorded, record for record (by its scenario and seed)"
        ) && summaries[0].ends_with("tally.toml passes against its schedule"),
        "{summaries:?}"
    );
    assert_eq!(
        summaries[1],
        "replays record for record (by its scenario and seed)"
    );
}

#[test]
fn a_corpus_says_every_way_a_trace_no_longer_behaves_as_recorded() {
    let (corpus, bug, fixed) = user_corpus("broken-corpus");
    let one = |registry: &Registry| -> String {
        let p = problems(registry, &corpus);
        assert_eq!(p.len(), 1, "{p:#?}");
        p[0].clone()
    };
    // The protocol changed under the trace's name: its run differs.
    let p = one(&tally_registry(3));
    assert!(
        p.starts_with("it no longer replays record for record (by its scenario and seed): the first differing record is #")
            && p.contains("the rerun fails `at-most-one`"),
        "{p}"
    );
    // The scenario named as the fix does not fix it.
    let expect = corpus.join("bug.expect");
    let bug_scenario = corpus.join("bug.toml");
    std::fs::write(
        &expect,
        format!(
            "fails = \"at-most-one\"\nfixed = {:?}\n",
            bug_scenario.display().to_string()
        ),
    )
    .unwrap();
    let p = one(&tally_registry(2));
    assert!(
        p.contains("bug.toml still fails `at-most-one` at record")
            && p.ends_with("(the recorded failure)"),
        "{p}"
    );
    // The scenario named as the fix no longer checks what failed: it
    // shows nothing mended.
    let unchecked = corpus.join("unchecked.toml");
    std::fs::write(
        &unchecked,
        format!("protocol = \"tally\"\n{NET}[check]\ninvariants = []\n"),
    )
    .unwrap();
    std::fs::write(
        &expect,
        format!(
            "fails = \"at-most-one\"\nfixed = {:?}\n",
            unchecked.display().to_string()
        ),
    )
    .unwrap();
    let p = one(&tally_registry(2));
    assert!(
        p.contains(
            "unchecked.toml no longer fails, but `at-most-one` is not among the checks it runs"
        ),
        "{p}"
    );
    // The expectation names another check.
    std::fs::write(&expect, "fails = \"no-loss\"\n").unwrap();
    let p = one(&tally_registry(2));
    assert!(
        p.contains("it records a failure of `at-most-one`, where") && p.ends_with("says `no-loss`"),
        "{p}"
    );
    // A misspelt expectation is reported with its place.
    std::fs::write(&expect, "fail = \"at-most-one\"\n").unwrap();
    let p = one(&tally_registry(2));
    assert!(
        p.contains("bug.expect") && p.contains("unknown field `fail`"),
        "{p}"
    );
    // A passing trace said to fail, and given a fix.
    std::fs::write(
        corpus.join("ok.expect"),
        format!(
            "fails = \"at-most-one\"\nfixed = {:?}\n",
            fixed.display().to_string()
        ),
    )
    .unwrap();
    std::fs::write(&expect, "fails = \"at-most-one\"\n").unwrap();
    let p = problems(&tally_registry(2), &corpus);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("it records no failure, where"), "{p:#?}");
    assert!(
        p[1].contains("but the trace records no failure for it to mend"),
        "{p:#?}"
    );
    std::fs::remove_file(corpus.join("ok.expect")).unwrap();
    // A trace cut short, and an expectation whose trace is gone.
    let bytes = std::fs::read(&bug).unwrap();
    std::fs::write(&bug, &bytes[..bytes.len() / 2]).unwrap();
    std::fs::write(corpus.join("gone.expect"), "fails = \"at-most-one\"\n").unwrap();
    let p = problems(&tally_registry(2), &corpus);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].contains("bug.trace"), "{p:#?}");
    assert!(
        p[1].contains("gone.expect has no trace beside it"),
        "{p:#?}"
    );
    // And `assert_corpus` fails on any of it, naming the files.
    let err =
        std::panic::catch_unwind(|| dsim::testing::assert_corpus(&tally_registry(2), &corpus))
            .expect_err("a corpus with problems fails");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.starts_with("2 of 3 corpus files no longer behave as recorded")
            && msg.contains("gone.expect"),
        "{msg}"
    );
}

#[test]
fn a_protocol_fixed_in_place_keeps_its_trace_as_a_regression() {
    // The twin's bug mended under its own name (it now sends one copy): the
    // recorded failure no longer replays, and the corpus says how to record
    // the fix.
    let (corpus, _, _) = user_corpus("fixed-in-place");
    let expect = corpus.join("bug.expect");
    std::fs::write(&expect, "fails = \"at-most-one\"\n").unwrap();
    let mended = tally_registry(1);
    let p = problems(&mended, &corpus);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("the rerun passes every check: if the protocol has been fixed since, say so with `fixed_in_place = true` in"),
        "{p:#?}"
    );
    // Said so, its schedule must pass with the protocol as it is now.
    std::fs::write(&expect, "fails = \"at-most-one\"\nfixed_in_place = true\n").unwrap();
    let replayed = dsim::testing::assert_corpus(&mended, &corpus);
    assert_eq!(
        replayed[0].summary,
        "failed `at-most-one` when recorded; fixed in place, it passes against its recorded schedule"
    );
    // And it catches the bug coming back.
    let p = problems(&tally_registry(2), &corpus);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("says its protocol was fixed in place, but against its recorded schedule it still fails `at-most-one` at record"),
        "{p:#?}"
    );
    // Mended where its run no longer checks what failed (the check renamed):
    // nothing shows the failure mended.
    let mut renamed = Registry::empty();
    renamed.add(tally("tally", 1));
    renamed.add(tally_checking("tally-bug", 1, "one-at-most"));
    let p = problems(&renamed, &corpus);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("says its protocol was fixed in place, and against its recorded schedule it no longer fails, but `at-most-one` is not among the checks it runs: the run does not show the failure mended"),
        "{p:#?}"
    );
    // A passing trace cannot have been fixed.
    std::fs::write(corpus.join("ok.expect"), "fixed_in_place = true\n").unwrap();
    let p = problems(&mended, &corpus);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("says the protocol was fixed in place, but the trace records no failure"),
        "{p:#?}"
    );
}

#[test]
fn a_trace_that_does_not_carry_its_scenario_is_reported_not_skipped() {
    // A simulation built in a test, as a property test's `check` runs it.
    let dir = tmp("no-scenario");
    let file = std::fs::File::create(dir.join("bare.trace")).unwrap();
    Simulation::new(dsim::SimConfig::new(1, 3), |_| Tally {
        copies: 1,
        heard: 0,
    })
    .run_traced(file, None)
    .unwrap();
    let replayed = dsim::testing::replay_corpus(&tally_registry(2), &dir).unwrap();
    assert_eq!(replayed.len(), 1);
    assert!(
        replayed[0].problems[0]
            .contains("the trace does not carry its scenario, so it cannot be rerun"),
        "{:?}",
        replayed[0].problems
    );
}

#[test]
fn a_protocol_that_does_not_run_the_same_way_twice_is_told_from_one_that_changed() {
    let dir = tmp("unsteady-corpus");
    let mut registry = Registry::empty();
    registry.add(Spec::new("leaky", "leaks a global", |config, _| {
        Ok(Simulation::new(config, |_| Leaky))
    }));
    record(
        &registry,
        &dir,
        "leaky",
        "protocol = \"leaky\"\nnodes = 2\n",
    );
    let replayed = dsim::testing::replay_corpus(&registry, &dir).unwrap();
    let p = &replayed[0].problems;
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with("it does not replay the same way twice (by its scenario and seed): two reruns differ from each other first at record #")
            && p[0].contains("look for: wall-clock reads, hash-map iteration order"),
        "{p:#?}"
    );
    // A protocol that changed, but runs the same way each time, is not
    // called nondeterministic.
    let (corpus, _, _) = user_corpus("changed-corpus");
    let p = problems(&tally_registry(3), &corpus);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(!p[0].contains("same way twice"), "{p:#?}");
}

#[test]
fn an_empty_corpus_fails_rather_than_checking_nothing() {
    let dir = tmp("empty-corpus");
    std::fs::write(dir.join("notes.md"), "no traces yet").unwrap();
    let err = std::panic::catch_unwind(|| dsim::testing::assert_corpus(&tally_registry(2), &dir))
        .expect_err("an empty corpus fails");
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("no `*.trace` in the corpus, so it checks nothing"),
        "{msg}"
    );
    let missing = dir.join("nowhere");
    let err = dsim::testing::replay_corpus(&tally_registry(2), &missing).unwrap_err();
    assert!(err.contains("nowhere: cannot read the corpus"), "{err}");
}

#[test]
fn a_trace_of_an_older_format_is_still_checked_shown_and_replayed() {
    // Recorded in format 3, whose deliveries list the clock entries each
    // merge raised (format 5 records a digest instead).
    let old = "traces/echo-lossy-seed-1.pass.trace";
    let bytes = std::fs::read(old).unwrap();
    let (header, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    assert_eq!(header.format_version, 3);
    assert!(records.iter().any(|r| matches!(
        &r.kind,
        dsim::trace::Kind::Deliver { vc: dsim::trace::DeliveryClock::Raised(v), .. } if !v.is_empty()
    )));
    let o = dsim(&["check", old]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("vector-clocks  ok"), "{}", text(&o));
    let o = dsim(&["replay", old]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    // Its seed drew fates the older way: it is replayed by its schedule.
    assert!(
        out.contains("the run matches the recording record for record"),
        "{out}"
    );
    assert!(
        out.contains("recorded in trace format 3, by an older dsim"),
        "{out}"
    );
    assert!(out.contains("replayed by its recorded schedule"), "{out}");
    assert!(
        out.contains("compared without their vector clocks"),
        "{out}"
    );
    // The same run written anew by the replay records digests, and `dsim
    // show` lists the same raised entries for both.
    let dir = tmp("corpus-old");
    let new = dir.join("new.trace");
    let o = dsim(&["replay", old, "-o", new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // The run written anew replays by its schedule too, record for record.
    let o = dsim(&["replay", new.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("the run matches the recording record for record"),
        "{}",
        text(&o)
    );
    // Not over its input.
    let o = dsim(&["replay", old, "-o", old]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let (header, records, _) = dsim::trace::read_all(&std::fs::read(&new).unwrap(), None).unwrap();
    assert_eq!(header.format_version, dsim::trace::FORMAT_VERSION);
    assert!(records.iter().all(|r| !matches!(
        &r.kind,
        dsim::trace::Kind::Deliver { vc, .. } if !matches!(vc, dsim::trace::DeliveryClock::Digest(_))
    )));
    // `dsim diff` of the two recordings of one run: identical, once the
    // clocks (recorded two ways) are set aside, and it says so.
    let o = dsim(&["diff", old, new.to_str().unwrap()]);
    let out = text(&o);
    assert!(out.contains("trace format 3 vs 6"), "{out}");
    assert!(
        out.contains("compared without their vector clocks"),
        "{out}"
    );
    assert!(out.contains("record for record the same"), "{out}");
    let shown = |t: &str| text(&dsim(&["show", t]));
    assert_eq!(shown(old), shown(new.to_str().unwrap()));
    assert!(shown(old).contains("vc+["));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_command_line_replays_a_corpus_directory() {
    let o = dsim(&["replay", "traces"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(" behave as recorded, 0 do not"),
        "{}",
        text(&o)
    );
    // One trace that no longer behaves: exit 1, the trace named.
    let (corpus, _, _) = user_corpus("cli-corpus");
    let dir = corpus.to_str().unwrap();
    assert_eq!(
        dsim::cli::run_with(&tally_registry(2), ["dsim", "replay", dir]),
        0
    );
    assert_eq!(
        dsim::cli::run_with(&tally_registry(3), ["dsim", "replay", dir]),
        1
    );
    // An expectation that does not read, one that names a scenario that
    // is gone, and one with no trace beside it: the corpus is at fault,
    // not the protocol, so bad input, as a trace cut short is.
    let expect = corpus.join("bug.expect");
    let good = std::fs::read_to_string(&expect).unwrap();
    let gone = tmp("cli-corpus-gone").join("gone.toml");
    for (file, text) in [
        (&expect, "fails = \n".to_string()),
        (
            &expect,
            format!(
                "fails = \"at-most-one\"\nfixed = {:?}\n",
                gone.display().to_string()
            ),
        ),
        (&corpus.join("orphan.expect"), good.clone()),
    ] {
        std::fs::write(file, text).unwrap();
        assert_eq!(
            dsim::cli::run_with(&tally_registry(2), ["dsim", "replay", dir]),
            2,
            "{}",
            file.display()
        );
        std::fs::write(&expect, &good).unwrap();
        let _ = std::fs::remove_file(corpus.join("orphan.expect"));
    }
    assert_eq!(
        dsim::cli::run_with(&tally_registry(2), ["dsim", "replay", dir]),
        0
    );
    // A trace cut short in it: bad input, as for one trace.
    let bytes = std::fs::read(corpus.join("ok.trace")).unwrap();
    std::fs::write(corpus.join("ok.trace"), &bytes[..bytes.len() / 2]).unwrap();
    assert_eq!(
        dsim::cli::run_with(&tally_registry(2), ["dsim", "replay", dir]),
        2
    );
    // Options for one trace, and a directory with none: bad input.
    let o = dsim(&["replay", "traces", "--schedule"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let empty = tmp("cli-empty-corpus");
    let o = dsim(&["replay", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("checks nothing"), "{}", text(&o));
}
