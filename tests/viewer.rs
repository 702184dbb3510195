//! `dsim show --format html` in a real browser: headless Chromium loads the
//! page and drives it through its self-test hook (the same handlers a
//! person uses). The page renders without script errors; clicking an event
//! highlights exactly its causal past and future as the vector clocks give
//! them; search finds every record that mentions a known message; the
//! failure jump lands on the failing record. A screenshot of a twin's
//! failure is written to `target/viewer-echo-twin.png`.
//!
//! Needs Chromium (`apt-get install chromium`; `.ci/run` installs it), or
//! a browser named by `DSIM_BROWSER`. Without one the tests fail and say
//! so; `DSIM_NO_BROWSER=1` skips them, saying that too.

use crate::common;

use common::{dsim, text, tmp};
use std::path::{Path, PathBuf};
use std::process::Command;

fn browser() -> Option<String> {
    if std::env::var_os("DSIM_NO_BROWSER").is_some() {
        eprintln!("SKIPPED: DSIM_NO_BROWSER is set; the viewer was not tested in a browser");
        return None;
    }
    let candidates = std::env::var("DSIM_BROWSER")
        .map(|b| vec![b])
        .unwrap_or_else(|_| {
            ["chromium", "chromium-browser", "google-chrome"]
                .map(String::from)
                .to_vec()
        });
    for b in &candidates {
        if Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Some(b.clone());
        }
    }
    panic!(
        "no browser to test the HTML viewer with (tried {candidates:?}): install Chromium \
         (apt-get install chromium), name one with DSIM_BROWSER, or set DSIM_NO_BROWSER=1 to skip"
    );
}

fn headless(browser: &str) -> Command {
    // A profile of its own: instances that share one get in each other's way.
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let profile = tmp(&format!(
        "chromium-profile-{}",
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let mut c = Command::new(browser);
    c.arg(format!("--user-data-dir={}", profile.display()));
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=1400,700",
        "--virtual-time-budget=5000",
    ]);
    c
}

/// The page's self-test report after `steps`.
fn selftest(browser: &str, page: &Path, steps: &str) -> serde_json::Value {
    let encoded: String = steps
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b':' | b';' | b'-' | b'_' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!("file://{}#selftest={encoded}", page.display());
    let o = headless(browser)
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&o.stdout);
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("no self-test report in the page:\n{dom}"));
    let rest = &dom[start + "<pre id=\"selftest\">".len()..];
    let json = &rest[..rest.find("</pre>").unwrap()];
    let json = json
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"))
}

fn page(trace: &Path, name: &str) -> PathBuf {
    let out = tmp(name).join("view.html");
    let o = dsim(&[
        "show",
        trace.to_str().unwrap(),
        "--format",
        "html",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    out
}

/// Causal past and future of every node event, from the vector clocks.
fn causal(trace: &Path) -> Vec<Option<(Vec<u64>, Vec<u64>)>> {
    let bytes = std::fs::read(trace).unwrap();
    let (header, records, _) = dsim::trace::read_all(&bytes, None).unwrap();
    let clocks = dsim::show::event_clocks(header.nodes as usize, &records);
    let le = |a: &[u32], b: &[u32]| a.iter().zip(b).all(|(x, y)| x <= y);
    (0..records.len())
        .map(|i| {
            let mine = clocks[i].as_ref()?;
            let mut past = Vec::new();
            let mut future = Vec::new();
            for (j, c) in clocks.iter().enumerate() {
                let Some(c) = c else { continue };
                if j == i {
                    continue;
                }
                if le(c, mine) {
                    past.push(j as u64);
                }
                if le(mine, c) {
                    future.push(j as u64);
                }
            }
            Some((past, future))
        })
        .collect()
}

fn indices(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn clicking_an_event_highlights_exactly_its_causal_past_and_future() {
    let Some(b) = browser() else { return };
    for trace in [
        "traces/echo-bug-no-dedup-seed-1.trace",
        "traces/raft-bug-forget-vote-seed-78.min.trace",
        "traces/broadcast-bug-no-dedup-seed-0.trace",
    ] {
        let trace = PathBuf::from(trace);
        let html = page(
            &trace,
            &format!("viewer-{}", trace.file_stem().unwrap().to_string_lossy()),
        );
        let expected = causal(&trace);
        // A spread of node events: every seventh.
        let picks: Vec<usize> = (0..expected.len())
            .filter(|&i| expected[i].is_some())
            .step_by(7)
            .take(12)
            .collect();
        assert!(picks.len() >= 3);
        let steps: Vec<String> = std::iter::once("axis:order".to_string())
            .chain(picks.iter().map(|i| format!("click:{i}")))
            .collect();
        let report = selftest(&b, &html, &steps.join(";"));
        assert_eq!(
            report["errors"],
            serde_json::json!([]),
            "{}: {report}",
            trace.display()
        );
        for (k, &i) in picks.iter().enumerate() {
            let step = &report["steps"][k + 1];
            assert_eq!(
                step["selected"].as_u64(),
                Some(i as u64),
                "{}: {step}",
                trace.display()
            );
            let (past, future) = expected[i].clone().unwrap();
            assert_eq!(
                indices(&step["past"]),
                past,
                "{} #{i}: causal past",
                trace.display()
            );
            assert_eq!(
                indices(&step["future"]),
                future,
                "{} #{i}: causal future",
                trace.display()
            );
        }
    }
}

#[test]
fn search_finds_a_known_message_and_the_failure_jump_lands_on_the_failure() {
    let Some(b) = browser() else { return };
    let trace = PathBuf::from("traces/echo-bug-no-dedup-seed-1.trace");
    let html = page(&trace, "viewer-search");
    let report = selftest(&b, &html, "search:Reply;failure;search:/m1[0-9]\\.0/");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    // The records whose line mentions a Reply, as `dsim show` prints them.
    let timeline = text(&dsim(&["show", trace.to_str().unwrap()]));
    let replies: Vec<u64> = timeline
        .lines()
        .filter(|l| l.to_lowercase().contains("reply"))
        .map(|l| l[1..7].parse().unwrap())
        .collect();
    assert!(!replies.is_empty());
    assert_eq!(indices(&report["steps"][0]["matches"]), replies, "{report}");
    let failed = timeline
        .lines()
        .find(|l| l.contains("FAILED"))
        .map(|l| l[1..7].parse::<u64>().unwrap());
    assert_eq!(report["steps"][1]["failure"].as_u64(), failed, "{report}");
    assert_eq!(report["steps"][1]["onScreen"], true, "{report}");
    let by_regex: Vec<u64> = timeline
        .lines()
        .filter(|l| {
            l.match_indices("m1").any(|(k, _)| {
                l[k + 2..]
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
                    && l[k + 3..].starts_with(".0")
            })
        })
        .map(|l| l[1..7].parse().unwrap())
        .collect();
    assert_eq!(
        indices(&report["steps"][2]["matches"]),
        by_regex,
        "{report}"
    );
}

#[test]
fn a_screenshot_of_a_twins_failure() {
    let Some(b) = browser() else { return };
    let trace = PathBuf::from("traces/echo-bug-no-dedup-seed-1.trace");
    let html = page(&trace, "viewer-shot");
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../viewer-echo-twin.png");
    let _ = std::fs::remove_file(&shot);
    let o = headless(&b)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn nothing_in_a_record_breaks_out_of_the_page() {
    // Payload text that would close the data's script element stays data.
    let records = vec![dsim::trace::Record {
        time: dsim::time::Instant(0),
        kind: dsim::trace::Kind::Observe {
            node: dsim::node::NodeId(0),
            lamport: 1,
            text: "</script><script>alert(1)</script>".into(),
        },
    }];
    // A title that names the page's placeholders stays a title.
    let html = dsim::show::html::render("{{SCRIPT}}{{DATA}}", 1, &records, None).unwrap();
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "only the page's own two"
    );
    assert_eq!(html.matches("alert(1)").count(), 1, "the data once");
    assert_eq!(html.matches("const selftest").count(), 1, "the script once");
}

#[test]
fn a_comment_opener_in_a_record_does_not_swallow_the_page() {
    // `<!--<script>` in a script element's text makes the browser read the
    // element's own end tag as text: the page's script would never run.
    let Some(b) = browser() else { return };
    let text = "<!--<script> <!-- <script>";
    let records = vec![dsim::trace::Record {
        time: dsim::time::Instant(0),
        kind: dsim::trace::Kind::Observe {
            node: dsim::node::NodeId(0),
            lamport: 1,
            text: text.into(),
        },
    }];
    let html = dsim::show::html::render("<!--<script>", 1, &records, None).unwrap();
    let page = tmp("viewer-comment").join("view.html");
    std::fs::write(&page, html).unwrap();
    let report = selftest(&b, &page, "search:script");
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert_eq!(indices(&report["steps"][0]["matches"]), [0], "{report}");
}

#[test]
fn a_shiviz_log_renders_with_each_events_causal_past_from_its_clock() {
    let Some(b) = browser() else { return };
    let dir = tmp("viewer-log");
    let log = dir.join("echo.log");
    let o = dsim(&[
        "show",
        "traces/echo-bug-no-dedup-seed-1.trace",
        "--format",
        "shiviz",
        "-o",
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let html = dir.join("echo.html");
    let o = dsim(&[
        "show",
        log.to_str().unwrap(),
        "--import",
        "shiviz",
        "--format",
        "html",
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Each event's clock, from the page's own data.
    let page = std::fs::read_to_string(&html).unwrap();
    let start = page
        .find(r#"<script type="application/json" id="data">"#)
        .unwrap();
    let rest = &page[start..];
    let json = &rest[rest.find('>').unwrap() + 1..rest.find("</script>").unwrap()];
    let data: serde_json::Value = serde_json::from_str(json).unwrap();
    let clocks: Vec<std::collections::BTreeMap<String, u64>> = data["line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let l = l.as_str().unwrap();
            let open = l.rfind("  {").unwrap() + 2;
            let close = l.rfind("}  (log line").unwrap() + 1;
            serde_json::from_str(&l[open..close]).unwrap()
        })
        .collect();
    let le = |a: &std::collections::BTreeMap<String, u64>,
              b: &std::collections::BTreeMap<String, u64>| {
        a.iter().all(|(h, v)| b.get(h).copied().unwrap_or(0) >= *v)
    };
    let picks: Vec<usize> = (0..clocks.len()).step_by(5).collect();
    assert!(picks.len() >= 5, "the log has only {} events", clocks.len());
    let steps: Vec<String> = std::iter::once("axis:order".to_string())
        .chain(picks.iter().map(|i| format!("click:{i}")))
        .collect();
    let report = selftest(&b, &html, &steps.join(";"));
    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    for (k, &i) in picks.iter().enumerate() {
        let step = &report["steps"][k + 1];
        assert_eq!(step["selected"].as_u64(), Some(i as u64), "{step}");
        let past: Vec<u64> = (0..clocks.len())
            .filter(|&j| j != i && le(&clocks[j], &clocks[i]))
            .map(|j| j as u64)
            .collect();
        let future: Vec<u64> = (0..clocks.len())
            .filter(|&j| j != i && le(&clocks[i], &clocks[j]))
            .map(|j| j as u64)
            .collect();
        assert_eq!(indices(&step["past"]), past, "#{i}: causal past");
        assert_eq!(indices(&step["future"]), future, "#{i}: causal future");
    }
}

#[test]
fn spans_a_node_marks_become_bars_on_its_lane() {
    use dsim::node::{NodeId, SPAN_BEGIN, SPAN_END};
    use dsim::trace::{Kind, Record};
    let observe = |t: u64, node: u32, text: String| Record {
        time: dsim::time::Instant(t),
        kind: Kind::Observe {
            node: NodeId(node),
            lamport: t,
            text: text.into(),
        },
    };
    let records = vec![
        observe(1, 0, format!("{SPAN_BEGIN}in critical section")),
        observe(2, 1, format!("{SPAN_BEGIN}in critical section")),
        observe(3, 0, format!("{SPAN_END}in critical section")),
        observe(4, 1, "something else".into()),
    ];
    let data = dsim::show::html::data("t", 2, &records, None);
    // n0's span closes at record 2; n1's is still open at the end.
    assert_eq!(
        data["spans"],
        serde_json::json!([
            [0, 0, 2, "in critical section"],
            [1, 1, 3, "in critical section"]
        ])
    );
}
