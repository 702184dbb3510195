//! Partitions: which directed pairs of nodes cannot reach each other.

use crate::node::NodeId;
use serde::{Deserialize, Serialize};

/// A partition as a user states it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PartitionSpec {
    /// The listed groups cannot talk to each other, in either direction.
    /// Nodes named in no group form one more group together.
    Groups(Vec<Vec<NodeId>>),
    /// Messages from any node of `from` to any node of `to` are lost; the
    /// other direction still works.
    OneWay { from: Vec<NodeId>, to: Vec<NodeId> },
    /// Each up node whose [`crate::Node::role`] is `role` when the fault
    /// comes is cut off alone, from the rest and from each other; the
    /// rest stay together. Put in force (and recorded) as the
    /// [`PartitionSpec::Groups`] it came to; a fault that finds no such
    /// node does nothing, and a run says it never happened.
    Isolate { role: String },
}

/// "n0,n1 | n2,n3,n4", "one way: n0 to n1,n2 lost".
impl std::fmt::Display for PartitionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let nodes = |g: &[NodeId]| {
            g.iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        match self {
            PartitionSpec::Groups(groups) => {
                let groups: Vec<String> = groups.iter().map(|g| nodes(g)).collect();
                write!(f, "{}", groups.join(" | "))
            }
            PartitionSpec::OneWay { from, to } => {
                write!(f, "one way: {} to {} lost", nodes(from), nodes(to))
            }
            PartitionSpec::Isolate { role } => write!(f, "isolating whoever is {role}"),
        }
    }
}

/// A partition in force, in a form that answers "is a→b cut?" in O(1).
#[derive(Clone, Debug)]
pub(crate) struct ActivePartition {
    pub id: u32,
    blocks: Blocks,
}

#[derive(Clone, Debug)]
enum Blocks {
    /// Group index per node; nodes in no listed group share `u32::MAX`.
    Groups(Vec<u32>),
    OneWay {
        from: Vec<bool>,
        to: Vec<bool>,
    },
}

impl ActivePartition {
    pub fn new(id: u32, spec: &PartitionSpec, nodes: usize) -> ActivePartition {
        let blocks = match spec {
            PartitionSpec::Groups(groups) => {
                let mut group_of = vec![u32::MAX; nodes];
                for (g, members) in groups.iter().enumerate() {
                    for m in members {
                        if let Some(slot) = group_of.get_mut(m.index()) {
                            *slot = g as u32;
                        }
                    }
                }
                Blocks::Groups(group_of)
            }
            PartitionSpec::OneWay { from, to } => {
                let mut f = vec![false; nodes];
                let mut t = vec![false; nodes];
                for m in from {
                    if let Some(slot) = f.get_mut(m.index()) {
                        *slot = true;
                    }
                }
                for m in to {
                    if let Some(slot) = t.get_mut(m.index()) {
                        *slot = true;
                    }
                }
                Blocks::OneWay { from: f, to: t }
            }
            // Resolved to groups before it is put in force; as a spec
            // alone it cuts nothing.
            PartitionSpec::Isolate { .. } => Blocks::Groups(vec![u32::MAX; nodes]),
        };
        ActivePartition { id, blocks }
    }

    /// True when this partition cuts messages from `a` to `b`.
    pub fn blocks(&self, a: NodeId, b: NodeId) -> bool {
        match &self.blocks {
            Blocks::Groups(group_of) => group_of[a.index()] != group_of[b.index()],
            Blocks::OneWay { from, to } => from[a.index()] && to[b.index()],
        }
    }
}

/// Checks a spec names only nodes that exist and no node twice.
pub fn validate(spec: &PartitionSpec, nodes: u32) -> Result<(), String> {
    let all: Vec<&NodeId> = match spec {
        PartitionSpec::Groups(groups) => {
            if groups.is_empty() {
                return Err("a partition needs at least one group".into());
            }
            groups.iter().flatten().collect()
        }
        PartitionSpec::OneWay { from, to } => {
            if from.is_empty() || to.is_empty() {
                return Err("a one-way partition needs nodes on both sides".into());
            }
            for a in from {
                if to.contains(a) {
                    return Err(format!(
                        "node {} is on both sides of a one-way partition",
                        a.0
                    ));
                }
            }
            from.iter().chain(to).collect()
        }
        PartitionSpec::Isolate { role } => return role_word("isolate", role),
    };
    let mut seen = vec![false; nodes as usize];
    for n in all {
        let slot = seen.get_mut(n.index()).ok_or_else(|| {
            format!(
                "partition names node {} but there are only {nodes} nodes (0..{})",
                n.0, nodes
            )
        })?;
        if *slot && matches!(spec, PartitionSpec::Groups(_)) {
            return Err(format!("node {} is in two groups of one partition", n.0));
        }
        *slot = true;
    }
    Ok(())
}

/// Whether `role`, which fault `what` (`isolate`, `crash`) is aimed at, is
/// a word a node's [`crate::Node::role`] could give.
pub(crate) fn role_word(what: &str, role: &str) -> Result<(), String> {
    let word = |c: char| c.is_alphanumeric() || "-_. ".contains(c);
    match !role.trim().is_empty() && role.chars().all(word) {
        true => Ok(()),
        false => Err(format!(
            "{what} names a role, a word a node's `role()` gives \
             (letters, digits, `-`, `_`, `.` and spaces), not {role:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cut_both_ways_and_unlisted_nodes_form_a_group() {
        let p = ActivePartition::new(
            0,
            &PartitionSpec::Groups(vec![vec![NodeId(0), NodeId(1)]]),
            4,
        );
        assert!(!p.blocks(NodeId(0), NodeId(1)));
        assert!(p.blocks(NodeId(0), NodeId(2)));
        assert!(p.blocks(NodeId(3), NodeId(1)));
        assert!(!p.blocks(NodeId(2), NodeId(3)));
    }

    #[test]
    fn one_way_cuts_one_direction_only() {
        let spec = PartitionSpec::OneWay {
            from: vec![NodeId(0)],
            to: vec![NodeId(1)],
        };
        let p = ActivePartition::new(0, &spec, 2);
        assert!(p.blocks(NodeId(0), NodeId(1)));
        assert!(!p.blocks(NodeId(1), NodeId(0)));
    }

    #[test]
    fn specs_naming_missing_nodes_are_rejected() {
        let spec = PartitionSpec::Groups(vec![vec![NodeId(9)]]);
        assert!(validate(&spec, 5).unwrap_err().contains("node 9"));
        let twice = PartitionSpec::Groups(vec![vec![NodeId(1)], vec![NodeId(1)]]);
        assert!(validate(&twice, 5).is_err());
    }
}
