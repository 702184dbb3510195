//! The interactive viewer: one self-contained HTML file (data, script and
//! style inlined; no network) that draws a trace on a canvas.
//!
//! Lanes per node, time left to right (virtual time or event order), zoom
//! (wheel) and pan (drag); a node filter that also orders the lanes; search
//! by text or `/regex/` over every record's line (decoded messages
//! included) with the matches ringed; a jump to the first failed check.
//! Clicking an event highlights its causal past and future (program order
//! and send → delivery, the relation the vector clocks encode) and dims the
//! rest; hovering shows the record, its Lamport time, its vector clock and
//! the decoded message. Arrows carry the message's kind (the decoded
//! message's first word); losses end in a cross with their cause,
//! duplicates are dashed, corrupted copies orange, crashed stretches of a
//! lane red, partitions and cut wires shaded bands, clock skews a mark on the lane, what
//! a crash kept of the writes not yet synced a mark below it, and
//! the spans a node marks (`Context::begin_span`) green bars on its lane,
//! as is a pause (`paused`, to its resume). Only what is on screen is drawn, so
//! a 100,000-record trace stays responsive.
//!
//! The page has a self-test hook for the test suite: with
//! `#selftest=STEP;STEP...` in its address (`axis:order`, `click:INDEX`,
//! `search:TEXT`, `failure`, `draw`) it performs the steps through the same handlers a person
//! uses (a click is a mouse event at the event's place on the canvas) and
//! writes what it saw as JSON into `<pre id="selftest">`.

use super::text::{self, Decoder};
use crate::trace::{Kind, Record};
use serde_json::json;
use std::collections::BTreeMap;

/// The kind of a message for its arrow: the decoded message's first word
/// (`Request` of `Request { seq: 1 }`), or nothing.
pub fn message_kind(decoded: &str) -> String {
    decoded
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .find(|w| !w.is_empty())
        .unwrap_or("")
        .chars()
        .take(24)
        .collect()
}

fn kind_name(k: &Kind<'_>) -> &'static str {
    match k {
        Kind::Start { .. } => "start",
        Kind::Send { .. } => "send",
        Kind::Deliver { .. } => "deliver",
        Kind::Timer { .. } => "timer",
        Kind::Input { .. } => "input",
        Kind::Observe { .. } => "observe",
        Kind::Crash { .. } => "crash",
        Kind::Restart { .. } => "restart",
        Kind::Lost { .. } => "lost",
        Kind::Duplicated { .. } => "duplicated",
        Kind::Corrupted { .. } => "corrupted",
        Kind::Partition { .. } => "partition",
        Kind::Heal { .. } => "heal",
        Kind::CutWire { .. } => "cut",
        Kind::RestoreWire { .. } => "restore",
        Kind::ClockSkew { .. } => "skew",
        Kind::CheckFailed { .. } => "failed",
        Kind::End { .. } => "end",
        Kind::Op { .. } => "op",
        Kind::Byzantine { .. } => "byzantine",
        Kind::Mutated { .. } => "mutated",
        Kind::Altered { .. } => "altered",
        Kind::Injected { .. } => "injected",
        Kind::Unauthentic { .. } => "unauthentic",
        Kind::DiskAtCrash { .. } => "disk",
        Kind::Pause { .. } => "pause",
        Kind::Resume { .. } => "resume",
        Kind::Held { .. } => "held",
    }
}

/// The page's data: columns, one entry per record.
pub fn data(
    title: &str,
    nodes: usize,
    records: &[Record<'_>],
    decode: Option<Decoder<'_>>,
) -> serde_json::Value {
    data_within(title, nodes, records, decode, usize::MAX).unwrap_or_default()
}

/// Raised vector-clock entries a delivery's line shows on the page.
const CLOCK_ENTRIES: usize = 16;

/// A delivery's line with its raised vector-clock entries cut to the first
/// [`CLOCK_ENTRIES`] and a count of the rest: hovering the event shows its
/// whole clock, and across hundreds of nodes the entries made nearly all
/// of the page (500 nodes, 367,155 records: 183 MB of a 199 MB page).
fn short_clock(r: &Record<'_>, line: String) -> String {
    let Kind::Deliver {
        vc: crate::trace::DeliveryClock::Raised(raised),
        ..
    } = &r.kind
    else {
        return line;
    };
    if raised.len() <= CLOCK_ENTRIES {
        return line;
    }
    let entries = |e: &[(u32, u32)]| {
        e.iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let whole = format!("  vc+[{}]", entries(raised));
    let short = format!(
        "  vc+[{} ... {} more: hover for the clock]",
        entries(&raised[..CLOCK_ENTRIES]),
        raised.len() - CLOCK_ENTRIES
    );
    line.replacen(&whole, &short, 1)
}

/// The page's data, or `Err` as soon as its lines alone pass `limit`
/// UTF-16 units (the data holds each line whole, escaped): a trace too
/// large for the page is told so before its data is all built.
fn data_within(
    title: &str,
    nodes: usize,
    records: &[Record<'_>],
    decode: Option<Decoder<'_>>,
    limit: usize,
) -> Result<serde_json::Value, String> {
    let mut units = 0usize;
    let mut time = Vec::with_capacity(records.len());
    let mut node = Vec::with_capacity(records.len());
    let mut kind = Vec::with_capacity(records.len());
    let mut line = Vec::with_capacity(records.len());
    let mut lamport = Vec::with_capacity(records.len());
    // For a delivery or a loss: the record of its send; for a send: its
    // destination; for a loss: its destination.
    let mut send = Vec::with_capacity(records.len());
    let mut peer = Vec::with_capacity(records.len());
    let mut copy = Vec::with_capacity(records.len());
    let mut label: BTreeMap<usize, String> = BTreeMap::new();
    let mut sent_at: BTreeMap<u64, usize> = BTreeMap::new();
    let mut corrupted: Vec<(u64, u32)> = Vec::new();
    let mut failure = None;
    for (i, r) in records.iter().enumerate() {
        time.push(r.time.0);
        node.push(r.node_event().map_or(-1, |(n, _)| i64::from(n.0)));
        kind.push(kind_name(&r.kind));
        let text = short_clock(
            r,
            super::plain(&text::line(i as u64, r, decode)).into_owned(),
        );
        // A char is at least one UTF-16 unit.
        units = units.saturating_add(text.chars().count());
        if units > limit {
            return Err(too_large(format!("more than {}", units / 1_000_000), limit));
        }
        line.push(text);
        lamport.push(r.node_event().map_or(0, |(_, l)| l));
        let (mut s, mut p, mut c) = (-1i64, -1i64, -1i64);
        match &r.kind {
            Kind::Send {
                msg, to, payload, ..
            } => {
                sent_at.insert(*msg, i);
                p = i64::from(to.0);
                if let Some(text) = decode.and_then(|d| d.message(payload)) {
                    label.insert(i, message_kind(&text));
                }
            }
            Kind::Deliver { msg, copy: k, .. } => {
                s = sent_at.get(msg).map_or(-1, |&j| j as i64);
                c = i64::from(*k);
            }
            Kind::Lost {
                msg,
                copy: k,
                from,
                to,
                ..
            } => {
                s = sent_at.get(msg).map_or(-1, |&j| j as i64);
                p = i64::from(to.0);
                c = i64::from(*k);
                // A loss belongs on the sender's lane when the send is not
                // in the trace.
                if s < 0 {
                    *node.last_mut().unwrap() = i64::from(from.0);
                } else {
                    *node.last_mut().unwrap() = i64::from(to.0);
                }
            }
            Kind::Corrupted { msg, copy: k, .. } => corrupted.push((*msg, *k)),
            Kind::CheckFailed { .. } if failure.is_none() => failure = Some(i),
            _ => {}
        }
        send.push(s);
        peer.push(p);
        copy.push(c);
    }
    // Spans the nodes marked (Context::begin_span / end_span).
    let mut spans: Vec<(i64, usize, usize, String)> = Vec::new();
    let mut open: BTreeMap<(u32, String), usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if let Kind::Observe { node, text, .. } = &r.kind {
            if let Some(name) = text.strip_prefix(crate::node::SPAN_BEGIN) {
                open.entry((node.0, name.to_string())).or_insert(i);
            } else if let Some(name) = text.strip_prefix(crate::node::SPAN_END) {
                if let Some(start) = open.remove(&(node.0, name.to_string())) {
                    spans.push((i64::from(node.0), start, i, name.to_string()));
                }
            }
        }
    }
    let skews: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.kind {
            Kind::ClockSkew { node, .. } => Some(json!([node.0, i])),
            _ => None,
        })
        .collect();
    // What a crash kept of the writes not yet synced: a mark on the lane.
    let disks: Vec<serde_json::Value> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.kind {
            Kind::DiskAtCrash { node, kept, lost } => Some(json!([
                node.0,
                i,
                format!("disk kept {}/{}", kept.len(), kept.len() + lost.len())
            ])),
            _ => None,
        })
        .collect();
    // A pause: a bar on its node's lane to its resume, its crash, or the
    // end.
    let mut paused: BTreeMap<u32, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        match &r.kind {
            Kind::Pause { node } => {
                paused.entry(node.0).or_insert(i);
            }
            Kind::Resume { node } | Kind::Crash { node, .. } => {
                if let Some(start) = paused.remove(&node.0) {
                    spans.push((i64::from(node.0), start, i, "paused".to_string()));
                }
            }
            _ => {}
        }
    }
    let last = records.len().saturating_sub(1);
    spans.extend(
        paused
            .into_iter()
            .map(|(n, start)| (i64::from(n), start, last, "paused".to_string())),
    );
    spans.extend(
        open.into_iter()
            .map(|((n, name), start)| (i64::from(n), start, last, name)),
    );
    // Corrupted copies, as the delivery records that received them.
    let corrupt: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| match &r.kind {
            Kind::Deliver { msg, copy, .. } => corrupted.contains(&(*msg, *copy)),
            _ => false,
        })
        .map(|(i, _)| i)
        .collect();
    let mut data = json!({
        "title": title,
        "nodes": nodes,
        "time": time,
        "node": node,
        "kind": kind,
        "line": line,
        "lamport": lamport,
        "send": send,
        "peer": peer,
        "copy": copy,
        "label": label,
        "corrupt": corrupt,
        "failure": failure,
        "skews": skews,
        "disks": disks,
        // Partitions and cut wires, each paired with what lifts it.
        "bands": super::fault_spans(records)
            .iter()
            .map(|s| json!([s.start, s.end.unwrap_or(last)]))
            .collect::<Vec<_>>(),
        "spans": spans.iter().map(|(n, a, b, name)| json!([n, a, b, super::plain(name)])).collect::<Vec<_>>(),
    });
    // Byzantine lanes say so: "n3 byz", and a twin's extra instance "n4=n3".
    let mut lanes: Vec<String> = (0..nodes).map(|n| format!("n{n}")).collect();
    let mut byzantine = false;
    for r in records {
        if let Kind::Byzantine { node, of, .. } = &r.kind {
            if let Some(lane) = lanes.get_mut(node.index()) {
                *lane = if node == of {
                    format!("{node} byz")
                } else {
                    format!("{node}={of}")
                };
                byzantine = true;
            }
        }
    }
    if byzantine {
        data["lanes"] = json!(lanes);
    }
    Ok(data)
}

fn too_large(megabytes: String, limit: usize) -> String {
    format!(
        "the viewer's page would carry {megabytes} MB of data, and a browser's JavaScript \
         holds at most {} MiB in one string (the viewer reads its data as one)",
        limit >> 20
    )
}

/// The page for one execution of a ShiViz / GoVector log: hosts as lanes
/// (in order of first appearance), events in an order that respects
/// happens-before (file order among the ready), arrows from the events
/// each one learned of directly; the first event that breaks a
/// consistency rule stands as the failure.
pub fn render_log(
    title: &str,
    events: &[crate::check::shiviz::LogEvent],
    violations: &[crate::check::shiviz::LogViolation],
) -> Result<String, String> {
    let parents = crate::check::shiviz::parents(events);
    let mut hosts: Vec<&str> = Vec::new();
    for e in events {
        if !hosts.contains(&e.host.as_str()) {
            hosts.push(&e.host);
        }
    }
    let lane = |h: &str| hosts.iter().position(|x| *x == h).unwrap_or(0);
    // Local predecessors join the parents for the order.
    let mut before: Vec<Vec<usize>> = parents.clone();
    let mut by_host: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in events.iter().enumerate() {
        by_host.entry(&e.host).or_default().push(i);
    }
    for list in by_host.values_mut() {
        list.sort_by_key(|&i| events[i].own);
        for w in list.windows(2) {
            before[w[1]].push(w[0]);
        }
    }
    let mut order = Vec::with_capacity(events.len());
    let mut placed = vec![false; events.len()];
    let mut waiting: Vec<usize> = before.iter().map(Vec::len).collect();
    let mut after: Vec<Vec<usize>> = vec![Vec::new(); events.len()];
    for (i, b) in before.iter().enumerate() {
        for &j in b {
            after[j].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..events.len()).filter(|&i| waiting[i] == 0).collect();
    while order.len() < events.len() {
        // A cycle (a broken log) leaves nothing ready: file order then.
        let i = match ready.pop_first() {
            Some(i) => i,
            None => (0..events.len()).find(|&i| !placed[i]).unwrap_or(0),
        };
        if placed[i] {
            continue;
        }
        placed[i] = true;
        order.push(i);
        for &k in &after[i] {
            waiting[k] = waiting[k].saturating_sub(1);
            if waiting[k] == 0 && !placed[k] {
                ready.insert(k);
            }
        }
    }
    let mut at = vec![0usize; events.len()];
    for (p, &i) in order.iter().enumerate() {
        at[i] = p;
    }
    let first_bad = violations.iter().map(|v| v.line).min();
    let mut failure = None;
    let mut line = Vec::new();
    let mut send = Vec::new();
    let mut more = serde_json::Map::new();
    for (p, &i) in order.iter().enumerate() {
        let e = &events[i];
        let clock = serde_json::to_string(&e.clock).unwrap_or_default();
        let mut text = format!(
            "#{p:06}  {}  {}  {clock}  (log line {})",
            e.host, e.event, e.line
        );
        if Some(e.line) == first_bad && failure.is_none() {
            failure = Some(p);
            for v in violations.iter().filter(|v| v.line == e.line) {
                text.push_str(&format!("  FAILED {}: {}", v.rule, v.message));
            }
        }
        line.push(super::plain(&text).into_owned());
        let mut ps: Vec<usize> = parents[i].iter().map(|&j| at[j]).collect();
        ps.sort_unstable();
        send.push(ps.first().map_or(-1, |&j| j as i64));
        if ps.len() > 1 {
            more.insert(p.to_string(), json!(ps[1..].to_vec()));
        }
    }
    let n = order.len();
    let data = json!({
        "title": title,
        "nodes": hosts.len(),
        "time": (0..n).collect::<Vec<_>>(),
        "node": order.iter().map(|&i| lane(&events[i].host)).collect::<Vec<_>>(),
        "kind": vec!["event"; n],
        "line": line,
        "lamport": order.iter().map(|&i| events[i].own).collect::<Vec<_>>(),
        "send": send,
        "more": more,
        "peer": vec![-1; n],
        "copy": vec![-1; n],
        "label": {},
        "corrupt": [],
        "failure": failure,
        "lanes": hosts,
    });
    page(title, &data)
}

/// The longest string a browser's JavaScript holds (V8's
/// `String::kMaxLength` on 64-bit machines, 2^29 - 24 UTF-16 units; other
/// engines allow no more): the page's data is read as one string, so the
/// script of a page with more data than this cannot read it.
pub const MAX_DATA_UNITS: usize = (1 << 29) - 24;

fn page(title: &str, data: &serde_json::Value) -> Result<String, String> {
    page_within(title, data, MAX_DATA_UNITS)
}

fn page_within(title: &str, data: &serde_json::Value, limit: usize) -> Result<String, String> {
    // Nothing in the data may end the script element that holds it, nor
    // make the browser read its end tag as text (`<!--<script>` does): a
    // `<` stands only inside JSON strings, where `\u003c` reads the same.
    let data = data.to_string().replace('<', "\\u003c");
    // A byte of UTF-8 is at most one UTF-16 unit: count only when near.
    if data.len() > limit && data.encode_utf16().count() > limit {
        return Err(too_large((data.len() / 1_000_000).to_string(), limit));
    }
    let title = super::plain(title)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        // Nor may it hold a placeholder the page's later parts replace.
        .replace('{', "&#123;");
    Ok(PAGE
        .replace("{{TITLE}}", &title)
        .replace("{{SCRIPT}}", SCRIPT)
        .replace("{{DATA}}", &data))
}

/// The whole page; an error (in words) when it would carry more data than
/// a browser can read ([`MAX_DATA_UNITS`]).
pub fn render(
    title: &str,
    nodes: usize,
    records: &[Record<'_>],
    decode: Option<Decoder<'_>>,
) -> Result<String, String> {
    page(
        title,
        &data_within(title, nodes, records, decode, MAX_DATA_UNITS)?,
    )
}

const PAGE: &str = r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}} — dsim</title>
<style>
body{margin:0;font:12px monospace;background:#fafafa;color:#222;display:flex;flex-direction:column;height:100vh}
#bar{display:flex;gap:8px;align-items:center;padding:6px 8px;background:#eee;border-bottom:1px solid #ccc;flex-wrap:wrap}
#bar input[type=text]{font:12px monospace;padding:2px 4px}
#bar button{font:12px monospace}
#main{position:relative;flex:1;overflow:hidden}
canvas{position:absolute;left:0;top:0;cursor:grab}
#tip{position:absolute;display:none;background:#fff;border:1px solid #888;padding:4px 6px;white-space:pre;pointer-events:none;max-width:70vw;overflow:hidden;box-shadow:2px 2px 4px #0002;z-index:2}
#status{color:#555}
</style></head><body>
<div id="bar">
<b>{{TITLE}}</b>
<label>axis <select id="axis"><option value="time">virtual time</option><option value="order">event order</option></select></label>
<label>nodes <input id="nodes" type="text" size="14" placeholder="all (or 2,0,1)"></label>
<label>search <input id="search" type="text" size="24" placeholder="text or /regex/"></label>
<button id="next">next match</button>
<button id="fail">first failure</button>
<button id="fit">fit</button>
<span id="status"></span>
</div>
<div id="main"><canvas id="c"></canvas><div id="tip"></div></div>
<pre id="selftest" hidden></pre>
<script type="application/json" id="data">{{DATA}}</script>
<script>{{SCRIPT}}</script>
</body></html>
"##;

const SCRIPT: &str = r##"
"use strict";
const errors = [];
window.addEventListener("error", e => errors.push(String(e.message)));
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.time.length;
const canvas = document.getElementById("c"), ctx = canvas.getContext("2d");
const main = document.getElementById("main"), tip = document.getElementById("tip");
const statusEl = document.getElementById("status");
// Program order and messages: predecessor and successor on the node; the
// events a record learned from directly (the send of a delivery; for a
// log, every parent its clock names) and those that learned from it.
const prev = new Int32Array(N).fill(-1), next = new Int32Array(N).fill(-1);
const inbound = new Map(), delivered = new Map();
{
  const last = new Map();
  const link = (s, i) => {
    if (!inbound.has(i)) inbound.set(i, []);
    inbound.get(i).push(s);
    if (!delivered.has(s)) delivered.set(s, []);
    delivered.get(s).push(i);
  };
  for (let i = 0; i < N; i++) {
    const k = D.kind[i];
    if (k === "lost") continue;
    const n = D.node[i];
    if (n < 0) continue;
    if (last.has(n)) { prev[i] = last.get(n); next[last.get(n)] = i; }
    last.set(n, i);
    if (D.send[i] >= 0) link(D.send[i], i);
    for (const s of (D.more && D.more[i]) || []) link(s, i);
  }
}
const corrupt = new Set(D.corrupt);
const isEvent = i => D.node[i] >= 0 && D.kind[i] !== "lost";
function closure(i, forward) {
  const seen = new Set(), stack = [i];
  while (stack.length) {
    const j = stack.pop();
    const out = forward ? [next[j]].concat(delivered.get(j) || [])
                        : [prev[j]].concat(inbound.get(j) || []);
    for (const k of out) if (k >= 0 && !seen.has(k)) { seen.add(k); stack.push(k); }
  }
  return seen;
}
function vectorClock(i) {
  const vc = {};
  const count = j => { let c = 0; for (let k = j; k >= 0; k = prev[k]) c++; return c; };
  const past = closure(i, false); past.add(i);
  const latest = new Map();
  for (const j of past) { const n = D.node[j]; if (!latest.has(n) || j > latest.get(n)) latest.set(n, j); }
  for (const [n, j] of [...latest.entries()].sort((a, b) => a[0] - b[0])) vc["n" + n] = count(j);
  return vc;
}
// Crashed stretches and partitions.
const crashes = [], partitions = [];
{
  const down = new Map();
  for (let i = 0; i < N; i++) {
    const k = D.kind[i];
    if (k === "crash") down.set(D.node[i], i);
    if (k === "restart" && down.has(D.node[i])) { crashes.push([D.node[i], down.get(D.node[i]), i]); down.delete(D.node[i]); }
  }
  for (const [n, j] of down) crashes.push([n, j, N - 1]);
  for (const [a, b] of (D.bands || [])) partitions.push([a, b]);
}
// View state.
const V = { axis: "time", lanes: [], x0: 0, scale: 1, y0: 0, lane: 56, selected: -1, past: null, future: null, matches: [], match: -1 };
const LEFT = 56, TOP = 24;
function allLanes() { const a = []; for (let n = 0; n < D.nodes; n++) a.push(n); return a; }
function parseLanes(text) {
  text = text.trim();
  if (!text || text === "all") return allLanes();
  const out = [];
  for (const part of text.split(/[ ,]+/)) {
    const m = /^n?(\d+)(?:-n?(\d+))?$/.exec(part);
    if (!m) continue;
    const a = +m[1], b = m[2] === undefined ? a : +m[2];
    for (let n = a; n <= b; n++) if (n < D.nodes && !out.includes(n)) out.push(n);
  }
  return out.length ? out : allLanes();
}
V.lanes = allLanes();
const laneOf = new Map();
function relane() { laneOf.clear(); V.lanes.forEach((n, i) => laneOf.set(n, i)); }
relane();
const t0 = N ? D.time[0] : 0, t1 = N ? D.time[N - 1] : 1;
function pos(i) { return V.axis === "time" ? (D.time[i] - t0) : i; }
const span = () => V.axis === "time" ? Math.max(1, t1 - t0) : Math.max(1, N - 1);
function sx(i) { return LEFT + (pos(i) - V.x0) * V.scale; }
function sy(n) { const l = laneOf.get(n); return l === undefined ? null : TOP + l * V.lane + V.lane / 2 - V.y0; }
function fit() { V.x0 = 0; V.scale = Math.max(1e-12, (canvas.clientWidth - LEFT - 40) / span()); V.y0 = 0; }
// The records whose place lies in [a, b] (positions grow with the index).
function lowerBound(p) { let lo = 0, hi = N; while (lo < hi) { const m = (lo + hi) >> 1; if (pos(m) < p) lo = m + 1; else hi = m; } return lo; }
function visibleRange() {
  const a = V.x0 - 40 / V.scale, b = V.x0 + (canvas.clientWidth + 40) / V.scale;
  return [lowerBound(a), Math.min(N, lowerBound(b) + 1)];
}
const COLORS = { send: "#1f5fbf", deliver: "#2a8a2a", timer: "#8a6d00", input: "#7b3fb5", observe: "#555", op: "#7b3fb5", crash: "#c00", restart: "#c00", start: "#999", lost: "#c00" };
function resize() {
  const r = main.getBoundingClientRect(), dpr = window.devicePixelRatio || 1;
  canvas.width = r.width * dpr; canvas.height = r.height * dpr;
  canvas.style.width = r.width + "px"; canvas.style.height = r.height + "px";
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
}
function dimmed(i) { return V.selected >= 0 && i !== V.selected && !V.past.has(i) && !V.future.has(i); }
function drawFailure(w, h) {
  // The first failed check: a red rule.
  if (D.failure !== null) {
    const x = sx(D.failure);
    if (x >= LEFT && x <= w) {
      ctx.strokeStyle = "#d00"; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x, TOP - 16); ctx.lineTo(x, h); ctx.stroke(); ctx.lineWidth = 1;
      // Cut to the width on screen, and said so: hovering the banner
      // shows the whole message.
      let label = D.line[D.failure].split(/FAILED\s+/).pop();
      const room = Math.max(80, w - LEFT - 8);
      if (ctx.measureText(label).width > room) {
        const more = " … (hover for all)";
        let n = Math.floor(label.length * room / ctx.measureText(label).width);
        while (n > 0 && ctx.measureText(label.slice(0, n) + more).width > room) n--;
        label = label.slice(0, n) + more;
      }
      const tw = ctx.measureText(label).width;
      ctx.fillStyle = "#d00"; ctx.fillText(label, x + 4 + tw < w ? x + 4 : Math.max(LEFT, x - 4 - tw), 12);
    }
  }
}
const OVERVIEW = 20000;
let drawn = [];
function draw() {
  const w = canvas.clientWidth, h = canvas.clientHeight;
  ctx.clearRect(0, 0, w, h);
  drawn = [];
  // Partitions: shaded bands over every lane.
  for (const [a, b] of partitions) {
    const xa = sx(a), xb = sx(b);
    if (xb < 0 || xa > w) continue;
    ctx.fillStyle = "#0000000d"; ctx.fillRect(xa, TOP, Math.max(2, xb - xa), h - TOP);
    ctx.fillStyle = "#666"; ctx.fillText(D.kind[a] + " " + (D.line[a].split(/\s{2,}/).pop() || ""), xa + 3, TOP - 4);
  }
  // Lanes, crashed stretches in red.
  ctx.font = "12px monospace";
  for (const n of V.lanes) {
    const y = sy(n); if (y === null || y < TOP - V.lane || y > h + V.lane) continue;
    ctx.strokeStyle = "#bbb"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(LEFT, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillStyle = "#222"; ctx.fillText(D.lanes ? String(D.lanes[n]).slice(0, 7) : "n" + n, 8, y + 4);
  }
  // Spans the nodes marked: translucent bars above the lane.
  for (const [n, a, b, name] of (D.spans || [])) {
    const y = sy(n); if (y === null) continue;
    const xa = Math.max(LEFT, sx(a)), xb = Math.max(LEFT, sx(b));
    if (xb < 0 || xa > w) continue;
    ctx.fillStyle = "#2a8a2a33"; ctx.fillRect(xa, y - 14, Math.max(2, xb - xa), 10);
    if (xb - xa > 60) { ctx.fillStyle = "#1d5e1d"; ctx.fillText(name.slice(0, Math.floor((xb - xa) / 7)), xa + 2, y - 6); }
  }
  for (const [n, i] of (D.skews || [])) {
    const y = sy(n), x = sx(i); if (y === null || x < LEFT || x > w) continue;
    ctx.fillStyle = "#8a6d00"; ctx.fillText("~skew", x - 14, y + 16);
  }
  for (const [n, i, what] of (D.disks || [])) {
    const y = sy(n), x = sx(i); if (y === null || x < LEFT || x > w) continue;
    ctx.fillStyle = "#a00"; ctx.fillText(what, x - 14, y + 28);
  }
  for (const [n, a, b] of crashes) {
    const y = sy(n); if (y === null) continue;
    ctx.strokeStyle = "#d00"; ctx.lineWidth = 4; ctx.beginPath(); ctx.moveTo(Math.max(LEFT, sx(a)), y); ctx.lineTo(Math.max(LEFT, sx(b)), y); ctx.stroke();
  }
  const [lo, hi] = visibleRange();
  if (hi - lo > OVERVIEW) {
    // Too many to draw one by one: how busy each pixel column of each lane
    // is, and no arrows (zoom in for them).
    const cols = new Map();
    for (let i = lo; i < hi; i++) {
      if (!isEvent(i)) continue;
      const l = laneOf.get(D.node[i]); if (l === undefined) continue;
      const key = l * 100000 + Math.max(0, Math.min(99999, Math.floor(sx(i))));
      cols.set(key, (cols.get(key) || 0) + 1);
    }
    ctx.fillStyle = "#1f5fbf";
    for (const [key, c] of cols) {
      const l = Math.floor(key / 100000), x = key % 100000, y = TOP + l * V.lane + V.lane / 2 - V.y0;
      const hgt = Math.min(V.lane - 8, 4 + 2 * Math.log2(c));
      ctx.fillRect(x, y - hgt / 2, 1, hgt);
    }
    statusEl.textContent = N + " records; " + (hi - lo) + " on screen: zoom in (wheel) for events and messages";
    drawn = [];
    drawFailure(w, h);
    return;
  }
  // Arrows: into records on screen, and out of them.
  const arrows = new Map();
  for (let i = lo; i < hi; i++) {
    if (D.kind[i] === "lost" && D.send[i] >= 0) arrows.set(D.send[i] + ":" + i, [D.send[i], i]);
    for (const s of (inbound.get(i) || [])) arrows.set(s + ":" + i, [s, i]);
    for (const j of (delivered.get(i) || [])) arrows.set(i + ":" + j, [i, j]);
  }
  ctx.lineWidth = 1;
  for (const [s, j] of arrows.values()) {
    const y1 = sy(D.node[s]), y2 = D.kind[j] === "lost" ? sy(D.peer[j]) : sy(D.node[j]);
    if (y1 === null || y2 === null) continue;
    const x1 = sx(s), x2 = sx(j);
    const faded = dimmed(j) || dimmed(s);
    ctx.globalAlpha = faded ? 0.12 : 1;
    ctx.strokeStyle = D.kind[j] === "lost" ? "#c00" : (corrupt.has(j) ? "#e08000" : "#333");
    ctx.setLineDash(D.copy[j] > 0 ? [4, 3] : []);
    const xe = D.kind[j] === "lost" ? x1 + (x2 - x1) * 0.7 : x2, ye = D.kind[j] === "lost" ? y1 + (y2 - y1) * 0.7 : y2;
    ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(xe, ye); ctx.stroke();
    ctx.setLineDash([]);
    const a = Math.atan2(ye - y1, xe - x1);
    if (D.kind[j] === "lost") {
      ctx.beginPath(); ctx.moveTo(xe - 4, ye - 4); ctx.lineTo(xe + 4, ye + 4); ctx.moveTo(xe + 4, ye - 4); ctx.lineTo(xe - 4, ye + 4); ctx.stroke();
    } else {
      ctx.beginPath(); ctx.moveTo(xe, ye); ctx.lineTo(xe - 7 * Math.cos(a - 0.4), ye - 7 * Math.sin(a - 0.4)); ctx.lineTo(xe - 7 * Math.cos(a + 0.4), ye - 7 * Math.sin(a + 0.4)); ctx.closePath(); ctx.fillStyle = ctx.strokeStyle; ctx.fill();
    }
    const lab = D.label[s];
    if (lab && Math.hypot(xe - x1, ye - y1) > 60) {
      ctx.fillStyle = "#444"; ctx.fillText(lab, (x1 + xe) / 2 + 3, (y1 + ye) / 2 - 3);
    }
    ctx.globalAlpha = 1;
  }
  // Events.
  const ringed = new Set(V.matches);
  for (let i = lo; i < hi; i++) {
    if (!isEvent(i)) continue;
    const y = sy(D.node[i]); if (y === null || y < 0 || y > h) continue;
    const x = sx(i);
    ctx.globalAlpha = dimmed(i) ? 0.15 : 1;
    let color = COLORS[D.kind[i]] || "#333";
    if (V.selected >= 0 && V.past.has(i)) color = "#0050d0";
    if (V.selected >= 0 && V.future.has(i)) color = "#d06000";
    ctx.fillStyle = color;
    const r = i === V.selected ? 6 : 4;
    ctx.beginPath(); ctx.arc(x, y, r, 0, 7); ctx.fill();
    if (ringed.has(i)) { ctx.strokeStyle = "#f0c000"; ctx.lineWidth = 3; ctx.beginPath(); ctx.arc(x, y, 8, 0, 7); ctx.stroke(); ctx.lineWidth = 1; }
    ctx.globalAlpha = 1;
    drawn.push([i, x, y]);
  }
  // Losses as targets for hovering.
  for (let i = lo; i < hi; i++) if (D.kind[i] === "lost") { const y = sy(D.node[i]); if (y !== null) drawn.push([i, sx(i), y]); }
  drawFailure(w, h);
  statusEl.textContent = N + " records" + (V.matches.length ? ", " + V.matches.length + " match(es)" : "") + (V.selected >= 0 ? ", selected #" + V.selected + ": " + V.past.size + " before, " + V.future.size + " after" : "");
}
function hit(mx, my) {
  let best = -1, bd = 100;
  for (const [i, x, y] of drawn) { const d = (x - mx) ** 2 + (y - my) ** 2; if (d < bd) { bd = d; best = i; } }
  return best;
}
function select(i) {
  if (i < 0 || !isEvent(i)) { V.selected = -1; V.past = null; V.future = null; }
  else { V.selected = i; V.past = closure(i, false); V.future = closure(i, true); }
  draw();
}
function center(i) {
  V.x0 = pos(i) - (canvas.clientWidth - LEFT) / 2 / V.scale;
  const l = laneOf.get(D.node[i]);
  if (l !== undefined) V.y0 = Math.max(0, TOP + l * V.lane - canvas.clientHeight / 2);
}
function search(q) {
  V.matches = [];
  if (q) {
    let test;
    const m = /^\/(.*)\/([a-z]*)$/.exec(q);
    if (m) { try { const re = new RegExp(m[1], m[2]); test = s => re.test(s); } catch (e) { statusEl.textContent = "bad regex: " + e.message; return; } }
    else { const lq = q.toLowerCase(); test = s => s.toLowerCase().includes(lq); }
    for (let i = 0; i < N; i++) if (test(D.line[i])) V.matches.push(i);
  }
  V.match = -1;
  if (V.matches.length) nextMatch(); else draw();
}
function nextMatch() {
  if (!V.matches.length) return;
  V.match = (V.match + 1) % V.matches.length;
  const i = V.matches[V.match];
  if (V.scale * span() < canvas.clientWidth) V.scale = Math.max(V.scale, 40 / Math.max(1e-9, span() / N));
  center(i); draw();
}
function jumpToFailure() {
  if (D.failure === null) return -1;
  V.scale = Math.max(V.scale, 40 / Math.max(1e-9, span() / N));
  center(D.failure); draw();
  return D.failure;
}
// Input.
let drag = null;
canvas.addEventListener("mousedown", e => { drag = { x: e.clientX, y: e.clientY, x0: V.x0, y0: V.y0, moved: false }; canvas.style.cursor = "grabbing"; });
window.addEventListener("mouseup", () => { canvas.style.cursor = "grab"; });
canvas.addEventListener("mousemove", e => {
  const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left, my = e.clientY - r.top;
  if (drag && e.buttons) {
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    V.x0 = drag.x0 - (e.clientX - drag.x) / V.scale; V.y0 = Math.max(0, drag.y0 - (e.clientY - drag.y)); draw(); tip.style.display = "none"; return;
  }
  const i = my < TOP - 8 && D.failure !== null ? D.failure : hit(mx, my);
  if (i < 0) { tip.style.display = "none"; return; }
  let text = D.line[i];
  if (isEvent(i)) text += "\nLamport " + D.lamport[i] + "   vector clock " + JSON.stringify(vectorClock(i));
  tip.textContent = text; tip.style.display = "block";
  tip.style.left = Math.min(mx + 14, main.clientWidth - tip.offsetWidth - 4) + "px"; tip.style.top = (my + 14) + "px";
});
canvas.addEventListener("click", e => {
  if (drag && drag.moved) { drag = null; return; }
  drag = null;
  const r = canvas.getBoundingClientRect();
  select(hit(e.clientX - r.left, e.clientY - r.top));
});
canvas.addEventListener("wheel", e => {
  e.preventDefault();
  const r = canvas.getBoundingClientRect(), mx = e.clientX - r.left;
  const at = V.x0 + (mx - LEFT) / V.scale;
  V.scale *= Math.exp(-e.deltaY * 0.002);
  V.x0 = at - (mx - LEFT) / V.scale; draw();
}, { passive: false });
document.getElementById("axis").addEventListener("change", e => { V.axis = e.target.value; fit(); draw(); });
document.getElementById("nodes").addEventListener("change", e => { V.lanes = parseLanes(e.target.value); relane(); draw(); });
document.getElementById("search").addEventListener("change", e => search(e.target.value));
document.getElementById("next").addEventListener("click", nextMatch);
document.getElementById("fail").addEventListener("click", jumpToFailure);
document.getElementById("fit").addEventListener("click", () => { fit(); draw(); });
window.addEventListener("resize", () => { resize(); draw(); });
resize(); fit(); draw();
// The self-test hook (see the module's documentation in dsim).
const selftest = /#selftest=(.*)$/.exec(location.hash);
if (selftest) {
  const out = { records: N, loadMs: performance.now(), steps: [] };
  for (const step of decodeURIComponent(selftest[1]).split(";")) {
    const [what, arg] = [step.split(":")[0], step.slice(step.indexOf(":") + 1)];
    if (what === "click") {
      const i = +arg;
      V.scale = Math.max(V.scale, 40 / Math.max(1e-9, span() / N)); center(i); draw();
      const r = canvas.getBoundingClientRect();
      const x = sx(i) + r.left, y = sy(D.node[i]) + r.top;
      canvas.dispatchEvent(new MouseEvent("click", { clientX: x, clientY: y, bubbles: true }));
      out.steps.push({ click: i, selected: V.selected, past: V.past ? [...V.past].sort((a, b) => a - b) : null, future: V.future ? [...V.future].sort((a, b) => a - b) : null });
    } else if (what === "search") {
      const box = document.getElementById("search"); box.value = arg; box.dispatchEvent(new Event("change"));
      out.steps.push({ search: arg, matches: V.matches.slice(0, 1000), count: V.matches.length, centered: V.match >= 0 ? V.matches[V.match] : null });
    } else if (what === "draw") {
      // How long a redraw takes at the current zoom (median of 21).
      const times = [];
      for (let k = 0; k < 21; k++) { const a = performance.now(); draw(); times.push(performance.now() - a); }
      times.sort((a, b) => a - b);
      out.steps.push({ drawMs: times[10], shown: drawn.length });
    } else if (what === "axis") {
      const box = document.getElementById("axis"); box.value = arg; box.dispatchEvent(new Event("change"));
      out.steps.push({ axis: V.axis });
    } else if (what === "failure") {
      document.getElementById("fail").click();
      const x = D.failure === null ? null : sx(D.failure);
      out.steps.push({ failure: D.failure, onScreen: x !== null && x >= LEFT && x <= canvas.clientWidth });
    }
  }
  out.errors = errors;
  const pre = document.getElementById("selftest"); pre.textContent = JSON.stringify(out); pre.hidden = false;
}
"##;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delivery_line_shows_the_first_raised_clock_entries_and_counts_the_rest() {
        let deliver = |entries: u32| Record {
            time: crate::time::Instant(5),
            kind: Kind::Deliver {
                node: crate::node::NodeId(1),
                lamport: 2,
                msg: 0,
                copy: 0,
                from: crate::node::NodeId(0),
                vc: (0..entries).map(|k| (k, 3)).collect::<Vec<_>>().into(),
            },
        };
        let line = |r: &Record<'_>| {
            data("t", 40, std::slice::from_ref(r), None)["line"][0]
                .as_str()
                .unwrap()
                .to_string()
        };
        // Few entries: the line `dsim show` prints.
        let few = deliver(16);
        assert_eq!(line(&few), text::line(0, &few, None));
        let many = deliver(40);
        let shown = line(&many);
        assert!(
            shown.ends_with("vc+[0:3 1:3 2:3 3:3 4:3 5:3 6:3 7:3 8:3 9:3 10:3 11:3 12:3 13:3 14:3 15:3 ... 24 more: hover for the clock]"),
            "{shown}"
        );
        assert!(text::line(0, &many, None).ends_with("39:3]"));
    }

    #[test]
    fn a_page_with_more_data_than_a_browser_can_read_is_refused() {
        let data = json!({ "line": ["x".repeat(1000)] });
        let page = page_within("t", &data, 2000).unwrap();
        assert!(page.contains(&"x".repeat(1000)));
        let err = page_within("t", &data, 500).unwrap_err();
        assert!(err.contains("holds at most"), "{err}");
        // Counted in UTF-16 units, as the browser counts: 1,000 "é" are
        // 2,000 bytes but 1,000 units.
        let data = json!({ "line": ["é".repeat(1000)] });
        assert!(page_within("t", &data, 1100).is_ok());
        // A trace too large is told so before its data is all built.
        let records: Vec<Record<'static>> = (0..1000)
            .map(|i| Record {
                time: crate::time::Instant(i),
                kind: Kind::Observe {
                    node: crate::node::NodeId(0),
                    lamport: i + 1,
                    text: "x".repeat(100).into(),
                },
            })
            .collect();
        assert!(data_within("t", 1, &records, None, 200_000).is_ok());
        let err = data_within("t", 1, &records, None, 50_000).unwrap_err();
        assert!(
            err.contains("would carry more than") && err.contains("holds at most"),
            "{err}"
        );
    }
}
