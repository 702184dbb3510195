//! Causal broadcast with vector clocks carried in messages
//! (Birman–Schiper–Stephenson).
//!
//! A node broadcasting a value increments its own entry and sends its
//! vector clock with the value. A receiver buffers a message from `j` until
//! it is the next one from `j` (`m.vc[j] = local[j] + 1`) and everything it
//! depends on has been delivered (`m.vc[k] ≤ local[k]` for every other k),
//! then delivers it and retries the buffer. Channels are assumed reliable:
//! the scenario reorders and delays but does not lose.
//!
//! **Invariant.** `causal-delivery`: if the broadcast of m1 happened before
//! the broadcast of m2, no node delivers m2 before m1. Checked at each
//! delivery, against the node's ghost count of deliveries per origin: when
//! a node delivers m, it must already have delivered, from every origin k,
//! at least `m.vc[k]` messages (one fewer from m's own origin). Also
//! `no-duplicates`. Both read the ghost record of the first violation, so
//! they cost nothing per event however long the run.
//!
//! **Fault scenario** (`scenarios/causal-reorder.toml`): latencies from 1 to
//! 80 ms, reordering, bursts of broadcasts that answer each other.
//!
//! **Broken twin** (`deliver_on_arrival = true`,
//! `scenarios/causal-bug-deliver-on-arrival.toml`): messages are delivered
//! as they arrive; a reply overtakes what it replies to and
//! `causal-delivery` fails. Every seed of 0..1000 exposes it; the first is
//! seed 0 (`dsim run scenarios/causal-bug-deliver-on-arrival.toml --seed 0`).

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Input, Node, NodeId, View};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CausalMsg {
    pub origin: u32,
    pub vc: Vec<u32>,
    pub value: u64,
}

/// A causal-broadcast node.
#[derive(Clone, Debug, Hash)]
pub struct CausalNode {
    on_arrival: bool,
    /// Messages delivered from each origin.
    pub clock: Vec<u32>,
    buffer: Vec<CausalMsg>,
    /// Every delivery in order: (origin, the message's vector clock).
    pub delivered: Vec<(u32, Vec<u32>)>,
    /// Ghost state for the invariants: deliveries per origin, the
    /// (origin, sequence) pairs delivered, and the first violation of each.
    counts: Vec<u32>,
    delivered_ids: BTreeSet<(u32, u32)>,
    pub out_of_order: Option<String>,
    pub twice: Option<String>,
    /// Replies still to send: a node answers some deliveries with a
    /// broadcast of its own, creating causal chains.
    echo_every: u64,
}

impl CausalNode {
    fn new(nodes: u32, on_arrival: bool, echo_every: u64) -> CausalNode {
        CausalNode {
            on_arrival,
            clock: vec![0; nodes as usize],
            buffer: Vec::new(),
            delivered: Vec::new(),
            counts: vec![0; nodes as usize],
            delivered_ids: BTreeSet::new(),
            out_of_order: None,
            twice: None,
            echo_every,
        }
    }

    /// Keeps the ghost state of one delivery by node `me`: was everything
    /// it depends on delivered before it, and was it delivered before?
    fn record(&mut self, me: NodeId, origin: u32, vc: Vec<u32>) {
        let j = origin as usize;
        let seq = vc.get(j).copied().unwrap_or(0);
        if self.out_of_order.is_none() {
            let missing = vc.iter().enumerate().find(|&(k, need)| {
                let need = if k == j {
                    need.saturating_sub(1)
                } else {
                    *need
                };
                self.counts.get(k).copied().unwrap_or(0) < need
            });
            if let Some((k, need)) = missing {
                let need = if k == j { need - 1 } else { *need };
                self.out_of_order = Some(format!(
                    "{me} delivered message {seq} of {} before message {need} of {}, which it depends on",
                    NodeId(origin),
                    NodeId(k as u32)
                ));
            }
        }
        if let Some(c) = self.counts.get_mut(j) {
            *c += 1;
        }
        if !self.delivered_ids.insert((origin, seq)) && self.twice.is_none() {
            self.twice = Some(format!(
                "{me} delivered message {seq} of {} twice",
                NodeId(origin)
            ));
        }
        self.delivered.push((origin, vc));
    }

    fn broadcast(&mut self, ctx: &mut Context<'_, CausalNode>, value: u64) {
        let me = ctx.id().index();
        self.clock[me] += 1;
        let m = CausalMsg {
            origin: me as u32,
            vc: self.clock.clone(),
            value,
        };
        ctx.broadcast(&m);
        self.record(ctx.id(), m.origin, m.vc);
    }

    fn deliverable(&self, m: &CausalMsg) -> bool {
        let j = m.origin as usize;
        m.vc.len() == self.clock.len()
            && m.vc[j] == self.clock[j] + 1
            && m.vc
                .iter()
                .zip(&self.clock)
                .enumerate()
                .all(|(k, (a, b))| k == j || a <= b)
    }

    fn deliver(&mut self, ctx: &mut Context<'_, CausalNode>, m: CausalMsg) {
        let j = m.origin as usize;
        if let Some(c) = self.clock.get_mut(j) {
            *c = (*c).max(m.vc.get(j).copied().unwrap_or(0));
        }
        let value = m.value;
        self.record(ctx.id(), m.origin, m.vc);
        // One chosen node answers a fraction of deliveries: the answer
        // causally follows what it answers, which is what the check needs.
        let answerer = (value / self.echo_every.max(1)) % u64::from(ctx.node_count());
        if self.echo_every > 0
            && value % self.echo_every == 0
            && value > 0
            && answerer == u64::from(ctx.id().0)
        {
            self.broadcast(ctx, value / self.echo_every);
        }
    }
}

impl Node for CausalNode {
    type Msg = CausalMsg;
    type Timer = ();

    fn on_start(&mut self, _ctx: &mut Context<'_, Self>) {}

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        self.broadcast(ctx, input.value);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, _from: NodeId, msg: CausalMsg) {
        if msg.origin as usize >= self.clock.len() || msg.vc.len() != self.clock.len() {
            return; // corrupted beyond recognition
        }
        if self.on_arrival {
            self.deliver(ctx, msg);
            return;
        }
        self.buffer.push(msg);
        while let Some(i) = self.buffer.iter().position(|m| self.deliverable(m)) {
            let m = self.buffer.remove(i);
            self.deliver(ctx, m);
        }
    }
}

/// No node delivered a message before one it causally depends on.
pub fn causal_delivery(_: NodeId, n: &CausalNode, _: &View<'_, CausalNode>) -> Result<(), String> {
    n.out_of_order.clone().map_or(Ok(()), Err)
}

/// No node delivered a message twice.
pub fn no_duplicates(_: NodeId, n: &CausalNode, _: &View<'_, CausalNode>) -> Result<(), String> {
    n.twice.clone().map_or(Ok(()), Err)
}

/// Causal broadcast for the registry.
pub fn protocol() -> Spec<CausalNode> {
    Spec::new(
        "causal",
        "causal broadcast with vector clocks in messages (reliable, reordering channels)",
        |config, params| {
            let nodes = config.nodes;
            let on_arrival = params.flag("deliver_on_arrival")?;
            let echo = params.int("echo_every")? as u64;
            Ok(
                Simulation::new(config, move |_| CausalNode::new(nodes, on_arrival, echo))
                    .hashable()
                    .cloneable()
                    .per_node(
                        "causal-delivery",
                        "no node delivers a message before one whose broadcast happened before it",
                        causal_delivery,
                    )
                    .per_node(
                        "no-duplicates",
                        "no node delivers a message twice",
                        no_duplicates,
                    ),
            )
        },
    )
    .param(ParamDoc::int(
        "echo_every",
        3,
        (0, 1_000_000),
        "a node answers a delivered value divisible by this with a broadcast of its own (0: never)",
    ))
    .param(ParamDoc::flag(
        "deliver_on_arrival",
        false,
        "deliver messages as they arrive; true is the broken twin",
    ))
    .min_nodes(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(delivered: &[(u32, [u32; 2])]) -> CausalNode {
        let mut n = CausalNode::new(2, false, 0);
        for (o, vc) in delivered {
            n.record(NodeId(1), *o, vc.to_vec());
        }
        n
    }

    fn check(
        f: fn(NodeId, &CausalNode, &View<'_, CausalNode>) -> Result<(), String>,
        n: CausalNode,
    ) -> Result<(), String> {
        let nodes = [None, Some(n)];
        f(NodeId(1), nodes[1].as_ref().unwrap(), &View::new(&nodes))
    }

    #[test]
    fn causal_delivery_catches_a_message_delivered_before_what_it_depends_on() {
        assert!(check(causal_delivery, node(&[(0, [1, 0]), (1, [1, 1])])).is_ok());
        assert!(check(causal_delivery, node(&[(1, [1, 1]), (0, [1, 0])]))
            .unwrap_err()
            .contains("depends on"));
    }

    #[test]
    fn no_duplicates_catches_a_message_delivered_twice() {
        assert!(check(no_duplicates, node(&[(0, [1, 0]), (0, [1, 0])]))
            .unwrap_err()
            .contains("twice"));
    }
}
