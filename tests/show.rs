//! Every rendering is produced for a bundled trace and is valid for the
//! tool that reads it; the ShiViz import accepts good logs and pinpoints
//! bad ones.

use crate::common;

use common::{dsim, text, tmp};

use std::path::{Path, PathBuf};

/// A short trace of a bundled scenario with losses, duplicates and a failure.
fn trace(name: &str) -> PathBuf {
    let t = tmp(name).join("t.trace");
    let o = dsim(&[
        "run",
        "scenarios/echo-bug-no-dedup.toml",
        "--seed",
        "3",
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    t
}

fn show(t: &Path, format: &str, extra: &[&str]) -> String {
    let mut args = vec!["show", t.to_str().unwrap(), "--format", format];
    args.extend_from_slice(extra);
    let o = dsim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap()
}

fn records(t: &Path) -> Vec<dsim::trace::Record<'static>> {
    dsim::trace::read_all(&std::fs::read(t).unwrap(), None)
        .unwrap()
        .1
}

#[test]
fn the_svg_parses_as_xml_with_one_arrow_per_delivered_message() {
    let t = trace("svg");
    let svg = show(&t, "svg", &[]);
    let doc = roxmltree::Document::parse(&svg).expect("the SVG is well-formed XML");
    let arrows = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("msg deliver"))
        .count();
    let delivered = records(&t)
        .iter()
        .filter(|r| matches!(r.kind, dsim::trace::Kind::Deliver { .. }))
        .count();
    assert_eq!(arrows, delivered);
    assert!(
        doc.descendants()
            .any(|n| n.attribute("class") == Some("failure")),
        "the failed check is marked"
    );
    assert!(
        !svg.contains("http://") || svg.matches("http://").count() == 1,
        "only the SVG namespace; no network references"
    );
    // A window keeps only what falls in it.
    let windowed = show(
        &t,
        "svg",
        &["--from", "0.05s", "--to", "0.1s", "--nodes", "0,1"],
    );
    let doc = roxmltree::Document::parse(&windowed).unwrap();
    let lanes = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .count();
    assert_eq!(lanes, 2);
}

#[test]
fn every_jsonl_line_parses_and_there_is_one_per_record() {
    let t = trace("jsonl");
    let out = show(&t, "jsonl", &[]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object"))
        .collect();
    assert_eq!(lines.len(), records(&t).len());
    assert!(lines.iter().any(
        |l| l["type"] == "send" && l["decoded"].as_str().is_some_and(|d| d.contains("Request"))
    ));
}

#[test]
fn the_dot_graph_has_one_node_per_event() {
    let t = trace("dot");
    let out = show(&t, "dot", &[]);
    assert!(out.starts_with("digraph {"));
    let nodes = out.lines().filter(|l| l.contains("[ label =")).count();
    let events = records(&t)
        .iter()
        .filter(|r| r.node_event().is_some())
        .count();
    assert_eq!(nodes, events);
    let delivered = records(&t)
        .iter()
        .filter(|r| matches!(r.kind, dsim::trace::Kind::Deliver { .. }))
        .count();
    assert!(out.lines().filter(|l| l.contains("->")).count() >= delivered);
}

#[test]
fn the_shiviz_log_matches_the_default_parser_line_by_line_and_passes_its_rules() {
    let t = trace("shiviz");
    let out = show(&t, "shiviz", &[]);
    let re = dsim::check::shiviz::compile(dsim::check::shiviz::DEFAULT_REGEX).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len() % 2, 0);
    for pair in lines.chunks(2) {
        let two = format!("{}\n{}", pair[0], pair[1]);
        let m = re
            .captures(&two)
            .expect("each event matches ShiViz's default expression");
        assert_eq!(m.get(0).unwrap().as_str(), two);
    }
    let report = dsim::check::shiviz::check_log(&out, &re, None).unwrap();
    assert!(report.holds(), "{report:#?}");
    assert_eq!(report.skipped_lines, 0);
    assert_eq!(report.executions[0].events, lines.len() / 2);
    let file = t.with_extension("log");
    std::fs::write(&file, &out).unwrap();
    let o = dsim(&["check", "--import", "shiviz", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn the_text_timeline_is_pinned_by_a_snapshot() {
    let t = trace("text");
    let out = show(&t, "text", &["--to", "0.03s"]);
    insta::assert_snapshot!("echo_bug_seed_3_first_30ms", out);
}

fn import(log: &str, extra: &[&str]) -> (i32, String) {
    // A folder per call: tests run side by side.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let f = tmp(&format!("import-{call}")).join("x.log");
    std::fs::write(&f, log).unwrap();
    let mut args = vec!["check", "--import", "shiviz", f.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = dsim(&args);
    (o.status.code().unwrap_or(-1), text(&o))
}

#[test]
fn logs_shiviz_refuses_are_bad_input_with_its_rule_and_line() {
    let good =
        "start\na {\"a\": 1}\nsend to b\na {\"a\": 2}\nreceive from a\nb {\"a\": 2, \"b\": 1}\n";
    assert_eq!(import(good, &[]).0, 0, "{}", import(good, &[]).1);
    let cases: &[(&str, &str, &str)] = &[
        ("x\na {\"b\": 1}\ny\nb {\"b\": 1}\n", "own-entry", ":1:"),
        ("x\na {\"a\": 2}\n", "own-start", ":1:"),
        ("x\na {\"a\": 1}\ny\na {\"a\": 3}\n", "own-increment", ":3:"),
        ("x\na {\"a\": 1}\ny\na {\"a\": 1}\n", "own-increment", ":3:"),
        ("x\na {\"a\": 1, \"z\": 1}\n", "unknown-host", ":1:"),
        (
            "x\na {\"a\": 1}\ny\nb {\"a\": 5, \"b\": 1}\n",
            "clock-range",
            ":3:",
        ),
        ("x\na {\"a\": one}\n", "clock-format", ":1:"),
        ("x\na {\"a\": -1}\n", "clock-value", ":1:"),
        ("nothing here\nat all\n", "no-events", "2 non-empty line(s)"),
    ];
    for (log, rule, at) in cases {
        let (code, out) = import(log, &[]);
        assert_eq!(code, 2, "{rule}: {out}");
        assert!(
            out.contains("ShiViz would not read this log"),
            "{rule}: {out}"
        );
        assert!(
            out.contains(rule) && out.contains(at),
            "{rule} at {at}: {out}"
        );
    }
}

#[test]
fn consistency_beyond_shiviz_is_a_failed_check_on_a_log_it_reads() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "x\na {\"a\": 1, \"b\": 1}\ny\nb {\"a\": 1, \"b\": 1}\n",
            "acyclic",
            ":",
        ),
        (
            "y\nb {\"b\": 1}\nx\na {\"a\": 1, \"b\": 1}\nw\nc {\"a\": 1, \"c\": 1}\n",
            "impermissible",
            ":5:",
        ),
    ];
    for (log, rule, at) in cases {
        let (code, out) = import(log, &[]);
        assert_eq!(code, 1, "{rule}: {out}");
        assert!(
            out.contains(rule) && out.contains(at),
            "{rule} at {at}: {out}"
        );
    }
    // The impermissible case names the clock it should have had: c learned
    // of a's first event, which already knew of b's.
    let (_, out) = import(
        "y\nb {\"b\": 1}\nx\na {\"a\": 1, \"b\": 1}\nw\nc {\"a\": 1, \"c\": 1}\n",
        &[],
    );
    assert!(
        out.contains("impermissible vector clock: it should be {\"a\":1,\"b\":1,\"c\":1}"),
        "{out}"
    );
    // Learning of an event that appears later in the file is fine.
    let (code, out) = import(
        "x\na {\"a\": 1}\nz\nc {\"a\": 1, \"b\": 1, \"c\": 1}\ny\nb {\"b\": 1}\n",
        &[],
    );
    assert_eq!(code, 0, "{out}");
}

#[test]
fn shiviz_reading_rules_zero_entries_own_order_and_quoted_clocks() {
    // Entries of 0 are dropped (here for a host with no events at all).
    let (code, out) = import("x\na {\"a\": 1, \"ghost\": 0}\n", &[]);
    assert_eq!(code, 0, "{out}");
    // A host's events are ordered by its own entry, not by the file.
    let (code, out) = import(
        "second\na {\"a\": 2}\nfirst\na {\"a\": 1}\nrecv\nb {\"a\": 2, \"b\": 1}\n",
        &[],
    );
    assert_eq!(code, 0, "{out}");
    // A clock of escaped quotes (as TLA+ writes) is read.
    let (code, out) = import("x\na {\\\"a\\\":1}\n", &[]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn shiviz_expressions_mean_what_they_mean_in_javascript() {
    // Multiline: ^ and $ at each line.
    let log = "a {\"a\":1} start\na {\"a\":2} send\nb {\"a\":2,\"b\":1} recv\n";
    let re = r"^(?<host>\S+) (?<clock>{.*}) (?<event>.*)$";
    let (code, out) = import(log, &["--regex", re]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 events on 2 hosts"), "{out}");
    // `\/` is a slash; `\d` an ASCII digit; a named group as written.
    let log = "a/1 {\"a\":1}\nb/2 {\"a\":1,\"b\":1}\n";
    let re = r"^(?<host>\w)\/(?<event>\d) (?<clock>\{.*\})$";
    let (code, out) = import(log, &["--regex", re]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 events on 2 hosts"), "{out}");
    let (code, out) = import(
        "x\na {\"a\":1}\n",
        &["--regex", r"(?<host>\w) (?<clock>{.*})\n(?<event>.*)\1"],
    );
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("backreferences are not supported"), "{out}");
}

#[test]
fn executions_split_at_the_delimiter_named_by_its_trace_group() {
    let run = |name: &str| format!("=== {name} ===\nx\na {{\"a\":1}}\ny\nb {{\"a\":1,\"b\":1}}\n");
    let log = format!("{}{}", run("first"), run("second"));
    let delimiter = r"^=== (?<trace>\w+) ===$";
    let (code, out) = import(&log, &["--delimiter", delimiter]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 execution(s)"), "{out}");
    assert!(
        out.contains("execution  0 \"first\": 2 events on 2 hosts: ok"),
        "{out}"
    );
    assert!(out.contains("execution  1 \"second\""), "{out}");
    // Each execution alone: b's clock in the second names a's event there.
    // Two of one name are refused, as ShiViz refuses them.
    let log = format!("{}{}", run("same"), run("same"));
    let (code, out) = import(&log, &["--delimiter", delimiter]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("there are several called \"same\""), "{out}");
    // Without a trace group only the first execution has a name: a third
    // is refused (the second and third would both be unnamed).
    let log = format!("{}{}{}", run("a"), run("b"), run("c"));
    let (code, out) = import(&log, &["--delimiter", r"^=== \w+ ===$"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("several executions have no name"), "{out}");
}

#[test]
fn a_log_that_begins_with_its_expression_is_read_as_shiviz_reads_an_uploaded_file() {
    let log = "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\na {\"a\":1}\nstart\nb {\"a\":1, \"b\":1}\nrecv\n";
    let (code, out) = import(log, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 events on 2 hosts"), "{out}");
    assert!(out.contains("0 line(s) skipped"), "{out}");
    // Lines are the file's: a broken clock on line 5 is named there.
    let log = "(?<host>\\S*) (?<clock>{.*})\\n(?<event>.*)\n\na {\"a\":1}\nstart\nb {\"a\":3, \"b\":1}\nrecv\n";
    let (code, out) = import(log, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains(":5: clock-range"), "{out}");
}

#[test]
fn govector_style_logs_parse_with_a_user_expression_and_a_delimiter() {
    // GoVector writes the clock line first, then the event.
    let log = "a {\"a\":1}\nInitialization Complete\na {\"a\":2}\nSending message\nb {\"a\":2, \"b\":1}\nReceived message\n=== run 2\na {\"a\":1}\nonly event\nnoise that matches nothing\n";
    let re = r"(?<host>\S*) (?<clock>{.*})\n(?<event>.*)";
    let (code, out) = import(log, &["--regex", re, "--delimiter", r"=== run \d+\n"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 execution(s)"), "{out}");
    assert!(out.contains("1 line(s) skipped"), "{out}");
    let (code, out) = import(log, &["--regex", "(?<host>\\S*) (?<clock>{.*)"]);
    assert_eq!(
        code, 2,
        "an expression without the event group is refused: {out}"
    );
}

#[test]
fn the_text_timeline_of_a_raft_run_is_pinned_by_a_snapshot() {
    let t = tmp("raft-text").join("raft.trace");
    let o = dsim(&[
        "run",
        "scenarios/raft-partitions.toml",
        "--seed",
        "2",
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = show(&t, "text", &["--to", "0.2s"]);
    insta::assert_snapshot!("raft_partitions_seed_2_first_200ms", out);
}

#[test]
fn the_text_timeline_of_a_shrunk_corpus_trace_is_pinned_by_a_snapshot() {
    let t = PathBuf::from("traces/causal-bug-deliver-on-arrival-seed-0.min.trace");
    insta::assert_snapshot!("causal_twin_shrunk", show(&t, "text", &[]));
}

#[test]
fn svg_arrows_carry_the_message_kind() {
    let t = PathBuf::from("traces/echo-bug-no-dedup-seed-1.trace");
    let svg = show(&t, "svg", &[]);
    for kind in ["Request", "Reply"] {
        assert!(
            svg.contains(&format!(r##"font-size="10">{kind}</text>"##)),
            "no arrow labelled {kind}"
        );
    }
}

#[test]
fn every_format_honours_the_window_or_refuses_it() {
    // A history of several clients over a second of time.
    let t = tmp("history-window").join("t.trace");
    let o = dsim(&[
        "run",
        "scenarios/abd-quorums.toml",
        "--seed",
        "1",
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let all = show(&t, "history", &[]);
    let nodes_of = |out: &str| -> std::collections::BTreeSet<String> {
        out.lines()
            .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
            .collect()
    };
    let everyone = nodes_of(&all);
    assert!(everyone.len() > 1, "{all}");
    let one = everyone
        .iter()
        .next()
        .unwrap()
        .trim_start_matches('n')
        .to_string();
    let only = show(&t, "history", &["--nodes", &one]);
    assert!(!only.is_empty());
    assert_eq!(nodes_of(&only), [format!("n{one}")].into_iter().collect());
    // A time window keeps only the events inside it.
    let times: Vec<f64> = all
        .lines()
        .map(|l| {
            let t = l.split_whitespace().nth(1).unwrap();
            t.trim_end_matches('s').parse().unwrap()
        })
        .collect();
    let mid = times[times.len() / 2];
    let later = show(&t, "history", &["--from", &format!("{mid}s")]);
    let expected = times.iter().filter(|&&x| x >= mid).count();
    assert_eq!(later.lines().count(), expected);
    assert!(expected < times.len());
    // A window with no operation in it prints none, and says why.
    let o = dsim(&[
        "show",
        t.to_str().unwrap(),
        "--format",
        "history",
        "--from",
        "1000s",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stdout.is_empty(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("records no client operation in the window asked for"),
        "{}",
        text(&o)
    );
    // The whole-trace formats refuse a window rather than ignore it.
    for format in ["html", "shiviz"] {
        for window in [["--nodes", "0"], ["--from", "1s"]] {
            let o = dsim(&[
                "show",
                t.to_str().unwrap(),
                "--format",
                format,
                window[0],
                window[1],
            ]);
            assert_eq!(
                o.status.code(),
                Some(2),
                "{format} {window:?}: {}",
                text(&o)
            );
            assert!(text(&o).contains("renders the whole trace"), "{}", text(&o));
        }
    }
}

#[test]
fn a_node_filter_shows_what_befell_a_message_only_with_its_nodes() {
    // Duplications name only the message: the filter learns its ends from
    // the send, instead of showing every node's duplicates.
    let t = PathBuf::from("traces/echo-bug-no-dedup-seed-1.trace");
    let all = show(&t, "text", &[]);
    let mut ends = std::collections::BTreeMap::new();
    for l in all.lines().filter(|l| l.contains("  send  ")) {
        let w: Vec<&str> = l.split_whitespace().collect();
        // #i time nN Lk send mM -> nT ...
        ends.insert(w[5].to_string(), (w[2].to_string(), w[7].to_string()));
    }
    let duplicated: Vec<String> = all
        .lines()
        .filter(|l| l.contains(" duplicate "))
        .map(|l| l.split_whitespace().nth(4).unwrap().to_string())
        .collect();
    assert!(duplicated.len() >= 2, "{all}");
    for node in ["0", "1", "2", "3"] {
        let only = show(&t, "text", &["--nodes", node]);
        let me = format!("n{node}");
        let shown: Vec<&str> = only
            .lines()
            .filter(|l| l.contains(" duplicate "))
            .map(|l| l.split_whitespace().nth(4).unwrap())
            .collect();
        for m in &duplicated {
            let (from, to) = &ends[m];
            let mine = *from == me || *to == me;
            assert_eq!(
                shown.contains(&m.as_str()),
                mine,
                "{m} {from}->{to} under --nodes {node}"
            );
        }
    }
}

#[test]
fn partitions_and_cut_wires_are_drawn_from_the_fault_to_what_lifts_it() {
    // Two partitions healed in the other order they began, two wires cut,
    // one restored, and a clock skew. A heal lifts the partition it names
    // and a restore its own wire: before, the page paired each heal or
    // restore with the oldest fault still open, and the SVG drew no wire.
    let dir = tmp("bands");
    let scenario = dir.join("bands.toml");
    std::fs::write(
        &scenario,
        r#"
protocol = "broadcast"
nodes = 4
[params]
retry = "30ms"
max_retries = 200
[topology]
shape = "ring"
[workload]
count = 10
interval = "10ms"
[[fault]]
at = "20ms"
partition = [[0], [1, 2, 3]]
id = 1
[[fault]]
at = "30ms"
oneway = { from = [3], to = [2] }
id = 2
[[fault]]
at = "40ms"
cut = [1, 2]
[[fault]]
at = "50ms"
cut = [2, 3]
[[fault]]
at = "60ms"
heal = 2
[[fault]]
at = "70ms"
restore = [2, 3]
[[fault]]
at = "80ms"
skew = { node = 1, offset = "5ms", drift_ppm = 300 }
[[fault]]
at = "90ms"
heal = 1
[run]
time = "2s"
"#,
    )
    .unwrap();
    let t = dir.join("bands.trace");
    let o = dsim(&[
        "run",
        scenario.to_str().unwrap(),
        "--trace",
        t.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let recs = records(&t);
    let at = |ms: u64| {
        recs.iter()
            .position(|r| r.time.0 == ms * 1_000_000 && r.node_event().is_none())
            .unwrap_or_else(|| panic!("no fault record at {ms}ms"))
    };
    let spans: Vec<(usize, Option<usize>, String)> = dsim::show::fault_spans(&recs)
        .into_iter()
        .map(|s| (s.start, s.end, s.label))
        .collect();
    let labels: Vec<&str> = spans.iter().map(|s| s.2.as_str()).collect();
    assert_eq!(spans.len(), 4, "{spans:?}");
    assert_eq!(
        spans.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        vec![
            (at(20), Some(at(90))),
            (at(30), Some(at(60))),
            (at(40), None),
            (at(50), Some(at(70))),
        ]
    );
    assert_eq!(
        labels,
        [
            "partition #1 n0 | n1,n2,n3",
            "partition #2 one way: n3 to n2 lost",
            "wire n1-n2 cut",
            "wire n2-n3 cut"
        ]
    );
    // The SVG draws each as a band, and the skew on its lane.
    let svg = show(&t, "svg", &[]);
    let doc = roxmltree::Document::parse(&svg).unwrap();
    let bands: Vec<String> = doc
        .descendants()
        .filter(|n| n.attribute("class") == Some("partition"))
        .map(|n| {
            n.descendants()
                .filter(|d| d.is_text())
                .filter_map(|d| d.text())
                .collect()
        })
        .collect();
    assert_eq!(bands.len(), 4, "{bands:?}");
    assert!(bands.iter().any(|b| b == "wire n1-n2 cut"), "{bands:?}");
    assert!(svg.contains("skew +5ms, 300 ppm fast"), "no skew mark");
    // The page is given the same pairs (a fault still in force runs to
    // the last record).
    let data = dsim::show::html::data("bands", 4, &recs, None);
    let last = recs.len() - 1;
    let want: Vec<serde_json::Value> = spans
        .iter()
        .map(|s| serde_json::json!([s.0, s.1.unwrap_or(last)]))
        .collect();
    assert_eq!(data["bands"], serde_json::Value::Array(want));
}

#[test]
fn a_backwards_window_is_refused_and_an_empty_one_is_said() {
    let t = trace("empty-window");
    let o = dsim(&["show", t.to_str().unwrap(), "--from", "2s", "--to", "1s"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--from 2s is after --to 1s: no record could fall in the window"),
        "{}",
        text(&o)
    );
    for format in ["text", "svg"] {
        let o = dsim(&[
            "show",
            t.to_str().unwrap(),
            "--from",
            "1h",
            "--format",
            format,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("falls in the window (--from 1h); its records run from 0.000000000s to "),
            "{format}: {err}"
        );
    }
    let o = dsim(&["show", t.to_str().unwrap(), "--from", "0s"]);
    assert!(o.stderr.is_empty(), "{}", text(&o));
}
