//! Checks over a trace, reading records only: no protocol code, no
//! scheduler. One checker per file, each fed every record in order.
//!
//! | check | file | what it proves |
//! |---|---|---|
//! | `integrity` | (the reader) | the hash chain (or MAC) holds from header to seal |
//! | `messages` | `messages.rs` | every delivery matches one earlier send; no phantom or extra copies; sent copies = delivered + lost + in flight |
//! | `lamport` | `lamport.rs` | each node's clock strictly increases; every delivery's exceeds its send's |
//! | `vector-clocks` | `vclock.rs` | the recorded vector clocks equal those rebuilt from the causal structure |
//! | `happens-before` | `graph.rs` | the happens-before graph is acyclic, and e → f exactly when VC(e) < VC(f) |
//! | `fifo` | `fifo.rs` | FIFO links (as the header promises) deliver in send order |
//! | `causal` | `causal.rs` | (asked for) no node receives m2 before m1 when send(m1) → send(m2) |
//!
//! Because the Lamport check covers every edge of the happens-before graph
//! (program order and send → delivery), the clock condition holds for every
//! happens-before pair by transitivity.
//!
//! ```
//! use dsim::check::{audit, Options};
//! # use dsim::{SimConfig, Simulation, Context, Node, NodeId};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)] struct M;
//! # struct N; impl Node for N { type Msg = M; type Timer = ();
//! #   fn on_start(&mut self, c: &mut Context<'_, Self>) { c.broadcast(&M) }
//! #   fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: M) {} }
//! let (_, bytes) = Simulation::new(SimConfig::new(1, 3), |_| N).run_traced(Vec::new(), None).unwrap();
//! let report = audit(&bytes[..], &Options::default()).unwrap();
//! assert!(report.holds());
//! ```

mod causal;
mod fifo;
mod graph;
mod idmap;
pub mod jepsen;
mod lamport;
pub mod linearizable;
pub(crate) mod messages;
pub mod shiviz;
mod vclock;

pub use graph::characterizes_happens_before;
pub use vclock::MAX_NODES as MAX_CLOCK_NODES;

use crate::node::NodeId;
use crate::time::Instant;
use crate::trace::{EndReason, Header, Kind, Record, Stats, TraceError, TraceReader};
use serde::Serialize;
use std::io::Read;

/// What to check beyond the defaults.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The key of a keyed (MAC) trace.
    pub key: Option<Vec<u8>>,
    /// Also check causal delivery.
    pub causal: bool,
}

/// One broken property at one place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// Index of the record where it shows.
    pub record: u64,
    pub time: Instant,
    pub nodes: Vec<NodeId>,
    pub message: String,
}

/// A check's verdict: how many violations, and the first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub check: &'static str,
    pub violations: u64,
    pub first: Option<Violation>,
    /// Why the check did not run, if it did not.
    pub skipped: Option<String>,
}

impl Verdict {
    fn new(check: &'static str) -> Verdict {
        Verdict {
            check,
            violations: 0,
            first: None,
            skipped: None,
        }
    }

    /// Counts a violation, keeping the first.
    pub(crate) fn flag(
        &mut self,
        record: u64,
        time: Instant,
        nodes: Vec<NodeId>,
        message: impl Into<String>,
    ) {
        self.violations += 1;
        if self.first.is_none() {
            self.first = Some(Violation {
                record,
                time,
                nodes,
                message: message.into(),
            });
        }
    }

    pub fn holds(&self) -> bool {
        self.violations == 0
    }
}

/// Everything `dsim check` found.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub protocol: String,
    pub seed: u64,
    pub nodes: u32,
    pub records: u64,
    pub end: Option<String>,
    /// The protocol's own failed check recorded in the trace, if any.
    pub recorded_failure: Option<String>,
    pub verdicts: Vec<Verdict>,
    pub stats: Stats,
}

impl Report {
    /// True when every check that ran found nothing.
    pub fn holds(&self) -> bool {
        self.verdicts.iter().all(Verdict::holds)
    }

    /// The integrity verdict, which says whether the file can be trusted.
    pub fn integrity(&self) -> &Verdict {
        &self.verdicts[0]
    }
}

/// A message as its send record described it.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    pub from: NodeId,
    pub to: NodeId,
    pub lamport: u64,
    pub record: u64,
    pub time: Instant,
    /// Injected by the network adversary: no node sent it, so it carries
    /// no causality and no FIFO promise.
    pub injected: bool,
}

/// Reads a trace and runs every check over it. `Err` only when the input is
/// not a readable trace at all (not a trace, a bad header, a missing key);
/// damage after the header is an `integrity` violation, and the records
/// before it are still checked.
pub fn audit<R: Read>(input: R, options: &Options) -> Result<Report, TraceError> {
    let mut reader = TraceReader::new(input, options.key.as_deref())?;
    let header = reader.header().clone();
    let mut auditor = Auditor::new(&header, options);
    let mut integrity = Verdict::new("integrity");
    let mut end = None;
    let mut recorded_failure = None;
    let mut last_time = Instant::ZERO;
    // The index a disk record must have to follow a crash, and its node.
    let mut last_crash = None;
    let mut index = 0u64;
    while let Some(item) = reader.next_ref() {
        match item {
            Ok(record) => {
                if record.time < last_time {
                    integrity.flag(
                        index,
                        record.time,
                        vec![],
                        format!("time goes backwards from {last_time}"),
                    );
                }
                last_time = record.time;
                match &record.kind {
                    Kind::DiskAtCrash { node, .. } if last_crash != Some((index, *node)) => {
                        integrity.flag(
                            index,
                            record.time,
                            vec![],
                            format!("what {node}'s disk kept at a crash, but the record before is not {node}'s crash"),
                        );
                    }
                    Kind::DiskAtCrash { node, kept, lost } => {
                        if let Some(problem) = disk_lists_problem(kept, lost) {
                            integrity.flag(
                                index,
                                record.time,
                                vec![],
                                format!("what {node}'s disk kept at a crash: {problem}"),
                            );
                        }
                    }
                    Kind::Crash { node, .. } => last_crash = Some((index + 1, *node)),
                    Kind::End { reason, .. } => end = Some(*reason),
                    Kind::CheckFailed { check, message } if recorded_failure.is_none() => {
                        recorded_failure = Some(format!("{check}: {message}"));
                    }
                    _ => {}
                }
                auditor.record(index, &record);
            }
            Err(e) => {
                integrity.flag(
                    e.record().unwrap_or(index),
                    last_time,
                    vec![],
                    e.to_string(),
                );
            }
        }
        index += 1;
    }
    auditor.finish(end, last_time);
    let stats = auditor.stats.clone();
    let mut verdicts = vec![integrity];
    verdicts.extend(auditor.verdicts());
    Ok(Report {
        protocol: header.protocol.clone(),
        seed: header.seed,
        nodes: header.nodes,
        records: stats.records,
        end: end.map(|e| e.name().to_string()),
        recorded_failure,
        verdicts,
        stats,
    })
}

/// What is wrong with a disk record's lists, as a run writes them: each
/// in key order, each key once, none both kept and lost, and not both
/// empty (a crash with nothing unsynced writes no record).
fn disk_lists_problem(kept: &[String], lost: &[String]) -> Option<String> {
    if kept.is_empty() && lost.is_empty() {
        return Some("it lists no write, kept or lost".into());
    }
    for (name, list) in [("kept", kept), ("lost", lost)] {
        if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
            return Some(match w[0] == w[1] {
                true => format!("key `{}` is listed as {name} twice", w[0]),
                false => format!(
                    "the keys {name} are out of order (`{}` before `{}`)",
                    w[0], w[1]
                ),
            });
        }
    }
    kept.iter()
        .find(|k| lost.binary_search(k).is_ok())
        .map(|k| format!("key `{k}` is listed as both kept and lost"))
}

/// Feeds records to every checker.
struct Auditor {
    nodes: u32,
    messages: messages::Messages,
    lamport: lamport::Lamport,
    vclock: vclock::VectorClocks,
    graph: graph::Graph,
    fifo: fifo::Fifo,
    causal: Option<causal::Causal>,
    stats: Stats,
    malformed: Verdict,
    /// By node, while it is paused: the record of its pause.
    paused: Vec<Option<u64>>,
}

impl Auditor {
    fn new(header: &Header, options: &Options) -> Auditor {
        let n = header.nodes as usize;
        Auditor {
            nodes: header.nodes,
            messages: messages::Messages::default(),
            lamport: lamport::Lamport::new(n),
            vclock: vclock::VectorClocks::new(n, header.vector_clocks),
            graph: graph::Graph::new(n),
            fifo: fifo::Fifo::new(header),
            causal: options.causal.then(|| causal::Causal::new(n)),
            stats: Stats::default(),
            malformed: Verdict::new("well-formed"),
            paused: vec![None; n],
        }
    }

    fn record(&mut self, index: u64, record: &Record<'_>) {
        self.stats.count(record);
        if let Some(bad) = self.out_of_range(record) {
            self.malformed.flag(
                index,
                record.time,
                vec![bad],
                format!("names node {} of {}", bad.0, self.nodes),
            );
            return;
        }
        if let Some((node, why)) = self.while_paused(index, record) {
            self.malformed.flag(index, record.time, vec![node], why);
        }
        // Checkers that need the send look it up before the table changes.
        let sent = match &record.kind {
            Kind::Deliver { msg, .. } | Kind::Lost { msg, .. } => self.messages.sent(*msg).cloned(),
            _ => None,
        };
        self.lamport.record(index, record, sent.as_ref());
        if !sent.as_ref().is_some_and(|s| s.injected) {
            self.fifo.record(index, record);
        }
        let vc = self.vclock.record(index, record);
        self.graph.record(index, record, vc);
        if let Some(c) = &mut self.causal {
            c.record(index, record, vc, sent.as_ref());
        }
        self.messages.record(index, record);
        self.vclock.forget_delivered(&self.messages);
        if let Some(c) = &mut self.causal {
            c.forget_delivered(&self.messages);
        }
    }

    /// A paused node handles nothing until its resume or its crash, and a
    /// copy is held only for a node paused: what breaks that, and why.
    fn while_paused(&mut self, index: u64, record: &Record<'_>) -> Option<(NodeId, String)> {
        let slot = |paused: &mut Vec<Option<u64>>, n: NodeId| {
            let i = n.index();
            if paused.len() <= i {
                paused.resize(i + 1, None);
            }
            i
        };
        match &record.kind {
            Kind::Pause { node } => {
                let i = slot(&mut self.paused, *node);
                self.paused[i].get_or_insert(index);
                None
            }
            Kind::Resume { node } | Kind::Crash { node, .. } => {
                let i = slot(&mut self.paused, *node);
                self.paused[i] = None;
                None
            }
            Kind::Held { node, msg, copy } => {
                let i = slot(&mut self.paused, *node);
                self.paused[i].is_none().then(|| {
                    (
                        *node,
                        format!("holds m{msg}.{copy} for {node}, which is not paused"),
                    )
                })
            }
            Kind::Start { node, .. }
            | Kind::Deliver { node, .. }
            | Kind::Timer { node, .. }
            | Kind::Input { node, .. }
            | Kind::Send { node, .. } => {
                let i = slot(&mut self.paused, *node);
                let what = match record.kind {
                    Kind::Send { .. } => "sends",
                    _ => "handles an event",
                };
                self.paused[i].map(|at| {
                    (
                        *node,
                        format!("{node} {what} while paused (since record {at})"),
                    )
                })
            }
            _ => None,
        }
    }

    fn out_of_range(&self, record: &Record<'_>) -> Option<NodeId> {
        let (a, b) = match &record.kind {
            Kind::Send { node, to, .. } => (Some(*node), Some(*to)),
            Kind::Deliver { node, from, .. } => (Some(*node), Some(*from)),
            Kind::Lost { from, to, .. } | Kind::Injected { from, to, .. } => {
                (Some(*from), Some(*to))
            }
            Kind::Byzantine { node, of, .. } => (Some(*node), Some(*of)),
            Kind::Mutated { node, .. } => (Some(*node), None),
            Kind::CutWire { a, b } | Kind::RestoreWire { a, b } => (Some(*a), Some(*b)),
            Kind::ClockSkew { node, .. }
            | Kind::Pause { node }
            | Kind::Resume { node }
            | Kind::Held { node, .. } => (Some(*node), None),
            _ => (record.node_event().map(|(n, _)| n), None),
        };
        [a, b].into_iter().flatten().find(|n| n.0 >= self.nodes)
    }

    fn finish(&mut self, end: Option<EndReason>, time: Instant) {
        self.messages.finish(end, time);
        self.graph.finish();
        self.fifo.finish();
    }

    fn verdicts(self) -> Vec<Verdict> {
        let mut v = vec![
            self.malformed,
            self.messages.verdict,
            self.lamport.verdict,
            self.vclock.verdict,
        ];
        v.push(self.graph.verdict);
        v.push(self.fifo.verdict);
        if let Some(c) = self.causal {
            v.push(c.verdict);
        }
        v
    }
}
