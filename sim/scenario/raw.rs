//! The scenario file as TOML gives it, before any checking beyond types.

use serde::Deserialize;
use std::collections::BTreeMap;
use toml::{Spanned, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub protocol: Spanned<String>,
    pub description: Option<String>,
    pub nodes: Spanned<Value>,
    pub seed: Option<Spanned<i64>>,
    pub params: Option<BTreeMap<Spanned<String>, Spanned<Value>>>,
    pub network: Option<RawNetwork>,
    pub topology: Option<Spanned<RawTopology>>,
    pub fault: Option<Vec<Spanned<RawFault>>>,
    pub workload: Option<Spanned<RawWorkload>>,
    pub run: Option<RawRun>,
    pub check: Option<RawCheck>,
    pub byzantine: Option<Vec<Spanned<RawByzantine>>>,
    pub adversary: Option<Spanned<RawAdversary>>,
    pub disk: Option<RawDisk>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDisk {
    pub unsynced_kept: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawByzantine {
    pub node: Spanned<u32>,
    pub behaviour: Spanned<String>,
    /// Twins: the nodes each instance reaches (else drawn per seed).
    pub reach: Option<Spanned<Vec<Vec<u32>>>>,
    /// Twins: how many instances, when `reach` is drawn.
    pub instances: Option<Spanned<u32>>,
    /// Mutate: the chance per message.
    pub chance: Option<Spanned<Value>>,
    /// Mutate: "small" or "arbitrary".
    pub mutation: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdversary {
    pub forge: Option<Spanned<Value>>,
    pub replay: Option<Spanned<Value>>,
    pub alter: Option<Spanned<Value>>,
    pub delay: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub latency: Option<Spanned<Value>>,
    pub loss: Option<Spanned<Value>>,
    pub duplicate: Option<Spanned<Value>>,
    pub corrupt: Option<Spanned<Value>>,
    pub ordering: Option<Spanned<String>>,
    pub capacity: Option<Spanned<Value>>,
    pub overflow: Option<Spanned<String>>,
    pub link: Option<Vec<Spanned<RawLink>>>,
    pub lose_messages: Option<Spanned<Vec<u64>>>,
    pub duplicate_messages: Option<Spanned<Vec<u64>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub from: Spanned<u32>,
    pub to: Spanned<u32>,
    /// Also override `to → from`.
    pub both_ways: Option<bool>,
    pub latency: Option<Spanned<Value>>,
    pub loss: Option<Spanned<Value>>,
    pub duplicate: Option<Spanned<Value>>,
    pub corrupt: Option<Spanned<Value>>,
    pub ordering: Option<Spanned<String>>,
    pub capacity: Option<Spanned<Value>>,
    pub overflow: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopology {
    pub shape: Option<Spanned<String>>,
    pub edges: Option<Vec<Spanned<[u32; 2]>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// When it comes; a crash set off by `after` may leave it out (then
    /// at once).
    pub at: Option<Spanned<Value>>,
    pub probability: Option<Spanned<Value>>,
    pub id: Option<u32>,
    pub partition: Option<Spanned<Vec<Vec<u32>>>>,
    pub oneway: Option<Spanned<RawOneWay>>,
    /// A role: each node that plays it when the fault comes is cut off.
    pub isolate: Option<Spanned<String>>,
    pub heal: Option<Spanned<Value>>,
    /// A node id, or a range `[a, b]` each seed draws the node from.
    pub crash: Option<Spanned<Value>>,
    pub restart: Option<Spanned<u32>>,
    pub skew: Option<Spanned<RawSkew>>,
    pub cut: Option<Spanned<[u32; 2]>>,
    pub restore: Option<Spanned<[u32; 2]>>,
    pub forge: Option<Spanned<RawForge>>,
    pub replay: Option<Spanned<u32>>,
    pub alter: Option<Spanned<u32>>,
    /// A crash set off by a node's progress: `at` counts from then.
    pub after: Option<Spanned<RawTrigger>>,
    /// How long a crash keeps its node down: its restart comes that long
    /// after it.
    pub down: Option<Spanned<Value>>,
    /// A node id, a range `[a, b]` each seed draws the node from, or a
    /// role: that node stops handling anything, its state kept.
    pub pause: Option<Spanned<Value>>,
    /// How long a pause lasts: its resume comes that long after it.
    #[serde(rename = "for")]
    pub pause_for: Option<Spanned<Value>>,
    /// A pause that falls in its node's next handler that sends or
    /// answers, right before its first send or answer.
    pub mid_handler: Option<Spanned<bool>>,
    pub resume: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrigger {
    pub node: u32,
    pub deliveries: Option<Spanned<Value>>,
    pub sends: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForge {
    pub to: u32,
    pub from: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOneWay {
    pub from: Vec<u32>,
    pub to: Vec<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSkew {
    pub node: u32,
    pub offset: Option<Spanned<Value>>,
    pub drift_ppm: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    pub count: Spanned<Value>,
    pub start: Option<Spanned<Value>>,
    pub interval: Option<Spanned<Value>>,
    pub targets: Option<Spanned<Vec<u32>>>,
    pub values: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRun {
    pub time: Option<Spanned<Value>>,
    pub events: Option<Spanned<Value>>,
    pub message_bytes: Option<Spanned<Value>>,
    pub instant_events: Option<Spanned<Value>>,
    pub vector_clocks: Option<bool>,
    pub strategy: Option<Spanned<String>>,
    pub pct_depth: Option<Spanned<Value>>,
    pub pct_steps: Option<Spanned<Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    pub invariants: Option<Spanned<Vec<Spanned<String>>>>,
    pub linearizable: Option<Spanned<String>>,
    pub initial: Option<Spanned<Value>>,
    pub answered: Option<Spanned<Value>>,
}
