//! The happens-before graph for Graphviz: one node per event, an edge for
//! program order and one for each delivered message.

use super::text;
use super::Window;
use crate::trace::{Kind, Record};
use petgraph::dot::{Config, Dot};
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::BTreeMap;

/// The DOT text of the happens-before graph of the events in `window`.
pub fn render(nodes: usize, records: &[Record<'_>], window: &Window) -> String {
    let mut g: DiGraph<String, &'static str> = DiGraph::new();
    let mut last: Vec<Option<NodeIndex>> = vec![None; nodes];
    let mut sends: BTreeMap<u64, NodeIndex> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let Some((node, _)) = r.node_event() else {
            continue;
        };
        if !window.shows(r) || node.index() >= nodes {
            continue;
        }
        let label = text::line(i as u64, r, None);
        let e = g.add_node(label.split_whitespace().collect::<Vec<_>>().join(" "));
        if let Some(prev) = last[node.index()].replace(e) {
            g.add_edge(prev, e, "");
        }
        match &r.kind {
            Kind::Send { msg, .. } => {
                sends.insert(*msg, e);
            }
            Kind::Deliver { msg, .. } => {
                if let Some(&s) = sends.get(msg) {
                    g.add_edge(s, e, "msg");
                }
            }
            _ => {}
        }
    }
    format!("{:?}", Dot::with_config(&g, &[Config::EdgeNoLabel]))
}
