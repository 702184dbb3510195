//! Async nodes: a protocol written as async Rust — call and wait, sleep,
//! select — on the same deterministic kernel as state-machine nodes.
//!
//! An [`AsyncNode`] is a node's configuration plus an async `main` that
//! receives a [`Ctx`]. [`Async`] turns it into an ordinary [`Node`]: every
//! message, timer and input goes through the kernel as for any node, so
//! the trace, the checks, replay, shrink and sweeps treat async nodes like
//! the rest, and an async node and a state-machine node exchange messages
//! in one simulation (a node type that is an enum of roles embeds a
//! [`Runtime`] in one variant).
//!
//! dsim owns the executor: single-threaded, no tokio, no wall clock. A
//! node's tasks run only inside its handlers: a delivery, a timer or an
//! input wakes the tasks waiting on it, and they run until every one is
//! waiting again. When several are ready, which runs first is drawn from
//! the node's random stream — seeded, so a run replays exactly.
//!
//! ```
//! use dsim::aio::{Async, AsyncNode, Ctx};
//! use dsim::{Duration, NodeId, SimConfig, Simulation};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! enum Msg { Ping(u32), Pong(u32) }
//!
//! struct Pinger;
//!
//! impl AsyncNode for Pinger {
//!     type Msg = Msg;
//!     type State = u32; // pongs heard, for invariants
//!     async fn main(self, ctx: Ctx<Self>) {
//!         if ctx.id() != NodeId(0) {
//!             // Serve: answer every ping.
//!             loop {
//!                 let req = ctx.recv().await;
//!                 if let Msg::Ping(n) = req.msg { ctx.reply(&req, &Msg::Pong(n)); }
//!             }
//!         }
//!         for n in 0..3 {
//!             // A request with a timeout and retries, no timer tags.
//!             for _attempt in 0..5 {
//!                 match ctx.call(NodeId(1), &Msg::Ping(n), Duration::from_millis(50)).await {
//!                     Ok(_) => { ctx.state_mut(|pongs| *pongs += 1); break }
//!                     Err(_elapsed) => continue,
//!                 }
//!             }
//!         }
//!     }
//! }
//!
//! let sim = Simulation::new(SimConfig::new(1, 2), |_| Async::new(Pinger));
//! let outcome = sim.run().unwrap();
//! assert_eq!(outcome.pass(), Ok(()));
//! ```
//!
//! **What breaks determinism** inside async code, and what to use instead:
//! a wall clock or `tokio::time` (use [`Ctx::now`] and [`Ctx::sleep`]);
//! `std::collections::HashMap`/`HashSet` iteration (their hasher is
//! random per process: use `BTreeMap`/`BTreeSet`); `rand::thread_rng`
//! (use [`Ctx::rng`]); threads, real sockets, tokio channels or timers (a
//! task waiting on one is woken by something dsim does not control; when
//! the simulation has no event left while a task waits on such a future,
//! the run fails with check `stalled` naming the node and the task).
//! `futures` combinators (`select`, `join`, `FuturesUnordered`, channels
//! between a node's own tasks) are deterministic: they are driven only by
//! dsim's executor.

use crate::history::{Phase, Value};
use crate::node::{Context, Cut, Disk, Effect, Input, Message, Node, NodeId, TaskOrder, TimerId};
use crate::rng::{DetRng, Stream};
use crate::time::{Duration, Instant};
use serde::{Deserialize, Serialize};
use std::cell::{Ref, RefCell};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// A protocol participant written as async Rust. The value is the node's
/// configuration, built by the simulation's factory at each start and
/// restart; `main` consumes it.
pub trait AsyncNode: Sized + 'static {
    /// The messages this protocol sends (wrapped in an [`Envelope`] on the
    /// wire, so that dsim can match replies to calls).
    type Msg: Message;

    /// What invariants and checkers read ([`Async::state`]); the node's
    /// tasks change it with [`Ctx::state_mut`]. Volatile: a restart starts
    /// from `Default`.
    type State: Default + 'static;

    /// The node's entry point, run at its start and again after each
    /// restart. When it returns, tasks it spawned go on running.
    fn main(self, ctx: Ctx<Self>) -> impl Future<Output = ()> + 'static;

    /// The part a node in `state` plays, for faults aimed at it
    /// ([`Node::role`]); `None` by default.
    fn role(state: &Self::State) -> Option<&'static str> {
        let _ = state;
        None
    }
}

/// What async nodes put on the wire: the protocol's message, and for a
/// call or its reply the number dsim matches them by.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Envelope<M> {
    /// Sent with [`Ctx::send`]: no reply expected.
    Send(M),
    /// Sent with [`Ctx::call`]: a request waiting for its reply.
    Call(u64, M),
    /// Sent with [`Ctx::reply`]: the reply to call `.0`.
    Reply(u64, M),
}

impl<M> Envelope<M> {
    /// The protocol's message inside.
    pub fn msg(&self) -> &M {
        match self {
            Envelope::Send(m) | Envelope::Call(_, m) | Envelope::Reply(_, m) => m,
        }
    }
}

/// The timer tags of async nodes (traces show them by name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Wake {
    /// A [`Ctx::sleep`] (or [`Ctx::timeout`]) of task `task`.
    Sleep { task: u64 },
    /// The timeout of call `call` ([`Ctx::call`]).
    Timeout { call: u64 },
}

/// A time limit ran out: no reply to a call, or a future given to
/// [`Ctx::timeout`] did not finish in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed {
    /// The node a call went to (`None` for [`Ctx::timeout`]).
    pub to: Option<NodeId>,
    /// The time limit.
    pub after: Duration,
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to {
            Some(to) => write!(f, "no reply from {to} within {}", self.after),
            None => write!(f, "not done within {}", self.after),
        }
    }
}

impl std::error::Error for Elapsed {}

/// A message a node received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming<M> {
    pub from: NodeId,
    pub msg: M,
    /// Whether it carries a MAC that verifies ([`Context::authentic`]).
    pub authentic: bool,
    /// The call it belongs to, if it was sent with [`Ctx::call`].
    call: Option<u64>,
}

impl<M> Incoming<M> {
    /// Whether the sender waits for a reply ([`Ctx::reply`]).
    pub fn is_call(&self) -> bool {
        self.call.is_some()
    }
}

/// Bounds: a node's unread messages, and task polls within one handler
/// (a task that wakes itself forever would otherwise hang the run).
const MAILBOX_LIMIT: usize = 1 << 20;
const POLLS_PER_HANDLER: u32 = 1 << 20;

/// What a waiting future waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
    Message,
    Input,
    Reply(u64),
    Timer(u64),
}

struct Waiting {
    task: u64,
    on: On,
    /// `None`: the task's own waker (the future was polled by the task
    /// itself, not through a combinator), woken by marking the task ready.
    waker: Option<Waker>,
}

type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

/// Everything the node's tasks share, apart from its state.
struct Inner<M> {
    id: NodeId,
    nodes: u32,
    now: Instant,
    /// The node's durable storage, lent by the kernel during a handler.
    disk: Disk,
    /// The tasks' random stream: seeded from the node's at each start.
    rng: DetRng,
    next_timer: u64,
    effects: Vec<Effect<Wake>>,
    /// The kernel's crash due after a send, lent during a handler.
    cut: Option<Cut>,
    buffers: Vec<Vec<u8>>,
    mailbox: VecDeque<Incoming<M>>,
    inputs: VecDeque<Input>,
    /// Whether a task has asked for a client operation since the node
    /// started.
    asks_inputs: bool,
    /// Whether the kernel has been told so: once is enough, and telling
    /// it costs a call on every later event.
    asks_told: bool,
    /// Whether a task read the clock (`Ctx::now`) since the kernel was
    /// last told.
    clock_read: bool,
    /// Calls waiting for their reply.
    replies: BTreeMap<u64, Option<Incoming<M>>>,
    /// Timers that fired and that their future has not seen yet.
    fired: BTreeSet<u64>,
    /// Futures waiting on something dsim drives, by a key each holds.
    /// Sorted by key: keys only grow, so registration order, which is
    /// the order they are woken in.
    waits: Vec<(u64, Waiting)>,
    next_wait: u64,
    /// The task being polled, and its waker's data pointer.
    current: u64,
    current_waker: *const (),
    /// Tasks ready to run (more come in through their wakers).
    ready: Ready,
    /// How the run's strategy orders ready tasks.
    order: TaskOrder,
    spawned: Vec<(u64, String, BoxedTask)>,
    next_task: u64,
}

impl<M> Inner<M> {
    fn wake(&mut self, on: On) {
        for (_, w) in self.waits.iter().filter(|(_, w)| w.on == on) {
            match &w.waker {
                None => self.ready.insert(w.task),
                Some(waker) => waker.wake_by_ref(),
            }
        }
    }

    /// Registers (or renews) the wait `key` of the current task.
    fn wait(&mut self, key: &mut Option<u64>, on: On, waker: &Waker) {
        let task = self.current;
        if let Some(k) = *key {
            if let Ok(i) = self.waits.binary_search_by_key(&k, |(k, _)| *k) {
                let own = waker.data() == self.current_waker;
                let w = &mut self.waits[i].1;
                w.task = task;
                w.on = on;
                match &w.waker {
                    None if own => {}
                    Some(old) if old.will_wake(waker) => {}
                    _ => w.waker = (!own).then(|| waker.clone()),
                }
                return;
            }
        }
        self.next_wait += 1;
        *key = Some(self.next_wait);
        let waker = (waker.data() != self.current_waker).then(|| waker.clone());
        self.waits
            .push((self.next_wait, Waiting { task, on, waker }));
    }

    fn unwait(&mut self, key: &mut Option<u64>) {
        if let Some(k) = key.take() {
            if let Ok(i) = self.waits.binary_search_by_key(&k, |(k, _)| *k) {
                self.waits.remove(i);
            }
        }
    }

    fn set_timer(&mut self, after: Duration, tag: Wake) -> TimerId {
        let timer = TimerId(self.next_timer);
        self.next_timer += 1;
        self.effects.push(Effect::SetTimer { timer, after, tag });
        timer
    }

    fn send<T: Serialize>(&mut self, to: NodeId, envelope: &Envelope<T>, authenticated: bool) {
        let from = self.id;
        crate::node::push_send(
            &mut self.effects,
            &mut self.buffers,
            from,
            to,
            envelope,
            authenticated,
        );
        if let Some(cut) = self.cut.as_mut() {
            cut.sent(&self.effects, &self.disk);
        }
    }
}

struct Shared<A: AsyncNode> {
    inner: RefCell<Inner<A::Msg>>,
    state: RefCell<A::State>,
}

/// A task's handle on its node: what [`Context`] is to a handler. Cheap to
/// clone; every task of the node may hold one. Use it only from the
/// node's own tasks.
pub struct Ctx<A: AsyncNode> {
    shared: Rc<Shared<A>>,
}

impl<A: AsyncNode> Clone for Ctx<A> {
    fn clone(&self) -> Self {
        Ctx {
            shared: self.shared.clone(),
        }
    }
}

impl<A: AsyncNode> Ctx<A> {
    fn inner(&self) -> std::cell::RefMut<'_, Inner<A::Msg>> {
        self.shared.inner.borrow_mut()
    }

    /// This node's address.
    pub fn id(&self) -> NodeId {
        self.shared.inner.borrow().id
    }

    /// How many nodes the simulation has.
    pub fn node_count(&self) -> u32 {
        self.shared.inner.borrow().nodes
    }

    /// Every other node's id, in order.
    pub fn peers(&self) -> Vec<NodeId> {
        let (me, n) = (self.id(), self.node_count());
        (0..n).map(NodeId).filter(|&p| p != me).collect()
    }

    /// The node's local clock (it moves only between handlers: code
    /// between two awaits takes no virtual time).
    pub fn now(&self) -> Instant {
        let mut inner = self.shared.inner.borrow_mut();
        inner.clock_read = true;
        inner.now
    }

    /// Sends `msg` to `to` without waiting.
    pub fn send(&self, to: NodeId, msg: &A::Msg) {
        self.inner().send(to, &Envelope::Send(msg), false);
    }

    /// Sends `msg` to `to` over an authenticated channel
    /// ([`Context::send_authenticated`]).
    pub fn send_authenticated(&self, to: NodeId, msg: &A::Msg) {
        self.inner().send(to, &Envelope::Send(msg), true);
    }

    /// Sends `msg` to every other node.
    pub fn broadcast(&self, msg: &A::Msg) {
        let mut inner = self.inner();
        let (me, n) = (inner.id, inner.nodes);
        for to in (0..n).map(NodeId).filter(|&p| p != me) {
            inner.send(to, &Envelope::Send(msg), false);
        }
    }

    /// Answers `request`: to a call, the reply its caller waits for; to a
    /// plain message, a plain message back.
    pub fn reply(&self, request: &Incoming<A::Msg>, msg: &A::Msg) {
        let envelope = match request.call {
            Some(call) => Envelope::Reply(call, msg),
            None => Envelope::Send(msg),
        };
        self.inner().send(request.from, &envelope, false);
    }

    /// The next message, from anyone (calls to this node included).
    pub fn recv(&self) -> Recv<A, AnyMessage<A::Msg>> {
        self.recv_where(|_| true)
    }

    /// The next message from `peer`.
    pub fn recv_from(&self, peer: NodeId) -> Recv<A, impl FnMut(&Incoming<A::Msg>) -> bool> {
        self.recv_where(move |m| m.from == peer)
    }

    /// The first message, in arrival order, that `accept` takes; others
    /// stay for other receivers.
    pub fn recv_where<F: FnMut(&Incoming<A::Msg>) -> bool>(&self, accept: F) -> Recv<A, F> {
        Recv {
            ctx: self.clone(),
            accept,
            wait: None,
        }
    }

    /// Sends `request` to `to` now, and returns a future of the reply to
    /// it (sent with [`Ctx::reply`]): [`Elapsed`] if none arrives within
    /// `within` of local time. dsim numbers calls: a late reply to an
    /// earlier call is never taken for this one's. The future borrows
    /// nothing: it can be stored, raced or handed to another task;
    /// dropping it forgets the call.
    pub fn call(&self, to: NodeId, request: &A::Msg, within: Duration) -> Call<A> {
        let call = {
            let mut inner = self.inner();
            // Timer ids are unique for the node's whole run, restarts
            // included, so they number calls too.
            let call = inner.next_timer;
            inner.next_timer += 1;
            inner.replies.insert(call, None);
            inner.send(to, &Envelope::Call(call, request), false);
            call
        };
        Call {
            reply: ReplyTo {
                ctx: self.clone(),
                call,
                wait: None,
            },
            limit: self.sleep_tagged(within, Wake::Timeout { call }),
            to,
            within,
        }
    }

    /// Waits `d` of local time.
    pub fn sleep(&self, d: Duration) -> Sleep<A> {
        let task = self.shared.inner.borrow().current;
        self.sleep_tagged(d, Wake::Sleep { task })
    }

    fn sleep_tagged(&self, d: Duration, tag: Wake) -> Sleep<A> {
        let timer = self.inner().set_timer(d, tag);
        Sleep {
            ctx: self.clone(),
            timer,
            done: false,
            wait: None,
        }
    }

    /// Runs `fut` for at most `d` of local time.
    pub async fn timeout<T>(
        &self,
        d: Duration,
        fut: impl Future<Output = T>,
    ) -> Result<T, Elapsed> {
        race(fut, self.sleep(d))
            .await
            .map_err(|()| Elapsed { to: None, after: d })
    }

    /// The workload's next client operation for this node.
    pub fn next_input(&self) -> NextInput<A> {
        NextInput {
            ctx: self.clone(),
            wait: None,
        }
    }

    /// Starts `task` beside the others; `name` identifies it in reports.
    /// It runs until it finishes or the node crashes.
    pub fn spawn(&self, name: impl Into<String>, task: impl Future<Output = ()> + 'static) {
        let mut inner = self.inner();
        let id = inner.next_task;
        inner.next_task += 1;
        inner.spawned.push((id, name.into(), Box::pin(task)));
    }

    /// Reads the node's observable state.
    pub fn state<R>(&self, f: impl FnOnce(&A::State) -> R) -> R {
        f(&self.shared.state.borrow())
    }

    /// Changes the node's observable state (invariants see it after the
    /// handler that runs this task returns).
    pub fn state_mut<R>(&self, f: impl FnOnce(&mut A::State) -> R) -> R {
        f(&mut self.shared.state.borrow_mut())
    }

    /// The tasks' random stream (seeded; independent of other nodes').
    pub fn rng<R>(&self, f: impl FnOnce(&mut DetRng) -> R) -> R {
        f(&mut self.inner().rng)
    }

    /// Stores `value` under `key` on the node's disk (volatile until
    /// [`Ctx::sync`]).
    pub async fn write<T: Serialize>(&self, key: &str, value: &T) {
        self.inner().disk.write(key, value);
    }

    /// Removes `key` from the node's disk (volatile until synced).
    pub async fn remove(&self, key: &str) {
        self.inner().disk.remove(key);
    }

    /// Reads `key` from the node's disk; `None` if absent. Panics, failing
    /// the run as check `panic`, if its bytes do not decode as `T` (see
    /// [`Disk::read`]).
    pub async fn read<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.shared.inner.borrow().disk.read(key)
    }

    /// Makes every write so far durable: it survives a crash.
    pub async fn sync(&self) {
        self.inner().disk.sync();
    }

    /// The kernel's context, for what this handle does not wrap
    /// (observations, client history, spans). Do not call other `Ctx`
    /// methods inside `f`.
    pub fn with<R>(&self, f: impl FnOnce(&mut Context<'_, Async<A>>) -> R) -> R {
        let mut inner = self.inner();
        let inner = &mut *inner;
        let mut ctx = Context {
            id: inner.id,
            nodes: inner.nodes,
            local_now: inner.now,
            rng: &mut inner.rng,
            disk: &mut inner.disk,
            effects: &mut inner.effects,
            next_timer: &mut inner.next_timer,
            buffers: &mut inner.buffers,
            authentic: false,
            task_order: inner.order,
            task_choices: None,
            inputs: 0,
            clock_read: std::cell::Cell::new(false),
            unchanged: false,
            cut: inner.cut.as_mut(),
            _node: PhantomData,
        };
        let r = f(&mut ctx);
        inner.clock_read |= ctx.clock_read.get();
        r
    }

    /// Records that client `process` invokes operation `f` (a history
    /// event, checked by `[check] linearizable`); see
    /// [`Context::invoke`].
    pub fn invoke(&self, process: u64, f: &str, key: Option<Value>, value: Value) {
        self.with(|c| c.invoke(process, f, key, value));
    }

    /// Records the outcome of `process`'s outstanding operation: `Ok` with
    /// its result, `Fail` (it did not happen) or `Info` (unknown); see
    /// [`Context::complete`].
    pub fn complete(&self, process: u64, phase: Phase, f: &str, key: Option<Value>, value: Value) {
        self.with(|c| c.complete(process, phase, f, key, value));
    }

    /// Records a client-visible operation or result in the trace.
    pub fn observe(&self, text: impl Into<String>) {
        let text = text.into();
        self.inner().effects.push(Effect::Observe { text });
    }
}

/// Polls `a` first, then `b`: `Ok` with `a`'s output if it finishes
/// first (or both do), `Err` if `b` does.
async fn race<T>(a: impl Future<Output = T>, b: impl Future<Output = ()>) -> Result<T, ()> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        b.as_mut().poll(cx).map(Err)
    })
    .await
}

/// The filter of [`Ctx::recv`]: every message.
pub type AnyMessage<M> = fn(&Incoming<M>) -> bool;

/// The future of [`Ctx::recv_where`].
pub struct Recv<A: AsyncNode, F> {
    ctx: Ctx<A>,
    accept: F,
    wait: Option<u64>,
}

impl<A: AsyncNode, F: FnMut(&Incoming<A::Msg>) -> bool + Unpin> Future for Recv<A, F> {
    type Output = Incoming<A::Msg>;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.ctx.inner();
        if let Some(i) = inner.mailbox.iter().position(&mut this.accept) {
            inner.unwait(&mut this.wait);
            if let Some(m) = inner.mailbox.remove(i) {
                return Poll::Ready(m);
            }
        }
        inner.wait(&mut this.wait, On::Message, cx.waker());
        Poll::Pending
    }
}

impl<A: AsyncNode, F> Drop for Recv<A, F> {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.ctx.shared.inner.try_borrow_mut() {
            inner.unwait(&mut self.wait);
        }
    }
}

/// The future of [`Ctx::next_input`].
pub struct NextInput<A: AsyncNode> {
    ctx: Ctx<A>,
    wait: Option<u64>,
}

impl<A: AsyncNode> Future for NextInput<A> {
    type Output = Input;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Input> {
        let this = self.get_mut();
        let mut inner = this.ctx.inner();
        inner.asks_inputs = true;
        if let Some(input) = inner.inputs.pop_front() {
            inner.unwait(&mut this.wait);
            return Poll::Ready(input);
        }
        inner.wait(&mut this.wait, On::Input, cx.waker());
        Poll::Pending
    }
}

impl<A: AsyncNode> Drop for NextInput<A> {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.ctx.shared.inner.try_borrow_mut() {
            inner.unwait(&mut self.wait);
        }
    }
}

/// The future of [`Ctx::sleep`]; dropping it before it fires cancels its
/// timer.
pub struct Sleep<A: AsyncNode> {
    ctx: Ctx<A>,
    timer: TimerId,
    done: bool,
    wait: Option<u64>,
}

impl<A: AsyncNode> Future for Sleep<A> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let mut inner = this.ctx.inner();
        if inner.fired.remove(&this.timer.0) {
            inner.unwait(&mut this.wait);
            this.done = true;
            return Poll::Ready(());
        }
        inner.wait(&mut this.wait, On::Timer(this.timer.0), cx.waker());
        Poll::Pending
    }
}

impl<A: AsyncNode> Drop for Sleep<A> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Ok(mut inner) = self.ctx.shared.inner.try_borrow_mut() {
            inner.unwait(&mut self.wait);
            inner.fired.remove(&self.timer.0);
            inner
                .effects
                .push(Effect::CancelTimer { timer: self.timer });
        }
    }
}

/// The future of [`Ctx::call`].
pub struct Call<A: AsyncNode> {
    reply: ReplyTo<A>,
    limit: Sleep<A>,
    to: NodeId,
    within: Duration,
}

impl<A: AsyncNode> Future for Call<A> {
    type Output = Result<A::Msg, Elapsed>;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(incoming) = Pin::new(&mut this.reply).poll(cx) {
            return Poll::Ready(Ok(incoming.msg));
        }
        Pin::new(&mut this.limit).poll(cx).map(|()| {
            Err(Elapsed {
                to: Some(this.to),
                after: this.within,
            })
        })
    }
}

/// Waits for the reply to one call; forgets the call when dropped.
struct ReplyTo<A: AsyncNode> {
    ctx: Ctx<A>,
    call: u64,
    wait: Option<u64>,
}

impl<A: AsyncNode> Future for ReplyTo<A> {
    type Output = Incoming<A::Msg>;
    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut inner = this.ctx.inner();
        if let Some(slot) = inner.replies.get_mut(&this.call) {
            if let Some(reply) = slot.take() {
                inner.replies.remove(&this.call);
                inner.unwait(&mut this.wait);
                return Poll::Ready(reply);
            }
        }
        inner.wait(&mut this.wait, On::Reply(this.call), cx.waker());
        Poll::Pending
    }
}

impl<A: AsyncNode> Drop for ReplyTo<A> {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.ctx.shared.inner.try_borrow_mut() {
            inner.unwait(&mut self.wait);
            inner.replies.remove(&self.call);
        }
    }
}

/// A task's waker: marks the task ready.
struct TaskWaker {
    task: u64,
    woken: Arc<Woken>,
}

/// Tasks woken through their wakers (by combinators, or from outside),
/// waiting to join the ready set.
#[derive(Default)]
struct Woken {
    any: AtomicBool,
    tasks: Mutex<Vec<u64>>,
}

/// The ready tasks, sorted, each once (a set; a vector because it is
/// small).
#[derive(Default)]
struct Ready(Vec<u64>);

impl Ready {
    fn insert(&mut self, task: u64) {
        if let Err(i) = self.0.binary_search(&task) {
            self.0.insert(i, task);
        }
    }

    fn remove(&mut self, task: &u64) -> bool {
        match self.0.binary_search(task) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }
}

impl std::task::Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let mut tasks = self.woken.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.push(self.task);
        self.woken.any.store(true, AtomicOrdering::Release);
    }
}

struct Task {
    name: String,
    future: BoxedTask,
    waker: Waker,
}

/// The executor of one async node: its tasks and what they share. [`Async`]
/// wraps one as a [`Node`]; a node type of several roles embeds one in a
/// variant and forwards its handlers, with `Envelope<A::Msg>` as its
/// message type and a timer tag type that converts from [`Wake`].
pub struct Runtime<A: AsyncNode> {
    node: Option<A>,
    shared: Rc<Shared<A>>,
    tasks: BTreeMap<u64, Task>,
    woken: Arc<Woken>,
    pct: TaskPct,
}

/// PCT among one node's tasks ([`TaskOrder::Pct`]).
#[derive(Default)]
struct TaskPct {
    priority: BTreeMap<u64, u64>,
    /// Task steps at which the running task is demoted, soonest last.
    change_points: Vec<u64>,
    /// Task steps taken so far.
    steps: u64,
    /// Demoted tasks get 1, 2, ...: below every initial priority.
    demoted: u64,
}

impl<A: AsyncNode> Runtime<A> {
    pub fn new(node: A) -> Runtime<A> {
        Runtime {
            node: Some(node),
            shared: Rc::new(Shared {
                inner: RefCell::new(Inner {
                    id: NodeId(0),
                    nodes: 0,
                    now: Instant::ZERO,
                    disk: Disk::default(),
                    rng: DetRng::new(0, Stream::Workload),
                    next_timer: 0,
                    effects: Vec::new(),
                    cut: None,
                    buffers: Vec::new(),
                    mailbox: VecDeque::new(),
                    inputs: VecDeque::new(),
                    asks_inputs: false,
                    asks_told: false,
                    clock_read: false,
                    replies: BTreeMap::new(),
                    fired: BTreeSet::new(),
                    waits: Vec::new(),
                    next_wait: 0,
                    current: 0,
                    current_waker: std::ptr::null(),
                    ready: Ready::default(),
                    order: TaskOrder::Random,
                    spawned: Vec::new(),
                    next_task: 0,
                }),
                state: RefCell::new(A::State::default()),
            }),
            tasks: BTreeMap::new(),
            woken: Arc::default(),
            pct: TaskPct::default(),
        }
    }

    /// The node's observable state (between events).
    pub fn state(&self) -> Ref<'_, A::State> {
        self.shared.state.borrow()
    }

    /// The node started (or restarted): runs `main`.
    pub fn start<H: Node>(&mut self, ctx: &mut Context<'_, H>)
    where
        H::Timer: From<Wake>,
    {
        {
            let mut inner = self.shared.inner.borrow_mut();
            inner.id = ctx.id();
            inner.nodes = ctx.node_count();
            // The tasks draw from a stream of their own, seeded from the
            // node's: a restart continues the node's stream, so it gets a
            // new one.
            let seed = ctx.rng().next_u64();
            inner.rng = DetRng::new(seed, Stream::Node(ctx.id().0));
        }
        if let Some(node) = self.node.take() {
            let main = node.main(Ctx {
                shared: self.shared.clone(),
            });
            let mut inner = self.shared.inner.borrow_mut();
            let id = inner.next_task;
            inner.next_task += 1;
            inner.spawned.push((id, "main".to_string(), Box::pin(main)));
        }
        self.run(ctx, None);
    }

    /// A message arrived.
    pub fn message<H: Node>(
        &mut self,
        ctx: &mut Context<'_, H>,
        from: NodeId,
        msg: Envelope<A::Msg>,
    ) where
        H::Timer: From<Wake>,
    {
        self.deliver(ctx, from, msg);
    }

    /// A message arrived; true when it changed nothing: a reply to a call
    /// no task waits for any more (it gave up, or took another reply
    /// first), after which no task ran.
    fn deliver<H: Node>(
        &mut self,
        ctx: &mut Context<'_, H>,
        from: NodeId,
        msg: Envelope<A::Msg>,
    ) -> bool
    where
        H::Timer: From<Wake>,
    {
        let mut unwanted = false;
        {
            let mut inner = self.shared.inner.borrow_mut();
            let authentic = ctx.authentic();
            match msg {
                Envelope::Reply(call, msg) => {
                    // A reply to a call that gave up waiting is dropped.
                    if let Some(slot @ None) = inner.replies.get_mut(&call) {
                        *slot = Some(Incoming {
                            from,
                            msg,
                            authentic,
                            call: None,
                        });
                        inner.wake(On::Reply(call));
                    } else {
                        unwanted = true;
                    }
                }
                Envelope::Send(msg) | Envelope::Call(_, msg)
                    if inner.mailbox.len() >= MAILBOX_LIMIT =>
                {
                    let _ = msg;
                    let id = inner.id;
                    inner.effects.push(Effect::Fail {
                        message: format!("{id} has {MAILBOX_LIMIT} messages no task received"),
                    });
                }
                Envelope::Send(msg) => {
                    inner.mailbox.push_back(Incoming {
                        from,
                        msg,
                        authentic,
                        call: None,
                    });
                    inner.wake(On::Message);
                }
                Envelope::Call(call, msg) => {
                    inner.mailbox.push_back(Incoming {
                        from,
                        msg,
                        authentic,
                        call: Some(call),
                    });
                    inner.wake(On::Message);
                }
            }
        }
        let ran = self.run(ctx, None);
        unwanted && !ran
    }

    /// A timer of this node fired.
    pub fn timer<H: Node>(&mut self, ctx: &mut Context<'_, H>, timer: TimerId)
    where
        H::Timer: From<Wake>,
    {
        {
            let mut inner = self.shared.inner.borrow_mut();
            inner.fired.insert(timer.0);
            inner.wake(On::Timer(timer.0));
        }
        self.run(ctx, None);
    }

    /// The workload handed the node a client operation.
    pub fn input<H: Node>(&mut self, ctx: &mut Context<'_, H>, input: Input)
    where
        H::Timer: From<Wake>,
    {
        {
            let mut inner = self.shared.inner.borrow_mut();
            inner.inputs.push_back(input);
            inner.wake(On::Input);
        }
        // Whether a task takes it is known only later.
        ctx.inputs |= crate::node::input_note::QUEUED;
        self.run(ctx, None);
    }

    /// Tasks waiting on nothing dsim drives, for [`Node::stalled`].
    pub fn stalled(&self) -> Option<String> {
        let inner = self.shared.inner.borrow();
        let waiting: BTreeSet<u64> = inner.waits.iter().map(|(_, w)| w.task).collect();
        let stuck: Vec<String> = self
            .tasks
            .iter()
            .filter(|(id, _)| !waiting.contains(id))
            .map(|(id, t)| format!("task {:?} (#{id})", t.name))
            .collect();
        if stuck.is_empty() {
            return None;
        }
        Some(format!(
            "{} {} waits on a future dsim does not drive (a tokio or wall-clock timer, a real socket, a channel no task will send on) and the simulation has no event left, so it would wait forever",
            inner.id,
            stuck.join(", ")
        ))
    }

    /// Runs ready tasks until every one waits, in the order the run's
    /// strategy says ([`TaskOrder`]); under exploration only `only`, once.
    fn run<H: Node>(&mut self, ctx: &mut Context<'_, H>, only: Option<u64>) -> bool
    where
        H::Timer: From<Wake>,
    {
        {
            let mut inner = self.shared.inner.borrow_mut();
            inner.now = ctx.local_now;
            std::mem::swap(&mut inner.disk, ctx.disk);
            // Effects count from the runtime's own, appended below; a cut
            // already made (a host that ran its runtime twice in one
            // handler) stays where it is.
            inner.cut = (ctx.cut.as_deref_mut())
                .filter(|c| c.at.is_none())
                .map(std::mem::take);
            // The kernel's spare message buffers: sends reuse them.
            std::mem::swap(&mut inner.buffers, ctx.buffers);
            inner.next_timer = *ctx.next_timer;
            inner.order = ctx.task_order();
        }
        let order = ctx.task_order();
        self.adopt(order);
        // Under exploration a choice among ready tasks is a step of its own
        // (`only`, taken by the explorer); a lone ready task has no
        // alternative and runs at once.
        let stepwise = order == TaskOrder::Stepwise;
        if let Some(task) = only.filter(|_| stepwise) {
            self.collect_woken();
            let ready = self.shared.inner.borrow_mut().ready.remove(&task);
            if ready {
                self.poll(task);
                self.adopt(order);
            }
        }
        let mut ran = only.is_some();
        let mut polls = 0u32;
        loop {
            let next = if stepwise {
                self.lone_ready()
            } else {
                self.pick(order, ctx)
            };
            let Some(task) = next else { break };
            ran = true;
            polls += 1;
            if polls > POLLS_PER_HANDLER {
                self.spinning();
                break;
            }
            self.poll(task);
            self.adopt(order);
        }
        let mut inner = self.shared.inner.borrow_mut();
        std::mem::swap(&mut inner.disk, ctx.disk);
        std::mem::swap(&mut inner.buffers, ctx.buffers);
        if let (Some(mut cut), Some(lent)) = (inner.cut.take(), ctx.cut.as_deref_mut()) {
            if let Some((at, _)) = &mut cut.at {
                *at += ctx.effects.len();
            }
            *lent = cut;
        }
        *ctx.next_timer = inner.next_timer;
        if inner.asks_inputs && !inner.asks_told {
            inner.asks_told = true;
            ctx.inputs |= crate::node::input_note::ASKED;
        }
        if std::mem::take(&mut inner.clock_read) {
            ctx.clock_read.set(true);
        }
        let effects: &mut dyn std::any::Any = &mut *ctx.effects;
        match effects.downcast_mut::<Vec<Effect<Wake>>>() {
            // The host's timers are this runtime's own: no conversion.
            Some(effects) => effects.append(&mut inner.effects),
            None => ctx.effects.extend(inner.effects.drain(..).map(|e| match e {
                Effect::Send {
                    to,
                    payload,
                    authenticated,
                } => Effect::Send {
                    to,
                    payload,
                    authenticated,
                },
                Effect::SetTimer { timer, after, tag } => Effect::SetTimer {
                    timer,
                    after,
                    tag: H::Timer::from(tag),
                },
                Effect::CancelTimer { timer } => Effect::CancelTimer { timer },
                Effect::Observe { text } => Effect::Observe { text },
                Effect::History(op) => Effect::History(op),
                Effect::Fail { message } => Effect::Fail { message },
            })),
        }
        ran
    }

    /// Takes in the tasks spawned since the last look: ready to run, and
    /// under PCT each with a random priority.
    fn adopt(&mut self, order: TaskOrder) {
        let spawned = {
            let mut inner = self.shared.inner.borrow_mut();
            if inner.spawned.is_empty() {
                return;
            }
            std::mem::take(&mut inner.spawned)
        };
        for (id, name, future) in spawned {
            let waker = Waker::from(Arc::new(TaskWaker {
                task: id,
                woken: self.woken.clone(),
            }));
            if let TaskOrder::Pct { depth, steps } = order {
                let mut inner = self.shared.inner.borrow_mut();
                if self.pct.change_points.is_empty() && depth > 1 {
                    // Drawn once per incarnation: the points at which the
                    // running task is demoted, soonest last.
                    let mut points: Vec<u64> = (1..depth).map(|_| inner.rng.below(steps)).collect();
                    points.sort_unstable_by(|a, b| b.cmp(a));
                    self.pct.change_points = points;
                }
                // Initial priorities sit above every demoted one.
                let priority = u64::from(depth) + inner.rng.below(1 << 32);
                self.pct.priority.insert(id, priority);
            }
            self.tasks.insert(
                id,
                Task {
                    name,
                    future,
                    waker,
                },
            );
            self.shared.inner.borrow_mut().ready.insert(id);
        }
    }

    /// Moves the tasks woken through their wakers into the ready set.
    fn collect_woken(&self) {
        // A plain load first: the swap is a locked instruction, and
        // nothing is woken this way on most steps.
        if self.woken.any.load(AtomicOrdering::Relaxed)
            && self.woken.any.swap(false, AtomicOrdering::Acquire)
        {
            let woken =
                std::mem::take(&mut *self.woken.tasks.lock().unwrap_or_else(|e| e.into_inner()));
            let mut inner = self.shared.inner.borrow_mut();
            for task in woken {
                inner.ready.insert(task);
            }
        }
    }

    /// The one ready task, taken out of the ready set; `None` when none
    /// or several are ready.
    fn lone_ready(&mut self) -> Option<u64> {
        self.collect_woken();
        let mut inner = self.shared.inner.borrow_mut();
        match inner.ready.0.as_slice() {
            [task] => {
                let task = *task;
                inner.ready.0.clear();
                Some(task)
            }
            _ => None,
        }
    }

    /// Fails the run: tasks kept waking themselves within one handler.
    fn spinning(&self) {
        let mut inner = self.shared.inner.borrow_mut();
        let node = inner.id;
        inner.effects.push(Effect::Fail {
            message: format!("{node}: tasks were polled {POLLS_PER_HANDLER} times in one handler without waiting on anything dsim drives (a task that wakes itself forever?)"),
        });
    }

    /// The ready task to run next, taken out of the ready set. A choice
    /// among several is recorded in the trace, and taken from the recorded
    /// one when the run follows a schedule (if that task is ready).
    fn pick<H: Node>(&mut self, order: TaskOrder, ctx: &mut Context<'_, H>) -> Option<u64> {
        self.collect_woken();
        let mut inner = self.shared.inner.borrow_mut();
        let inner = &mut *inner;
        let ready = &mut inner.ready;
        let n = ready.0.len();
        let pick = match (n, order) {
            (0, _) => None,
            (1, _) => ready.0.first().copied(),
            _ => {
                // Drawn even where the recorded choice overrides it: the
                // tasks' stream then stands where it stood in the
                // recording, so what the protocol draws from it next (a
                // jittered timeout) is what it drew there.
                let drawn = match order {
                    TaskOrder::Pct { .. } => ready
                        .0
                        .iter()
                        .max_by_key(|t| {
                            (self.pct.priority.get(t).copied().unwrap_or(0), Reverse(**t))
                        })
                        .copied(),
                    _ => {
                        let k = inner.rng.below(n as u64);
                        ready.0.get(k as usize).copied()
                    }
                };
                ctx.recorded_task_choice()
                    .filter(|t| ready.0.contains(t))
                    .or(drawn)
            }
        };
        if let Some(id) = pick {
            if n > 1 {
                let of: Vec<String> = ready.0.iter().map(|t| format!("#{t}")).collect();
                let text = format!("{}#{id} of {}", crate::node::TASK_CHOICE, of.join(" "));
                inner.effects.push(Effect::Observe { text });
            }
            ready.remove(&id);
        }
        pick
    }

    /// Polls `task` once; a finished task is dropped.
    fn poll(&mut self, id: u64) {
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        {
            let mut inner = self.shared.inner.borrow_mut();
            inner.current = id;
            inner.current_waker = task.waker.data();
        }
        let mut cx = std::task::Context::from_waker(&task.waker);
        let done = task.future.as_mut().poll(&mut cx).is_ready();
        self.pct.steps += 1;
        if self.pct.change_points.last() == Some(&self.pct.steps) {
            self.pct.change_points.pop();
            self.pct.demoted += 1;
            self.pct.priority.insert(id, self.pct.demoted);
        }
        if done {
            // Dropped here, outside any borrow: its futures' drops reach
            // the shared state.
            drop(self.tasks.remove(&id));
        }
    }

    /// Under exploration: the tasks ready to run.
    pub fn runnable(&self) -> Vec<u64> {
        self.collect_woken();
        self.shared.inner.borrow().ready.0.clone()
    }

    /// Under exploration: runs `task` until it waits again.
    pub fn run_task<H: Node>(&mut self, ctx: &mut Context<'_, H>, task: u64)
    where
        H::Timer: From<Wake>,
    {
        self.run(ctx, Some(task));
    }
}

/// An [`AsyncNode`] as a [`Node`]: what a simulation's factory returns.
pub struct Async<A: AsyncNode> {
    runtime: Runtime<A>,
}

impl<A: AsyncNode> Async<A> {
    pub fn new(node: A) -> Async<A> {
        Async {
            runtime: Runtime::new(node),
        }
    }

    /// The node's observable state, for invariants.
    pub fn state(&self) -> Ref<'_, A::State> {
        self.runtime.state()
    }

    /// The state, changed from outside a run: for testing an invariant
    /// on states a run would have to be led to.
    #[cfg(test)]
    pub(crate) fn state_mut(&self) -> std::cell::RefMut<'_, A::State> {
        self.runtime.shared.state.borrow_mut()
    }
}

impl<A: AsyncNode> Node for Async<A> {
    type Msg = Envelope<A::Msg>;
    type Timer = Wake;
    const UNHASHABLE: Option<&'static str> =
        Some("an async node's tasks are futures, which do not hash");

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.runtime.start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg) {
        ctx.unchanged = self.runtime.deliver(ctx, from, msg);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId, _tag: Wake) {
        self.runtime.timer(ctx, timer);
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        self.runtime.input(ctx, input);
    }

    fn stalled(&self) -> Option<String> {
        self.runtime.stalled()
    }

    fn role(&self) -> Option<&'static str> {
        A::role(&self.runtime.state())
    }

    fn runnable(&self) -> Vec<u64> {
        self.runtime.runnable()
    }

    fn on_run(&mut self, ctx: &mut Context<'_, Self>, task: u64) {
        self.runtime.run_task(ctx, task);
    }
}
