//! The regression corpus: every trace under traces/ still behaves as
//! recorded (see traces/README.md).

mod common;

use common::{dsim, files, text};

use std::path::Path;

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
    let traces = files("traces", "trace");
    assert!(
        traces.len() >= 7,
        "the corpus holds a shrunk failure of every broken twin and a passing run"
    );
    // Every expectation has its trace.
    for e in files("traces", "expect") {
        assert!(
            e.with_extension("trace").exists(),
            "{} has no trace beside it",
            e.display()
        );
    }
    for t in &traces {
        let file = t.to_str().unwrap();
        let bytes = std::fs::read(t).unwrap();
        let (_, records, _) =
            dsim::trace::read_all(&bytes, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        let recorded = records.iter().find_map(|r| match &r.kind {
            dsim::trace::Kind::CheckFailed { check, .. } => Some(check.to_string()),
            _ => None,
        });
        let expect = expectation(t);
        let o = dsim(&["replay", file]);
        let out = text(&o);
        assert!(
            out.contains("record for record"),
            "{file} no longer replays identically:\n{out}"
        );
        match &recorded {
            Some(check) => {
                if let Some(want) = &expect.fails {
                    assert_eq!(
                        check, want,
                        "{file} records a different failure than its .expect says"
                    );
                }
                // Seed replays exit 0 when identical; schedule replays exit 1
                // when the run fails. Either way the same check must fail.
                assert!(
                    out.contains(&format!("`{check}`")) || o.status.code() == Some(0),
                    "{file}:\n{out}"
                );
                if let Some(fixed) = &expect.fixed {
                    let f = dsim(&["replay", file, "--schedule", "--scenario", fixed]);
                    assert_eq!(
                        f.status.code(),
                        Some(0),
                        "{file} still fails with {fixed}:\n{}",
                        text(&f)
                    );
                    assert!(
                        text(&f).contains("the original failure no longer occurs"),
                        "{file}:\n{}",
                        text(&f)
                    );
                }
            }
            None => assert_eq!(o.status.code(), Some(0), "{file}:\n{out}"),
        }
    }
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
    let dir = std::env::temp_dir().join(format!("dsim-corpus-old-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
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
