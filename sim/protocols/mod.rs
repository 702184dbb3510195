//! Built-in protocols, each with its invariants and a deliberately broken
//! twin selected by a parameter, and the registry the CLI runs them from.
//!
//! A protocol plugs into the command line by implementing [`Protocol`]:
//! name, documented parameters, documented invariants, and a `run` that
//! builds a [`Simulation`] from a configuration and parameters. A user crate
//! registers its own protocols in a [`Registry`] and hands it to
//! [`crate::cli::main_with`].

pub mod broadcast;
pub mod causal;
pub mod echo;
pub mod raft;
pub mod twophase;

use crate::scheduler::{Outcome, SimError, Simulation};
use crate::{Node, SimConfig};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

/// A parameter's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ParamValue {
    Int(i64),
    Bool(bool),
    Str(String),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// A documented parameter of a protocol.
#[derive(Clone, Debug)]
pub struct ParamDoc {
    pub name: &'static str,
    pub default: ParamValue,
    /// For string parameters: the values allowed (empty: any).
    pub choices: &'static [&'static str],
    /// Inclusive bounds for integers.
    pub range: Option<(i64, i64)>,
    pub doc: &'static str,
}

impl ParamDoc {
    /// An integer parameter within `[lo, hi]`.
    pub fn int(
        name: &'static str,
        default: i64,
        (lo, hi): (i64, i64),
        doc: &'static str,
    ) -> ParamDoc {
        ParamDoc {
            name,
            default: ParamValue::Int(default),
            choices: &[],
            range: Some((lo, hi)),
            doc,
        }
    }

    /// A true/false parameter.
    pub fn flag(name: &'static str, default: bool, doc: &'static str) -> ParamDoc {
        ParamDoc {
            name,
            default: ParamValue::Bool(default),
            choices: &[],
            range: None,
            doc,
        }
    }

    /// Checks `value` fits this parameter.
    pub fn check(&self, value: &ParamValue) -> Result<(), String> {
        match (&self.default, value) {
            (ParamValue::Int(_), ParamValue::Int(i)) => match self.range {
                Some((lo, hi)) if *i < lo || *i > hi => Err(format!(
                    "`{}` must be between {lo} and {hi}, not {i}",
                    self.name
                )),
                _ => Ok(()),
            },
            (ParamValue::Bool(_), ParamValue::Bool(_)) => Ok(()),
            (ParamValue::Str(_), ParamValue::Str(s)) => {
                if self.choices.is_empty() || self.choices.contains(&s.as_str()) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` must be one of {}, not {s:?}",
                        self.name,
                        quote_list(self.choices)
                    ))
                }
            }
            (expected, _) => Err(format!(
                "`{}` must be {}",
                self.name,
                match expected {
                    ParamValue::Int(_) => "an integer",
                    ParamValue::Bool(_) => "true or false",
                    ParamValue::Str(_) => "a string",
                }
            )),
        }
    }
}

fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A documented invariant of a protocol.
#[derive(Clone, Debug)]
pub struct InvariantDoc {
    pub name: &'static str,
    pub doc: &'static str,
}

/// A protocol's parameters, every one present (defaults filled in).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params(pub BTreeMap<String, ParamValue>);

impl Params {
    /// The defaults of `docs`, overridden by `given`; each given value is
    /// checked against its doc.
    pub fn resolve(
        docs: &[ParamDoc],
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<Params, String> {
        let mut out = BTreeMap::new();
        for d in docs {
            let v = given
                .get(d.name)
                .cloned()
                .unwrap_or_else(|| d.default.clone());
            d.check(&v)?;
            out.insert(d.name.to_string(), v);
        }
        if let Some(unknown) = given
            .keys()
            .find(|k| !docs.iter().any(|d| d.name == k.as_str()))
        {
            return Err(format!("unknown parameter `{unknown}`"));
        }
        Ok(Params(out))
    }

    pub fn int(&self, name: &str) -> i64 {
        match self.0.get(name) {
            Some(ParamValue::Int(i)) => *i,
            _ => 0,
        }
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(ParamValue::Bool(true)))
    }

    pub fn text(&self, name: &str) -> &str {
        match self.0.get(name) {
            Some(ParamValue::Str(s)) => s,
            _ => "",
        }
    }
}

/// How to carry out one run.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Where the trace goes, if anywhere.
    pub trace: Option<&'a mut dyn Write>,
    /// A key that turns the trace's hash chain into a MAC.
    pub key: Option<&'a [u8]>,
    /// Invariants to check; `None` checks all of the protocol's.
    pub invariants: Option<Vec<String>>,
    /// Take message fates from this recorded schedule (schedule replay).
    pub schedule: Option<std::sync::Arc<crate::network::Schedule>>,
}

/// A protocol the command line can run by name.
pub trait Protocol: Send + Sync {
    fn name(&self) -> &'static str;
    /// One line: what the protocol does.
    fn summary(&self) -> &'static str;
    fn params(&self) -> Vec<ParamDoc>;
    fn invariants(&self) -> Vec<InvariantDoc>;
    /// The smallest node count the protocol runs with.
    fn min_nodes(&self) -> u32 {
        1
    }
    /// Runs once.
    fn run(
        &self,
        config: SimConfig,
        params: &Params,
        options: RunOptions<'_>,
    ) -> Result<Outcome, SimError>;
    /// Renders a payload as the protocol's message, for people.
    fn decode(&self, payload: &[u8]) -> Option<String>;
}

/// Runs `sim` as `options` say; the helper every protocol's `run` ends with.
pub fn execute<N: Node>(
    mut sim: Simulation<N>,
    options: RunOptions<'_>,
) -> Result<Outcome, SimError> {
    if let Some(keep) = &options.invariants {
        sim.retain_invariants(|name| keep.iter().any(|k| k == name));
    }
    if let Some(schedule) = options.schedule {
        sim.follow(schedule);
    }
    match options.trace {
        Some(out) => sim.run_traced(out, options.key).map(|(o, _)| o),
        None => sim.run(),
    }
}

/// Decodes a payload as `M` and prints it with `Debug`.
pub fn decode_as<M: crate::node::Message>(payload: &[u8]) -> Option<String> {
    postcard::from_bytes::<M>(payload)
        .ok()
        .map(|m| format!("{m:?}"))
}

/// The protocols a command line knows, by name.
pub struct Registry {
    protocols: Vec<Box<dyn Protocol>>,
}

impl Registry {
    /// An empty registry, for a user crate that ships only its own.
    pub fn empty() -> Registry {
        Registry {
            protocols: Vec::new(),
        }
    }

    /// Every protocol dsim ships.
    pub fn builtin() -> Registry {
        let mut r = Registry::empty();
        r.register(Box::new(echo::Echo));
        r.register(Box::new(broadcast::Broadcast));
        r.register(Box::new(causal::Causal));
        r.register(Box::new(twophase::TwoPhase));
        r.register(Box::new(raft::RaftProtocol));
        r
    }

    /// Adds a protocol; a later one with the same name replaces the earlier.
    pub fn register(&mut self, protocol: Box<dyn Protocol>) {
        self.protocols.retain(|p| p.name() != protocol.name());
        self.protocols.push(protocol);
        self.protocols.sort_by_key(|p| p.name());
    }

    pub fn get(&self, name: &str) -> Option<&dyn Protocol> {
        self.protocols
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p.as_ref())
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.protocols.iter().map(|p| p.name()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Protocol> {
        self.protocols.iter().map(|p| p.as_ref())
    }
}
