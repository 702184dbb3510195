//! Property testing protocols with proptest: strategies for what a
//! simulation varies, and a harness that runs one generated case, checks
//! the protocol's invariants and dsim's ordering checks, and on failure
//! writes the trace and says how to reproduce the case.
//!
//! Strategies are written so proptest's shrinking simplifies: fault plans
//! shrink to fewer faults, probabilities towards zero, latencies towards
//! short, reordering towards FIFO, node counts and operation counts down.
//!
//! ```no_run
//! use dsim::testing::{cases, check, Bounds};
//! use proptest::prelude::*;
//! # use dsim::{Context, Node, NodeId, Simulation};
//! # struct MyNode; impl Node for MyNode { type Msg = u8;
//! #   fn on_start(&mut self, _: &mut Context<'_, u8>) {}
//! #   fn on_message(&mut self, _: &mut Context<'_, u8>, _: NodeId, _: u8) {} }
//!
//! proptest! {
//!     #[test]
//!     fn my_protocol_survives_the_network(case in cases(Bounds::default())) {
//!         check(&case, |config| Simulation::new(config, |_| MyNode).always("safe", |_| Ok(())))?;
//!     }
//! }
//! ```

use crate::check::{audit, Options};
use crate::config::{Fault, FaultAction, SimConfig, Workload};
use crate::network::{Latency, LinkConfig, Ordering, PartitionSpec};
use crate::node::{Node, NodeId};
use crate::protocols::{Params, Protocol, RunOptions};
use crate::rng::Ppm;
use crate::scheduler::{Outcome, SimError, Simulation};
use crate::time::Duration;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::ops::RangeInclusive;
use std::path::PathBuf;

/// How adversarial the generated network may be.
#[derive(Clone, Debug)]
pub struct NetworkBounds {
    pub latency_max: Duration,
    pub loss_max: Ppm,
    pub duplicate_max: Ppm,
    pub corrupt_max: Ppm,
    /// Whether links may reorder (otherwise always FIFO).
    pub reorder: bool,
}

impl Default for NetworkBounds {
    fn default() -> NetworkBounds {
        NetworkBounds {
            latency_max: Duration::from_millis(50),
            loss_max: Ppm(200_000),
            duplicate_max: Ppm(100_000),
            corrupt_max: Ppm::ZERO,
            reorder: true,
        }
    }
}

/// A fault in a plan: each expands to a valid pair (a crash and its
/// restart, a partition and its heal), so any plan is a valid schedule and
/// dropping an entry keeps it valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlannedFault {
    /// Nodes below `split` against the rest, from `at_ms` for `lasts_ms`.
    Partition {
        at_ms: u64,
        lasts_ms: u64,
        split: u32,
    },
    /// `node` is down from `at_ms` for `down_ms`.
    Crash { node: u32, at_ms: u64, down_ms: u64 },
    /// `node`'s clock is set `offset_ms` ahead and `drift_ppm` fast at `at_ms`.
    Skew {
        node: u32,
        at_ms: u64,
        offset_ms: i64,
        drift_ppm: i32,
    },
}

/// Everything one generated run varies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub seed: u64,
    pub nodes: u32,
    pub link: LinkConfig,
    pub faults: Vec<PlannedFault>,
    pub operations: u64,
    pub time: Duration,
}

/// Bounds for generated cases.
#[derive(Clone, Debug)]
pub struct Bounds {
    pub nodes: RangeInclusive<u32>,
    pub network: NetworkBounds,
    pub max_faults: usize,
    pub operations: RangeInclusive<u64>,
    /// Faults happen before this; runs last twice as long.
    pub horizon: Duration,
}

impl Default for Bounds {
    fn default() -> Bounds {
        Bounds {
            nodes: 3..=5,
            network: NetworkBounds::default(),
            max_faults: 4,
            operations: 1..=30,
            horizon: Duration::from_secs(2),
        }
    }
}

/// Root seeds; shrink towards 0.
pub fn seeds() -> impl Strategy<Value = u64> {
    any::<u64>()
}

/// A link within `b`.
pub fn link(b: NetworkBounds) -> impl Strategy<Value = LinkConfig> {
    let max_ms = (b.latency_max.0 / 1_000_000).max(1);
    (
        1..=max_ms,
        0..=b.loss_max.0,
        0..=b.duplicate_max.0,
        0..=b.corrupt_max.0,
        proptest::bool::weighted(if b.reorder { 0.5 } else { 0.0 }),
    )
        .prop_map(|(ms, loss, dup, corrupt, reorder)| LinkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(1).min(Duration::from_millis(ms)),
                max: Duration::from_millis(ms),
            },
            loss: Ppm(loss),
            duplicate: Ppm(dup),
            corrupt: Ppm(corrupt),
            ordering: if reorder {
                Ordering::Reorder
            } else {
                Ordering::Fifo
            },
            ..LinkConfig::default()
        })
}

/// One planned fault among `nodes` nodes before `horizon`.
pub fn fault(nodes: u32, horizon: Duration) -> impl Strategy<Value = PlannedFault> {
    let end = (horizon.0 / 1_000_000).max(1);
    prop_oneof![
        (0..end, 1..=end, 1..nodes.max(2)).prop_map(|(at_ms, lasts_ms, split)| {
            PlannedFault::Partition {
                at_ms,
                lasts_ms,
                split,
            }
        }),
        (0..nodes, 0..end, 1..=end).prop_map(|(node, at_ms, down_ms)| PlannedFault::Crash {
            node,
            at_ms,
            down_ms
        }),
        (0..nodes, 0..end, -50i64..=50, -100_000i32..=100_000).prop_map(
            |(node, at_ms, offset_ms, drift_ppm)| PlannedFault::Skew {
                node,
                at_ms,
                offset_ms,
                drift_ppm
            }
        ),
    ]
}

/// Up to `max` planned faults; shrinks by dropping them.
pub fn fault_plan(
    nodes: u32,
    horizon: Duration,
    max: usize,
) -> impl Strategy<Value = Vec<PlannedFault>> {
    proptest::collection::vec(fault(nodes, horizon), 0..=max)
}

/// Whole cases within `bounds`.
pub fn cases(bounds: Bounds) -> impl Strategy<Value = Case> {
    let Bounds {
        nodes,
        network,
        max_faults,
        operations,
        horizon,
    } = bounds;
    (nodes, seeds(), link(network), operations).prop_flat_map(move |(n, seed, link, ops)| {
        fault_plan(n, horizon, max_faults).prop_map(move |faults| Case {
            seed,
            nodes: n,
            link: link.clone(),
            faults,
            operations: ops,
            time: Duration(horizon.0.saturating_mul(2)),
        })
    })
}

impl Case {
    /// The faults as a schedule: each planned fault expands to a valid pair;
    /// a crash of a node already down at that time is left out.
    pub fn fault_schedule(&self) -> Vec<Fault> {
        let ms = Duration::from_millis;
        let mut out = Vec::new();
        let mut down_until = vec![0u64; self.nodes as usize];
        for (i, f) in self.faults.iter().enumerate() {
            match *f {
                PlannedFault::Partition {
                    at_ms,
                    lasts_ms,
                    split,
                } => {
                    let low: Vec<NodeId> = (0..split.min(self.nodes)).map(NodeId).collect();
                    let id = i as u32;
                    out.push(Fault {
                        at: ms(at_ms),
                        action: FaultAction::Partition {
                            id,
                            spec: PartitionSpec::Groups(vec![low]),
                        },
                    });
                    out.push(Fault {
                        at: ms(at_ms + lasts_ms),
                        action: FaultAction::Heal { id: Some(id) },
                    });
                }
                PlannedFault::Crash {
                    node,
                    at_ms,
                    down_ms,
                } if node < self.nodes => {
                    let until = &mut down_until[node as usize];
                    if at_ms < *until {
                        continue;
                    }
                    *until = at_ms + down_ms + 1;
                    out.push(Fault {
                        at: ms(at_ms),
                        action: FaultAction::Crash { node: NodeId(node) },
                    });
                    out.push(Fault {
                        at: ms(at_ms + down_ms),
                        action: FaultAction::Restart { node: NodeId(node) },
                    });
                }
                PlannedFault::Skew {
                    node,
                    at_ms,
                    offset_ms,
                    drift_ppm,
                } if node < self.nodes => {
                    out.push(Fault {
                        at: ms(at_ms),
                        action: FaultAction::ClockSkew {
                            node: NodeId(node),
                            offset_ns: offset_ms * 1_000_000,
                            drift_ppm,
                        },
                    });
                }
                _ => {}
            }
        }
        out
    }

    /// The run configuration of this case.
    pub fn config(&self) -> SimConfig {
        let mut c = SimConfig::new(self.seed, self.nodes);
        c.network.default = self.link.clone();
        c.faults = self.fault_schedule();
        c.limits.time = self.time;
        c.workload = (self.operations > 0).then(|| Workload {
            count: self.operations,
            start: Duration::from_millis(1),
            interval: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(40),
            },
            targets: Vec::new(),
            value_range: 1000,
        });
        c.scenario = "proptest case".into();
        c
    }
}

/// Runs `case` with the simulation `build` makes from its configuration;
/// fails on a broken invariant, a handler panic or a violated ordering
/// check, writing the trace and explaining how to reproduce.
pub fn check<N: Node>(
    case: &Case,
    build: impl Fn(SimConfig) -> Simulation<N>,
) -> Result<(), TestCaseError> {
    run_case(case, |config, trace| {
        build(config).run_traced(trace, None).map(|(o, _)| o)
    })
}

/// [`check`] for a registered protocol with the given parameters.
pub fn check_protocol(
    case: &Case,
    protocol: &dyn Protocol,
    params: &Params,
) -> Result<(), TestCaseError> {
    run_case(case, |mut config, trace| {
        config.protocol = protocol.name().to_string();
        let options = RunOptions {
            trace: Some(trace),
            key: None,
            invariants: None,
            schedule: None,
        };
        protocol.run(config, params, options)
    })
}

fn run_case(
    case: &Case,
    run: impl Fn(SimConfig, &mut Vec<u8>) -> Result<Outcome, SimError>,
) -> Result<(), TestCaseError> {
    let mut trace = Vec::new();
    let outcome = run(case.config(), &mut trace)
        .map_err(|e| TestCaseError::fail(format!("the case could not run: {e}")))?;
    let problem = match &outcome.failure {
        Some(f) => Some(format!(
            "check `{}` failed at record {} (t={}): {}",
            f.check, f.record, f.time, f.message
        )),
        None => {
            let report = audit(&trace[..], &Options::default())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            report.verdicts.iter().find(|v| !v.holds()).map(|v| {
                let first = v
                    .first
                    .as_ref()
                    .map(|f| format!("record {}: {}", f.record, f.message))
                    .unwrap_or_default();
                format!("dsim's `{}` check failed at {first}", v.check)
            })
        }
    };
    let Some(problem) = problem else {
        return Ok(());
    };
    let path = save(case, &trace);
    Err(TestCaseError::fail(format!(
        "{problem}\n  seed {}, {} nodes, {} planned faults: {:?}\n  trace: {}\n  reproduce: dsim::testing::check(&{case:?}, build)",
        case.seed,
        case.nodes,
        case.faults.len(),
        case.faults,
        path.display(),
    )))
}

/// Writes a failing case's trace under the target directory.
fn save(case: &Case, trace: &[u8]) -> PathBuf {
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
        .join("dsim-proptest");
    let _ = std::fs::create_dir_all(&dir);
    let name = format!(
        "seed-{}-nodes-{}-faults-{}-ops-{}.trace",
        case.seed,
        case.nodes,
        case.faults.len(),
        case.operations
    );
    let path = dir.join(name);
    let _ = std::fs::write(&path, trace);
    path
}
