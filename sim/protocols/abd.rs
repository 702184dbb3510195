//! ABD: a read/write register replicated over a majority quorum (Attiya,
//! Bar-Noy and Dolev, "Sharing memory robustly in message-passing
//! systems", 1995), linearizable while a majority of servers is up.
//!
//! Nodes `0..servers` are servers; every other node is a client. Each
//! client writes `writes` values and then reads `reads` times, one
//! operation at a time, sending its k-th operation to server `(id + k) mod servers`. The
//! server that receives an operation coordinates it in two phases:
//!
//! 1. it asks every server (itself included) for its (sequence, value)
//!    and waits for a majority; a write takes the highest sequence plus
//!    one, tagged with its own id, a read takes the highest pair;
//! 2. it has every server record that pair (a server keeps a pair only if
//!    its sequence is higher than its own, synced to its disk before it
//!    acknowledges, so a restarted server takes it up again) and waits for
//!    a majority of acknowledgements; then it answers the client.
//!
//! A read's second phase (the *write-back*) is what makes reads
//! linearizable: once a read returns a value, a majority holds it, so no
//! later read can miss it.
//!
//! A server coordinates one operation at a time. Another that arrives
//! meanwhile waits in a queue (`queue_requests = true`), or is ignored
//! (`false`, as in stateright's model of this algorithm: its actor model
//! leaves an ignored message in the network to be delivered later, which
//! `dsim explore --keep-ignored` reproduces; in a random run the client
//! then never hears back).
//!
//! **Checks.** Every client records its operations in the clients'
//! history: scenarios check it with `[check] linearizable = "register"`.
//! `seq-monotonic`: no server's sequence ever goes back.
//!
//! **Broken twin** (`write_back = false`,
//! `scenarios/abd-bug-no-write-back.toml`): a read answers after its first
//! phase. With three servers, a read can return a value only one server
//! has recorded (a write still under way), and a later read, asking two
//! other servers, returns the older value: not linearizable.

use super::{ParamDoc, Spec};
use crate::history::{Phase, Value};
use crate::scheduler::Simulation;
use crate::{Context, Node, NodeId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The disk key of a server's (sequence, value) pair.
const PAIR: &str = "pair";

/// A version: a logical clock and the id of the server that wrote it.
pub type Seq = (u64, u32);

/// The protocol's messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AbdMsg {
    /// Client → server: write `value`.
    Put {
        req: u64,
        value: i64,
    },
    /// Client → server: read.
    Get {
        req: u64,
    },
    PutOk {
        req: u64,
    },
    GetOk {
        req: u64,
        value: Option<i64>,
    },
    /// Coordinator → server: your pair, please.
    Query {
        req: u64,
    },
    AckQuery {
        req: u64,
        seq: Seq,
        value: Option<i64>,
    },
    /// Coordinator → server: keep this pair if it is newer.
    Record {
        req: u64,
        seq: Seq,
        value: Option<i64>,
    },
    AckRecord {
        req: u64,
    },
}

/// Settings shared by every node.
#[derive(Clone, Copy, Debug, Hash)]
pub struct AbdSettings {
    pub servers: u32,
    pub writes: u32,
    pub reads: u32,
    pub write_back: bool,
    pub queue_requests: bool,
}

impl AbdSettings {
    fn majority(&self) -> usize {
        self.servers as usize / 2 + 1
    }
}

/// An operation a server coordinates.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Request {
    Write(i64),
    Read,
}

#[derive(Clone, Debug, Hash)]
enum Round {
    /// Waiting for a majority of pairs.
    Query {
        req: u64,
        client: NodeId,
        op: Request,
        pairs: BTreeMap<NodeId, (Seq, Option<i64>)>,
    },
    /// Waiting for a majority of acknowledgements.
    Record {
        req: u64,
        client: NodeId,
        read: Option<Option<i64>>,
        acks: BTreeSet<NodeId>,
    },
}

/// A server: a replica of the register, and a coordinator of operations.
#[derive(Clone, Debug, Hash)]
pub struct Server {
    pub seq: Seq,
    pub value: Option<i64>,
    round: Option<Round>,
    waiting: VecDeque<(NodeId, u64, Request)>,
}

impl Server {
    /// Keeps `(seq, value)` if `seq` is higher than its own, durable
    /// before the caller acknowledges it.
    fn keep(&mut self, ctx: &mut Context<'_, Abd>, seq: Seq, value: Option<i64>) {
        if seq > self.seq {
            self.seq = seq;
            self.value = value;
            let disk = ctx.disk();
            disk.write(PAIR, &(seq, value));
            disk.sync();
        }
    }
}

/// A client: `writes` writes, then `reads` reads.
#[derive(Clone, Debug, Hash)]
pub struct Client {
    awaiting: Option<u64>,
    done: u32,
}

/// Any node.
#[derive(Clone, Debug, Hash)]
pub enum AbdNode {
    Server(Server),
    Client(Client),
}

/// One node with its settings (shared, not part of its state).
#[derive(Clone)]
pub struct Abd {
    settings: AbdSettings,
    pub node: AbdNode,
}

impl std::hash::Hash for Abd {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.node.hash(h);
    }
}

impl Abd {
    pub fn new(id: NodeId, settings: AbdSettings) -> Abd {
        let node = if id.0 < settings.servers {
            AbdNode::Server(Server {
                seq: (0, id.0),
                value: None,
                round: None,
                waiting: VecDeque::new(),
            })
        } else {
            AbdNode::Client(Client {
                awaiting: None,
                done: 0,
            })
        };
        Abd { settings, node }
    }

    /// The server, if this node is one.
    pub fn server(&self) -> Option<&Server> {
        match &self.node {
            AbdNode::Server(s) => Some(s),
            AbdNode::Client(_) => None,
        }
    }

    fn peers(&self, me: NodeId) -> impl Iterator<Item = NodeId> {
        (0..self.settings.servers)
            .map(NodeId)
            .filter(move |&p| p != me)
    }

    /// A client's next operation, if it has one left.
    fn next_op(&mut self, ctx: &mut Context<'_, Self>) {
        let s = self.settings;
        let AbdNode::Client(c) = &mut self.node else {
            return;
        };
        if c.done >= s.writes + s.reads {
            c.awaiting = None;
            return;
        }
        let id = u64::from(ctx.id().0);
        let req = (u64::from(c.done) + 1) * id;
        let to = NodeId(((id + u64::from(c.done)) % u64::from(s.servers)) as u32);
        c.awaiting = Some(req);
        if c.done < s.writes {
            let clients = i64::from(ctx.node_count() - s.servers);
            let value = i64::from(c.done) * clients + (id as i64 - i64::from(s.servers)) + 1;
            ctx.invoke(id, "write", None, Value::Int(value));
            ctx.send(to, &AbdMsg::Put { req, value });
        } else {
            ctx.invoke(id, "read", None, Value::Nil);
            ctx.send(to, &AbdMsg::Get { req });
        }
    }

    /// Starts coordinating `op` for `client`.
    fn begin(&mut self, ctx: &mut Context<'_, Self>, client: NodeId, req: u64, op: Request) {
        let me = ctx.id();
        for p in self.peers(me).collect::<Vec<_>>() {
            ctx.send(p, &AbdMsg::Query { req });
        }
        let AbdNode::Server(s) = &mut self.node else {
            return;
        };
        let pairs = BTreeMap::from([(me, (s.seq, s.value))]);
        s.round = Some(Round::Query {
            req,
            client,
            op,
            pairs,
        });
        self.progress(ctx);
    }

    /// Moves the current round on once it has a majority.
    fn progress(&mut self, ctx: &mut Context<'_, Self>) {
        let settings = self.settings;
        let me = ctx.id();
        let peers: Vec<NodeId> = self.peers(me).collect();
        let AbdNode::Server(s) = &mut self.node else {
            return;
        };
        match s.round.take() {
            Some(Round::Query {
                req,
                client,
                op,
                pairs,
            }) if pairs.len() >= settings.majority() => {
                let (seq, value) = pairs.values().max_by_key(|(seq, _)| *seq).copied().unwrap();
                let (seq, value, read) = match op {
                    Request::Write(v) => ((seq.0 + 1, me.0), Some(v), None),
                    Request::Read => (seq, value, Some(value)),
                };
                if let (Some(v), false) = (read, settings.write_back) {
                    ctx.send(client, &AbdMsg::GetOk { req, value: v });
                    return self.next_waiting(ctx);
                }
                for &p in &peers {
                    ctx.send(p, &AbdMsg::Record { req, seq, value });
                }
                s.keep(ctx, seq, value);
                s.round = Some(Round::Record {
                    req,
                    client,
                    read,
                    acks: BTreeSet::from([me]),
                });
                self.progress(ctx)
            }
            Some(Round::Record {
                req,
                client,
                read,
                acks,
            }) if acks.len() >= settings.majority() => {
                match read {
                    Some(value) => ctx.send(client, &AbdMsg::GetOk { req, value }),
                    None => ctx.send(client, &AbdMsg::PutOk { req }),
                }
                self.next_waiting(ctx)
            }
            round => s.round = round,
        }
    }

    /// Takes the next queued operation, if any.
    fn next_waiting(&mut self, ctx: &mut Context<'_, Self>) {
        let AbdNode::Server(s) = &mut self.node else {
            return;
        };
        if let Some((client, req, op)) = s.waiting.pop_front() {
            self.begin(ctx, client, req, op);
        }
    }

    fn request(&mut self, ctx: &mut Context<'_, Self>, client: NodeId, req: u64, op: Request) {
        let queue = self.settings.queue_requests;
        let AbdNode::Server(s) = &mut self.node else {
            return;
        };
        match (&s.round, queue) {
            (None, _) => self.begin(ctx, client, req, op),
            (Some(_), true) => s.waiting.push_back((client, req, op)),
            (Some(_), false) => {}
        }
    }
}

impl Node for Abd {
    type Msg = AbdMsg;
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        // A restarted server takes up the pair it last acknowledged: a
        // majority was counted on to hold it.
        if let AbdNode::Server(s) = &mut self.node {
            if let Some((seq, value)) = ctx.disk().read::<(Seq, Option<i64>)>(PAIR) {
                s.seq = seq;
                s.value = value;
            }
        }
        self.next_op(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: AbdMsg) {
        match msg {
            AbdMsg::Put { req, value } => self.request(ctx, from, req, Request::Write(value)),
            AbdMsg::Get { req } => self.request(ctx, from, req, Request::Read),
            AbdMsg::Query { req } => {
                if let AbdNode::Server(s) = &self.node {
                    let (seq, value) = (s.seq, s.value);
                    ctx.send(from, &AbdMsg::AckQuery { req, seq, value });
                }
            }
            AbdMsg::Record { req, seq, value } => {
                if let AbdNode::Server(s) = &mut self.node {
                    s.keep(ctx, seq, value);
                    ctx.send(from, &AbdMsg::AckRecord { req });
                }
            }
            AbdMsg::AckQuery { req, seq, value } => {
                if let AbdNode::Server(Server {
                    round: Some(Round::Query { req: r, pairs, .. }),
                    ..
                }) = &mut self.node
                {
                    if *r == req {
                        pairs.insert(from, (seq, value));
                        self.progress(ctx);
                    }
                }
            }
            AbdMsg::AckRecord { req } => {
                if let AbdNode::Server(Server {
                    round: Some(Round::Record { req: r, acks, .. }),
                    ..
                }) = &mut self.node
                {
                    if *r == req && acks.insert(from) {
                        self.progress(ctx);
                    }
                }
            }
            AbdMsg::PutOk { req } => self.answered(ctx, req, "write", Value::Nil),
            AbdMsg::GetOk { req, value } => {
                let value = value.map_or(Value::Nil, Value::Int);
                self.answered(ctx, req, "read", value)
            }
        }
    }
}

impl Abd {
    fn answered(&mut self, ctx: &mut Context<'_, Self>, req: u64, f: &str, value: Value) {
        let AbdNode::Client(c) = &mut self.node else {
            return;
        };
        if c.awaiting != Some(req) {
            return;
        }
        c.done += 1;
        ctx.complete(u64::from(ctx.id().0), Phase::Ok, f, None, value);
        self.next_op(ctx);
    }
}

/// `seq-monotonic`'s summary: every server's sequence when last seen.
#[derive(Clone, Default, Hash)]
pub struct Seen(pub(crate) BTreeMap<NodeId, Seq>);

/// No server's sequence ever goes back.
pub fn seq_monotonic(seen: &mut Seen, v: &View<'_, Abd>) -> Result<(), String> {
    for (id, n) in v.touched() {
        let Some(s) = n.server() else { continue };
        if let Some(&before) = seen.0.get(&id) {
            if s.seq < before {
                return Err(format!(
                    "server {id}'s sequence went back from {before:?} to {:?}",
                    s.seq
                ));
            }
        }
        seen.0.insert(id, s.seq);
    }
    Ok(())
}

/// The model stateright's linearizable-register example checks, to explore
/// (benches and tests compare the two): 2 servers and `clients` clients
/// that write once and then read once, their history checked as a
/// register, explored within `budgets`. Its nodes hash; copying states
/// ([`Simulation::cloneable`]) is left to the caller.
pub fn stateright_model(clients: u32, budgets: crate::Budgets) -> Simulation<Abd> {
    let settings = AbdSettings {
        servers: 2,
        writes: 1,
        reads: 1,
        write_back: true,
        queue_requests: false,
    };
    let mut config = crate::SimConfig::new(1, 2 + clients);
    config.strategy = crate::Strategy::Explore {
        path: Vec::new(),
        budgets,
    };
    let check = crate::history::Linearizability {
        model: "register".into(),
        initial: crate::history::Value::Nil,
    };
    let history = crate::protocols::linearizable(check).expect("the register model exists");
    Simulation::new(config, move |id| Abd::new(id, settings))
        .hashable()
        .invariant(history)
}

/// The ABD register for the registry.
pub fn protocol() -> Spec<Abd> {
    Spec::new(
        "abd",
        "a linearizable register replicated over majority quorums (ABD); nodes 0..servers serve, the rest are clients",
        |config, params| {
            let settings = AbdSettings {
                servers: params.int("servers")? as u32,
                writes: params.int("writes")? as u32,
                reads: params.int("reads")? as u32,
                write_back: params.flag("write_back")?,
                queue_requests: params.flag("queue_requests")?,
            };
            if config.nodes <= settings.servers {
                return Err(crate::scheduler::SimError::Config(format!(
                    "abd needs clients: {} nodes with {} servers leaves none",
                    config.nodes, settings.servers
                )));
            }
            Ok(Simulation::new(config, move |id| Abd::new(id, settings))
                .hashable()
                .cloneable()
                .monitor(
                    "seq-monotonic",
                    "no server's sequence ever goes back",
                    Seen::default,
                    seq_monotonic,
                ))
        },
    )
    .param(ParamDoc::int(
        "servers",
        3,
        (1, 99),
        "nodes 0..servers are servers; the rest are clients",
    ))
    .param(ParamDoc::int(
        "writes",
        1,
        (0, 1000),
        "writes each client makes, one at a time",
    ))
    .param(ParamDoc::int(
        "reads",
        1,
        (0, 1000),
        "reads each client makes after its writes",
    ))
    .param(ParamDoc::flag(
        "write_back",
        true,
        "a read records the value it returns at a majority first; false is the broken twin",
    ))
    .param(ParamDoc::flag(
        "queue_requests",
        true,
        "a busy server queues an operation; false ignores it (stateright's model)",
    ))
    .min_nodes(2)
    .clients(|nodes, params| {
        let servers = params.int("servers").unwrap_or(3) as u32;
        (servers..nodes).map(NodeId).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(seq: Seq) -> Option<Abd> {
        let settings = AbdSettings {
            servers: 1,
            writes: 1,
            reads: 1,
            write_back: true,
            queue_requests: true,
        };
        let mut n = Abd::new(NodeId(0), settings);
        if let AbdNode::Server(s) = &mut n.node {
            s.seq = seq;
        }
        Some(n)
    }

    #[test]
    fn seq_monotonic_catches_a_sequence_going_back() {
        let mut seen = Seen::default();
        assert!(seq_monotonic(&mut seen, &View::new(&[server((2, 0))])).is_ok());
        assert!(seq_monotonic(&mut seen, &View::new(&[server((3, 0))])).is_ok());
        let err = seq_monotonic(&mut seen, &View::new(&[server((1, 0))])).unwrap_err();
        assert!(err.contains("went back"), "{err}");
    }
}
