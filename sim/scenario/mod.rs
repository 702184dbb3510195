//! Scenario files: raw TOML → a checked [`Scenario`] (every error located by
//! file, line and column) → for each seed, a [`SimConfig`] with every swarm
//! range drawn from that seed.
//!
//! The reference for every key is `scenarios/README.md`.
//!
//! ```
//! use dsim::protocols::Registry;
//! use dsim::scenario::Scenario;
//!
//! let text = r#"
//! protocol = "echo"
//! nodes = 3
//! [network]
//! latency = { dist = "uniform", min = "1ms", max = "20ms" }
//! loss = [0.0, 0.1]          # each seed draws its own loss rate
//! [workload]
//! count = 20
//! interval = "10ms"
//! "#;
//! let scenario = Scenario::parse("inline.toml", text, &Registry::builtin()).unwrap();
//! let run = scenario.resolve(7).unwrap();
//! assert_eq!(run.config.nodes, 3);
//! assert!(run.drawn.iter().any(|(k, _)| k == "network.loss"));
//! ```

mod checker;
mod error;
mod knob;
mod raw;

pub use error::{line_col, nearest, ScenarioError};
pub use knob::{Knob, LatencyKnob, Offset};

use crate::config::{Fault, FaultAction, Limits, Progress, SimConfig, Trigger, Workload};
use crate::network::{LinkConfig, MessageFault, NetworkConfig, Ordering, Overflow};
use crate::node::NodeId;
use crate::protocols::{ParamValue, Params, Registry};
use crate::rng::{DetRng, Ppm, Stream};
use crate::time::Duration;
pub(crate) use checker::unknown_check;
use checker::Checker;
use error::Locator;
use raw::RawScenario;
use std::collections::BTreeMap;

/// A link's settings with knobs; `None` fields inherit from the default link.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkKnobs {
    pub latency: Option<LatencyKnob>,
    pub loss: Option<Knob<Ppm>>,
    pub duplicate: Option<Knob<Ppm>>,
    pub corrupt: Option<Knob<Ppm>>,
    pub ordering: Option<Ordering>,
    pub capacity: Option<Knob<u64>>,
    pub overflow: Option<Overflow>,
}

/// A fault with a knob for its time and a chance of happening at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultKnob {
    pub at: Knob<Duration>,
    /// Below one million: the fault is optional and each seed decides.
    pub probability: Ppm,
    pub action: FaultAction,
    /// A clock skew whose offset or drift is a range: each seed draws them
    /// (the action holds the lows).
    pub skew: Option<SkewKnobs>,
    /// A crash set off by a node's progress (`after = { node, deliveries }`
    /// or `{ node, sends }`): `at` counts from when that node has handled,
    /// or sent, that many messages.
    pub after: Option<(NodeId, Progress, Knob<u64>)>,
    /// For a crash: its node restarts this long after it (never, without,
    /// unless a `restart` fault comes). For a pause (`for`): its node
    /// resumes this long after it (never, without).
    pub down: Option<Knob<Duration>>,
    /// For a crash or a pause of a node drawn from a range (`crash = [a,
    /// b]`, `pause = [a, b]`): the range (the action holds its low).
    pub crash: Option<Knob<u64>>,
}

/// A clock skew's offset and drift when either is a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkewKnobs {
    pub offset: Knob<Offset>,
    pub drift: Knob<i32>,
}

/// Workload settings with knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadKnobs {
    pub count: Knob<u64>,
    pub start: Knob<Duration>,
    pub interval: LatencyKnob,
    pub targets: Vec<NodeId>,
    pub values: Knob<u64>,
}

/// A checked scenario file.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The file as named by the user.
    pub file: String,
    pub source: String,
    pub protocol: String,
    pub description: Option<String>,
    pub nodes: Knob<u64>,
    pub seed: u64,
    pub params: BTreeMap<String, ParamKnob>,
    pub network: LinkKnobs,
    pub links: Vec<(NodeId, NodeId, LinkKnobs)>,
    /// Faults aimed at single messages by id (`lose_messages`,
    /// `duplicate_messages`).
    pub planned: Vec<(u64, MessageFault)>,
    pub topology: Option<TopologyKnob>,
    pub faults: Vec<FaultKnob>,
    pub workload: Option<WorkloadKnobs>,
    pub time: Knob<Duration>,
    pub events: Knob<u64>,
    pub message_bytes: u32,
    /// Node events in a row at one instant that fail the run.
    pub instant_events: u64,
    pub vector_clocks: bool,
    /// The scheduling strategy; PCT's depth is a knob.
    pub strategy: StrategyKnob,
    /// Invariants to check; `None` means all of the protocol's.
    pub invariants: Option<Vec<String>>,
    /// Check the clients' history for linearizability in every run.
    pub linearizable: Option<crate::history::Linearizability>,
    /// `[check] answered`: every client operation answered within this
    /// long of calm (the invariant `answered`).
    pub answered: Option<Duration>,
    /// Byzantine nodes and the network adversary.
    pub adversary: AdversaryKnobs,
    /// `[disk] unsynced_kept`: the chance a write not yet synced survives
    /// a crash (see [`crate::config::DiskConfig`]).
    pub unsynced_kept: Option<Knob<Ppm>>,
}

/// The adversary as the scenario gives it (`[[byzantine]]`, `[adversary]`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdversaryKnobs {
    pub byzantine: Vec<(NodeId, BehaviourKnob)>,
    pub forge: Option<Knob<Ppm>>,
    pub replay: Option<Knob<Ppm>>,
    pub alter: Option<Knob<Ppm>>,
    pub delay: Option<Knob<Duration>>,
}

/// A byzantine node's behaviour as the scenario gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BehaviourKnob {
    /// Twins with the reach of each instance given, or (`None`) drawn per
    /// seed: every other node reaches one of `instances` instances.
    Twins {
        reach: Option<Vec<Vec<NodeId>>>,
        instances: u32,
    },
    Mutate {
        chance: Knob<Ppm>,
        arbitrary: bool,
    },
    Silent,
    Amnesia,
}

impl AdversaryKnobs {
    /// This seed's adversary: chances drawn, twins' reach drawn.
    pub fn resolve(
        &self,
        nodes: u32,
        rng: &mut DetRng,
        drawn: &mut Vec<(String, String)>,
    ) -> crate::adversary::AdversaryConfig {
        use crate::adversary::{AdversaryConfig, Behaviour, Byzantine, NetworkAdversary};
        let mut byzantine = Vec::new();
        for (node, b) in &self.byzantine {
            let name = format!("byzantine.{}", node.0);
            let behaviour = match b {
                BehaviourKnob::Twins { reach: Some(r), .. } => {
                    Behaviour::Twins { reach: r.clone() }
                }
                BehaviourKnob::Twins {
                    reach: None,
                    instances,
                } => {
                    let mut reach = vec![Vec::new(); *instances as usize];
                    for peer in (0..nodes).map(NodeId).filter(|p| p != node) {
                        reach[rng.below(u64::from(*instances)) as usize].push(peer);
                    }
                    fill_empty(&mut reach);
                    let text: Vec<String> = reach
                        .iter()
                        .map(|r| {
                            let ids: Vec<String> = r.iter().map(|p| p.0.to_string()).collect();
                            format!("[{}]", ids.join(", "))
                        })
                        .collect();
                    drawn.push((format!("{name}.reach"), format!("[{}]", text.join(", "))));
                    Behaviour::Twins { reach }
                }
                BehaviourKnob::Mutate { chance, arbitrary } => Behaviour::Mutate {
                    chance: chance.resolve(&format!("{name}.chance"), rng, drawn),
                    arbitrary: *arbitrary,
                },
                BehaviourKnob::Silent => Behaviour::Silent,
                BehaviourKnob::Amnesia => Behaviour::Amnesia,
            };
            byzantine.push(Byzantine {
                node: *node,
                behaviour,
            });
        }
        let defaults = NetworkAdversary::default();
        let mut chance = |k: &Option<Knob<Ppm>>, what: &str| {
            k.as_ref().map_or(Ppm::ZERO, |k| {
                k.resolve(&format!("adversary.{what}"), rng, drawn)
            })
        };
        let network = NetworkAdversary {
            forge: chance(&self.forge, "forge"),
            replay: chance(&self.replay, "replay"),
            alter: chance(&self.alter, "alter"),
            delay: self
                .delay
                .as_ref()
                .map_or(defaults.delay, |k| k.resolve("adversary.delay", rng, drawn)),
        };
        AdversaryConfig { byzantine, network }
    }
}

/// The `[topology]` as the scenario gives it: a shape is laid over the
/// node count each seed draws; explicit edges need a fixed count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopologyKnob {
    /// 0-1-2-…-(n-1).
    Line,
    /// A line closed by the wire (n-1)-0.
    Ring,
    /// Node 0 wired to every other.
    Star,
    Edges(Vec<(NodeId, NodeId)>),
}

impl TopologyKnob {
    /// The wires among `nodes` nodes.
    pub fn edges(&self, nodes: u32) -> Vec<(NodeId, NodeId)> {
        let pairs: Vec<(u32, u32)> = match self {
            TopologyKnob::Line => (1..nodes).map(|i| (i - 1, i)).collect(),
            TopologyKnob::Ring => (0..nodes)
                .map(|i| (i, (i + 1) % nodes))
                .filter(|(a, b)| a != b)
                .collect(),
            TopologyKnob::Star => (1..nodes).map(|i| (0, i)).collect(),
            TopologyKnob::Edges(edges) => return edges.clone(),
        };
        pairs
            .into_iter()
            .map(|(a, b)| (NodeId(a), NodeId(b)))
            .collect()
    }

    /// Whether `a` and `b` are wired among `nodes` nodes.
    pub fn wired(&self, a: NodeId, b: NodeId, nodes: u32) -> bool {
        self.edges(nodes)
            .iter()
            .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
    }
}

/// The scheduling strategy as the scenario gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StrategyKnob {
    Random,
    Pct { depth: Knob<u64>, steps: u64 },
}

/// A protocol parameter: fixed, or an integer range for swarm testing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamKnob {
    Fixed(ParamValue),
    IntRange(u64, u64),
    DurationRange(Duration, Duration),
}

/// One seed's configuration, every range drawn.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: SimConfig,
    pub params: Params,
    pub invariants: Option<Vec<String>>,
    pub linearizable: Option<crate::history::Linearizability>,
    /// `[check] answered`: every client operation answered within this
    /// long of calm (the invariant `answered`).
    pub answered: Option<Duration>,
    /// (knob, value) for every knob the seed drew, and every optional fault.
    pub drawn: Vec<(String, String)>,
}

/// A drawn value as recorded (a duration in whole units, `44218841ns`),
/// for people: a duration in its largest unit, exact (`44.218841ms`).
pub fn drawn_value(v: &str) -> String {
    match Duration::parse(v) {
        Ok(d) if v != "0" => d.exact(),
        _ => v.to_string(),
    }
}

impl Resolved {
    /// "nodes = 4, params.window = 2, fault.0.at = 1.064824026s": what the
    /// seed drew, for people (a duration in its largest unit, exact);
    /// `None` for a scenario without ranges.
    pub fn drawn_words(&self) -> Option<String> {
        self.drawn_words_where(|_| true)
    }

    /// [`Resolved::drawn_words`] of the draws whose names `keep` keeps.
    pub fn drawn_words_where(&self, keep: impl Fn(&str) -> bool) -> Option<String> {
        let words: Vec<String> = (self.drawn.iter())
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| format!("{k} = {}", drawn_value(v)))
            .collect();
        (!words.is_empty()).then(|| words.join(", "))
    }
}

impl Scenario {
    /// Reads and checks a scenario file.
    pub fn load(path: &std::path::Path, registry: &Registry) -> Result<Scenario, ScenarioError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ScenarioError {
            file: file.clone(),
            line: None,
            column: None,
            message: format!("cannot read the scenario: {e}"),
        })?;
        let source = String::from_utf8(bytes).map_err(|e| {
            let (line, column) = line_col(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            ScenarioError {
                file: file.clone(),
                line: Some(line),
                column: Some(column),
                message: "the file is not UTF-8 text (is it a scenario?)".into(),
            }
        })?;
        Scenario::parse(&file, &source, registry)
    }

    /// Checks scenario text; `file` names it in errors.
    pub fn parse(file: &str, source: &str, registry: &Registry) -> Result<Scenario, ScenarioError> {
        let loc = Locator { file, source };
        if source.trim().is_empty() {
            return Err(
                loc.whole("the scenario is empty; it needs at least `protocol` and `nodes`")
            );
        }
        if let Some(e) = section_shape(&loc) {
            return Err(e);
        }
        let raw: RawScenario = toml::from_str(source).map_err(|e| loc.toml(&e))?;
        Checker { loc, registry }.scenario(raw, source)
    }

    /// The configuration for `seed`: every swarm range drawn from the
    /// seed's own stream, optional faults decided, the result validated.
    pub fn resolve(&self, seed: u64) -> Result<Resolved, ScenarioError> {
        let mut rng = DetRng::new(seed, Stream::Swarm);
        let mut drawn = Vec::new();
        let nodes = self.nodes.resolve("nodes", &mut rng, &mut drawn) as u32;
        let default = resolve_link(
            &LinkConfig::default(),
            &self.network,
            "network",
            &mut rng,
            &mut drawn,
        );
        let links = self
            .links
            .iter()
            .map(|(a, b, k)| {
                (
                    *a,
                    *b,
                    resolve_link(
                        &default,
                        k,
                        &format!("network.link.{}-{}", a.0, b.0),
                        &mut rng,
                        &mut drawn,
                    ),
                )
            })
            .collect();
        let mut faults = Vec::new();
        for (i, f) in self.faults.iter().enumerate() {
            let at = f.at.resolve(&format!("fault.{i}.at"), &mut rng, &mut drawn);
            if f.probability < Ppm::ONE {
                let happens = rng.chance(f.probability);
                drawn.push((
                    format!("fault.{i}"),
                    if happens { "on" } else { "off" }.to_string(),
                ));
                if !happens {
                    continue;
                }
            }
            let mut action = f.action.clone();
            // Its restart's mark until the schedule's role crashes are
            // numbered, below.
            if let FaultAction::CrashPlaying { mark, .. } | FaultAction::PausePlaying { mark, .. } =
                &mut action
            {
                *mark = i as u32;
            }
            // A crash's or a pause's node, drawn.
            let aim = match &mut action {
                FaultAction::Crash { node } => Some((node, "crash")),
                FaultAction::Pause { node, .. } => Some((node, "pause")),
                _ => None,
            };
            if let (Some(k), Some((node, what))) = (&f.crash, aim) {
                let drawn_node = k.resolve(&format!("fault.{i}.{what}"), &mut rng, &mut drawn);
                *node = NodeId(drawn_node as u32);
            }
            if let (
                Some(k),
                FaultAction::ClockSkew {
                    offset_ns,
                    drift_ppm,
                    ..
                },
            ) = (&f.skew, &mut action)
            {
                *offset_ns = k
                    .offset
                    .resolve(&format!("fault.{i}.skew.offset"), &mut rng, &mut drawn)
                    .0;
                *drift_ppm =
                    k.drift
                        .resolve(&format!("fault.{i}.skew.drift_ppm"), &mut rng, &mut drawn);
            }
            let after = f.after.as_ref().map(|(node, of, k)| {
                let mut t = Trigger::deliveries(*node, 0);
                t.of = *of;
                t.count = k.resolve(
                    &format!("fault.{i}.after.{}", t.counts()),
                    &mut rng,
                    &mut drawn,
                );
                t
            });
            // A crash's restart, `down` after it; a pause's resume, `for`
            // after it.
            let (undo, key) = match &action {
                FaultAction::Crash { node } => (Some(FaultAction::Restart { node: *node }), "down"),
                FaultAction::CrashPlaying { mark, .. } => {
                    (Some(FaultAction::RestartCrashed { mark: *mark }), "down")
                }
                FaultAction::Pause { node, .. } => {
                    (Some(FaultAction::Resume { node: *node }), "for")
                }
                FaultAction::PausePlaying { mark, .. } => {
                    (Some(FaultAction::ResumePaused { mark: *mark }), "for")
                }
                _ => (None, "down"),
            };
            let restart = f.down.as_ref().zip(undo).map(|(down, action)| Fault {
                at: Duration(
                    at.0.saturating_add(
                        down.resolve(&format!("fault.{i}.{key}"), &mut rng, &mut drawn)
                            .0,
                    ),
                ),
                action,
                after,
            });
            faults.push(Fault { at, action, after });
            faults.extend(restart);
        }
        sanitize_faults(&mut faults, nodes, &mut drawn);
        crate::config::number_role_crashes(&mut faults);
        let workload = self.workload.as_ref().map(|w| Workload {
            count: w.count.resolve("workload.count", &mut rng, &mut drawn),
            start: w.start.resolve("workload.start", &mut rng, &mut drawn),
            interval: w
                .interval
                .resolve("workload.interval", &mut rng, &mut drawn),
            targets: w.targets.clone(),
            value_range: w.values.resolve("workload.values", &mut rng, &mut drawn),
            skip: Vec::new(),
        });
        let limits = Limits {
            time: self.time.resolve("run.time", &mut rng, &mut drawn),
            events: self.events.resolve("run.events", &mut rng, &mut drawn),
            message_bytes: self.message_bytes,
            instant_events: self.instant_events,
        };
        let mut given = BTreeMap::new();
        for (name, p) in &self.params {
            let v = match p {
                ParamKnob::Fixed(v) => v.clone(),
                ParamKnob::IntRange(lo, hi) => {
                    let v = Knob::Range(*lo, *hi).resolve(
                        &format!("params.{name}"),
                        &mut rng,
                        &mut drawn,
                    );
                    ParamValue::Int(v as i64)
                }
                ParamKnob::DurationRange(lo, hi) => ParamValue::Duration(
                    Knob::Range(*lo, *hi).resolve(&format!("params.{name}"), &mut rng, &mut drawn),
                ),
            };
            given.insert(name.clone(), v);
        }
        let loc = Locator {
            file: &self.file,
            source: &self.source,
        };
        let params = Params(given);
        let mut config = SimConfig {
            seed,
            nodes,
            network: NetworkConfig {
                default,
                links,
                topology: self.topology.as_ref().map(|t| t.edges(nodes)),
                planned: self.planned.clone(),
            },
            faults,
            workload,
            limits,
            vector_clocks: self.vector_clocks,
            protocol: self.protocol.clone(),
            // The scenario's name, not the path it was reached by: the
            // same file and seed give the same trace however it is named
            // on the command line (its text is in the header too).
            scenario: std::path::Path::new(&self.file)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.file.clone()),
            config_text: self.source.clone(),
            // Filled in below, once the adversary, the strategy and the
            // disk have drawn theirs too.
            drawn: BTreeMap::new(),
            replay: String::new(),
            limits_cut_by: None,
            adversary: self.adversary.resolve(nodes, &mut rng, &mut drawn),
            strategy: match &self.strategy {
                StrategyKnob::Random => crate::config::Strategy::Random,
                StrategyKnob::Pct { depth, steps } => crate::config::Strategy::Pct {
                    depth: depth.resolve("run.pct_depth", &mut rng, &mut drawn) as u32,
                    steps: *steps,
                },
            },
            // Drawn last: a range here shifts no other knob's draw.
            disk: crate::config::DiskConfig {
                unsynced_kept: self.unsynced_kept.as_ref().map_or(Ppm::ZERO, |k| {
                    k.resolve("disk.unsynced_kept", &mut rng, &mut drawn)
                }),
            },
        };
        config.drawn = drawn.iter().cloned().collect();
        config
            .validate()
            .map_err(|e| loc.whole(format!("seed {seed}: {e}")))?;
        Ok(Resolved {
            config,
            params,
            invariants: self.invariants.clone(),
            linearizable: self.linearizable.clone(),
            answered: self.answered,
            drawn,
        })
    }
}

/// A section written as the other kind of table: `[[disk]]` for the one
/// table `[disk]`, `[fault]` for the array of tables `[[fault]]`. TOML
/// reads both, and the typed reading's complaint would name neither.
fn section_shape(loc: &Locator<'_>) -> Option<ScenarioError> {
    const ONE: [&str; 8] = [
        "network",
        "topology",
        "workload",
        "run",
        "check",
        "adversary",
        "disk",
        "params",
    ];
    const MANY: [(&str, &str); 3] = [
        ("fault", "fault"),
        ("byzantine", "byzantine node"),
        ("network.link", "wire"),
    ];
    let table: toml::Table = loc.source.parse().ok()?;
    // Where the key is given: its header, or `key =` at the top.
    let place = |key: &str| -> Option<usize> {
        let mut offset = 0;
        for line in loc.source.split_inclusive('\n') {
            let t = line.trim_start();
            let bare = t.trim_start_matches('[').trim_start();
            let named = bare
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with([']', '=']));
            if named && (t.starts_with('[') || t.starts_with(key)) {
                return Some(offset + line.len() - t.len());
            }
            offset += line.len();
        }
        None
    };
    // A dotted key may be given inline, in its table: `link = { ... }`.
    let place = |key: &str| {
        place(key).or_else(|| {
            let (_, last) = key.rsplit_once('.')?;
            place(last)
        })
    };
    let error = |key: &str, message: String| match place(key) {
        Some(at) => loc.at(at..at, message),
        None => loc.whole(message),
    };
    // The wires of `[network]` are an array of tables too.
    let links = table
        .get("network")
        .and_then(|n| n.get("link"))
        .map(|l| ("network.link", l));
    for (key, value) in table.iter().map(|(k, v)| (k.as_str(), v)).chain(links) {
        match value {
            toml::Value::Array(_) if ONE.contains(&key) => {
                return Some(error(
                    key,
                    format!("`{key}` is one table, written `[{key}]`, not an array of them (`[[{key}]]`)"),
                ));
            }
            toml::Value::Table(_) => {
                if let Some((_, each)) = MANY.iter().find(|(k, _)| *k == key) {
                    return Some(error(
                        key,
                        format!(
                            "`{key}` is an array of tables, one for each {each}: write `[[{key}]]`, not one table"
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// After optional faults and drawn times, drop a restart of a node that is
/// up, a crash of a node already down, a heal of a partition not in force
/// and a restore of a wire that is not cut, noting each in `drawn`.
fn sanitize_faults(faults: &mut Vec<Fault>, nodes: u32, drawn: &mut Vec<(String, String)>) {
    // Those set off by a node's progress last, by their delay.
    faults.sort_by_key(|f| (f.after.is_some(), f.at));
    let mut up = vec![true; nodes as usize];
    let mut open = std::collections::BTreeSet::new();
    let mut cut = std::collections::BTreeSet::new();
    faults.retain(|f| match f.action {
        // Set off by a node's progress: no time to judge it by.
        _ if f.after.is_some() => true,
        FaultAction::Partition { id, .. } => {
            open.insert(id);
            true
        }
        FaultAction::Heal { id: None } => {
            open.clear();
            true
        }
        FaultAction::Heal { id: Some(id) } if !open.remove(&id) => {
            drawn.push((
                format!("skipped heal of partition {id}"),
                "not in force".into(),
            ));
            false
        }
        FaultAction::CutWire { a, b } => {
            cut.insert(crate::network::wire(a, b));
            true
        }
        FaultAction::RestoreWire { a, b } if !cut.remove(&crate::network::wire(a, b)) => {
            drawn.push((
                format!("skipped restore of wire {}-{}", a.0, b.0),
                "not cut".into(),
            ));
            false
        }
        FaultAction::Crash { node } if !up[node.index()] => {
            drawn.push((
                format!("skipped crash of node {}", node.0),
                "already down".into(),
            ));
            false
        }
        FaultAction::Restart { node } if up[node.index()] => {
            drawn.push((
                format!("skipped restart of node {}", node.0),
                "not crashed".into(),
            ));
            false
        }
        FaultAction::Crash { node } => {
            up[node.index()] = false;
            true
        }
        FaultAction::Restart { node } => {
            up[node.index()] = true;
            true
        }
        _ => true,
    });
}

fn resolve_link(
    base: &LinkConfig,
    k: &LinkKnobs,
    name: &str,
    rng: &mut DetRng,
    drawn: &mut Vec<(String, String)>,
) -> LinkConfig {
    LinkConfig {
        latency: match &k.latency {
            Some(l) => l.resolve(&format!("{name}.latency"), rng, drawn),
            None => base.latency.clone(),
        },
        loss: k.loss.as_ref().map_or(base.loss, |v| {
            v.resolve(&format!("{name}.loss"), rng, drawn)
        }),
        duplicate: k.duplicate.as_ref().map_or(base.duplicate, |v| {
            v.resolve(&format!("{name}.duplicate"), rng, drawn)
        }),
        corrupt: k.corrupt.as_ref().map_or(base.corrupt, |v| {
            v.resolve(&format!("{name}.corrupt"), rng, drawn)
        }),
        ordering: k.ordering.unwrap_or(base.ordering),
        capacity: match &k.capacity {
            Some(c) => Some(c.resolve(&format!("{name}.capacity"), rng, drawn) as u32),
            None => base.capacity,
        },
        overflow: k.overflow.unwrap_or(base.overflow),
    }
}

/// A twin's drawn reach with no instance left reaching nobody, while
/// another reaches two or more: the last peer of the largest part (the
/// first such) moves into each empty one. An instance that reaches no
/// node is a twin that never equivocates (the other acts as the honest
/// node would), so a quarter of the seeds of two instances over three
/// peers tested nothing byzantine. No draw is added: a draw with no
/// empty part is kept as it was.
fn fill_empty(reach: &mut [Vec<NodeId>]) {
    while let Some(empty) = reach.iter().position(Vec::is_empty) {
        let Some((largest, size)) = reach
            .iter()
            .enumerate()
            .map(|(i, r)| (i, r.len()))
            .max_by_key(|&(i, n)| (n, std::cmp::Reverse(i)))
        else {
            return;
        };
        if size < 2 {
            return;
        }
        if let Some(peer) = reach[largest].pop() {
            reach[empty].push(peer);
        }
    }
}
