//! A lock service written as async nodes: the same user crate's second
//! protocol, in the call-and-wait style.
//!
//! Node 0 serves the lock: `Acquire` gets `Granted` when the lock is free
//! (or already the caller's), `Busy` otherwise; `Release` from the holder
//! frees it. Every other node is a client: when the workload asks, it
//! calls `Acquire` with a timeout until granted (backing off after `Busy`),
//! holds the lock for `hold`, then calls `Release` until acknowledged. A
//! lost reply is harmless: the client asks again and the server answers
//! the holder `Granted` again.
//!
//! The broken twin (`timeout_is_grant = true`) takes a call that timed
//! out for a grant — the lost request or the lost `Busy` says nothing of
//! the kind — so two clients can hold the lock at once.

use dsim::aio::{Async, AsyncNode, Ctx, Elapsed};
use dsim::history::{Phase, Value};
use dsim::protocols::{ParamDoc, Spec};
use dsim::{Duration, NodeId, Simulation};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LockMsg {
    Acquire,
    Granted,
    Busy,
    Release,
    Released,
}

#[derive(Clone, Copy, Debug)]
pub struct LockSettings {
    hold: Duration,
    timeout: Duration,
    timeout_is_grant: bool,
}

pub enum Lock {
    Server,
    Client(LockSettings),
}

/// What the invariant reads: whether this client holds the lock.
#[derive(Default)]
pub struct Holding {
    inside: bool,
}

impl AsyncNode for Lock {
    type Msg = LockMsg;
    type State = Holding;

    async fn main(self, ctx: Ctx<Self>) {
        match self {
            Lock::Server => serve(ctx).await,
            Lock::Client(s) => client(ctx, s).await,
        }
    }
}

async fn serve(ctx: Ctx<Lock>) {
    let mut holder: Option<NodeId> = None;
    loop {
        let m = ctx.recv().await;
        let answer = match m.msg {
            LockMsg::Acquire if holder.is_none() || holder == Some(m.from) => {
                holder = Some(m.from);
                LockMsg::Granted
            }
            LockMsg::Acquire => LockMsg::Busy,
            LockMsg::Release => {
                if holder == Some(m.from) {
                    holder = None;
                }
                LockMsg::Released
            }
            _ => continue,
        };
        ctx.reply(&m, &answer);
    }
}

async fn client(ctx: Ctx<Lock>, s: LockSettings) {
    let me = u64::from(ctx.id().0);
    loop {
        ctx.next_input().await;
        ctx.invoke(me, "lock", None, Value::Nil);
        loop {
            match ctx.call(NodeId(0), &LockMsg::Acquire, s.timeout).await {
                Ok(LockMsg::Granted) => break,
                Err(Elapsed { .. }) if s.timeout_is_grant => break,
                // Busy, or no answer: ask again a little later.
                _ => ctx.sleep(s.timeout).await,
            }
        }
        ctx.state_mut(|h| h.inside = true);
        ctx.with(|c| {
            c.complete(me, Phase::Ok, "lock", None, Value::Nil);
            c.begin_span("holding the lock");
        });
        ctx.sleep(s.hold).await;
        ctx.state_mut(|h| h.inside = false);
        ctx.with(|c| {
            c.end_span("holding the lock");
            c.invoke(me, "unlock", None, Value::Nil);
        });
        while ctx
            .call(NodeId(0), &LockMsg::Release, s.timeout)
            .await
            .is_err()
        {}
        ctx.complete(me, Phase::Ok, "unlock", None, Value::Nil);
    }
}

/// The lock service, as the command line and the tests see it.
pub fn protocol() -> Spec<Async<Lock>> {
    Spec::new(
        "lock",
        "a lock service written as async nodes (call with timeout, retry); node 0 serves",
        |config, params| {
            let s = LockSettings {
                hold: params.duration("hold")?,
                timeout: params.duration("timeout")?,
                timeout_is_grant: params.flag("timeout_is_grant")?,
            };
            Ok(Simulation::new(config, move |id| {
                Async::new(if id == NodeId(0) {
                    Lock::Server
                } else {
                    Lock::Client(s)
                })
            })
            .always("one-holder", "at most one client holds the lock", |v| {
                let inside: Vec<NodeId> = v
                    .up()
                    .filter(|(_, n)| n.state().inside)
                    .map(|(id, _)| id)
                    .collect();
                match inside.len() {
                    0 | 1 => Ok(()),
                    _ => Err(format!("{inside:?} hold the lock at once")),
                }
            }))
        },
    )
    .param(ParamDoc::duration(
        "hold",
        Duration::from_millis(40),
        "how long a client holds the lock",
    ))
    .param(ParamDoc::duration(
        "timeout",
        Duration::from_millis(50),
        "how long a call waits for the server",
    ))
    .param(ParamDoc::flag(
        "timeout_is_grant",
        false,
        "take a call that timed out for a grant; true is the broken twin",
    ))
    .min_nodes(2)
    .clients(|nodes, _| (1..nodes).map(NodeId).collect())
}
