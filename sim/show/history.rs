//! A client history for people: one line per event, and an SVG of the
//! operations as bars on client lanes, the witnesses of a violation in
//! red.

use crate::check::linearizable::{History, Verdict};
use crate::trace::{Kind, Record};
use std::fmt::Write;

/// One line per history event of a trace: record, time, node, event.
pub fn text(records: &[Record<'_>], window: &super::Window) -> String {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| window.shows(r))
        .filter_map(|(i, r)| line(i as u64, r))
        .collect()
}

/// The line [`text`] writes for record `i`, if it is a history event (a
/// trace shown as it is read writes them one by one).
pub fn line(i: u64, r: &Record<'_>) -> Option<String> {
    let Kind::Op { node, op, .. } = &r.kind else {
        return None;
    };
    Some(format!(
        "#{i:06}  {}  {:<4} {}\n",
        r.time,
        node.to_string(),
        super::plain(&op.to_string())
    ))
}

fn esc(s: &str) -> String {
    super::plain(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The operations as bars from invocation to completion on one lane per
/// process, positioned by event order; an operation whose outcome is
/// unknown runs to the right edge, dashed. With a violation, its
/// witnesses are red and the point where the history stops being
/// linearizable is a red rule; the other operations that could change the
/// state, left free to take effect or not while they ran (still running
/// then, or their outcomes set aside), are amber.
pub fn svg(history: &History, verdict: &Verdict) -> String {
    let processes: Vec<u64> = {
        let set: std::collections::BTreeSet<u64> = history.ops.iter().map(|o| o.process).collect();
        set.into_iter().collect()
    };
    let mut times: Vec<u64> = history
        .ops
        .iter()
        .flat_map(|o| std::iter::once(o.call).chain(o.ret))
        .collect();
    times.sort_unstable();
    times.dedup();
    let x_of = |t: u64| 140 + times.partition_point(|&u| u < t) * 12;
    let lane = |p: u64| 50 + processes.iter().position(|&q| q == p).unwrap_or(0) * 40;
    let height = 90 + processes.len() * 40;
    let (witnesses, free, at) = match verdict {
        Verdict::NotLinearizable(v) => (v.ops.clone(), v.free.clone(), Some(v.at)),
        _ => (Vec::new(), Vec::new(), None),
    };
    let title = match verdict {
        Verdict::Linearizable => "linearizable".to_string(),
        Verdict::NotLinearizable(v) => format!(
            "NOT linearizable from #{}: {} in red{}",
            v.at,
            match v.ops.len() {
                1 => "1 witness".to_string(),
                n => format!("{n} witnesses"),
            },
            match v.free.len() {
                0 => String::new(),
                1 => ", 1 other operation that changes state, free to take effect or not while it ran, in amber"
                    .to_string(),
                n => format!(
                    ", {n} other operations that change state, free to take effect or not while they ran, in amber"
                ),
            }
        ),
        Verdict::Unknown(why) => format!("unknown: {why}"),
    };
    // Wide enough for the bars and for the title (11 px monospace is
    // under 7 px a character), which was cut off over a short history.
    let bars = 140 + (times.len() + 4) * 12;
    let width = bars.max(20 + title.chars().count() * 7);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="11">"##
    );
    let _ = writeln!(out, r##"<text x="10" y="20">{}</text>"##, esc(&title));
    for &p in &processes {
        let y = lane(p);
        let _ = writeln!(
            out,
            r##"<text x="10" y="{}">process {p}</text><line x1="130" y1="{y}" x2="{width}" y2="{y}" stroke="#ddd"/>"##,
            y + 4
        );
    }
    if let Some(at) = at {
        let x = x_of(at);
        let _ = writeln!(
            out,
            r##"<line x1="{x}" y1="30" x2="{x}" y2="{height}" stroke="#e00" stroke-dasharray="4 3"/>"##
        );
    }
    for o in &history.ops {
        let y = lane(o.process);
        let (x1, x2) = (x_of(o.call), o.ret.map_or(width - 10, x_of));
        let color = if witnesses.contains(&o.id) {
            "#e00"
        } else if free.contains(&o.id) {
            "#d80"
        } else {
            "#2c6fbb"
        };
        let dash = if o.ret.is_none() {
            r#" stroke-dasharray="3 2""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"<g><rect x="{x1}" y="{}" width="{}" height="14" fill="{color}" fill-opacity="0.25" stroke="{color}"{dash}/><text x="{}" y="{}" fill="{color}">{}</text><title>{}</title></g>"##,
            y - 7,
            (x2 - x1).max(4),
            x1 + 2,
            y + 4,
            esc(&o.f),
            esc(&o.to_string())
        );
    }
    out.push_str("</svg>\n");
    out
}
