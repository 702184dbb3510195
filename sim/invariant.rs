//! Protocol invariants: predicates over node states, checked by the kernel
//! between events.

use crate::node::{Node, NodeId};
use crate::time::Instant;

/// When an invariant is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// After every event, and at the end of the run.
    Always,
    /// Only at the end of the run (liveness: "everyone eventually...").
    AtEnd,
}

type Predicate<N> = Box<dyn Fn(&View<'_, N>) -> Result<(), String> + Send + Sync>;

/// A named predicate over the nodes' states.
pub struct Invariant<N> {
    pub name: String,
    pub when: When,
    check: Predicate<N>,
}

impl<N: Node> Invariant<N> {
    /// Checked after every event.
    pub fn always(
        name: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant {
            name: name.into(),
            when: When::Always,
            check: Box::new(check),
        }
    }

    /// Checked once, when the run ends.
    pub fn at_end(
        name: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Invariant<N> {
        Invariant {
            name: name.into(),
            when: When::AtEnd,
            check: Box::new(check),
        }
    }

    pub fn check(&self, view: &View<'_, N>) -> Result<(), String> {
        (self.check)(view)
    }
}

/// A read-only look at the world between events.
pub struct View<'a, N> {
    pub(crate) nodes: &'a [Option<N>],
    pub(crate) now: Instant,
    pub(crate) partitioned: bool,
    pub(crate) in_flight: usize,
    pub(crate) ended: bool,
}

impl<'a, N> View<'a, N> {
    /// The state of `id`, or `None` while it is crashed.
    pub fn node(&self, id: NodeId) -> Option<&'a N> {
        self.nodes.get(id.index()).and_then(|n| n.as_ref())
    }

    /// Every node that is up, with its id.
    pub fn up(&self) -> impl Iterator<Item = (NodeId, &'a N)> + 'a {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (NodeId(i as u32), n)))
    }

    /// How many nodes the simulation has, up or not.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Virtual time now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// True while any partition is in force.
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }

    /// Messages still travelling.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// True during the end-of-run check.
    pub fn is_end(&self) -> bool {
        self.ended
    }
}

#[cfg(test)]
impl<'a, N> View<'a, N> {
    /// A view of hand-built node states, for testing invariants.
    pub(crate) fn of(nodes: &'a [Option<N>], partitioned: bool, in_flight: usize) -> View<'a, N> {
        View {
            nodes,
            now: Instant::ZERO,
            partitioned,
            in_flight,
            ended: true,
        }
    }
}
