//! Vector clocks rebuilt from the causal structure alone (program order
//! plus send → delivery) and compared with what the trace records.

use super::idmap::IdMap;
use super::messages::Messages;
use super::Verdict;
use crate::trace::{DeliveryClock, Kind, Record};

/// Above this many nodes the N×N rebuild is not attempted.
pub const MAX_NODES: usize = 4096;

pub(crate) struct VectorClocks {
    on: bool,
    compare: bool,
    clocks: Vec<Vec<u32>>,
    at_send: IdMap<Vec<u32>>,
    raised: Vec<(u32, u32)>,
    weights: Vec<u32>,
    // Clock buffers of forgotten messages, reused for new sends.
    spare: Vec<Vec<u32>>,
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
            at_send: IdMap::default(),
            raised: Vec::new(),
            weights: if on {
                crate::clock::weights(nodes)
            } else {
                Vec::new()
            },
            spare: Vec::new(),
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
        let mut digest = None;
        if let Kind::Deliver { msg, vc, .. } = &record.kind {
            let raised_recorded = match vc {
                DeliveryClock::Raised(raised) => Some(raised.as_ref()),
                DeliveryClock::Digest(d) => {
                    digest = Some(*d);
                    None
                }
                DeliveryClock::None => {
                    if self.compare {
                        self.verdict.flag(index, record.time, vec![node], format!(
                            "{node}'s delivery of message {msg} records no vector clock, though the trace says it records them"
                        ));
                    }
                    None
                }
            };
            if let Some(sent) = self.at_send.get(*msg) {
                let mine = &mut self.clocks[i];
                let own = mine[i];
                if let Some(vc) = raised_recorded {
                    // Formats before 5: the raised entries. Branch-free
                    // passes the compiler vectorizes: count what the merge
                    // raises, check the recorded pairs are exactly those.
                    // The receiver's own entry is never raised.
                    let raised = mine.iter().zip(sent.iter()).filter(|(m, t)| t > m).count()
                        - usize::from(sent.get(i).is_some_and(|t| *t > own));
                    let recorded_ok = vc.len() == raised
                        && vc.windows(2).all(|w| w[0].0 < w[1].0)
                        && vc.iter().all(|&(k, v)| {
                            let k = k as usize;
                            k != i && sent.get(k) == Some(&v) && mine.get(k).is_some_and(|m| v > *m)
                        });
                    if self.compare && !recorded_ok {
                        self.raised.clear();
                        for (k, (m, t)) in mine.iter().zip(sent.iter()).enumerate() {
                            if t > m && k != i {
                                self.raised.push((k as u32, *t));
                            }
                        }
                        self.verdict.flag(index, record.time, vec![node], format!(
                            "{node}'s vector clock at this delivery of message {msg}: the trace records raised entries {vc:?}, the causal structure gives {:?}",
                            self.raised
                        ));
                    }
                }
                for (m, t) in mine.iter_mut().zip(sent.iter()) {
                    *m = (*m).max(*t);
                }
                mine[i] = own;
            } else if let Some(vc) = raised_recorded.filter(|vc| self.compare && !vc.is_empty()) {
                // A delivery whose send is unknown (the messages check says
                // why) raises nothing the causal structure can vouch for.
                self.verdict.flag(index, record.time, vec![node], format!(
                    "{node}'s vector clock at this delivery of message {msg}: the trace records raised entries {vc:?} for a message with no send"
                ));
            }
        }
        self.clocks[i][i] += 1;
        if let Some(recorded) = digest.filter(|_| self.compare) {
            let rebuilt = &self.clocks[i];
            let expected = crate::clock::digest(rebuilt, &self.weights);
            if recorded != expected {
                self.verdict.flag(index, record.time, vec![node], format!(
                    "{node}'s vector clock at this delivery: the trace records digest {recorded:08x}, the clock the causal structure gives, {}, has digest {expected:08x}",
                    shown(rebuilt)
                ));
            }
        }
        if let Kind::Send { msg, .. } = &record.kind {
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(&self.clocks[i]);
            self.at_send.insert(*msg, buf);
        }
        Some(&self.clocks[i])
    }

    /// Drops the send clocks of messages with no copy left to deliver.
    pub fn forget_delivered(&mut self, messages: &Messages) {
        for m in &messages.done {
            if let Some(buf) = self.at_send.remove(*m) {
                if self.spare.len() < 1024 {
                    self.spare.push(buf);
                }
            }
        }
    }
}

/// A clock for a message: its entries, or for many nodes only those that
/// are not 0.
fn shown(clock: &[u32]) -> String {
    if clock.len() <= 16 {
        return format!("{clock:?}");
    }
    let set: Vec<String> = clock
        .iter()
        .enumerate()
        .filter(|(_, v)| **v != 0)
        .take(32)
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    let more = clock.iter().filter(|v| **v != 0).count().saturating_sub(32);
    format!(
        "{{{}{}}} (entries not listed are 0)",
        set.join(" "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}
