//! Topology: which nodes are wired to which, and the routes between them.
//!
//! Without a topology every pair of nodes has a direct link (a full mesh).
//! With one, a message follows a shortest path over the links that are up,
//! and is re-routed when a link is cut.

use crate::node::NodeId;
use petgraph::graphmap::UnGraphMap;

/// No route: a node a breadth-first search from the source never reached.
const UNREACHED: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub(crate) struct Topology {
    graph: UnGraphMap<u32, ()>,
    wired: Vec<(u32, u32)>,
    // Per source, built on first use and dropped when a wire goes down or
    // comes back: each node's predecessor on a shortest path from the
    // source (`UNREACHED` if none). Four bytes a node a source, where a
    // cache of whole paths per pair grew with the square of the node count
    // times the path length (a 1,000-node ring: 10 GB).
    trees: Vec<Option<Box<[u32]>>>,
    queue: std::collections::VecDeque<u32>,
    neighbours: Vec<u32>,
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
            trees: vec![None; nodes as usize],
            queue: Default::default(),
            neighbours: Vec::new(),
        }
    }

    /// Breadth-first from `from`, neighbours in id order, so that of equal
    /// shortest paths the same one is always taken.
    fn tree(&mut self, from: u32) -> &[u32] {
        let Topology {
            graph,
            trees,
            queue,
            neighbours,
            ..
        } = self;
        trees[from as usize].get_or_insert_with(|| {
            let mut before = vec![UNREACHED; graph.node_count()].into_boxed_slice();
            before[from as usize] = from;
            queue.clear();
            queue.push_back(from);
            while let Some(n) = queue.pop_front() {
                neighbours.clear();
                neighbours.extend(graph.neighbors(n));
                neighbours.sort_unstable();
                for &m in neighbours.iter() {
                    if before[m as usize] == UNREACHED {
                        before[m as usize] = n;
                        queue.push_back(m);
                    }
                }
            }
            before
        })
    }

    /// The hops a message from `from` to `to` takes, in order, into
    /// `hops` (cleared first); false when no route is up.
    pub fn route(&mut self, from: NodeId, to: NodeId, hops: &mut Vec<(u32, u32)>) -> bool {
        hops.clear();
        let before = self.tree(from.0);
        if before[to.index()] == UNREACHED {
            return false;
        }
        let mut at = to.0;
        while at != from.0 {
            let prev = before[at as usize];
            hops.push((prev, at));
            at = prev;
        }
        hops.reverse();
        true
    }

    /// Takes the wire between `a` and `b` down. False if there is no such wire.
    pub fn cut(&mut self, a: NodeId, b: NodeId) -> bool {
        let removed = self.graph.remove_edge(a.0, b.0).is_some();
        self.trees.iter_mut().for_each(|t| *t = None);
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
        self.trees.iter_mut().for_each(|t| *t = None);
        true
    }
}

fn ordered(a: u32, b: u32) -> (u32, u32) {
    (a.min(b), a.max(b))
}

/// A wire as a key: its two ends, lower id first (a wire has no
/// direction, so `cut = [1, 0]` names the wire `cut = [0, 1]` does).
pub fn wire(a: NodeId, b: NodeId) -> (u32, u32) {
    ordered(a.0, b.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_follow_shortest_paths_and_reroute_around_a_cut() {
        // A ring of four: 0-1-2-3-0.
        let edges = [(0, 1), (1, 2), (2, 3), (3, 0)].map(|(a, b)| (NodeId(a), NodeId(b)));
        let mut t = Topology::new(4, &edges);
        let mut hops = Vec::new();
        let mut route = |t: &mut Topology, a: u32, b: u32| {
            t.route(NodeId(a), NodeId(b), &mut hops)
                .then(|| hops.clone())
        };
        assert_eq!(route(&mut t, 0, 1), Some(vec![(0, 1)]));
        // Two shortest ways round: the one through the lower id, always.
        assert_eq!(route(&mut t, 0, 2), Some(vec![(0, 1), (1, 2)]));
        assert_eq!(route(&mut t, 2, 0), Some(vec![(2, 1), (1, 0)]));
        assert_eq!(route(&mut t, 3, 3), Some(vec![]));
        assert!(t.cut(NodeId(0), NodeId(1)));
        assert_eq!(route(&mut t, 0, 1), Some(vec![(0, 3), (3, 2), (2, 1)]));
        assert!(t.cut(NodeId(2), NodeId(3)));
        assert_eq!(route(&mut t, 0, 1), None);
        assert!(t.restore(NodeId(0), NodeId(1)));
        assert_eq!(route(&mut t, 0, 1), Some(vec![(0, 1)]));
        assert!(!t.restore(NodeId(0), NodeId(2)));
    }

    #[test]
    fn a_large_ring_routes_every_pair_the_shortest_way_round() {
        // 2,000 nodes: every pair routed, the longest way round 1,000 hops.
        let n = 2_000u32;
        let edges: Vec<_> = (0..n).map(|i| (NodeId(i), NodeId((i + 1) % n))).collect();
        let mut t = Topology::new(n, &edges);
        let mut hops = Vec::new();
        let mut longest = 0;
        for a in (0..n).step_by(97) {
            for b in 0..n {
                assert!(t.route(NodeId(a), NodeId(b), &mut hops));
                let d = (a.abs_diff(b)).min(n - a.abs_diff(b)) as usize;
                assert_eq!(hops.len(), d, "{a} -> {b}");
                longest = longest.max(hops.len());
            }
        }
        assert_eq!(longest, 1_000);
    }
}
