//! Bracha's byzantine reliable broadcast (Bracha, 1987), for n ≥ 3f+1
//! nodes of which up to f are byzantine, over authenticated channels.
//!
//! The workload hands a node a value; it broadcasts `Initial(origin, seq,
//! value)` to every node. A node that gets an `Initial` from its origin
//! sends `Echo` of it to every node, once per broadcast; a node that has
//! `Echo` of one value from ⌈(n+f+1)/2⌉ nodes, or `Ready` from f+1, sends
//! `Ready` of it, once; a node that has `Ready` of one value from 2f+1
//! nodes delivers it, once. Every message goes over an authenticated
//! channel ([`crate::Context::send_authenticated`]) and a message that is
//! not [`crate::Context::authentic`] is ignored; a node handles its own
//! messages at once.
//!
//! A node syncs to disk, a fact at a time, what it broadcast, echoed,
//! readied and delivered, before it says so: a restarted node takes it up,
//! so it neither forgets its own broadcasts, nor echoes or readies another
//! value than it did (which would be equivocation), nor delivers again; and
//! it asks every node to `Sync` it, and each answers with the `Echo` and
//! `Ready` messages it sent, so what the node missed while it was down
//! reaches it. A run without a restart sends no `Sync`.
//!
//! **Invariants** (over the honest nodes; a byzantine node's state is
//! hidden from them): `agreement` — no two honest nodes deliver different
//! values for one broadcast; `integrity` — no honest node delivers one
//! broadcast twice; `validity` — what honest nodes deliver for an honest
//! origin's broadcast is the value it broadcast; `totality` — within
//! `settle` after the last fault, every honest node that is up has
//! delivered every broadcast some honest node delivered.
//!
//! **Broken twins.** `quorums = "crash"` (`scenarios/bracha-bug-crash-quorums*.toml`):
//! echo and delivery quorums of f+1, sized for crash faults — enough when
//! nodes only stop, not when one lies: a byzantine origin that says one
//! value to some nodes and another to the rest (twins, or mutation of its
//! messages) gets both delivered, and `agreement` fails. `verify = false`
//! (`scenarios/bracha-bug-unauthenticated.toml`): the nodes still send with
//! MACs but accept whatever arrives, so messages a forging network makes up
//! count toward quorums.

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Input, Node, NodeId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A broadcast's identity: its origin and the origin's counter.
pub type Bid = (u32, u64);

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BrachaMsg {
    Initial {
        origin: u32,
        seq: u64,
        value: u64,
    },
    Echo {
        origin: u32,
        seq: u64,
        value: u64,
    },
    Ready {
        origin: u32,
        seq: u64,
        value: u64,
    },
    /// From a restarted node: send me your echoes and readies again.
    Sync,
}

/// What a node syncs to disk, a fact under a key of its own (`f/{i}`, with
/// their count under `facts`).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
enum Fact {
    Broadcast { seq: u64, value: u64 },
    Echoed { id: Bid, value: u64 },
    Readied { id: Bid, value: u64 },
    Delivered { id: Bid, value: u64 },
}

#[derive(Clone, Copy, Debug, Hash)]
pub struct BrachaSettings {
    /// Nodes an echo quorum needs.
    pub echo_quorum: usize,
    /// Nodes whose `Ready` make a node send its own.
    pub ready_amplify: usize,
    /// Nodes whose `Ready` make a node deliver.
    pub deliver_quorum: usize,
    /// Ignore messages that are not authentic.
    pub verify: bool,
}

impl BrachaSettings {
    /// The quorums for `n` nodes, tolerating f = ⌊(n−1)/3⌋ byzantine ones;
    /// `crash` sizes them for crash faults (the broken twin).
    pub fn new(n: usize, crash: bool, verify: bool) -> BrachaSettings {
        let f = n.saturating_sub(1) / 3;
        BrachaSettings {
            echo_quorum: if crash { f + 1 } else { (n + f + 2) / 2 },
            ready_amplify: f + 1,
            deliver_quorum: if crash { f + 1 } else { 2 * f + 1 },
            verify,
        }
    }
}

/// One Bracha node.
#[derive(Clone, Debug, Hash)]
pub struct Bracha {
    settings: BrachaSettings,
    next_seq: u64,
    /// What this node broadcast, by sequence number.
    pub broadcast: BTreeMap<u64, u64>,
    /// The value this node echoed, and readied, per broadcast.
    echoed: BTreeMap<Bid, u64>,
    readied: BTreeMap<Bid, u64>,
    echoes: BTreeMap<(Bid, u64), BTreeSet<NodeId>>,
    readies: BTreeMap<(Bid, u64), BTreeSet<NodeId>>,
    /// What this node delivered, per broadcast.
    pub delivered: BTreeMap<Bid, u64>,
    /// Ghost state: the first broadcast delivered twice.
    pub twice: Option<Bid>,
}

impl Bracha {
    pub fn new(settings: BrachaSettings) -> Bracha {
        Bracha {
            settings,
            next_seq: 0,
            broadcast: BTreeMap::new(),
            echoed: BTreeMap::new(),
            readied: BTreeMap::new(),
            echoes: BTreeMap::new(),
            readies: BTreeMap::new(),
            delivered: BTreeMap::new(),
            twice: None,
        }
    }

    /// Sends `msg` to every other node and handles it here at once.
    fn send_all(&mut self, ctx: &mut Context<'_, Bracha>, msg: BrachaMsg) {
        ctx.broadcast_authenticated(&msg);
        self.handle(ctx, ctx.id(), msg);
    }

    fn handle(&mut self, ctx: &mut Context<'_, Bracha>, from: NodeId, msg: BrachaMsg) {
        match msg {
            BrachaMsg::Initial { origin, seq, value } => {
                // Only the origin may start its broadcast.
                let id = (origin, seq);
                if NodeId(origin) == from && !self.echoed.contains_key(&id) {
                    self.echoed.insert(id, value);
                    self.keep(ctx, Fact::Echoed { id, value });
                    self.send_all(ctx, BrachaMsg::Echo { origin, seq, value });
                }
            }
            BrachaMsg::Echo { origin, seq, value } => {
                let id = (origin, seq);
                let from_set = self.echoes.entry((id, value)).or_default();
                from_set.insert(from);
                if from_set.len() >= self.settings.echo_quorum {
                    self.ready(ctx, id, value);
                }
            }
            BrachaMsg::Ready { origin, seq, value } => {
                let id = (origin, seq);
                let from_set = self.readies.entry((id, value)).or_default();
                from_set.insert(from);
                let count = from_set.len();
                if count >= self.settings.ready_amplify {
                    self.ready(ctx, id, value);
                }
                if count >= self.settings.deliver_quorum && !self.delivered.contains_key(&id) {
                    self.deliver(ctx, id, value);
                }
            }
            BrachaMsg::Sync => {
                for (&(origin, seq), &value) in &self.echoed {
                    ctx.send_authenticated(from, &BrachaMsg::Echo { origin, seq, value });
                }
                for (&(origin, seq), &value) in &self.readied {
                    ctx.send_authenticated(from, &BrachaMsg::Ready { origin, seq, value });
                }
            }
        }
    }

    /// Syncs `fact` to disk, before the handler's messages leave.
    fn keep(&mut self, ctx: &mut Context<'_, Bracha>, fact: Fact) {
        let disk = ctx.disk();
        let i = disk.read::<u64>("facts").unwrap_or(0);
        disk.write(&format!("f/{i}"), &fact);
        disk.write("facts", &(i + 1));
        disk.sync();
    }

    /// After a restart: takes up what the node synced, and asks every node
    /// for what it missed. At the first start: marks the disk as started.
    fn recover(&mut self, ctx: &mut Context<'_, Bracha>) {
        let me = ctx.id();
        let disk = ctx.disk();
        if disk.read::<bool>("started").is_none() {
            disk.write("started", &true);
            disk.sync();
            return;
        }
        for i in 0..disk.read::<u64>("facts").unwrap_or(0) {
            match disk.read::<Fact>(&format!("f/{i}")) {
                Some(Fact::Broadcast { seq, value }) => {
                    self.broadcast.insert(seq, value);
                    self.next_seq = self.next_seq.max(seq + 1);
                }
                Some(Fact::Echoed { id, value }) => {
                    self.echoed.insert(id, value);
                    self.echoes.entry((id, value)).or_default().insert(me);
                }
                Some(Fact::Readied { id, value }) => {
                    self.readied.insert(id, value);
                    self.readies.entry((id, value)).or_default().insert(me);
                }
                Some(Fact::Delivered { id, value }) => {
                    self.delivered.insert(id, value);
                }
                None => {}
            }
        }
        ctx.broadcast_authenticated(&BrachaMsg::Sync);
    }

    /// Hands `value` to the application as broadcast `id`'s.
    pub fn deliver(&mut self, ctx: &mut Context<'_, Bracha>, id: Bid, value: u64) {
        if self.delivered.insert(id, value).is_some() && self.twice.is_none() {
            self.twice = Some(id);
        }
        self.keep(ctx, Fact::Delivered { id, value });
        ctx.observe(format!("deliver {}/{} = {value}", id.0, id.1));
    }

    fn ready(&mut self, ctx: &mut Context<'_, Bracha>, (origin, seq): Bid, value: u64) {
        let id = (origin, seq);
        if let std::collections::btree_map::Entry::Vacant(e) = self.readied.entry(id) {
            e.insert(value);
            self.keep(ctx, Fact::Readied { id, value });
            self.send_all(ctx, BrachaMsg::Ready { origin, seq, value });
        }
    }
}

impl Node for Bracha {
    type Msg = BrachaMsg;
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.recover(ctx);
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.broadcast.insert(seq, input.value);
        self.keep(
            ctx,
            Fact::Broadcast {
                seq,
                value: input.value,
            },
        );
        let origin = ctx.id().0;
        self.send_all(
            ctx,
            BrachaMsg::Initial {
                origin,
                seq,
                value: input.value,
            },
        );
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: BrachaMsg) {
        if self.settings.verify && !ctx.authentic() {
            return;
        }
        self.handle(ctx, from, msg);
    }
}

/// No two honest nodes deliver different values for one broadcast.
pub fn agreement(v: &View<'_, Bracha>) -> Result<(), String> {
    let mut first: BTreeMap<Bid, (NodeId, u64)> = BTreeMap::new();
    for (id, n) in v.up() {
        for (b, value) in &n.delivered {
            match first.get(b) {
                Some((other, theirs)) if theirs != value => {
                    return Err(format!(
                        "{other} delivered {theirs} for broadcast {}/{} but {id} delivered {value}",
                        b.0, b.1
                    ))
                }
                Some(_) => {}
                None => {
                    first.insert(*b, (id, *value));
                }
            }
        }
    }
    Ok(())
}

/// No honest node delivers one broadcast twice (per node: its ghost record).
pub fn integrity(id: NodeId, n: &Bracha, _: &View<'_, Bracha>) -> Result<(), String> {
    match n.twice {
        Some(b) => Err(format!("{id} delivered broadcast {}/{} twice", b.0, b.1)),
        None => Ok(()),
    }
}

/// What honest nodes deliver for an honest origin is what it broadcast.
pub fn validity(v: &View<'_, Bracha>) -> Result<(), String> {
    for (id, n) in v.up() {
        for ((origin, seq), value) in &n.delivered {
            let Some(o) = v.node(NodeId(*origin)) else {
                continue; // byzantine, or crashed (its record is gone)
            };
            if o.broadcast.get(seq) != Some(value) {
                return Err(format!(
                    "{id} delivered {value} for broadcast {origin}/{seq}, but honest n{origin} broadcast {}",
                    o.broadcast
                        .get(seq)
                        .map_or("nothing with that number".to_string(), |x| x.to_string())
                ));
            }
        }
    }
    Ok(())
}

/// Every honest node that is up delivered every broadcast some honest node
/// delivered.
pub fn totality(v: &View<'_, Bracha>) -> Result<(), String> {
    let all: BTreeMap<Bid, NodeId> = v
        .up()
        .flat_map(|(id, n)| n.delivered.keys().map(move |b| (*b, id)))
        .collect();
    for (id, n) in v.up() {
        if let Some((b, by)) = all.iter().find(|(b, _)| !n.delivered.contains_key(b)) {
            return Err(format!(
                "{id} never delivered broadcast {}/{}, which {by} delivered",
                b.0, b.1
            ));
        }
    }
    Ok(())
}

/// Bracha broadcast for the registry.
pub fn protocol() -> Spec<Bracha> {
    Spec::new(
        "bracha",
        "Bracha's byzantine reliable broadcast (n ≥ 3f+1) over authenticated channels",
        |config, params| {
            let crash = params.text("quorums")? == "crash";
            let settings = BrachaSettings::new(config.nodes as usize, crash, params.flag("verify")?);
            let settle = params.duration("settle")?;
            Ok(Simulation::new(config, move |_| Bracha::new(settings))
                .hashable()
                .cloneable()
                .always(
                    "agreement",
                    "no two honest nodes deliver different values for one broadcast",
                    agreement,
                )
                .per_node(
                    "integrity",
                    "no honest node delivers one broadcast twice",
                    integrity,
                )
                .always(
                    "validity",
                    "what honest nodes deliver for an honest origin's broadcast is the value it broadcast",
                    validity,
                )
                .eventually(
                    "totality",
                    "every honest node that is up delivers every broadcast some honest node delivered",
                    settle,
                    totality,
                ))
        },
    )
    .param(ParamDoc::text(
        "quorums",
        "byzantine",
        &["byzantine", "crash"],
        "quorum sizes: \"byzantine\" (⌈(n+f+1)/2⌉ echoes, 2f+1 readies), or \"crash\" (f+1 for both), the broken twin",
    ))
    .param(ParamDoc::flag(
        "verify",
        true,
        "ignore messages that are not authentic; false is the broken twin that accepts forgeries",
    ))
    .param(ParamDoc::duration(
        "settle",
        Duration::from_secs(2),
        "how long after the last fault every honest node must have delivered what one did",
    ))
    .min_nodes(4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorums_follow_the_fault_model() {
        let s = BrachaSettings::new(4, false, true);
        assert_eq!(
            (s.echo_quorum, s.ready_amplify, s.deliver_quorum),
            (3, 2, 3)
        );
        let s = BrachaSettings::new(7, false, true);
        assert_eq!(
            (s.echo_quorum, s.ready_amplify, s.deliver_quorum),
            (5, 3, 5)
        );
        let s = BrachaSettings::new(4, true, true);
        assert_eq!((s.echo_quorum, s.deliver_quorum), (2, 2));
    }

    #[test]
    fn agreement_catches_two_values_for_one_broadcast() {
        let settings = BrachaSettings::new(4, false, true);
        let mut a = Bracha::new(settings);
        let mut b = Bracha::new(settings);
        a.delivered.insert((3, 0), 1);
        b.delivered.insert((3, 0), 2);
        let nodes = [Some(a), Some(b), None, None];
        let err = agreement(&View::new(&nodes)).unwrap_err();
        assert!(err.contains("3/0"), "{err}");
        // Hidden when the second is byzantine.
        let byz = [false, true, false, false];
        assert!(agreement(&View::new(&nodes).with_byzantine(&byz)).is_ok());
    }

    #[test]
    fn validity_and_totality_catch_their_violations() {
        let settings = BrachaSettings::new(4, false, true);
        let mut origin = Bracha::new(settings);
        origin.broadcast.insert(0, 5);
        let mut other = Bracha::new(settings);
        other.delivered.insert((0, 0), 6);
        let nodes = [Some(origin), Some(other)];
        assert!(validity(&View::new(&nodes))
            .unwrap_err()
            .contains("broadcast 5"));
        let err = totality(&View::new(&nodes)).unwrap_err();
        assert!(err.contains("n0 never delivered broadcast 0/0"), "{err}");
        let mut twice = Bracha::new(settings);
        twice.twice = Some((2, 1));
        let nodes = [Some(twice)];
        let err = integrity(NodeId(0), nodes[0].as_ref().unwrap(), &View::new(&nodes)).unwrap_err();
        assert!(err.contains("2/1 twice"), "{err}");
    }
}
