//! Two-phase commit written as async nodes ([`crate::aio`]): the logic of
//! [`super::twophase`], with calls, timeouts and tasks in place of timer
//! tags and tables of pending votes.
//!
//! Node 0 coordinates; the workload hands it transactions, and it runs
//! each in a task of its own: log the transaction id, call every
//! participant with `Prepare` (each call with the vote timeout), then
//! decide — all yes → commit; a no or a missing vote → abort — write and
//! sync the decision, and tell everyone. Another task answers in-doubt
//! participants' queries from the decisions (presumed abort for a
//! transaction it never heard of). A participant serves prepares (its vote
//! synced before the reply) and decisions; after a yes it runs a task that
//! asks the coordinator for the outcome until it learns it. A crash drops
//! every task; the restarted coordinator aborts what it had not decided.
//!
//! **Invariants** (as for `twophase`): `atomicity`, `commit-needs-all-votes`.
//!
//! **Broken twin** (`commit_on_timeout = true`,
//! `scenarios/async-twophase-bug-commit-on-timeout.toml`): a vote that does
//! not come back in time counts as yes, overruling a participant whose
//! prepare or vote was lost.

use super::twophase::{
    atomicity_of, commit_needs_all_votes_of, transactions_to_check, Changed, Participant, TpcMsg,
    TpcSettings,
};
use super::Spec;
use crate::aio::{Async, AsyncNode, Ctx};
use crate::scheduler::Simulation;
use crate::{NodeId, View};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A node of async two-phase commit: its role and the settings.
pub enum AsyncTpc {
    Coordinator(TpcSettings),
    Participant(TpcSettings),
}

impl AsyncNode for AsyncTpc {
    type Msg = TpcMsg;
    /// A participant's votes and decisions (the coordinator's stays empty).
    type State = Participant;

    async fn main(self, ctx: Ctx<Self>) {
        match self {
            AsyncTpc::Coordinator(s) => coordinator(ctx, s).await,
            AsyncTpc::Participant(s) => participant(ctx, s).await,
        }
    }
}

/// The coordinator's decisions, durable, and the transactions it is still
/// collecting votes for; shared by its tasks.
#[derive(Default)]
struct Log {
    decided: BTreeMap<u64, bool>,
    collecting: BTreeSet<u64>,
}

async fn coordinator(ctx: Ctx<AsyncTpc>, s: TpcSettings) {
    let log = Rc::new(RefCell::new(Log {
        decided: ctx.read("decided").await.unwrap_or_default(),
        collecting: BTreeSet::new(),
    }));
    let mut next_tx: u64 = ctx.read("next_tx").await.unwrap_or(0);
    // Presumed abort for whatever was in progress before a crash.
    for tx in 0..next_tx {
        decide(&ctx, &log, tx, false).await;
    }
    ctx.spawn("queries", answer_queries(ctx.clone(), log.clone()));
    loop {
        ctx.next_input().await;
        let tx = next_tx;
        next_tx += 1;
        ctx.write("next_tx", &next_tx).await;
        ctx.sync().await;
        log.borrow_mut().collecting.insert(tx);
        ctx.spawn(
            format!("tx {tx}"),
            transaction(ctx.clone(), log.clone(), s, tx),
        );
    }
}

/// Collects the votes on `tx` and decides.
async fn transaction(ctx: Ctx<AsyncTpc>, log: Rc<RefCell<Log>>, s: TpcSettings, tx: u64) {
    let prepare = TpcMsg::Prepare { tx };
    let votes = futures::future::join_all(
        ctx.peers()
            .into_iter()
            .map(|p| ctx.call(p, &prepare, s.vote_timeout)),
    )
    .await;
    let commit = votes.iter().all(|vote| match vote {
        Ok(TpcMsg::Vote { yes, .. }) => *yes,
        Ok(_) => false,
        Err(_late) => s.commit_on_timeout,
    });
    decide(&ctx, &log, tx, commit).await;
}

async fn decide(ctx: &Ctx<AsyncTpc>, log: &Rc<RefCell<Log>>, tx: u64, commit: bool) {
    let decided = {
        let mut log = log.borrow_mut();
        if log.decided.contains_key(&tx) {
            return;
        }
        log.collecting.remove(&tx);
        log.decided.insert(tx, commit);
        log.decided.clone()
    };
    ctx.write("decided", &decided).await;
    ctx.sync().await;
    let what = if commit { "committed" } else { "aborted" };
    ctx.observe(format!("tx {tx} {what}"));
    ctx.broadcast(&TpcMsg::Decision { tx, commit });
}

async fn answer_queries(ctx: Ctx<AsyncTpc>, log: Rc<RefCell<Log>>) {
    loop {
        let query = ctx.recv().await;
        let TpcMsg::Query { tx } = query.msg else {
            continue;
        };
        let known = log.borrow().decided.get(&tx).copied();
        match known {
            Some(commit) => ctx.reply(&query, &TpcMsg::Decision { tx, commit }),
            // Still collecting: the participant will ask again.
            None if log.borrow().collecting.contains(&tx) => {}
            // Never heard of it, or forgot it in a crash: presumed abort.
            None => {
                decide(&ctx, &log, tx, false).await;
                ctx.reply(&query, &TpcMsg::Decision { tx, commit: false });
            }
        }
    }
}

async fn participant(ctx: Ctx<AsyncTpc>, s: TpcSettings) {
    let votes: BTreeMap<u64, bool> = ctx.read("votes").await.unwrap_or_default();
    let decisions: BTreeMap<u64, bool> = ctx.read("decisions").await.unwrap_or_default();
    for (&tx, _) in votes
        .iter()
        .filter(|(tx, yes)| **yes && !decisions.contains_key(tx))
    {
        ctx.spawn(format!("in doubt {tx}"), in_doubt(ctx.clone(), s, tx));
    }
    ctx.state_mut(|p| {
        p.votes = votes;
        p.decisions = decisions;
    });
    loop {
        let m = ctx.recv().await;
        match m.msg {
            TpcMsg::Prepare { tx } => {
                let known =
                    ctx.state(|p| (p.votes.get(&tx).copied(), p.decisions.contains_key(&tx)));
                let yes = match known {
                    (Some(vote), _) => vote,
                    (None, true) => continue,
                    (None, false) => {
                        let yes = ctx.rng(|r| r.below(100)) >= s.no_percent;
                        ctx.state_mut(|p| {
                            p.votes.insert(tx, yes);
                            p.last_voted = Some(tx);
                            if !yes {
                                p.decisions.insert(tx, false);
                                p.last_decided = Some(tx);
                            }
                        });
                        persist(&ctx).await;
                        if yes {
                            ctx.spawn(format!("in doubt {tx}"), in_doubt(ctx.clone(), s, tx));
                        }
                        yes
                    }
                };
                ctx.reply(&m, &TpcMsg::Vote { tx, yes });
            }
            TpcMsg::Decision { tx, commit } => learn(&ctx, tx, commit).await,
            _ => {}
        }
    }
}

async fn persist(ctx: &Ctx<AsyncTpc>) {
    let (votes, decisions) = ctx.state(|p| (p.votes.clone(), p.decisions.clone()));
    ctx.write("votes", &votes).await;
    ctx.write("decisions", &decisions).await;
    ctx.sync().await;
}

async fn learn(ctx: &Ctx<AsyncTpc>, tx: u64, commit: bool) {
    let new = ctx.state_mut(|p| {
        if p.decisions.contains_key(&tx) {
            return false;
        }
        p.decisions.insert(tx, commit);
        p.last_decided = Some(tx);
        true
    });
    if new {
        persist(ctx).await;
        let what = if commit { "committed" } else { "aborted" };
        ctx.observe(format!("tx {tx} {what}"));
    }
}

/// After a yes vote: ask the coordinator for the outcome until it is known.
async fn in_doubt(ctx: Ctx<AsyncTpc>, s: TpcSettings, tx: u64) {
    // A bound on asking: a coordinator gone for good leaves the
    // transaction in doubt, which is 2PC's known blocking case.
    for _ in 0..1000 {
        ctx.sleep(s.query_interval).await;
        if ctx.state(|p| p.decisions.contains_key(&tx)) {
            return;
        }
        let query = TpcMsg::Query { tx };
        if let Ok(TpcMsg::Decision { tx, commit }) =
            ctx.call(NodeId(0), &query, s.query_interval).await
        {
            learn(&ctx, tx, commit).await;
            return;
        }
    }
}

type Node = Async<AsyncTpc>;

/// One of `twophase`'s invariants, over transactions and participants.
type Rule = fn(&[u64], &[(NodeId, &Participant)]) -> Result<(), String>;

/// The participants' records and what changed, as `twophase`'s invariants
/// read them.
fn check(v: &View<'_, Node>, f: Rule) -> Result<(), String> {
    let states: Vec<(NodeId, std::cell::Ref<'_, Participant>)> = v
        .up()
        .filter(|(id, _)| *id != NodeId(0))
        .map(|(id, n)| (id, n.state()))
        .collect();
    let parts: Vec<(NodeId, &Participant)> = states.iter().map(|(id, p)| (*id, &**p)).collect();
    let changed = match v.changed().filter(|_| !v.is_end()) {
        Some(NodeId(0)) => Changed::Coordinator,
        Some(id) => match parts.iter().find(|(p, _)| *p == id) {
            Some((_, p)) => Changed::Participant(p),
            None => Changed::Coordinator,
        },
        None => Changed::Unknown,
    };
    f(&transactions_to_check(changed, &parts), &parts)
}

/// Async two-phase commit for the registry: node 0 coordinates, and takes
/// the workload.
pub fn protocol() -> Spec<Node> {
    Spec::new(
        "async-twophase",
        "two-phase commit written as async nodes (call with timeout, a task per transaction); node 0 coordinates",
        |config, params| {
            let s = TpcSettings::from_params(params)?;
            Ok(Simulation::new(config, move |id| {
                Async::new(if id == NodeId(0) {
                    AsyncTpc::Coordinator(s)
                } else {
                    AsyncTpc::Participant(s)
                })
            })
            .always(
                "atomicity",
                "no transaction is committed by one participant and aborted by another",
                |v| check(v, atomicity_of),
            )
            .always(
                "commit-needs-all-votes",
                "a committed transaction was voted yes by every participant",
                |v| check(v, commit_needs_all_votes_of),
            ))
        },
    )
    .with_params(TpcSettings::docs())
    .min_nodes(2)
    .clients(|_, _| vec![NodeId(0)])
}
