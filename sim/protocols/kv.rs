//! A replicated key-value store on the built-in Raft: clients put, get,
//! append and compare-and-set through the leader, with client sessions so
//! that a retried operation is executed once, and reads that go through
//! the log, so that every read is linearizable.
//!
//! Nodes `0..servers` are Raft servers running the store as their state
//! machine; the rest are clients, which take the workload. A client sends
//! each operation to the server it believes leads; a server that does not
//! lead answers with a redirect (and whom it believes leads); the leader
//! appends the operation to the log, and every server applies committed
//! operations in order. The session table — each client's last sequence
//! number and its result — is part of the replicated state: a retry of an
//! operation already applied is answered from it, not executed again. A
//! client that hears nothing within `timeout` retries with the next
//! server, up to `attempts` times, then gives up (its outcome unknown).
//! A client numbers its operations from a block it reserved on its disk,
//! so that one restarted after a crash never sends a number the session
//! table has seen (which would answer its new operation with an old
//! result).
//!
//! Every operation is recorded in the clients' history (`ctx.invoke`,
//! `ctx.complete`): `ok` with the result, `fail` for a compare-and-set
//! that did not apply, `info` for one given up on. The scenarios check
//! it: `[check] linearizable = "kv"`.
//!
//! **Invariants.** Raft's (`election-safety`, `log-matching`,
//! `leader-completeness`, `state-machine-safety`), over the servers; and
//! `linearizable` from the scenario.
//!
//! **Fault scenario** (`scenarios/kv-partitions.toml`): three servers,
//! three clients, loss, a partition that isolates the leader's side and
//! heals, and a server crash with restart.
//!
//! **Broken twins**, each invisible to Raft's invariants and caught only
//! by the linearizability check:
//! - `local_reads = true` (`scenarios/kv-bug-stale-reads.toml`): a server
//!   that believes it leads answers a read from its own state at once,
//!   without the log and without confirming it still leads; cut off by a
//!   partition, a deposed leader serves stale values.
//! - `replicated_sessions = false`
//!   (`scenarios/kv-bug-sessions-not-replicated.toml`): the session table
//!   lives only in the leader's memory, so after a change of leader a
//!   client's retry of an append already applied is appended again.

use super::raft::{self, Command, HasRaft, Raft, RaftMsg, RaftSettings, RaftTimer};
use super::{ParamDoc, Spec};
use crate::history::{Phase, Value};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Input, Node, NodeId, TimerId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KvOp {
    Get { key: u32 },
    Put { key: u32, value: i64 },
    Append { key: u32, value: i64 },
    Cas { key: u32, old: i64, new: i64 },
}

impl KvOp {
    /// The history's function name, key and argument.
    fn history(&self) -> (&'static str, Value, Value) {
        match *self {
            KvOp::Get { key } => ("get", key.into(), Value::Nil),
            KvOp::Put { key, value } => ("put", key.into(), value.into()),
            KvOp::Append { key, value } => ("append", key.into(), value.into()),
            KvOp::Cas { key, old, new } => ("cas", key.into(), vec![old, new].into()),
        }
    }
}

/// A log entry: a client's operation with its session number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KvCmd {
    pub client: NodeId,
    pub seq: u64,
    pub op: KvOp,
}

/// An operation's result: whether it applied, and its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Outcome {
    pub applied: bool,
    pub value: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvMsg {
    Raft(RaftMsg<KvCmd>),
    Request { seq: u64, op: KvOp },
    Reply { seq: u64, outcome: Outcome },
    Redirect { seq: u64, leader: Option<NodeId> },
}

impl From<RaftMsg<KvCmd>> for KvMsg {
    fn from(m: RaftMsg<KvCmd>) -> KvMsg {
        KvMsg::Raft(m)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvTimer {
    Raft(RaftTimer),
    /// The reply to request `seq` is overdue.
    Retry {
        seq: u64,
    },
}

impl From<RaftTimer> for KvTimer {
    fn from(t: RaftTimer) -> KvTimer {
        KvTimer::Raft(t)
    }
}

/// Settings shared by every node.
#[derive(Clone, Copy, Debug, Hash)]
pub struct KvSettings {
    pub raft: RaftSettings,
    pub servers: u32,
    pub keys: u32,
    pub timeout: Duration,
    pub attempts: u32,
    pub local_reads: bool,
    pub replicated_sessions: bool,
}

/// A server: Raft, and the store it replicates.
#[derive(Clone, Debug, Hash)]
pub struct Server {
    s: KvSettings,
    pub raft: Raft<KvCmd>,
    pub store: BTreeMap<u32, Value>,
    /// Each client's last applied sequence number and its result.
    sessions: BTreeMap<NodeId, (u64, Outcome)>,
    /// The broken twin's session table: the leader's memory only.
    local_sessions: BTreeMap<NodeId, (u64, Outcome)>,
    /// Requests this server appended as leader, awaiting their result.
    waiting: BTreeMap<(NodeId, u64), ()>,
}

/// A client: one operation at a time.
#[derive(Clone, Debug, Hash)]
pub struct Client {
    s: KvSettings,
    seq: u64,
    leader: NodeId,
    pending: Option<(u64, KvOp, u32, TimerId)>,
    queued: std::collections::VecDeque<KvOp>,
    /// Written values are `first_value` plus the operation's number.
    first_value: i64,
    /// Operations numbered so far, over every start of this client.
    numbered: u64,
    /// Numbers below this are reserved on disk for this start.
    reserved: u64,
}

/// The disk key of the numbers a client has reserved.
const RESERVED: &str = "reserved";
/// How many numbers a client reserves at a time.
const BLOCK: u64 = 1000;

#[derive(Clone, Debug, Hash)]
pub enum KvNode {
    Server(Box<Server>),
    Client(Client),
}

impl HasRaft<KvCmd> for KvNode {
    fn raft(&self) -> Option<&Raft<KvCmd>> {
        match self {
            KvNode::Server(s) => Some(&s.raft),
            KvNode::Client(_) => None,
        }
    }
}

impl KvNode {
    pub fn new(id: NodeId, s: KvSettings) -> KvNode {
        if id.0 < s.servers {
            KvNode::Server(Box::new(Server {
                s,
                raft: Raft::new(s.raft),
                store: BTreeMap::new(),
                sessions: BTreeMap::new(),
                local_sessions: BTreeMap::new(),
                waiting: BTreeMap::new(),
            }))
        } else {
            KvNode::Client(Client {
                s,
                seq: 0,
                leader: NodeId(id.0 % s.servers.max(1)),
                pending: None,
                queued: Default::default(),
                // Unique values per client, so a value read names its write.
                first_value: i64::from(id.0) * 1_000_000,
                numbered: 0,
                reserved: 0,
            })
        }
    }
}

/// Applies `op` to `store`.
fn execute(store: &mut BTreeMap<u32, Value>, op: &KvOp) -> Outcome {
    let read =
        |store: &BTreeMap<u32, Value>, key: u32| store.get(&key).cloned().unwrap_or_default();
    match *op {
        KvOp::Get { key } => Outcome {
            applied: true,
            value: read(store, key),
        },
        KvOp::Put { key, value } => {
            store.insert(key, value.into());
            Outcome {
                applied: true,
                value: value.into(),
            }
        }
        KvOp::Append { key, value } => {
            let list = match read(store, key) {
                Value::Nil => vec![Value::Int(value)],
                Value::List(mut items) => {
                    items.push(value.into());
                    items
                }
                other => vec![other, value.into()],
            };
            store.insert(key, Value::List(list));
            Outcome {
                applied: true,
                value: value.into(),
            }
        }
        KvOp::Cas { key, old, new } => {
            let applied = read(store, key) == Value::Int(old);
            if applied {
                store.insert(key, new.into());
            }
            Outcome {
                applied,
                value: vec![old, new].into(),
            }
        }
    }
}

impl Server {
    /// Applies what Raft newly committed, answering the clients this
    /// server is waiting for.
    fn apply_committed(&mut self, ctx: &mut Context<'_, KvNode>, from: usize) {
        let fresh: Vec<KvCmd> = self.raft.applied[from..].to_vec();
        for cmd in fresh {
            let seen = self
                .sessions
                .get(&cmd.client)
                .filter(|(seq, _)| *seq >= cmd.seq)
                .map(|(_, out)| out.clone());
            let outcome = match seen {
                // Executed before: the replicated session table says so.
                Some(out) if self.s.replicated_sessions => out,
                _ => execute(&mut self.store, &cmd.op),
            };
            self.sessions.insert(cmd.client, (cmd.seq, outcome.clone()));
            if self.waiting.remove(&(cmd.client, cmd.seq)).is_some() {
                if !self.s.replicated_sessions {
                    self.local_sessions
                        .insert(cmd.client, (cmd.seq, outcome.clone()));
                }
                ctx.send(
                    cmd.client,
                    &KvMsg::Reply {
                        seq: cmd.seq,
                        outcome,
                    },
                );
            }
        }
    }

    fn on_request(&mut self, ctx: &mut Context<'_, KvNode>, from: NodeId, seq: u64, op: KvOp) {
        if !self.raft.is_leader() {
            let leader = self.raft.leader.filter(|&l| l != ctx.id());
            ctx.send(from, &KvMsg::Redirect { seq, leader });
            return;
        }
        // The broken twin: a read served from this server's own state,
        // trusting that it still leads.
        if self.s.local_reads {
            if let KvOp::Get { .. } = op {
                let outcome = execute(&mut self.store, &op);
                ctx.send(from, &KvMsg::Reply { seq, outcome });
                return;
            }
        }
        let sessions = if self.s.replicated_sessions {
            &self.sessions
        } else {
            &self.local_sessions
        };
        if let Some((last, outcome)) = sessions.get(&from) {
            if *last == seq {
                let outcome = outcome.clone();
                ctx.send(from, &KvMsg::Reply { seq, outcome });
                return;
            }
            if *last > seq {
                return; // an old retry; its answer went out long ago
            }
        }
        if self.waiting.contains_key(&(from, seq)) {
            return; // already in the log, awaiting commit
        }
        self.waiting.insert((from, seq), ());
        let before = self.raft.applied.len();
        self.raft.command(
            ctx,
            KvCmd {
                client: from,
                seq,
                op,
            },
        );
        self.apply_committed(ctx, before);
    }
}

impl Client {
    /// Starts (again): numbers its operations on from those reserved
    /// before. A restarted client that numbered from 1 again would send
    /// sequence numbers the servers' session table has seen, which takes
    /// its new operations for retries of the old ones and answers them
    /// with the old results; and it would write values already written.
    fn start(&mut self, ctx: &mut Context<'_, KvNode>) {
        let from = ctx.disk().read(RESERVED).unwrap_or(0);
        self.seq = from;
        self.numbered = from;
        self.reserve(ctx, from);
    }

    /// Reserves the next block of numbers from `from`, durably.
    fn reserve(&mut self, ctx: &mut Context<'_, KvNode>, from: u64) {
        self.reserved = from + BLOCK;
        ctx.disk().write(RESERVED, &self.reserved);
        ctx.disk().sync();
    }

    /// Turns a workload input into an operation: mostly puts and appends of
    /// fresh values, gets, and some compare-and-sets.
    fn op_of(&mut self, ctx: &mut Context<'_, KvNode>, input: Input) -> KvOp {
        let key = (input.value / 4) as u32 % self.s.keys.max(1);
        self.numbered += 1;
        if self.numbered >= self.reserved {
            self.reserve(ctx, self.numbered);
        }
        let value = self.first_value + self.numbered as i64;
        match input.value % 4 {
            0 => KvOp::Get { key },
            1 => KvOp::Put { key, value },
            2 => KvOp::Append { key, value },
            _ => KvOp::Cas {
                key,
                old: (input.value / 16 % 3) as i64,
                new: value,
            },
        }
    }

    fn send(&mut self, ctx: &mut Context<'_, KvNode>) {
        let Some((seq, op, attempts, _)) = self.pending.clone() else {
            return;
        };
        let timer = ctx.set_timer(self.s.timeout, KvTimer::Retry { seq });
        ctx.send(
            self.leader,
            &KvMsg::Request {
                seq,
                op: op.clone(),
            },
        );
        self.pending = Some((seq, op, attempts, timer));
    }

    fn start_next(&mut self, ctx: &mut Context<'_, KvNode>) {
        if self.pending.is_some() {
            return;
        }
        let Some(op) = self.queued.pop_front() else {
            return;
        };
        self.seq += 1;
        let (f, key, value) = op.history();
        ctx.invoke(u64::from(ctx.id().0), f, Some(key), value);
        self.pending = Some((self.seq, op, 1, TimerId(0)));
        self.send(ctx);
    }

    fn finish(&mut self, ctx: &mut Context<'_, KvNode>, phase: Phase, value: Value) {
        let Some((_, op, _, timer)) = self.pending.take() else {
            return;
        };
        ctx.cancel_timer(timer);
        let (f, key, _) = op.history();
        ctx.complete(u64::from(ctx.id().0), phase, f, Some(key), value);
        self.start_next(ctx);
    }

    fn on_reply(&mut self, ctx: &mut Context<'_, KvNode>, from: NodeId, seq: u64, out: Outcome) {
        if self.pending.as_ref().is_none_or(|p| p.0 != seq) {
            return;
        }
        self.leader = from;
        let phase = if out.applied { Phase::Ok } else { Phase::Fail };
        self.finish(ctx, phase, out.value);
    }

    fn on_redirect(&mut self, ctx: &mut Context<'_, KvNode>, seq: u64, leader: Option<NodeId>) {
        let Some((pending, _, _, timer)) = &self.pending else {
            return;
        };
        if *pending != seq {
            return;
        }
        ctx.cancel_timer(*timer);
        self.leader = leader.unwrap_or(NodeId((self.leader.0 + 1) % self.s.servers.max(1)));
        self.send(ctx);
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_, KvNode>, seq: u64) {
        let Some((pending, op, attempts, _)) = self.pending.clone() else {
            return;
        };
        if pending != seq {
            return;
        }
        if attempts >= self.s.attempts {
            // It may or may not have happened.
            self.finish(ctx, Phase::Info, Value::Nil);
            return;
        }
        self.leader = NodeId((self.leader.0 + 1) % self.s.servers.max(1));
        self.pending = Some((seq, op, attempts + 1, TimerId(0)));
        self.send(ctx);
    }
}

impl Node for KvNode {
    type Msg = KvMsg;
    type Timer = KvTimer;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        match self {
            // Volatile state machine: rebuilt from the log as it commits.
            KvNode::Server(s) => s.raft.start(ctx),
            KvNode::Client(c) => c.start(ctx),
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: KvMsg) {
        match (self, msg) {
            (KvNode::Server(s), KvMsg::Raft(m)) => {
                let before = s.raft.applied.len();
                s.raft.handle_message(ctx, from, m);
                s.apply_committed(ctx, before);
            }
            (KvNode::Server(s), KvMsg::Request { seq, op }) => s.on_request(ctx, from, seq, op),
            (KvNode::Client(c), KvMsg::Reply { seq, outcome }) => {
                c.on_reply(ctx, from, seq, outcome)
            }
            (KvNode::Client(c), KvMsg::Redirect { seq, leader }) => c.on_redirect(ctx, seq, leader),
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId, tag: KvTimer) {
        match (self, tag) {
            (KvNode::Server(s), KvTimer::Raft(t)) => {
                let before = s.raft.applied.len();
                s.raft.handle_timer(ctx, timer, t);
                s.apply_committed(ctx, before);
            }
            (KvNode::Client(c), KvTimer::Retry { seq }) => c.on_timeout(ctx, seq),
            _ => {}
        }
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        if let KvNode::Client(c) = self {
            let op = c.op_of(ctx, input);
            c.queued.push_back(op);
            c.start_next(ctx);
        }
    }

    /// A server's Raft role; a client plays none.
    fn role(&self) -> Option<&'static str> {
        match self {
            KvNode::Server(s) => Some(s.raft.role_word()),
            KvNode::Client(_) => None,
        }
    }
}

// Raft's commands must hash and compare: `KvCmd` does.
const _: fn() = || {
    fn command<C: Command>() {}
    command::<KvCmd>();
};

/// The key-value store for the registry.
pub fn protocol() -> Spec<KvNode> {
    Spec::new(
        "kv",
        "a replicated key-value store on Raft: sessions, redirects, reads through the log",
        |config, params| {
            let servers = params.int("servers")? as u32;
            let s = KvSettings {
                raft: RaftSettings {
                    election_min: params.duration("election_min")?,
                    election_max: params.duration("election_max")?,
                    heartbeat: params.duration("heartbeat")?,
                    batch: 64,
                    check_log: true,
                    persist_vote: true,
                    cluster: servers,
                },
                servers,
                keys: params.int("keys")? as u32,
                timeout: params.duration("timeout")?,
                attempts: params.int("attempts")? as u32,
                local_reads: params.flag("local_reads")?,
                replicated_sessions: params.flag("replicated_sessions")?,
            };
            if config.nodes <= servers {
                return Err(crate::scheduler::SimError::Config(format!(
                    "kv needs clients: {} nodes with {servers} servers leaves none",
                    config.nodes
                )));
            }
            Ok(Simulation::new(config, move |id| KvNode::new(id, s))
                .hashable()
                .cloneable()
                .monitor(
                    "election-safety",
                    "at most one leader per term",
                    raft::Leaders::default,
                    raft::election_safety,
                )
                .monitor(
                    "log-matching",
                    "logs with an entry of equal index and term are identical up to it",
                    raft::Prefixes::default,
                    raft::log_matching,
                )
                .monitor(
                    "leader-completeness",
                    "a leader of the newest term holds every committed entry",
                    raft::Committed::<KvCmd>::default,
                    raft::leader_completeness,
                )
                .monitor(
                    "state-machine-safety",
                    "no two servers apply different commands at one index",
                    raft::Applied::<KvCmd>::default,
                    raft::state_machine_safety,
                ))
        },
    )
    .roles(&["leader", "candidate", "follower"])
    .param(ParamDoc::int(
        "servers",
        3,
        (1, 99),
        "nodes 0..servers are Raft servers; the rest are clients",
    ))
    .param(ParamDoc::int(
        "keys",
        3,
        (1, 1_000_000),
        "keys the clients use",
    ))
    .param(ParamDoc::duration(
        "timeout",
        Duration::from_millis(300),
        "how long a client waits before retrying with the next server",
    ))
    .param(ParamDoc::int(
        "attempts",
        8,
        (1, 1000),
        "sends per operation before a client gives up (outcome unknown)",
    ))
    .param(ParamDoc::duration(
        "election_min",
        Duration::from_millis(150),
        "shortest election timeout",
    ))
    .param(ParamDoc::duration(
        "election_max",
        Duration::from_millis(300),
        "longest election timeout",
    ))
    .param(ParamDoc::duration(
        "heartbeat",
        Duration::from_millis(50),
        "how often a leader sends appends/heartbeats",
    ))
    .param(ParamDoc::flag(
        "local_reads",
        false,
        "a leader serves reads from its own state without the log; true is a broken twin",
    ))
    .param(ParamDoc::flag(
        "replicated_sessions",
        true,
        "the session table is part of the replicated state; false is a broken twin",
    ))
    .min_nodes(2)
    .clients(|nodes, params| {
        let servers = params.int("servers").unwrap_or(3) as u32;
        (servers.min(nodes)..nodes).map(NodeId).collect()
    })
}
