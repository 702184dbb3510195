//! The scheduler: the event queue and the one loop that owns virtual time
//! and randomness.
//!
//! Events are ordered by virtual time, ties broken by a sequence number that
//! increases as events are scheduled, so the order never depends on memory
//! addresses or threads. Each event runs one node handler; the handler's
//! effects are applied here, in order, and every one becomes trace records.
//!
//! ```
//! use dsim::{Context, Node, NodeId, SimConfig, Simulation};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Ping(u32);
//!
//! struct Echo { seen: u32 }
//!
//! impl Node for Echo {
//!     type Msg = Ping;
//!     fn on_start(&mut self, ctx: &mut Context<'_, Ping>) {
//!         if ctx.id() == NodeId(0) { ctx.send(NodeId(1), &Ping(0)); }
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, Ping>, from: NodeId, Ping(n): Ping) {
//!         self.seen += 1;
//!         if n < 9 { ctx.send(from, &Ping(n + 1)); }
//!     }
//! }
//!
//! let sim = Simulation::new(SimConfig::new(42, 2), |_| Echo { seen: 0 })
//!     .always("bounded", |v| {
//!         match v.up().all(|(_, n)| n.seen <= 5) { true => Ok(()), false => Err("too many".into()) }
//!     });
//! let outcome = sim.run().unwrap();
//! assert_eq!(outcome.stats.delivered, 10);
//! assert!(outcome.failure.is_none());
//! ```

use crate::config::SimConfig;
use crate::invariant::{Invariant, View};
use crate::network::Schedule;
use crate::node::{Node, NodeId};
use crate::time::Instant;
use crate::trace::{
    EndReason, Header, Kind, NullSink, Record, Sink, Stats, TraceWriter, FORMAT_VERSION,
};
use std::io::{self, Write};
use std::sync::Arc;
use thiserror::Error;

mod queue;
mod world;

use world::World;

/// A run could not be carried out (as opposed to a check failing).
#[derive(Debug, Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("writing the trace failed: {0}")]
    Trace(#[from] io::Error),
}

/// The first check that failed in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The invariant's name, or `panic` for a handler that panicked, or
    /// `effect` for a handler that asked for something impossible.
    pub check: String,
    pub message: String,
    /// Index of the `CheckFailed` record in the trace.
    pub record: u64,
    pub time: Instant,
}

/// How a run ended.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub end: EndReason,
    pub failure: Option<Failure>,
    pub stats: Stats,
    /// Hash of the whole trace, when one was written.
    pub trace_hash: Option<[u8; 32]>,
    /// When following a schedule: sends it had no recorded fate for.
    pub unscripted: u64,
}

thread_local! {
    /// The node whose handler this thread is running, if it is running one.
    static IN_HANDLER: std::cell::Cell<Option<NodeId>> = const { std::cell::Cell::new(None) };
}

/// True while this thread runs a node handler. A panic hook can use it to
/// stay quiet about panics the kernel catches and reports as failures.
pub fn in_handler() -> bool {
    IN_HANDLER.with(|f| f.get()).is_some()
}

/// Reusable buffers kept at most, per kind.
const BUFFERS_KEPT: usize = 1024;

type Factory<N> = Box<dyn Fn(NodeId) -> N + Send + Sync>;

/// A protocol, a configuration and invariants: everything needed to run.
/// Running does not consume it; every run of it with the same config gives
/// the same trace.
pub struct Simulation<N: Node> {
    config: SimConfig,
    factory: Factory<N>,
    invariants: Vec<Invariant<N>>,
    schedule: Option<Arc<Schedule>>,
}

impl<N: Node> Simulation<N> {
    /// `factory` builds node `id` at the start and again at each restart.
    pub fn new(
        config: SimConfig,
        factory: impl Fn(NodeId) -> N + Send + Sync + 'static,
    ) -> Simulation<N> {
        Simulation {
            config,
            factory: Box::new(factory),
            invariants: Vec::new(),
            schedule: None,
        }
    }

    /// Adds an invariant.
    pub fn invariant(mut self, invariant: Invariant<N>) -> Simulation<N> {
        self.invariants.push(invariant);
        self
    }

    /// Adds an invariant checked after every event and at the end.
    pub fn always(
        self,
        name: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::always(name, check))
    }

    /// Adds an invariant checked once, when the run ends.
    pub fn at_end(
        self,
        name: impl Into<String>,
        check: impl Fn(&View<'_, N>) -> Result<(), String> + Send + Sync + 'static,
    ) -> Simulation<N> {
        self.invariant(Invariant::at_end(name, check))
    }

    /// Takes every message's fate from a recorded schedule (schedule
    /// replay) instead of the network's random stream.
    pub fn follow(&mut self, schedule: Arc<Schedule>) {
        self.schedule = Some(schedule);
    }

    /// Keeps only the invariants whose names `keep` accepts.
    pub fn retain_invariants(&mut self, keep: impl Fn(&str) -> bool) {
        self.invariants.retain(|inv| keep(&inv.name));
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    pub fn config_mut(&mut self) -> &mut SimConfig {
        &mut self.config
    }

    /// The trace header this simulation writes.
    pub fn header(&self) -> Header {
        let net = &self.config.network;
        let fifo_default = net.default.ordering == crate::network::Ordering::Fifo;
        let mut fifo_exceptions: Vec<(NodeId, NodeId)> = net
            .links
            .iter()
            .filter(|(a, b, _)| net.is_fifo(*a, *b) != fifo_default)
            .map(|(a, b, _)| (*a, *b))
            .collect();
        fifo_exceptions.sort_unstable();
        fifo_exceptions.dedup();
        Header {
            format_version: FORMAT_VERSION,
            protocol: self.config.protocol.clone(),
            seed: self.config.seed,
            nodes: self.config.nodes,
            scenario: self.config.scenario.clone(),
            config: self.config.config_text.clone(),
            drawn: self.config.drawn.clone(),
            fifo_default,
            fifo_exceptions,
            vector_clocks: self.config.vector_clocks,
            replay: self.config.replay.clone(),
        }
    }

    /// Runs without keeping a trace. Vector clocks are not kept either:
    /// nothing could read them.
    pub fn run(&self) -> Result<Outcome, SimError> {
        let (outcome, _) = self.run_inner_with(&mut NullSink::default(), false)?;
        Ok(outcome)
    }

    /// Runs and streams the trace to `out`; `key` makes its chain a MAC.
    /// Returns the writer so a caller can recover an in-memory buffer.
    pub fn run_traced<W: Write>(
        &self,
        out: W,
        key: Option<&[u8]>,
    ) -> Result<(Outcome, W), SimError> {
        let mut writer = TraceWriter::new(out, &self.header(), key)?;
        let (mut outcome, end_time) = self.run_inner(&mut writer)?;
        let (out, hash) = writer.finish(outcome.end, end_time)?;
        outcome.trace_hash = Some(hash);
        Ok((outcome, out))
    }

    /// Runs with records going to any sink.
    pub fn run_into<S: Sink>(&self, sink: &mut S) -> Result<Outcome, SimError> {
        let (outcome, end_time) = self.run_inner(sink)?;
        let end = Record {
            time: end_time,
            kind: Kind::End {
                reason: outcome.end,
                records: outcome.stats.records,
            },
        };
        sink.record(&end)?;
        Ok(outcome)
    }

    fn run_inner<S: Sink>(&self, sink: &mut S) -> Result<(Outcome, Instant), SimError> {
        self.run_inner_with(sink, self.config.vector_clocks)
    }

    fn run_inner_with<S: Sink>(
        &self,
        sink: &mut S,
        vector_clocks: bool,
    ) -> Result<(Outcome, Instant), SimError> {
        self.config.validate().map_err(SimError::Config)?;
        let mut world = World::new(self, sink, vector_clocks);
        let end = world.run()?;
        let time = world.now;
        let unscripted = world.network.unscripted();
        Ok((
            Outcome {
                end,
                failure: world.failure,
                stats: world.stats,
                trace_hash: None,
                unscripted,
            },
            time,
        ))
    }
}
