//! From raw TOML to a checked [`Scenario`]: every value converted once,
//! every error located by line and column.

use super::error::{did_you_mean, Locator, ScenarioError};
use super::knob::{self, Knob, LatencyKnob, Offset};
use super::raw::{self, RawFault, RawLink, RawNetwork, RawScenario};
use super::{FaultKnob, LinkKnobs, ParamKnob, Scenario, SkewKnobs, TopologyKnob, WorkloadKnobs};
use crate::config::{FaultAction, Limits, Progress};
use crate::network::{validate_partition, MessageFault, Ordering, Overflow, PartitionSpec};
use crate::node::NodeId;
use crate::protocols::{ParamValue, Protocol, Registry};
use crate::rng::Ppm;
use crate::time::Duration;
use std::collections::BTreeMap;
use std::ops::Range;
use toml::{Spanned, Value};

/// Checks a node id against the node count, locating the error.
type NodeCheck<'a> = &'a dyn Fn(u32, Range<usize>, &str) -> Result<NodeId, ScenarioError>;

pub(super) struct Checker<'a> {
    pub loc: Locator<'a>,
    pub registry: &'a Registry,
}

impl Checker<'_> {
    pub fn scenario(&self, raw: RawScenario, source: &str) -> Result<Scenario, ScenarioError> {
        let loc = &self.loc;
        let protocol = self.protocol(&raw.protocol)?;
        let nodes = knob::count(
            loc,
            &raw.nodes,
            "nodes",
            u64::from(protocol.min_nodes()),
            100_000,
        )?;
        let n = nodes.low() as u32;
        if raw
            .run
            .as_ref()
            .and_then(|r| r.vector_clocks)
            .unwrap_or(true)
        {
            crate::config::vector_clock_cost(nodes.high() as u32).map_err(|e| {
                loc.at(
                    raw.nodes.span(),
                    format!(
                        "nodes = {}: {e} (vector clocks are on by default)",
                        nodes.high()
                    ),
                )
            })?;
        }
        let node = |id: u32, span: Range<usize>, what: &str| -> Result<NodeId, ScenarioError> {
            if id < n {
                Ok(NodeId(id))
            } else {
                Err(loc.at(
                    span,
                    match nodes {
                        Knob::Fixed(_) => format!(
                            "{what} names node {id}, but nodes are numbered 0..{} (nodes = {n})",
                            n - 1
                        ),
                        Knob::Range(..) => format!(
                            "{what} names node {id}, but a seed may draw {n} nodes, \
                             numbered 0..{} (nodes = [{n}, {}])",
                            n - 1,
                            nodes.high()
                        ),
                    },
                ))
            }
        };
        let seed = match &raw.seed {
            Some(s) if *s.get_ref() < 0 => {
                return Err(loc.at(s.span(), "seed must not be negative"))
            }
            Some(s) => *s.get_ref() as u64,
            None => 1,
        };
        let params = self.params(protocol, raw.params.as_ref())?;
        let (network, links) = match &raw.network {
            None => (LinkKnobs::default(), Vec::new()),
            Some(net) => {
                let default = self.link_fields(
                    "network",
                    [
                        &net.latency,
                        &net.loss,
                        &net.duplicate,
                        &net.corrupt,
                        &net.capacity,
                    ],
                    &net.ordering,
                    &net.overflow,
                )?;
                let mut links = Vec::new();
                for l in net.link.iter().flatten() {
                    let RawLink {
                        from,
                        to,
                        both_ways,
                        ..
                    } = l.get_ref();
                    let a = node(*from.get_ref(), from.span(), "a link")?;
                    let b = node(*to.get_ref(), to.span(), "a link")?;
                    if a == b {
                        return Err(loc.at(l.span(), "a link needs two different nodes"));
                    }
                    let r = l.get_ref();
                    let k = self.link_fields(
                        "link",
                        [&r.latency, &r.loss, &r.duplicate, &r.corrupt, &r.capacity],
                        &r.ordering,
                        &r.overflow,
                    )?;
                    links.push((a, b, k.clone()));
                    if both_ways.unwrap_or(false) {
                        links.push((b, a, k));
                    }
                }
                (default, links)
            }
        };
        let mut planned = Vec::new();
        if let Some(net) = &raw.network {
            let lists = [
                (&net.lose_messages, MessageFault::Lose),
                (&net.duplicate_messages, MessageFault::Duplicate),
            ];
            for (list, fault) in lists {
                for &m in list.iter().flat_map(|l| l.get_ref()) {
                    if planned.iter().any(|&(p, _)| p == m) {
                        let span = list.as_ref().map(|l| l.span()).unwrap_or(0..0);
                        return Err(loc.at(
                            span,
                            format!("message {m} is named twice among lose_messages and duplicate_messages"),
                        ));
                    }
                    planned.push((m, fault));
                }
            }
            planned.sort_unstable();
        }
        let topology = match &raw.topology {
            None => None,
            Some(t) => Some(self.topology(t, &nodes, &node)?),
        };
        if let Some(topology) = &topology {
            Self::links_on_wires(loc, raw.network.as_ref(), topology, &nodes)?;
        }
        let faults = raw
            .fault
            .iter()
            .flatten()
            .map(|f| self.fault(f, &nodes, &node, topology.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.fault_order(&raw, &faults, n)?;
        // A role the protocol says its nodes never play would be aimed at
        // no one in every seed.
        let roles = protocol.roles();
        let aimed = raw.fault.iter().flatten().filter_map(|f| {
            let f = f.get_ref();
            let crash = f.crash.as_ref().and_then(|c| match c.get_ref() {
                Value::String(role) => Some((role, c.span())),
                _ => None,
            });
            let pause = f.pause.as_ref().and_then(|c| match c.get_ref() {
                Value::String(role) => Some((role, c.span())),
                _ => None,
            });
            let isolate = f.isolate.as_ref().map(|i| (i.get_ref(), i.span()));
            isolate.or(crash).or(pause)
        });
        for (role, span) in aimed {
            if !roles.is_empty() && !roles.contains(role) {
                return Err(loc.at(
                    span,
                    format!(
                        "protocol `{}`'s nodes play no role {role:?}: they play {}{}",
                        protocol.name(),
                        roles.join(", "),
                        did_you_mean(role, roles.iter().map(String::as_str), '"')
                    ),
                ));
            }
        }
        let workload = match &raw.workload {
            None => None,
            Some(w) => {
                let r = w.get_ref();
                let mut targets = Vec::new();
                if let Some(t) = &r.targets {
                    for id in t.get_ref() {
                        targets.push(node(*id, t.span(), "a workload target")?);
                    }
                }
                Some(WorkloadKnobs {
                    count: knob::count(loc, &r.count, "workload.count", 0, 100_000_000)?,
                    start: r
                        .start
                        .as_ref()
                        .map_or(Ok(Knob::Fixed(Duration::ZERO)), |v| {
                            knob::duration(loc, v, "workload.start")
                        })?,
                    interval: match &r.interval {
                        Some(v) => knob::latency(loc, v, "workload.interval")?,
                        None => LatencyKnob::Constant(Knob::Fixed(Duration::from_millis(10))),
                    },
                    targets,
                    values: r.values.as_ref().map_or(Ok(Knob::Fixed(1000)), |v| {
                        knob::count(loc, v, "workload.values", 1, u64::MAX >> 1)
                    })?,
                })
            }
        };
        let defaults = Limits::default();
        let run = raw.run.as_ref();
        let time = match run.and_then(|r| r.time.as_ref()) {
            Some(v) => knob::duration(loc, v, "run.time")?,
            None => Knob::Fixed(defaults.time),
        };
        if time.low() == Duration::ZERO {
            let span = run
                .and_then(|r| r.time.as_ref())
                .map(|v| v.span())
                .unwrap_or(0..0);
            return Err(loc.at(span, "run.time must be more than zero"));
        }
        // A fault or a workload that can only come after the time limit
        // would never happen, and the run would pass without it.
        let limit = time.high();
        let late = |at: Duration, what: &str| {
            format!(
                "{what} at {at}, but the run ends at {limit}{} (run.time{}): it would never \
                 happen; bring it forward or raise run.time",
                if matches!(time, Knob::Fixed(_)) {
                    ""
                } else {
                    " at the latest"
                },
                if run.and_then(|r| r.time.as_ref()).is_some() {
                    ""
                } else {
                    "'s default"
                },
            )
        };
        for (r, f) in raw.fault.iter().flatten().zip(&faults) {
            if f.at.low() > limit {
                let what = match f.at {
                    Knob::Fixed(_) => "this fault comes",
                    Knob::Range(..) => "this fault comes at the earliest",
                };
                let span = r.get_ref().at.as_ref().map_or(r.span(), |a| a.span());
                return Err(loc.at(span, late(f.at.low(), what)));
            }
        }
        if let (Some(r), Some(w)) = (&raw.workload, &workload) {
            if w.start.low() > limit {
                let span = r.get_ref().start.as_ref().map_or(r.span(), |s| s.span());
                return Err(loc.at(
                    span,
                    late(w.start.low(), "the workload's first operation comes"),
                ));
            }
        }
        let events = match run.and_then(|r| r.events.as_ref()) {
            Some(v) => knob::count(loc, v, "run.events", 1, u64::MAX >> 1)?,
            None => Knob::Fixed(defaults.events),
        };
        // Not knobs: one value for every seed.
        let one =
            |v: &Spanned<Value>, what: &str, min, max| match knob::count(loc, v, what, min, max)? {
                Knob::Fixed(n) => Ok(n),
                Knob::Range(..) => {
                    Err(loc.at(v.span(), format!("{what} is one integer, not a range")))
                }
            };
        let message_bytes = match run.and_then(|r| r.message_bytes.as_ref()) {
            Some(v) => one(v, "run.message_bytes", 16, 16 << 20)? as u32,
            None => defaults.message_bytes,
        };
        let instant_events = match run.and_then(|r| r.instant_events.as_ref()) {
            Some(v) => one(v, "run.instant_events", 1, u64::MAX >> 1)?,
            None => defaults.instant_events,
        };
        let invariants = match raw.check.as_ref().and_then(|c| c.invariants.as_ref()) {
            None => None,
            Some(list) => {
                let documented = protocol.invariants();
                let mut known: Vec<&str> = documented.iter().map(|i| i.name.as_str()).collect();
                // The history checks this section asks for by keys of their own.
                let check = raw.check.as_ref();
                let keyed = [
                    (
                        "linearizable",
                        check.is_some_and(|c| c.linearizable.is_some()),
                    ),
                    ("answered", check.is_some_and(|c| c.answered.is_some())),
                ];
                known.extend(keyed.iter().filter(|(_, set)| *set).map(|(key, _)| *key));
                let mut names = Vec::new();
                for name in list.get_ref() {
                    let s = name.get_ref();
                    if !known.contains(&s.as_str()) {
                        return Err(loc.at(name.span(), unknown_check(protocol, s, &known)));
                    }
                    names.push(s.clone());
                }
                // `invariants` lists the protocol's; a history check this
                // section asks for by its own key is checked whatever the
                // list says (`--check` drops the key it leaves out).
                for (key, set) in keyed {
                    if set && !names.iter().any(|n| n == key) {
                        names.push(key.to_string());
                    }
                }
                Some(names)
            }
        };
        let linearizable = self.linearizable(raw.check.as_ref(), &protocol.models())?;
        // A protocol's own invariant of a name a `[check]` key adds would
        // make two checks of one name.
        if let Some(check) = raw.check.as_ref() {
            let own = protocol.invariants();
            for (name, span) in [
                (
                    "linearizable",
                    check.linearizable.as_ref().map(|v| v.span()),
                ),
                ("answered", check.answered.as_ref().map(|v| v.span())),
            ] {
                if let (Some(span), true) = (span, own.iter().any(|i| i.name == name)) {
                    return Err(loc.at(
                        span,
                        format!(
                            "protocol `{}` registers an invariant of its own named `{name}`, \
                             and `[check] {name}` adds dsim's check of that name: two checks \
                             cannot share a name (rename the protocol's, or leave this key \
                             out and keep its own)",
                            protocol.name()
                        ),
                    ));
                }
            }
        }
        let answered = match raw.check.as_ref().and_then(|c| c.answered.as_ref()) {
            None => None,
            Some(v) => match knob::duration(loc, v, "check.answered")? {
                Knob::Fixed(d) => Some(d),
                Knob::Range(..) => {
                    return Err(loc.at(
                        v.span(),
                        "check.answered: one duration (how long after calm every operation \
                         must have its answer), not a range",
                    ))
                }
            },
        };
        let strategy = self.strategy(run)?;
        if matches!(strategy, super::StrategyKnob::Pct { .. })
            && std::iter::once(&network)
                .chain(links.iter().map(|(_, _, l)| l))
                .any(|l| l.ordering == Some(Ordering::Fifo))
        {
            let span = run
                .and_then(|r| r.strategy.as_ref())
                .map(|s| s.span())
                .unwrap_or(0..0);
            return Err(loc.at(
                span,
                "the pct strategy chooses the order of deliveries, so it needs reordering \
                 links; this scenario promises FIFO (ordering = \"fifo\") on some link",
            ));
        }
        let adversary = self.adversary(&raw, &node, topology.is_some())?;
        if !adversary.byzantine.is_empty() {
            let twins = adversary
                .byzantine
                .iter()
                .filter(|(_, b)| matches!(b, super::BehaviourKnob::Twins { .. }))
                .count();
            if nodes.low() != nodes.high() && twins > 0 {
                return Err(loc.at(
                    raw.nodes.span(),
                    "twins need a fixed node count (their instances reach nodes by number)",
                ));
            }
        }
        Ok(Scenario {
            file: loc.file.to_string(),
            source: source.to_string(),
            protocol: protocol.name().to_string(),
            description: raw.description.clone(),
            nodes,
            seed,
            params,
            network,
            links,
            planned,
            topology,
            faults,
            workload,
            time,
            events,
            message_bytes,
            instant_events,
            vector_clocks: run.and_then(|r| r.vector_clocks).unwrap_or(true),
            strategy,
            invariants,
            linearizable,
            answered,
            adversary,
            unsynced_kept: raw
                .disk
                .as_ref()
                .and_then(|d| d.unsynced_kept.as_ref())
                .map(|v| knob::probability(loc, v, "disk.unsynced_kept"))
                .transpose()?,
        })
    }

    /// `[[byzantine]]` entries and the `[adversary]` table.
    fn adversary(
        &self,
        raw: &RawScenario,
        node: NodeCheck<'_>,
        topology: bool,
    ) -> Result<super::AdversaryKnobs, ScenarioError> {
        use super::BehaviourKnob;
        let loc = &self.loc;
        let mut out = super::AdversaryKnobs::default();
        for entry in raw.byzantine.iter().flatten() {
            let b = entry.get_ref();
            let id = node(*b.node.get_ref(), b.node.span(), "a byzantine entry")?;
            if out.byzantine.iter().any(|(x, _)| *x == id) {
                return Err(loc.at(
                    b.node.span(),
                    format!("node {} is declared byzantine twice", id.0),
                ));
            }
            let name = b.behaviour.get_ref().as_str();
            let unused = |present: bool, key: &str| -> Result<(), ScenarioError> {
                if present {
                    Err(loc.at(
                        entry.span(),
                        format!("`{key}` does not apply to behaviour \"{name}\""),
                    ))
                } else {
                    Ok(())
                }
            };
            let behaviour = match name {
                "twins" => {
                    unused(b.chance.is_some(), "chance")?;
                    unused(b.mutation.is_some(), "mutation")?;
                    if topology {
                        return Err(loc.at(
                            b.behaviour.span(),
                            "twins cannot run on a topology: their instances have no wires",
                        ));
                    }
                    let reach = match &b.reach {
                        None => None,
                        Some(r) => {
                            let mut lists = Vec::new();
                            for list in r.get_ref() {
                                let mut ids = Vec::new();
                                for &p in list {
                                    let p = node(p, r.span(), "a twin's reach")?;
                                    if p == id {
                                        return Err(loc.at(r.span(), format!("a twin's reach lists node {} itself; instances of one node do not talk to each other", id.0)));
                                    }
                                    ids.push(p);
                                }
                                lists.push(ids);
                            }
                            Some(lists)
                        }
                    };
                    let instances = match (&b.instances, &reach) {
                        (Some(i), Some(_)) => {
                            return Err(loc.at(
                                i.span(),
                                "give `reach` or `instances`, not both (`reach` says how many)",
                            ))
                        }
                        (Some(i), None) => *i.get_ref(),
                        (None, Some(r)) => r.len() as u32,
                        (None, None) => 2,
                    };
                    if !(2..=crate::adversary::MAX_TWINS as u32).contains(&instances) {
                        let span = b
                            .instances
                            .as_ref()
                            .map(|i| i.span())
                            .or(b.reach.as_ref().map(|r| r.span()))
                            .unwrap_or(entry.span());
                        return Err(loc.at(
                            span,
                            format!(
                                "twins need 2 to {} instances, not {instances}",
                                crate::adversary::MAX_TWINS
                            ),
                        ));
                    }
                    BehaviourKnob::Twins { reach, instances }
                }
                "mutate" => {
                    unused(b.reach.is_some(), "reach")?;
                    unused(b.instances.is_some(), "instances")?;
                    let chance = match &b.chance {
                        Some(v) => knob::probability(loc, v, "byzantine.chance")?,
                        None => Knob::Fixed(Ppm::from_probability(0.5).unwrap_or(Ppm::ONE)),
                    };
                    let arbitrary = match b.mutation.as_ref().map(|m| (m, m.get_ref().as_str())) {
                        None | Some((_, "small")) => false,
                        Some((_, "arbitrary")) => true,
                        Some((m, other)) => {
                            return Err(loc.at(
                                m.span(),
                                format!(
                                    "mutation must be \"small\" or \"arbitrary\", not \"{other}\""
                                ),
                            ))
                        }
                    };
                    BehaviourKnob::Mutate { chance, arbitrary }
                }
                "silent" | "amnesia" => {
                    unused(b.reach.is_some(), "reach")?;
                    unused(b.instances.is_some(), "instances")?;
                    unused(b.chance.is_some(), "chance")?;
                    unused(b.mutation.is_some(), "mutation")?;
                    if name == "silent" {
                        BehaviourKnob::Silent
                    } else {
                        BehaviourKnob::Amnesia
                    }
                }
                other => {
                    let hint = did_you_mean(other, ["twins", "mutate", "silent", "amnesia"], '"');
                    return Err(loc.at(
                        b.behaviour.span(),
                        format!("unknown byzantine behaviour \"{other}\"{hint} (it is one of \"twins\", \"mutate\", \"silent\", \"amnesia\")"),
                    ));
                }
            };
            out.byzantine.push((id, behaviour));
        }
        if let Some(a) = &raw.adversary {
            let a = a.get_ref();
            let prob = |v: &Option<Spanned<Value>>, what: &str| {
                v.as_ref()
                    .map(|v| knob::probability(loc, v, &format!("adversary.{what}")))
                    .transpose()
            };
            out.forge = prob(&a.forge, "forge")?;
            out.replay = prob(&a.replay, "replay")?;
            out.alter = prob(&a.alter, "alter")?;
            out.delay = a
                .delay
                .as_ref()
                .map(|v| knob::duration(loc, v, "adversary.delay"))
                .transpose()?;
            if let (Some(d), Some(v)) = (&out.delay, &a.delay) {
                if d.low() == Duration::ZERO {
                    return Err(loc.at(v.span(), "adversary.delay must be more than zero"));
                }
            }
        }
        Ok(out)
    }

    fn strategy(&self, run: Option<&raw::RawRun>) -> Result<super::StrategyKnob, ScenarioError> {
        let loc = &self.loc;
        let Some(run) = run else {
            return Ok(super::StrategyKnob::Random);
        };
        let name = run
            .strategy
            .as_ref()
            .map(|s| s.get_ref().as_str())
            .unwrap_or("random");
        match name {
            "random" => {
                if let Some(v) = run.pct_depth.as_ref().or(run.pct_steps.as_ref()) {
                    return Err(loc.at(
                        v.span(),
                        "pct_depth and pct_steps go with `strategy = \"pct\"`",
                    ));
                }
                Ok(super::StrategyKnob::Random)
            }
            "pct" => Ok(super::StrategyKnob::Pct {
                depth: match &run.pct_depth {
                    Some(v) => knob::count(loc, v, "run.pct_depth", 1, 64)?,
                    None => Knob::Fixed(3),
                },
                steps: match &run.pct_steps {
                    Some(v) => knob::count(loc, v, "run.pct_steps", 1, u64::MAX >> 1)?.low(),
                    None => 1000,
                },
            }),
            other => {
                let span = run.strategy.as_ref().map(|s| s.span()).unwrap_or(0..0);
                let hint = did_you_mean(other, ["random", "pct"], '"');
                Err(loc.at(
                    span,
                    format!("strategy must be \"random\" or \"pct\", not \"{other}\"{hint}"),
                ))
            }
        }
    }

    fn linearizable(
        &self,
        check: Option<&raw::RawCheck>,
        models: &[crate::check::linearizable::NamedModel],
    ) -> Result<Option<crate::history::Linearizability>, ScenarioError> {
        let Some(check) = check else { return Ok(None) };
        let model = match &check.linearizable {
            None => {
                if let Some(i) = &check.initial {
                    return Err(self
                        .loc
                        .at(i.span(), "`initial` goes with `linearizable = \"MODEL\"`"));
                }
                return Ok(None);
            }
            Some(m) => m,
        };
        if let Err(e) = crate::check::linearizable::find(model.get_ref(), models) {
            return Err(self.loc.at(model.span(), e));
        }
        let initial = match &check.initial {
            None => crate::history::Value::Nil,
            Some(v) => history_value(v.get_ref())
                .map_err(|e| self.loc.at(v.span(), format!("check.initial: {e}")))?,
        };
        Ok(Some(crate::history::Linearizability {
            model: model.get_ref().clone(),
            initial,
        }))
    }

    fn protocol(&self, name: &Spanned<String>) -> Result<&dyn Protocol, ScenarioError> {
        self.registry.get(name.get_ref()).ok_or_else(|| {
            let names = self.registry.names();
            let hint = did_you_mean(name.get_ref(), names.iter().copied(), '"');
            self.loc.at(
                name.span(),
                format!(
                    "unknown protocol \"{}\"{hint} (this program knows {}; a protocol of \
                     your own runs under your program, the one that calls \
                     dsim::cli::main_with)",
                    name.get_ref(),
                    names.join(", ")
                ),
            )
        })
    }

    fn params(
        &self,
        protocol: &dyn Protocol,
        given: Option<&BTreeMap<Spanned<String>, Spanned<Value>>>,
    ) -> Result<BTreeMap<String, ParamKnob>, ScenarioError> {
        let docs = protocol.params();
        let mut out = BTreeMap::new();
        for d in &docs {
            out.insert(d.name.to_string(), ParamKnob::Fixed(d.default.clone()));
        }
        for (key, value) in given.into_iter().flatten() {
            let Some(doc) = docs.iter().find(|d| &d.name == key.get_ref()) else {
                let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
                let hint = did_you_mean(key.get_ref(), names.iter().copied(), '`');
                return Err(self.loc.at(
                    key.span(),
                    format!(
                        "protocol `{}` has no parameter `{}`{hint} (it takes {}){}",
                        protocol.name(),
                        key.get_ref(),
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        },
                        super::error::misplaced(key.get_ref()),
                    ),
                ));
            };
            let at = |m: String| {
                self.loc
                    .at(value.span(), format!("params.{}: {m}", doc.name))
            };
            let is_duration = matches!(doc.default, ParamValue::Duration(_));
            let knob =
                match value.get_ref() {
                    Value::Integer(i) => ParamKnob::Fixed(ParamValue::Int(*i)),
                    Value::Boolean(b) => ParamKnob::Fixed(ParamValue::Bool(*b)),
                    Value::String(s) if is_duration => {
                        ParamKnob::Fixed(ParamValue::Duration(Duration::parse(s).map_err(at)?))
                    }
                    Value::String(s) => ParamKnob::Fixed(ParamValue::Str(s.clone())),
                    Value::Array(items) => match items.as_slice() {
                        [Value::Integer(lo), Value::Integer(hi)] if *lo >= 0 && lo <= hi => {
                            doc.check(&ParamValue::Int(*lo)).map_err(at)?;
                            doc.check(&ParamValue::Int(*hi)).map_err(at)?;
                            ParamKnob::IntRange(*lo as u64, *hi as u64)
                        }
                        [Value::String(lo), Value::String(hi)] if is_duration => {
                            let lo = Duration::parse(lo).map_err(at)?;
                            let hi = Duration::parse(hi).map_err(at)?;
                            if lo > hi {
                                return Err(at(format!("the range [{lo}, {hi}] is empty")));
                            }
                            ParamKnob::DurationRange(lo, hi)
                        }
                        _ if is_duration => return Err(at(
                            "a range must be two durations [\"low\", \"high\"] with low <= high"
                                .into(),
                        )),
                        _ => {
                            return Err(at(
                                "a range must be two integers [low, high] with low <= high".into(),
                            ))
                        }
                    },
                    _ => return Err(at(format!("must be {}, or a range", doc.kind()))),
                };
            if let ParamKnob::Fixed(v) = &knob {
                doc.check(v).map_err(at)?;
            }
            out.insert(doc.name.to_string(), knob);
        }
        Ok(out)
    }

    /// With a topology, a link's loss and latency are those of one wire (a
    /// message pays them at every hop), so a link that sets them must be
    /// a wire whatever node count a seed draws: on any other pair they
    /// would never apply. Its other keys apply end to end to messages
    /// from `from` to `to`, wired or not.
    fn links_on_wires(
        loc: &Locator,
        network: Option<&RawNetwork>,
        topology: &TopologyKnob,
        nodes: &Knob<u64>,
    ) -> Result<(), ScenarioError> {
        let (lo, hi) = (nodes.low() as u32, nodes.high() as u32);
        for l in network.iter().flat_map(|n| n.link.iter().flatten()) {
            let r = l.get_ref();
            let per_wire: Vec<&str> =
                [("loss", r.loss.is_some()), ("latency", r.latency.is_some())]
                    .iter()
                    .filter(|(_, set)| *set)
                    .map(|(k, _)| *k)
                    .collect();
            if per_wire.is_empty() {
                continue;
            }
            let (a, b) = (NodeId(*r.from.get_ref()), NodeId(*r.to.get_ref()));
            let keys = per_wire.join(" and ");
            let why = if !topology.wired(a, b, lo) {
                format!("nodes {} and {} are not wired in the topology", a.0, b.0)
            } else if !topology.wired(a, b, hi) {
                format!(
                    "nodes {} and {} are wired only when {lo} nodes are drawn \
                     (nodes = [{lo}, {hi}])",
                    a.0, b.0
                )
            } else {
                continue;
            };
            return Err(loc.at(
                l.span(),
                format!(
                    "a link sets {keys}, but {why}: with a [topology], loss and latency \
                     belong to wires (a message pays them at every hop), so set them on \
                     the wires of its route; duplicate, corrupt, ordering, capacity and \
                     overflow apply end to end and may name any two nodes"
                ),
            ));
        }
        Ok(())
    }

    fn link_fields(
        &self,
        what: &str,
        [latency, loss, duplicate, corrupt, capacity]: [&Option<Spanned<Value>>; 5],
        ordering: &Option<Spanned<String>>,
        overflow: &Option<Spanned<String>>,
    ) -> Result<LinkKnobs, ScenarioError> {
        let loc = &self.loc;
        let prob = |v: &Option<Spanned<Value>>, name: &str| {
            v.as_ref()
                .map(|v| knob::probability(loc, v, &format!("{what}.{name}")))
                .transpose()
        };
        let ordering = match ordering {
            None => None,
            Some(o) => Some(match o.get_ref().as_str() {
                "fifo" => Ordering::Fifo,
                "reorder" => Ordering::Reorder,
                other => {
                    return Err(loc.at(
                        o.span(),
                        format!("ordering must be \"fifo\" or \"reorder\", not \"{other}\""),
                    ))
                }
            }),
        };
        let overflow = match overflow {
            None => None,
            Some(o) => Some(match o.get_ref().as_str() {
                "drop-newest" => Overflow::DropNewest,
                "drop-oldest" => Overflow::DropOldest,
                other => {
                    return Err(loc.at(
                        o.span(),
                        format!(
                            "overflow must be \"drop-newest\" or \"drop-oldest\", not \"{other}\""
                        ),
                    ))
                }
            }),
        };
        Ok(LinkKnobs {
            latency: latency
                .as_ref()
                .map(|v| knob::latency(loc, v, &format!("{what}.latency")))
                .transpose()?,
            loss: prob(loss, "loss")?,
            duplicate: prob(duplicate, "duplicate")?,
            corrupt: prob(corrupt, "corrupt")?,
            ordering,
            capacity: capacity
                .as_ref()
                .map(|v| knob::count(loc, v, &format!("{what}.capacity"), 1, 1 << 30))
                .transpose()?,
            overflow,
        })
    }

    fn topology(
        &self,
        t: &Spanned<raw::RawTopology>,
        nodes: &Knob<u64>,
        node: NodeCheck<'_>,
    ) -> Result<TopologyKnob, ScenarioError> {
        let r = t.get_ref();
        match (&r.shape, &r.edges) {
            (Some(shape), None) => match shape.get_ref().as_str() {
                "line" => Ok(TopologyKnob::Line),
                "ring" => Ok(TopologyKnob::Ring),
                "star" => Ok(TopologyKnob::Star),
                other => Err(self.loc.at(
                    shape.span(),
                    format!(
                        "topology shape must be \"line\", \"ring\" or \"star\", not \"{other}\""
                    ),
                )),
            },
            (None, Some(edges)) => {
                // Nodes past the list's reach would have no wire at all.
                if let Knob::Range(lo, hi) = nodes {
                    return Err(self.loc.at(
                        t.span(),
                        format!(
                            "explicit topology edges need a fixed node count: with nodes = \
                             [{lo}, {hi}], nodes {lo} and above would have no wire (a `shape` \
                             is laid over the count each seed draws)"
                        ),
                    ));
                }
                edges
                    .iter()
                    .map(|e| {
                        let [a, b] = *e.get_ref();
                        if a == b {
                            return Err(self
                                .loc
                                .at(e.span(), "a topology edge needs two different nodes"));
                        }
                        Ok((
                            node(a, e.span(), "a topology edge")?,
                            node(b, e.span(), "a topology edge")?,
                        ))
                    })
                    .collect::<Result<_, _>>()
                    .map(TopologyKnob::Edges)
            }
            _ => Err(self.loc.at(
                t.span(),
                "a topology takes either `shape` or `edges`, exactly one",
            )),
        }
    }

    fn fault(
        &self,
        f: &Spanned<RawFault>,
        nodes: &Knob<u64>,
        node: NodeCheck<'_>,
        topology: Option<&TopologyKnob>,
    ) -> Result<FaultKnob, ScenarioError> {
        let loc = &self.loc;
        let n = nodes.low() as u32;
        let r = f.get_ref();
        let at = match (&r.at, &r.after) {
            (Some(at), _) => knob::duration(loc, at, "fault.at")?,
            // Set off by a node's progress: at once, unless it says.
            (None, Some(_)) => Knob::Fixed(Duration::ZERO),
            (None, None) => {
                return Err(loc.at(
                    f.span(),
                    "a fault needs `at`, when it comes (or, for a crash, `after`: set off by a node's progress)",
                ))
            }
        };
        let probability = match &r.probability {
            None => Ppm::ONE,
            Some(p) => match knob::probability(loc, p, "fault.probability")? {
                Knob::Fixed(p) => p,
                Knob::Range(..) => {
                    return Err(loc.at(p.span(), "fault.probability must be one number"))
                }
            },
        };
        let mut actions = Vec::new();
        let id = r.id.unwrap_or(0);
        if let Some(p) = &r.partition {
            let groups = p
                .get_ref()
                .iter()
                .map(|g| {
                    g.iter()
                        .map(|&i| node(i, p.span(), "a partition"))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let spec = PartitionSpec::Groups(groups);
            validate_partition(&spec, n).map_err(|e| loc.at(p.span(), e))?;
            actions.push(FaultAction::Partition { id, spec });
        }
        if let Some(o) = &r.oneway {
            let side = |list: &[u32]| {
                list.iter()
                    .map(|&i| node(i, o.span(), "a one-way partition"))
                    .collect::<Result<Vec<_>, _>>()
            };
            let spec = PartitionSpec::OneWay {
                from: side(&o.get_ref().from)?,
                to: side(&o.get_ref().to)?,
            };
            validate_partition(&spec, n).map_err(|e| loc.at(o.span(), e))?;
            actions.push(FaultAction::Partition { id, spec });
        }
        if let Some(i) = &r.isolate {
            let spec = PartitionSpec::Isolate {
                role: i.get_ref().clone(),
            };
            validate_partition(&spec, n).map_err(|e| loc.at(i.span(), e))?;
            actions.push(FaultAction::Partition { id, spec });
        }
        if let Some(h) = &r.heal {
            actions.push(match h.get_ref() {
                Value::Boolean(true) => FaultAction::Heal { id: None },
                Value::Integer(i) if *i >= 0 && *i <= i64::from(u32::MAX) => FaultAction::Heal {
                    id: Some(*i as u32),
                },
                _ => {
                    return Err(loc.at(
                        h.span(),
                        "heal must be `true` (every partition) or a partition id",
                    ))
                }
            });
        }
        // A node, or a range each seed draws the node from.
        // A crash's or a pause's aim: a node, a range each seed draws it
        // from, or whoever plays a role when it comes.
        let aim = |c: &Spanned<Value>, what: &str| -> Result<Aim, ScenarioError> {
            Ok(match c.get_ref() {
                Value::Integer(i) if *i >= 0 && *i <= i64::from(u32::MAX) => {
                    Aim::Node(node(*i as u32, c.span(), &format!("a {what}"))?)
                }
                Value::Array(_) => {
                    let what = format!("{what} (a node id)");
                    Aim::Drawn(knob::count(loc, c, &what, 0, u64::from(n.max(1) - 1))?)
                }
                Value::String(role) => {
                    crate::network::role_word(what, role).map_err(|e| loc.at(c.span(), e))?;
                    Aim::Role(role.clone())
                }
                _ => {
                    return Err(loc.at(
                        c.span(),
                        format!(
                            "{what} must be a node id, a range [a, b] of node ids \
                             (nodes are numbered 0..{}) or a role in quotes (\"leader\")",
                            n.max(1) - 1
                        ),
                    ))
                }
            })
        };
        // The node an aim names, or the low of its range (the range kept
        // for each seed to draw from).
        let mut drawn_crash = None;
        let mut low_of = |range: Knob<u64>| {
            let low = NodeId(range.low() as u32);
            drawn_crash = matches!(range, Knob::Range(..)).then_some(range);
            low
        };
        if let Some(c) = &r.crash {
            let aimed = aim(c, "crash")?;
            if let (Some(a), Aim::Drawn(_) | Aim::Role(_)) = (&r.after, &aimed) {
                return Err(loc.at(
                    a.span(),
                    match aimed {
                        Aim::Drawn(_) => {
                            "a crash set off by `after` names its node: `crash = [a, b]` \
                             draws it, so give one node"
                        }
                        _ => {
                            "a crash set off by `after` names its node: a crash of whoever \
                             plays a role comes at a time, `at`"
                        }
                    },
                ));
            }
            actions.push(match aimed {
                Aim::Node(node) => FaultAction::Crash { node },
                Aim::Drawn(range) => FaultAction::Crash {
                    node: low_of(range),
                },
                // Numbered when resolved, among the schedule's.
                Aim::Role(role) => FaultAction::CrashPlaying { role, mark: 0 },
            });
        }
        let mid_handler = r.mid_handler.as_ref().is_some_and(|m| *m.get_ref());
        if let Some(c) = &r.pause {
            actions.push(match aim(c, "pause")? {
                Aim::Node(node) => FaultAction::Pause { node, mid_handler },
                Aim::Drawn(range) => FaultAction::Pause {
                    node: low_of(range),
                    mid_handler,
                },
                Aim::Role(role) => FaultAction::PausePlaying {
                    role,
                    mark: 0,
                    mid_handler,
                },
            });
        }
        if let Some(c) = &r.resume {
            actions.push(FaultAction::Resume {
                node: node(*c.get_ref(), c.span(), "a resume")?,
            });
        }
        if let Some(c) = &r.restart {
            actions.push(FaultAction::Restart {
                node: node(*c.get_ref(), c.span(), "a restart")?,
            });
        }
        let mut skew = None;
        if let Some(s) = &r.skew {
            let sk = s.get_ref();
            let offset = match &sk.offset {
                None => Knob::Fixed(Offset(0)),
                Some(o) => knob::offset(loc, o, "skew offset")?,
            };
            let drift = match &sk.drift_ppm {
                None => Knob::Fixed(0),
                Some(d) => knob::drift(loc, d, "drift_ppm")?,
            };
            actions.push(FaultAction::ClockSkew {
                node: node(sk.node, s.span(), "a clock skew")?,
                offset_ns: offset.low().0,
                drift_ppm: drift.low(),
            });
            if matches!(offset, Knob::Range(..)) || matches!(drift, Knob::Range(..)) {
                skew = Some(SkewKnobs { offset, drift });
            }
        }
        for (wire, restore) in [(&r.cut, false), (&r.restore, true)] {
            if let Some(w) = wire {
                let [a, b] = *w.get_ref();
                let (a, b) = (
                    node(a, w.span(), "a wire fault")?,
                    node(b, w.span(), "a wire fault")?,
                );
                let Some(topology) = topology else {
                    return Err(loc.at(w.span(), "cutting or restoring a wire needs a [topology]"));
                };
                // Wired whatever count a seed draws (a ring's closing wire
                // moves with the count).
                let (lo, hi) = (nodes.low() as u32, nodes.high() as u32);
                if !topology.wired(a, b, lo) {
                    return Err(loc.at(
                        w.span(),
                        format!("nodes {} and {} are not wired in the topology", a.0, b.0),
                    ));
                }
                if !topology.wired(a, b, hi) {
                    return Err(loc.at(
                        w.span(),
                        format!(
                            "nodes {} and {} are wired only when {lo} nodes are drawn; \
                             with nodes = [{lo}, {hi}] a seed may draw more",
                            a.0, b.0
                        ),
                    ));
                }
                actions.push(if restore {
                    FaultAction::RestoreWire { a, b }
                } else {
                    FaultAction::CutWire { a, b }
                });
            }
        }
        if let Some(fg) = &r.forge {
            let g = fg.get_ref();
            let to = node(g.to, fg.span(), "a forgery")?;
            let from = g
                .from
                .map(|f| node(f, fg.span(), "a forgery"))
                .transpose()?;
            if from == Some(to) {
                return Err(loc.at(fg.span(), "a forgery claiming to be from its own receiver is not one: give another `from`"));
            }
            actions.push(FaultAction::Forge { to, from });
        }
        if let Some(rp) = &r.replay {
            actions.push(FaultAction::Replay {
                to: node(*rp.get_ref(), rp.span(), "a replay")?,
            });
        }
        if let Some(al) = &r.alter {
            actions.push(FaultAction::Alter {
                to: node(*al.get_ref(), al.span(), "an alteration")?,
            });
        }
        let partition = r.partition.is_some() || r.oneway.is_some() || r.isolate.is_some();
        if r.id.is_some() && !partition && actions.len() == 1 {
            return Err(loc.at(
                f.span(),
                "`id` names a partition (or oneway, or isolate) for a later `heal = ID`; this fault is no partition",
            ));
        }
        let after = match &r.after {
            None => None,
            Some(a) => {
                let t = a.get_ref();
                let (of, value, name) = match (&t.deliveries, &t.sends) {
                    (Some(d), None) => (Progress::Deliveries, d, "after.deliveries"),
                    (None, Some(s)) => (Progress::Sends, s, "after.sends"),
                    _ => {
                        return Err(loc.at(
                            a.span(),
                            "`after` counts one of a node's messages: `deliveries` (handled) \
                             or `sends` (sent), not both and not neither",
                        ))
                    }
                };
                let k = knob::count(loc, value, name, 1, i64::MAX as u64)?;
                Some((node(t.node, a.span(), "a fault's trigger")?, of, k))
            }
        };
        let pause = r.pause.is_some() && actions.len() == 1;
        let down =
            match (&r.down, &r.pause_for) {
                (Some(d), _) => Some(knob::duration(loc, d, "fault.down")?),
                (None, Some(d)) if pause => Some(knob::duration(loc, d, "fault.for")?),
                (None, Some(d)) => return Err(loc.at(
                    d.span(),
                    "`for` resumes a paused node that long after its pause: this fault is no pause",
                )),
                (None, None) => None,
            };
        if let (Some(m), false) = (&r.mid_handler, pause) {
            return Err(loc.at(
                m.span(),
                "`mid_handler` lets a pause fall in its node's next handler that sends or answers: this \
                 fault is no pause",
            ));
        }
        let crash = r.crash.is_some() && actions.len() == 1;
        if let (Some(a), false) = (&r.after, crash) {
            return Err(loc.at(
                a.span(),
                "`after` sets off a crash (and with `down`, its restart): this fault is no crash",
            ));
        }
        if let (Some(d), false) = (&r.down, crash) {
            return Err(loc.at(
                d.span(),
                "`down` restarts a crashed node that long after its crash: this fault is no crash",
            ));
        }
        match actions.len() {
            1 => Ok(FaultKnob {
                at,
                probability,
                action: actions.remove(0),
                skew,
                after,
                down,
                crash: drawn_crash,
            }),
            0 => Err(loc.at(f.span(), "a fault needs one action: partition, oneway, isolate, heal, crash, restart, pause, resume, skew, cut, restore, forge, replay or alter")),
            _ => Err(loc.at(f.span(), "a fault takes exactly one action; split this one into several [[fault]] entries")),
        }
    }

    /// Crashes and restarts must alternate per node, a heal must follow a
    /// partition it lifts and a restore a cut of its wire, in time order
    /// (judged at the earliest time of each fault): a heal or a restore
    /// before its fault would lift nothing, and the fault would then last
    /// to the end of the run.
    fn fault_order(
        &self,
        raw: &RawScenario,
        faults: &[FaultKnob],
        n: u32,
    ) -> Result<(), ScenarioError> {
        let spans: Vec<Range<usize>> = raw.fault.iter().flatten().map(|f| f.span()).collect();
        // A crash set off by `after` has no time to judge it by; its
        // restart is its own `down`. A timed crash's `down` is a restart
        // (`true`) at the sum of the lows.
        let mut order: Vec<(usize, bool)> = (0..faults.len())
            .filter(|&i| faults[i].after.is_none())
            .map(|i| (i, false))
            .collect();
        order.extend(
            order
                .clone()
                .into_iter()
                .filter_map(|(i, _)| faults[i].down.as_ref().map(|_| (i, true))),
        );
        let time = |&(i, restart): &(usize, bool)| match (restart, &faults[i].down) {
            (true, Some(d)) => Duration(faults[i].at.low().0.saturating_add(d.low().0)),
            _ => faults[i].at.low(),
        };
        order.sort_by_key(time);
        let mut up = vec![true; n as usize];
        let ids: std::collections::BTreeSet<u32> = faults
            .iter()
            .filter_map(|f| match f.action {
                FaultAction::Partition { id, .. } => Some(id),
                _ => None,
            })
            .collect();
        // Partitions that may be in force, by id; wires that may be cut.
        let mut open: std::collections::BTreeSet<u32> = Default::default();
        let mut cut: std::collections::BTreeSet<(u32, u32)> = Default::default();
        let wire = crate::network::wire;
        for (i, restart) in order {
            // A crash of a node each seed draws, and its restart (`down`),
            // are of no one node here: at run time, a crash that finds
            // its node down, or a restart that finds it up, does nothing,
            // and the run says it skipped it.
            if faults[i].crash.is_some()
                || matches!(
                    faults[i].action,
                    FaultAction::CrashPlaying { .. }
                        | FaultAction::PausePlaying { .. }
                        | FaultAction::Pause { .. }
                )
            {
                continue;
            }
            if let (true, FaultAction::Crash { node }) = (restart, &faults[i].action) {
                up[node.index()] = true;
                continue;
            }
            let at = faults[i].at.low();
            match faults[i].action {
                FaultAction::Partition { id, .. } => {
                    open.insert(id);
                }
                FaultAction::Heal { id: None } => open.clear(),
                FaultAction::Heal { id: Some(h) } if !ids.contains(&h) => {
                    let unnamed = if h == 0 {
                        " (a partition without `id` has id 0)"
                    } else {
                        ""
                    };
                    return Err(self.loc.at(
                        spans[i].clone(),
                        format!(
                            "heal = {h} names no partition: no partition, oneway or isolate fault \
                             has id = {h}{unnamed}"
                        ),
                    ));
                }
                FaultAction::Heal { id: Some(h) } if !open.remove(&h) => {
                    return Err(self.loc.at(
                        spans[i].clone(),
                        format!(
                            "partition {h} is healed at {at} but is not in force \
                             before then: the heal would lift nothing"
                        ),
                    ));
                }
                FaultAction::CutWire { a, b } => {
                    cut.insert(wire(a, b));
                }
                FaultAction::RestoreWire { a, b } if !cut.remove(&wire(a, b)) => {
                    return Err(self.loc.at(
                        spans[i].clone(),
                        format!(
                            "the wire {}-{} is restored at {at} but is not cut before \
                             then: the restore would do nothing",
                            a.0, b.0
                        ),
                    ));
                }
                _ => {}
            }
            match faults[i].action {
                FaultAction::Crash { node }
                    if !up[node.index()] && faults[i].probability == Ppm::ONE =>
                {
                    return Err(self.loc.at(
                        spans[i].clone(),
                        format!("node {} is crashed here but is already down", node.0),
                    ));
                }
                FaultAction::Restart { node } if up[node.index()] => {
                    let triggered = faults
                        .iter()
                        .any(|f| f.after.is_some() && f.action == FaultAction::Crash { node });
                    let drawn = faults.iter().any(|f| {
                        f.crash
                            .as_ref()
                            .is_some_and(|k| (k.low()..=k.high()).contains(&u64::from(node.0)))
                            || matches!(f.action, FaultAction::CrashPlaying { .. })
                    });
                    return Err(self.loc.at(
                        spans[i].clone(),
                        format!(
                            "node {} is restarted at {} but is not crashed before then{}",
                            node.0,
                            faults[i].at.low(),
                            if triggered {
                                " (a crash set off by `after` has no time to come before: \
                                 give it `down` for its restart)"
                            } else if drawn {
                                " (a crash of a node drawn from a range, or of whoever plays \
                                 a role, may not be of this one: give it `down` for its \
                                 restart)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
                FaultAction::Crash { node } => up[node.index()] = false,
                FaultAction::Restart { node } => up[node.index()] = true,
                _ => {}
            }
        }
        Ok(())
    }
}

/// What a crash or a pause is aimed at (`crash = …`, `pause = …`).
enum Aim {
    Node(NodeId),
    /// A node each seed draws from the range.
    Drawn(Knob<u64>),
    /// Whoever plays the role when the fault comes.
    Role(String),
}

/// Why `name` names none of `known`, the checks a run of `protocol` can
/// select: a did-you-mean, the list (or that there is none), and for
/// `linearizable` where it is not declared, how to declare it.
pub(crate) fn unknown_check(protocol: &dyn Protocol, name: &str, known: &[&str]) -> String {
    let hint = did_you_mean(name, known.iter().copied(), '`');
    let list = if known.is_empty() {
        "it registers none".to_string()
    } else {
        format!("it has {}", known.join(", "))
    };
    let how = if name == "linearizable" {
        let mut models: Vec<String> = Vec::new();
        for m in crate::check::linearizable::builtin()
            .into_iter()
            .chain(protocol.models())
        {
            if !models.iter().any(|n| n == m.name()) {
                models.push(m.name().to_string());
            }
        }
        format!(
            "; the clients' history is checked when the scenario asks for it: \
             [check] linearizable = \"MODEL\" (models: {})",
            models.join(", ")
        )
    } else {
        String::new()
    };
    format!(
        "protocol `{}` has no invariant `{name}`{hint} ({list}){how}",
        protocol.name()
    )
}

/// A TOML value as a history value: integers, strings, arrays.
fn history_value(v: &Value) -> Result<crate::history::Value, String> {
    use crate::history::Value as H;
    Ok(match v {
        Value::Integer(i) => H::Int(*i),
        Value::String(s) => H::Str(s.clone()),
        Value::Array(items) => H::List(items.iter().map(history_value).collect::<Result<_, _>>()?),
        other => {
            return Err(format!(
                "a history value is an integer, a string or an array, not {}",
                other.type_str()
            ))
        }
    })
}
