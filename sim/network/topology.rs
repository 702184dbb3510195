//! Topology: which nodes are wired to which, and the routes between them.
//!
//! Without a topology every pair of nodes has a direct link (a full mesh).
//! With one, a message follows a shortest path over the links that are up,
//! and is re-routed when a link is cut.

use crate::node::NodeId;
use petgraph::algo::astar;
use petgraph::graphmap::UnGraphMap;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub(crate) struct Topology {
    graph: UnGraphMap<u32, ()>,
    wired: Vec<(u32, u32)>,
    // Routes are recomputed only after the topology changes.
    routes: BTreeMap<(u32, u32), Option<Vec<u32>>>,
}

impl Topology {
    pub fn new(nodes: u32, edges: &[(NodeId, NodeId)]) -> Topology {
        let mut graph = UnGraphMap::new();
        for n in 0..nodes {
            graph.add_node(n);
        }
        let mut wired: Vec<(u32, u32)> = edges.iter().map(|&(a, b)| ordered(a.0, b.0)).collect();
        wired.sort_unstable();
        wired.dedup();
        for &(a, b) in &wired {
            graph.add_edge(a, b, ());
        }
        Topology {
            graph,
            wired,
            routes: BTreeMap::new(),
        }
    }

    /// The nodes a message from `from` to `to` passes through, both ends
    /// included, or `None` when no route is up.
    pub fn route(&mut self, from: NodeId, to: NodeId) -> Option<&[u32]> {
        let graph = &self.graph;
        self.routes
            .entry((from.0, to.0))
            .or_insert_with(|| {
                astar(graph, from.0, |n| n == to.0, |_| 1u32, |_| 0).map(|(_, path)| path)
            })
            .as_deref()
    }

    /// Takes the wire between `a` and `b` down. False if there is no such wire.
    pub fn cut(&mut self, a: NodeId, b: NodeId) -> bool {
        let removed = self.graph.remove_edge(a.0, b.0).is_some();
        self.routes.clear();
        removed
    }

    /// Wires of the topology that are down now.
    pub fn down(&self) -> usize {
        self.wired
            .iter()
            .filter(|&&(a, b)| !self.graph.contains_edge(a, b))
            .count()
    }

    /// Brings a wire of the topology back up. False if it was never wired.
    pub fn restore(&mut self, a: NodeId, b: NodeId) -> bool {
        if self.wired.binary_search(&ordered(a.0, b.0)).is_err() {
            return false;
        }
        self.graph.add_edge(a.0, b.0, ());
        self.routes.clear();
        true
    }
}

fn ordered(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_shortest_paths_and_reroute_around_a_cut() {
        // A ring of four: 0-1-2-3-0.
        let edges = [(0, 1), (1, 2), (2, 3), (3, 0)].map(|(a, b)| (NodeId(a), NodeId(b)));
        let mut t = Topology::new(4, &edges);
        assert_eq!(t.route(NodeId(0), NodeId(1)), Some(&[0, 1][..]));
        assert_eq!(t.route(NodeId(0), NodeId(2)).map(|r| r.len()), Some(3));
        assert!(t.cut(NodeId(0), NodeId(1)));
        assert_eq!(t.route(NodeId(0), NodeId(1)), Some(&[0, 3, 2, 1][..]));
        assert!(t.cut(NodeId(2), NodeId(3)));
        assert_eq!(t.route(NodeId(0), NodeId(1)), None);
        assert!(t.restore(NodeId(0), NodeId(1)));
        assert_eq!(t.route(NodeId(0), NodeId(1)), Some(&[0, 1][..]));
        assert!(!t.restore(NodeId(0), NodeId(2)));
    }
}
