//! Built-in protocols, each with its invariants and a deliberately broken
//! twin selected by a parameter, and the registry the CLI runs them from.
//!
//! A protocol plugs into the command line as a [`Spec`]: its name, a line
//! of summary, its parameters, and a function that builds the
//! [`Simulation`] (nodes and invariants, each invariant declared once with
//! its doc) from a run's configuration and parameters. Everything else —
//! the documented invariant list, decoding messages and timer tags for
//! people, sending the workload to the protocol's clients, selecting
//! invariants by name — follows from that.
//!
//! ```
//! use dsim::protocols::{ParamDoc, Registry, Spec};
//! use dsim::{Context, Duration, Node, NodeId, Simulation};
//! # #[derive(Debug, serde::Serialize, serde::Deserialize)] struct Ping;
//! # struct Pinger { pings: u32, wait: Duration }
//! # impl Node for Pinger { type Msg = Ping; type Timer = ();
//! #   fn on_start(&mut self, c: &mut Context<'_, Self>) { c.broadcast(&Ping) }
//! #   fn on_message(&mut self, _: &mut Context<'_, Self>, _: NodeId, _: Ping) { self.pings += 1 } }
//!
//! let pinger = Spec::new("pinger", "every node pings every other once", |config, params| {
//!     let wait = params.duration("wait")?;
//!     Ok(Simulation::new(config, move |_| Pinger { pings: 0, wait })
//!         .always("few-pings", "no node hears more pings than there are nodes", |v| {
//!             let n = v.node_count() as u32;
//!             match v.up().find(|(_, p)| p.pings >= n) {
//!                 Some((id, p)) => Err(format!("{id} heard {} pings", p.pings)),
//!                 None => Ok(()),
//!             }
//!         }))
//! })
//! .param(ParamDoc::duration("wait", Duration::from_millis(50), "how long to wait"))
//! .min_nodes(2);
//!
//! let mut registry = Registry::builtin();
//! registry.add(pinger);
//! let p = registry.get("pinger").unwrap();
//! assert_eq!(p.invariants()[0].name, "few-pings");
//! ```

pub mod abd;
pub mod async_abd;
pub mod async_twophase;
pub mod bracha;
pub mod broadcast;
pub mod causal;
pub mod echo;
pub mod kv;
pub mod lease;
pub mod raft;
pub mod twophase;

use crate::names::did_you_mean;
use crate::node::{Node, NodeId};
use crate::scheduler::{Outcome, SimError, Simulation};
use crate::time::Duration;
use crate::SimConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;

/// A parameter's value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum ParamValue {
    Int(i64),
    Bool(bool),
    Str(String),
    Duration(Duration),
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => write!(f, "{s:?}"),
            ParamValue::Duration(d) => write!(f, "\"{d}\""),
        }
    }
}

/// A documented parameter of a protocol.
#[derive(Clone, Debug)]
pub struct ParamDoc {
    pub name: String,
    pub default: ParamValue,
    /// For string parameters: the values allowed (empty: any).
    pub choices: Vec<String>,
    /// Inclusive bounds for integers.
    pub range: Option<(i64, i64)>,
    pub doc: String,
}

impl ParamDoc {
    fn of(name: &str, default: ParamValue, doc: &str) -> ParamDoc {
        ParamDoc {
            name: name.to_string(),
            default,
            choices: Vec::new(),
            range: None,
            doc: doc.to_string(),
        }
    }

    /// An integer parameter within `[lo, hi]`.
    pub fn int(name: &str, default: i64, (lo, hi): (i64, i64), doc: &str) -> ParamDoc {
        ParamDoc {
            range: Some((lo, hi)),
            ..ParamDoc::of(name, ParamValue::Int(default), doc)
        }
    }

    /// A true/false parameter.
    pub fn flag(name: &str, default: bool, doc: &str) -> ParamDoc {
        ParamDoc::of(name, ParamValue::Bool(default), doc)
    }

    /// A span of virtual time, written `"50ms"` in a scenario.
    pub fn duration(name: &str, default: Duration, doc: &str) -> ParamDoc {
        ParamDoc::of(name, ParamValue::Duration(default), doc)
    }

    /// A string parameter; `choices` lists the values allowed (empty: any).
    pub fn text(name: &str, default: &str, choices: &[&str], doc: &str) -> ParamDoc {
        ParamDoc {
            choices: choices.iter().map(|c| c.to_string()).collect(),
            ..ParamDoc::of(name, ParamValue::Str(default.to_string()), doc)
        }
    }

    /// "an integer", "a duration"...: what a value of this parameter is.
    pub fn kind(&self) -> &'static str {
        match self.default {
            ParamValue::Int(_) => "an integer",
            ParamValue::Bool(_) => "true or false",
            ParamValue::Str(_) => "a string",
            ParamValue::Duration(_) => "a duration such as \"50ms\"",
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
            (ParamValue::Duration(_), ParamValue::Duration(_)) => Ok(()),
            (ParamValue::Str(_), ParamValue::Str(s)) => {
                if self.choices.is_empty() || self.choices.contains(s) {
                    Ok(())
                } else {
                    Err(format!(
                        "`{}` must be one of {}, not {s:?}",
                        self.name,
                        quote_list(&self.choices)
                    ))
                }
            }
            _ => Err(format!("`{}` must be {}", self.name, self.kind())),
        }
    }
}

fn quote_list(items: &[String]) -> String {
    items
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A documented invariant of a protocol, as its registration declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvariantDoc {
    pub name: String,
    pub doc: String,
    /// When it is checked, in words.
    pub when: String,
}

/// A parameter read that cannot be answered: there is no such parameter,
/// or it has another type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParamError(String);

impl From<ParamError> for SimError {
    fn from(e: ParamError) -> SimError {
        SimError::Config(e.0)
    }
}

/// A protocol's parameters, by name. Given to a protocol (its `run`,
/// [`Spec::simulation`], [`crate::testing::check_protocol`]), those left
/// out take their defaults — `Params::default()` is every default — and
/// one it does not declare is refused.
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
                .get(&d.name)
                .cloned()
                .unwrap_or_else(|| d.default.clone());
            d.check(&v)?;
            out.insert(d.name.clone(), v);
        }
        if let Some(unknown) = given.keys().find(|k| !docs.iter().any(|d| &d.name == *k)) {
            let hint = did_you_mean(unknown, docs.iter().map(|d| d.name.as_str()), '`');
            return Err(format!("unknown parameter `{unknown}`{hint}"));
        }
        Ok(Params(out))
    }

    /// Every parameter at its default.
    pub fn defaults(docs: &[ParamDoc]) -> Params {
        Params(
            docs.iter()
                .map(|d| (d.name.clone(), d.default.clone()))
                .collect(),
        )
    }

    fn get(&self, name: &str, kind: &str) -> Result<&ParamValue, ParamError> {
        self.0.get(name).ok_or_else(|| {
            let hint = did_you_mean(name, self.0.keys().map(String::as_str), '`');
            let known: Vec<&str> = self.0.keys().map(String::as_str).collect();
            ParamError(format!(
                "the protocol read {kind} parameter `{name}`, which it does not declare{hint} (declared: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            ))
        })
    }

    fn mismatch(name: &str, value: &ParamValue, kind: &str) -> ParamError {
        ParamError(format!(
            "parameter `{name}` is {value}, which the protocol read as {kind}"
        ))
    }

    pub fn int(&self, name: &str) -> Result<i64, ParamError> {
        match self.get(name, "an integer")? {
            ParamValue::Int(i) => Ok(*i),
            v => Err(Params::mismatch(name, v, "an integer")),
        }
    }

    pub fn flag(&self, name: &str) -> Result<bool, ParamError> {
        match self.get(name, "a true/false")? {
            ParamValue::Bool(b) => Ok(*b),
            v => Err(Params::mismatch(name, v, "true or false")),
        }
    }

    pub fn text(&self, name: &str) -> Result<&str, ParamError> {
        match self.get(name, "a string")? {
            ParamValue::Str(s) => Ok(s),
            v => Err(Params::mismatch(name, v, "a string")),
        }
    }

    pub fn duration(&self, name: &str) -> Result<Duration, ParamError> {
        match self.get(name, "a duration")? {
            ParamValue::Duration(d) => Ok(*d),
            v => Err(Params::mismatch(name, v, "a duration")),
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
    /// Invariants to check; `None` checks all of the protocol's. A name
    /// that matches none is an error.
    pub invariants: Option<Vec<String>>,
    /// Take message fates from this recorded schedule (schedule replay).
    pub schedule: Option<std::sync::Arc<crate::network::Schedule>>,
    /// Told how far a long run has got.
    pub progress: Option<crate::scheduler::ProgressFn>,
    /// Set it to end the run where it has got to ([`Simulation::stop_on`]).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Check the clients' history for linearizability at the end of the
    /// run, as the invariant `linearizable`.
    pub linearizable: Option<crate::history::Linearizability>,
    /// Check that every client operation invoked is answered within this
    /// long once the world is calm, as the invariant `answered`
    /// ([`answered`]).
    pub answered: Option<Duration>,
    /// Keep the run's digest ([`Outcome::digest`]).
    pub digest: bool,
    /// Stop judging at the run's first failure
    /// ([`Simulation::first_failure_only`]).
    pub first_failure_only: bool,
}

/// A protocol the command line can run by name. [`Spec`] implements it
/// from a build function; implementing it by hand is possible too.
pub trait Protocol: Send + Sync {
    fn name(&self) -> &str;
    /// One line: what the protocol does.
    fn summary(&self) -> &str;
    fn params(&self) -> Vec<ParamDoc>;
    /// The invariants a run checks, as registered.
    fn invariants(&self) -> Vec<InvariantDoc>;
    /// The smallest node count the protocol runs with.
    fn min_nodes(&self) -> u32 {
        1
    }
    /// The nodes a workload goes to when a scenario names no targets.
    fn clients(&self, nodes: u32, params: &Params) -> Vec<NodeId> {
        let _ = params;
        (0..nodes).map(NodeId).collect()
    }
    /// The roles its nodes may play ([`crate::Node::role`]), for faults
    /// aimed at one (`isolate = "leader"`, `crash = "leader"`): a scenario naming another is
    /// refused. Empty (the default): not declared, any role is taken, and
    /// a run says when a fault found no node playing it.
    fn roles(&self) -> Vec<String> {
        Vec::new()
    }
    /// Its own sequential models (see [`Spec::model`]); a run's
    /// linearizability check looks there before the built-ins.
    fn models(&self) -> Vec<crate::check::linearizable::NamedModel> {
        Vec::new()
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
    /// Renders a timer's tag as the node's timer value, for people.
    fn decode_timer(&self, tag: &[u8]) -> Option<String> {
        let _ = tag;
        None
    }
    /// Explores every order of events to a bound (see [`crate::explore`]);
    /// `config`'s strategy must be `Explore`.
    fn explore(
        &self,
        config: SimConfig,
        params: &Params,
        options: RunOptions<'_>,
        search: &crate::explore::Options,
    ) -> Result<crate::explore::Report, SimError> {
        let _ = (config, params, options, search);
        Err(SimError::Config(format!(
            "protocol `{}` cannot be explored",
            self.name()
        )))
    }
}

/// Runs `sim` as `options` say; the helper every protocol's `run` ends with.
pub fn execute<N: Node>(sim: Simulation<N>, options: RunOptions<'_>) -> Result<Outcome, SimError> {
    execute_with(sim, options, &[])
}

/// [`execute`], a linearizability check's model looked up among `models`
/// (a protocol's own) before the built-ins.
pub fn execute_with<N: Node>(
    sim: Simulation<N>,
    mut options: RunOptions<'_>,
    models: &[crate::check::linearizable::NamedModel],
) -> Result<Outcome, SimError> {
    let trace = options.trace.take();
    let key = options.key;
    let digest = options.digest;
    let sim = prepare_with(sim, options, models)?;
    match (trace, digest) {
        (Some(out), false) => sim.run_traced(out, key).map(|(o, _)| o),
        (Some(out), true) => sim.run_traced_digest(out, key).map(|(o, _)| o),
        (None, false) => sim.run(),
        (None, true) => sim.run_digest(),
    }
}

/// `sim` with the checks, schedule and progress `options` ask for.
pub fn prepare<N: Node>(
    sim: Simulation<N>,
    options: RunOptions<'_>,
) -> Result<Simulation<N>, SimError> {
    prepare_with(sim, options, &[])
}

/// [`prepare`], a linearizability check's model looked up among `models`
/// (a protocol's own) before the built-ins.
pub fn prepare_with<N: Node>(
    mut sim: Simulation<N>,
    options: RunOptions<'_>,
    models: &[crate::check::linearizable::NamedModel],
) -> Result<Simulation<N>, SimError> {
    if let Some(check) = options.linearizable {
        sim = sim.invariant(linearizable_with(check, models)?);
    }
    if let Some(within) = options.answered {
        sim = sim.answered(within);
    }
    if let Some(keep) = &options.invariants {
        sim.select_invariants(keep)?;
    }
    if let Some(schedule) = options.schedule {
        sim.follow(schedule);
    }
    if let Some(stop) = options.stop {
        sim.stop_on(stop);
    }
    if options.first_failure_only {
        sim.first_failure_only();
    }
    if let Some(report) = options.progress {
        sim.on_progress(report);
    }
    Ok(sim)
}

/// The invariant `linearizable`: the clients' history, checked at the end
/// of the run against a built-in model. A verdict the search's budget
/// cannot reach is reported as not run, with why.
pub fn linearizable<N: Node>(
    check: crate::history::Linearizability,
) -> Result<crate::invariant::Invariant<N>, SimError> {
    linearizable_with(check, &[])
}

/// [`linearizable`], the model looked up among `models` (a protocol's
/// own) before the built-ins.
pub fn linearizable_with<N: Node>(
    check: crate::history::Linearizability,
    models: &[crate::check::linearizable::NamedModel],
) -> Result<crate::invariant::Invariant<N>, SimError> {
    let model = crate::check::linearizable::find(&check.model, models).map_err(SimError::Config)?;
    Ok(history_check(model, check.initial))
}

/// The invariant `answered`: liveness of the clients' operations. `within`
/// after the world is calm (the last partition or cut wire ended, the
/// last crash or restart happened, the last client operation arrived and
/// began, nodes then down left down:
/// [`crate::Invariant::eventually_despite_crashes`]), every operation a
/// node invoked has its answer: `ok`, `fail`, or `info` (the kernel
/// records `info` for an operation its node's crash cut off). A system
/// that tolerates a node down answers without it. A protocol that stalls
/// or livelocks answers nothing, and a history of nothing answered is
/// linearizable: this is the check that notices.
pub fn answered<N: Node>(within: Duration) -> crate::invariant::Invariant<N> {
    use crate::history::Phase;
    crate::invariant::Invariant::eventually(
        "answered",
        format!(
            "every client operation invoked is answered (ok, fail or info) within {within} of calm"
        ),
        within,
        |view| {
            let history = view
                .history()
                .ok_or("the run keeps no clients' history (Simulation::history_in_view)")?;
            // Each process's operation still open: its invocation's entry.
            let mut open = BTreeMap::new();
            for entry in history {
                match entry.2.phase {
                    Phase::Invoke => open.insert(entry.2.process, entry),
                    _ => open.remove(&entry.2.process),
                };
            }
            if open.is_empty() {
                return Ok(());
            }
            let mut open: Vec<_> = open.into_values().collect();
            open.sort_by_key(|e| e.0);
            const SHOWN: usize = 4;
            let named: Vec<String> = open
                .iter()
                .take(SHOWN)
                .map(|(at, node, op)| {
                    let key = op.key.as_ref().map(|k| format!(" {k}")).unwrap_or_default();
                    let value = match &op.value {
                        crate::history::Value::Nil => String::new(),
                        v => format!(" {v}"),
                    };
                    format!(
                        "p{} {}{key}{value} (invoked on {node} at #{at})",
                        op.process, op.f
                    )
                })
                .collect();
            Err(format!(
                "{} never answered: {}{}",
                match open.len() {
                    1 => "1 operation".to_string(),
                    n => format!("{n} operations"),
                },
                named.join("; "),
                if open.len() > SHOWN { "; ..." } else { "" }
            ))
        },
    )
    .despite_crashes()
    .over_operations()
}

/// The invariant `linearizable` over `model` built from `initial`.
pub(crate) fn history_check<N: Node>(
    model: crate::check::linearizable::NamedModel,
    initial: crate::history::Value,
) -> crate::invariant::Invariant<N> {
    use crate::check::linearizable::{
        describe_from, effect_hint, Budget, History, Verdict, FAILED_EFFECT_BUDGET,
    };
    use crate::invariant::HistoryVerdict;
    let doc = if model.name().is_empty() {
        "the clients' history is linearizable".to_string()
    } else {
        format!(
            "the clients' history is linearizable as a {} (initially {initial})",
            model.name()
        )
    };
    crate::invariant::Invariant::history("linearizable", doc, move |entries| {
        let events = entries.iter().map(|(at, _, op)| (*at, op.clone()));
        let history = match History::from_events(events) {
            Ok(h) => h,
            Err(e) => {
                return HistoryVerdict::FailedAt(
                    e.at,
                    format!(
                        "the history does not hold together at record {}: {}",
                        e.at, e.message
                    ),
                )
            }
        };
        if let Some(words) = LAST_VIOLATION.with(|last| {
            let last = last.borrow();
            let (name, doc, init, h, at, words) = last.as_ref()?;
            (name == model.name() && doc == model.doc() && *init == initial && *h == history)
                .then(|| (*at, words.clone()))
        }) {
            return HistoryVerdict::FailedAt(words.0, words.1);
        }
        let verdict = model.check(initial.clone(), &history, &Budget::default());
        match &verdict {
            Verdict::Linearizable => HistoryVerdict::Held,
            Verdict::NotLinearizable(violation) => {
                let at = violation.at;
                let mut words = describe_from(&history, &verdict, &initial);
                // A failed operation that took effect, where no value
                // only it wrote shows it, or one that took effect twice.
                if !words.contains("completed as `fail`") {
                    let hint = effect_hint(&history, violation, |h| {
                        model.check(initial.clone(), h, &FAILED_EFFECT_BUDGET)
                    });
                    if let Some(hint) = hint {
                        words = format!("{words}; {hint}");
                    }
                }
                LAST_VIOLATION.with(|last| {
                    *last.borrow_mut() = Some((
                        model.name().to_string(),
                        model.doc().to_string(),
                        initial.clone(),
                        history,
                        at,
                        words.clone(),
                    ))
                });
                HistoryVerdict::FailedAt(at, words)
            }
            Verdict::Unknown(why) => HistoryVerdict::Unknown(why.clone()),
        }
    })
}

thread_local! {
    /// This thread's last history found not linearizable, with its model
    /// (name, doc, initial value) and the words that explain it. A failing
    /// seed runs again (a sweep's traced rerun, `--check-determinism`'s
    /// second run), with the same history by determinism: its explanation,
    /// whose witness search can take seconds, is not searched twice. Only
    /// a history equal in every operation is answered from here.
    #[allow(clippy::type_complexity)]
    static LAST_VIOLATION: std::cell::RefCell<
        Option<(
            String,
            String,
            crate::history::Value,
            crate::check::linearizable::History,
            u64,
            String,
        )>,
    > = const { std::cell::RefCell::new(None) };
}

/// Decodes a payload as `M` and prints it with `Debug`.
pub fn decode_as<M: crate::node::Message>(payload: &[u8]) -> Option<String> {
    postcard::from_bytes::<M>(payload)
        .ok()
        .map(|m| format!("{m:?}"))
}

type Build<N> = Box<dyn Fn(SimConfig, &Params) -> Result<Simulation<N>, SimError> + Send + Sync>;
type Clients = Box<dyn Fn(u32, &Params) -> Vec<NodeId> + Send + Sync>;

/// A protocol defined by what is particular to it: a name, a summary, its
/// parameters, and the function that builds a [`Simulation`] — nodes and
/// invariants — from a run's configuration and parameters.
pub struct Spec<N: Node> {
    name: String,
    summary: String,
    params: Vec<ParamDoc>,
    min_nodes: u32,
    clients: Option<Clients>,
    models: Vec<crate::check::linearizable::NamedModel>,
    roles: Vec<String>,
    build: Build<N>,
}

impl<N: Node> Spec<N> {
    /// A protocol called `name`, built by `build`.
    pub fn new(
        name: &str,
        summary: &str,
        build: impl Fn(SimConfig, &Params) -> Result<Simulation<N>, SimError> + Send + Sync + 'static,
    ) -> Spec<N> {
        Spec {
            name: name.to_string(),
            summary: summary.to_string(),
            params: Vec::new(),
            min_nodes: 1,
            clients: None,
            models: Vec::new(),
            roles: Vec::new(),
            build: Box::new(build),
        }
    }

    /// Declares a parameter (read in `build` with `params.int(name)` and
    /// the like; a scenario sets it under `[params]`).
    pub fn param(mut self, doc: ParamDoc) -> Spec<N> {
        self.params.push(doc);
        self
    }

    /// Declares several parameters (protocols that share theirs).
    pub fn with_params(mut self, docs: impl IntoIterator<Item = ParamDoc>) -> Spec<N> {
        self.params.extend(docs);
        self
    }

    /// The smallest node count the protocol runs with (default 1).
    pub fn min_nodes(mut self, nodes: u32) -> Spec<N> {
        self.min_nodes = nodes;
        self
    }

    /// Declares the roles its nodes may play ([`crate::Node::role`]): a
    /// scenario that aims a fault at another (`isolate = "leadr"`) is
    /// refused rather than run a sweep in which it never happens.
    pub fn roles(mut self, roles: &[&str]) -> Spec<N> {
        self.roles = roles.iter().map(|r| r.to_string()).collect();
        self
    }

    /// Which nodes are clients, given the node count and the parameters:
    /// where a scenario's workload goes when it names no targets (default:
    /// every node).
    pub fn clients(
        mut self,
        clients: impl Fn(u32, &Params) -> Vec<NodeId> + Send + Sync + 'static,
    ) -> Spec<N> {
        self.clients = Some(Box::new(clients));
        self
    }

    /// Declares a sequential model of what the protocol's clients see, by
    /// name: a scenario's `[check] linearizable = "NAME"`, `dsim check
    /// TRACE --linearizable NAME` and `dsim check --import jepsen --model
    /// NAME` then take it as they take a built-in model (one of the same
    /// name is replaced).
    pub fn model(mut self, model: crate::check::linearizable::NamedModel) -> Spec<N> {
        self.models.retain(|m| m.name() != model.name());
        self.models.push(model);
        self
    }

    /// `given` with every parameter it leaves out at its default; an
    /// error names a parameter the protocol does not declare or a value
    /// of the wrong kind.
    pub fn resolve(&self, given: &Params) -> Result<Params, SimError> {
        Params::resolve(&self.params, &given.0).map_err(|e| {
            SimError::Config(format!("the parameters of protocol `{}`: {e}", self.name))
        })
    }

    /// The simulation for one run, typed: for a user's own tests.
    pub fn simulation(
        &self,
        mut config: SimConfig,
        params: &Params,
    ) -> Result<Simulation<N>, SimError> {
        if config.nodes < self.min_nodes {
            return Err(SimError::Config(format!(
                "protocol `{}` needs at least {} nodes, not {}",
                self.name, self.min_nodes, config.nodes
            )));
        }
        // Parameters not given take their defaults (`Params::default()`
        // is "every default"); one the protocol does not declare, or of
        // the wrong kind, is refused here rather than read as missing.
        let params = &self.resolve(params)?;
        if let Some(w) = config.workload.as_mut().filter(|w| w.targets.is_empty()) {
            w.targets = Protocol::clients(self, config.nodes, params);
        }
        config.protocol = self.name.clone();
        (self.build)(config, params)
    }
}

impl<N: Node> Protocol for Spec<N> {
    fn name(&self) -> &str {
        &self.name
    }
    fn summary(&self) -> &str {
        &self.summary
    }
    fn params(&self) -> Vec<ParamDoc> {
        self.params.clone()
    }
    /// Read from the invariants a simulation with the default parameters
    /// registers: the one place they are declared.
    fn invariants(&self) -> Vec<InvariantDoc> {
        // The smallest cluster the defaults build (a protocol's default
        // parameters may need more than its bare minimum of nodes).
        let first = self.min_nodes.max(1);
        let built = (first..first + 16)
            .find_map(|n| (self.build)(SimConfig::new(0, n), &Params::defaults(&self.params)).ok());
        match built {
            Some(sim) => sim
                .invariants()
                .map(|i| InvariantDoc {
                    name: i.name.clone(),
                    doc: i.doc.clone(),
                    when: i.when.describe(),
                })
                .collect(),
            None => Vec::new(),
        }
    }
    fn min_nodes(&self) -> u32 {
        self.min_nodes
    }
    fn roles(&self) -> Vec<String> {
        self.roles.clone()
    }
    fn clients(&self, nodes: u32, params: &Params) -> Vec<NodeId> {
        match &self.clients {
            Some(f) => f(nodes, params),
            None => (0..nodes).map(NodeId).collect(),
        }
    }
    fn run(
        &self,
        config: SimConfig,
        params: &Params,
        options: RunOptions<'_>,
    ) -> Result<Outcome, SimError> {
        execute_with(self.simulation(config, params)?, options, &self.models)
    }
    fn models(&self) -> Vec<crate::check::linearizable::NamedModel> {
        self.models.clone()
    }
    fn decode(&self, payload: &[u8]) -> Option<String> {
        decode_as::<N::Msg>(payload)
    }
    fn decode_timer(&self, tag: &[u8]) -> Option<String> {
        postcard::from_bytes::<N::Timer>(tag)
            .ok()
            .map(|t| format!("{t:?}"))
    }
    fn explore(
        &self,
        config: SimConfig,
        params: &Params,
        options: RunOptions<'_>,
        search: &crate::explore::Options,
    ) -> Result<crate::explore::Report, SimError> {
        let sim = prepare_with(self.simulation(config, params)?, options, &self.models)?;
        crate::explore::search(&sim, search)
    }
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
        r.add(echo::protocol());
        r.add(broadcast::protocol());
        r.add(bracha::protocol());
        r.add(causal::protocol());
        r.add(twophase::protocol());
        r.add(raft::protocol());
        r.add(kv::protocol());
        r.add(abd::protocol());
        r.add(lease::protocol());
        r.add(async_abd::protocol());
        r.add(async_twophase::protocol());
        r
    }

    /// Adds a protocol; a later one with the same name replaces the earlier.
    pub fn register(&mut self, protocol: Box<dyn Protocol>) {
        self.protocols.retain(|p| p.name() != protocol.name());
        self.protocols.push(protocol);
        self.protocols.sort_by(|a, b| a.name().cmp(b.name()));
    }

    /// Adds a protocol (a [`Spec`], say).
    pub fn add(&mut self, protocol: impl Protocol + 'static) {
        self.register(Box::new(protocol));
    }

    pub fn get(&self, name: &str) -> Option<&dyn Protocol> {
        self.protocols
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p.as_ref())
    }

    pub fn names(&self) -> Vec<&str> {
        self.protocols.iter().map(|p| p.name()).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Protocol> {
        self.protocols.iter().map(|p| p.as_ref())
    }

    /// Every protocol's own models (see [`Spec::model`]), each name once
    /// (the first protocol's, by name order, when two declare one).
    pub fn models(&self) -> Vec<crate::check::linearizable::NamedModel> {
        let mut out: Vec<crate::check::linearizable::NamedModel> = Vec::new();
        for m in self.protocols.iter().flat_map(|p| p.models()) {
            if !out.iter().any(|o| o.name() == m.name()) {
                out.push(m);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::history::{Op, Phase, Value};
    use crate::invariant::HistoryVerdict;
    use crate::node::NodeId;

    fn op(process: u64, phase: Phase, f: &str, value: i64) -> crate::history::Op {
        Op {
            process,
            phase,
            f: f.into(),
            key: None,
            value: Value::Int(value),
        }
    }

    #[test]
    fn a_violation_is_answered_again_only_for_the_same_history_and_model() {
        // A read of 3 that no write explains, and after it one of 4.
        let read = |seen: i64| -> Vec<crate::invariant::HistoryEntry> {
            vec![
                (0, NodeId(0), op(0, Phase::Invoke, "read", 0)),
                (1, NodeId(0), op(0, Phase::Ok, "read", seen)),
            ]
        };
        let register = |initial: i64| {
            let model = crate::check::linearizable::find("register", &[]).unwrap();
            super::history_check::<super::echo::EchoNode>(model, Value::Int(initial))
        };
        let words =
            |check: &crate::invariant::Invariant<super::echo::EchoNode>,
             h: &[crate::invariant::HistoryEntry]| match check.check_history(h) {
                HistoryVerdict::FailedAt(_, w) => w,
                v => panic!("{v:?}"),
            };
        let from_0 = words(&register(0), &read(3));
        assert!(from_0.contains("`initial` is 0 here"), "{from_0}");
        // The same history from another initial value, then another
        // history: each explained afresh, not by the last answer.
        let from_1 = words(&register(1), &read(3));
        assert!(from_1.contains("`initial` is 1 here"), "{from_1}");
        let four = words(&register(1), &read(4));
        assert!(four.contains("-> 4 (#0..#1)"), "{four}");
        // The same again: the same words.
        assert_eq!(words(&register(1), &read(4)), four);
    }
}
