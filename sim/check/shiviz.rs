//! Checking logs from elsewhere: ShiViz / GoVector logs with vector clocks,
//! read exactly as ShiViz reads them (its `js/model/parser.js`,
//! `vectorTimestamp.js`, `modelGraph.js` and `js/shiviz.js`).
//!
//! Reading, as ShiViz does:
//! - the log is trimmed; the parser expression and the delimiter are
//!   JavaScript expressions compiled with the multiline flag (`^` and `$`
//!   match at line ends), see [`compile`];
//! - with a delimiter, the log is split at each of its matches into
//!   executions; an execution is named by the `trace` group of the match
//!   before it (the first one: ""; without a `trace` group the others have
//!   no name), blank executions are dropped, and two executions of one
//!   name are refused;
//! - in each execution every match of the expression is an event with the
//!   groups `host`, `clock` (JSON; failing that, JSON with `\"` unescaped)
//!   and `event`; an execution with no event at all is refused;
//! - a clock must have an entry for its own host; entries of 0 are
//!   dropped;
//! - each host's events are ordered by the host's own entry (not by their
//!   place in the file), and those entries must then be 1, 2, 3, ...;
//! - walking each host's events in that order, an entry for another host
//!   that is higher than any that host's earlier events showed must name a
//!   host of the execution and lie between 1 and that host's number of
//!   events.
//!
//! A log ShiViz refuses is refused (a [`Refusal`] per broken rule, with its
//! line); one it reads is read. ShiViz then draws it without checking that
//! the clocks are consistent (its `stepThroughAndVerify` is never called);
//! dsim goes on to check, per execution, that the happens-before relation
//! the clocks imply has no cycle and that each clock is the one recomputed
//! from its local predecessor and the remote events it newly learned of
//! ("impermissible vector clock" otherwise, with the clock it should have
//! had) — [`LogViolation`]s, a failed check rather than bad input.

use petgraph::graph::DiGraph;
use regex::Regex;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// ShiViz's default parser.
pub const DEFAULT_REGEX: &str = r"(?<event>.*)\n(?<host>\S*) (?<clock>\{.*\})";

/// One event of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// 1-based line of the file where the match starts.
    pub line: usize,
    pub host: String,
    /// Without entries of 0, as ShiViz keeps it.
    pub clock: BTreeMap<String, u64>,
    /// The host's own entry.
    pub own: u64,
    pub event: String,
}

/// A rule ShiViz refuses a log for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// 1-based line of the file, when the rule concerns one event.
    pub line: Option<usize>,
    /// The execution's name ("" for the first or only one).
    pub execution: String,
    pub rule: &'static str,
    pub message: String,
}

/// A consistency rule (beyond ShiViz's) broken at a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LogViolation {
    pub line: usize,
    pub rule: &'static str,
    pub message: String,
}

/// The verdict on one execution of the log.
#[derive(Clone, Debug, Serialize)]
pub struct ExecutionReport {
    pub name: String,
    pub events: usize,
    pub hosts: usize,
    pub violations: Vec<LogViolation>,
    /// The events themselves, in file order.
    #[serde(skip)]
    pub log: Vec<LogEvent>,
}

/// The verdict on a whole log that ShiViz would read.
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

/// Why a log is not read: what ShiViz would refuse it for.
#[derive(Clone, Debug, Serialize)]
pub struct Refused {
    pub refusals: Vec<Refusal>,
    /// Non-empty lines no match covered (a hint when nothing matched).
    pub skipped_lines: usize,
}

/// Compiles a ShiViz (JavaScript) expression with JavaScript's meaning:
/// the multiline flag (`^`, `$` at line ends, `\r\n` a line end too);
/// `\d`, `\w`, `\b` ASCII as in JavaScript; `\0`, `\cX`, `\uXXXX`; any
/// other escaped character (`\/`, `\e`, `\a`...) that character itself; a
/// brace that opens no `{n,m}` repetition a literal brace; named groups
/// `(?<name>...)` as they are. Backreferences and lookarounds, which
/// JavaScript has and this engine has not, are refused by name.
pub fn compile(expression: &str) -> Result<Regex, String> {
    let expression = expression.trim();
    if expression.is_empty() {
        return Err("the expression is empty".into());
    }
    let quantifier = Regex::new(r"^\{\d+(,\d*)?\}").map_err(|e| e.to_string())?;
    let mut out = String::from("(?mR)");
    let chars: Vec<(usize, char)> = expression.char_indices().collect();
    let mut in_class = false;
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        match c {
            '\\' => {
                let Some(&(_, e)) = chars.get(i + 1) else {
                    return Err("the expression ends with a lone backslash".into());
                };
                i += 2;
                match e {
                    'd' => out.push_str(if in_class { "0-9" } else { "[0-9]" }),
                    'w' => out.push_str(if in_class {
                        "A-Za-z0-9_"
                    } else {
                        "[A-Za-z0-9_]"
                    }),
                    'D' if !in_class => out.push_str("[^0-9]"),
                    'W' if !in_class => out.push_str("[^A-Za-z0-9_]"),
                    'D' | 'W' | 's' | 'S' | 't' | 'n' | 'v' | 'f' | 'r' => {
                        out.push('\\');
                        out.push(e);
                    }
                    'b' if in_class => out.push_str(r"\x08"),
                    'b' => out.push_str(r"(?-u:\b)"),
                    'B' => out.push_str(r"(?-u:\B)"),
                    '0' if !chars.get(i).is_some_and(|(_, d)| d.is_ascii_digit()) => {
                        out.push_str(r"\x00")
                    }
                    'c' if chars.get(i).is_some_and(|(_, l)| l.is_ascii_alphabetic()) => {
                        let l = chars[i].1 as u32;
                        out.push_str(&format!(r"\x{{{:02X}}}", l % 32));
                        i += 1;
                    }
                    'x' | 'u' => {
                        let n = if e == 'x' { 2 } else { 4 };
                        let hex: String = chars[i..].iter().take(n).map(|(_, h)| *h).collect();
                        if hex.len() == n && hex.chars().all(|h| h.is_ascii_hexdigit()) {
                            out.push_str(&format!(r"\x{{{hex}}}"));
                            i += n;
                        } else {
                            out.push_str(&regex::escape(&e.to_string()));
                        }
                    }
                    '1'..='9' | 'k' => {
                        return Err(format!(
                            "`\\{e}` at character {}: backreferences are not supported",
                            at + 1
                        ))
                    }
                    other => out.push_str(&regex::escape(&other.to_string())),
                }
                continue;
            }
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => {
                let rest: String = chars[i..].iter().take(4).map(|(_, c)| *c).collect();
                if rest.starts_with("(?=")
                    || rest.starts_with("(?!")
                    || rest.starts_with("(?<=")
                    || rest.starts_with("(?<!")
                {
                    return Err(format!(
                        "`{rest}` at character {}: lookarounds are not supported",
                        at + 1
                    ));
                }
            }
            '{' if !in_class => {
                if let Some(m) = quantifier.find(&expression[at..]) {
                    out.push_str(m.as_str());
                    i += m.as_str().chars().count();
                    continue;
                }
                out.push_str(r"\{");
                i += 1;
                continue;
            }
            '}' if !in_class => {
                out.push_str(r"\}");
                i += 1;
                continue;
            }
            _ => {}
        }
        out.push(c);
        i += 1;
    }
    Regex::new(&out).map_err(|e| format!("the expression does not compile: {e}"))
}

/// Reads and checks `text` as ShiViz would read it.
pub fn check_log(
    text: &str,
    expression: &Regex,
    delimiter: Option<&Regex>,
) -> Result<LogReport, Refused> {
    let refuse = |message: String| Refused {
        refusals: vec![Refusal {
            line: None,
            execution: String::new(),
            rule: "expression",
            message,
        }],
        skipped_lines: 0,
    };
    for group in ["host", "clock", "event"] {
        if !expression.capture_names().flatten().any(|n| n == group) {
            return Err(refuse(format!(
                "the expression has no named group `{group}` (it needs host, clock and event)"
            )));
        }
    }
    // ShiViz trims the log before anything else.
    let start = text.len() - text.trim_start().len();
    let trimmed = text.trim();
    // Split into named executions, remembering where each starts.
    let mut parts: Vec<(usize, Option<String>, &str)> = Vec::new();
    match delimiter {
        None => parts.push((start, Some(String::new()), trimmed)),
        Some(d) => {
            let named = d.capture_names().flatten().any(|n| n == "trace");
            let mut from = 0;
            let mut name = Some(String::new());
            for caps in d.captures_iter(trimmed) {
                let m = caps.get(0).expect("a match has a whole");
                if m.is_empty() {
                    continue;
                }
                parts.push((start + from, name, &trimmed[from..m.start()]));
                from = m.end();
                name = named.then(|| caps.name("trace").map_or("", |t| t.as_str()).to_string());
            }
            parts.push((start + from, name, &trimmed[from..]));
            parts.retain(|(_, _, p)| !p.trim().is_empty());
        }
    }
    let lines = Lines::of(text);
    let mut refusals = Vec::new();
    let mut names: BTreeSet<Option<String>> = BTreeSet::new();
    let mut report = LogReport {
        executions: Vec::new(),
        skipped_lines: 0,
    };
    for (offset, name, part) in parts {
        let shown = name.clone().unwrap_or_else(|| "undefined".into());
        if !names.insert(name.clone()) {
            refusals.push(Refusal {
                line: Some(lines.line_of(offset)),
                execution: shown.clone(),
                rule: "execution-names",
                message: match name {
                    Some(n) => format!("execution names must be unique: there are several called \"{n}\""),
                    None => "execution names must be unique: several executions have no name (the delimiter has no `trace` group to name them)".into(),
                },
            });
        }
        let (events, skipped, mut refused) = parse(&lines, offset, part, expression, &shown);
        report.skipped_lines += skipped;
        if events.is_empty() && refused.is_empty() {
            refused.push(Refusal {
                line: Some(lines.line_of(offset)),
                execution: shown.clone(),
                rule: "no-events",
                message: format!(
                    "the expression captures no event in this execution ({skipped} non-empty line(s) it does not match); check the expression against a line of the log"
                ),
            });
        }
        refused.extend(shiviz_rules(&events, &shown));
        if !refused.is_empty() {
            refusals.extend(refused);
            continue;
        }
        let hosts = events
            .iter()
            .map(|e| e.host.as_str())
            .collect::<BTreeSet<_>>()
            .len();
        let mut violations = consistency(&events);
        violations.sort_by_key(|v| v.line);
        report.executions.push(ExecutionReport {
            name: shown,
            events: events.len(),
            hosts,
            violations,
            log: events,
        });
    }
    if refusals.is_empty() {
        Ok(report)
    } else {
        refusals.sort_by_key(|r| r.line);
        Err(Refused {
            refusals,
            skipped_lines: report.skipped_lines,
        })
    }
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

/// A clock's text as ShiViz reads it: JSON, or failing that JSON with
/// `\"` unescaped; an object of host to counter. Entries of 0 dropped.
fn read_clock(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<serde_json::Value>(text)
        .or_else(|_| serde_json::from_str(&text.replace("\\\"", "\"")))
        .map_err(|e| format!("the clock `{text}` is not JSON: {e}"))
}

fn parse(
    lines: &Lines,
    offset: usize,
    part: &str,
    expression: &Regex,
    execution: &str,
) -> (Vec<LogEvent>, usize, Vec<Refusal>) {
    let mut events = Vec::new();
    let mut refused = Vec::new();
    let mut covered = vec![false; part.len() + 1];
    for caps in expression.captures_iter(part) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        if whole.is_empty() {
            continue;
        }
        covered[whole.clone()].iter_mut().for_each(|c| *c = true);
        let line = lines.line_of(offset + whole.start);
        let get = |g: &str| caps.name(g).map_or("", |m| m.as_str());
        let host = get("host").to_string();
        let mut refuse = |rule: &'static str, message: String| {
            refused.push(Refusal {
                line: Some(line),
                execution: execution.to_string(),
                rule,
                message,
            })
        };
        let value = match read_clock(get("clock")) {
            Ok(v) => v,
            Err(m) => {
                refuse("clock-format", m);
                continue;
            }
        };
        let Some(object) = value.as_object().filter(|o| o.contains_key(&host)) else {
            refuse(
                "own-entry",
                format!("local host \"{host}\" is missing from its clock"),
            );
            continue;
        };
        let mut clock = BTreeMap::new();
        let mut bad = false;
        for (h, v) in object {
            match v.as_f64() {
                Some(x) if x >= 0.0 && x.fract() == 0.0 && x <= u64::MAX as f64 => {
                    if x != 0.0 {
                        clock.insert(h.clone(), x as u64);
                    }
                }
                _ => {
                    refuse(
                        "clock-value",
                        format!("the clock's entry for \"{h}\" is {v}, not a counter"),
                    );
                    bad = true;
                }
            }
        }
        if bad {
            continue;
        }
        events.push(LogEvent {
            line,
            own: clock.get(&host).copied().unwrap_or(0),
            host,
            clock,
            event: get("event").to_string(),
        });
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
    (events, skipped, refused)
}

/// Each host's events (indices) in the order of the host's own entry.
fn by_host(events: &[LogEvent]) -> BTreeMap<&str, Vec<usize>> {
    let mut hosts: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        hosts.entry(e.host.as_str()).or_default().push(i);
    }
    for list in hosts.values_mut() {
        // Stable, as JavaScript's sort is: equal entries keep file order.
        list.sort_by_key(|&i| events[i].own);
    }
    hosts
}

/// The event of host `h` whose own entry is `t`, if there is one.
fn event_at(hosts: &BTreeMap<&str, Vec<usize>>, h: &str, t: u64) -> Option<usize> {
    hosts.get(h)?.get(t.checked_sub(1)? as usize).copied()
}

/// ShiViz's rules for building its graph (`modelGraph.js`).
fn shiviz_rules(events: &[LogEvent], execution: &str) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut refuse = |line: usize, rule: &'static str, message: String| {
        out.push(Refusal {
            line: Some(line),
            execution: execution.to_string(),
            rule,
            message,
        })
    };
    let hosts = by_host(events);
    for (host, list) in &hosts {
        for (k, &i) in list.iter().enumerate() {
            let e = &events[i];
            if e.own != k as u64 + 1 {
                if k == 0 {
                    refuse(e.line, "own-start", format!(
                        "clock values for each host must start at 1: the first event of host \"{host}\" has {}",
                        e.own
                    ));
                } else {
                    let before = &events[list[k - 1]];
                    refuse(e.line, "own-increment", format!(
                        "clock values for a host must increase by 1: host \"{host}\" goes from {} (line {}) to {}",
                        before.own, before.line, e.own
                    ));
                }
            }
        }
    }
    for list in hosts.values() {
        let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
        for &i in list {
            let e = &events[i];
            latest.insert(e.host.as_str(), e.own);
            for (h, &time) in &e.clock {
                if latest.get(h.as_str()).is_some_and(|&t| t >= time) {
                    continue;
                }
                latest.insert(h.as_str(), time);
                match hosts.get(h.as_str()) {
                    None => refuse(e.line, "unknown-host", format!(
                        "the clock has an entry for an unrecognized host \"{h}\" (no event of the execution is on it)"
                    )),
                    Some(l) if time > l.len() as u64 => refuse(e.line, "clock-range", format!(
                        "the clock has an invalid value {time} for host \"{h}\", which has {} event(s)",
                        l.len()
                    )),
                    Some(_) => {}
                }
            }
        }
    }
    out
}

/// Consistency beyond ShiViz's rules, on an execution ShiViz reads.
fn consistency(events: &[LogEvent]) -> Vec<LogViolation> {
    let mut v = Vec::new();
    let hosts = by_host(events);
    let id = |h: &str, t: u64| event_at(&hosts, h, t);
    // The happens-before graph the clocks imply.
    let mut g = DiGraph::<usize, ()>::new();
    let ix: Vec<_> = (0..events.len()).map(|i| g.add_node(i)).collect();
    for list in hosts.values() {
        for w in list.windows(2) {
            g.add_edge(ix[w[0]], ix[w[1]], ());
        }
    }
    for (i, e) in events.iter().enumerate() {
        for (h, &c) in &e.clock {
            if *h != e.host {
                if let Some(j) = id(h, c) {
                    g.add_edge(ix[j], ix[i], ());
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
    // Each clock, recomputed from its local predecessor and what it newly
    // learned.
    let empty = BTreeMap::new();
    for list in hosts.values() {
        let mut before = &empty;
        for &i in list {
            let e = &events[i];
            let mut expected: BTreeMap<String, u64> = before.clone();
            expected.insert(e.host.clone(), e.own);
            for (h, &c) in &e.clock {
                if *h == e.host || before.get(h).copied().unwrap_or(0) >= c {
                    continue;
                }
                if let Some(j) = id(h, c) {
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
            before = &e.clock;
        }
    }
    v
}

/// The events each event learned of directly (by index), as ShiViz draws
/// its arrows: walking each host's events in order, the events of other
/// hosts whose entries rose, less those another of them already knew.
pub fn parents(events: &[LogEvent]) -> Vec<Vec<usize>> {
    let hosts = by_host(events);
    let id = |h: &str, t: u64| event_at(&hosts, h, t);
    let mut out = vec![Vec::new(); events.len()];
    for list in hosts.values() {
        let mut latest: BTreeMap<&str, u64> = BTreeMap::new();
        for &i in list {
            let e = &events[i];
            latest.insert(e.host.as_str(), e.own);
            let mut candidates = Vec::new();
            for (h, &t) in &e.clock {
                if latest.get(h.as_str()).is_some_and(|&l| l >= t) {
                    continue;
                }
                latest.insert(h.as_str(), t);
                if let Some(j) = id(h, t) {
                    candidates.push(j);
                }
            }
            let implied = |j: usize| {
                candidates.iter().any(|&k| {
                    k != j
                        && events[k].host != events[j].host
                        && events[k].clock.get(&events[j].host) == Some(&events[j].own)
                })
            };
            out[i] = candidates
                .iter()
                .copied()
                .filter(|&j| !implied(j))
                .collect();
        }
    }
    out
}
