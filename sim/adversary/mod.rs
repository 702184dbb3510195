//! The adversary: nodes that lie and a network that forges, replays and
//! alters — and the authenticated channels that protocols defend with.
//!
//! The faulty network of [`crate::network`] is honest: it loses, delays,
//! duplicates and flips bits, but never lies. The adversary does:
//!
//! - **Byzantine nodes** ([`Byzantine`]), up to the `f` a protocol claims
//!   to tolerate, each with one [`Behaviour`]: *twins* (the node runs as
//!   several instances of the same code and identity, keys included, each
//!   reaching a different part of the network, so it equivocates and
//!   forgets — the Twins approach), *mutate* (each message it sends is,
//!   with some chance, changed in one field before it leaves, or replaced
//!   by another message seen in the run — ByzzFuzz's small-scope and arbitrary
//!   mutations), *silent* (sends nothing) and *amnesia* (restarts with its
//!   durable state gone).
//! - **A network adversary** ([`NetworkAdversary`]) that at each delivery
//!   may forge a message (built by mutating one seen earlier, claiming any
//!   sender), replay one seen earlier (to its receiver, later, possibly
//!   across a restart), or alter the copy in transit.
//!
//! Every action is a record of its own in the trace (`Byzantine`,
//! `Mutated`, `Altered`, `Injected`, `Unauthentic`), so `dsim show` and
//! `dsim check` see it, and every choice comes from the run's seed, on a
//! stream named by what the choice is about, so a run with an adversary
//! replays exactly and taking one adversarial part away leaves the others'
//! choices as they were.
//!
//! **Authenticated channels.** [`crate::Context::send_authenticated`]
//! attaches a MAC (keyed BLAKE3, 128 bits) computed with the key the
//! sender shares with the receiver; on receipt
//! [`crate::Context::authentic`] says whether the message carries a MAC
//! that verifies for the sender it claims. Keys are derived from the run's
//! seed ([`Keys`]). A byzantine node holds its own keys, so what it mutates
//! it signs; the network adversary holds none, so whatever it forges or
//! alters fails verification — and the trace shows an `Unauthentic`
//! record — while a replayed message still verifies, because a MAC says
//! who sent the bytes, not when.

pub mod mutate;

use crate::node::NodeId;
use crate::rng::Ppm;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Everything adversarial about a run. The default is no adversary.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdversaryConfig {
    /// The byzantine nodes, at most one entry per node.
    #[serde(default)]
    pub byzantine: Vec<Byzantine>,
    /// What the network adversary does at each delivery.
    #[serde(default)]
    pub network: NetworkAdversary,
}

impl AdversaryConfig {
    /// True when nothing adversarial is configured.
    pub fn is_none(&self) -> bool {
        self.byzantine.is_empty() && self.network.is_none()
    }

    /// The behaviour of `node`, if it is byzantine.
    pub fn behaviour(&self, node: NodeId) -> Option<&Behaviour> {
        self.byzantine
            .iter()
            .find(|b| b.node == node)
            .map(|b| &b.behaviour)
    }

    /// Rejects what cannot run: unknown nodes, a node declared twice, twins
    /// that reach themselves or nobody.
    pub fn validate(&self, nodes: u32) -> Result<(), String> {
        let mut seen = Vec::new();
        for b in &self.byzantine {
            let n = b.node;
            if n.0 >= nodes {
                return Err(format!(
                    "byzantine node {} does not exist (nodes are 0..{})",
                    n.0,
                    nodes - 1
                ));
            }
            if seen.contains(&n) {
                return Err(format!("node {} is declared byzantine twice", n.0));
            }
            seen.push(n);
            if let Behaviour::Twins { reach } = &b.behaviour {
                if !(2..=MAX_TWINS).contains(&reach.len()) {
                    return Err(format!(
                        "twins of node {} need 2 to {MAX_TWINS} instances, not {}",
                        n.0,
                        reach.len()
                    ));
                }
                for (i, r) in reach.iter().enumerate() {
                    for p in r {
                        if p.0 >= nodes {
                            return Err(format!(
                                "instance {i} of node {}'s twins reaches node {}, which does not exist",
                                n.0, p.0
                            ));
                        }
                        if *p == n {
                            return Err(format!(
                                "instance {i} of node {}'s twins lists the node itself; instances of one node do not talk to each other",
                                n.0
                            ));
                        }
                    }
                }
            }
        }
        if self.network.delay.0 == 0 && !self.network.is_none() {
            return Err("the network adversary's delay must be more than zero".into());
        }
        Ok(())
    }

    /// How many processes a run has for `nodes` identities: one per node,
    /// plus one per extra twin instance.
    pub fn processes(&self, nodes: u32) -> u32 {
        nodes
            + self
                .byzantine
                .iter()
                .map(|b| match &b.behaviour {
                    Behaviour::Twins { reach } => reach.len() as u32 - 1,
                    _ => 0,
                })
                .sum::<u32>()
    }
}

/// The most instances one twinned node may run as.
pub const MAX_TWINS: usize = 8;

/// One byzantine node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Byzantine {
    pub node: NodeId,
    pub behaviour: Behaviour,
}

/// How a byzantine node misbehaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Behaviour {
    /// The node runs as `reach.len()` instances of the same code and
    /// identity (its keys included); instance `i` exchanges messages only
    /// with the nodes `reach[i]`. Instance 0 keeps the node's own lane in
    /// the trace; the others get lanes after the last node. Each client
    /// operation aimed at the node goes to one instance, drawn at random
    /// (so instances broadcast different values under one identity and
    /// sequence number: they equivocate); crashes, restarts and clock
    /// skews reach every instance.
    Twins { reach: Vec<Vec<NodeId>> },
    /// Each message the node sends is mutated with probability `chance`:
    /// one field changed (an integer by ±1 or to 0 or a boundary value, a
    /// boolean flipped, a sequence shortened or lengthened, the message's
    /// kind swapped for another kind seen in the run); when `arbitrary`,
    /// half the mutations instead replace the message by one of the last
    /// 32 messages seen in the run.
    Mutate { chance: Ppm, arbitrary: bool },
    /// Every message the node's code sends is dropped as it leaves.
    Silent,
    /// Every restart of the node finds its durable state gone.
    Amnesia,
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Behaviour::Twins { reach } => {
                write!(f, "twins")?;
                for (i, r) in reach.iter().enumerate() {
                    let names: Vec<String> = r.iter().map(|n| n.to_string()).collect();
                    write!(f, "; instance {i} reaches [{}]", names.join(" "))?;
                }
                Ok(())
            }
            Behaviour::Mutate { chance, arbitrary } => write!(
                f,
                "mutate {} of its messages{}",
                chance,
                if *arbitrary {
                    " (small or arbitrary)"
                } else {
                    " (small)"
                }
            ),
            Behaviour::Silent => f.write_str("silent"),
            Behaviour::Amnesia => f.write_str("amnesia: restarts with its durable state lost"),
        }
    }
}

/// What the network adversary does. Every choice is drawn from a stream
/// named by the content of what it is about (the n-th copy of these bytes
/// from this sender to this receiver) and by the kind of choice, so that
/// changing one chance, or taking a byzantine node away, does not move
/// the other choices: a shrinker can take one mode away and keep the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAdversary {
    /// Chance that, after a delivery of a message nodes sent, the
    /// adversary injects a forged message: one it has seen, mutated,
    /// claiming any sender, to any node. Injected messages set off no
    /// injection of their own.
    pub forge: Ppm,
    /// Chance that, after a delivery of a message nodes sent, it
    /// re-delivers a message it has seen, unchanged, to its receiver.
    pub replay: Ppm,
    /// Chance that it alters the copy being delivered (one field changed).
    pub alter: Ppm,
    /// Injected messages arrive up to this long after they are made
    /// (uniformly, at least 1 ns).
    pub delay: crate::time::Duration,
}

impl Default for NetworkAdversary {
    fn default() -> NetworkAdversary {
        NetworkAdversary {
            forge: Ppm::ZERO,
            replay: Ppm::ZERO,
            alter: Ppm::ZERO,
            delay: crate::time::Duration::from_millis(100),
        }
    }
}

impl NetworkAdversary {
    pub fn is_none(&self) -> bool {
        self.forge == Ppm::ZERO && self.replay == Ppm::ZERO && self.alter == Ppm::ZERO
    }
}

/// The MAC keys of a run: one per pair of nodes, derived from the run's
/// seed. Anyone with the trace (which names the seed) can derive them:
/// they model keys the simulated network adversary lacks, not secrets.
#[derive(Clone, Debug)]
pub struct Keys {
    root: [u8; 32],
}

/// The length of a MAC in bytes.
pub const MAC_BYTES: usize = 16;

/// A message authentication code.
pub type Mac = [u8; MAC_BYTES];

impl Keys {
    pub fn new(seed: u64) -> Keys {
        Keys {
            root: blake3::derive_key("dsim 2026-11-30 channel keys v1", &seed.to_le_bytes()),
        }
    }

    /// The key `a` and `b` share (the same either way round).
    fn pair(&self, a: NodeId, b: NodeId) -> [u8; 32] {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        let mut ends = [0u8; 8];
        ends[..4].copy_from_slice(&lo.0.to_le_bytes());
        ends[4..].copy_from_slice(&hi.0.to_le_bytes());
        *blake3::keyed_hash(&self.root, &ends).as_bytes()
    }

    /// The MAC of `payload` sent by `from` to `to`: it binds both ends, so
    /// a message cannot be passed off as from another sender or to another
    /// receiver.
    pub fn mac(&self, from: NodeId, to: NodeId, payload: &[u8]) -> Mac {
        let mut h = blake3::Hasher::new_keyed(&self.pair(from, to));
        h.update(&from.0.to_le_bytes());
        h.update(&to.0.to_le_bytes());
        h.update(payload);
        let mut mac = [0u8; MAC_BYTES];
        mac.copy_from_slice(&h.finalize().as_bytes()[..MAC_BYTES]);
        mac
    }

    /// True when `mac` is the MAC of `payload` from `from` to `to`.
    pub fn verify(&self, from: NodeId, to: NodeId, payload: &[u8], mac: &Mac) -> bool {
        // Constant time is irrelevant in a simulation; equality is enough.
        self.mac(from, to, payload) == *mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mac_binds_the_key_the_ends_and_every_byte() {
        let keys = Keys::new(7);
        let (a, b, c) = (NodeId(0), NodeId(1), NodeId(2));
        let mac = keys.mac(a, b, b"vote 3");
        assert!(keys.verify(a, b, b"vote 3", &mac));
        assert!(!keys.verify(a, b, b"vote 4", &mac), "another payload");
        assert!(!keys.verify(c, b, b"vote 3", &mac), "another sender");
        assert!(!keys.verify(a, c, b"vote 3", &mac), "another receiver");
        assert!(!keys.verify(b, a, b"vote 3", &mac), "the ends swapped");
        assert!(
            !Keys::new(8).verify(a, b, b"vote 3", &mac),
            "another run's keys"
        );
        // Every single-bit change of the payload is caught.
        let payload = b"a longer payload of some bytes".to_vec();
        let mac = keys.mac(a, b, &payload);
        for i in 0..payload.len() * 8 {
            let mut p = payload.clone();
            p[i / 8] ^= 1 << (i % 8);
            assert!(!keys.verify(a, b, &p, &mac), "bit {i}");
        }
    }

    #[test]
    fn twins_add_processes_and_bad_declarations_are_refused() {
        let twins = |reach: Vec<Vec<u32>>| AdversaryConfig {
            byzantine: vec![Byzantine {
                node: NodeId(3),
                behaviour: Behaviour::Twins {
                    reach: reach
                        .into_iter()
                        .map(|r| r.into_iter().map(NodeId).collect())
                        .collect(),
                },
            }],
            ..AdversaryConfig::default()
        };
        let ok = twins(vec![vec![0, 1], vec![2]]);
        assert_eq!(ok.validate(4), Ok(()));
        assert_eq!(ok.processes(4), 5);
        assert!(twins(vec![vec![0]]).validate(4).is_err());
        assert!(twins(vec![vec![0], vec![3]]).validate(4).is_err());
        assert!(twins(vec![vec![0], vec![7]]).validate(4).is_err());
        assert!(ok.validate(3).is_err());
    }
}
