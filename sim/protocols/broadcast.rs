//! Reliable broadcast over lossy, duplicating links: acknowledgements,
//! retransmission and relaying.
//!
//! Every node is both a sender and a receiver. The workload hands a node a
//! value; it broadcasts it as message `(origin, seq)`. A node that receives
//! a message for the first time delivers it, acknowledges it to the sender,
//! and relays it to every other node (eager relaying: the message survives
//! its origin going quiet). Each node retransmits what it sent to every peer
//! that has not acknowledged it, on a timer, up to `max_retries` times.
//! Receivers de-duplicate by message id.
//!
//! **Invariants.** `no-duplicates`: no node delivers a message twice.
//! `no-creation`: every delivered message was broadcast by its origin.
//! `agreement` (at the end of a quiet run with no partition in force): every live node
//! has delivered every message any node delivered.
//!
//! **Fault scenario** (`scenarios/broadcast-lossy.toml`): 10% loss, 5%
//! duplication, reordering, and a partition that splits the cluster for
//! 300 ms before healing.
//!
//! **Broken twin** (`dedup = false`, `scenarios/broadcast-bug-no-dedup.toml`):
//! receivers deliver every copy they get; a duplicated or retransmitted
//! message is delivered twice and `no-duplicates` fails. Every seed of
//! 0..1000 exposes it; the first is seed 0
//! (`dsim run scenarios/broadcast-bug-no-dedup.toml --seed 0`).

use super::{decode_as, execute, InvariantDoc, ParamDoc, Params, Protocol, RunOptions};
use crate::scheduler::{Outcome, SimError, Simulation};
use crate::{Context, Duration, Input, Node, NodeId, SimConfig, TimerId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A broadcast message's identity: its origin and the origin's counter.
pub type MsgId = (u32, u64);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BcastMsg {
    Data { id: MsgId, value: u64 },
    Ack { id: MsgId },
}

#[derive(Clone, Copy, Debug)]
pub struct BcastSettings {
    pub retry: Duration,
    pub max_retries: u32,
    pub dedup: bool,
}

/// A broadcast node.
#[derive(Clone, Debug)]
pub struct Bcast {
    settings: BcastSettings,
    next_seq: u64,
    /// Ids this node originated.
    pub originated: BTreeSet<MsgId>,
    /// Every delivery, in order (with repeats if the node delivers twice).
    pub delivered: Vec<MsgId>,
    seen: BTreeSet<MsgId>,
    values: BTreeMap<MsgId, u64>,
    /// Peers that have not acknowledged what this node sent them.
    unacked: BTreeMap<MsgId, BTreeSet<NodeId>>,
    retries: BTreeMap<MsgId, u32>,
    timer_armed: bool,
}

impl Bcast {
    pub fn new(settings: BcastSettings) -> Bcast {
        Bcast {
            settings,
            next_seq: 0,
            originated: BTreeSet::new(),
            delivered: Vec::new(),
            seen: BTreeSet::new(),
            values: BTreeMap::new(),
            unacked: BTreeMap::new(),
            retries: BTreeMap::new(),
            timer_armed: false,
        }
    }

    fn spread(
        &mut self,
        ctx: &mut Context<'_, BcastMsg>,
        id: MsgId,
        value: u64,
        except: Option<NodeId>,
    ) {
        let peers: BTreeSet<NodeId> = ctx.peers().filter(|p| Some(*p) != except).collect();
        for p in &peers {
            ctx.send(*p, &BcastMsg::Data { id, value });
        }
        self.values.insert(id, value);
        self.unacked.insert(id, peers);
        self.retries.insert(id, 0);
        self.arm(ctx);
    }

    fn arm(&mut self, ctx: &mut Context<'_, BcastMsg>) {
        if !self.timer_armed && !self.unacked.is_empty() {
            ctx.set_timer(self.settings.retry, 0);
            self.timer_armed = true;
        }
    }
}

impl Node for Bcast {
    type Msg = BcastMsg;

    fn on_start(&mut self, _ctx: &mut Context<'_, BcastMsg>) {}

    fn on_input(&mut self, ctx: &mut Context<'_, BcastMsg>, input: Input) {
        let id = (ctx.id().0, self.next_seq);
        self.next_seq += 1;
        self.originated.insert(id);
        self.seen.insert(id);
        self.delivered.push(id);
        self.spread(ctx, id, input.value, None);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, BcastMsg>, from: NodeId, msg: BcastMsg) {
        match msg {
            BcastMsg::Data { id, value } => {
                ctx.send(from, &BcastMsg::Ack { id });
                let first = self.seen.insert(id);
                if first || !self.settings.dedup {
                    self.delivered.push(id);
                }
                if first {
                    self.spread(ctx, id, value, Some(from));
                }
            }
            BcastMsg::Ack { id } => {
                if let Some(waiting) = self.unacked.get_mut(&id) {
                    waiting.remove(&from);
                    if waiting.is_empty() {
                        self.unacked.remove(&id);
                        self.retries.remove(&id);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, BcastMsg>, _t: TimerId, _tag: u64) {
        self.timer_armed = false;
        let mut given_up = Vec::new();
        for (id, peers) in &self.unacked {
            let tries = self.retries.entry(*id).or_insert(0);
            *tries += 1;
            if *tries > self.settings.max_retries {
                given_up.push(*id);
                continue;
            }
            let value = self.values.get(id).copied().unwrap_or(0);
            for p in peers {
                ctx.send(*p, &BcastMsg::Data { id: *id, value });
            }
        }
        for id in given_up {
            ctx.observe(format!("gave up retransmitting {id:?}"));
            self.unacked.remove(&id);
        }
        self.arm(ctx);
    }
}

pub fn no_duplicates(v: &View<'_, Bcast>) -> Result<(), String> {
    for (id, n) in v.up() {
        let mut seen = BTreeSet::new();
        if let Some(m) = n.delivered.iter().find(|m| !seen.insert(**m)) {
            return Err(format!("{id} delivered message {m:?} twice"));
        }
    }
    Ok(())
}

pub fn no_creation(v: &View<'_, Bcast>) -> Result<(), String> {
    for (id, n) in v.up() {
        for m in &n.delivered {
            if let Some(origin) = v.node(NodeId(m.0)) {
                if !origin.originated.contains(m) {
                    return Err(format!(
                        "{id} delivered {m:?}, which {} never broadcast",
                        NodeId(m.0)
                    ));
                }
            }
        }
    }
    Ok(())
}

pub fn agreement(v: &View<'_, Bcast>) -> Result<(), String> {
    // A promise about the end of a healed, quiet run: with a partition in
    // force or messages still travelling, there is nothing to hold it to.
    if v.is_partitioned() || v.in_flight() > 0 {
        return Ok(());
    }
    let all: BTreeSet<MsgId> = v
        .up()
        .flat_map(|(_, n)| n.delivered.iter().copied())
        .collect();
    for (id, n) in v.up() {
        let mine: BTreeSet<&MsgId> = n.delivered.iter().collect();
        if let Some(m) = all.iter().find(|m| !mine.contains(m)) {
            return Err(format!(
                "{id} never delivered {m:?}, which others delivered"
            ));
        }
    }
    Ok(())
}

pub struct Broadcast;

impl Protocol for Broadcast {
    fn name(&self) -> &'static str {
        "broadcast"
    }
    fn summary(&self) -> &'static str {
        "reliable broadcast with acknowledgements, retransmission and relaying"
    }
    fn params(&self) -> Vec<ParamDoc> {
        vec![
            ParamDoc::int(
                "retry_ms",
                30,
                (1, 60_000),
                "milliseconds between retransmissions to peers that have not acknowledged",
            ),
            ParamDoc::int(
                "max_retries",
                200,
                (0, 100_000),
                "retransmissions of one message before a node gives up",
            ),
            ParamDoc::flag(
                "dedup",
                true,
                "receivers deliver each message once; false is the broken twin",
            ),
        ]
    }
    fn invariants(&self) -> Vec<InvariantDoc> {
        vec![
            InvariantDoc { name: "no-duplicates", doc: "no node delivers a message twice" },
            InvariantDoc { name: "no-creation", doc: "every delivered message was broadcast by its origin" },
            InvariantDoc { name: "agreement", doc: "at the end, with no partition, every live node delivered every delivered message" },
        ]
    }
    fn min_nodes(&self) -> u32 {
        2
    }
    fn run(
        &self,
        config: SimConfig,
        params: &Params,
        options: RunOptions<'_>,
    ) -> Result<Outcome, SimError> {
        let settings = BcastSettings {
            retry: Duration::from_millis(params.int("retry_ms").max(1) as u64),
            max_retries: params.int("max_retries").max(0) as u32,
            dedup: params.flag("dedup"),
        };
        let sim = Simulation::new(config, move |_| Bcast::new(settings))
            .always("no-duplicates", no_duplicates)
            .always("no-creation", no_creation)
            .at_end("agreement", agreement);
        execute(sim, options)
    }
    fn decode(&self, payload: &[u8]) -> Option<String> {
        decode_as::<BcastMsg>(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(originated: &[MsgId], delivered: &[MsgId]) -> Option<Bcast> {
        let mut b = Bcast::new(BcastSettings {
            retry: Duration::from_millis(10),
            max_retries: 1,
            dedup: true,
        });
        b.originated.extend(originated.iter().copied());
        b.delivered.extend(delivered.iter().copied());
        Some(b)
    }

    #[test]
    fn no_duplicates_catches_a_message_delivered_twice() {
        let ok = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 0)])];
        assert!(no_duplicates(&View::of(&ok, false, 0)).is_ok());
        let twice = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 0), (0, 0)])];
        assert!(no_duplicates(&View::of(&twice, false, 0)).is_err());
    }

    #[test]
    fn no_creation_catches_a_message_its_origin_never_broadcast() {
        let invented = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 5)])];
        let err = no_creation(&View::of(&invented, false, 0)).unwrap_err();
        assert!(err.contains("never broadcast"), "{err}");
    }

    #[test]
    fn agreement_catches_a_node_that_missed_a_message_but_only_when_quiet_and_healed() {
        let missed = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[])];
        assert!(agreement(&View::of(&missed, false, 0))
            .unwrap_err()
            .contains("never delivered"));
        assert!(
            agreement(&View::of(&missed, true, 0)).is_ok(),
            "a partition excuses it"
        );
        assert!(
            agreement(&View::of(&missed, false, 3)).is_ok(),
            "messages still travelling excuse it"
        );
    }
}
