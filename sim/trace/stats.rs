//! Counts over a trace's records, computed the same way while a run writes
//! them and when a trace file is read back.

use super::record::{Kind, Record};
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a run did, in numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Records in the trace (the seal not counted).
    pub records: u64,
    /// Node events: starts, sends, deliveries, timers, inputs, observations,
    /// crashes, restarts.
    pub events: u64,
    pub sent: u64,
    pub delivered: u64,
    /// Lost copies by cause name.
    pub lost: BTreeMap<String, u64>,
    pub duplicated: u64,
    pub corrupted: u64,
    pub timers: u64,
    pub inputs: u64,
    pub observations: u64,
    /// Client history events (operations invoked and completed).
    #[serde(default)]
    pub history: u64,
    /// Of those, the answers: completions `ok`, `fail` or `info`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub answered: u64,
    /// Of the answers, those `ok`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub ok: u64,
    pub crashes: u64,
    pub restarts: u64,
    pub faults: u64,
    /// The adversary's actions: messages a byzantine node mutated, copies
    /// the network altered, messages it forged or replayed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub adversary: u64,
    /// Deliveries whose MAC did not verify.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unauthentic: u64,
    /// On a disk that may keep writes not yet synced at a crash
    /// ([`crate::config::DiskConfig`]): those its crashes kept, and lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsynced_kept: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unsynced_lost: u64,
    /// Virtual time of the last record.
    pub time: Instant,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stats {
    /// The counts of a whole list of records.
    pub fn of(records: &[Record<'_>]) -> Stats {
        let mut s = Stats::default();
        records.iter().for_each(|r| s.count(r));
        s
    }

    /// Counts one record.
    #[inline(always)]
    pub fn count(&mut self, record: &Record<'_>) {
        self.time = self.time.max(record.time);
        if matches!(record.kind, Kind::End { .. }) {
            return;
        }
        self.records += 1;
        if record.node_event().is_some() {
            self.events += 1;
        }
        match &record.kind {
            Kind::Send { .. } => self.sent += 1,
            Kind::Deliver { .. } => self.delivered += 1,
            Kind::Timer { .. } => self.timers += 1,
            Kind::Input { .. } => self.inputs += 1,
            Kind::Observe { .. } => self.observations += 1,
            Kind::Op { op, .. } => {
                self.history += 1;
                if op.phase != crate::history::Phase::Invoke {
                    self.answered += 1;
                }
                if op.phase == crate::history::Phase::Ok {
                    self.ok += 1;
                }
            }
            Kind::Crash { .. } => self.crashes += 1,
            Kind::Restart { .. } => self.restarts += 1,
            Kind::Lost { cause, .. } => {
                *self.lost.entry(cause.name().to_string()).or_default() += 1
            }
            Kind::Duplicated { .. } => self.duplicated += 1,
            Kind::Corrupted { .. } => self.corrupted += 1,
            Kind::Partition { .. }
            | Kind::Heal { .. }
            | Kind::CutWire { .. }
            | Kind::RestoreWire { .. }
            | Kind::ClockSkew { .. }
            | Kind::Pause { .. }
            | Kind::Resume { .. } => self.faults += 1,
            Kind::Mutated { .. } | Kind::Altered { .. } | Kind::Injected { .. } => {
                self.adversary += 1
            }
            Kind::Unauthentic { .. } => self.unauthentic += 1,
            Kind::DiskAtCrash { kept, lost, .. } => {
                self.unsynced_kept += kept.len() as u64;
                self.unsynced_lost += lost.len() as u64;
            }
            _ => {}
        }
    }

    /// Client operations invoked, and of those the ones still open (no
    /// answer recorded).
    pub fn operations(&self) -> (u64, u64) {
        let invoked = self.history.saturating_sub(self.answered);
        (invoked, invoked.saturating_sub(self.answered))
    }

    /// Whether under one in ten of at least ten client operations
    /// completed `ok`: the others `fail` (did not happen), `info`
    /// (unknown) or unanswered, a history a linearizability check can
    /// judge little of
    /// (a schedule that starves messages, a protocol that times out).
    pub fn few_ok(&self) -> bool {
        let (invoked, _) = self.operations();
        invoked >= 10 && self.ok * 10 < invoked
    }

    /// All lost copies.
    pub fn lost_total(&self) -> u64 {
        self.lost.values().sum()
    }
}
