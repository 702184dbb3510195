//! Raft: leader election and log replication with a client workload and
//! crash/restart from durable term, vote and log.
//!
//! Every node is a server. Followers that hear nothing for a randomized
//! election timeout stand as candidates; a candidate with votes from a
//! majority leads its term and replicates its log with `Append` messages
//! (which double as heartbeats), walking back `next_index` on a mismatch.
//! A candidate asks again, every heartbeat, the peers that have not voted.
//! An entry is committed once a majority holds it and it is from the
//! leader's term; committed entries are applied in order. Client operations
//! arrive at any node: a leader appends them, a follower forwards them to
//! the leader it knows, and a node that knows no leader drops them. Term,
//! vote and log are synced to disk before any message that depends on them
//! is sent.
//!
//! **Invariants.** `election-safety`: at most one leader per term, ever.
//! `log-matching`: two logs with an entry of the same index and term are
//! identical up to it. `leader-completeness`: a leader of the newest term
//! holds every entry any node knows to be committed.
//! `state-machine-safety`: no two nodes apply different values at one
//! index. `committed-on-majority` (at the end, once no partition is in
//! force): every committed entry is held by a majority. `leader-elected`
//! (liveness): once no fault is in force, some node leads the newest term
//! within a second. The first four are
//! monitors: each keeps a summary of the run (the leader of every term, a
//! hash of every log prefix seen, the longest committed and applied
//! sequences) and looks only at the node an event changed, so a check costs
//! what changed, not the cluster's size times its logs. Each node keeps a
//! ghost record for them, never read by the protocol: the terms it led
//! (synced), and a running hash of its log's prefixes.
//!
//! **Fault scenario** (`scenarios/raft-partitions.toml`): five nodes, 3%
//! loss, reordering, a minority and then a majority partition, two crashes
//! with restarts, all healed a few seconds before the end.
//!
//! **Broken twins.** `check_log = false`
//! (`scenarios/raft-bug-vote-without-log-check.toml`): voters grant votes
//! without comparing logs, so a node missing committed entries can lead and
//! overwrite them; `leader-completeness` or `state-machine-safety` fails.
//! `persist_vote = false` (`scenarios/raft-bug-forget-vote.toml`): a vote
//! is not synced before it is sent, so a voter that crashes and restarts in
//! the same term votes again and two leaders are elected for one term;
//! `election-safety` fails.
//!
//! The first exposes itself in 648 seeds of 0..1000, first at seed 1
//! (`dsim run scenarios/raft-bug-vote-without-log-check.toml --seed 1`); the
//! second is rarer, 25 seeds of 0..1000, first at seed 78
//! (`dsim run scenarios/raft-bug-forget-vote.toml --seed 78`).

use super::{ParamDoc, Spec};
use crate::scheduler::{SimError, Simulation};
use crate::{Context, Duration, Input, Node, NodeId, TimerId, View};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub value: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMsg {
    RequestVote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    Vote {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
    },
    AppendReply {
        term: u64,
        success: bool,
        match_index: u64,
    },
    Forward {
        value: u64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

#[derive(Clone, Copy, Debug)]
pub struct RaftSettings {
    pub election_min: Duration,
    pub election_max: Duration,
    pub heartbeat: Duration,
    pub batch: usize,
    pub check_log: bool,
    pub persist_vote: bool,
}

/// A server's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftTimer {
    /// No word from a leader for a while: stand for election.
    Election,
    /// Time for a leader's appends, or a candidate's vote requests.
    Heartbeat,
}

/// The running hash of a log prefix ending in `e`, after `before`.
fn chain_hash(before: u64, e: &Entry) -> u64 {
    // splitmix64's finalizer over the previous hash and the entry: not for
    // adversaries, only to tell prefixes apart.
    let mut z = before ^ e.term.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ e.value.rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One Raft server.
#[derive(Clone, Debug)]
pub struct Raft {
    s: RaftSettings,
    pub term: u64,
    pub voted_for: Option<NodeId>,
    /// Entry `i` (1-based) is `log[i - 1]`.
    pub log: Vec<Entry>,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub commit: u64,
    pub applied: Vec<u64>,
    /// Ghost state for `election-safety` only: terms this node led.
    pub led: BTreeSet<u64>,
    /// Ghost state for `log-matching` only: `prefix[i]` hashes entries
    /// 1..=i+1 of the log.
    pub prefix: Vec<u64>,
    votes: BTreeSet<NodeId>,
    next_index: Vec<u64>,
    match_index: Vec<u64>,
    election_timer: Option<TimerId>,
    ticking: bool,
}

impl Raft {
    pub fn new(s: RaftSettings) -> Raft {
        Raft {
            s,
            term: 0,
            voted_for: None,
            log: Vec::new(),
            role: Role::Follower,
            leader: None,
            commit: 0,
            applied: Vec::new(),
            led: BTreeSet::new(),
            prefix: Vec::new(),
            votes: BTreeSet::new(),
            next_index: Vec::new(),
            match_index: Vec::new(),
            election_timer: None,
            ticking: false,
        }
    }

    /// Keeps the ghost prefix hashes in step with the log from `from` on.
    fn rehash(&mut self, from: usize) {
        self.prefix.truncate(from);
        for i in from..self.log.len() {
            let before = if i == 0 { 0 } else { self.prefix[i - 1] };
            self.prefix.push(chain_hash(before, &self.log[i]));
        }
    }

    /// Starts the heartbeat tick (leaders replicate, candidates re-ask for
    /// votes) unless it is already running.
    fn tick(&mut self, ctx: &mut Context<'_, Raft>) {
        if !self.ticking {
            ctx.set_timer(self.s.heartbeat, RaftTimer::Heartbeat);
            self.ticking = true;
        }
    }

    fn ask_for_votes(&self, ctx: &mut Context<'_, Raft>) {
        let (last_index, last_term) = self.last();
        let waiting: Vec<NodeId> = ctx.peers().filter(|p| !self.votes.contains(p)).collect();
        for p in waiting {
            ctx.send(
                p,
                &RaftMsg::RequestVote {
                    term: self.term,
                    last_index,
                    last_term,
                },
            );
        }
    }

    fn last(&self) -> (u64, u64) {
        (self.log.len() as u64, self.log.last().map_or(0, |e| e.term))
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.log.get(i as usize - 1).map(|e| e.term),
        }
    }

    fn majority(ctx: &Context<'_, Raft>) -> usize {
        ctx.node_count() as usize / 2 + 1
    }

    /// Writes term, vote and log, and syncs: nothing that depends on them
    /// leaves the node before this.
    fn persist(&self, ctx: &mut Context<'_, Raft>, with_vote: bool) {
        let disk = ctx.disk();
        disk.write("term", &self.term);
        if with_vote {
            disk.write("voted_for", &self.voted_for);
        }
        disk.write("log", &self.log);
        disk.sync();
    }

    fn reset_election(&mut self, ctx: &mut Context<'_, Raft>) {
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        let (lo, hi) = (self.s.election_min.0, self.s.election_max.0);
        let after = Duration(ctx.rng().between(lo, hi));
        self.election_timer = Some(ctx.set_timer(after, RaftTimer::Election));
    }

    fn step_down(&mut self, ctx: &mut Context<'_, Raft>, term: u64) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
            self.persist(ctx, true);
        }
        if self.role != Role::Follower {
            self.role = Role::Follower;
            self.reset_election(ctx);
        }
    }

    fn stand(&mut self, ctx: &mut Context<'_, Raft>) {
        self.term += 1;
        self.role = Role::Candidate;
        self.leader = None;
        self.voted_for = Some(ctx.id());
        self.votes = BTreeSet::from([ctx.id()]);
        self.persist(ctx, true);
        self.ask_for_votes(ctx);
        self.reset_election(ctx);
        self.tick(ctx);
        if self.votes.len() >= Self::majority(ctx) {
            self.lead(ctx);
        }
    }

    fn lead(&mut self, ctx: &mut Context<'_, Raft>) {
        self.role = Role::Leader;
        self.leader = Some(ctx.id());
        let n = ctx.node_count() as usize;
        self.next_index = vec![self.log.len() as u64 + 1; n];
        self.match_index = vec![0; n];
        self.match_index[ctx.id().index()] = self.log.len() as u64;
        self.led.insert(self.term);
        ctx.disk().write("ghost_led", &self.led);
        ctx.disk().sync();
        ctx.observe(format!("{} leads term {}", ctx.id(), self.term));
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        self.replicate(ctx);
        self.tick(ctx);
    }

    fn append_to(&self, ctx: &mut Context<'_, Raft>, peer: NodeId) {
        let next = self.next_index[peer.index()].max(1);
        let prev_index = next - 1;
        let prev_term = self.term_at(prev_index).unwrap_or(0);
        let from = prev_index as usize;
        let to = (from + self.s.batch).min(self.log.len());
        let entries = self.log.get(from..to).unwrap_or(&[]).to_vec();
        ctx.send(
            peer,
            &RaftMsg::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries,
                commit: self.commit,
            },
        );
    }

    fn replicate(&self, ctx: &mut Context<'_, Raft>) {
        let peers: Vec<NodeId> = ctx.peers().collect();
        for p in peers {
            self.append_to(ctx, p);
        }
    }

    fn apply(&mut self) {
        while (self.applied.len() as u64) < self.commit {
            match self.log.get(self.applied.len()) {
                Some(e) => self.applied.push(e.value),
                None => break,
            }
        }
    }

    fn advance_commit(&mut self, ctx: &Context<'_, Raft>) {
        let majority = Self::majority(ctx);
        for n in (self.commit + 1..=self.log.len() as u64).rev() {
            if self.term_at(n) != Some(self.term) {
                continue;
            }
            if self.match_index.iter().filter(|&&m| m >= n).count() >= majority {
                self.commit = n;
                break;
            }
        }
        self.apply();
    }

    fn client(&mut self, ctx: &mut Context<'_, Raft>, value: u64) {
        match (self.role, self.leader) {
            (Role::Leader, _) => {
                self.log.push(Entry {
                    term: self.term,
                    value,
                });
                self.rehash(self.log.len() - 1);
                self.persist(ctx, true);
                self.match_index[ctx.id().index()] = self.log.len() as u64;
                self.advance_commit(ctx);
                self.replicate(ctx);
            }
            (_, Some(leader)) if leader != ctx.id() => {
                ctx.send(leader, &RaftMsg::Forward { value })
            }
            _ => ctx.observe(format!(
                "{} knows no leader; dropped operation {value}",
                ctx.id()
            )),
        }
    }

    fn on_request_vote(
        &mut self,
        ctx: &mut Context<'_, Raft>,
        from: NodeId,
        term: u64,
        last_index: u64,
        last_term: u64,
    ) {
        if term > self.term {
            self.step_down(ctx, term);
        }
        let (my_index, my_term) = self.last();
        let up_to_date = last_term > my_term || (last_term == my_term && last_index >= my_index);
        let free = self.voted_for.is_none() || self.voted_for == Some(from);
        let granted = term == self.term && free && (up_to_date || !self.s.check_log);
        if granted {
            self.voted_for = Some(from);
            self.persist(ctx, self.s.persist_vote);
            self.reset_election(ctx);
        }
        ctx.send(
            from,
            &RaftMsg::Vote {
                term: self.term,
                granted,
            },
        );
    }

    fn on_vote(&mut self, ctx: &mut Context<'_, Raft>, from: NodeId, term: u64, granted: bool) {
        if term > self.term {
            self.step_down(ctx, term);
            return;
        }
        if self.role == Role::Candidate && term == self.term && granted {
            self.votes.insert(from);
            if self.votes.len() >= Self::majority(ctx) {
                self.lead(ctx);
            }
        }
    }

    fn on_append(
        &mut self,
        ctx: &mut Context<'_, Raft>,
        from: NodeId,
        m: (u64, u64, u64, Vec<Entry>, u64),
    ) {
        let (term, prev_index, prev_term, entries, commit) = m;
        if term < self.term {
            ctx.send(
                from,
                &RaftMsg::AppendReply {
                    term: self.term,
                    success: false,
                    match_index: 0,
                },
            );
            return;
        }
        if term > self.term || self.role != Role::Follower {
            self.step_down(ctx, term);
        }
        self.leader = Some(from);
        self.reset_election(ctx);
        if self.term_at(prev_index) != Some(prev_term) {
            let hint = prev_index.saturating_sub(1).min(self.log.len() as u64);
            ctx.send(
                from,
                &RaftMsg::AppendReply {
                    term: self.term,
                    success: false,
                    match_index: hint,
                },
            );
            return;
        }
        let mut changed_from = None;
        for (i, e) in entries.iter().enumerate() {
            let index = prev_index as usize + i; // 0-based position
            match self.log.get(index) {
                Some(mine) if mine.term == e.term => {}
                Some(_) => {
                    self.log.truncate(index);
                    self.log.push(*e);
                    changed_from.get_or_insert(index);
                }
                None => {
                    self.log.push(*e);
                    changed_from.get_or_insert(index);
                }
            }
        }
        if let Some(from) = changed_from {
            self.rehash(from);
            self.persist(ctx, true);
        }
        let matched = prev_index + entries.len() as u64;
        self.commit = self.commit.max(commit.min(matched));
        self.apply();
        ctx.send(
            from,
            &RaftMsg::AppendReply {
                term: self.term,
                success: true,
                match_index: matched,
            },
        );
    }

    fn on_append_reply(
        &mut self,
        ctx: &mut Context<'_, Raft>,
        from: NodeId,
        term: u64,
        success: bool,
        match_index: u64,
    ) {
        if term > self.term {
            self.step_down(ctx, term);
            return;
        }
        if self.role != Role::Leader || term != self.term {
            return;
        }
        let i = from.index();
        if success {
            self.match_index[i] = self.match_index[i].max(match_index);
            self.next_index[i] = self.match_index[i] + 1;
            self.advance_commit(ctx);
            if self.next_index[i] <= self.log.len() as u64 {
                self.append_to(ctx, from);
            }
        } else {
            self.next_index[i] = (self.next_index[i].saturating_sub(1))
                .min(match_index + 1)
                .max(1);
            self.append_to(ctx, from);
        }
    }
}

impl Node for Raft {
    type Msg = RaftMsg;
    type Timer = RaftTimer;

    fn on_start(&mut self, ctx: &mut Context<'_, Raft>) {
        self.term = ctx.disk().read("term").unwrap_or(0);
        self.voted_for = ctx.disk().read("voted_for").unwrap_or(None);
        self.log = ctx.disk().read("log").unwrap_or_default();
        self.rehash(0);
        self.led = ctx.disk().read("ghost_led").unwrap_or_default();
        self.reset_election(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Raft>, from: NodeId, msg: RaftMsg) {
        match msg {
            RaftMsg::RequestVote {
                term,
                last_index,
                last_term,
            } => self.on_request_vote(ctx, from, term, last_index, last_term),
            RaftMsg::Vote { term, granted } => self.on_vote(ctx, from, term, granted),
            RaftMsg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
            } => self.on_append(ctx, from, (term, prev_index, prev_term, entries, commit)),
            RaftMsg::AppendReply {
                term,
                success,
                match_index,
            } => self.on_append_reply(ctx, from, term, success, match_index),
            RaftMsg::Forward { value } if self.role == Role::Leader => self.client(ctx, value),
            RaftMsg::Forward { value } => ctx.observe(format!(
                "{} is not the leader; dropped forwarded operation {value}",
                ctx.id()
            )),
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Raft>, timer: TimerId, tag: RaftTimer) {
        match tag {
            RaftTimer::Election if self.election_timer == Some(timer) => {
                self.election_timer = None;
                if self.role != Role::Leader {
                    self.stand(ctx);
                }
            }
            RaftTimer::Heartbeat => {
                self.ticking = false;
                match self.role {
                    Role::Leader => self.replicate(ctx),
                    // Requests go unanswered on a lossy network: ask again.
                    Role::Candidate => self.ask_for_votes(ctx),
                    Role::Follower => return,
                }
                self.tick(ctx);
            }
            _ => {}
        }
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Raft>, input: Input) {
        self.client(ctx, input.value);
    }
}

/// `election-safety`'s summary: the leader of every term seen.
#[derive(Default)]
pub struct Leaders(BTreeMap<u64, NodeId>);

/// At most one leader per term, over the whole run.
pub fn election_safety(seen: &mut Leaders, v: &View<'_, Raft>) -> Result<(), String> {
    for (id, n) in v.touched() {
        for &t in n.led.iter().rev() {
            match seen.0.insert(t, id) {
                Some(other) if other != id => {
                    return Err(format!("{other} and {id} were both leaders of term {t}"));
                }
                // Terms below the newest were seen when they were led.
                Some(_) => break,
                None => {}
            }
        }
    }
    Ok(())
}

/// `log-matching`'s summary: the prefix hash of every (index, term) seen,
/// with a node that held it; and how far each node's log was checked.
#[derive(Default)]
pub struct Prefixes {
    by_entry: BTreeMap<(usize, u64), (u64, NodeId)>,
    checked: BTreeMap<NodeId, (usize, u64)>,
}

/// Logs with an entry of equal index and term are identical up to it.
pub fn log_matching(seen: &mut Prefixes, v: &View<'_, Raft>) -> Result<(), String> {
    for (id, n) in v.touched() {
        // Re-check from the start only if the log changed below what was
        // checked (a truncation); otherwise only what is new.
        let from = match seen.checked.get(&id) {
            Some(&(len, hash))
                if len <= n.prefix.len() && (len == 0 || n.prefix[len - 1] == hash) =>
            {
                len
            }
            _ => 0,
        };
        for k in from..n.log.len().min(n.prefix.len()) {
            let key = (k, n.log[k].term);
            match seen.by_entry.get(&key) {
                Some(&(hash, other)) if hash != n.prefix[k] => {
                    return Err(format!(
                        "{other} and {id} agree on the term of entry {} but their logs differ at or before it",
                        k + 1
                    ));
                }
                Some(_) => {}
                None => {
                    seen.by_entry.insert(key, (n.prefix[k], id));
                }
            }
        }
        let len = n.log.len().min(n.prefix.len());
        if len == 0 && from == 0 {
            // Nothing to remember of an empty log (most nodes, early on).
            seen.checked.remove(&id);
            continue;
        }
        let hash = if len == 0 { 0 } else { n.prefix[len - 1] };
        seen.checked.insert(id, (len, hash));
    }
    Ok(())
}

/// `leader-completeness`'s summary: the longest committed prefix any node
/// knew, the newest term seen, and how far the newest leader's log was
/// checked against it.
#[derive(Default)]
pub struct Committed {
    entries: Vec<Entry>,
    newest: u64,
    leader: Option<(NodeId, u64, usize)>,
}

/// A leader of the newest term holds every entry any node knows to be
/// committed.
pub fn leader_completeness(seen: &mut Committed, v: &View<'_, Raft>) -> Result<(), String> {
    for (id, n) in v.touched() {
        seen.newest = seen.newest.max(n.term);
        let committed = (n.commit as usize).min(n.log.len());
        if committed > seen.entries.len() {
            let known = seen.entries.len();
            seen.entries.extend_from_slice(&n.log[known..committed]);
        }
        if n.role == Role::Leader && seen.leader.is_none_or(|(l, t, _)| (l, t) != (id, n.term)) {
            seen.leader = Some((id, n.term, 0));
        }
    }
    let Some((l, term, checked)) = seen.leader else {
        return Ok(());
    };
    let Some(leader) = v
        .node(l)
        .filter(|n| n.role == Role::Leader && n.term == term)
    else {
        return Ok(());
    };
    if term < seen.newest {
        return Ok(());
    }
    for k in checked..seen.entries.len() {
        if leader.log.get(k) != Some(&seen.entries[k]) {
            return Err(format!(
                "{l}, leader of term {term}, lacks entry {} ({:?}), which is known to be committed",
                k + 1,
                seen.entries[k]
            ));
        }
    }
    seen.leader = Some((l, term, seen.entries.len()));
    Ok(())
}

/// `state-machine-safety`'s summary: the longest applied sequence seen
/// (with who applied each value), and how far each node was checked.
#[derive(Default)]
pub struct Applied {
    values: Vec<(u64, NodeId)>,
    checked: BTreeMap<NodeId, usize>,
}

/// No two nodes apply different values at one index.
pub fn state_machine_safety(seen: &mut Applied, v: &View<'_, Raft>) -> Result<(), String> {
    for (id, n) in v.touched() {
        // A restarted node applies again from the start.
        let from = seen
            .checked
            .get(&id)
            .copied()
            .filter(|&c| c <= n.applied.len())
            .unwrap_or(0);
        for (k, &value) in n.applied.iter().enumerate().skip(from) {
            match seen.values.get(k) {
                Some(&(other_value, other)) if other_value != value => {
                    return Err(format!(
                        "{other} applied {other_value} at index {} but {id} applied {value}",
                        k + 1
                    ));
                }
                Some(_) => {}
                None => seen.values.push((value, id)),
            }
        }
        if n.applied.is_empty() {
            seen.checked.remove(&id);
        } else {
            seen.checked.insert(id, n.applied.len());
        }
    }
    Ok(())
}

pub fn committed_on_majority(v: &View<'_, Raft>) -> Result<(), String> {
    if v.is_partitioned() {
        return Ok(());
    }
    let Some((x, best)) = v
        .up()
        .max_by_key(|(id, n)| (n.commit, std::cmp::Reverse(*id)))
    else {
        return Ok(());
    };
    let majority = v.node_count() / 2 + 1;
    for k in 0..(best.commit as usize).min(best.log.len()) {
        let holders = v
            .up()
            .filter(|(_, n)| n.log.get(k) == Some(&best.log[k]))
            .count();
        if holders < majority {
            return Err(format!(
                "entry {} ({:?}), committed per {x}, is on {holders} nodes, fewer than a majority",
                k + 1,
                best.log[k]
            ));
        }
    }
    Ok(())
}

/// Raft for the registry.
pub fn protocol() -> Spec<Raft> {
    Spec::new(
        "raft",
        "Raft leader election and log replication with durable term, vote and log",
        |config, params| {
            let s = RaftSettings {
                election_min: params.duration("election_min")?,
                election_max: params.duration("election_max")?,
                heartbeat: params.duration("heartbeat")?,
                batch: params.int("batch")? as usize,
                check_log: params.flag("check_log")?,
                persist_vote: params.flag("persist_vote")?,
            };
            if s.election_max < s.election_min {
                return Err(SimError::Config(format!(
                    "params: election_max ({}) is below election_min ({})",
                    s.election_max, s.election_min
                )));
            }
            Ok(simulation(config, s))
        },
    )
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
    .param(ParamDoc::int(
        "batch",
        64,
        (1, 100_000),
        "entries per append message at most",
    ))
    .param(ParamDoc::flag(
        "check_log",
        true,
        "voters refuse candidates with less up-to-date logs; false is a broken twin",
    ))
    .param(ParamDoc::flag(
        "persist_vote",
        true,
        "a vote is synced before it is sent; false is a broken twin",
    ))
}

/// Raft servers with every invariant.
pub fn simulation(config: crate::SimConfig, s: RaftSettings) -> Simulation<Raft> {
    Simulation::new(config, move |_| Raft::new(s))
        .monitor(
            "election-safety",
            "at most one leader per term",
            Leaders::default,
            election_safety,
        )
        .monitor(
            "log-matching",
            "logs with an entry of equal index and term are identical up to it",
            Prefixes::default,
            log_matching,
        )
        .monitor(
            "leader-completeness",
            "a leader of the newest term holds every committed entry",
            Committed::default,
            leader_completeness,
        )
        .monitor(
            "state-machine-safety",
            "no two nodes apply different values at one index",
            Applied::default,
            state_machine_safety,
        )
        .at_end(
            "committed-on-majority",
            "at the end, with no partition, committed entries are on a majority",
            committed_on_majority,
        )
        .eventually(
            "leader-elected",
            "once no fault is in force, a node leads the newest term within a second",
            Duration::from_secs(1),
            leader_elected,
        )
}

/// Some node that is up leads the newest term any node that is up knows.
pub fn leader_elected(v: &View<'_, Raft>) -> Result<(), String> {
    let newest = v.up().map(|(_, n)| n.term).max().unwrap_or(0);
    if v.up()
        .any(|(_, n)| n.role == Role::Leader && n.term == newest)
    {
        return Ok(());
    }
    Err(format!(
        "no node leads term {newest}, the newest, {} after the last fault ended",
        v.calm_for().unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(term: u64, role: Role, log: &[(u64, u64)], commit: u64) -> Option<Raft> {
        let s = RaftSettings {
            election_min: Duration::from_millis(150),
            election_max: Duration::from_millis(300),
            heartbeat: Duration::from_millis(50),
            batch: 8,
            check_log: true,
            persist_vote: true,
        };
        let mut r = Raft::new(s);
        r.term = term;
        r.role = role;
        r.log = log
            .iter()
            .map(|&(term, value)| Entry { term, value })
            .collect();
        r.rehash(0);
        r.commit = commit;
        r.applied = r
            .log
            .iter()
            .take(commit as usize)
            .map(|e| e.value)
            .collect();
        if role == Role::Leader {
            r.led.insert(term);
        }
        Some(r)
    }

    #[test]
    fn election_safety_catches_two_leaders_of_one_term() {
        let two = [
            server(3, Role::Leader, &[], 0),
            server(3, Role::Leader, &[], 0),
        ];
        assert!(election_safety(&mut Leaders::default(), &View::new(&two))
            .unwrap_err()
            .contains("term 3"));
    }

    #[test]
    fn log_matching_catches_logs_that_agree_on_a_term_but_not_before_it() {
        let ok = [
            server(2, Role::Follower, &[(1, 10), (2, 20)], 0),
            server(2, Role::Follower, &[(1, 10), (2, 20), (2, 30)], 0),
        ];
        assert!(log_matching(&mut Prefixes::default(), &View::new(&ok)).is_ok());
        let bad = [
            server(2, Role::Follower, &[(1, 10), (2, 20)], 0),
            server(2, Role::Follower, &[(1, 11), (2, 20)], 0),
        ];
        assert!(log_matching(&mut Prefixes::default(), &View::new(&bad))
            .unwrap_err()
            .contains("differ at or before"));
    }

    #[test]
    fn leader_completeness_catches_a_leader_missing_a_committed_entry() {
        let bad = [
            server(3, Role::Leader, &[(1, 10)], 1),
            server(3, Role::Follower, &[(1, 10), (2, 20)], 2),
        ];
        assert!(
            leader_completeness(&mut Committed::default(), &View::new(&bad))
                .unwrap_err()
                .contains("lacks entry 2")
        );
    }

    #[test]
    fn state_machine_safety_catches_two_values_applied_at_one_index() {
        let bad = [
            server(2, Role::Follower, &[(1, 10)], 1),
            server(2, Role::Follower, &[(1, 11)], 1),
        ];
        assert!(
            state_machine_safety(&mut Applied::default(), &View::new(&bad))
                .unwrap_err()
                .contains("index 1")
        );
    }

    #[test]
    fn committed_on_majority_catches_a_committed_entry_held_by_a_minority() {
        let log = [(1, 10)];
        let minority = [
            server(1, Role::Leader, &log, 1),
            server(1, Role::Follower, &[], 0),
            server(1, Role::Follower, &[], 0),
        ];
        assert!(committed_on_majority(&View::new(&minority))
            .unwrap_err()
            .contains("fewer than a majority"));
        let majority = [
            server(1, Role::Leader, &log, 1),
            server(1, Role::Follower, &log, 0),
            server(1, Role::Follower, &[], 0),
        ];
        assert!(committed_on_majority(&View::new(&majority)).is_ok());
    }
}
