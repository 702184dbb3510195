//! Echo: request/reply with timeouts and retries, the synchronous style on
//! top of asynchronous messages.
//!
//! Node 0 is the server; every other node is a client. The workload hands
//! clients operations; a client has at most one request outstanding, sends
//! it, and waits for the reply or a timeout, retrying up to `attempts`
//! times with the same request id. The server executes each request (adds
//! its value to a running total) and remembers its reply per request id, so
//! a retry or a duplicated message is answered from memory instead of being
//! executed again.
//!
//! Both sides sync to disk what a restart must not undo: the server each
//! execution (its total, and the reply a retry is answered with), a client
//! its next request id (a restarted client that reused an id would be
//! answered from the server's memory for a request never executed) and the
//! requests it saw acknowledged.
//!
//! **Invariants.** `at-most-once`: every request a client saw acknowledged
//! was executed at most once by the server. `acked-were-executed`: every
//! acknowledged request was executed. After an event each looks only at
//! the request the event touched (the server's latest execution, or a
//! client's latest acknowledgement), so a check costs one request however
//! many clients and requests there are; at the end, at every request.
//!
//! **Fault scenario** (`scenarios/echo-lossy.toml`): 5% loss, 2% duplication,
//! reordering, latencies from 1 to 40 ms against a 50 ms timeout, so replies
//! are lost and retries race the originals.
//!
//! **Broken twin** (`dedup = false`, `scenarios/echo-bug-no-dedup.toml`):
//! the server executes every request it receives. A duplicated request or a
//! retry after a lost reply is executed twice, and `at-most-once` fails.
//! Every seed of 0..1000 exposes it; the first is seed 0
//! (`dsim run scenarios/echo-bug-no-dedup.toml --seed 0`); its shrunk trace is
//! `traces/echo-bug-no-dedup-seed-0.min.trace`.

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Input, Node, NodeId, TimerId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// The protocol's messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EchoMsg {
    Request { seq: u64, value: u64 },
    Reply { seq: u64, total: u64 },
}

/// A client's timer: the reply to request `seq` is overdue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EchoTimer {
    Retry { seq: u64 },
}

/// Settings shared by every node.
#[derive(Clone, Copy, Debug, Hash)]
pub struct EchoSettings {
    pub timeout: Duration,
    pub attempts: u32,
    pub dedup: bool,
}

/// The server: executes requests, remembers replies.
#[derive(Clone, Debug, Default, Hash)]
pub struct Server {
    pub total: u64,
    /// How many times each (client, request id) was executed.
    pub executed: BTreeMap<(NodeId, u64), u32>,
    replies: BTreeMap<(NodeId, u64), u64>,
    dedup: bool,
    /// Ghost state for the invariants: the request executed last.
    pub last_executed: Option<(NodeId, u64)>,
}

#[derive(Clone, Debug, Hash)]
struct Pending {
    seq: u64,
    value: u64,
    attempts: u32,
    timer: TimerId,
}

/// A client: one request outstanding at a time.
#[derive(Clone, Debug, Hash)]
pub struct Client {
    settings: EchoSettings,
    next_seq: u64,
    pending: Option<Pending>,
    waiting: VecDeque<Input>,
    /// Request ids the server acknowledged.
    pub acked: BTreeSet<u64>,
    pub gave_up: u64,
    /// Ghost state for the invariants: the request acknowledged last.
    pub last_acked: Option<u64>,
}

/// A node of the echo protocol.
#[derive(Clone, Debug, Hash)]
pub enum EchoNode {
    Server(Server),
    Client(Client),
}

impl EchoNode {
    pub fn new(id: NodeId, settings: EchoSettings) -> EchoNode {
        if id == NodeId(0) {
            EchoNode::Server(Server {
                dedup: settings.dedup,
                ..Server::default()
            })
        } else {
            EchoNode::Client(Client {
                settings,
                next_seq: 0,
                pending: None,
                waiting: VecDeque::new(),
                acked: BTreeSet::new(),
                gave_up: 0,
                last_acked: None,
            })
        }
    }
}

impl Client {
    fn start_next(&mut self, ctx: &mut Context<'_, EchoNode>) {
        if self.pending.is_some() {
            return;
        }
        let Some(input) = self.waiting.pop_front() else {
            return;
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let disk = ctx.disk();
        disk.write("next_seq", &self.next_seq);
        disk.sync();
        let timer = ctx.set_timer(self.settings.timeout, EchoTimer::Retry { seq });
        ctx.send(
            NodeId(0),
            &EchoMsg::Request {
                seq,
                value: input.value,
            },
        );
        self.pending = Some(Pending {
            seq,
            value: input.value,
            attempts: 1,
            timer,
        });
    }

    fn on_timeout(&mut self, ctx: &mut Context<'_, EchoNode>, seq: u64) {
        let Some(p) = self.pending.as_mut().filter(|p| p.seq == seq) else {
            return;
        };
        if p.attempts < self.settings.attempts {
            p.attempts += 1;
            p.timer = ctx.set_timer(self.settings.timeout, EchoTimer::Retry { seq });
            ctx.send(
                NodeId(0),
                &EchoMsg::Request {
                    seq,
                    value: p.value,
                },
            );
        } else {
            ctx.observe(format!(
                "request {seq} gave up after {} attempts",
                p.attempts
            ));
            self.gave_up += 1;
            self.pending = None;
            self.start_next(ctx);
        }
    }

    fn on_reply(&mut self, ctx: &mut Context<'_, EchoNode>, seq: u64, total: u64) {
        let Some(p) = self.pending.take_if(|p| p.seq == seq) else {
            return;
        };
        ctx.cancel_timer(p.timer);
        self.acked.insert(seq);
        self.last_acked = Some(seq);
        let disk = ctx.disk();
        disk.write(&format!("acked/{}", self.acked.len() - 1), &seq);
        disk.write("acked", &self.acked.len());
        disk.sync();
        ctx.observe(format!("request {seq} acknowledged, total {total}"));
        self.start_next(ctx);
    }
}

impl Server {
    fn on_request(&mut self, ctx: &mut Context<'_, EchoNode>, from: NodeId, seq: u64, value: u64) {
        if self.dedup {
            if let Some(&total) = self.replies.get(&(from, seq)) {
                ctx.send(from, &EchoMsg::Reply { seq, total });
                return;
            }
        }
        self.total = self.total.wrapping_add(value);
        *self.executed.entry((from, seq)).or_default() += 1;
        self.last_executed = Some((from, seq));
        self.replies.insert((from, seq), self.total);
        let disk = ctx.disk();
        let i = disk.read::<u64>("executed").unwrap_or(0);
        disk.write(&format!("executed/{i}"), &(from, seq, self.total));
        disk.write("executed", &(i + 1));
        disk.sync();
        ctx.send(
            from,
            &EchoMsg::Reply {
                seq,
                total: self.total,
            },
        );
    }
}

impl Node for EchoNode {
    type Msg = EchoMsg;
    type Timer = EchoTimer;

    /// After a restart, takes up what was synced (at the first start the
    /// disk is empty).
    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        let disk = ctx.disk();
        match self {
            EchoNode::Server(s) => {
                for i in 0..disk.read::<u64>("executed").unwrap_or(0) {
                    if let Some((client, seq, total)) =
                        disk.read::<(NodeId, u64, u64)>(&format!("executed/{i}"))
                    {
                        *s.executed.entry((client, seq)).or_default() += 1;
                        s.replies.insert((client, seq), total);
                        s.total = total;
                    }
                }
            }
            EchoNode::Client(c) => {
                c.next_seq = disk.read("next_seq").unwrap_or(0);
                for i in 0..disk.read::<usize>("acked").unwrap_or(0) {
                    if let Some(seq) = disk.read::<u64>(&format!("acked/{i}")) {
                        c.acked.insert(seq);
                    }
                }
            }
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: EchoMsg) {
        match (self, msg) {
            (EchoNode::Server(s), EchoMsg::Request { seq, value }) => {
                s.on_request(ctx, from, seq, value)
            }
            (EchoNode::Client(c), EchoMsg::Reply { seq, total }) => c.on_reply(ctx, seq, total),
            // A corrupted message can decode as the other kind; ignore it.
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _timer: TimerId, tag: EchoTimer) {
        let EchoTimer::Retry { seq } = tag;
        if let EchoNode::Client(c) = self {
            c.on_timeout(ctx, seq);
        }
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        if let EchoNode::Client(c) = self {
            c.waiting.push_back(input);
            c.start_next(ctx);
        }
    }
}

fn server<'a>(v: &View<'a, EchoNode>) -> Option<&'a Server> {
    match v.node(NodeId(0)) {
        Some(EchoNode::Server(s)) => Some(s),
        _ => None,
    }
}

/// The acknowledged requests an invariant must look at now: after an
/// event, the one it touched; at the end, every one.
fn touched_requests(v: &View<'_, EchoNode>) -> Vec<(NodeId, u64)> {
    let acked = |id: NodeId, seq: u64| match v.node(id) {
        Some(EchoNode::Client(c)) => c.acked.contains(&seq),
        _ => false,
    };
    match v.changed().filter(|_| !v.is_end()) {
        Some(id) => match v.node(id) {
            Some(EchoNode::Server(s)) => s
                .last_executed
                .filter(|&(client, seq)| acked(client, seq))
                .into_iter()
                .collect(),
            Some(EchoNode::Client(c)) => c.last_acked.map(|seq| (id, seq)).into_iter().collect(),
            None => Vec::new(),
        },
        None => v
            .up()
            .filter_map(|(id, n)| match n {
                EchoNode::Client(c) => Some(c.acked.iter().map(move |seq| (id, *seq))),
                _ => None,
            })
            .flatten()
            .collect(),
    }
}

/// Every acknowledged request was executed at most once.
pub fn at_most_once(v: &View<'_, EchoNode>) -> Result<(), String> {
    let Some(s) = server(v) else { return Ok(()) };
    for (id, seq) in touched_requests(v) {
        let times = s.executed.get(&(id, seq)).copied().unwrap_or(0);
        if times > 1 {
            return Err(format!(
                "request {seq} of client {id} was acknowledged and executed {times} times"
            ));
        }
    }
    Ok(())
}

/// Every acknowledged request was executed.
pub fn acked_were_executed(v: &View<'_, EchoNode>) -> Result<(), String> {
    let Some(s) = server(v) else { return Ok(()) };
    for (id, seq) in touched_requests(v) {
        if !s.executed.contains_key(&(id, seq)) {
            return Err(format!(
                "request {seq} of client {id} was acknowledged but never executed"
            ));
        }
    }
    Ok(())
}

/// The echo protocol for the registry: node 0 serves, the rest are clients.
pub fn protocol() -> Spec<EchoNode> {
    Spec::new(
        "echo",
        "request/reply with timeouts, retries and server-side de-duplication (node 0 serves)",
        |config, params| {
            let settings = EchoSettings {
                timeout: params.duration("timeout")?,
                attempts: params.int("attempts")? as u32,
                dedup: params.flag("dedup")?,
            };
            Ok(
                Simulation::new(config, move |id| EchoNode::new(id, settings))
                    .hashable()
                    .cloneable()
                    .always(
                        "at-most-once",
                        "every acknowledged request was executed at most once",
                        at_most_once,
                    )
                    .always(
                        "acked-were-executed",
                        "every acknowledged request was executed",
                        acked_were_executed,
                    ),
            )
        },
    )
    .param(ParamDoc::duration(
        "timeout",
        Duration::from_millis(50),
        "how long a client waits for a reply before retrying",
    ))
    .param(ParamDoc::int(
        "attempts",
        5,
        (1, 1000),
        "sends per request before the client gives up",
    ))
    .param(ParamDoc::flag(
        "dedup",
        true,
        "the server answers a repeated request id from memory; false is the broken twin",
    ))
    .min_nodes(2)
    .clients(|nodes, _| (1..nodes).map(NodeId).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world(executed: &[((u32, u64), u32)], acked: &[u64]) -> Vec<Option<EchoNode>> {
        let s = EchoSettings {
            timeout: Duration::from_millis(50),
            attempts: 3,
            dedup: true,
        };
        let mut server = Server::default();
        for &((client, seq), times) in executed {
            server.executed.insert((NodeId(client), seq), times);
        }
        let mut client = EchoNode::new(NodeId(1), s);
        if let EchoNode::Client(c) = &mut client {
            c.acked.extend(acked.iter().copied());
        }
        vec![Some(EchoNode::Server(server)), Some(client)]
    }

    #[test]
    fn at_most_once_catches_an_acknowledged_request_executed_twice() {
        assert!(at_most_once(&View::new(&world(&[((1, 0), 1)], &[0]))).is_ok());
        let err = at_most_once(&View::new(&world(&[((1, 0), 2)], &[0]))).unwrap_err();
        assert!(err.contains("executed 2 times"), "{err}");
    }

    #[test]
    fn acked_were_executed_catches_an_acknowledgement_of_nothing() {
        assert!(acked_were_executed(&View::new(&world(&[((1, 0), 1)], &[0]))).is_ok());
        let err = acked_were_executed(&View::new(&world(&[], &[0]))).unwrap_err();
        assert!(err.contains("never executed"), "{err}");
    }
}
