//! Renderings of a trace for people and tools: a text timeline, JSON lines,
//! the happens-before graph for Graphviz, a ShiViz log, and an SVG
//! space-time diagram.

pub mod dot;
pub mod history;
pub mod html;
pub mod jsonl;
pub mod shiviz;
pub mod svg;
pub mod text;

use crate::node::NodeId;
use crate::time::Instant;
use crate::trace::{Kind, Record};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Text from a trace or a protocol (an observation, a failure message),
/// safe for a terminal: every control character is written as an escape
/// (`\n`, `\t`, `\u{1b}`), so that no escape sequence reaches the
/// terminal and no embedded newline forges a line of dsim's own output.
pub fn plain(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Which part of a trace to show.
#[derive(Clone, Debug, Default)]
pub struct Window {
    pub from: Option<Instant>,
    pub to: Option<Instant>,
    /// Only these nodes' events (and messages between them).
    pub nodes: Option<Vec<NodeId>>,
    /// Each message's sender and receiver (see [`Window::learn`]), so that
    /// what befell a message in the network is shown with its nodes.
    pub ends: BTreeMap<u64, (NodeId, NodeId)>,
}

impl Window {
    pub fn contains_time(&self, t: Instant) -> bool {
        self.from.is_none_or(|f| t >= f) && self.to.is_none_or(|to| t <= to)
    }

    pub fn contains_node(&self, n: NodeId) -> bool {
        self.nodes.as_ref().is_none_or(|ns| ns.contains(&n))
    }

    /// Learns each message's ends from the trace's sends and injections,
    /// when the window names nodes.
    pub fn learn(mut self, records: &[Record<'_>]) -> Window {
        for r in records {
            self.learn_one(r);
        }
        self
    }

    /// [`Window::learn`] one record at a time, for a trace shown as it is
    /// read (a message's send comes before anything else about it).
    pub fn learn_one(&mut self, r: &Record<'_>) {
        if self.nodes.is_none() {
            return;
        }
        match &r.kind {
            Kind::Send { node, msg, to, .. } => {
                self.ends.insert(*msg, (*node, *to));
            }
            Kind::Injected { msg, from, to, .. } => {
                self.ends.insert(*msg, (*from, *to));
            }
            _ => {}
        }
    }

    /// True when the record falls in the window: a node's event, a wire,
    /// or what befell a message (lost, duplicated, corrupted, altered,
    /// injected, refused as unauthentic) with one of its nodes in it; a
    /// partition, a heal, a failed check and the end always are.
    pub fn shows(&self, r: &Record<'_>) -> bool {
        if !self.contains_time(r.time) {
            return false;
        }
        let either = |a: NodeId, b: NodeId| self.contains_node(a) || self.contains_node(b);
        match &r.kind {
            Kind::Lost { from, to, .. } | Kind::Injected { from, to, .. } => either(*from, *to),
            Kind::CutWire { a, b } | Kind::RestoreWire { a, b } => either(*a, *b),
            Kind::ClockSkew { node, .. }
            | Kind::Pause { node }
            | Kind::Resume { node }
            | Kind::Held { node, .. }
            | Kind::Mutated { node, .. }
            | Kind::Byzantine { node, .. } => self.contains_node(*node),
            Kind::Duplicated { msg, .. }
            | Kind::Corrupted { msg, .. }
            | Kind::Altered { msg, .. }
            | Kind::Unauthentic { msg, .. } => self
                .ends
                .get(msg)
                .is_none_or(|&(from, to)| either(from, to)),
            _ => r.node_event().is_none_or(|(n, _)| self.contains_node(n)),
        }
    }
}

/// Vector clocks rebuilt from the causal structure (program order and
/// send → delivery), one record at a time.
struct ClockWalk {
    nodes: usize,
    clocks: Vec<Vec<u32>>,
    at_send: BTreeMap<u64, Vec<u32>>,
}

impl ClockWalk {
    /// `None` past a few thousand nodes: N×N clocks are not worth it.
    fn new(nodes: usize) -> Option<ClockWalk> {
        (nodes <= crate::check::MAX_CLOCK_NODES).then(|| ClockWalk {
            nodes,
            clocks: vec![vec![0u32; nodes]; nodes],
            at_send: BTreeMap::new(),
        })
    }

    /// Takes `r` into account; for a node event, its node's clock after
    /// it. A delivery's entries for other nodes that its merge raised are
    /// put in `raised`, when given.
    fn step(&mut self, r: &Record<'_>, mut raised: Option<&mut Vec<(u32, u32)>>) -> Option<&[u32]> {
        let (node, _) = r.node_event()?;
        let i = node.index();
        if i >= self.nodes {
            return None;
        }
        if let Kind::Deliver { msg, .. } = &r.kind {
            if let Some(sent) = self.at_send.get(msg) {
                for (k, (mine, theirs)) in self.clocks[i].iter_mut().zip(sent).enumerate() {
                    if *theirs > *mine && k != i {
                        if let Some(raised) = raised.as_deref_mut() {
                            raised.push((k as u32, *theirs));
                        }
                    }
                    *mine = (*mine).max(*theirs);
                }
            }
        }
        self.clocks[i][i] += 1;
        if let Kind::Send { msg, .. } = &r.kind {
            self.at_send.insert(*msg, self.clocks[i].clone());
        }
        Some(&self.clocks[i])
    }
}

/// Puts in each delivery's clock digest the entries its merge raised,
/// rebuilt from the causal structure, which is what a reader can use (and
/// what formats before 5 recorded). `dsim check` is what compares the
/// digests; a renderer shows the clocks.
pub fn raised_for_digests(nodes: usize, records: &mut [Record<'_>]) {
    let mut raised = RaisedClocks::new(nodes);
    for r in records {
        raised.fill(r);
    }
}

/// [`raised_for_digests`] one record at a time, for a trace shown as it is
/// read. A message's clock at its send is let go once every copy of it is
/// delivered or lost, so what is held is the clocks of messages in flight,
/// however long the trace.
pub struct RaisedClocks {
    walk: Option<ClockWalk>,
    messages: crate::check::messages::Messages,
    raised: Vec<(u32, u32)>,
    index: u64,
}

impl RaisedClocks {
    pub fn new(nodes: usize) -> RaisedClocks {
        RaisedClocks {
            walk: ClockWalk::new(nodes),
            messages: Default::default(),
            raised: Vec::new(),
            index: 0,
        }
    }

    /// Takes the next record into account and, for a delivery that
    /// records a clock digest, puts the raised entries in its place.
    pub fn fill(&mut self, r: &mut Record<'_>) {
        if let Some(walk) = self.walk.as_mut() {
            self.raised.clear();
            if walk.step(r, Some(&mut self.raised)).is_some() {
                if let Kind::Deliver { vc, .. } = &mut r.kind {
                    if matches!(vc, crate::trace::DeliveryClock::Digest(_)) {
                        *vc = self.raised.clone().into();
                    }
                }
            }
        }
        self.messages.record(self.index, r);
        self.index += 1;
        if let Some(walk) = self.walk.as_mut() {
            for m in &self.messages.done {
                walk.at_send.remove(m);
            }
        }
    }

    /// The messages the last record filled accounted for the last copy of:
    /// nothing later in a sound trace is about them.
    pub fn done(&self) -> &[u64] {
        &self.messages.done
    }
}

/// The vector clock of every node event, rebuilt from the causal structure
/// (program order and send → delivery); `None` for other records.
pub fn event_clocks(nodes: usize, records: &[Record<'_>]) -> Vec<Option<Vec<u32>>> {
    let Some(mut walk) = ClockWalk::new(nodes) else {
        return vec![None; records.len()];
    };
    records
        .iter()
        .map(|r| walk.step(r, None).map(<[u32]>::to_vec))
        .collect()
}

/// A stretch of the run under a network fault: a partition from its start
/// to the heal that lifts it (by id, or every partition), a topology wire
/// from its cut to its restore. Indices are records; `end` is `None` for a
/// fault still in force when the records end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpan {
    pub start: usize,
    pub end: Option<usize>,
    pub label: String,
}

/// The network faults' stretches, by start. A heal lifts only the
/// partition it names (or all of them), a restore only its own wire: the
/// pairing is by what the records say, not by order.
pub fn fault_spans(records: &[Record<'_>]) -> Vec<FaultSpan> {
    // Partitions in force by id: several may share one (a heal of that id
    // lifts them all, as the network does).
    let mut partitions: BTreeMap<u32, Vec<(usize, String)>> = BTreeMap::new();
    let mut wires: BTreeMap<(u32, u32), usize> = BTreeMap::new();
    let mut spans = Vec::new();
    let wire = crate::network::wire;
    let wire_label = |(a, b): (u32, u32)| format!("wire n{a}-n{b} cut");
    for (i, r) in records.iter().enumerate() {
        match &r.kind {
            Kind::Partition { id, spec } => {
                let label = format!("partition #{id} {spec}");
                partitions.entry(*id).or_default().push((i, label));
            }
            Kind::Heal { id } => {
                let lifted: Vec<u32> = match id {
                    Some(id) => vec![*id],
                    None => partitions.keys().copied().collect(),
                };
                let lifted = lifted.iter().filter_map(|h| partitions.remove(h)).flatten();
                for (start, label) in lifted {
                    spans.push(FaultSpan {
                        start,
                        end: Some(i),
                        label,
                    });
                }
            }
            Kind::CutWire { a, b } => {
                wires.entry(wire(*a, *b)).or_insert(i);
            }
            Kind::RestoreWire { a, b } => {
                if let Some(start) = wires.remove(&wire(*a, *b)) {
                    spans.push(FaultSpan {
                        start,
                        end: Some(i),
                        label: wire_label(wire(*a, *b)),
                    });
                }
            }
            _ => {}
        }
    }
    spans.extend(
        partitions
            .into_values()
            .flatten()
            .map(|(start, label)| FaultSpan {
                start,
                end: None,
                label,
            }),
    );
    spans.extend(wires.into_iter().map(|(w, start)| FaultSpan {
        start,
        end: None,
        label: wire_label(w),
    }));
    spans.sort_by_key(|s| (s.start, s.end));
    spans
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::PartitionSpec;

    #[test]
    fn a_heal_lifts_every_partition_of_its_id_and_only_those() {
        let partition = |id, n| Kind::Partition {
            id,
            spec: PartitionSpec::Groups(vec![vec![NodeId(n)]]),
        };
        let kinds = [
            partition(0, 0),
            partition(0, 1),
            partition(3, 2),
            Kind::Heal { id: Some(0) },
            Kind::Heal { id: None },
        ];
        let records: Vec<Record<'_>> = kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| Record {
                time: Instant(i as u64),
                kind,
            })
            .collect();
        let spans: Vec<(usize, Option<usize>)> = fault_spans(&records)
            .iter()
            .map(|s| (s.start, s.end))
            .collect();
        assert_eq!(spans, [(0, Some(3)), (1, Some(3)), (2, Some(4))]);
    }
}
