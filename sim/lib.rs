//! # dsim: deterministic simulation for message-passing systems
//!
//! Write a protocol as [`Node`]s, pure state machines that talk only through
//! messages; run them with a [`Simulation`] under a seeded scheduler and an
//! adversarial [`network`]; get a hash-chained [`trace`] of every event.
//! The same configuration and seed always give the byte-identical trace.
//!
//! ```
//! use dsim::{Context, Node, NodeId, SimConfig, Simulation};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! enum Msg { Ping, Pong }
//!
//! struct PingPong { pongs: u32 }
//!
//! impl Node for PingPong {
//!     type Msg = Msg;
//!     type Timer = ();
//!     fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
//!         if ctx.id() == NodeId(0) { ctx.broadcast(&Msg::Ping); }
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
//!         match msg {
//!             Msg::Ping => ctx.send(from, &Msg::Pong),
//!             Msg::Pong => self.pongs += 1,
//!         }
//!     }
//! }
//!
//! let sim = Simulation::new(SimConfig::new(7, 3), |_| PingPong { pongs: 0 });
//! let (outcome, trace) = sim.run_traced(Vec::new(), None).unwrap();
//! assert_eq!(outcome.stats.delivered, 4);
//! // Same seed, same bytes.
//! let (_, again) = sim.run_traced(Vec::new(), None).unwrap();
//! assert_eq!(trace, again);
//! ```
//!
//! ## Map of the crate
//!
//! | module | what lives there |
//! |---|---|
//! | [`time`], [`rng`] | virtual instants and durations; seeded streams and integer probabilities |
//! | [`node`] | `Node`, `NodeId`, `Context`, effects, durable `Disk` |
//! | [`history`] | client histories: operations invoked and their outcomes |
//! | [`clock`] | Lamport and vector clocks, and their compact trace encoding |
//! | [`network`] | links, latency distributions, a message's fate, partitions, topology |
//! | [`adversary`] | byzantine nodes (twins, mutation, silence, amnesia), a network that forges, replays and alters, authenticated channels |
//! | [`config`] | the run's configuration: network, fault schedule, workload, limits |
//! | [`invariant`] | protocol invariants over node states |
//! | [`scheduler`] | `Simulation`, the event queue and the one loop (`scheduler/world.rs`) that owns time and randomness |
//! | [`trace`] | records, the hash-chained writer and the verifying reader |
//! | [`check`] | checks over a trace file: integrity, messages, clocks, happens-before, FIFO, causal |
//! | [`replay`] | seed replay, schedule replay, where two traces part ways |
//! | [`show`] | renderings of a trace |
//! | [`scenario`] | scenario files: parse, check with line:col errors, draw swarm knobs |
//! | [`protocols`] | built-in protocols with broken twins, and the registry |
//! | [`shrink`] | delta debugging of a failing run over its recorded decisions |
//! | [`explore`] | bounded exhaustive exploration of every order of events |
//! | [`testing`] | proptest strategies and a harness for property-testing protocols |
//! | [`cli`] | the `dsim` command line |

pub mod adversary;
pub mod aio;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod explore;
pub mod history;
pub mod invariant;
pub mod names;
pub mod network;
pub mod node;
pub mod protocols;
pub mod replay;
pub mod rng;
pub mod scenario;
pub mod scheduler;
pub mod show;
pub mod shrink;
pub mod testing;
pub mod time;
pub mod trace;
mod wire;

pub use config::{
    Budgets, DiskConfig, Fault, FaultAction, Limits, Progress, SimConfig, Strategy, Trigger,
    Workload,
};
pub use invariant::{Invariant, View, When};
pub use network::{Latency, LinkConfig, LossCause, NetworkConfig, PartitionSpec};
pub use node::{Context, Disk, Input, Node, NodeId, TimerId};
pub use rng::{DetRng, Ppm};
pub use scheduler::{ClockHeld, Failure, Outcome, SimError, Simulation};
pub use time::{Duration, Instant};

/// The README's examples are compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
