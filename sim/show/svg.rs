//! The space-time diagram as SVG: one vertical lane per node, time flowing
//! down, an arrow per delivered message.
//!
//! What it shows: events as dots labelled with their Lamport time (hover
//! for the record, the vector clock and, for a built-in protocol, the
//! decoded message); deliveries as arrows from send to delivery (dashed for
//! a duplicate copy, orange for a corrupted one); lost copies as a short
//! arrow ending in a cross and the cause; partitions and cut topology
//! wires as shaded bands; clock skews as a mark on the node's lane;
//! crashed stretches of a lane in red; the first failed check as a red rule
//! across the diagram. Rows follow record order, so a few hundred events
//! stay readable; `Window` narrows time and nodes for bigger traces. The
//! file is self-contained: it opens in a browser with no network.

use super::text::{self, Decoder};
use super::{event_clocks, Window};
use crate::node::NodeId;
use crate::trace::{Kind, Record};
use std::collections::BTreeMap;
use std::fmt::Write;

const LANE_GAP: usize = 170;
const ROW: usize = 20;
const LEFT: usize = 150;
const TOP: usize = 70;

/// Text as XML character data: markup escaped, and every character XML
/// 1.0 cannot hold at all (most control characters) written as an escape
/// (`\u{1b}`), so the document stays well-formed whatever a payload or an
/// observation held. Newlines stay (tooltips use them).
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// Renders the records in `window` as an SVG document.
pub fn render(
    nodes: usize,
    records: &[Record<'_>],
    window: &Window,
    decode: Option<Decoder<'_>>,
) -> String {
    let clocks = event_clocks(nodes, records);
    // A lane for every node that does something in the window.
    let mut active = std::collections::BTreeSet::new();
    for r in records.iter().filter(|r| window.shows(r)) {
        match &r.kind {
            Kind::Lost { from, to, .. } => {
                active.insert(*from);
                active.insert(*to);
            }
            _ => {
                if let Some((n, _)) = r.node_event() {
                    active.insert(n);
                }
            }
        }
    }
    let lanes: Vec<NodeId> = active
        .into_iter()
        .filter(|n| n.index() < nodes && window.contains_node(*n))
        .collect();
    let lane_x: BTreeMap<NodeId, usize> = lanes
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, LEFT + i * LANE_GAP))
        .collect();
    // Rows: every shown record gets one, in record order.
    let mut row_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        if window.shows(r)
            && !matches!(
                r.kind,
                Kind::End { .. } | Kind::Duplicated { .. } | Kind::Corrupted { .. }
            )
        {
            let row = row_of.len();
            row_of.insert(i, row);
        }
    }
    let y = |row: usize| TOP + row * ROW;
    let rows = row_of.len().max(1);
    let width = LEFT + lanes.len().max(1) * LANE_GAP + 120;
    let height = TOP + rows * ROW + 90;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333"/></marker></defs>
<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>
"##
    );
    // Where each message was sent, and which copies were corrupted.
    let mut sent_at: BTreeMap<u64, (NodeId, usize)> = BTreeMap::new();
    // Each message's kind (the decoded message's first word), for its arrow.
    let mut kind_of: BTreeMap<u64, String> = BTreeMap::new();
    let mut corrupted: BTreeMap<(u64, u32), usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        match &r.kind {
            Kind::Send {
                node, msg, payload, ..
            } => {
                if let Some(&row) = row_of.get(&i) {
                    sent_at.insert(*msg, (*node, row));
                }
                if let Some(text) = decode.and_then(|d| d.message(payload)) {
                    kind_of.insert(*msg, super::html::message_kind(&text));
                }
            }
            Kind::Corrupted { msg, copy, flips } => {
                corrupted.insert((*msg, *copy), flips.len());
            }
            _ => {}
        }
    }
    // Backgrounds first: partitions and cut wires, crashed stretches.
    let last_row = rows.saturating_sub(1);
    let mut bands = String::new();
    for span in super::fault_spans(records) {
        // From the first row shown at or after its start to the last
        // shown at or before its end: a stretch that began before the
        // window is drawn from its top.
        let first = row_of.range(span.start..).next().map(|(_, &r)| r);
        let last = match span.end {
            Some(end) => row_of.range(..=end).next_back().map(|(_, &r)| r),
            None => Some(last_row),
        };
        if let (Some(a), Some(b)) = (first, last) {
            if a <= b {
                band(&mut bands, a, b, width, &span.label);
            }
        }
    }
    let mut down: BTreeMap<NodeId, usize> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let Some(&row) = row_of.get(&i) else { continue };
        match &r.kind {
            Kind::Crash { node, .. } => {
                down.insert(*node, row);
            }
            Kind::Restart { node, .. } => {
                // A node that crashed before the window was down from its top.
                let start = down.remove(node).unwrap_or(0);
                if let Some(&x) = lane_x.get(node) {
                    crashed(&mut bands, x, start, row);
                }
            }
            _ => {}
        }
    }
    for (node, start) in down {
        if let Some(&x) = lane_x.get(&node) {
            crashed(&mut bands, x, start, last_row);
        }
    }
    out.push_str(&bands);
    // Lanes.
    for (n, x) in &lane_x {
        let _ = writeln!(
            out,
            r##"<text x="{x}" y="{}" text-anchor="middle" font-size="14" font-weight="bold">{n}</text><line class="lane" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="#bbb" stroke-width="2"/>"##,
            TOP - 30,
            TOP - 15,
            y(last_row) + 15
        );
    }
    // Messages, then events on top.
    let mut failure_drawn = false;
    for (i, r) in records.iter().enumerate() {
        let Some(&row) = row_of.get(&i) else { continue };
        let ry = y(row);
        match &r.kind {
            Kind::Deliver {
                node, msg, copy, ..
            } => {
                let Some(&(from, srow)) = sent_at.get(msg) else {
                    continue;
                };
                if let (Some(&x1), Some(&x2)) = (lane_x.get(&from), lane_x.get(node)) {
                    let dash = if *copy > 0 {
                        r#" stroke-dasharray="5 3""#
                    } else {
                        ""
                    };
                    let (color, what) = match corrupted.get(&(*msg, *copy)) {
                        Some(n) => ("#e67e00", format!(", corrupted ({n} byte(s) flipped)")),
                        None => ("#333", String::new()),
                    };
                    let dup = if *copy > 0 {
                        format!(", duplicate copy {copy}")
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        r##"<line class="msg deliver" x1="{x1}" y1="{}" x2="{x2}" y2="{ry}" stroke="{color}" stroke-width="1.3"{dash} marker-end="url(#arrow)"><title>m{msg}.{copy} delivered{dup}{what}</title></line>"##,
                        y(srow)
                    );
                    if let Some(kind) = kind_of.get(msg).filter(|k| !k.is_empty()) {
                        let _ = writeln!(
                            out,
                            r##"<text class="msg-kind" x="{}" y="{}" fill="#555" font-size="10">{}</text>"##,
                            (x1 + x2) / 2 + 3,
                            (y(srow) + ry) / 2 - 2,
                            esc(kind)
                        );
                    }
                }
            }
            Kind::Lost {
                msg,
                copy,
                to,
                cause,
                ..
            } => {
                if let (Some(&(from, srow)), Some(&x2)) = (sent_at.get(msg), lane_x.get(to)) {
                    if let Some(&x1) = lane_x.get(&from) {
                        let (mx, my) = ((x1 + x2) / 2, (y(srow) + ry) / 2);
                        let _ = writeln!(
                            out,
                            r##"<g class="msg lost"><line x1="{x1}" y1="{}" x2="{mx}" y2="{my}" stroke="#c0392b" stroke-width="1.3" stroke-dasharray="2 2"/><text x="{mx}" y="{}" text-anchor="middle" fill="#c0392b" font-size="14">×</text><text x="{}" y="{}" fill="#c0392b">{cause}</text><title>m{msg}.{copy} lost: {cause}</title></g>"##,
                            y(srow),
                            my + 5,
                            mx + 8,
                            my + 4
                        );
                    }
                }
            }
            Kind::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            } => {
                if let Some(&x) = lane_x.get(node) {
                    let _ = writeln!(
                        out,
                        r##"<g class="skew"><path d="M {} {ry} l 5 -5 l 5 5 l -5 5 z" fill="#8a6d00"/><text x="{}" y="{}" fill="#8a6d00">skew {}</text></g>"##,
                        x - 5,
                        x + 8,
                        ry + 4,
                        esc(&skew_label(*offset_ns, *drift_ppm))
                    );
                }
            }
            Kind::Pause { node } | Kind::Resume { node } => {
                if let Some(&x) = lane_x.get(node) {
                    let word = match r.kind {
                        Kind::Pause { .. } => "paused",
                        _ => "resumed",
                    };
                    let _ = writeln!(
                        out,
                        r##"<g class="pause"><rect x="{}" y="{}" width="10" height="10" fill="#6c3483"/><text x="{}" y="{}" fill="#6c3483">{word}</text></g>"##,
                        x - 5,
                        ry - 5,
                        x + 8,
                        ry + 4
                    );
                }
            }
            Kind::CheckFailed { check, message } if !failure_drawn => {
                failure_drawn = true;
                let _ = writeln!(
                    out,
                    r##"<g class="failure"><line x1="10" y1="{ry}" x2="{}" y2="{ry}" stroke="#e00" stroke-width="3"/><text x="12" y="{}" fill="#e00" font-weight="bold">FAILED {}: {}</text></g>"##,
                    width - 10,
                    ry - 5,
                    esc(check),
                    esc(message)
                );
            }
            _ => {}
        }
    }
    for (i, r) in records.iter().enumerate() {
        let Some(&row) = row_of.get(&i) else { continue };
        let Some((node, lamport)) = r.node_event() else {
            continue;
        };
        let Some(&x) = lane_x.get(&node) else {
            continue;
        };
        let ry = y(row);
        let (color, short) = match &r.kind {
            Kind::Send { msg, .. } => ("#2c6fbb", format!("send m{msg}")),
            Kind::Deliver { msg, copy, .. } => ("#1e8449", format!("recv m{msg}.{copy}")),
            Kind::Timer { tag, .. } => ("#7f8c8d", format!("timer {}", text::tag(tag, decode))),
            Kind::Input { id, .. } => ("#8e44ad", format!("input op{id}")),
            Kind::Observe { text, .. } => ("#000", text.chars().take(24).collect()),
            Kind::Op { op, .. } => ("#b03a2e", op.to_string().chars().take(24).collect()),
            Kind::Crash { .. } => ("#e00", "CRASH".to_string()),
            Kind::Restart { .. } => ("#e67e00", "restart".to_string()),
            Kind::Start { .. } => ("#555", "start".to_string()),
            _ => ("#555", String::new()),
        };
        let vc = clocks[i]
            .as_ref()
            .map(|c| format!("{c:?}"))
            .unwrap_or_default();
        let tip = format!("{}\nVC {vc}", text::line(i as u64, r, decode));
        let _ = writeln!(
            out,
            r##"<g class="event"><circle cx="{x}" cy="{ry}" r="4.5" fill="{color}"/><text x="{}" y="{}" fill="{color}">L{lamport} {}</text><title>{}</title></g>"##,
            x + 8,
            ry + 4,
            esc(&short),
            esc(&tip)
        );
    }
    // Time labels on the left, every few rows.
    for (i, r) in records.iter().enumerate() {
        if let Some(&row) = row_of.get(&i) {
            if row % 5 == 0 {
                let _ = writeln!(
                    out,
                    r##"<text x="8" y="{}" fill="#888">{}</text>"##,
                    y(row) + 4,
                    r.time
                );
            }
        }
    }
    let ly = y(last_row) + 45;
    let _ = writeln!(
        out,
        r##"<text x="10" y="{ly}" fill="#555">arrows: delivered (dashed: duplicate copy; orange: corrupted)  × lost, with cause  yellow: partition  red lane: crashed  red rule: first failed check</text>
</svg>"##
    );
    out
}

/// A skew as a person reads it: `+5ms, 300 ppm fast`.
fn skew_label(offset_ns: i64, drift_ppm: i32) -> String {
    let step = crate::time::Duration(offset_ns.unsigned_abs());
    let sign = if offset_ns < 0 { "-" } else { "+" };
    let drift = match drift_ppm {
        0 => None,
        d if d > 0 => Some(format!("{d} ppm fast")),
        d => Some(format!("{} ppm slow", d.unsigned_abs())),
    };
    match (offset_ns, drift) {
        (0, Some(d)) => d,
        (_, Some(d)) => format!("{sign}{step}, {d}"),
        (_, None) => format!("{sign}{step}"),
    }
}

fn band(out: &mut String, start: usize, end: usize, width: usize, label: &str) {
    let (y1, y2) = (TOP + start * ROW - 8, TOP + end * ROW + 8);
    let _ = writeln!(
        out,
        r##"<g class="partition"><rect x="0" y="{y1}" width="{width}" height="{}" fill="#f7dc6f" opacity="0.25"/><text x="{}" y="{}" text-anchor="end" fill="#9a7d0a">{}</text></g>"##,
        y2 - y1,
        width - 10,
        y1 + 12,
        esc(label)
    );
}

fn crashed(out: &mut String, x: usize, start: usize, end: usize) {
    let (y1, y2) = (TOP + start * ROW, TOP + end * ROW);
    let _ = writeln!(
        out,
        r##"<rect class="crashed" x="{}" y="{y1}" width="10" height="{}" fill="#e74c3c" opacity="0.35"/>"##,
        x - 5,
        (y2 - y1).max(2)
    );
}
