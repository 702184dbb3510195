//! The happens-before graph (petgraph): acyclic, and characterized exactly
//! by the vector clocks: e → f iff VC(e)[node(e)] ≤ VC(f)[node(e)], e ≠ f.
//!
//! The graph is built for traces up to a size bound; larger traces rely on
//! the `messages` check, which proves every delivery follows its send in
//! record order, so record order is a topological order and the graph is
//! acyclic.

use super::Verdict;
use crate::node::NodeId;
use crate::trace::{Kind, Record};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;
use std::collections::BTreeMap;

/// Events × nodes above which the graph is not built.
const MAX_CELLS: usize = 1_000_000;
/// How many events the characterization is checked from.
const SOURCES: usize = 16;

pub(crate) struct Graph {
    nodes: usize,
    on: bool,
    graph: DiGraph<(), ()>,
    owner: Vec<NodeId>,
    clocks: Vec<Box<[u32]>>,
    records: Vec<u64>,
    last_event: Vec<Option<NodeIndex>>,
    send_event: BTreeMap<u64, NodeIndex>,
    // Deliveries whose send had not been seen yet (a damaged trace).
    early: BTreeMap<u64, Vec<NodeIndex>>,
    pub verdict: Verdict,
}

impl Graph {
    pub fn new(nodes: usize) -> Graph {
        Graph {
            nodes,
            on: nodes > 0 && nodes <= super::vclock::MAX_NODES,
            graph: DiGraph::new(),
            owner: Vec::new(),
            clocks: Vec::new(),
            records: Vec::new(),
            last_event: vec![None; nodes],
            send_event: BTreeMap::new(),
            early: BTreeMap::new(),
            verdict: Verdict::new("happens-before"),
        }
    }

    pub fn record(&mut self, index: u64, record: &Record<'_>, clock: Option<&[u32]>) {
        if !self.on {
            return;
        }
        let (Some((node, _)), Some(clock)) = (record.node_event(), clock) else {
            return;
        };
        if (self.graph.node_count() + 1) * self.nodes > MAX_CELLS {
            self.on = false;
            self.verdict.skipped = Some(format!("the trace is larger than {MAX_CELLS} event-node cells; acyclicity follows from the messages check"));
            return;
        }
        let e = self.graph.add_node(());
        self.owner.push(node);
        self.clocks.push(clock.into());
        self.records.push(index);
        if let Some(prev) = self.last_event[node.index()].replace(e) {
            self.graph.add_edge(prev, e, ());
        }
        match &record.kind {
            Kind::Send { msg, .. } => {
                self.send_event.insert(*msg, e);
                for d in self.early.remove(msg).unwrap_or_default() {
                    self.graph.add_edge(e, d, ());
                }
            }
            Kind::Deliver { msg, .. } => match self.send_event.get(msg) {
                Some(&s) => {
                    self.graph.add_edge(s, e, ());
                }
                None => self.early.entry(*msg).or_default().push(e),
            },
            _ => {}
        }
    }

    pub fn finish(&mut self) {
        if !self.on {
            return;
        }
        if petgraph::algo::is_cyclic_directed(&self.graph) {
            let at = self
                .early
                .values()
                .flatten()
                .next()
                .map(|d| self.records[d.index()])
                .unwrap_or(0);
            self.verdict.flag(
                at,
                crate::time::Instant::ZERO,
                vec![],
                "the happens-before graph has a cycle: some message is delivered before it is sent",
            );
            return;
        }
        if let Some((e, f, reach)) =
            characterizes_happens_before(&self.graph, &self.owner, &self.clocks)
        {
            let (ne, nf) = (self.owner[e], self.owner[f]);
            self.verdict.flag(
                self.records[f],
                crate::time::Instant::ZERO,
                vec![ne, nf],
                format!(
                    "record {} {} record {} in the graph, but their vector clocks say otherwise",
                    self.records[e],
                    if reach {
                        "happens before"
                    } else {
                        "does not happen before"
                    },
                    self.records[f]
                ),
            );
        }
    }
}

/// Checks that vector clocks characterize reachability in `graph`, from up
/// to 16 evenly spread source events to every event. Returns the first
/// disagreeing pair `(e, f, e reaches f)`.
pub fn characterizes_happens_before(
    graph: &DiGraph<(), ()>,
    owner: &[NodeId],
    clocks: &[Box<[u32]>],
) -> Option<(usize, usize, bool)> {
    let n = graph.node_count();
    if n == 0 {
        return None;
    }
    let step = n.div_ceil(SOURCES).max(1);
    let mut reached = vec![false; n];
    for e in (0..n).step_by(step) {
        reached.iter_mut().for_each(|r| *r = false);
        let mut dfs = Dfs::new(graph, NodeIndex::new(e));
        while let Some(x) = dfs.next(graph) {
            reached[x.index()] = true;
        }
        let k = owner[e].index();
        let mine = clocks[e][k];
        for f in 0..n {
            if f == e {
                continue;
            }
            let vc_says = clocks[f].get(k).is_some_and(|&v| v >= mine);
            if vc_says != reached[f] {
                return Some((e, f, reached[f]));
            }
        }
    }
    None
}
