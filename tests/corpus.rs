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
