//! ABD written as async nodes ([`crate::aio`]), with the client driving
//! both phases itself (the algorithm's original form): a quorum is a set
//! of calls raced together, the first majority of replies wins, a phase
//! that gets no majority in time is tried again.
//!
//! Nodes `0..servers` serve; each keeps a (sequence, value) pair, synced
//! to its disk, and answers `Query` with it and `Record` by keeping the
//! pair if its sequence is higher. Every other node is a client that writes `writes`
//! values, then reads `reads` times, one operation at a time:
//!
//! 1. query every server, wait for a majority of pairs; a write takes the
//!    highest sequence plus one, tagged with its own id; a read takes the
//!    highest pair;
//! 2. have every server record that pair and wait for a majority of
//!    acknowledgements (a read's *write-back*), then the operation is done.
//!
//! Each phase calls every server with a timeout and is tried up to
//! `attempts` times; an operation that runs out of attempts ends with an
//! unknown outcome (`info`) in the history.
//!
//! **Checks.** `[check] linearizable = "register"` over the clients'
//! history; `seq-monotonic`: no server's sequence ever goes back.
//!
//! **Broken twin** (`write_back = false`,
//! `scenarios/async-abd-bug-no-write-back.toml`): a read returns after its
//! first phase, so it can return a value only a minority holds, and a
//! later read can miss it.

use super::abd::{Seen, Seq};
use super::{ParamDoc, Spec};
use crate::aio::{Async, AsyncNode, Ctx};
use crate::history::{Phase, Value};
use crate::scheduler::Simulation;
use crate::{Duration, NodeId, View};
use futures::stream::{FuturesUnordered, StreamExt};
use serde::{Deserialize, Serialize};

/// The protocol's messages (calls and their replies).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AbdCall {
    /// Your pair, please.
    Query,
    Pair {
        seq: Seq,
        value: Option<i64>,
    },
    /// Keep this pair if it is newer than yours.
    Record {
        seq: Seq,
        value: Option<i64>,
    },
    Recorded,
}

#[derive(Clone, Copy, Debug, Hash)]
pub struct AsyncAbdSettings {
    pub servers: u32,
    pub writes: u32,
    pub reads: u32,
    pub write_back: bool,
    pub timeout: Duration,
    pub attempts: u32,
}

/// A node of async ABD: a server or a client.
pub enum AsyncAbd {
    Server,
    Client(AsyncAbdSettings),
}

/// A server's pair (what a client would read from it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Register {
    pub seq: Seq,
    pub value: Option<i64>,
}

impl AsyncNode for AsyncAbd {
    type Msg = AbdCall;
    type State = Register;

    async fn main(self, ctx: Ctx<Self>) {
        match self {
            AsyncAbd::Server => serve(ctx).await,
            AsyncAbd::Client(s) => client(ctx, s).await,
        }
    }
}

async fn serve(ctx: Ctx<AsyncAbd>) {
    // The pair is durable: a restarted server must not forget a value a
    // majority was counted on to hold.
    if let Some((seq, value)) = ctx.read::<(Seq, Option<i64>)>("pair").await {
        ctx.state_mut(|r| *r = Register { seq, value });
    }
    loop {
        let m = ctx.recv().await;
        let answer = match m.msg {
            AbdCall::Query => ctx.state(|r| AbdCall::Pair {
                seq: r.seq,
                value: r.value,
            }),
            AbdCall::Record { seq, value } => {
                let newer = ctx.state_mut(|r| {
                    let newer = seq > r.seq;
                    if newer {
                        *r = Register { seq, value };
                    }
                    newer
                });
                if newer {
                    ctx.write("pair", &(seq, value)).await;
                    ctx.sync().await;
                }
                AbdCall::Recorded
            }
            _ => continue,
        };
        ctx.reply(&m, &answer);
    }
}

/// Calls every server with `request` until a majority answers: their
/// replies, or `None` when every attempt ran out of time.
async fn quorum(
    ctx: &Ctx<AsyncAbd>,
    s: &AsyncAbdSettings,
    request: &AbdCall,
) -> Option<Vec<AbdCall>> {
    let majority = s.servers as usize / 2 + 1;
    for _ in 0..s.attempts {
        let mut calls: FuturesUnordered<_> = (0..s.servers)
            .map(|server| ctx.call(NodeId(server), request, s.timeout))
            .collect();
        let mut replies = Vec::new();
        while let Some(reply) = calls.next().await {
            if let Ok(reply) = reply {
                replies.push(reply);
                if replies.len() == majority {
                    // Dropping the other calls forgets them: their
                    // replies, if they come, are dropped.
                    return Some(replies);
                }
            }
        }
    }
    None
}

/// The highest pair among a quorum's replies.
fn highest(replies: &[AbdCall]) -> (Seq, Option<i64>) {
    replies
        .iter()
        .filter_map(|r| match r {
            AbdCall::Pair { seq, value } => Some((*seq, *value)),
            _ => None,
        })
        .max_by_key(|(seq, _)| *seq)
        .unwrap_or_default()
}

async fn client(ctx: Ctx<AsyncAbd>, s: AsyncAbdSettings) {
    let me = ctx.id();
    let process = u64::from(me.0);
    let clients = i64::from(ctx.node_count() - s.servers);
    for k in 0..s.writes + s.reads {
        let write = k < s.writes;
        let value = i64::from(k) * clients + i64::from(me.0 - s.servers) + 1;
        let (f, arg) = if write {
            ("write", Value::Int(value))
        } else {
            ("read", Value::Nil)
        };
        ctx.invoke(process, f, None, arg);
        let outcome = match quorum(&ctx, &s, &AbdCall::Query).await {
            None => None,
            Some(pairs) => {
                let (seq, read) = highest(&pairs);
                let (seq, stored) = if write {
                    ((seq.0 + 1, me.0), Some(value))
                } else {
                    (seq, read)
                };
                let record = AbdCall::Record { seq, value: stored };
                if write || s.write_back {
                    quorum(&ctx, &s, &record).await.map(|_| stored)
                } else {
                    Some(stored)
                }
            }
        };
        let (phase, result) = match outcome {
            Some(_) if write => (Phase::Ok, Value::Nil),
            Some(v) => (Phase::Ok, v.map_or(Value::Nil, Value::Int)),
            // Some server may have recorded the write: its outcome is unknown.
            None if write => (Phase::Info, Value::Nil),
            // A read that gave up changed nothing.
            None => (Phase::Fail, Value::Nil),
        };
        ctx.complete(process, phase, f, None, result);
    }
}

/// No server's sequence ever goes back.
fn seq_monotonic(seen: &mut Seen, v: &View<'_, Async<AsyncAbd>>) -> Result<(), String> {
    for (id, n) in v.touched() {
        let seq = n.state().seq;
        if let Some(&before) = seen.0.get(&id) {
            if seq < before {
                return Err(format!(
                    "server {id}'s sequence went back from {before:?} to {seq:?}"
                ));
            }
        }
        seen.0.insert(id, seq);
    }
    Ok(())
}

/// Async ABD for the registry.
pub fn protocol() -> Spec<Async<AsyncAbd>> {
    Spec::new(
        "async-abd",
        "ABD register written as async nodes (clients call a majority quorum with timeouts and retries); nodes 0..servers serve",
        |config, params| {
            let s = AsyncAbdSettings {
                servers: params.int("servers")? as u32,
                writes: params.int("writes")? as u32,
                reads: params.int("reads")? as u32,
                write_back: params.flag("write_back")?,
                timeout: params.duration("timeout")?,
                attempts: params.int("attempts")? as u32,
            };
            if config.nodes <= s.servers {
                return Err(crate::scheduler::SimError::Config(format!(
                    "async-abd needs clients: {} nodes with {} servers leaves none",
                    config.nodes, s.servers
                )));
            }
            Ok(Simulation::new(config, move |id| {
                Async::new(if id.0 < s.servers {
                    AsyncAbd::Server
                } else {
                    AsyncAbd::Client(s)
                })
            })
            .monitor(
                "seq-monotonic",
                "no server's sequence ever goes back",
                Seen::default,
                seq_monotonic,
            ))
        },
    )
    .param(ParamDoc::int("servers", 3, (1, 99), "how many nodes serve (0..servers)"))
    .param(ParamDoc::int("writes", 2, (0, 1000), "writes per client, first"))
    .param(ParamDoc::int("reads", 2, (0, 1000), "reads per client, after its writes"))
    .param(ParamDoc::flag(
        "write_back",
        true,
        "a read records the pair it read at a majority; false is the broken twin",
    ))
    .param(ParamDoc::duration(
        "timeout",
        Duration::from_millis(200),
        "how long a call waits for a server's reply",
    ))
    .param(ParamDoc::int(
        "attempts",
        3,
        (1, 100),
        "how many times a phase is tried before the operation gives up",
    ))
    .min_nodes(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_monotonic_catches_a_server_whose_sequence_goes_back() {
        let servers = [
            Some(Async::new(AsyncAbd::Server)),
            Some(Async::new(AsyncAbd::Server)),
        ];
        let mut seen = Seen::default();
        servers[0].as_ref().unwrap().state_mut().seq = (2, 3);
        assert!(seq_monotonic(&mut seen, &View::new(&servers)).is_ok());
        // A restart that forgot the pair: back to (0, 0).
        servers[0].as_ref().unwrap().state_mut().seq = (0, 0);
        let err = seq_monotonic(&mut seen, &View::new(&servers)).unwrap_err();
        assert!(err.contains("went back from (2, 3) to (0, 0)"), "{err}");
    }
}
