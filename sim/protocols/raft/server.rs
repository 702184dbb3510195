//! One Raft server, generic over what its log holds, written so that a
//! node of another protocol can run it: its methods take the host's
//! context, whose messages and timers carry Raft's ([`Host`]).

use crate::{Context, Duration, Input, Node, NodeId, TimerId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What a replicated log holds: commands of any type that serializes,
/// compares and hashes (the `raft` protocol's are plain numbers; the
/// key-value store's are operations).
pub trait Command:
    Clone + PartialEq + Eq + std::hash::Hash + std::fmt::Debug + Serialize + DeserializeOwned + 'static
{
}
impl<T> Command for T where
    T: Clone
        + PartialEq
        + Eq
        + std::hash::Hash
        + std::fmt::Debug
        + Serialize
        + DeserializeOwned
        + 'static
{
}

/// A node that runs a Raft server: its messages and timers can carry
/// Raft's.
pub trait Host<C: Command>: Node<Msg: From<RaftMsg<C>>, Timer: From<RaftTimer>> {}
impl<C: Command, N> Host<C> for N where N: Node<Msg: From<RaftMsg<C>>, Timer: From<RaftTimer>> {}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry<C = u64> {
    pub term: u64,
    pub value: C,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RaftMsg<C = u64> {
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
        entries: Vec<Entry<C>>,
        commit: u64,
    },
    AppendReply {
        term: u64,
        success: bool,
        match_index: u64,
    },
    Forward {
        value: C,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

#[derive(Clone, Copy, Debug, Hash)]
pub struct RaftSettings {
    pub election_min: Duration,
    pub election_max: Duration,
    pub heartbeat: Duration,
    pub batch: usize,
    pub check_log: bool,
    pub persist_vote: bool,
    /// The servers are nodes `0..cluster`; 0 means every node is one.
    pub cluster: u32,
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
fn chain_hash<C: Command>(before: u64, e: &Entry<C>) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    e.value.hash(&mut h);
    // splitmix64's finalizer over the previous hash and the entry: not for
    // adversaries, only to tell prefixes apart within a run.
    let mut z = before ^ e.term.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ h.finish().rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The disk key of log entry `i + 1`.
fn entry_key(i: usize) -> String {
    format!("log/{i}")
}

/// One Raft server, replicating commands of type `C`.
#[derive(Clone, Debug, Hash)]
pub struct Raft<C = u64> {
    s: RaftSettings,
    pub term: u64,
    pub voted_for: Option<NodeId>,
    /// Entry `i` (1-based) is `log[i - 1]`.
    pub log: Vec<Entry<C>>,
    pub role: Role,
    pub leader: Option<NodeId>,
    pub commit: u64,
    pub applied: Vec<C>,
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
    /// Entries `1..=saved` are on disk as they are in `log`: a persist
    /// writes only the entries after them, not the whole log again.
    saved: usize,
}

impl<C: Command> Raft<C> {
    pub fn new(s: RaftSettings) -> Raft<C> {
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
            saved: 0,
        }
    }

    /// Keeps the ghost prefix hashes in step with the log from `from` on.
    pub(crate) fn rehash(&mut self, from: usize) {
        self.saved = self.saved.min(from);
        self.prefix.truncate(from);
        for i in from..self.log.len() {
            let before = if i == 0 { 0 } else { self.prefix[i - 1] };
            self.prefix.push(chain_hash(before, &self.log[i]));
        }
    }

    /// Starts the heartbeat tick (leaders replicate, candidates re-ask for
    /// votes) unless it is already running.
    fn tick<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>) {
        if !self.ticking {
            ctx.set_timer(self.s.heartbeat, RaftTimer::Heartbeat.into());
            self.ticking = true;
        }
    }

    fn ask_for_votes<N: Host<C>>(&self, ctx: &mut Context<'_, N>) {
        let (last_index, last_term) = self.last();
        let waiting: Vec<NodeId> = self
            .peers(ctx)
            .into_iter()
            .filter(|p| !self.votes.contains(p))
            .collect();
        for p in waiting {
            ctx.send(
                p,
                &N::Msg::from(RaftMsg::RequestVote {
                    term: self.term,
                    last_index,
                    last_term,
                }),
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

    /// How many servers the cluster has, in a simulation of `nodes`.
    pub fn cluster_size(&self, nodes: u32) -> u32 {
        match self.s.cluster {
            0 => nodes,
            c => c.min(nodes),
        }
    }

    /// The other servers.
    fn peers<N: Host<C>>(&self, ctx: &Context<'_, N>) -> Vec<NodeId> {
        let me = ctx.id();
        (0..self.cluster_size(ctx.node_count()))
            .map(NodeId)
            .filter(|&p| p != me)
            .collect()
    }

    fn majority<N: Host<C>>(&self, ctx: &Context<'_, N>) -> usize {
        self.cluster_size(ctx.node_count()) as usize / 2 + 1
    }

    /// Writes term, vote and log, and syncs: nothing that depends on them
    /// leaves the node before this.
    fn persist<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>, with_vote: bool) {
        let disk = ctx.disk();
        disk.write("term", &self.term);
        if with_vote {
            disk.write("voted_for", &self.voted_for);
        }
        // The log as its length and one key per entry, of which only the
        // entries that changed are written; entries a truncation dropped
        // are removed, so what is on disk follows from the log alone.
        for (i, e) in self.log.iter().enumerate().skip(self.saved) {
            disk.write(&entry_key(i), e);
        }
        let before: u64 = disk.read("log_len").unwrap_or(0);
        for i in self.log.len()..before as usize {
            disk.remove(&entry_key(i));
        }
        disk.write("log_len", &(self.log.len() as u64));
        disk.sync();
        self.saved = self.log.len();
    }

    fn reset_election<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>) {
        if let Some(t) = self.election_timer.take() {
            ctx.cancel_timer(t);
        }
        let (lo, hi) = (self.s.election_min.0, self.s.election_max.0);
        let after = Duration(ctx.rng().between(lo, hi));
        self.election_timer = Some(ctx.set_timer(after, RaftTimer::Election.into()));
    }

    fn step_down<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>, term: u64) {
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

    fn stand<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>) {
        self.term += 1;
        self.role = Role::Candidate;
        self.leader = None;
        self.voted_for = Some(ctx.id());
        self.votes = BTreeSet::from([ctx.id()]);
        self.persist(ctx, true);
        self.ask_for_votes(ctx);
        self.reset_election(ctx);
        self.tick(ctx);
        if self.votes.len() >= self.majority(ctx) {
            self.lead(ctx);
        }
    }

    fn lead<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>) {
        self.role = Role::Leader;
        self.leader = Some(ctx.id());
        let n = self.cluster_size(ctx.node_count()) as usize;
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

    fn append_to<N: Host<C>>(&self, ctx: &mut Context<'_, N>, peer: NodeId) {
        let next = self.next_index[peer.index()].max(1);
        let prev_index = next - 1;
        let prev_term = self.term_at(prev_index).unwrap_or(0);
        let from = prev_index as usize;
        let to = (from + self.s.batch).min(self.log.len());
        let entries = self.log.get(from..to).unwrap_or(&[]).to_vec();
        ctx.send(
            peer,
            &N::Msg::from(RaftMsg::Append {
                term: self.term,
                prev_index,
                prev_term,
                entries,
                commit: self.commit,
            }),
        );
    }

    fn replicate<N: Host<C>>(&self, ctx: &mut Context<'_, N>) {
        for p in self.peers(ctx) {
            self.append_to(ctx, p);
        }
    }

    fn apply(&mut self) {
        while (self.applied.len() as u64) < self.commit {
            match self.log.get(self.applied.len()) {
                Some(e) => self.applied.push(e.value.clone()),
                None => break,
            }
        }
    }

    fn advance_commit<N: Host<C>>(&mut self, ctx: &Context<'_, N>) {
        let majority = self.majority(ctx);
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

    fn client<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>, value: C) {
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
                ctx.send(leader, &RaftMsg::Forward { value }.into())
            }
            _ => ctx.observe(format!(
                "{} knows no leader; dropped operation {value:?}",
                ctx.id()
            )),
        }
    }

    fn on_request_vote<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
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
            &N::Msg::from(RaftMsg::Vote {
                term: self.term,
                granted,
            }),
        );
    }

    fn on_vote<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
        from: NodeId,
        term: u64,
        granted: bool,
    ) {
        if term > self.term {
            self.step_down(ctx, term);
            return;
        }
        if self.role == Role::Candidate && term == self.term && granted {
            self.votes.insert(from);
            if self.votes.len() >= self.majority(ctx) {
                self.lead(ctx);
            }
        }
    }

    fn on_append<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
        from: NodeId,
        m: (u64, u64, u64, Vec<Entry<C>>, u64),
    ) {
        let (term, prev_index, prev_term, entries, commit) = m;
        if term < self.term {
            ctx.send(
                from,
                &N::Msg::from(RaftMsg::AppendReply {
                    term: self.term,
                    success: false,
                    match_index: 0,
                }),
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
                &N::Msg::from(RaftMsg::AppendReply {
                    term: self.term,
                    success: false,
                    match_index: hint,
                }),
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
                    self.log.push(e.clone());
                    changed_from.get_or_insert(index);
                }
                None => {
                    self.log.push(e.clone());
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
            &N::Msg::from(RaftMsg::AppendReply {
                term: self.term,
                success: true,
                match_index: matched,
            }),
        );
    }

    fn on_append_reply<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
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

/// What a host calls: the node's start, a Raft message, a Raft timer, a
/// client command.
impl<C: Command> Raft<C> {
    /// The server (re)starts from its durable term, vote and log.
    pub fn start<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>) {
        self.term = ctx.disk().read("term").unwrap_or(0);
        self.voted_for = ctx.disk().read("voted_for").unwrap_or(None);
        let len: u64 = ctx.disk().read("log_len").unwrap_or(0);
        self.log = (0..len as usize)
            .map(|i| ctx.disk().read(&entry_key(i)))
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default();
        self.rehash(0);
        self.saved = self.log.len();
        self.led = ctx.disk().read("ghost_led").unwrap_or_default();
        self.reset_election(ctx);
    }

    /// A Raft message from `from`.
    pub fn handle_message<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
        from: NodeId,
        msg: RaftMsg<C>,
    ) {
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
                "{} is not the leader; dropped forwarded operation {value:?}",
                ctx.id()
            )),
        }
    }

    /// One of Raft's timers fired.
    pub fn handle_timer<N: Host<C>>(
        &mut self,
        ctx: &mut Context<'_, N>,
        timer: TimerId,
        tag: RaftTimer,
    ) {
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

    /// A client asks for `value` to be replicated: a leader appends it, a
    /// follower forwards it to the leader it knows, and a node that knows
    /// none drops it (saying so).
    pub fn command<N: Host<C>>(&mut self, ctx: &mut Context<'_, N>, value: C) {
        self.client(ctx, value);
    }

    /// True while this server leads its term.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// "leader", "candidate" or "follower": what a fault aimed at a role
    /// ([`Node::role`]) reads.
    pub fn role_word(&self) -> &'static str {
        match self.role {
            Role::Leader => "leader",
            Role::Candidate => "candidate",
            Role::Follower => "follower",
        }
    }
}

/// The `raft` protocol's servers replicate plain numbers.
impl Node for Raft<u64> {
    type Msg = RaftMsg<u64>;
    type Timer = RaftTimer;

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.start(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: RaftMsg<u64>) {
        self.handle_message(ctx, from, msg);
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId, tag: RaftTimer) {
        self.handle_timer(ctx, timer, tag);
    }

    fn on_input(&mut self, ctx: &mut Context<'_, Self>, input: Input) {
        self.client(ctx, input.value);
    }

    fn role(&self) -> Option<&'static str> {
        Some(self.role_word())
    }
}
