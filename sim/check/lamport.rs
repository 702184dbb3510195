//! Lamport clocks: each node's strictly increases, and every delivery's
//! exceeds its send's.

use super::{Sent, Verdict};
use crate::trace::{Kind, Record};

pub(crate) struct Lamport {
    last: Vec<u64>,
    pub verdict: Verdict,
}

impl Lamport {
    pub fn new(nodes: usize) -> Lamport {
        Lamport {
            last: vec![0; nodes],
            verdict: Verdict::new("lamport"),
        }
    }

    pub fn record(&mut self, index: u64, record: &Record<'_>, sent: Option<&Sent>) {
        let Some((node, lamport)) = record.node_event() else {
            return;
        };
        let last = &mut self.last[node.index()];
        if lamport <= *last {
            self.verdict.flag(index, record.time, vec![node], format!("{node}'s Lamport clock went from {last} to {lamport}; it must strictly increase"));
        }
        *last = lamport;
        if let (Kind::Deliver { msg, .. }, Some(s)) = (&record.kind, sent) {
            if lamport <= s.lamport {
                self.verdict.flag(index, record.time, vec![s.from, node], format!(
                    "message {msg} delivered at Lamport {lamport}, not after its send at {} (record {})",
                    s.lamport, s.record
                ));
            }
        }
    }
}
