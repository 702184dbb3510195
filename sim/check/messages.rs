//! Every delivery matches one earlier send; no phantom deliveries; no copy
//! delivered or lost twice; no more copies than sent plus duplicated; and
//! at the end, sent copies = delivered + lost + in flight (none in flight
//! when the run ended quiescent).

use super::idmap::IdMap;
use super::{Sent, Verdict};
use crate::node::NodeId;
use crate::time::Instant;
use crate::trace::{EndReason, Kind, Record};

struct Entry {
    sent: Sent,
    copies: Copies,
}

/// A message's copies and which of them were delivered or lost, in one
/// word: no allocation per message. More than 64 copies is a violation.
#[derive(Clone, Copy)]
struct Copies {
    count: u32,
    done: u64,
}

impl Copies {
    const MAX: u32 = 64;

    fn one() -> Copies {
        Copies { count: 1, done: 0 }
    }

    fn len(self) -> usize {
        self.count as usize
    }

    fn is_done(self, copy: u32) -> bool {
        self.done & (1 << copy) != 0
    }

    fn all_done(self) -> bool {
        self.done.count_ones() == self.count
    }

    fn open(self) -> u64 {
        u64::from(self.count - self.done.count_ones())
    }
}

pub(crate) struct Messages {
    live: IdMap<Entry>,
    next_msg: u64,
    pub verdict: Verdict,
    pub copies: u64,
    pub delivered: u64,
    pub lost: u64,
    /// Messages whose every copy was accounted for at the last record.
    pub done: Vec<u64>,
}

impl Default for Messages {
    fn default() -> Messages {
        Messages {
            live: IdMap::default(),
            next_msg: 0,
            verdict: Verdict::new("messages"),
            copies: 0,
            delivered: 0,
            lost: 0,
            done: Vec::new(),
        }
    }
}

impl Messages {
    pub fn sent(&self, msg: u64) -> Option<&Sent> {
        self.live.get(msg).map(|e| &e.sent)
    }

    pub fn record(&mut self, index: u64, record: &Record<'_>) {
        self.done.clear();
        let t = record.time;
        match &record.kind {
            Kind::Send {
                node,
                lamport,
                msg,
                to,
                ..
            } => {
                if *msg != self.next_msg {
                    self.verdict.flag(
                        index,
                        t,
                        vec![*node],
                        format!(
                            "message id {msg} where {} was next: ids must count sends in order",
                            self.next_msg
                        ),
                    );
                }
                self.next_msg = self.next_msg.max(msg.saturating_add(1));
                let sent = Sent {
                    from: *node,
                    to: *to,
                    lamport: *lamport,
                    record: index,
                    time: t,
                    injected: false,
                };
                self.live.insert(
                    *msg,
                    Entry {
                        sent,
                        copies: Copies::one(),
                    },
                );
                self.copies += 1;
            }
            Kind::Injected { msg, from, to, .. } => {
                if *msg != self.next_msg {
                    self.verdict.flag(
                        index,
                        t,
                        vec![*from, *to],
                        format!(
                            "injected message id {msg} where {} was next: ids must count sends in order",
                            self.next_msg
                        ),
                    );
                }
                self.next_msg = self.next_msg.max(msg.saturating_add(1));
                let sent = Sent {
                    from: *from,
                    to: *to,
                    lamport: 0,
                    record: index,
                    time: t,
                    injected: true,
                };
                self.live.insert(
                    *msg,
                    Entry {
                        sent,
                        copies: Copies::one(),
                    },
                );
                self.copies += 1;
            }
            Kind::Duplicated { msg, copy } => match self.live.get_mut(*msg) {
                Some(e) if *copy == e.copies.count && e.copies.count < Copies::MAX => {
                    e.copies.count += 1;
                    self.copies += 1;
                }
                Some(e) => {
                    let n = e.copies.len();
                    self.verdict.flag(
                        index,
                        t,
                        vec![e.sent.from],
                        format!("message {msg} duplicated as copy {copy}, but it has {n} copies"),
                    );
                }
                None => self.unknown(index, t, *msg, "duplicated"),
            },
            Kind::Corrupted { msg, copy, .. } | Kind::Altered { msg, copy, .. } => match self
                .live
                .get(*msg)
            {
                Some(e) if (*copy as usize) < e.copies.len() => {}
                Some(e) => {
                    let from = e.sent.from;
                    self.verdict.flag(
                        index,
                        t,
                        vec![from],
                        format!("copy {copy} of message {msg} changed in transit but never made"),
                    );
                }
                None => self.unknown(index, t, *msg, "changed in transit"),
            },
            Kind::Deliver {
                node,
                msg,
                copy,
                from,
                ..
            } => {
                let ok = self.resolve(index, t, *msg, *copy, "delivered", Some((*from, *node)));
                self.delivered += u64::from(ok);
            }
            Kind::Lost {
                msg,
                copy,
                from,
                to,
                ..
            } => {
                let ok = self.resolve(index, t, *msg, *copy, "lost", Some((*from, *to)));
                self.lost += u64::from(ok);
            }
            _ => {}
        }
    }

    fn unknown(&mut self, index: u64, t: Instant, msg: u64, what: &str) {
        let why = if msg < self.next_msg {
            "after all its copies were accounted for"
        } else {
            "but never sent"
        };
        self.verdict
            .flag(index, t, vec![], format!("message {msg} {what} {why}"));
    }

    /// Marks a copy delivered or lost; true if that was legitimate.
    fn resolve(
        &mut self,
        index: u64,
        t: Instant,
        msg: u64,
        copy: u32,
        what: &str,
        ends: Option<(NodeId, NodeId)>,
    ) -> bool {
        let Some(e) = self.live.get_mut(msg) else {
            self.unknown(index, t, msg, what);
            return false;
        };
        let (from, to) = (e.sent.from, e.sent.to);
        if let Some((f, r)) = ends {
            if (f, r) != (from, to) {
                self.verdict.flag(
                    index,
                    t,
                    vec![f, r],
                    format!("message {msg} {what} as {f}->{r}, but it was sent {from}->{to}"),
                );
                return false;
            }
        }
        if t < e.sent.time {
            self.verdict.flag(
                index,
                t,
                vec![from, to],
                format!(
                    "message {msg} {what} at {t}, before it was sent at {}",
                    e.sent.time
                ),
            );
        }
        let copies = e.copies.len();
        if copy as usize >= copies {
            self.verdict.flag(index, t, vec![from, to], format!(
                "copy {copy} of message {msg} {what}, but only {copies} cop{} were sent or duplicated",
                if copies == 1 { "y" } else { "ies" }
            ));
            return false;
        }
        if e.copies.is_done(copy) {
            self.verdict.flag(
                index,
                t,
                vec![from, to],
                format!(
                    "copy {copy} of message {msg} {what} after it was already delivered or lost"
                ),
            );
            return false;
        }
        e.copies.done |= 1 << copy;
        if e.copies.all_done() {
            self.live.remove(msg);
            self.done.push(msg);
        }
        true
    }

    pub fn in_flight(&self) -> u64 {
        self.live.values().map(|e| e.copies.open()).sum()
    }

    pub fn finish(&mut self, end: Option<EndReason>, time: Instant) {
        // Sent = delivered + lost + in flight holds for every trace dsim
        // writes, but not for a tampered one: a send that reuses a live id
        // (flagged where it stands) replaces the copies that id had open.
        let in_flight = self.in_flight();
        if end == Some(EndReason::Quiescent) && in_flight > 0 {
            let msg = self.live.first_id().unwrap_or(0);
            self.verdict.flag(u64::MAX, time, vec![], format!(
                "the run ended quiescent with {in_flight} copies still in flight (message {msg} first; copies sent {}, delivered {}, lost {})",
                self.copies, self.delivered, self.lost
            ));
        }
    }
}
