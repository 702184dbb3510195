//! Nodes: autonomous holders of private state.
//!
//! A protocol is a type implementing [`Node`]: a state machine that reacts to
//! its start, to each delivered message, to its timers and to client inputs.
//! It acts only through its [`Context`], which records what the node wants
//! done as [`Effect`]s; the kernel applies them after the handler returns.
//! Nothing outside the node reads or writes its state while a run is going
//! on; invariants see it between events, read-only.
//!
//! Nodes of different roles (clients and servers, say) live in one
//! simulation as variants of one enum that implements `Node`.
//!
//! A node's timers carry a value of its own type ([`Node::Timer`]): an enum
//! of the node's timeouts reads better than integer tags, and traces show
//! it by name.
//!
//! ```
//! use dsim::{Context, Duration, Node, NodeId, TimerId};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! enum Msg { Ping(u32), Pong(u32) }
//!
//! #[derive(Clone, Debug, Serialize, Deserialize)]
//! enum Timeout { Resend(u32) }
//!
//! #[derive(Default)]
//! struct Pinger { pongs: u32 }
//!
//! impl Node for Pinger {
//!     type Msg = Msg;
//!     type Timer = Timeout;
//!     fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
//!         if ctx.id() == NodeId(0) {
//!             ctx.send(NodeId(1), &Msg::Ping(0));
//!             ctx.set_timer(Duration::from_millis(50), Timeout::Resend(0));
//!         }
//!     }
//!     fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
//!         match msg {
//!             Msg::Ping(n) => ctx.send(from, &Msg::Pong(n)),
//!             Msg::Pong(n) => {
//!                 self.pongs += 1;
//!                 if n < 10 { ctx.send(from, &Msg::Ping(n + 1)); }
//!             }
//!         }
//!     }
//!     fn on_timer(&mut self, ctx: &mut Context<'_, Self>, _: TimerId, Timeout::Resend(n): Timeout) {
//!         if self.pongs == 0 { ctx.send(NodeId(1), &Msg::Ping(n)); }
//!     }
//! }
//! ```

use crate::rng::DetRng;
use crate::time::{Duration, Instant};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// The address of a node: its index in the simulation, from 0.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct NodeId(pub u32);

impl NodeId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// What may cross a channel: anything serde can turn into postcard bytes.
pub trait Message: Serialize + DeserializeOwned + fmt::Debug + 'static {}
impl<T: Serialize + DeserializeOwned + fmt::Debug + 'static> Message for T {}

/// What a timer hands back to its node when it fires: a small value of the
/// node's own type (an enum of its timeouts, say; `()` or `u64` will do).
/// The trace records its postcard bytes, so people see it by name.
pub trait TimerTag: Serialize + DeserializeOwned + Clone + fmt::Debug + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + fmt::Debug + 'static> TimerTag for T {}

/// A timer set by a node; unique within the node for the whole run, so a
/// timer set before a crash can never fire after the restart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimerId(pub u64);

/// An operation injected by the workload (a client request, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Input {
    /// Sequence number of the operation within the run, from 0.
    pub id: u64,
    /// A value drawn from the workload's own random stream, uniformly
    /// from `0..values` (a scenario's `[workload] values`, 1000 unless it
    /// says; a property test's [`crate::testing::Bounds::values`], the
    /// same; [`crate::config::Workload::value_range`] in code, where 0
    /// is any `u64`): set it wide before taking bits from it.
    pub value: u64,
}

/// Bits of [`Context::inputs`].
pub(crate) mod input_note {
    /// The default [`super::Node::on_input`] ran: the node type takes no
    /// client operations.
    pub const IGNORED: u8 = 1;
    /// An async node queued the operation for a task to ask for.
    pub const QUEUED: u8 = 2;
    /// One of an async node's tasks has asked for a client operation.
    pub const ASKED: u8 = 4;
}

/// A protocol participant: a pure state machine.
pub trait Node: 'static {
    /// The messages this protocol sends. Every one is serialized with
    /// postcard at send and deserialized at delivery.
    type Msg: Message;

    /// What the node's timers carry back to it (`()` if it sets none).
    type Timer: TimerTag;

    /// Called once when the node first starts, and again after each restart
    /// (on a fresh instance: volatile state is gone; durable state is in
    /// [`Context::disk`]).
    fn on_start(&mut self, ctx: &mut Context<'_, Self>);

    /// A message from `from` was delivered.
    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg);

    /// A timer set with [`Context::set_timer`] fired.
    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId, tag: Self::Timer) {
        let _ = (ctx, timer, tag);
    }

    /// The workload handed this node a client operation. A node type
    /// that leaves this out takes no client operations: a run whose
    /// workload hands it one stops with an invalid-configuration error
    /// rather than drop the operation unseen.
    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        let _ = input;
        ctx.inputs |= input_note::IGNORED;
    }

    /// Why states of this node type cannot be hashed for exploration
    /// ([`crate::Simulation::hashable`]), in words for the search's report
    /// (which then knows a node by the events it was handed); `None` (the
    /// default) when deriving `Hash` would do. An async node's tasks are
    /// futures, which do not hash.
    const UNHASHABLE: Option<&'static str> = None;

    /// The part this node plays now, in a word ("leader", "primary",
    /// "coordinator"), for faults aimed at whoever plays it: a scenario's
    /// `isolate = "leader"` cuts every up node that says `"leader"` off
    /// from all others when the fault comes (Jepsen's nemesis isolating
    /// the primaries), and `crash = "leader"` crashes each. `None` (the default) for a node that plays no part
    /// a fault can aim at. Asked only when such a fault comes, of each up
    /// node in id order; a node type that wraps others (an enum of roles)
    /// passes the question on.
    fn role(&self) -> Option<&'static str> {
        None
    }

    /// Asked when a run ends with no event left: work this node is
    /// waiting on that nothing in the simulation will ever complete, if
    /// any. The run then fails with check `stalled` and this text. A
    /// state-machine node has no such work; an async node
    /// ([`crate::aio`]) reports its tasks that wait on futures dsim does
    /// not drive. A node type that wraps async nodes (an enum of roles,
    /// say) passes the question on.
    fn stalled(&self) -> Option<String> {
        None
    }

    /// Under exploration ([`TaskOrder::Stepwise`]): the node's tasks that
    /// are ready to run, each a step the explorer can take. A
    /// state-machine node has none; an async node lists its ready tasks.
    fn runnable(&self) -> Vec<u64> {
        Vec::new()
    }

    /// Under exploration: run task `task` (one of [`Node::runnable`]) until
    /// it waits again.
    fn on_run(&mut self, ctx: &mut Context<'_, Self>, task: u64) {
        let _ = (ctx, task);
    }
}

/// How an async node's runtime picks among its tasks that are ready at
/// once; set by the run's strategy, read with [`Context::task_order`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskOrder {
    /// Uniformly at random from the node's seeded stream.
    #[default]
    Random,
    /// PCT among the node's tasks: each task a random priority, the
    /// highest ready one runs, and at `depth - 1` random points among the
    /// node's first `steps` task steps the running task drops to the
    /// lowest priority.
    Pct { depth: u32, steps: u64 },
    /// When several tasks are ready, none runs inside the handler: each is
    /// a step of its own ([`Node::on_run`]), so an explorer enumerates
    /// their orders. A lone ready task runs at once.
    Stepwise,
}

/// What a handler asks the kernel to do, as data; `T` is the node's timer
/// tag type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect<T> {
    /// Send these postcard bytes to `to`, with a MAC if `authenticated`.
    Send {
        to: NodeId,
        payload: Vec<u8>,
        authenticated: bool,
    },
    /// Fire `timer` with `tag` after `after` of the node's local time.
    SetTimer {
        timer: TimerId,
        after: Duration,
        tag: T,
    },
    /// Forget a timer that has not fired yet.
    CancelTimer { timer: TimerId },
    /// A client-visible operation or result, for checkers and people.
    Observe { text: String },
    /// A client history event, for the linearizability checker.
    History(crate::history::Op),
    /// The handler could not do what it meant to (a message that did not
    /// serialize, say); the run fails with this message.
    Fail { message: String },
}

/// `value`'s postcard bytes in `out`, for disk key `key`.
///
/// # Panics
/// If `value` does not encode (see [`Disk::write`]).
fn encode_for_disk<T: Serialize>(key: &str, value: &T, out: &mut Vec<u8>) {
    if let Err(e) = crate::wire::encode_into(value, out) {
        panic!(
            "disk key `{key}`: a `{}` does not serialize with postcard ({e}); serde attributes \
             such as `flatten` need a self-describing format",
            std::any::type_name::<T>()
        );
    }
}

/// A node's persistent storage. Writes are volatile until [`Disk::sync`];
/// a crash loses unsynced writes and keeps synced ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    synced: BTreeMap<String, Vec<u8>>,
    // Sorted by key, each key once; `None` marks a removal that is not yet
    // synced. A vector: a handler writes a few keys between syncs, and a
    // map would allocate a node for them on every sync.
    unsynced: Vec<(String, Option<Vec<u8>>)>,
}

impl Disk {
    fn pending(&self, key: &str) -> Result<usize, usize> {
        self.unsynced.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Stores `value` under `key` (volatile until synced).
    ///
    /// # Panics
    /// If `value` does not serialize with postcard (a `#[serde(flatten)]`
    /// field, say). In a handler the panic fails the run as check `panic`,
    /// naming the key: storing nothing would pass for a disk that forgot.
    pub fn write<T: Serialize>(&mut self, key: &str, value: &T) {
        // Into the buffer of an unsynced write of the same key, or one as
        // large as the synced value: a log rewritten on every append grows
        // once, not by doubling each time.
        match self.pending(key) {
            Ok(i) => {
                let pending = &mut self.unsynced[i].1;
                let bytes = pending.get_or_insert_with(Vec::new);
                bytes.clear();
                encode_for_disk(key, value, bytes);
            }
            Err(i) => {
                let hint = self.synced.get(key).map_or(0, Vec::len);
                let mut bytes = Vec::with_capacity(hint + hint / 8 + 8);
                encode_for_disk(key, value, &mut bytes);
                self.unsynced.insert(i, (key.to_string(), Some(bytes)));
            }
        }
    }

    /// Removes `key` (volatile until synced).
    pub fn remove(&mut self, key: &str) {
        match self.pending(key) {
            Ok(i) => self.unsynced[i].1 = None,
            Err(i) => self.unsynced.insert(i, (key.to_string(), None)),
        }
    }

    /// The latest value of `key`, synced or not; `None` if absent.
    ///
    /// # Panics
    /// If the bytes under `key` do not decode as `T`: written as another
    /// type, or a type that does not read back through postcard (an
    /// internally tagged or untagged enum, `skip_serializing_if`). In a
    /// handler the panic fails the run as check `panic`, naming the key;
    /// answering `None` would pass for a disk that forgot. [`Disk::try_read`]
    /// returns the error instead.
    pub fn read<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        match self.try_read(key) {
            Ok(value) => value,
            Err(e) => panic!(
                "disk key `{key}` holds bytes that do not decode as `{}` ({e}): written as \
                 another type, or a type that does not read back through postcard",
                std::any::type_name::<T>()
            ),
        }
    }

    /// The latest value of `key`, synced or not: `Ok(None)` if absent, an
    /// error if its bytes do not decode as `T`.
    pub fn try_read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, postcard::Error> {
        let bytes = match self.pending(key) {
            Ok(i) => self.unsynced[i].1.as_ref(),
            Err(_) => self.synced.get(key),
        };
        bytes.map(|b| postcard::from_bytes(b)).transpose()
    }

    /// Makes every write so far durable.
    pub fn sync(&mut self) {
        for (key, value) in self.unsynced.drain(..) {
            match value {
                Some(bytes) => match self.synced.get_mut(&key) {
                    Some(held) => *held = bytes,
                    None => {
                        self.synced.insert(key, bytes);
                    }
                },
                None => {
                    self.synced.remove(&key);
                }
            }
        }
    }

    /// What survives a crash: the synced writes only.
    pub fn crash(&mut self) {
        self.unsynced.clear();
    }

    /// The keys written or removed since the last sync, in key order.
    pub fn unsynced_keys(&self) -> impl Iterator<Item = &str> {
        self.unsynced.iter().map(|(k, _)| k.as_str())
    }

    /// A crash that keeps the unsynced writes `keep` picks (asked once per
    /// key, in key order) as if synced, and loses the others. Returns the
    /// keys kept and the keys lost.
    pub fn crash_keeping(
        &mut self,
        mut keep: impl FnMut(&str) -> bool,
    ) -> (Vec<String>, Vec<String>) {
        let (mut kept, mut lost) = (Vec::new(), Vec::new());
        for (key, value) in std::mem::take(&mut self.unsynced) {
            if !keep(&key) {
                lost.push(key);
                continue;
            }
            match value {
                Some(bytes) => {
                    self.synced.insert(key.clone(), bytes);
                }
                None => {
                    self.synced.remove(&key);
                }
            }
            kept.push(key);
        }
        (kept, lost)
    }
}

/// A node's window onto the world during one handler call.
pub struct Context<'a, N: Node + ?Sized> {
    pub(crate) id: NodeId,
    pub(crate) nodes: u32,
    pub(crate) local_now: Instant,
    pub(crate) rng: &'a mut DetRng,
    pub(crate) disk: &'a mut Disk,
    pub(crate) effects: &'a mut Vec<Effect<N::Timer>>,
    pub(crate) next_timer: &'a mut u64,
    /// Buffers of delivered messages, reused for new ones.
    pub(crate) buffers: &'a mut Vec<Vec<u8>>,
    /// Whether the message being handled carries a MAC that verifies.
    pub(crate) authentic: bool,
    pub(crate) task_order: TaskOrder,
    /// Following a recorded schedule: the node's recorded task choices.
    pub(crate) task_choices: Option<&'a mut std::collections::VecDeque<u64>>,
    /// What the handler's node said about client operations: bits of
    /// [`input_note`].
    pub(crate) inputs: u8,
    /// Whether the handler read its clock ([`Context::now`]): exploration,
    /// which does not model time, says so when the protocol does.
    pub(crate) clock_read: std::cell::Cell<bool>,
    /// Set by a node that knows the event it was handed changed nothing
    /// (an async node handed a reply no call waits for any more):
    /// exploration then leaves the event out of what the node was handed.
    pub(crate) unchanged: bool,
    /// A crash due in the middle of this handler, after a given send.
    pub(crate) cut: Option<&'a mut Cut>,
    pub(crate) _node: PhantomData<fn(&N)>,
}

/// A crash due right after a node's `left`-th send from now (0: none left
/// to count) in a handler ([`crate::config::Progress::Sends`]): where the handler's
/// effects stood then, and its disk, so that nothing it did after that
/// send happens.
#[derive(Debug, Default)]
pub(crate) struct Cut {
    pub(crate) left: u64,
    /// The effects up to and with that send (without it, `before`), and
    /// the disk then.
    pub(crate) at: Option<(usize, Disk)>,
    /// Whether the cut comes right before that send (a pause that falls
    /// there), not right after it (a crash).
    pub(crate) before: bool,
}

impl Cut {
    /// The handler has just answered a client (its last effect): a pause
    /// due before the handler's first send comes before an answer too.
    pub(crate) fn answered<T>(&mut self, effects: &[Effect<T>], disk: &Disk) {
        if self.before && self.left > 0 {
            self.left = 0;
            self.at = Some((effects.len() - 1, disk.clone()));
        }
    }

    /// The handler has just pushed its last effect: a send counts down.
    pub(crate) fn sent<T>(&mut self, effects: &[Effect<T>], disk: &Disk) {
        if self.left == 0 || !matches!(effects.last(), Some(Effect::Send { .. })) {
            return;
        }
        self.left -= 1;
        if self.left == 0 {
            self.at = Some((effects.len() - usize::from(self.before), disk.clone()));
        }
    }
}

impl<'a, N: Node + ?Sized> Context<'a, N> {
    /// This node's address.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// How many nodes the simulation has (ids are `0..node_count()`).
    pub fn node_count(&self) -> u32 {
        self.nodes
    }

    /// Every other node's id, in order.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes).map(NodeId).filter(move |&n| n != self.id)
    }

    /// The node's local clock: virtual time with this node's offset and drift.
    ///
    /// Under `dsim explore` time is not modelled (a step takes 1 ms, and
    /// timers fire in any order their own node's lengths allow), and the
    /// search's report says so when a node has read its clock.
    pub fn now(&self) -> Instant {
        self.clock_read.set(true);
        self.local_now
    }

    /// How an async node orders its ready tasks under this run's strategy.
    pub fn task_order(&self) -> TaskOrder {
        self.task_order
    }

    /// Following a recorded schedule: the next task this node chose when
    /// several were ready, as recorded.
    pub(crate) fn recorded_task_choice(&mut self) -> Option<u64> {
        self.task_choices.as_mut()?.pop_front()
    }

    /// The node's own random stream, independent of every other stream.
    pub fn rng(&mut self) -> &mut DetRng {
        self.rng
    }

    /// The node's durable storage.
    pub fn disk(&mut self) -> &mut Disk {
        self.disk
    }

    /// Sends `msg` to `to`. The sender never blocks; the network decides the
    /// message's fate.
    pub fn send(&mut self, to: NodeId, msg: &N::Msg) {
        self.send_with(to, msg, false);
    }

    /// Sends `msg` to `to` over an authenticated channel: with a MAC
    /// computed with the key this node shares with `to` (see
    /// [`crate::adversary`]), which the receiver checks with
    /// [`Context::authentic`]. The network adversary cannot forge or alter
    /// such a message unnoticed; it can still replay it.
    pub fn send_authenticated(&mut self, to: NodeId, msg: &N::Msg) {
        self.send_with(to, msg, true);
    }

    /// Sends `msg` to every other node over authenticated channels.
    pub fn broadcast_authenticated(&mut self, msg: &N::Msg) {
        for to in (0..self.nodes).map(NodeId) {
            if to != self.id {
                self.send_with(to, msg, true);
            }
        }
    }

    /// While handling a message: true when it carries a MAC that verifies
    /// for the sender it claims and this node — it was sent with
    /// [`Context::send_authenticated`] by that sender and its bytes are
    /// the ones sent. False for a message sent without a MAC, for one the
    /// network forged or altered, and outside [`Node::on_message`]. A
    /// protocol that relies on authenticated channels ignores messages for
    /// which this is false.
    pub fn authentic(&self) -> bool {
        self.authentic
    }

    fn send_with(&mut self, to: NodeId, msg: &N::Msg, authenticated: bool) {
        push_send(self.effects, self.buffers, self.id, to, msg, authenticated);
        if let Some(cut) = self.cut.as_deref_mut() {
            cut.sent(self.effects, self.disk);
        }
    }

    /// Sends `msg` to every other node.
    pub fn broadcast(&mut self, msg: &N::Msg) {
        for to in (0..self.nodes).map(NodeId) {
            if to != self.id {
                self.send(to, msg);
            }
        }
    }

    /// Asks for [`Node::on_timer`] with `tag` after `after` of local time.
    pub fn set_timer(&mut self, after: Duration, tag: N::Timer) -> TimerId {
        let timer = TimerId(*self.next_timer);
        *self.next_timer += 1;
        self.effects.push(Effect::SetTimer { timer, after, tag });
        timer
    }

    /// Cancels a timer that has not fired; cancelling a fired one is a no-op.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.effects.push(Effect::CancelTimer { timer });
    }

    /// Records a client-visible operation or result in the trace.
    pub fn observe(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Observe { text: text.into() });
    }

    /// Marks the start of a stretch of this node's time worth seeing (for
    /// example "in critical section"): `dsim show --format html` draws it
    /// as a bar on the node's lane until [`Context::end_span`] with the
    /// same name (or the end of the trace). It is an observation
    /// [`SPAN_BEGIN`]` NAME` in the trace.
    pub fn begin_span(&mut self, name: &str) {
        self.observe(format!("{SPAN_BEGIN}{name}"));
    }

    /// Ends the span of this name that [`Context::begin_span`] started.
    pub fn end_span(&mut self, name: &str) {
        self.observe(format!("{SPAN_END}{name}"));
    }

    /// Records that client `process` invoked operation `f` (on `key`,
    /// with argument `value`), for the history checkers. A process has one
    /// operation outstanding at a time.
    ///
    /// ```ignore
    /// ctx.invoke(7, "cas", Some("x".into()), vec![1, 2].into());
    /// ```
    ///
    /// # Panics
    /// If `key` or `value` nests more than [`crate::history::MAX_DEPTH`]
    /// lists deep (so does [`Context::complete`]): in a handler, the run
    /// fails as check `panic`.
    pub fn invoke(
        &mut self,
        process: u64,
        f: &str,
        key: Option<crate::history::Value>,
        value: crate::history::Value,
    ) {
        self.history(crate::history::Phase::Invoke, process, f, key, value);
    }

    /// Records the outcome of `process`'s outstanding operation: `Ok` with
    /// its result (a read's value), `Fail` (it did not happen) or `Info`
    /// (unknown: it may have happened).
    pub fn complete(
        &mut self,
        process: u64,
        phase: crate::history::Phase,
        f: &str,
        key: Option<crate::history::Value>,
        value: crate::history::Value,
    ) {
        self.history(phase, process, f, key, value);
    }

    fn history(
        &mut self,
        phase: crate::history::Phase,
        process: u64,
        f: &str,
        key: Option<crate::history::Value>,
        value: crate::history::Value,
    ) {
        use crate::history::{Phase, MAX_DEPTH};
        for (what, v) in [("key", key.as_ref()), ("value", Some(&value))] {
            if v.is_some_and(|v| v.deeper_than(MAX_DEPTH)) {
                panic!(
                    "ctx.{}: the {what} of process {process}'s `{f}` nests more than {MAX_DEPTH} \
                     lists deep, more than a trace holds",
                    if phase == Phase::Invoke {
                        "invoke"
                    } else {
                        "complete"
                    }
                );
            }
        }
        self.effects.push(Effect::History(crate::history::Op {
            process,
            phase,
            f: f.to_string(),
            key,
            value,
        }));
        if let (Some(cut), false) = (self.cut.as_deref_mut(), phase == Phase::Invoke) {
            cut.answered(self.effects, self.disk);
        }
    }
}

/// Encodes `msg` into a reused buffer and asks for it to be sent from
/// `from` to `to`; a message that does not serialize fails the run.
#[inline]
pub(crate) fn push_send<T, M: Serialize + ?Sized>(
    effects: &mut Vec<Effect<T>>,
    buffers: &mut Vec<Vec<u8>>,
    from: NodeId,
    to: NodeId,
    msg: &M,
    authenticated: bool,
) {
    let mut payload = buffers.pop().unwrap_or_default();
    payload.clear();
    match crate::wire::encode_into(msg, &mut payload) {
        Ok(()) => effects.push(Effect::Send {
            to,
            payload,
            authenticated,
        }),
        Err(e) => effects.push(Effect::Fail {
            message: format!("{from} could not serialize a message to {to}: {e}"),
        }),
    }
}

/// How an observation records an async node's choice among its ready
/// tasks: `task> #3 of #1 #2 #3`. Schedule replay follows these.
pub const TASK_CHOICE: &str = "task> ";

/// How an observation begins a span ([`Context::begin_span`]).
pub const SPAN_BEGIN: &str = "span+ ";
/// How an observation ends a span ([`Context::end_span`]).
pub const SPAN_END: &str = "span- ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_disk_value_read_as_another_type_is_an_error_not_an_empty_disk() {
        let mut disk = Disk::default();
        disk.write("state", &String::from("leader"));
        disk.write("n", &1u8);
        assert_eq!(disk.try_read::<u8>("absent").unwrap(), None);
        assert!(disk.try_read::<bool>("state").is_err());
        let read = std::panic::catch_unwind(|| disk.read::<Vec<u64>>("n"));
        let message = *read.unwrap_err().downcast::<String>().unwrap();
        assert!(
            message.starts_with(
                "disk key `n` holds bytes that do not decode as `alloc::vec::Vec<u64>`"
            ),
            "{message}"
        );
        #[derive(Serialize)]
        struct Inner {
            a: u8,
        }
        #[derive(Serialize)]
        struct Flat {
            #[serde(flatten)]
            inner: Inner,
        }
        let write = std::panic::catch_unwind(move || {
            Disk::default().write(
                "flat",
                &Flat {
                    inner: Inner { a: 1 },
                },
            )
        });
        let message = *write.unwrap_err().downcast::<String>().unwrap();
        assert!(message.starts_with("disk key `flat`: a `"), "{message}");
    }

    #[test]
    fn disk_keeps_synced_writes_and_loses_the_rest_at_a_crash() {
        let mut disk = Disk::default();
        disk.write("term", &3u64);
        disk.sync();
        disk.write("term", &4u64);
        disk.write("vote", &1u32);
        assert_eq!(disk.read::<u64>("term"), Some(4));
        disk.crash();
        assert_eq!(disk.read::<u64>("term"), Some(3));
        assert_eq!(disk.read::<u32>("vote"), None);
        disk.remove("term");
        disk.sync();
        assert_eq!(disk.read::<u64>("term"), None);
    }

    #[test]
    fn unsynced_writes_are_the_same_state_in_any_order() {
        // Exploration tells states apart by their disks: the order of the
        // writes since the last sync must not matter, only what they say.
        let (mut a, mut b) = (Disk::default(), Disk::default());
        for key in ["log/2", "term", "log/10", "vote"] {
            a.write(key, &key.len());
        }
        for key in ["vote", "log/10", "term", "log/2"] {
            b.write(key, &key.len());
        }
        assert_eq!(a, b);
        use std::hash::{Hash, Hasher};
        let hash = |d: &Disk| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            d.hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&a), hash(&b));
        // A removal then a write of the same key, and the other way round.
        a.remove("term");
        a.write("term", &9u64);
        a.write("vote", &1u64);
        a.remove("vote");
        assert_eq!(a.read::<u64>("term"), Some(9));
        assert_eq!(a.read::<u64>("vote"), None);
        a.sync();
        assert_eq!(a.read::<u64>("term"), Some(9));
        assert_eq!(a.read::<u64>("vote"), None);
        assert_eq!(a.read::<usize>("log/10"), Some(6));
    }
}
