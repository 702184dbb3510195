//! A recorded schedule: the network's decisions from an earlier run, keyed
//! by link and position on the link, so a changed protocol can be run
//! against exactly the adversary that broke the old one.
//!
//! The k-th message a new run sends on the link a → b gets the fate of the
//! k-th message the recording sent on that link: lost or not, how long each
//! copy took, whether it was duplicated, which bytes were flipped. Losses
//! that follow from state (a partition, a crashed receiver, a full mailbox,
//! bytes that do not decode) are not decisions: they happen again, or not,
//! by themselves. A message beyond the recording gets its fate from the
//! network's random stream, as in a normal run.

use crate::time::Duration;
use std::collections::BTreeMap;

/// One copy's recorded time on the network and its flipped bytes.
pub type ScriptedCopy = (Option<Duration>, Vec<(u32, u8)>);

/// The recorded fate of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedFate {
    /// The loss draw struck.
    pub lost: bool,
    /// Per copy: its time on the network (`None` when the recording never
    /// saw it arrive, e.g. still in flight at the end), and its flips.
    pub copies: Vec<ScriptedCopy>,
    /// The recording has no time on the network for it and implies none:
    /// it lost the message as it was sent (to the loss draw, a partition,
    /// no route, a full mailbox), or a shrinker took that loss away. A
    /// run in which it travels draws its time as the network does. (A
    /// copy merely never seen to arrive, still in flight when the
    /// recording ended, arrives after that end instead.) Without this, a
    /// message a partition cut, in a shrunk run without the partition, or
    /// a loss taken away, would be held until the recording's end: a
    /// fault the shrunk run no longer lists, yet still suffers.
    pub fresh_latency: bool,
    /// For copies the recording never saw arrive because it ended first
    /// (or a full mailbox evicted them): how long the message had been on
    /// its way by then. Such a copy takes longer than that, counted from
    /// its send: a run that sends the same bytes earlier (a shrinker's,
    /// matching by content) gets it that much later, not held until the
    /// recording's end — a hold the run would suffer without listing it.
    /// `None`: after the recording's end.
    pub unseen_for: Option<crate::time::Duration>,
}

/// Recorded fates by directed link, in send order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    pub links: BTreeMap<(u32, u32), Vec<ScriptedFate>>,
    /// When the recording ended. A copy it never saw arrive arrives after
    /// this in a replay (at a time drawn as usual), so a replay of the
    /// recording matches it up to its end, and a longer run still gets the
    /// message.
    pub horizon: crate::time::Instant,
    /// The payload each recorded send carried, by link and position.
    pub payloads: BTreeMap<(u32, u32), Vec<Vec<u8>>>,
    /// Match a send to a recorded fate by what it carries (the n-th send
    /// of these bytes on the link gets the fate of the n-th recorded one)
    /// rather than by its position on the link. A run that sends one
    /// message fewer early on then keeps every later message's fate: what
    /// a shrinker taking events away needs. The same run matches the same
    /// way under both.
    pub by_content: bool,
    /// For each node, the async tasks it chose to run when several were
    /// ready, in order ([`crate::node::TASK_CHOICE`] observations).
    pub task_choices: BTreeMap<u32, Vec<u64>>,
    /// An explored run's steps, by step number, as its records show them
    /// (`None` where a step wrote nothing to tell it by). A run following
    /// the explored path takes, at each step, the action that does what the
    /// recorded step did, rather than the action at the recorded position
    /// among those enabled: a changed protocol (a fix) offers other actions
    /// around it.
    pub steps: Vec<Option<Step>>,
    /// On a disk that may keep writes not yet synced: by process, by its
    /// crash (0 for its first), the unsynced keys the recording's crash
    /// kept.
    pub disk: BTreeMap<u32, BTreeMap<u32, Vec<String>>>,
    /// An explored run's steps whose handler a crash cut
    /// ([`crate::config::Budgets::mid_handler`]), by step number: after
    /// how many of the handler's sends.
    pub cuts: BTreeMap<usize, u32>,
}

/// What one step of an explored run did, as its first record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The next client operation.
    Input,
    /// A copy delivered (or lost to a receiver that was down).
    Deliver {
        msg: u64,
        copy: u32,
        from: u32,
        to: u32,
    },
    /// A copy dropped by the search.
    Drop {
        msg: u64,
        copy: u32,
        from: u32,
        to: u32,
    },
    /// A copy of `msg` given a twin.
    Duplicate {
        msg: u64,
    },
    /// A node's timer fired.
    Fire {
        node: u32,
        timer: u64,
    },
    /// A node crashed; on a disk that may keep unsynced writes, `kept`
    /// has a bit for each of them, in key order, set for those the crash
    /// kept (0 otherwise).
    Crash {
        node: u32,
        kept: u64,
    },
    Restart {
        node: u32,
    },
}

impl Schedule {
    /// Messages with a recorded fate.
    pub fn len(&self) -> usize {
        self.links.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Recorded positions of the sends on a link that carried the same bytes,
/// and how many of them a run has used.
type SameContent = BTreeMap<((u32, u32), Vec<u8>), (Vec<usize>, usize)>;

/// A schedule being consumed by a run.
#[derive(Clone, Debug)]
pub(crate) struct Script {
    schedule: std::sync::Arc<Schedule>,
    used: BTreeMap<(u32, u32), usize>,
    /// Under `by_content`: positions by link and payload, and how many of
    /// each have been used.
    by_content: SameContent,
    /// Sends that found no recorded fate.
    pub unscripted: u64,
}

impl Script {
    pub fn horizon(&self) -> crate::time::Instant {
        self.schedule.horizon
    }
}

impl Script {
    pub fn new(schedule: std::sync::Arc<Schedule>) -> Script {
        let mut by_content = SameContent::new();
        if schedule.by_content {
            for (&link, payloads) in &schedule.payloads {
                for (k, p) in payloads.iter().enumerate() {
                    by_content.entry((link, p.clone())).or_default().0.push(k);
                }
            }
        }
        Script {
            schedule,
            used: BTreeMap::new(),
            by_content,
            unscripted: 0,
        }
    }

    /// The recorded fate for the next send of `payload` on `from → to`,
    /// if the recording has one, with its position on the link.
    pub fn next(&mut self, from: u32, to: u32, payload: &[u8]) -> Option<(&ScriptedFate, usize)> {
        let k = if self.schedule.by_content {
            match self.by_content.get_mut(&((from, to), payload.to_vec())) {
                Some((positions, used)) => {
                    let k = positions.get(*used).copied();
                    *used += 1;
                    k
                }
                None => None,
            }
        } else {
            let k = self.used.entry((from, to)).or_insert(0);
            *k += 1;
            Some(*k - 1)
        };
        let fate = k.and_then(|k| Some((self.schedule.links.get(&(from, to))?.get(k)?, k)));
        if fate.is_none() {
            self.unscripted += 1;
        }
        fate
    }
}
