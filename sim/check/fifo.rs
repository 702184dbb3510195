//! FIFO links, as the trace header promises them, deliver in send order.

use super::Verdict;
use crate::node::NodeId;
use crate::trace::{Header, Kind, Record};
use std::collections::BTreeMap;

pub(crate) struct Fifo {
    // The header states which links promise FIFO.
    header: Header,
    last: BTreeMap<(NodeId, NodeId), u64>,
    // Deliveries on links that promise FIFO, that is, what was checked.
    checked: u64,
    pub verdict: Verdict,
}

impl Fifo {
    pub fn new(header: &Header) -> Fifo {
        Fifo {
            header: header.clone(),
            last: BTreeMap::new(),
            checked: 0,
            verdict: Verdict::new("fifo"),
        }
    }

    pub fn record(&mut self, index: u64, record: &Record<'_>) {
        let Kind::Deliver {
            node, from, msg, ..
        } = &record.kind
        else {
            return;
        };
        let link = (*from, *node);
        if !self.header.is_fifo(*from, *node) {
            return;
        }
        self.checked += 1;
        // Message ids count sends, so on one link they must not go down.
        match self.last.insert(link, *msg) {
            Some(prev) if prev > *msg => {
                self.verdict.flag(index, record.time, vec![*from, *node], format!(
                    "message {msg} delivered after message {prev} on the FIFO link {from}->{node}, though sent before it"
                ));
                self.last.insert(link, prev);
            }
            _ => {}
        }
    }

    /// A check with nothing to check says so rather than "ok": a trace
    /// whose links all reorder, or that delivered nothing on a FIFO link.
    pub fn finish(&mut self) {
        if self.checked > 0 || self.verdict.violations > 0 {
            return;
        }
        let h = &self.header;
        self.verdict.skipped = Some(if !h.fifo_default && h.fifo_exceptions.is_empty() {
            "no link promises FIFO order: the run's links reorder".to_string()
        } else {
            "no copy was delivered on a link that promises FIFO order".to_string()
        });
    }
}
