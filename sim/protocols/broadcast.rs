//! Reliable broadcast over lossy, duplicating links: acknowledgements,
//! retransmission and relaying.
//!
//! Every node is both a sender and a receiver. The workload hands a node a
//! value; it broadcasts it as message `(origin, seq)`. A node that receives
//! a message for the first time delivers it, acknowledges it to the sender,
//! and relays it to every other node (eager relaying: the message survives
//! its origin going quiet). Each node retransmits what it sent to every peer
//! that has not acknowledged it, on a timer, up to `max_retries` times.
//! Receivers de-duplicate by message id. A node syncs its state to disk in
//! every handler, so a restarted node neither delivers again nor forgets
//! what it delivered, broadcast or still owes its peers.
//!
//! **Invariants.** `no-duplicates`: no node delivers a message twice.
//! `no-creation`: every delivered message was broadcast by its origin.
//! `agreement` (at the end of a quiet run with no partition in force): every live node
//! has delivered every message any node delivered. The first two are
//! per-node checks of the delivery the event made, so their cost does not
//! grow with the run.
//!
//! **Authentication** (`authenticate = true`): every message goes over an
//! authenticated channel and a node ignores what is not
//! [`crate::Context::authentic`]. Without it, a forging network's made-up
//! messages are delivered as broadcasts nobody made and `no-creation`
//! fails (`scenarios/broadcast-bug-unauthenticated.toml`); with it, every forgery is
//! ignored and retransmission rides out the copies the network alters
//! (`scenarios/broadcast-authenticated.toml`).
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

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Input, Node, NodeId, TimerId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A broadcast message's identity: its origin and the origin's counter.
pub type MsgId = (u32, u64);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BcastMsg {
    Data { id: MsgId, value: u64 },
    Ack { id: MsgId },
}

#[derive(Clone, Copy, Debug, Hash)]
pub struct BcastSettings {
    pub retry: Duration,
    pub max_retries: u32,
    pub dedup: bool,
    /// Send over authenticated channels and ignore what is not authentic.
    pub authenticate: bool,
}

/// A broadcast node.
#[derive(Clone, Debug, Hash)]
pub struct Bcast {
    settings: BcastSettings,
    next_seq: u64,
    /// Ids this node originated.
    pub originated: BTreeSet<MsgId>,
    /// Every delivery, in order (with repeats if the node delivers twice).
    pub delivered: Vec<MsgId>,
    /// Ghost state for the invariants: the first message delivered twice,
    /// and the latest delivery.
    pub twice: Option<MsgId>,
    pub last_delivered: Option<MsgId>,
    seen: BTreeSet<MsgId>,
    /// `seen` in the order the node saw them, and how much of it and of
    /// `delivered` is on disk.
    seen_order: Vec<MsgId>,
    saved: (usize, usize),
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
            twice: None,
            last_delivered: None,
            seen: BTreeSet::new(),
            seen_order: Vec::new(),
            saved: (0, 0),
            values: BTreeMap::new(),
            unacked: BTreeMap::new(),
            retries: BTreeMap::new(),
            timer_armed: false,
        }
    }

    /// Delivers `id` to the application (and keeps the ghost state);
    /// `again` when it was delivered before.
    pub fn deliver(&mut self, id: MsgId, again: bool) {
        if again && self.twice.is_none() {
            self.twice = Some(id);
        }
        self.delivered.push(id);
        self.last_delivered = Some(id);
    }

    fn spread(
        &mut self,
        ctx: &mut Context<'_, Bcast>,
        id: MsgId,
        value: u64,
        except: Option<NodeId>,
    ) {
        let peers: BTreeSet<NodeId> = ctx.peers().filter(|p| Some(*p) != except).collect();
        for p in &peers {
            self.send(ctx, *p, &BcastMsg::Data { id, value });
        }
        self.values.insert(id, value);
        self.unacked.insert(id, peers);
        self.retries.insert(id, 0);
        self.arm(ctx);
    }

    fn send(&self, ctx: &mut Context<'_, Bcast>, to: NodeId, msg: &BcastMsg) {
        if self.settings.authenticate {
            ctx.send_authenticated(to, msg);
        } else {
            ctx.send(to, msg);
        }
    }

    /// Writes what the last handler changed, a key at a time (so a
    /// handler costs what it did, not the node's whole history), and syncs:
    /// a restarted node takes it all up again ([`Bcast::recover`]).
    /// `owed`: messages whose unacknowledged peers or retries changed.
    fn save(&mut self, ctx: &mut Context<'_, Bcast>, owed: &[MsgId]) {
        let disk = ctx.disk();
        disk.write("next_seq", &self.next_seq);
        disk.write("twice", &self.twice);
        for (i, id) in self.seen_order.iter().enumerate().skip(self.saved.0) {
            disk.write(&format!("s/{i}"), &(id, self.values.get(id)));
        }
        disk.write("seen", &self.seen_order.len());
        for (i, id) in self.delivered.iter().enumerate().skip(self.saved.1) {
            disk.write(&format!("d/{i}"), id);
        }
        disk.write("delivered", &self.delivered.len());
        self.saved = (self.seen_order.len(), self.delivered.len());
        for id in owed {
            let key = format!("u/{}/{}", id.0, id.1);
            match self.unacked.get(id) {
                Some(peers) => disk.write(&key, &(peers, self.retries.get(id))),
                None => disk.remove(&key),
            }
        }
        disk.sync();
    }

    /// After a restart: what the node delivered stays delivered, and what
    /// it owes its peers is retransmitted.
    fn recover(&mut self, ctx: &mut Context<'_, Bcast>) {
        let me = ctx.id().0;
        let disk = ctx.disk();
        let Some(next_seq) = disk.read::<u64>("next_seq") else {
            return;
        };
        self.next_seq = next_seq;
        self.originated = (0..next_seq).map(|k| (me, k)).collect();
        self.twice = disk.read("twice").flatten();
        for i in 0..disk.read::<usize>("seen").unwrap_or(0) {
            let Some((id, value)) = disk.read::<(MsgId, Option<u64>)>(&format!("s/{i}")) else {
                continue;
            };
            self.seen.insert(id);
            self.seen_order.push(id);
            if let Some(v) = value {
                self.values.insert(id, v);
            }
            let owed =
                disk.read::<(BTreeSet<NodeId>, Option<u32>)>(&format!("u/{}/{}", id.0, id.1));
            if let Some((peers, retries)) = owed {
                self.unacked.insert(id, peers);
                self.retries.insert(id, retries.unwrap_or(0));
            }
        }
        for i in 0..disk.read::<usize>("delivered").unwrap_or(0) {
            if let Some(id) = disk.read::<MsgId>(&format!("d/{i}")) {
                self.delivered.push(id);
            }
        }
        self.saved = (self.seen_order.len(), self.delivered.len());
        self.arm(ctx);
    }

    fn arm(&mut self, ctx: &mut Context<'_, Bcast>) {
        if !self.timer_armed && !self.unacked.is_empty() {
            ctx.set_timer(self.settings.retry, BcastTimer::Retransmit);
            self.timer_armed = true;
        }
    }
}

/// A node's one timer: retransmit what peers have not acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BcastTimer {
    Retransmit,
}

impl Node for Bcast {
    type Msg = BcastMsg;
    type Timer = BcastTimer;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.recover(ctx);
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        let id = (ctx.id().0, self.next_seq);
        self.next_seq += 1;
        self.originated.insert(id);
        self.seen.insert(id);
        self.seen_order.push(id);
        self.deliver(id, false);
        self.spread(ctx, id, input.value, None);
        self.save(ctx, &[id]);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: BcastMsg) {
        if self.settings.authenticate && !ctx.authentic() {
            return;
        }
        match msg {
            BcastMsg::Data { id, value } => {
                self.send(ctx, from, &BcastMsg::Ack { id });
                let first = self.seen.insert(id);
                if first || !self.settings.dedup {
                    self.deliver(id, !first);
                }
                if first {
                    self.seen_order.push(id);
                    self.spread(ctx, id, value, Some(from));
                }
                let owed = if first { vec![id] } else { Vec::new() };
                self.save(ctx, &owed);
            }
            BcastMsg::Ack { id } => {
                if let Some(waiting) = self.unacked.get_mut(&id) {
                    waiting.remove(&from);
                    if waiting.is_empty() {
                        self.unacked.remove(&id);
                        self.retries.remove(&id);
                    }
                }
                self.save(ctx, &[id]);
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _t: TimerId, _tag: BcastTimer) {
        self.timer_armed = false;
        let owed: Vec<MsgId> = self.unacked.keys().copied().collect();
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
                self.send(ctx, *p, &BcastMsg::Data { id: *id, value });
            }
        }
        for id in given_up {
            ctx.observe(format!("gave up retransmitting {id:?}"));
            self.unacked.remove(&id);
        }
        self.arm(ctx);
        self.save(ctx, &owed);
    }
}

/// No node delivers a message twice (per node: the node's ghost record).
pub fn no_duplicates(id: NodeId, n: &Bcast, _: &View<'_, Bcast>) -> Result<(), String> {
    match n.twice {
        Some(m) => Err(format!("{id} delivered message {m:?} twice")),
        None => Ok(()),
    }
}

/// The node's latest delivery was broadcast by its origin (per node: a
/// message is checked when it is delivered).
pub fn no_creation(id: NodeId, n: &Bcast, v: &View<'_, Bcast>) -> Result<(), String> {
    let Some(m) = n.last_delivered else {
        return Ok(());
    };
    match v.node(NodeId(m.0)) {
        Some(origin) if !origin.originated.contains(&m) => Err(format!(
            "{id} delivered {m:?}, which {} never broadcast",
            NodeId(m.0)
        )),
        _ => Ok(()),
    }
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

/// Reliable broadcast for the registry.
pub fn protocol() -> Spec<Bcast> {
    Spec::new(
        "broadcast",
        "reliable broadcast with acknowledgements, retransmission and relaying",
        |config, params| {
            let settings = BcastSettings {
                retry: params.duration("retry")?,
                max_retries: params.int("max_retries")? as u32,
                dedup: params.flag("dedup")?,
                authenticate: params.flag("authenticate")?,
            };
            Ok(Simulation::new(config, move |_| Bcast::new(settings))
                .hashable()
                .cloneable()
                .per_node(
                    "no-duplicates",
                    "no node delivers a message twice",
                    no_duplicates,
                )
                .per_node(
                    "no-creation",
                    "every delivered message was broadcast by its origin",
                    no_creation,
                )
                .at_end(
                    "agreement",
                    "at the end, with no partition and nothing in flight, every live node delivered every delivered message",
                    agreement,
                ))
        },
    )
    .param(ParamDoc::duration(
        "retry",
        Duration::from_millis(30),
        "time between retransmissions to peers that have not acknowledged",
    ))
    .param(ParamDoc::int(
        "max_retries",
        200,
        (0, 100_000),
        "retransmissions of one message before a node gives up",
    ))
    .param(ParamDoc::flag(
        "dedup",
        true,
        "receivers deliver each message once; false is the broken twin",
    ))
    .param(ParamDoc::flag(
        "authenticate",
        false,
        "send over authenticated channels and ignore messages that are not authentic (see `[adversary]`)",
    ))
    .min_nodes(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(originated: &[MsgId], delivered: &[MsgId]) -> Option<Bcast> {
        let mut b = Bcast::new(BcastSettings {
            retry: Duration::from_millis(10),
            max_retries: 1,
            dedup: true,
            authenticate: false,
        });
        b.originated.extend(originated.iter().copied());
        for (i, m) in delivered.iter().enumerate() {
            b.deliver(*m, delivered[..i].contains(m));
        }
        Some(b)
    }

    fn check(
        inv: &crate::invariant::Invariant<Bcast>,
        nodes: &[Option<Bcast>],
    ) -> Result<(), String> {
        inv.check(&View::new(nodes).with_changed(NodeId(1)))
    }

    fn invariant(name: &str) -> crate::invariant::Invariant<Bcast> {
        let sim = protocol()
            .simulation(
                crate::SimConfig::new(0, 2),
                &super::super::Params::defaults(&protocol().params),
            )
            .unwrap();
        let mut sim = sim;
        sim.select_invariants(&[name.to_string()]).unwrap();
        sim.into_invariants().pop().unwrap()
    }

    #[test]
    fn no_duplicates_catches_a_message_delivered_twice() {
        let inv = invariant("no-duplicates");
        let ok = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 0)])];
        assert!(check(&inv, &ok).is_ok());
        let twice = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 0), (0, 0)])];
        assert!(check(&inv, &twice).is_err());
    }

    #[test]
    fn no_creation_catches_a_message_its_origin_never_broadcast() {
        let inv = invariant("no-creation");
        let invented = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[(0, 5)])];
        let err = check(&inv, &invented).unwrap_err();
        assert!(err.contains("never broadcast"), "{err}");
    }

    #[test]
    fn agreement_catches_a_node_that_missed_a_message_but_only_when_quiet_and_healed() {
        let missed = [node(&[(0, 0)], &[(0, 0)]), node(&[], &[])];
        assert!(agreement(&View::new(&missed))
            .unwrap_err()
            .contains("never delivered"));
        let partitioned = crate::invariant::FaultState {
            partitions: 1,
            ..Default::default()
        };
        assert!(
            agreement(&View::new(&missed).with_faults(partitioned)).is_ok(),
            "a partition excuses it"
        );
        assert!(
            agreement(&View::new(&missed).with_in_flight(3)).is_ok(),
            "messages still travelling excuse it"
        );
    }
}
