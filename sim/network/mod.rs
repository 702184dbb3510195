//! The network: every message in flight, and the one place that decides
//! each message's fate.
//!
//! A message's fate is drawn at send time from the network's own random
//! stream, in a fixed order: partition and route checks, then per hop a
//! loss draw and a latency draw, then a duplication draw, then a corruption
//! draw per copy; FIFO links then hold a copy back until every earlier copy
//! on the link has arrived, and a bounded link applies its overflow policy.
//! A message that reaches its receiver while a partition separates the two
//! is lost then, so a partition drops exactly what crosses it.

mod link;
mod partition;
mod schedule;
mod topology;

pub use link::{Latency, LinkConfig, Ordering, Overflow};
pub(crate) use partition::role_word;
pub use partition::{validate as validate_partition, PartitionSpec};
pub use schedule::{Schedule, ScriptedFate, Step};
pub use topology::wire;

use crate::node::NodeId;
use crate::rng::{DetRng, FateField, Fates};
use crate::time::{Duration, Instant};
use partition::ActivePartition;
use schedule::Script;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use topology::Topology;

/// Why a message (or one copy of it) was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LossCause {
    /// The link's loss probability struck.
    Random,
    /// A partition separated sender and receiver at send or at arrival.
    Partition,
    /// The link's mailbox was full.
    MailboxFull,
    /// The receiver was crashed when the message arrived.
    ReceiverDown,
    /// The bytes that arrived did not decode as a message.
    Undecodable,
    /// The topology had no route up between sender and receiver.
    NoRoute,
    /// The configuration named this message as one to lose (a planned
    /// message fault: see [`NetworkConfig::planned`]).
    Planned,
    /// A byzantine node set to be silent sent it (see [`crate::adversary`]).
    Silenced,
}

impl LossCause {
    pub const ALL: [LossCause; 8] = [
        LossCause::Random,
        LossCause::Partition,
        LossCause::MailboxFull,
        LossCause::ReceiverDown,
        LossCause::Undecodable,
        LossCause::NoRoute,
        LossCause::Planned,
        LossCause::Silenced,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LossCause::Random => "loss",
            LossCause::Partition => "partition",
            LossCause::MailboxFull => "mailbox-full",
            LossCause::ReceiverDown => "receiver-down",
            LossCause::Undecodable => "undecodable",
            LossCause::NoRoute => "no-route",
            LossCause::Planned => "planned",
            LossCause::Silenced => "silenced",
        }
    }
}

impl fmt::Display for LossCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a planned message fault does to its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageFault {
    /// The message is lost.
    Lose,
    /// The message is delivered twice.
    Duplicate,
}

/// The network as configured for a run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// Every link not overridden behaves like this.
    pub default: LinkConfig,
    /// Per directed link (from, to) overrides.
    pub links: Vec<(NodeId, NodeId, LinkConfig)>,
    /// Undirected wires; `None` is a full mesh.
    pub topology: Option<Vec<(NodeId, NodeId)>>,
    /// Faults aimed at single messages, by message id (ids count sends
    /// from 0 in the order they happen): lose message 17, duplicate
    /// message 4. Unlike a loss probability, each is one decision that a
    /// shrinker can take away on its own without moving the others. The
    /// random draws are made as usual, so removing one changes nothing
    /// else about the run.
    #[serde(default)]
    pub planned: Vec<(u64, MessageFault)>,
}

impl NetworkConfig {
    /// The config that decides the fate of messages from `from` to `to`.
    pub fn link(&self, from: NodeId, to: NodeId) -> &LinkConfig {
        self.links
            .iter()
            .rev()
            .find(|(a, b, _)| *a == from && *b == to)
            .map(|(_, _, c)| c)
            .unwrap_or(&self.default)
    }

    /// True when messages on `from → to` are promised to arrive in order.
    pub fn is_fifo(&self, from: NodeId, to: NodeId) -> bool {
        self.link(from, to).ordering == Ordering::Fifo
    }
}

/// A copy of a message travelling on the network.
#[derive(Clone, Debug, Default)]
pub struct InFlight {
    pub msg: u64,
    pub copy: u32,
    pub from: NodeId,
    pub to: NodeId,
    pub payload: Vec<u8>,
    /// The sender's Lamport time at the send.
    pub lamport: u64,
    /// The sender's vector clock at the send, when vector clocks are on.
    pub vector: Option<Vec<u32>>,
    /// The MAC of an authenticated send (see [`crate::adversary`]).
    pub mac: Option<crate::adversary::Mac>,
    /// Its bytes may not be what the sender's code encoded: corrupted or
    /// altered on the way, mutated by a byzantine sender, or made up by the
    /// network adversary. Only such a copy may fail to decode without that being
    /// the protocol's own defect.
    pub tampered: bool,
}

/// A message handed to the network by a sender.
pub struct Outgoing {
    pub msg: u64,
    pub from: NodeId,
    pub to: NodeId,
    pub payload: Vec<u8>,
    pub lamport: u64,
    pub vector: Option<Vec<u32>>,
    pub mac: Option<crate::adversary::Mac>,
    /// A byzantine sender changed the bytes its code encoded.
    pub mutated: bool,
}

/// What became of one copy at send time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CopyFate {
    /// There is no such copy (the message was not duplicated).
    #[default]
    None,
    /// Will arrive at `at`, kept in `slot` until then. If corruption
    /// struck, [`Network::take_flips`] has the bytes it flipped.
    Scheduled { slot: u32, at: Instant },
    /// Lost before it left.
    Lost(LossCause),
}

/// A copy pushed out of a full mailbox by a newer one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evicted {
    pub msg: u64,
    pub copy: u32,
    pub from: NodeId,
    pub to: NodeId,
}

/// The network's decision about one send: a few words, so that the hot
/// path moves little. The rare extras — corrupted bytes and evicted copies
/// — wait in the network until the caller takes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendReport {
    /// Copy 0 and, if the message was duplicated, copy 1.
    pub copies: [CopyFate; 2],
}

impl SendReport {
    fn lost(cause: LossCause) -> SendReport {
        SendReport {
            copies: [CopyFate::Lost(cause), CopyFate::None],
        }
    }

    pub fn duplicated(&self) -> bool {
        self.copies[1] != CopyFate::None
    }
}

#[derive(Clone, Debug, Default)]
struct LinkState {
    last_arrival: Instant,
    // The latest arrival of a replayed copy its recording never saw arrive,
    // and such copies in flight (slot, message).
    unseen_floor: Instant,
    unseen: Vec<(u32, u64)>,
    in_flight: u32,
    // Slots in send order, kept only on bounded links with DropOldest.
    queue: VecDeque<u32>,
}

/// Per directed link state, dense for small networks and sparse for large.
#[derive(Clone, Debug)]
enum LinkTable {
    Dense {
        nodes: usize,
        states: Vec<LinkState>,
    },
    Sparse(BTreeMap<(u32, u32), LinkState>),
}

impl LinkTable {
    fn new(nodes: usize) -> LinkTable {
        if nodes <= 256 {
            LinkTable::Dense {
                nodes,
                states: vec![LinkState::default(); nodes * nodes],
            }
        } else {
            LinkTable::Sparse(BTreeMap::new())
        }
    }

    fn get(&mut self, from: NodeId, to: NodeId) -> &mut LinkState {
        match self {
            LinkTable::Dense { nodes, states } => &mut states[from.index() * *nodes + to.index()],
            LinkTable::Sparse(map) => map.entry((from.0, to.0)).or_default(),
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Slot {
    live: bool,
    m: InFlight,
}

/// The network model: owns every message in flight.
#[derive(Clone)]
pub struct Network {
    nodes: u32,
    config: NetworkConfig,
    overrides: BTreeMap<(u32, u32), LinkConfig>,
    // Whether any link needs per-link state (FIFO or a bound).
    stateful: bool,
    links: LinkTable,
    partitions: Vec<ActivePartition>,
    topology: Option<Topology>,
    // Copies in flight by slot; a free slot is not `live`. A slot holds the
    // copy itself, not an `Option`, so storing and releasing move fields
    // rather than whole variants.
    slots: Vec<Slot>,
    free: Vec<u32>,
    in_flight: usize,
    hops: Vec<(u32, u32)>,
    script: Option<Script>,
    planned: BTreeMap<u64, MessageFault>,
    // The (offset, xor mask) pairs corruption applied to each copy of the
    // last send, and copies the last send evicted; see `take_flips` and
    // `take_evicted`.
    flips: [Vec<(u32, u8)>; 2],
    evicted: Vec<Evicted>,
    pulled: Vec<(u32, u64, Instant)>,
    // With twins, processes outnumber nodes: the node of each process, so
    // that partitions (which name nodes) cut every instance alike.
    identities: Option<Vec<NodeId>>,
}

impl Network {
    pub fn new(nodes: u32, config: NetworkConfig) -> Network {
        let overrides: BTreeMap<(u32, u32), LinkConfig> = config
            .links
            .iter()
            .map(|(a, b, c)| ((a.0, b.0), c.clone()))
            .collect();
        let needs_state = |c: &LinkConfig| c.ordering == Ordering::Fifo || c.capacity.is_some();
        let stateful = needs_state(&config.default) || overrides.values().any(needs_state);
        let topology = config
            .topology
            .as_ref()
            .map(|edges| Topology::new(nodes, edges));
        let planned = config.planned.iter().copied().collect();
        Network {
            planned,
            nodes,
            overrides,
            stateful,
            links: LinkTable::new(if stateful { nodes as usize } else { 0 }),
            partitions: Vec::new(),
            topology,
            config,
            slots: Vec::new(),
            free: Vec::new(),
            in_flight: 0,
            hops: Vec::new(),
            script: None,
            flips: Default::default(),
            evicted: Vec::new(),
            pulled: Vec::new(),
            identities: None,
        }
    }

    /// Tells the network that process `p` is an instance of node
    /// `identities[p]`, and that there are `nodes` nodes: partitions
    /// name nodes.
    pub fn set_identities(&mut self, nodes: u32, identities: Vec<NodeId>) {
        self.nodes = nodes;
        self.identities = Some(identities);
    }

    /// Takes charge of a message the network adversary made up; it
    /// arrives whenever the caller schedules it. Returns its slot.
    pub fn inject(
        &mut self,
        msg: u64,
        from: NodeId,
        to: NodeId,
        payload: Vec<u8>,
        mac: Option<crate::adversary::Mac>,
    ) -> u32 {
        self.store(msg, 0, (from, to), 0, payload, None, mac, true)
    }

    /// Takes message fates from `schedule` instead of the random stream.
    pub fn follow(&mut self, schedule: std::sync::Arc<Schedule>) {
        self.script = Some(Script::new(schedule));
    }

    /// Sends that found no recorded fate while following a schedule.
    pub fn unscripted(&self) -> u64 {
        self.script.as_ref().map_or(0, |s| s.unscripted)
    }

    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    fn link(&self, from: u32, to: u32) -> &LinkConfig {
        if self.overrides.is_empty() {
            &self.config.default
        } else {
            self.overrides
                .get(&(from, to))
                .unwrap_or(&self.config.default)
        }
    }

    /// True when some partition in force cuts `from → to`.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        let (from, to) = match &self.identities {
            Some(ids) => (ids[from.index()], ids[to.index()]),
            None => (from, to),
        };
        self.partitions.iter().any(|p| p.blocks(from, to))
    }

    /// True when any partition is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.partitions.is_empty()
    }

    /// Partitions in force.
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Topology wires down now (0 without a topology).
    pub fn wires_down(&self) -> usize {
        self.topology.as_ref().map_or(0, Topology::down)
    }

    /// Copies in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Decides the fate of `out` and takes charge of every copy that will
    /// be delivered.
    pub fn send(&mut self, rng: &mut DetRng, now: Instant, out: Outgoing) -> SendReport {
        // The decisions come from the recorded schedule when replaying one
        // (taken first, so every send on a link uses up its recorded slot),
        // otherwise from the network's random stream.
        let scripted = self
            .script
            .as_mut()
            .and_then(|s| s.next(out.from.0, out.to.0, &out.payload))
            .map(|(fate, k)| (fate.clone(), k));
        let horizon = self.script.as_ref().map(|s| s.horizon());
        self.flips.iter_mut().for_each(Vec::clear);
        self.evicted.clear();
        self.pulled.clear();
        if self.is_cut(out.from, out.to) {
            return SendReport::lost(LossCause::Partition);
        }
        // The hop buffer is reused across sends to keep the hot path free
        // of allocation.
        let mut hops = std::mem::take(&mut self.hops);
        hops.clear();
        match &mut self.topology {
            None => hops.push((out.from.0, out.to.0)),
            Some(t) => {
                if !t.route(out.from, out.to, &mut hops) {
                    self.hops = hops;
                    return SendReport::lost(LossCause::NoRoute);
                }
            }
        }
        let end = self.link(out.from.0, out.to.0);
        let (duplicate, corrupt_p, ordering, capacity, overflow) = (
            end.duplicate,
            end.corrupt,
            end.ordering,
            end.capacity,
            end.overflow,
        );
        // Corruption of the first copy is decided with loss and duplication
        // (one draw, see `Fates`); a second copy's is drawn when it exists.
        let mut corrupt_first = false;
        // Per copy, whether the recording saw it arrive (`None`: no
        // recorded fate, or one lost as it was sent, which has no time on
        // the network either way).
        let arrived = scripted
            .as_ref()
            .map(|(f, _)| f)
            .filter(|f| !f.fresh_latency)
            .map(|f| [0, 1].map(|c| matches!(f.copies.get(c), Some((Some(_), _)))));
        let (first, second_at, mut scripted_flips) = match scripted {
            Some((fate, k)) => {
                let at = |i: usize, rng: &mut DetRng, net: &Network| match fate.copies.get(i) {
                    Some((Some(d), _)) => now.after(*d),
                    // Never on the network in the recording: drawn as the
                    // network draws, from a stream of the message's own
                    // (its link and position), so that its time does not
                    // hang on what else the run drew.
                    _ if fate.fresh_latency => {
                        let (a, b) = (u64::from(out.from.0), u64::from(out.to.0));
                        let seed = (a << 48) ^ (b << 32) ^ k as u64;
                        let mut own = DetRng::new(seed, crate::rng::Stream::Network);
                        net.travel_latency(&mut own, now, &hops)
                    }
                    // Never seen to arrive: longer on its way than it had
                    // been when the recording ended (the same, when sent
                    // when the recording sent it), or after that end.
                    _ => net.travel_latency(rng, now, &hops).max(
                        match fate.unseen_for {
                            Some(d) => now.after(d),
                            None => horizon.unwrap_or(now),
                        }
                        .after(Duration(1)),
                    ),
                };
                let first = (!fate.lost).then(|| at(0, rng, self));
                let second = (!fate.lost && fate.copies.len() > 1).then(|| at(1, rng, self));
                let flips: Vec<Vec<(u32, u8)>> =
                    fate.copies.iter().map(|(_, f)| f.clone()).collect();
                (first, second, Some(flips))
            }
            None => {
                let fates = Fates::draw(rng);
                corrupt_first = fates.holds(FateField::Corrupt, corrupt_p);
                let first = self.travel(rng, now, &hops, fates);
                let mut second = match first {
                    Some(_) if fates.holds(FateField::Duplicate, duplicate) => {
                        Some(self.travel_latency(rng, now, &hops))
                    }
                    _ => None,
                };
                match self.planned.get(&out.msg) {
                    Some(MessageFault::Lose) => {
                        self.hops = hops;
                        return SendReport::lost(LossCause::Planned);
                    }
                    Some(MessageFault::Duplicate) if first.is_some() && second.is_none() => {
                        second = Some(self.travel_latency(rng, now, &hops));
                    }
                    _ => {}
                }
                (first, second, None)
            }
        };
        self.hops = hops;
        let Some(first_at) = first else {
            // A recorded loss of a message the scenario plans to lose was
            // that plan's (as in the run recorded).
            return SendReport::lost(match self.planned.get(&out.msg) {
                Some(MessageFault::Lose) => LossCause::Planned,
                _ => LossCause::Random,
            });
        };
        let mut report = SendReport::default();
        let arrivals = [Some(first_at), second_at];
        let mut payload = Some(out.payload);
        let mut vector = out.vector;
        let mac = out.mac;
        for (copy, at) in arrivals.iter().enumerate() {
            let Some(mut at) = *at else { continue };
            let copy = copy as u32;
            let last_copy = copy == 1 || second_at.is_none();
            // The last copy takes the original buffers; the first of two clones them.
            let (mut bytes, vc) = if last_copy {
                (payload.take().unwrap_or_default(), vector.take())
            } else {
                (payload.clone().unwrap_or_default(), vector.clone())
            };
            let flips = match scripted_flips.as_mut() {
                Some(recorded) => {
                    let mine = recorded
                        .get_mut(copy as usize)
                        .map(std::mem::take)
                        .unwrap_or_default();
                    apply_flips(&mut bytes, mine)
                }
                None if (copy == 0 && corrupt_first) || (copy == 1 && rng.chance(corrupt_p)) => {
                    corrupt(rng, &mut bytes)
                }
                None => Vec::new(),
            };
            // A recorded copy the recording never saw arrive (evicted from
            // a full mailbox, say, or still in flight at its end) arrives
            // after the recording's horizon: it must not hold back the
            // later copies the recording saw arrive, only what else comes
            // after the horizon.
            let seen = arrived.map(|a| a[copy as usize]);
            let unseen = seen == Some(false);
            if self.stateful {
                let state = self.links.get(out.from, out.to);
                if ordering == Ordering::Fifo {
                    at = at.max(state.last_arrival);
                    if seen != Some(true) {
                        at = at.max(state.unseen_floor);
                    }
                }
                if let Some(capacity) = capacity {
                    if state.in_flight >= capacity {
                        match overflow {
                            Overflow::DropNewest => {
                                report.copies[copy as usize] =
                                    CopyFate::Lost(LossCause::MailboxFull);
                                continue;
                            }
                            Overflow::DropOldest => {
                                if let Some(evicted) = self.evict_oldest(out.from, out.to) {
                                    self.evicted.push(evicted);
                                }
                            }
                        }
                    }
                }
            }
            let ends = (out.from, out.to);
            let tampered = out.mutated || !flips.is_empty();
            let slot = self.store(out.msg, copy, ends, out.lamport, bytes, vc, mac, tampered);
            if self.stateful {
                let state = self.links.get(out.from, out.to);
                // Only a copy the mailbox took orders those after it.
                if ordering == Ordering::Fifo {
                    if unseen {
                        state.unseen_floor = state.unseen_floor.max(at);
                        state.unseen.push((slot, out.msg));
                    } else {
                        state.last_arrival = at;
                    }
                    // The recording saw this copy arrive, so copies sent
                    // before it that it never saw arrive were gone by then
                    // (evicted, say): if this run still has one in flight,
                    // it arrives just before this copy, as a FIFO link must.
                    if seen == Some(true) {
                        let slots = &self.slots;
                        self.pulled.extend(
                            state
                                .unseen
                                .drain(..)
                                .filter(|&(s, m)| {
                                    slots
                                        .get(s as usize)
                                        .is_some_and(|s| s.live && s.m.msg == m)
                                })
                                .map(|(s, m)| (s, m, at)),
                        );
                    }
                }
                state.in_flight += 1;
                if capacity.is_some() && overflow == Overflow::DropOldest {
                    state.queue.push_back(slot);
                }
            }
            if !flips.is_empty() {
                self.flips[copy as usize] = flips;
            }
            report.copies[copy as usize] = CopyFate::Scheduled { slot, at };
        }
        report
    }

    /// The bytes corruption flipped in copy `copy` of the last send, as
    /// (offset, xor mask) pairs; empty if it struck no byte.
    pub fn take_flips(&mut self, copy: u32) -> Vec<(u32, u8)> {
        std::mem::take(&mut self.flips[copy as usize & 1])
    }

    /// Copies the last send pushed out of a full mailbox, oldest first.
    pub fn take_evicted(&mut self) -> Vec<Evicted> {
        std::mem::take(&mut self.evicted)
    }

    /// Copies in flight that the last send brought forward, as (slot,
    /// message, new arrival): under a recorded schedule, copies its
    /// recording never saw arrive, ahead of a later copy on the same FIFO
    /// link that it did see arrive. Each is to be scheduled again, before
    /// that copy (its first arrival then finds the slot empty).
    #[inline]
    pub fn take_pulled(&mut self) -> Vec<(u32, u64, Instant)> {
        match self.pulled.is_empty() {
            true => Vec::new(),
            false => std::mem::take(&mut self.pulled),
        }
    }

    /// Loss and latency over every hop; `None` if lost on the way.
    /// The first hop's loss is decided by `fates`, later hops' by draws
    /// of their own.
    fn travel(
        &self,
        rng: &mut DetRng,
        now: Instant,
        hops: &[(u32, u32)],
        fates: Fates,
    ) -> Option<Instant> {
        let mut at = now;
        let mut lost = false;
        for (i, &(a, b)) in hops.iter().enumerate() {
            let link = self.link(a, b);
            // Draw the latency even for a lost message so the number of
            // draws does not depend on the loss probability.
            lost |= match i {
                0 => fates.holds(FateField::Loss, link.loss),
                _ => rng.chance(link.loss),
            };
            at = at.after(link.latency.sample(rng));
        }
        (!lost).then_some(at)
    }

    fn travel_latency(&self, rng: &mut DetRng, now: Instant, hops: &[(u32, u32)]) -> Instant {
        hops.iter().fold(now, |at, &(a, b)| {
            at.after(self.link(a, b).latency.sample(rng))
        })
    }

    // Field by field, for the reason below; hence the many arguments.
    #[allow(clippy::too_many_arguments)]
    fn store(
        &mut self,
        msg: u64,
        copy: u32,
        (from, to): (NodeId, NodeId),
        lamport: u64,
        payload: Vec<u8>,
        vector: Option<Vec<u32>>,
        mac: Option<crate::adversary::Mac>,
        tampered: bool,
    ) -> u32 {
        self.in_flight += 1;
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        // Field by field: a whole `Slot` built on the stack and copied in
        // reads its narrow fields back as parts of wider words, which
        // stalls the store buffer.
        let slot = &mut self.slots[i as usize];
        let m = &mut slot.m;
        m.msg = msg;
        m.copy = copy;
        m.from = from;
        m.to = to;
        m.payload = payload;
        m.lamport = lamport;
        m.vector = vector;
        m.mac = mac;
        m.tampered = tampered;
        slot.live = true;
        i
    }

    fn release(&mut self, slot: u32) -> Option<InFlight> {
        let held = self.slots.get_mut(slot as usize).filter(|s| s.live)?;
        held.live = false;
        let m = std::mem::take(&mut held.m);
        self.free.push(slot);
        self.in_flight -= 1;
        if self.stateful {
            let state = self.links.get(m.from, m.to);
            state.in_flight = state.in_flight.saturating_sub(1);
            if let Some(pos) = state.queue.iter().position(|&s| s == slot) {
                state.queue.remove(pos);
            }
        }
        Some(m)
    }

    fn evict_oldest(&mut self, from: NodeId, to: NodeId) -> Option<Evicted> {
        let slot = self.links.get(from, to).queue.front().copied()?;
        let m = self.release(slot)?;
        Some(Evicted {
            msg: m.msg,
            copy: m.copy,
            from: m.from,
            to: m.to,
        })
    }

    /// Whether the copy of `msg` kept in `slot` is still in flight: false
    /// only when it was evicted from a full mailbox meanwhile, or brought
    /// forward and delivered (only bounded or FIFO links do either).
    #[inline]
    pub fn holds(&self, slot: u32, msg: u64) -> bool {
        !self.stateful
            || self
                .slots
                .get(slot as usize)
                .is_some_and(|s| s.live && s.m.msg == msg)
    }

    /// The copy of `msg` kept in `slot`, while it is kept.
    pub fn kept(&self, slot: u32, msg: u64) -> Option<&InFlight> {
        self.slots
            .get(slot as usize)
            .filter(|s| s.live && s.m.msg == msg)
            .map(|s| &s.m)
    }

    /// The copy of `msg` kept in `slot` reaches its receiver now. `None` if
    /// it was evicted meanwhile; `Err` if a partition now separates the ends.
    pub fn arrive(&mut self, slot: u32, msg: u64) -> Option<Result<InFlight, InFlight>> {
        // A slot freed by an eviction may hold a newer message by now. Ids
        // only grow, so a slot never holds the same message twice.
        let held = self.slots.get(slot as usize).filter(|s| s.live)?;
        if held.m.msg != msg {
            return None;
        }
        let m = self.release(slot)?;
        if self.is_cut(m.from, m.to) {
            Some(Err(m))
        } else {
            Some(Ok(m))
        }
    }

    /// Puts a partition in force.
    pub fn partition(&mut self, id: u32, spec: &PartitionSpec) {
        self.partitions
            .push(ActivePartition::new(id, spec, self.nodes as usize));
    }

    /// Lifts partition `id`, or every partition when `id` is `None`.
    pub fn heal(&mut self, id: Option<u32>) {
        match id {
            Some(id) => self.partitions.retain(|p| p.id != id),
            None => self.partitions.clear(),
        }
    }

    /// Whether a message from `from` can reach `to` now: the topology has
    /// a route up between them (always, without a topology).
    pub fn routable(&mut self, from: NodeId, to: NodeId) -> bool {
        let Some(t) = self.topology.as_mut() else {
            return true;
        };
        t.route(from, to, &mut self.hops)
    }

    /// Takes a topology wire down; false if there is no topology or no wire.
    pub fn cut_wire(&mut self, a: NodeId, b: NodeId) -> bool {
        self.topology.as_mut().is_some_and(|t| t.cut(a, b))
    }

    /// Brings a wire back; false if it was never wired.
    pub fn restore_wire(&mut self, a: NodeId, b: NodeId) -> bool {
        self.topology.as_mut().is_some_and(|t| t.restore(a, b))
    }
}

/// Applies recorded flips that fall inside `bytes`; returns those applied.
fn apply_flips(bytes: &mut [u8], flips: Vec<(u32, u8)>) -> Vec<(u32, u8)> {
    flips
        .into_iter()
        .filter(|&(at, mask)| match bytes.get_mut(at as usize) {
            Some(b) if mask != 0 => {
                *b ^= mask;
                true
            }
            _ => false,
        })
        .collect()
}

/// Flips one to three bytes; returns the (offset, xor mask) pairs applied.
fn corrupt(rng: &mut DetRng, bytes: &mut [u8]) -> Vec<(u32, u8)> {
    if bytes.is_empty() {
        return Vec::new();
    }
    let count = 1 + rng.below(3);
    (0..count)
        .map(|_| {
            let at = rng.below(bytes.len() as u64) as usize;
            let mask = 1 + rng.below(255) as u8;
            bytes[at] ^= mask;
            (at as u32, mask)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Ppm, Stream};

    /// Message `msg` from node 0 to node 1, `bytes` long.
    fn outgoing(msg: u64, bytes: usize) -> Outgoing {
        Outgoing {
            msg,
            from: NodeId(0),
            to: NodeId(1),
            payload: vec![0; bytes],
            lamport: msg,
            vector: None,
            mac: None,
            mutated: false,
        }
    }

    /// Sends `count` messages from node 0 to node 1 over a default link
    /// set to `loss`, `duplicate` and `corrupt`; each message's fate.
    fn fates(loss: u32, duplicate: u32, corrupt: u32, count: u64) -> Vec<(SendReport, bool)> {
        let mut config = NetworkConfig::default();
        config.default.latency = Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        };
        config.default.loss = Ppm(loss);
        config.default.duplicate = Ppm(duplicate);
        config.default.corrupt = Ppm(corrupt);
        let mut net = Network::new(2, config);
        let mut rng = DetRng::new(5, Stream::Network);
        (0..count)
            .map(|msg| {
                let report = net.send(&mut rng, Instant::ZERO, outgoing(msg, 16));
                let corrupted = !net.take_flips(0).is_empty();
                (report, corrupted)
            })
            .collect()
    }

    #[test]
    fn only_a_copy_the_mailbox_took_holds_back_later_ones_on_a_fifo_link() {
        let ms = Duration::from_millis;
        let fate = |d: Option<Duration>| ScriptedFate {
            lost: false,
            copies: vec![(d, Vec::new())],
            fresh_latency: false,
            unseen_for: None,
        };
        let following = |capacity, fates: Vec<ScriptedFate>| {
            let mut config = NetworkConfig::default();
            config.default.ordering = Ordering::Fifo;
            config.default.capacity = capacity;
            config.default.overflow = Overflow::DropNewest;
            let mut net = Network::new(2, config);
            net.follow(std::sync::Arc::new(Schedule {
                links: [((0, 1), fates)].into(),
                horizon: Instant::ZERO.after(ms(20)),
                ..Schedule::default()
            }));
            net
        };
        let mut rng = DetRng::new(5, Stream::Network);
        let mut send = |net: &mut Network, msg: u64, at: Duration| match net
            .send(&mut rng, Instant::ZERO.after(at), outgoing(msg, 4))
            .copies[0]
        {
            CopyFate::Scheduled { slot, at } => Ok((slot, at)),
            other => Err(other),
        };
        // A link holding one message, the newest dropped when full: message
        // 1 (recorded to take 9 ms) is dropped while message 0 is in
        // flight; message 2 (2 ms), sent once 0 has arrived, arrives on its
        // own time, not after the dropped copy's would-be arrival.
        let mut net = following(
            Some(1),
            vec![fate(Some(ms(5))), fate(Some(ms(9))), fate(Some(ms(2)))],
        );
        let (slot, at) = send(&mut net, 0, ms(0)).unwrap();
        assert_eq!(at, Instant::ZERO.after(ms(5)));
        assert_eq!(
            send(&mut net, 1, ms(1)),
            Err(CopyFate::Lost(LossCause::MailboxFull))
        );
        assert!(net.arrive(slot, 0).is_some_and(|r| r.is_ok()));
        let (_, at) = send(&mut net, 2, ms(6)).unwrap();
        assert_eq!(
            at,
            Instant::ZERO.after(ms(8)),
            "held back by a dropped copy"
        );
        // Message 0 was never seen to arrive (evicted in the recording),
        // message 1 was, after 1 ms: 1 is not held back past the
        // recording's end by 0, and 0, still in flight here, is brought
        // forward to arrive just before it.
        let mut net = following(None, vec![fate(None), fate(Some(ms(1)))]);
        let (first, at) = send(&mut net, 0, ms(0)).unwrap();
        assert!(at > Instant::ZERO.after(ms(20)), "{at}");
        assert!(net.take_pulled().is_empty());
        let (_, at) = send(&mut net, 1, ms(1)).unwrap();
        assert_eq!(at, Instant::ZERO.after(ms(2)));
        assert_eq!(net.take_pulled(), [(first, 0, at)]);
    }

    fn arrival(fate: CopyFate) -> Option<Instant> {
        match fate {
            CopyFate::Scheduled { at, .. } => Some(at),
            _ => None,
        }
    }

    #[test]
    fn a_probability_changes_its_own_decisions_and_no_other_draw() {
        let calm = fates(0, 0, 0, 2_000);
        let lossy = fates(300_000, 0, 0, 2_000);
        let corrupting = fates(300_000, 0, 400_000, 2_000);
        let lost = |f: &[(SendReport, bool)]| {
            f.iter()
                .filter(|(r, _)| arrival(r.copies[0]).is_none())
                .count()
        };
        assert_eq!(lost(&calm), 0);
        assert!((500..=700).contains(&lost(&lossy)), "{}", lost(&lossy));
        // Loss takes messages away and moves no other message's latency.
        for (c, l) in calm.iter().zip(&lossy) {
            if let Some(at) = arrival(l.0.copies[0]) {
                assert_eq!(Some(at), arrival(c.0.copies[0]));
            }
        }
        // Corruption strikes some delivered copies. Which bytes it flips
        // are draws of their own, so the messages after the first struck
        // one draw anew; up to it, every message keeps its fate and time.
        let struck = corrupting.iter().filter(|(_, c)| *c).count();
        assert!((480..=640).contains(&struck), "{struck}");
        let first = corrupting.iter().position(|(_, c)| *c).unwrap();
        assert!(first > 0);
        for (l, c) in lossy.iter().zip(&corrupting).take(first + 1) {
            assert_eq!(arrival(l.0.copies[0]), arrival(c.0.copies[0]));
        }
        // Duplication adds second copies. A second copy's latency is a draw
        // of its own, so the messages after the first duplicate draw anew;
        // up to it, every message keeps its fate and time.
        let doubled = fates(300_000, 500_000, 0, 2_000);
        let seconds = doubled.iter().filter(|(r, _)| r.duplicated()).count();
        assert!((600..=800).contains(&seconds), "{seconds}");
        let first = doubled.iter().position(|(r, _)| r.duplicated()).unwrap();
        for (d, l) in doubled.iter().zip(&lossy).take(first + 1) {
            assert_eq!(arrival(d.0.copies[0]), arrival(l.0.copies[0]));
        }
    }
}
