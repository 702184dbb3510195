//! Causal delivery: if the send of m1 happened before the send of m2 and
//! both go to node p, p does not receive m2 before m1.
//!
//! With vector clocks this is checked in O(N) per delivery: p keeps, per
//! node q, the largest q-entry among the send clocks of what it has
//! received. A message m sent by q as q's c-th event arrives too late
//! exactly when that largest entry is already ≥ c: something p received
//! earlier was sent by an event that knew of m's send.

use super::idmap::IdMap;
use super::messages::Messages;
use super::{Sent, Verdict};
use crate::trace::{Kind, Record};

struct Pending {
    clock: Box<[u32]>,
    received: bool,
}

pub(crate) struct Causal {
    seen: Vec<Vec<u32>>,
    at_send: IdMap<Pending>,
    pub verdict: Verdict,
}

impl Causal {
    pub fn new(nodes: usize) -> Causal {
        let mut verdict = Verdict::new("causal");
        if nodes > super::vclock::MAX_NODES {
            verdict.skipped = Some("too many nodes for vector clocks".into());
        }
        Causal {
            // Without vector clocks (too many nodes) nothing is checked.
            seen: if nodes <= super::vclock::MAX_NODES {
                vec![vec![0; nodes]; nodes]
            } else {
                Vec::new()
            },
            at_send: IdMap::default(),
            verdict,
        }
    }

    pub fn record(
        &mut self,
        index: u64,
        record: &Record<'_>,
        clock: Option<&[u32]>,
        sent: Option<&Sent>,
    ) {
        let Some(clock) = clock else { return };
        match &record.kind {
            Kind::Send { msg, .. } => {
                self.at_send.insert(
                    *msg,
                    Pending {
                        clock: clock.into(),
                        received: false,
                    },
                );
            }
            Kind::Deliver { node, msg, .. } => {
                let (Some(p), Some(s)) = (self.at_send.get_mut(*msg), sent) else {
                    return;
                };
                if p.received {
                    return; // a duplicate copy: the first one was checked
                }
                p.received = true;
                let owner = s.from.index();
                let c = p.clock[owner];
                let seen = &mut self.seen[node.index()];
                if seen[owner] >= c {
                    self.verdict.flag(index, record.time, vec![s.from, *node], format!(
                        "{node} received message {msg} (sent by {} at record {}) after a message whose send causally followed it",
                        s.from, s.record
                    ));
                }
                for (mine, theirs) in seen.iter_mut().zip(p.clock.iter()) {
                    *mine = (*mine).max(*theirs);
                }
            }
            _ => {}
        }
    }

    pub fn forget_delivered(&mut self, messages: &Messages) {
        for m in &messages.done {
            self.at_send.remove(*m);
        }
    }
}
