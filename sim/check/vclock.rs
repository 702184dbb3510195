//! Vector clocks rebuilt from the causal structure alone (program order
//! plus send → delivery) and compared with what the trace records.

use super::messages::Messages;
use super::Verdict;
use crate::trace::{Kind, Record};
use std::collections::BTreeMap;

/// Above this many nodes the N×N rebuild is not attempted.
pub const MAX_NODES: usize = 4096;

pub(crate) struct VectorClocks {
    on: bool,
    compare: bool,
    clocks: Vec<Vec<u32>>,
    at_send: BTreeMap<u64, Box<[u32]>>,
    raised: Vec<(u32, u32)>,
    pub verdict: Verdict,
}

impl VectorClocks {
    pub fn new(nodes: usize, recorded: bool) -> VectorClocks {
        let on = nodes <= MAX_NODES;
        let mut verdict = Verdict::new("vector-clocks");
        if !on {
            verdict.skipped = Some(format!("more than {MAX_NODES} nodes"));
        } else if !recorded {
            verdict.skipped = Some("the trace records no vector clocks".into());
        }
        VectorClocks {
            on,
            compare: on && recorded,
            clocks: if on {
                vec![vec![0; nodes]; nodes]
            } else {
                Vec::new()
            },
            at_send: BTreeMap::new(),
            raised: Vec::new(),
            verdict,
        }
    }

    /// Advances the rebuilt clocks over one record; returns the event's
    /// vector clock, for node events.
    pub fn record(&mut self, index: u64, record: &Record<'_>) -> Option<&[u32]> {
        if !self.on {
            return None;
        }
        let (node, _) = record.node_event()?;
        let i = node.index();
        if let Kind::Deliver { msg, vc, .. } = &record.kind {
            self.raised.clear();
            if let Some(sent) = self.at_send.get(msg) {
                for (k, (mine, theirs)) in self.clocks[i].iter_mut().zip(sent.iter()).enumerate() {
                    if *theirs > *mine && k != i {
                        *mine = *theirs;
                        self.raised.push((k as u32, *theirs));
                    }
                }
            }
            if self.compare && self.raised.as_slice() != vc.as_ref() {
                self.verdict.flag(index, record.time, vec![node], format!(
                    "{node}'s vector clock at this delivery of message {msg}: the trace records raised entries {:?}, the causal structure gives {:?}",
                    vc.as_ref(),
                    self.raised
                ));
            }
        }
        self.clocks[i][i] += 1;
        if let Kind::Send { msg, .. } = &record.kind {
            self.at_send
                .insert(*msg, self.clocks[i].clone().into_boxed_slice());
        }
        Some(&self.clocks[i])
    }

    /// Drops the send clocks of messages with no copy left to deliver.
    pub fn forget_delivered(&mut self, messages: &Messages) {
        for m in &messages.done {
            self.at_send.remove(m);
        }
    }
}
