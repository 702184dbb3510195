//! Two-phase commit with a coordinator that crashes and restarts from its
//! durable log.
//!
//! Node 0 coordinates; the others participate. The workload hands the
//! coordinator transactions. It logs the new transaction id, sends
//! `Prepare`, and collects votes: all yes → commit, any no or a timeout →
//! abort. The decision is written and synced before anyone hears of it. A
//! participant votes (no with probability `no_percent`), syncs its vote
//! before sending it, aborts at once on a no, and after a yes asks the
//! coordinator for the outcome until it learns it. A restarted coordinator
//! aborts every transaction it had not decided (presumed abort) and answers
//! queries from its log.
//!
//! **Invariants.** `atomicity`: no transaction is committed by one
//! participant and aborted by another. `commit-needs-all-votes`: a
//! transaction committed anywhere was voted yes by every participant.
//! After an event, each looks only at the transaction the changed
//! participant last voted on or decided (its ghost record), so a check
//! costs one transaction, not the whole history; at the end of the run they
//! look at everything.
//!
//! **Fault scenario** (`scenarios/twophase-crash.toml`): 5% loss,
//! reordering, the coordinator crashes and restarts twice, and a partition
//! cuts one participant off for a while.
//!
//! **Broken twin** (`commit_on_timeout = true`,
//! `scenarios/twophase-bug-commit-on-timeout.toml`): when votes are late the
//! coordinator commits anyway. A participant whose `Prepare` or vote was
//! lost, or that voted no, is overruled, and both invariants can fail.
//! 992 seeds of 0..1000 expose it; the first is seed 0
//! (`dsim run scenarios/twophase-bug-commit-on-timeout.toml --seed 0`).

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Input, Node, NodeId, TimerId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TpcMsg {
    Prepare { tx: u64 },
    Vote { tx: u64, yes: bool },
    Decision { tx: u64, commit: bool },
    Query { tx: u64 },
}

#[derive(Clone, Copy, Debug, Hash)]
pub struct TpcSettings {
    pub vote_timeout: Duration,
    pub query_interval: Duration,
    pub no_percent: u64,
    pub commit_on_timeout: bool,
}

impl TpcSettings {
    /// The settings from a run's parameters ([`TpcSettings::docs`]).
    pub(crate) fn from_params(
        params: &super::Params,
    ) -> Result<TpcSettings, crate::scheduler::SimError> {
        Ok(TpcSettings {
            vote_timeout: params.duration("vote_timeout")?,
            query_interval: params.duration("query_interval")?,
            no_percent: params.int("no_percent")? as u64,
            commit_on_timeout: params.flag("commit_on_timeout")?,
        })
    }

    /// The parameters of two-phase commit, state-machine and async alike.
    pub(crate) fn docs() -> Vec<ParamDoc> {
        vec![
            ParamDoc::duration(
                "vote_timeout",
                Duration::from_millis(100),
                "how long the coordinator waits for votes",
            ),
            ParamDoc::duration(
                "query_interval",
                Duration::from_millis(80),
                "how often an in-doubt participant asks for the outcome",
            ),
            ParamDoc::int(
                "no_percent",
                10,
                (0, 100),
                "chance, in percent, that a participant votes no",
            ),
            ParamDoc::flag(
                "commit_on_timeout",
                false,
                "commit when votes are late; true is the broken twin",
            ),
        ]
    }
}

/// Timers: the coordinator's vote timeout, a participant's next query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TpcTimer {
    Votes { tx: u64 },
    Query { tx: u64 },
}

#[derive(Clone, Debug, Default, Hash)]
pub struct Coordinator {
    next_tx: u64,
    collecting: BTreeMap<u64, BTreeSet<NodeId>>,
    /// Durable decisions.
    pub decided: BTreeMap<u64, bool>,
}

#[derive(Clone, Debug, Default, Hash)]
pub struct Participant {
    /// Durable votes and decisions.
    pub votes: BTreeMap<u64, bool>,
    pub decisions: BTreeMap<u64, bool>,
    queries: BTreeMap<u64, u32>,
    /// Ghost state for the invariants: the transaction last voted on and
    /// last decided.
    pub last_voted: Option<u64>,
    pub last_decided: Option<u64>,
}

#[derive(Clone, Debug, Hash)]
pub enum TpcNode {
    Coordinator(Coordinator, TpcSettings),
    Participant(Participant, TpcSettings),
}

impl Coordinator {
    fn decide(&mut self, ctx: &mut Context<'_, TpcNode>, tx: u64, commit: bool) {
        if self.decided.contains_key(&tx) {
            return;
        }
        self.collecting.remove(&tx);
        self.decided.insert(tx, commit);
        ctx.disk().write("decided", &self.decided);
        ctx.disk().sync();
        ctx.observe(format!(
            "tx {tx} {}",
            if commit { "committed" } else { "aborted" }
        ));
        ctx.broadcast(&TpcMsg::Decision { tx, commit });
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, TpcNode>,
        s: &TpcSettings,
        from: NodeId,
        msg: TpcMsg,
    ) {
        let _ = s;
        match msg {
            TpcMsg::Vote { tx, yes } => {
                if let Some(&commit) = self.decided.get(&tx) {
                    ctx.send(from, &TpcMsg::Decision { tx, commit });
                    return;
                }
                let Some(yes_votes) = self.collecting.get_mut(&tx) else {
                    return;
                };
                if !yes {
                    self.decide(ctx, tx, false);
                    return;
                }
                yes_votes.insert(from);
                if yes_votes.len() as u32 == ctx.node_count() - 1 {
                    self.decide(ctx, tx, true);
                }
            }
            TpcMsg::Query { tx } => match self.decided.get(&tx) {
                Some(&commit) => ctx.send(from, &TpcMsg::Decision { tx, commit }),
                // Still collecting: the participant will ask again.
                None if self.collecting.contains_key(&tx) => {}
                // Never heard of it, or forgot it in a crash: presumed abort.
                None => self.decide(ctx, tx, false),
            },
            _ => {}
        }
    }
}

impl Participant {
    fn persist(&self, ctx: &mut Context<'_, TpcNode>) {
        ctx.disk().write("votes", &self.votes);
        ctx.disk().write("decisions", &self.decisions);
        ctx.disk().sync();
    }

    fn on_message(
        &mut self,
        ctx: &mut Context<'_, TpcNode>,
        s: &TpcSettings,
        from: NodeId,
        msg: TpcMsg,
    ) {
        match msg {
            TpcMsg::Prepare { tx } => {
                let yes = match self.votes.get(&tx) {
                    Some(&v) => v,
                    None if self.decisions.contains_key(&tx) => return,
                    None => {
                        let yes = ctx.rng().below(100) >= s.no_percent;
                        self.votes.insert(tx, yes);
                        self.last_voted = Some(tx);
                        if !yes {
                            self.decisions.insert(tx, false);
                            self.last_decided = Some(tx);
                        }
                        self.persist(ctx);
                        if yes {
                            ctx.set_timer(s.query_interval, TpcTimer::Query { tx });
                        }
                        yes
                    }
                };
                ctx.send(from, &TpcMsg::Vote { tx, yes });
            }
            TpcMsg::Decision { tx, commit } => {
                if let std::collections::btree_map::Entry::Vacant(slot) = self.decisions.entry(tx) {
                    slot.insert(commit);
                    self.last_decided = Some(tx);
                    self.persist(ctx);
                    let what = if commit { "committed" } else { "aborted" };
                    ctx.observe(format!("tx {tx} {what}"));
                }
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, TpcNode>, s: &TpcSettings, tx: u64) {
        if self.decisions.contains_key(&tx) {
            return;
        }
        let asked = self.queries.entry(tx).or_insert(0);
        *asked += 1;
        // A bound on asking: a coordinator gone for good leaves the
        // transaction in doubt, which is 2PC's known blocking case.
        if *asked <= 1000 {
            ctx.send(NodeId(0), &TpcMsg::Query { tx });
            ctx.set_timer(s.query_interval, TpcTimer::Query { tx });
        }
    }
}

impl Node for TpcNode {
    type Msg = TpcMsg;
    type Timer = TpcTimer;

    fn on_start(&mut self, ctx: &mut Context<'_, TpcNode>) {
        match self {
            TpcNode::Coordinator(c, _) => {
                c.next_tx = ctx.disk().read("next_tx").unwrap_or(0);
                c.decided = ctx.disk().read("decided").unwrap_or_default();
                // Presumed abort for whatever was in progress before a crash.
                for tx in 0..c.next_tx {
                    if !c.decided.contains_key(&tx) {
                        c.decide(ctx, tx, false);
                    }
                }
            }
            TpcNode::Participant(p, s) => {
                p.votes = ctx.disk().read("votes").unwrap_or_default();
                p.decisions = ctx.disk().read("decisions").unwrap_or_default();
                let in_doubt: Vec<u64> = p
                    .votes
                    .iter()
                    .filter(|(tx, yes)| **yes && !p.decisions.contains_key(tx))
                    .map(|(tx, _)| *tx)
                    .collect();
                for tx in in_doubt {
                    ctx.set_timer(s.query_interval, TpcTimer::Query { tx });
                }
            }
        }
    }

    fn on_input(&mut self, ctx: &mut Context<'_, TpcNode>, _input: Input) {
        let TpcNode::Coordinator(c, s) = self else {
            return;
        };
        let tx = c.next_tx;
        c.next_tx += 1;
        ctx.disk().write("next_tx", &c.next_tx);
        ctx.disk().sync();
        c.collecting.insert(tx, BTreeSet::new());
        ctx.broadcast(&TpcMsg::Prepare { tx });
        ctx.set_timer(s.vote_timeout, TpcTimer::Votes { tx });
    }

    fn on_message(&mut self, ctx: &mut Context<'_, TpcNode>, from: NodeId, msg: TpcMsg) {
        match self {
            TpcNode::Coordinator(c, s) => c.on_message(ctx, s, from, msg),
            TpcNode::Participant(p, s) => p.on_message(ctx, s, from, msg),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, TpcNode>, _t: TimerId, tag: TpcTimer) {
        match (self, tag) {
            (TpcNode::Coordinator(c, s), TpcTimer::Votes { tx })
                if c.collecting.contains_key(&tx) =>
            {
                let commit = s.commit_on_timeout;
                c.decide(ctx, tx, commit);
            }
            (TpcNode::Participant(p, s), TpcTimer::Query { tx }) => {
                let s = *s;
                p.on_timer(ctx, &s, tx)
            }
            _ => {}
        }
    }
}

fn participants<'a>(v: &View<'a, TpcNode>) -> Vec<(NodeId, &'a Participant)> {
    v.up()
        .filter_map(|(id, n)| match n {
            TpcNode::Participant(p, _) => Some((id, p)),
            _ => None,
        })
        .collect()
}

/// What changed, for [`transactions_to_check`]: a participant (its
/// record), the coordinator, or nothing known (the end of the run).
pub(crate) enum Changed<'a> {
    Participant(&'a Participant),
    Coordinator,
    Unknown,
}

fn changed<'a>(v: &View<'a, TpcNode>) -> Changed<'a> {
    match v
        .changed()
        .filter(|_| !v.is_end())
        .and_then(|id| v.node(id))
    {
        Some(TpcNode::Participant(p, _)) => Changed::Participant(p),
        Some(TpcNode::Coordinator(..)) => Changed::Coordinator,
        None => Changed::Unknown,
    }
}

/// The transactions an invariant must look at now: after an event, the
/// one the changed participant last voted on or decided; at the end (or
/// with no changed node), every transaction anyone decided.
pub(crate) fn transactions_to_check(
    changed: Changed<'_>,
    participants: &[(NodeId, &Participant)],
) -> Vec<u64> {
    match changed {
        Changed::Participant(p) => {
            let mut txs: Vec<u64> = p.last_voted.into_iter().chain(p.last_decided).collect();
            txs.dedup();
            txs
        }
        Changed::Coordinator => Vec::new(),
        Changed::Unknown => {
            let all: BTreeSet<u64> = participants
                .iter()
                .flat_map(|(_, p)| p.decisions.keys().copied())
                .collect();
            all.into_iter().collect()
        }
    }
}

/// No transaction is committed by one participant and aborted by another.
pub fn atomicity(v: &View<'_, TpcNode>) -> Result<(), String> {
    let parts = participants(v);
    atomicity_of(&transactions_to_check(changed(v), &parts), &parts)
}

/// [`atomicity`] over these transactions of these participants.
pub(crate) fn atomicity_of(
    txs: &[u64],
    participants: &[(NodeId, &Participant)],
) -> Result<(), String> {
    for &tx in txs {
        let mut first: Option<(bool, NodeId)> = None;
        for &(id, p) in participants {
            let Some(&commit) = p.decisions.get(&tx) else {
                continue;
            };
            match first {
                Some((other, who)) if other != commit => {
                    let (c, a) = if commit { (id, who) } else { (who, id) };
                    return Err(format!("tx {tx} was committed by {c} and aborted by {a}"));
                }
                Some(_) => {}
                None => first = Some((commit, id)),
            }
        }
    }
    Ok(())
}

/// A transaction committed anywhere was voted yes by every participant.
pub fn commit_needs_all_votes(v: &View<'_, TpcNode>) -> Result<(), String> {
    let parts = participants(v);
    commit_needs_all_votes_of(&transactions_to_check(changed(v), &parts), &parts)
}

/// [`commit_needs_all_votes`] over these transactions of these
/// participants.
pub(crate) fn commit_needs_all_votes_of(
    txs: &[u64],
    participants: &[(NodeId, &Participant)],
) -> Result<(), String> {
    for &tx in txs {
        let Some(by) = participants
            .iter()
            .find(|(_, p)| p.decisions.get(&tx) == Some(&true))
            .map(|(id, _)| *id)
        else {
            continue;
        };
        for (id, p) in participants {
            if p.votes.get(&tx) != Some(&true) {
                let vote = match p.votes.get(&tx) {
                    Some(false) => "voted no",
                    _ => "never voted",
                };
                return Err(format!("tx {tx} was committed by {by}, but {id} {vote}"));
            }
        }
    }
    Ok(())
}

/// Two-phase commit for the registry: node 0 coordinates, and takes the
/// workload.
pub fn protocol() -> Spec<TpcNode> {
    Spec::new(
        "twophase",
        "two-phase commit; node 0 coordinates from a durable log and may crash",
        |config, params| {
            let s = TpcSettings::from_params(params)?;
            Ok(Simulation::new(config, move |id| {
                if id == NodeId(0) {
                    TpcNode::Coordinator(Coordinator::default(), s)
                } else {
                    TpcNode::Participant(Participant::default(), s)
                }
            })
            .hashable()
            .cloneable()
            .always(
                "atomicity",
                "no transaction is committed by one participant and aborted by another",
                atomicity,
            )
            .always(
                "commit-needs-all-votes",
                "a committed transaction was voted yes by every participant",
                commit_needs_all_votes,
            ))
        },
    )
    .with_params(TpcSettings::docs())
    .min_nodes(2)
    .clients(|_, _| vec![NodeId(0)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(votes: &[(u64, bool)], decisions: &[(u64, bool)]) -> Option<TpcNode> {
        let s = TpcSettings {
            vote_timeout: Duration::from_millis(100),
            query_interval: Duration::from_millis(80),
            no_percent: 0,
            commit_on_timeout: false,
        };
        let p = Participant {
            votes: votes.iter().copied().collect(),
            decisions: decisions.iter().copied().collect(),
            ..Participant::default()
        };
        Some(TpcNode::Participant(p, s))
    }

    #[test]
    fn atomicity_catches_a_transaction_committed_here_and_aborted_there() {
        let split = [
            participant(&[(0, true)], &[(0, true)]),
            participant(&[(0, true)], &[(0, false)]),
        ];
        assert!(atomicity(&View::new(&split)).unwrap_err().contains("tx 0"));
    }

    #[test]
    fn commit_needs_all_votes_catches_a_commit_over_a_no_or_a_missing_vote() {
        let ok = [
            participant(&[(0, true)], &[(0, true)]),
            participant(&[(0, true)], &[]),
        ];
        assert!(commit_needs_all_votes(&View::new(&ok)).is_ok());
        let overruled = [
            participant(&[(0, true)], &[(0, true)]),
            participant(&[(0, false)], &[(0, false)]),
        ];
        assert!(commit_needs_all_votes(&View::new(&overruled))
            .unwrap_err()
            .contains("voted no"));
        let silent = [
            participant(&[(0, true)], &[(0, true)]),
            participant(&[], &[]),
        ];
        assert!(commit_needs_all_votes(&View::new(&silent))
            .unwrap_err()
            .contains("never voted"));
    }
}
