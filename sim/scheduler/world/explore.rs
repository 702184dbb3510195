//! The world under exploration's asynchronous semantics (see
//! [`crate::config::Strategy::Explore`]): messages in flight wait in a
//! pool, and each step is one enabled action, chosen by its index in a
//! canonical list, so a path of indices is a schedule that replays
//! exactly.

use super::World;
use crate::config::{Budgets, FaultAction};
use crate::invariant::When;
use crate::network::{InFlight, LossCause};
use crate::node::{Node, NodeId};
use crate::scheduler::SimError;
use crate::time::{Duration, Instant};
use crate::trace::{Kind, Sink};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// How a settle ended ([`World::settle_step`]); a check that failed on
/// the way or at the end is the world's failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Every `eventually` check due held at once.
    Held,
    /// Nothing more could happen, and the state was judged as such.
    Rested,
    /// Out of steps (or only faults left): the checks due were judged.
    Judged,
    /// No `eventually` check was due (a fault in force for each: a node
    /// down, which a settle does not restart), so none was judged.
    Unjudged,
    /// A check failed on the way.
    Failed,
}

/// States known to settle: the states, on settle paths whose `eventually`
/// checks came to hold (or that came to rest, their checks passed), where
/// the settle handed out a client operation, by [`World::settle_key`]. A
/// settle is the same walk from any state of such a path, and settles
/// from the states of a search, each handing out the operations left one
/// by one, meet at such states again and again (a settle hands out an
/// operation only when no task is ready and no copy is in flight): a
/// settle that reaches a known one stops there, as that walk did. Its
/// budget counts from the last operation handed out, so the walk from
/// there is the same whatever came before. (Asked only whether it holds
/// a key, never walked: its order decides nothing.)
#[derive(Default)]
pub(crate) struct SettleMemo {
    known: rustc_hash::FxHashSet<u64>,
}

impl SettleMemo {
    /// Keys kept at most (16 bytes each): past it, no more are learnt.
    const MOST: usize = 1 << 24;

    fn learn(&mut self, keys: &[u64]) {
        if self.known.len() < Self::MOST {
            self.known.extend(keys);
        }
    }
}

/// How far a settle has gone, and whether it may go on.
struct Pace {
    /// The settle's budget ([`crate::config::Budgets::settle`]).
    steps: u32,
    /// Steps since the last client operation was handed out.
    since: u32,
    /// The first `eventually` check due that failed at the last step, and
    /// its message.
    broken: Option<(String, String)>,
    /// The step (counted as `since` is) at which that check, or its
    /// message, last changed.
    moved: u32,
}

impl Pace {
    /// A settle still converging goes on past its budget: the failing
    /// check's message is how far the state is from holding ("71 nodes
    /// uninformed"), and a budget sized for five nodes is short for five
    /// hundred.
    const STRETCH: u32 = 10;

    fn saw(&mut self, broken: (String, String)) {
        if self.broken.as_ref() != Some(&broken) {
            self.broken = Some(broken);
            self.moved = self.since;
        }
    }

    /// Whether the settle may take another step: within its budget; or,
    /// up to [`Pace::STRETCH`] times it, while the failing check's message
    /// has stood still for fewer steps than the budget and than the
    /// settle took to bring it there (a 500-node gossip takes a thousand
    /// steps a round: its last node may hear the rumor a round later). A
    /// check that never moved (a lost message never resent while a
    /// heartbeat ticks on) is judged at the budget as before.
    fn more(&self) -> bool {
        self.since < self.steps
            || (self.since < self.steps.saturating_mul(Pace::STRETCH) && !self.stood_still())
    }

    /// Whether the failing check's message has stood still for the
    /// budget, and for as many steps as the settle took to bring it there.
    fn stood_still(&self) -> bool {
        self.since - self.moved >= self.steps.max(self.moved)
    }
}

/// What a settle does next ([`World::settle_step`]).
enum SettleStep {
    Take(u32, Action),
    Done(Settled),
}

/// Why an `eventually` failed where an explored path ends in a settle.
pub(crate) const SETTLED: &str = "judged where the explored path ends, after a settle: no fault, \
     ready tasks run, every copy in flight delivered oldest first, the operations left handed \
     out, timers fired in the order they fall due; no state of the settle had every `eventually` \
     check hold at once (the search has no clock: its steps, not a deadline, bound the settle: \
     --settle steps, and on while the failing check's message still changes, up to ten times as \
     many)";

/// What exploration keeps beyond the world itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct Pool {
    /// Copies in flight, in the order they were sent (ids, then copies).
    pub in_flight: Vec<InFlight>,
    pub budgets: Budgets,
    pub used: Budgets,
    /// The next client operation.
    pub next_input: u64,
    /// Timers fired early so far (counted when `budgets.early_timers` bounds them).
    pub early: u32,
    /// What the last step touched.
    pub touch: Touch,
    /// Whether a handler read its clock during the step being taken.
    pub clock_read: bool,
    /// Each timer set under exploration (node, timer): when it would be
    /// due, the order a settle fires timers in
    /// ([`crate::config::Budgets::settle`]), and how long it was set for,
    /// which orders a node's own timers ([`World::enabled`]).
    pub deadlines: BTreeMap<(u32, u64), Due>,
    /// During a step that cuts its handler ([`Action::Cut`]): after which
    /// of the handler's sends, until the handler takes it.
    pub cut: Option<u32>,
    /// The process whose handler that cut fell in, once it did.
    pub cut_node: Option<NodeId>,
    /// The last step was a cut whose handler made fewer sends than it
    /// was to fall after: no such step exists, and the search leaves it.
    pub void: bool,
}

/// A timer set under exploration: when it was set and would be due (the
/// path's time: a step takes 1 ms), and how long it was set for (its
/// node's clock).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Due {
    pub set: Instant,
    pub at: Instant,
    pub after: Duration,
}

impl Due {
    /// Whether this timer (id `id`) falls due before `other` (id
    /// `other_id`) of the same node on any timing of the steps between:
    /// set no later, for no longer, and not the same setting (ties go by
    /// id: the one set first, as runs order them).
    fn first(&self, id: u64, other: &Due, other_id: u64) -> bool {
        self.set <= other.set
            && self.after <= other.after
            && (self.set, self.after, id) < (other.set, other.after, other_id)
    }
}

/// The timers of one node's `pending` (id, and when set) that may fire
/// now: those no other falls due before ([`Due::first`]).
fn free_timers(pending: &[(u64, Option<Due>)]) -> impl Iterator<Item = u64> + '_ {
    pending.iter().filter_map(|&(t, due)| {
        let waits = due.is_some_and(|d| {
            pending
                .iter()
                .any(|&(u, e)| e.is_some_and(|e| e.first(u, &d, t)))
        });
        (!waits).then_some(t)
    })
}

/// What a step touched, as partial-order reduction needs it: two steps
/// that touch different nodes, and do not both record a client
/// operation's event, reach the same state in either order, and neither
/// takes the other's place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Touch {
    /// One node's own state (its handler, disk, random stream, timers,
    /// tasks) and the copies it sent; `history`: the step recorded a
    /// client operation's event.
    Node { node: u32, history: bool },
    /// Possibly anything: a fault, a client operation handed out, a timer
    /// fired early under a bound, a handler that read its clock (the
    /// time differs with the order), a step under monitors (their
    /// summaries see every intermediate state) or an adversary, or a step
    /// that failed.
    #[default]
    All,
}

/// Up to this many unsynced writes, a crash that may keep some branches
/// on every subset of them (see [`World::disk_choices`]).
pub const DISK_CHOICES_ALL: u32 = 6;

/// One step an exploration can take.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Deliver the i-th copy in flight (message `msg`, `from` → `to`).
    Deliver(usize, Flight),
    /// Fire a node's timer.
    Fire(NodeId, u64),
    /// Hand the next client operation to its node.
    Input,
    /// Lose the i-th copy in flight.
    Drop(usize, Flight),
    /// Give the i-th copy in flight a twin.
    Duplicate(usize, Flight),
    /// Crash a node; on a disk that may keep unsynced writes
    /// ([`crate::config::DiskConfig`]), keeping those whose bits are set
    /// (one a key, in key order).
    Crash(NodeId, Option<u64>),
    Restart(NodeId),
    /// Run one of an async node's ready tasks until it waits again.
    Run(NodeId, u64),
    /// Take the step (a delivery, a timer, a task run or the next client
    /// operation) and crash its node right after the handler's `n`-th
    /// send: the sends before it leave, nothing the handler did after it
    /// happens (its later sends, timers, answers, disk writes), and every
    /// write not yet synced is lost ([`crate::config::Budgets::mid_handler`]).
    Cut(Box<Action>, u32),
}

/// Which copy an action takes: for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flight {
    pub msg: u64,
    pub copy: u32,
    pub from: NodeId,
    pub to: NodeId,
}

impl Action {
    /// The node whose handler the step runs, where the action names it
    /// (the next client operation's node is the workload's draw).
    pub fn handler(&self) -> Option<NodeId> {
        match self {
            Action::Deliver(_, f) => Some(f.to),
            Action::Fire(n, _) | Action::Run(n, _) => Some(*n),
            _ => None,
        }
    }
}

/// A step cut by a crash right after its handler's `n`-th send, in words.
fn cut_words(step: &dyn std::fmt::Display, node: Option<NodeId>, n: u32) -> String {
    format!(
        "{step}, cut by a crash of {} right after the handler's {} send",
        node.map_or("its node".to_string(), |n| n.to_string()),
        crate::config::ordinal(u64::from(n))
    )
}

impl std::fmt::Display for Flight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "m{}.{} {} -> {}",
            self.msg, self.copy, self.from, self.to
        )
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Deliver(_, m) => write!(f, "deliver {m}"),
            Action::Fire(n, t) => write!(f, "fire {n}'s timer t{t}"),
            Action::Input => write!(f, "next client operation"),
            Action::Drop(_, m) => write!(f, "drop {m}"),
            Action::Duplicate(_, m) => write!(f, "duplicate {m}"),
            Action::Crash(n, None) => write!(f, "crash {n}"),
            Action::Crash(n, Some(kept)) => {
                write!(f, "crash {n} keeping unsynced writes {kept:#b}")
            }
            Action::Restart(n) => write!(f, "restart {n}"),
            Action::Run(n, t) => write!(f, "run {n}'s task #{t}"),
            Action::Cut(step, n) => f.write_str(&cut_words(step, step.handler(), *n)),
        }
    }
}

impl<'s, N: Node, S: Sink> World<'s, N, S> {
    /// Every action enabled now, in the canonical order a path indexes:
    /// deliveries, timers, async nodes' ready tasks, the next operation,
    /// then the faults the budgets still allow.
    pub(crate) fn enabled(&self) -> Vec<Action> {
        let Some(pool) = &self.explore else {
            return Vec::new();
        };
        let flight = |i: usize| {
            let m = &pool.in_flight[i];
            Flight {
                msg: m.msg,
                copy: m.copy,
                from: m.from,
                to: m.to,
            }
        };
        // On a FIFO link only the oldest copy in flight can arrive next
        // (copies are kept in send order); other links deliver in any
        // order.
        let net = &self.sim.config.network;
        let mut heads: Vec<(NodeId, NodeId)> = Vec::new();
        let mut out: Vec<Action> = (0..pool.in_flight.len())
            .filter(|&i| {
                let m = &pool.in_flight[i];
                let link = (m.from, m.to);
                if !net.is_fifo(m.from, m.to) || !heads.contains(&link) {
                    heads.push(link);
                    return true;
                }
                false
            })
            .map(|i| Action::Deliver(i, flight(i)))
            .collect();
        // A timer fires early while something else can still happen
        // first: a copy in flight, a ready task.
        let timers = match pool.budgets.early_timers {
            Some(b) if pool.early >= b => !self.busy(),
            _ => true,
        };
        // A node's timers fall due in the order their settings fix: one
        // set no later than another, for no longer, is due first on any
        // timing of the steps between, and the other waits for it (a
        // leader's election timeout reset after its heartbeat was set
        // cannot fire first). Across nodes, whose clocks and speeds the
        // search does not know, and among a node's timers that neither
        // orders, any order.
        for (i, slot) in self.slots.iter().enumerate() {
            if timers && self.nodes[i].is_some() {
                let node = NodeId(i as u32);
                let mut one = slot.timers.iter();
                if let (Some((t, _)), None) = (one.next(), one.next()) {
                    // One timer pending (the common case): nothing to order.
                    out.push(Action::Fire(node, t));
                    continue;
                }
                let pending: Vec<(u64, Option<Due>)> = slot
                    .timers
                    .iter()
                    .map(|(t, _)| (t, pool.deadlines.get(&(i as u32, t)).copied()))
                    .collect();
                out.extend(free_timers(&pending).map(|t| Action::Fire(node, t)));
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if let Some(node) = node {
                let id = NodeId(i as u32);
                out.extend(node.runnable().into_iter().map(|t| Action::Run(id, t)));
            }
        }
        let more_input = self
            .sim
            .config
            .workload
            .as_ref()
            .is_some_and(|w| pool.next_input < w.count);
        if more_input {
            out.push(Action::Input);
        }
        if pool.used.drops < pool.budgets.drops {
            out.extend((0..pool.in_flight.len()).map(|i| Action::Drop(i, flight(i))));
        }
        if pool.used.duplicates < pool.budgets.duplicates {
            out.extend((0..pool.in_flight.len()).map(|i| Action::Duplicate(i, flight(i))));
        }
        // Crashes and restarts by node: a twin's instances (the processes
        // after the last node) go down and come back with it.
        let identities = self.sim.config.nodes as usize;
        for (i, n) in self.nodes.iter().enumerate().take(identities) {
            let id = NodeId(i as u32);
            match n {
                // A disk that loses every unsynced write: one crash, and
                // no list made for it.
                Some(_) if pool.used.crashes < pool.budgets.crashes => {
                    match self.sim.config.disk.unsynced_kept == crate::rng::Ppm::ZERO {
                        true => out.push(Action::Crash(id, None)),
                        false => out.extend(
                            self.disk_choices(i)
                                .into_iter()
                                .map(|k| Action::Crash(id, k)),
                        ),
                    }
                }
                None => out.push(Action::Restart(id)),
                Some(_) => {}
            }
        }
        // A crash in the middle of a handler: each step that runs one at a
        // node the budget may crash, cut after each of its first sends
        // (those it does not make are left by the search: `void`).
        let sends = pool.budgets.mid_handler;
        if sends > 0 && pool.used.crashes < pool.budgets.crashes {
            let up = |n: NodeId| n.index() < identities && self.nodes[n.index()].is_some();
            let handlers: Vec<Action> = out
                .iter()
                .filter(|a| match a {
                    Action::Deliver(..) | Action::Fire(..) | Action::Run(..) => {
                        a.handler().is_some_and(up)
                    }
                    Action::Input => self.next_input_to().is_some_and(up),
                    _ => false,
                })
                .cloned()
                .collect();
            for a in handlers {
                out.extend((1..=sends).map(|n| Action::Cut(Box::new(a.clone()), n)));
            }
        }
        out
    }

    /// The node the next client operation goes to: the run's own draw,
    /// taken from a copy of the workload's stream.
    fn next_input_to(&self) -> Option<NodeId> {
        let w = self.sim.config.workload.as_ref()?;
        let (to, _, _) = w.draw(&mut self.workload_rng.clone(), self.sim.config.nodes);
        Some(to)
    }

    /// What a crash of process `i` may keep of its unsynced writes, one
    /// choice a branch: `None` alone when a crash loses them all; with a
    /// chance of 1 all of them; else every subset of up to
    /// [`DISK_CHOICES_ALL`] writes, and of more, none, all, each alone
    /// and all but each.
    fn disk_choices(&self, i: usize) -> Vec<Option<u64>> {
        let chance = self.sim.config.disk.unsynced_kept;
        if chance == crate::rng::Ppm::ZERO {
            return vec![None];
        }
        let k = self.slots[i].disk.unsynced_keys().count().min(64) as u32;
        let all = if k == 0 { 0 } else { u64::MAX >> (64 - k) };
        if chance == crate::rng::Ppm::ONE {
            return vec![Some(all)];
        }
        if k <= DISK_CHOICES_ALL {
            return (0..=all).map(Some).collect();
        }
        let mut out = vec![Some(0), Some(all)];
        for b in 0..k {
            out.push(Some(1 << b));
            out.push(Some(all & !(1 << b)));
        }
        out
    }

    /// A copy of this state, to take a step from while this one stays as
    /// it is: `None` unless the simulation copies node states
    /// ([`crate::Simulation::cloneable`]) and this is a state between two
    /// steps of exploration. Every field is named, so a field added to the
    /// world is a decision here too.
    pub(crate) fn fork(&self) -> Option<World<'s, N, S>>
    where
        S: Clone,
    {
        let copy = self.sim.state_clone?;
        if self.explore.is_none() || self.pct.is_some() || !self.effects.is_empty() {
            return None;
        }
        let monitors = self
            .monitors
            .iter()
            .zip(&self.sim.invariants)
            .map(|(m, inv)| match m {
                Some(state) => inv.clone_state(state.as_ref()).map(Some),
                None => Some(None),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(World {
            sim: self.sim,
            sink: self.sink.clone(),
            nodes: self.nodes.iter().map(|n| n.as_ref().map(copy)).collect(),
            slots: self.slots.clone(),
            network: self.network.clone(),
            clocks: self.clocks.clone(),
            queue: self.queue.clone(),
            pct: None,
            task_order: self.task_order,
            explore: self.explore.clone(),
            seq: self.seq,
            now: self.now,
            net_rng: self.net_rng.clone(),
            workload_rng: self.workload_rng.clone(),
            next_msg: self.next_msg,
            planned_pending: self.planned_pending.clone(),
            effects: Vec::new(),
            tag_bytes: Vec::new(),
            buffers: Vec::new(),
            clock_buffers: Vec::new(),
            stats: self.stats.clone(),
            failure: self.failure.clone(),
            also_failed: Vec::new(),
            judging_rest: false,
            ending: None,
            handled: self.handled,
            unfollowed: self.unfollowed,
            inputs_at_down: self.inputs_at_down,
            clocks_held: self.clocks_held.clone(),
            aimed_at_none: self.aimed_at_none.clone(),
            crashed_by: self.crashed_by.clone(),
            pauses: self.pauses.clone(),
            pause_held: self.pause_held.clone(),
            inputs_queued: self.inputs_queued,
            inputs_asked: self.inputs_asked,
            last_input: self.last_input,
            last_invoked: self.last_invoked,
            clock_read: self.clock_read,
            changed: self.changed,
            faults: self.faults,
            triggers: self.triggers.clone(),
            tallies: self.tallies.clone(),
            still: self.still.clone(),
            monitors,
            history: self.history.clone(),
            history_checked: self.history_checked,
            crashes: self.crashes.clone(),
            open_ops: self.open_ops.clone(),
            adv: self.adv.clone(),
            keys: self.keys.clone(),
            authentic: self.authentic,
            seen: self.seen.clone(),
            unchanged: self.unchanged,
            disk_rngs: self.disk_rngs.clone(),
            disk_choice: None,
            _msg: std::marker::PhantomData,
        })
    }

    /// Takes one action (a millisecond of virtual time passes), then checks
    /// the invariants as after any event; notes what it touched.
    pub(crate) fn take(&mut self, action: &Action) -> Result<(), SimError> {
        let recorded = self.history.as_ref().map_or(0, Vec::len);
        if let Some(pool) = self.explore.as_mut() {
            pool.touch = Touch::All;
            pool.clock_read = false;
        }
        self.take_step(action)?;
        self.check_history_now()?;
        let read_now = self.explore.as_ref().is_some_and(|p| p.clock_read);
        let node = match action {
            Action::Deliver(_, f) => Some(f.to),
            Action::Run(n, _) => Some(*n),
            Action::Fire(n, _) => self
                .explore
                .as_ref()
                .is_some_and(|p| p.budgets.early_timers.is_none())
                .then_some(*n),
            _ => None,
        };
        let touch = match node {
            Some(n) if !read_now && self.reducible() && self.failure.is_none() => Touch::Node {
                node: n.0,
                history: self.history.as_ref().map_or(0, Vec::len) != recorded,
            },
            _ => Touch::All,
        };
        if let Some(pool) = self.explore.as_mut() {
            pool.touch = touch;
        }
        Ok(())
    }

    /// What the last step touched ([`Touch::All`] before any, and after
    /// one that failed).
    pub(crate) fn touch(&self) -> Touch {
        match (&self.explore, &self.failure) {
            (Some(pool), None) => pool.touch,
            _ => Touch::All,
        }
    }

    /// Whether steps of this world can commute at all: no monitor, whose
    /// summaries see every intermediate state, and no adversary whose acts
    /// follow the order of deliveries (twins, silent nodes and amnesia do
    /// not: what they do is fixed by the configuration).
    fn reducible(&self) -> bool {
        self.monitors.iter().all(Option::is_none)
            && self.adv.as_ref().is_none_or(|a| !a.acts_on_order())
    }

    /// Why no two steps of this world are known to commute, if so
    /// ([`World::reducible`], in words).
    pub(crate) fn why_not_reduced(&self) -> Option<String> {
        if self.reducible() {
            return None;
        }
        let monitors: Vec<&str> = self
            .sim
            .invariants
            .iter()
            .zip(&self.monitors)
            .filter(|(_, m)| m.is_some())
            .map(|(inv, _)| inv.name.as_str())
            .collect();
        if !monitors.is_empty() {
            let (them, see) = match monitors.len() {
                1 => ("the monitor", "sees"),
                _ => ("the monitors", "see"),
            };
            return Some(format!(
                "{them} {} {see} every state a path passes through, so no two orders of the same steps are known to agree",
                monitors.join(", ")
            ));
        }
        // Exploration refuses such an adversary today; were it to take
        // one, what it does follows the order of deliveries.
        self.adv.as_ref().filter(|a| a.acts_on_order()).map(|_| {
            "the adversary acts on the order of deliveries, so no two orders of the same steps are known to agree".to_string()
        })
    }

    /// A name for what `action` does that is the same in every state the
    /// same fingerprint names (messages by their ends and contents, not by
    /// their ids, which depend on the path): `None` for steps partial-order
    /// reduction never puts to sleep (faults, client operations).
    pub(crate) fn key(&self, action: &Action) -> Option<u64> {
        let mut h = std::hash::DefaultHasher::new();
        match action {
            Action::Deliver(i, _) => {
                let m = self.explore.as_ref()?.in_flight.get(*i)?;
                h.write_u8(0);
                (m.from.0, m.to.0, m.payload.as_slice()).hash(&mut h);
            }
            Action::Fire(n, t) => {
                h.write_u8(1);
                (n.0, t).hash(&mut h);
            }
            Action::Run(n, t) => {
                h.write_u8(2);
                (n.0, t).hash(&mut h);
            }
            _ => return None,
        }
        Some(h.finish())
    }

    /// `action` for people, with what it carries: a delivered, dropped or
    /// duplicated copy's message as the protocol's type prints it (or
    /// its size, when its bytes do not read as one: a tampered copy), a
    /// timer's tag.
    pub(crate) fn describe(&self, action: &Action) -> String {
        let copy = |i: &usize| self.explore.as_ref().and_then(|p| p.in_flight.get(*i));
        let what = match action {
            Action::Deliver(i, _) | Action::Drop(i, _) | Action::Duplicate(i, _) => {
                copy(i).map(|m| Self::decoded(&m.payload))
            }
            Action::Fire(n, t) => self
                .slots
                .get(n.index())
                .and_then(|s| s.timers.iter().find(|(id, _)| id == t))
                .map(|(_, tag)| format!("{tag:?}")),
            // Which operation comes next, and where: the run's own draw,
            // taken from a copy of the workload's stream.
            Action::Input => self
                .explore
                .as_ref()
                .zip(self.sim.config.workload.as_ref())
                .map(|(pool, w)| {
                    let (to, value, _) =
                        w.draw(&mut self.workload_rng.clone(), self.sim.config.nodes);
                    let down = match self.nodes.get(to.index()) {
                        Some(None) => ", which is down: not issued",
                        _ => "",
                    };
                    format!("op{} value {value} to {to}{down}", pool.next_input)
                }),
            Action::Cut(step, n) => {
                let node = step.handler().or_else(|| self.next_input_to());
                return cut_words(&self.describe(step), node, *n);
            }
            Action::Crash(n, Some(mask)) => {
                let Some(slot) = self.slots.get(n.index()) else {
                    return action.to_string();
                };
                let (mut kept, mut lost) = (Vec::new(), Vec::new());
                for (i, key) in slot.disk.unsynced_keys().enumerate() {
                    match i < 64 && mask >> i & 1 == 1 {
                        true => kept.push(key),
                        false => lost.push(key),
                    }
                }
                if kept.is_empty() && lost.is_empty() {
                    return format!("crash {n}");
                }
                let list = |k: &[&str]| match k.is_empty() {
                    true => "none".to_string(),
                    false => k.join(" "),
                };
                return format!(
                    "crash {n} keeping {} and losing {} of its writes not yet synced",
                    list(&kept),
                    list(&lost)
                );
            }
            _ => None,
        };
        match what {
            Some(what) => format!("{action}: {what}"),
            None => action.to_string(),
        }
    }

    /// The copies in flight, for people: each with its message.
    pub(crate) fn in_flight_described(&self) -> Vec<String> {
        let Some(pool) = &self.explore else {
            return Vec::new();
        };
        pool.in_flight
            .iter()
            .map(|m| {
                format!(
                    "m{}.{} {} -> {}: {}",
                    m.msg,
                    m.copy,
                    m.from,
                    m.to,
                    Self::decoded(&m.payload)
                )
            })
            .collect()
    }

    fn decoded(payload: &[u8]) -> String {
        crate::protocols::decode_as::<N::Msg>(payload)
            .unwrap_or_else(|| format!("({} bytes that do not decode)", payload.len()))
    }

    /// Whether the last step was a cut after a send its handler did not
    /// make.
    pub(crate) fn void(&self) -> bool {
        self.explore.as_ref().is_some_and(|p| p.void)
    }

    /// Takes a step of a path already explored: as [`World::take`], but
    /// the history, checked when the step was first taken, is not checked
    /// again.
    pub(crate) fn retake(&mut self, action: &Action) -> Result<(), SimError> {
        self.take_step(action)?;
        self.history_seen();
        Ok(())
    }

    fn take_step(&mut self, action: &Action) -> Result<(), SimError> {
        self.now = self.now.after(Duration::from_millis(1));
        self.changed = None;
        if let Some(pool) = self.explore.as_mut() {
            pool.void = false;
        }
        let counts = self.step(action)?;
        if counts {
            self.handled += 1;
            self.check_after_event()?;
        }
        Ok(())
    }

    /// What `action` does, but the time and the checks after it: whether
    /// it counts as an event handled.
    fn step(&mut self, action: &Action) -> Result<bool, SimError> {
        let Some(pool) = self.explore.as_mut() else {
            return Ok(false);
        };
        let counts = match action {
            Action::Deliver(i, _) => {
                let m = pool.in_flight.remove(*i);
                self.deliver_copy(m)?
            }
            Action::Drop(i, _) => {
                pool.used.drops += 1;
                let m = pool.in_flight.remove(*i);
                self.write(Kind::Lost {
                    msg: m.msg,
                    copy: m.copy,
                    from: m.from,
                    to: m.to,
                    cause: LossCause::Planned,
                })?;
                false
            }
            Action::Duplicate(i, _) => {
                pool.used.duplicates += 1;
                let mut twin = pool.in_flight[*i].clone();
                let copies = pool.in_flight.iter().filter(|m| m.msg == twin.msg).count();
                twin.copy = copies as u32;
                let at = pool
                    .in_flight
                    .iter()
                    .rposition(|m| m.msg == twin.msg)
                    .map_or(pool.in_flight.len(), |p| p + 1);
                let (msg, copy) = (twin.msg, twin.copy);
                pool.in_flight.insert(at, twin);
                self.write(Kind::Duplicated { msg, copy })?;
                false
            }
            Action::Fire(node, timer) => {
                if pool.budgets.early_timers.is_some() && self.busy() {
                    if let Some(pool) = self.explore.as_mut() {
                        pool.early += 1;
                    }
                }
                self.fire(*node, *timer)?
            }
            Action::Input => {
                let id = pool.next_input;
                pool.next_input += 1;
                self.input(id)?
            }
            // What faults are in force, as in runs (a check may read it).
            Action::Crash(node, kept) => {
                pool.used.crashes += 1;
                self.disk_choice = *kept;
                let handled = self.apply_fault(FaultAction::Crash { node: *node })?;
                self.disk_choice = None;
                self.note_fault(self.network.wires_down() as u32);
                handled
            }
            Action::Restart(node) => {
                let handled = self.apply_fault(FaultAction::Restart { node: *node })?;
                self.note_fault(self.network.wires_down() as u32);
                handled
            }
            Action::Run(node, task) => {
                let task = *task;
                Self::saw(&mut self.seen, *node, |h| {
                    h.write_u8(b'R');
                    h.write_u64(task);
                });
                self.call(*node, |n, ctx| n.on_run(ctx, task))?;
                true
            }
            Action::Cut(inner, sends) => {
                pool.cut = Some(*sends);
                pool.cut_node = None;
                let counts = self.step(inner)?;
                let Some(pool) = self.explore.as_mut() else {
                    return Ok(counts);
                };
                pool.cut = None;
                match pool.cut_node.take() {
                    // A crash is of a node: a twin's instance that was cut
                    // goes down with the node's other instances.
                    Some(process) => {
                        pool.used.crashes += 1;
                        let node = self
                            .adv
                            .as_ref()
                            .map_or(process, |a| a.ident[process.index()]);
                        let lose_all = self.sim.config.disk.unsynced_kept != crate::rng::Ppm::ZERO;
                        self.disk_choice = lose_all.then_some(0);
                        self.apply_fault(FaultAction::Crash { node })?;
                        self.disk_choice = None;
                        self.note_fault(self.network.wires_down() as u32);
                    }
                    None => pool.void = true,
                }
                counts
            }
        };
        Ok(counts)
    }

    /// The `eventually` checks a settle judges (by index): each with no
    /// fault in force for it, and, unless judged amid the workload, with
    /// every client operation handed out; and whether some check with no
    /// fault in force is not judged yet for operations left (a settle
    /// goes on to hand them out).
    fn settle_due(&self) -> (Vec<bool>, bool) {
        let inputs_left = self.inputs_left();
        let mut waiting = false;
        let due = self
            .sim
            .invariants
            .iter()
            .map(|inv| match inv.when {
                When::Eventually {
                    amid_workload,
                    despite_crashes,
                    ..
                } if self.calm(amid_workload, despite_crashes).is_some() => {
                    waiting |= inputs_left && !amid_workload;
                    amid_workload || !inputs_left
                }
                _ => false,
            })
            .collect();
        (due, waiting)
    }

    /// Whether the workload has client operations left to hand out.
    fn inputs_left(&self) -> bool {
        let next = self.explore.as_ref().map_or(0, |p| p.next_input);
        self.sim
            .config
            .workload
            .as_ref()
            .is_some_and(|w| next < w.count)
    }

    /// Whether settles restart the nodes a path left down
    /// ([`crate::config::Budgets::recover`]).
    fn recovers(&self) -> bool {
        self.explore.as_ref().is_some_and(|p| p.budgets.recover)
    }

    /// The step a settle takes among `actions`: under
    /// [`crate::config::Budgets::recover`], a restart of a node down
    /// first; then a ready task, else the oldest copy in flight that can
    /// arrive, else the next client operation, else the timer due first
    /// (by deadline, then node and id); never a fault. `None` when only
    /// faults are left.
    fn settle_pick(&self, actions: &[Action]) -> Option<usize> {
        let first = |want: fn(&Action) -> bool| actions.iter().position(want);
        self.recovers()
            .then(|| first(|a| matches!(a, Action::Restart(..))))
            .flatten()
            .or_else(|| first(|a| matches!(a, Action::Run(..))))
            .or_else(|| first(|a| matches!(a, Action::Deliver(..))))
            .or_else(|| first(|a| matches!(a, Action::Input)))
            .or_else(|| {
                let deadlines = &self.explore.as_ref()?.deadlines;
                actions
                    .iter()
                    .enumerate()
                    .filter_map(|(i, a)| match a {
                        Action::Fire(n, t) => {
                            let due = deadlines.get(&(n.0, *t)).map(|d| d.at);
                            Some(((due.is_none(), due, n.0, *t), i))
                        }
                        _ => None,
                    })
                    .min()
                    .map(|(_, i)| i)
            })
    }

    /// One step of a settle (see [`crate::config::Budgets::settle`]):
    /// done, when every `eventually` check due holds at once, nothing more
    /// can happen (judged as any such state is), or no step is left
    /// (`more` false, or only faults enabled: the checks due are judged
    /// here, [`World::judge_settled`]); else the step to take, by its
    /// index among the actions enabled.
    fn settle_step(&mut self, pace: &mut Pace) -> Result<SettleStep, SimError> {
        // A check with a fault in force for it (a node down) is not due
        // at any step of a settle, which takes no fault and restarts no
        // node (unless told to recover, and then first): with none other,
        // nothing to settle for. One judged after the workload waits for
        // its operations to be handed out.
        let (due, waiting) = self.settle_due();
        let recovering = self.recovers() && self.nodes.iter().any(|n| n.is_none());
        if !waiting && !recovering && !due.iter().any(|&d| d) {
            return Ok(SettleStep::Done(Settled::Unjudged));
        }
        self.changed = None;
        if !waiting && !recovering {
            match self.first_broken(None, |i, _| due[i]) {
                None => return Ok(SettleStep::Done(Settled::Held)),
                Some(broken) => pace.saw(broken),
            }
        }
        let more = pace.more();
        let actions = self.enabled();
        if actions.is_empty() {
            self.end_checks(crate::trace::EndReason::Quiescent)?;
            return Ok(SettleStep::Done(Settled::Rested));
        }
        match self.settle_pick(&actions) {
            Some(i) if more => Ok(SettleStep::Take(i as u32, actions[i].clone())),
            pick => Ok(SettleStep::Done(
                match self.judge_settled(pick.and(Some(&*pace)))? {
                    true => Settled::Judged,
                    false => Settled::Unjudged,
                },
            )),
        }
    }

    /// Settles from here (see [`crate::config::Budgets::settle`]) for at
    /// most `steps` steps, pushing each step's index onto `taken` before
    /// taking it (so a step whose handler panicked is on it too): how it
    /// ended.
    /// The budget counts the steps since the last client operation was
    /// handed out (a check judged after the workload is given as many
    /// steps after it, however many operations were left).
    /// With a `memo`, a settle that is to hand out an operation in a
    /// state known to settle stops there (as `Held`), and one that ends
    /// held or at rest teaches it where it handed out operations.
    pub(crate) fn settle(
        &mut self,
        steps: u32,
        taken: &mut Vec<u32>,
        mut memo: Option<&mut SettleMemo>,
    ) -> Result<Settled, SimError> {
        let mut pace = Pace {
            steps,
            since: 0,
            broken: None,
            moved: 0,
        };
        let mut passed = Vec::new();
        loop {
            if self.failure.is_some() {
                return Ok(Settled::Failed);
            }
            let step = self.settle_step(&mut pace)?;
            if let Some(memo) = memo.as_deref_mut() {
                match &step {
                    SettleStep::Take(_, Action::Input) => {
                        if let Some(key) = self.settle_key() {
                            passed.push(key);
                            if memo.known.contains(&key) {
                                memo.learn(&passed);
                                return Ok(Settled::Held);
                            }
                        }
                    }
                    SettleStep::Done(Settled::Held | Settled::Rested) if self.failure.is_none() => {
                        memo.learn(&passed)
                    }
                    _ => {}
                }
            }
            match step {
                SettleStep::Take(i, action) => {
                    taken.push(i);
                    pace.since = match action {
                        Action::Input => 0,
                        _ => pace.since + 1,
                    };
                    pace.moved = pace.moved.min(pace.since);
                    self.take(&action)?;
                }
                SettleStep::Done(how) => return Ok(how),
            }
        }
    }

    /// The end of a settle: every `eventually` check due, judged over the
    /// state now (the first that fails is the world's failure, with why
    /// it was judged here). Whether one was due.
    fn judge_settled(&mut self, out_of_steps: Option<&Pace>) -> Result<bool, SimError> {
        let (due, _) = self.settle_due();
        if !due.iter().any(|&d| d) || self.failure.is_some() {
            return Ok(false);
        }
        self.changed = None;
        self.evaluate(None, |i, _| due[i])?;
        let recover = self.recovers();
        let down: Vec<String> = (self.nodes.iter().enumerate())
            .take(self.sim.config.nodes as usize)
            .filter(|(_, n)| n.is_none())
            .map(|(i, _)| NodeId(i as u32).to_string())
            .collect();
        if let Some(f) = self.failure.as_mut() {
            let mut why = SETTLED.to_string();
            if let Some(p) = out_of_steps {
                why.push_str(&if p.stood_still() {
                    format!(
                        "; the settle stopped at its step {} (counted from the last operation it \
                         handed out, if any), its check's message unchanged for the last {}",
                        p.since,
                        p.since - p.moved
                    )
                } else {
                    format!(
                        "; the settle stopped at its step {}, ten times --settle {}, its check's \
                         message still changing: a larger --settle may see the check hold",
                        p.since, p.steps
                    )
                });
            }
            // A check that tolerates a node down judged it down for good:
            // said, with what judges a system whose nodes come back.
            if !down.is_empty() && !recover {
                why.push_str(&format!(
                    "; {} crashed on the path and stayed down through the settle, judged as down \
                     for good (--recover restarts every crashed node before a settle, for a system \
                     whose crashed nodes come back)",
                    down.join(", "),
                ));
            }
            f.due = Some(why);
        }
        Ok(true)
    }

    /// Whether something other than a timer can happen now: a copy in
    /// flight, or an async node's ready task.
    pub(crate) fn busy(&self) -> bool {
        self.explore
            .as_ref()
            .is_some_and(|p| !p.in_flight.is_empty())
            || self
                .nodes
                .iter()
                .flatten()
                .any(|n| !n.runnable().is_empty())
    }

    /// What decides a settle from here: the state's fingerprint, and when
    /// each timer pending falls due from now (the order a settle fires
    /// them in, which the fingerprint leaves out).
    fn settle_key(&self) -> Option<u64> {
        let mut h = std::hash::DefaultHasher::new();
        self.fingerprint()?.hash(&mut h);
        for (&(n, t), due) in &self.explore.as_ref()?.deadlines {
            if self.slots[n as usize].timers.contains(t) {
                (n, t, i128::from(due.at.0) - i128::from(self.now.0)).hash(&mut h);
            }
        }
        Some(h.finish())
    }

    /// A fingerprint of the state exploration cares about: every node's
    /// state (when it does not hash, a digest of what the node has been
    /// handed, which decides it: see `World::saw`), disk, random stream and
    /// pending timers, the multiset of messages in flight (without their
    /// ids), the faults spent, the operations issued, the monitors'
    /// summaries and the clients' history. `None` outside exploration.
    pub(crate) fn fingerprint(&self) -> Option<u64> {
        self.fingerprint_without(None)
    }

    /// The fingerprint the state would have without the `skip`-th copy in
    /// flight: equal to the fingerprint after delivering it exactly when
    /// the delivery changed nothing else.
    pub(crate) fn fingerprint_without(&self, skip: Option<usize>) -> Option<u64> {
        let pool = self.explore.as_ref()?;
        let mut h = std::hash::DefaultHasher::new();
        for (i, (node, slot)) in self.nodes.iter().zip(&self.slots).enumerate() {
            // A node's state, or when it does not hash, what it has been
            // handed since it was built, which decides it.
            match (node, self.sim.state_hash) {
                (Some(n), Some(hash_node)) => h.write_u64(hash_node(n)),
                (Some(_), None) => h.write_u64(self.seen(i)?),
                (None, _) => h.write_u8(0xFF),
            }
            slot.disk.hash(&mut h);
            slot.rng.position().hash(&mut h);
            slot.next_timer.hash(&mut h);
            // Which of its timers falls due first is state too
            // (`enabled`): how long each was set for, and which were set
            // by the same step (the time between steps is no state; every
            // timer set from here on is set later than these).
            let mut set = None;
            for (id, tag) in slot.timers.iter() {
                id.hash(&mut h);
                postcard::to_stdvec(tag).unwrap_or_default().hash(&mut h);
                let due = pool.deadlines.get(&(i as u32, id));
                due.map(|d| (d.after, Some(d.set) == set)).hash(&mut h);
                set = due.map(|d| d.set);
            }
        }
        // A multiset per link, except that on a FIFO link the order is
        // state too: each copy counts its place in its link's queue.
        let net = &self.sim.config.network;
        let mut queued: BTreeMap<(NodeId, NodeId), u32> = BTreeMap::new();
        let mut flights: Vec<(u32, u32, u32, &[u8])> = pool
            .in_flight
            .iter()
            .enumerate()
            .filter(|&(i, _)| Some(i) != skip)
            .map(|(_, m)| {
                let place = if net.is_fifo(m.from, m.to) {
                    let n = queued.entry((m.from, m.to)).or_default();
                    *n += 1;
                    *n
                } else {
                    0
                };
                (m.from.0, m.to.0, place, m.payload.as_slice())
            })
            .collect();
        flights.sort_unstable();
        flights.hash(&mut h);
        pool.used.hash(&mut h);
        if pool.budgets.early_timers.is_some() {
            pool.early.hash(&mut h);
        }
        pool.next_input.hash(&mut h);
        // What the checks remember is state too: a monitor's summary, and
        // the clients' history.
        for (inv, state) in self.sim.invariants.iter().zip(&self.monitors) {
            if let Some(state) = state {
                inv.hash_state(state.as_ref(), &mut h);
            }
        }
        if let Some(history) = &self.history {
            hash_history(history, &mut h);
        }
        Some(h.finish())
    }
}

/// Hashes what a linearizability check can see of a history: each
/// process's operations in order, and for each invocation how many
/// operations of every process had completed before it (the real-time
/// order). Two histories that interleave unrelated events differently hash
/// alike, as they should: no check can tell them apart.
fn hash_history(history: &[crate::invariant::HistoryEntry], h: &mut impl Hasher) {
    use crate::history::Phase;
    let mut completed: BTreeMap<u64, u64> = BTreeMap::new();
    // Per process: each operation event, and for an invocation the
    // completions before it.
    type Events<'h> = Vec<(&'h crate::history::Op, Vec<(u64, u64)>)>;
    let mut by_process: BTreeMap<u64, Events<'_>> = BTreeMap::new();
    for (_, _, op) in history {
        let before = match op.phase {
            Phase::Invoke => completed.iter().map(|(&p, &n)| (p, n)).collect(),
            _ => {
                *completed.entry(op.process).or_default() += 1;
                Vec::new()
            }
        };
        by_process.entry(op.process).or_default().push((op, before));
    }
    by_process.hash(h);
}

/// True when `action` does what the recorded `step` did, its handler cut
/// after as many sends as `cut` says (`None`: not cut).
pub(crate) fn does(action: &Action, step: crate::network::Step, cut: Option<u32>) -> bool {
    use crate::network::Step;
    if let Action::Cut(inner, n) = action {
        return cut == Some(*n) && does(inner, step, None);
    }
    if cut.is_some() {
        return false;
    }
    let flight = |f: &Flight, msg: u64, copy: u32, from: u32, to: u32| {
        (f.msg, f.copy, f.from.0, f.to.0) == (msg, copy, from, to)
    };
    match (action, step) {
        (Action::Input, Step::Input) => true,
        (
            Action::Deliver(_, f),
            Step::Deliver {
                msg,
                copy,
                from,
                to,
            },
        ) => flight(f, msg, copy, from, to),
        (
            Action::Drop(_, f),
            Step::Drop {
                msg,
                copy,
                from,
                to,
            },
        ) => flight(f, msg, copy, from, to),
        (Action::Duplicate(_, f), Step::Duplicate { msg }) => f.msg == msg,
        (Action::Fire(n, t), Step::Fire { node, timer }) => n.0 == node && *t == timer,
        (Action::Crash(n, k), Step::Crash { node, kept }) => n.0 == node && k.unwrap_or(0) == kept,
        (Action::Restart(n), Step::Restart { node }) => n.0 == node,
        _ => false,
    }
}
