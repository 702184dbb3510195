//! A log ShiViz loads with its default parser,
//! `(?<event>.*)\n(?<host>\S*) (?<clock>{.*})`: for every event, a line
//! describing it, then a line with the host and its vector clock as JSON
//! (entries that are zero left out). Paste it into ShiViz's input box; to
//! upload it as a file, put two empty lines in front (the default parser
//! and no delimiter between executions).

use super::{event_clocks, text, Window};
use crate::trace::Record;
use std::fmt::Write;

/// The ShiViz log of the node events in `window`.
pub fn render(nodes: usize, records: &[Record<'_>], window: &Window) -> String {
    let clocks = event_clocks(nodes, records);
    let mut out = String::new();
    for (i, (r, clock)) in records.iter().zip(&clocks).enumerate() {
        let (Some((node, _)), Some(clock)) = (r.node_event(), clock) else {
            continue;
        };
        if !window.shows(r) {
            continue;
        }
        let event = text::line(i as u64, r, None)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let entries: Vec<String> = clock
            .iter()
            .enumerate()
            .filter(|(_, v)| **v > 0)
            .map(|(k, v)| format!("\"n{k}\": {v}"))
            .collect();
        let _ = writeln!(out, "{event}\n{node} {{{}}}", entries.join(", "));
    }
    out
}
