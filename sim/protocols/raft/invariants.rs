//! Raft's safety and liveness checks, over any node that runs a Raft
//! server ([`HasRaft`]): the `raft` protocol's own servers, or the
//! key-value store's.

use super::server::{Command, Entry, Raft, Role};
use crate::{NodeId, View};
use std::collections::BTreeMap;

/// A node that may run a Raft server (a client of the same protocol does
/// not).
pub trait HasRaft<C: Command> {
    fn raft(&self) -> Option<&Raft<C>>;
}

impl<C: Command> HasRaft<C> for Raft<C> {
    fn raft(&self) -> Option<&Raft<C>> {
        Some(self)
    }
}

/// The servers an incremental check must look at (see [`View::touched`]).
fn touched<'a, C: Command, N: HasRaft<C>>(
    v: &View<'a, N>,
) -> impl Iterator<Item = (NodeId, &'a Raft<C>)> + 'a {
    v.touched().filter_map(|(id, n)| n.raft().map(|r| (id, r)))
}

/// Every server that is up.
fn servers<'a, C: Command, N: HasRaft<C>>(
    v: &View<'a, N>,
) -> impl Iterator<Item = (NodeId, &'a Raft<C>)> + 'a {
    v.up().filter_map(|(id, n)| n.raft().map(|r| (id, r)))
}

/// Server `id`, if it is up.
fn server<'a, C: Command, N: HasRaft<C>>(v: &View<'a, N>, id: NodeId) -> Option<&'a Raft<C>> {
    v.node(id).and_then(|n| n.raft())
}

/// `election-safety`'s summary: the leader of every term seen.
#[derive(Clone, Default, Hash)]
pub struct Leaders(BTreeMap<u64, NodeId>);

/// At most one leader per term, over the whole run.
pub fn election_safety<C: Command, N: HasRaft<C>>(
    seen: &mut Leaders,
    v: &View<'_, N>,
) -> Result<(), String> {
    for (id, n) in touched(v) {
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
#[derive(Clone, Default, Hash)]
pub struct Prefixes {
    by_entry: BTreeMap<(usize, u64), (u64, NodeId)>,
    checked: BTreeMap<NodeId, (usize, u64)>,
}

/// Logs with an entry of equal index and term are identical up to it.
pub fn log_matching<C: Command, N: HasRaft<C>>(
    seen: &mut Prefixes,
    v: &View<'_, N>,
) -> Result<(), String> {
    for (id, n) in touched(v) {
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
#[derive(Clone, Hash)]
pub struct Committed<C = u64> {
    entries: Vec<Entry<C>>,
    newest: u64,
    leader: Option<(NodeId, u64, usize)>,
}

impl<C> Default for Committed<C> {
    fn default() -> Committed<C> {
        Committed {
            entries: Vec::new(),
            newest: 0,
            leader: None,
        }
    }
}

/// A leader of the newest term holds every entry any node knows to be
/// committed.
pub fn leader_completeness<C: Command, N: HasRaft<C>>(
    seen: &mut Committed<C>,
    v: &View<'_, N>,
) -> Result<(), String> {
    for (id, n) in touched(v) {
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
    let Some(leader) = server(v, l).filter(|n| n.role == Role::Leader && n.term == term) else {
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
#[derive(Clone, Hash)]
pub struct Applied<C = u64> {
    values: Vec<(C, NodeId)>,
    checked: BTreeMap<NodeId, usize>,
}

impl<C> Default for Applied<C> {
    fn default() -> Applied<C> {
        Applied {
            values: Vec::new(),
            checked: BTreeMap::new(),
        }
    }
}

/// No two nodes apply different values at one index.
pub fn state_machine_safety<C: Command, N: HasRaft<C>>(
    seen: &mut Applied<C>,
    v: &View<'_, N>,
) -> Result<(), String> {
    for (id, n) in touched(v) {
        // A restarted node applies again from the start.
        let from = seen
            .checked
            .get(&id)
            .copied()
            .filter(|&c| c <= n.applied.len())
            .unwrap_or(0);
        for (k, value) in n.applied.iter().enumerate().skip(from) {
            match seen.values.get(k) {
                Some((other_value, other)) if other_value != value => {
                    return Err(format!(
                        "{other} applied {other_value:?} at index {} but {id} applied {value:?}",
                        k + 1
                    ));
                }
                Some(_) => {}
                None => seen.values.push((value.clone(), id)),
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

pub fn committed_on_majority<C: Command, N: HasRaft<C>>(v: &View<'_, N>) -> Result<(), String> {
    if v.is_partitioned() {
        return Ok(());
    }
    let Some((x, best)) = servers(v).max_by_key(|(id, n)| (n.commit, std::cmp::Reverse(*id)))
    else {
        return Ok(());
    };
    let majority = best.cluster_size(v.node_count() as u32) as usize / 2 + 1;
    for k in 0..(best.commit as usize).min(best.log.len()) {
        let holders = servers(v)
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

/// Some node that is up leads the newest term any node that is up knows,
/// when a majority of the servers is up (with fewer, no leader can be
/// elected: a crash-stop run may end so).
pub fn leader_elected<C: Command, N: HasRaft<C>>(v: &View<'_, N>) -> Result<(), String> {
    let newest = servers(v).map(|(_, n)| n.term).max().unwrap_or(0);
    if servers(v).any(|(_, n)| n.role == Role::Leader && n.term == newest) {
        return Ok(());
    }
    let Some((_, any)) = servers(v).next() else {
        return Ok(());
    };
    let up = servers(v).count();
    if up <= any.cluster_size(v.node_count() as u32) as usize / 2 {
        return Ok(());
    }
    let calm = v.faults().settled_since.map(|t| v.now().since(t));
    Err(format!(
        "no node leads term {newest}, the newest, {} after the last fault began or ended, with {up} servers up",
        calm.unwrap_or_default()
    ))
}
