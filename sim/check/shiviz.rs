//! Checking logs from elsewhere: ShiViz / GoVector logs with vector clocks.
//!
//! As in ShiViz, the log is parsed with a regular expression with the named
//! groups `host`, `clock` (a JSON object of host → counter) and `event`;
//! the default is ShiViz's own, an event line followed by a `host {clock}`
//! line. Text the expression does not match is skipped and counted. An
//! optional delimiter expression splits several executions in one file.
//!
//! The rules are ShiViz's: a host appears in its own clock; each host's own
//! entries, in order, are exactly 1, 2, 3, ...; every entry for another host
//! names a host of the log with a value between 1 and that host's number of
//! events; the happens-before graph the clocks imply has no cycle; and each
//! event's clock is the one recomputed from its local predecessor and the
//! remote events it newly learned of ("impermissible vector clock"
//! otherwise, with the clock it should have had).

use petgraph::graph::DiGraph;
use regex::Regex;
use serde::Serialize;
use std::collections::BTreeMap;

/// ShiViz's default parser.
pub const DEFAULT_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>\{.*\})";

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// 1-based line where the match starts.
    pub line: usize,
    pub host: String,
    pub clock: BTreeMap<String, u64>,
    pub event: String,
}

/// A broken rule at a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogViolation {
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

/// The verdict on one execution of the log.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionReport {
    pub events: usize,
    pub hosts: usize,
    pub violations: Vec<LogViolation>,
}

/// The verdict on a whole log.
#[derive(Clone, Debug, Serialize)]
pub struct LogReport {
    pub executions: Vec<ExecutionReport>,
    /// Non-empty lines no match covered.
    pub skipped_lines: usize,
}

impl LogReport {
    pub fn holds(&self) -> bool {
        self.executions.iter().all(|e| e.violations.is_empty())
    }
}

/// Compiles a ShiViz expression. ShiViz's are JavaScript expressions, where
/// a brace that opens no `{n,m}` repetition is a literal; such braces are
/// escaped before a second try.
pub fn compile(expression: &str) -> Result<Regex, String> {
    if let Ok(r) = Regex::new(expression) {
        return Ok(r);
    }
    let quantifier = Regex::new(r"^\{\d+(,\d*)?\}").map_err(|e| e.to_string())?;
    let mut escaped = String::new();
    let mut i = 0;
    while i < expression.len() {
        let c = expression[i..].chars().next().unwrap_or(' ');
        if c == '\\' {
            let next = expression[i + 1..].chars().next().map_or(0, char::len_utf8);
            escaped.push_str(&expression[i..i + 1 + next]);
            i += 1 + next;
            continue;
        }
        if c == '{' {
            if let Some(m) = quantifier.find(&expression[i..]) {
                escaped.push_str(m.as_str());
                i += m.end();
                continue;
            }
            escaped.push_str("\\{");
        } else if c == '}' {
            escaped.push_str("\\}");
        } else {
            escaped.push(c);
        }
        i += c.len_utf8();
    }
    Regex::new(&escaped).map_err(|e| format!("the expression does not compile: {e}"))
}

/// Parses and checks `text`.
pub fn check_log(
    text: &str,
    expression: &Regex,
    delimiter: Option<&Regex>,
) -> Result<LogReport, String> {
    for group in ["host", "clock", "event"] {
        if !expression.capture_names().flatten().any(|n| n == group) {
            return Err(format!(
                "the expression has no named group `{group}` (it needs host, clock and event)"
            ));
        }
    }
    // Split into executions, remembering where each starts.
    let mut parts: Vec<(usize, &str)> = Vec::new();
    match delimiter {
        None => parts.push((0, text)),
        Some(d) => {
            let mut start = 0;
            for m in d.find_iter(text) {
                parts.push((start, &text[start..m.start()]));
                start = m.end();
            }
            parts.push((start, &text[start..]));
            parts.retain(|(_, p)| !p.trim().is_empty());
        }
    }
    let mut report = LogReport {
        executions: Vec::new(),
        skipped_lines: 0,
    };
    let lines = Lines::of(text);
    for (offset, part) in parts {
        let (events, skipped, mut violations) = parse(&lines, offset, part, expression);
        report.skipped_lines += skipped;
        violations.extend(rules(&events));
        violations.sort_by_key(|v| v.line);
        let hosts = events
            .iter()
            .map(|e| e.host.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        report.executions.push(ExecutionReport {
            events: events.len(),
            hosts,
            violations,
        });
    }
    Ok(report)
}

/// Where each line of a text starts, so that the line of any offset is a
/// binary search, not a count from the start (which made big logs
/// quadratic).
struct Lines(Vec<usize>);

impl Lines {
    fn of(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines(starts)
    }

    /// The 1-based line of byte `offset`.
    fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn parse(
    lines: &Lines,
    offset: usize,
    part: &str,
    expression: &Regex,
) -> (Vec<LogEvent>, usize, Vec<LogViolation>) {
    let mut events = Vec::new();
    let mut violations = Vec::new();
    let mut covered = vec![false; part.len() + 1];
    for caps in expression.captures_iter(part) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        if whole.is_empty() {
            continue;
        }
        covered[whole.clone()].iter_mut().for_each(|c| *c = true);
        let line = lines.line_of(offset + whole.start);
        let get = |g: &str| caps.name(g).map_or("", |m| m.as_str());
        match serde_json::from_str::<BTreeMap<String, u64>>(get("clock")) {
            Ok(clock) => events.push(LogEvent {
                line,
                host: get("host").to_string(),
                clock,
                event: get("event").to_string(),
            }),
            Err(e) => violations.push(LogViolation {
                line,
                rule: "clock-format",
                message: format!(
                    "the clock `{}` is not a JSON object of host to counter: {e}",
                    get("clock")
                ),
            }),
        }
    }
    // Count non-empty lines no match touched.
    let mut skipped = 0;
    let mut start = 0;
    for l in part.split_inclusive('\n') {
        let end = start + l.len();
        if !l.trim().is_empty() && !covered[start..end].iter().any(|c| *c) {
            skipped += 1;
        }
        start = end;
    }
    (events, skipped, violations)
}

fn rules(events: &[LogEvent]) -> Vec<LogViolation> {
    let mut v = Vec::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for e in events {
        *counts.entry(e.host.as_str()).or_default() += 1;
    }
    // (host, own counter) → event index, for events whose own entry is sane.
    let mut by_id: BTreeMap<(&str, u64), usize> = BTreeMap::new();
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        let k = seen.entry(e.host.as_str()).or_default();
        *k += 1;
        match e.clock.get(&e.host) {
            None => v.push(LogViolation { line: e.line, rule: "own-entry", message: format!("host {} is missing from its own clock", e.host) }),
            Some(&own) if own != *k => v.push(LogViolation {
                line: e.line,
                rule: "own-sequence",
                message: format!("this is event {k} of host {}, but its own entry is {own} (it must count 1, 2, 3, ...)", e.host),
            }),
            Some(&own) => {
                by_id.insert((e.host.as_str(), own), i);
            }
        }
        for (h, &c) in &e.clock {
            if *h == e.host {
                continue;
            }
            match counts.get(h.as_str()) {
                None => v.push(LogViolation { line: e.line, rule: "unknown-host", message: format!("the clock names host {h}, which has no events in the log") }),
                Some(&n) if c < 1 || c > n => v.push(LogViolation {
                    line: e.line,
                    rule: "entry-range",
                    message: format!("the entry for {h} is {c}, but {h} has {n} events (it must be between 1 and {n})"),
                }),
                _ => {}
            }
        }
    }
    // The happens-before graph the clocks imply.
    let mut g = DiGraph::<usize, ()>::new();
    let ix: Vec<_> = (0..events.len()).map(|i| g.add_node(i)).collect();
    let mut last: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(p) = last.insert(e.host.as_str(), i) {
            g.add_edge(ix[p], ix[i], ());
        }
        for (h, &c) in &e.clock {
            if *h != e.host {
                if let Some(&j) = by_id.get(&(h.as_str(), c)) {
                    if j != i {
                        g.add_edge(ix[j], ix[i], ());
                    }
                }
            }
        }
    }
    if let Err(cycle) = petgraph::algo::toposort(&g, None) {
        let e = &events[g[cycle.node_id()]];
        v.push(LogViolation {
            line: e.line,
            rule: "acyclic",
            message: "the clocks imply a happens-before cycle through this event".into(),
        });
        return v;
    }
    // Each clock, recomputed from its local predecessor and what it newly learned.
    let mut prev: BTreeMap<&str, &BTreeMap<String, u64>> = BTreeMap::new();
    let empty = BTreeMap::new();
    for e in events {
        let before = prev.get(e.host.as_str()).copied().unwrap_or(&empty);
        let mut expected: BTreeMap<String, u64> = before.clone();
        if let Some(&own) = e.clock.get(&e.host) {
            expected.insert(e.host.clone(), own);
        }
        for (h, &c) in &e.clock {
            if *h == e.host || before.get(h).copied().unwrap_or(0) >= c {
                continue;
            }
            if let Some(&j) = by_id.get(&(h.as_str(), c)) {
                for (k, &x) in &events[j].clock {
                    if *k != e.host {
                        let slot = expected.entry(k.clone()).or_insert(0);
                        *slot = (*slot).max(x);
                    }
                }
            }
        }
        if expected != e.clock {
            let shown = serde_json::to_string(&expected).unwrap_or_default();
            v.push(LogViolation {
                line: e.line,
                rule: "impermissible",
                message: format!("impermissible vector clock: it should be {shown}"),
            });
        }
        prev.insert(e.host.as_str(), &e.clock);
    }
    v
}
