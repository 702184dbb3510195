//! Replay: rerunning a seed and proving the trace identical, and schedule
//! replay, which drives a (possibly changed) protocol with the network
//! decisions recorded in a trace.

use crate::network::{LossCause, Schedule, ScriptedFate};
use crate::time::Instant;
use crate::trace::{Kind, Record};
use std::collections::BTreeMap;

/// Extracts the network's decisions from a recorded run.
pub fn schedule_from(records: &[Record<'_>]) -> Schedule {
    let mut builder = ScheduleBuilder::default();
    for r in records {
        builder.add(r);
    }
    builder.finish()
}

/// Extracts the network's decisions from a recorded run one record at a
/// time, for a trace read as a stream (see [`schedule_from`]).
#[derive(Default)]
pub struct ScheduleBuilder {
    schedule: Schedule,
    // msg → (link, position on the link, send time), for messages with a
    // copy in flight: a message is let go once every copy is delivered or
    // lost (as `messages`, the check's bookkeeping, tells), so what is held
    // is the messages in flight, not every one sent.
    where_: BTreeMap<u64, ((u32, u32), usize, Instant)>,
    messages: crate::check::messages::Messages,
    index: u64,
    by_position: bool,
    /// The message of the last send record (a loss as it was sent follows
    /// its send; an eviction from a full mailbox follows another's).
    last_send: Option<u64>,
    /// By process, its crashes so far.
    crashes: BTreeMap<u32, u32>,
}

impl ScheduleBuilder {
    /// A builder for a schedule followed by position on each link (as
    /// `dsim replay --schedule` follows one), which leaves out what each
    /// send carried: only a schedule matched by content
    /// ([`Schedule::by_content`]) reads it.
    pub fn by_position() -> ScheduleBuilder {
        ScheduleBuilder {
            by_position: true,
            ..ScheduleBuilder::default()
        }
    }

    /// Takes the next record into account.
    pub fn add(&mut self, r: &Record<'_>) {
        self.take(r);
        self.messages.record(self.index, r);
        self.index += 1;
        for m in &self.messages.done {
            self.where_.remove(m);
        }
    }

    fn take(&mut self, r: &Record<'_>) {
        let (schedule, where_, last_send) = (&mut self.schedule, &mut self.where_, self.last_send);
        // The recording ends with its last record.
        schedule.horizon = r.time;
        match &r.kind {
            Kind::Send {
                node,
                msg,
                to,
                payload,
                ..
            } => {
                let link = (node.0, to.0);
                if !self.by_position {
                    schedule
                        .payloads
                        .entry(link)
                        .or_default()
                        .push(payload.to_vec());
                }
                let fates = schedule.links.entry(link).or_default();
                fates.push(ScriptedFate {
                    lost: false,
                    copies: vec![(None, Vec::new())],
                    fresh_latency: false,
                    unseen_for: None,
                });
                where_.insert(*msg, (link, fates.len() - 1, r.time));
                self.last_send = Some(*msg);
            }
            Kind::Crash { node, .. } => *self.crashes.entry(node.0).or_default() += 1,
            Kind::DiskAtCrash { node, kept, .. } => {
                if let Some(&n) = self.crashes.get(&node.0) {
                    let crash = n.saturating_sub(1);
                    schedule
                        .disk
                        .entry(node.0)
                        .or_default()
                        .insert(crash, kept.clone());
                }
            }
            Kind::Observe { node, text, .. } if text.starts_with(crate::node::TASK_CHOICE) => {
                let chosen = text[crate::node::TASK_CHOICE.len()..]
                    .strip_prefix('#')
                    .and_then(|t| t.split(' ').next())
                    .and_then(|t| t.parse().ok());
                if let Some(task) = chosen {
                    schedule.task_choices.entry(node.0).or_default().push(task);
                }
            }
            kind => {
                let msg = match kind {
                    Kind::Duplicated { msg, .. }
                    | Kind::Corrupted { msg, .. }
                    | Kind::Deliver { msg, .. }
                    | Kind::Held { msg, .. }
                    | Kind::Lost { msg, .. } => *msg,
                    _ => return,
                };
                let Some(&(link, k, sent)) = where_.get(&msg) else {
                    return;
                };
                let Some(fate) = schedule.links.get_mut(&link).and_then(|v| v.get_mut(k)) else {
                    return;
                };
                // A copy exists only once the trace has shown it: copy 0
                // with the send, each later one with its `Duplicated`
                // record, in order. A number the trace does not prove (an
                // edited or forged one) is ignored, never used to size
                // anything.
                let known = |fate: &ScriptedFate, copy: u32| {
                    let c = copy as usize;
                    (c < fate.copies.len()).then_some(c)
                };
                match kind {
                    Kind::Duplicated { copy, .. } if *copy as usize == fate.copies.len() => {
                        fate.copies.push((None, Vec::new()));
                    }
                    Kind::Corrupted { copy, flips, .. } => {
                        if let Some(c) = known(fate, *copy) {
                            fate.copies[c].1 = flips.clone();
                        }
                    }
                    // A copy that reached a paused node arrived when it was
                    // held, not when the resume let it in.
                    Kind::Held { copy, .. } => {
                        if let Some(c) = known(fate, *copy) {
                            fate.copies[c].0 = Some(r.time.since(sent));
                        }
                    }
                    Kind::Deliver { copy, .. } => {
                        if let Some(c) = known(fate, *copy) {
                            fate.copies[c].0.get_or_insert(r.time.since(sent));
                        }
                    }
                    Kind::Lost { copy, cause, .. } => {
                        // Lost as it was sent (its loss follows its send):
                        // it never travelled, so no time was recorded.
                        let at_send = r.time == sent
                            && *copy == 0
                            && fate.copies.len() == 1
                            && last_send == Some(msg);
                        match cause {
                            LossCause::Random | LossCause::Planned => {
                                fate.lost = true;
                                fate.fresh_latency |= at_send;
                            }
                            // The copy travelled and arrived to no avail: its
                            // time on the network was still decided.
                            LossCause::ReceiverDown
                            | LossCause::Undecodable
                            | LossCause::Partition
                                if r.time > sent =>
                            {
                                if let Some(c) = known(fate, *copy) {
                                    fate.copies[c].0.get_or_insert(r.time.since(sent));
                                }
                            }
                            LossCause::Partition | LossCause::NoRoute | LossCause::MailboxFull
                                if at_send =>
                            {
                                fate.fresh_latency = true;
                            }
                            // Evicted from a full mailbox while on its way:
                            // it had not arrived by then, and no more is
                            // known (as of a copy in flight at the end).
                            LossCause::MailboxFull => {
                                fate.unseen_for = Some(r.time.since(sent));
                            }
                            _ => {}
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// The schedule of every record added.
    pub fn finish(mut self) -> Schedule {
        // The messages still in flight when the recording ended.
        let end = self.schedule.horizon;
        for &(link, k, sent) in self.where_.values() {
            if let Some(fate) = self
                .schedule
                .links
                .get_mut(&link)
                .and_then(|v| v.get_mut(k))
            {
                fate.unseen_for = Some(end.since(sent));
            }
        }
        self.schedule
    }
}

/// The steps of an explored run, from its records: exploration takes step
/// `k` at `k + 1` ms, so the first record at that time tells what the step
/// did. `None` for a step that wrote nothing, or nothing that names it (an
/// async task run, say).
pub fn explored_steps(records: &[Record<'_>]) -> Vec<Option<crate::network::Step>> {
    let mut steps = Vec::new();
    for r in records {
        add_explored_step(&mut steps, r);
    }
    steps
}

/// An explored run's steps read from its records one at a time (a trace
/// read as a stream): [`explored_steps`], with the steps whose handler a
/// crash cut right after one of its sends.
#[derive(Clone, Debug, Default)]
pub struct ExploredSteps {
    pub steps: Vec<Option<crate::network::Step>>,
    /// By step number: after how many of its handler's sends a crash of
    /// the handler's node cut it.
    pub cuts: BTreeMap<usize, u32>,
    /// The sends recorded so far in the last step.
    sends: u32,
}

impl ExploredSteps {
    pub fn add(&mut self, r: &Record<'_>) {
        use crate::network::Step;
        let before = self.steps.len();
        add_explored_step(&mut self.steps, r);
        if self.steps.len() != before {
            self.sends = u32::from(matches!(r.kind, Kind::Send { .. }));
            return;
        }
        // A later record of the last step: a crash after a handler's
        // sends in one step cut that handler (a search takes no other
        // crash there; a twin's instance that sent crashes as its node).
        let last = self.steps.len().checked_sub(1);
        let in_last = last.is_some_and(|k| r.time.0 == (k as u64 + 1) * 1_000_000);
        match (&r.kind, last.filter(|_| in_last)) {
            (Kind::Send { .. }, Some(_)) => self.sends = self.sends.saturating_add(1),
            (Kind::Crash { .. }, Some(k)) if self.sends > 0 => {
                if let Some(Step::Deliver { .. } | Step::Fire { .. } | Step::Input) = self.steps[k]
                {
                    self.cuts.insert(k, self.sends);
                }
            }
            _ => {}
        }
    }
}

/// [`explored_steps`] one record at a time, for a trace read as a stream.
pub fn add_explored_step(steps: &mut Vec<Option<crate::network::Step>>, r: &Record<'_>) {
    use crate::network::Step;
    const STEP: u64 = 1_000_000;
    let t = r.time.0;
    if t == 0 || t % STEP != 0 {
        return;
    }
    let k = (t / STEP - 1) as usize;
    if k < steps.len() {
        // Not the step's first record; what a crash's disk kept follows it.
        let last = k + 1 == steps.len();
        if let (
            Kind::DiskAtCrash { node, kept, lost },
            Some(Some(Step::Crash {
                node: n,
                kept: mask,
            })),
        ) = (&r.kind, steps.last_mut())
        {
            if node.0 == *n && last {
                let mut keys: Vec<(&String, bool)> = kept
                    .iter()
                    .map(|k| (k, true))
                    .chain(lost.iter().map(|k| (k, false)))
                    .collect();
                keys.sort();
                *mask = keys
                    .iter()
                    .take(64)
                    .enumerate()
                    .filter(|(_, (_, kept))| *kept)
                    .fold(0, |m, (i, _)| m | 1 << i);
            }
        }
        return;
    }
    steps.resize(k, None);
    steps.push(match &r.kind {
        Kind::Input { .. } => Some(Step::Input),
        Kind::Deliver {
            node,
            msg,
            copy,
            from,
            ..
        } => Some(Step::Deliver {
            msg: *msg,
            copy: *copy,
            from: from.0,
            to: node.0,
        }),
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            cause,
        } => {
            let (msg, copy, from, to) = (*msg, *copy, from.0, to.0);
            Some(match cause {
                crate::network::LossCause::Planned => Step::Drop {
                    msg,
                    copy,
                    from,
                    to,
                },
                _ => Step::Deliver {
                    msg,
                    copy,
                    from,
                    to,
                },
            })
        }
        Kind::Duplicated { msg, .. } => Some(Step::Duplicate { msg: *msg }),
        Kind::Timer { node, timer, .. } => Some(Step::Fire {
            node: node.0,
            timer: *timer,
        }),
        Kind::Crash { node, .. } => Some(Step::Crash {
            node: node.0,
            kept: 0,
        }),
        Kind::Restart { node, .. } => Some(Step::Restart { node: node.0 }),
        _ => None,
    });
}

/// What to look for when two runs of one recipe differ.
pub const LOOK_FOR: &str = "look for: wall-clock reads, hash-map iteration order, global or thread-local state, threads, unseeded randomness";

/// Where two traces part ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first record that differs.
    pub index: usize,
    pub left: Option<Record<'static>>,
    pub right: Option<Record<'static>>,
    /// The records just before it, the same in both (at most
    /// [`CONTEXT`]): what led there.
    pub context: Vec<Record<'static>>,
}

/// How many of the records before a divergence it keeps.
pub const CONTEXT: usize = 5;

/// The first record where `left` and `right` differ, if any. A trace that
/// is a prefix of the other differs at the first extra record.
pub fn first_divergence(left: &[Record<'_>], right: &[Record<'_>]) -> Option<Divergence> {
    first_where(left, right, |a, b| a == b)
}

/// The first index at which `same` says the records (or their absence)
/// differ.
fn first_where(
    left: &[Record<'_>],
    right: &[Record<'_>],
    same: impl Fn(Option<&Record<'_>>, Option<&Record<'_>>) -> bool,
) -> Option<Divergence> {
    let n = left.len().max(right.len());
    (0..n)
        .find(|&i| !same(left.get(i), right.get(i)))
        .map(|index| Divergence {
            index,
            left: left.get(index).cloned().map(Record::into_owned),
            right: right.get(index).cloned().map(Record::into_owned),
            context: left[index.saturating_sub(CONTEXT)..index]
                .iter()
                .cloned()
                .map(Record::into_owned)
                .collect(),
        })
}

/// [`first_divergence`] of a recording and a rerun: what the run did,
/// record for record, except the words of a failed history check
/// (`linearizable`). Its verdict is made by the checker from the `Op`
/// records before it, which are compared, so two runs that agree on
/// those agree on it; only its wording can differ, between dsim
/// versions, and a replay of a trace an earlier dsim recorded is not
/// another run for that. Its check and time are still compared.
pub fn first_divergence_in_behaviour(
    left: &[Record<'_>],
    right: &[Record<'_>],
) -> Option<Divergence> {
    first_where(left, right, same_behaviour)
}

/// The same behaviour: the same record, or failures of the history check
/// at the same time, whatever their words (see
/// [`first_divergence_in_behaviour`]).
fn same_behaviour(a: Option<&Record<'_>>, b: Option<&Record<'_>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => match (&a.kind, &b.kind) {
            (Kind::CheckFailed { check: x, .. }, Kind::CheckFailed { check: y, .. })
                if x == HISTORY_CHECK && y == HISTORY_CHECK =>
            {
                a.time == b.time
            }
            _ => a == b,
        },
        (a, b) => a == b,
    }
}

/// [`first_divergence`] (or with `behaviour`,
/// [`first_divergence_in_behaviour`]) of two traces read as streams, so
/// that neither is ever held whole: only the last [`CONTEXT`] records.
/// The first error either stream yields ends the comparison.
pub fn first_divergence_of<E>(
    left: impl IntoIterator<Item = Result<Record<'static>, E>>,
    right: impl IntoIterator<Item = Result<Record<'static>, E>>,
    behaviour: bool,
) -> Result<Option<Divergence>, E> {
    let (mut left, mut right) = (left.into_iter(), right.into_iter());
    let mut context = std::collections::VecDeque::with_capacity(CONTEXT + 1);
    for index in 0.. {
        let (l, r) = (left.next().transpose()?, right.next().transpose()?);
        let same = match behaviour {
            true => same_behaviour(l.as_ref(), r.as_ref()),
            false => l == r,
        };
        match (same, l) {
            (false, l) => {
                return Ok(Some(Divergence {
                    index,
                    left: l,
                    right: r,
                    context: context.into(),
                }))
            }
            (true, None) => return Ok(None),
            (true, Some(l)) => {
                context.push_back(l);
                if context.len() > CONTEXT {
                    context.pop_front();
                }
            }
        }
    }
    unreachable!("a trace has fewer than usize::MAX records")
}

/// The name of the history check a scenario asks for with `[check]
/// linearizable`.
const HISTORY_CHECK: &str = "linearizable";

/// Sets every delivery's clock to `DeliveryClock::None`, to compare a
/// trace of a format before 5 (raised entries) with one of today's
/// (digests): both are verified against the causal structure by `dsim
/// check`, and everything else must still match.
pub fn forget_delivery_clocks(records: &mut [Record<'_>]) {
    for r in records {
        if let crate::trace::Kind::Deliver { vc, .. } = &mut r.kind {
            *vc = crate::trace::DeliveryClock::None;
        }
    }
}

/// Reads two traces and finds where they part ways (`None`: identical).
pub fn compare_traces(
    left: &[u8],
    right: &[u8],
    key: Option<&[u8]>,
) -> Result<Option<Divergence>, crate::trace::TraceError> {
    let (_, a, _) = crate::trace::read_all(left, key)?;
    let (_, b, _) = crate::trace::read_all(right, key)?;
    Ok(first_divergence(&a, &b))
}

/// Everything needed to rerun a trace exactly, for traces that replay by
/// their recorded schedule (shrunk traces carry it in their header).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Recipe {
    pub protocol: String,
    pub config: crate::config::SimConfig,
    pub params: crate::protocols::Params,
    pub invariants: Option<Vec<String>>,
    #[serde(default)]
    pub linearizable: Option<crate::history::Linearizability>,
    /// `[check] answered` (left out when absent, so that a recipe without
    /// it reads as it did before there was one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<crate::time::Duration>,
}

impl Recipe {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Recipe, String> {
        serde_json::from_str(text)
            .map_err(|e| format!("the trace's replay recipe does not parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn failed(at: u64, check: &'static str, message: &'static str) -> Record<'static> {
        Record {
            time: Instant(at),
            kind: Kind::CheckFailed {
                check: Cow::Borrowed(check),
                message: Cow::Borrowed(message),
            },
        }
    }

    #[test]
    fn a_history_checks_words_are_not_behaviour_but_its_time_and_every_other_failure_are() {
        let start = Record {
            time: Instant::ZERO,
            kind: Kind::Start {
                node: crate::NodeId(0),
                lamport: 1,
            },
        };
        let run = |f: Record<'static>| vec![start.clone(), f];
        let lin = |at, words| run(failed(at, "linearizable", words));
        // Worded otherwise by another dsim: the same behaviour.
        assert_eq!(
            first_divergence_in_behaviour(&lin(5, "these 2"), &lin(5, "these 2 (and more)")),
            None
        );
        // Byte for byte, they differ.
        assert_eq!(
            first_divergence(&lin(5, "these 2"), &lin(5, "these 2 (and more)")).map(|d| d.index),
            Some(1)
        );
        // At another time: another run.
        assert_eq!(
            first_divergence_in_behaviour(&lin(5, "a"), &lin(6, "a")).map(|d| d.index),
            Some(1)
        );
        // A protocol's own check: its words are the protocol's.
        let own = |words| run(failed(5, "safety", words));
        assert_eq!(
            first_divergence_in_behaviour(&own("n1 and n2"), &own("n1 and n3")).map(|d| d.index),
            Some(1)
        );
        // Another check failing: another run.
        assert_eq!(
            first_divergence_in_behaviour(&lin(5, "a"), &run(failed(5, "safety", "a")))
                .map(|d| d.index),
            Some(1)
        );
        // One trace cut short.
        assert_eq!(
            first_divergence_in_behaviour(&lin(5, "a"), std::slice::from_ref(&start))
                .map(|d| d.index),
            Some(1)
        );
    }

    fn stream<'a>(
        r: &'a [Record<'static>],
    ) -> impl Iterator<Item = Result<Record<'static>, ()>> + 'a {
        r.iter().cloned().map(Ok)
    }

    #[test]
    fn a_divergence_found_in_streams_is_the_one_found_in_lists_with_its_context() {
        // Records that differ by time only; `b` parts from `a` at `at`, or
        // stops there, or goes on past `a`'s end.
        let start = |t| Record {
            time: Instant(t),
            kind: Kind::Start {
                node: crate::NodeId(0),
                lamport: 1,
            },
        };
        let a: Vec<Record<'static>> = (0..12).map(start).collect();
        let mut cases: Vec<Vec<Record<'static>>> = vec![a.clone()];
        for at in [0, 1, 4, 5, 6, 11] {
            let mut b = a.clone();
            b[at] = start(100);
            cases.push(b);
            cases.push(a[..at].to_vec());
        }
        cases.push([&a[..], &[start(12)]].concat());
        // The history check's words differ: the same behaviour only.
        let mut worded = a.clone();
        worded[7] = failed(7, "linearizable", "these");
        let mut reworded = a.clone();
        reworded[7] = failed(7, "linearizable", "these (and more)");
        cases.push(worded.clone());
        let mut found = 0;
        for (left, right) in cases.iter().map(|b| (&a, b)).chain([(&worded, &reworded)]) {
            for behaviour in [false, true] {
                let listed = match behaviour {
                    false => first_divergence(left, right),
                    true => first_divergence_in_behaviour(left, right),
                };
                let streamed = first_divergence_of(stream(left), stream(right), behaviour);
                assert_eq!(streamed, Ok(listed.clone()), "{right:?}");
                if let Some(d) = listed {
                    found += 1;
                    assert_eq!(d.context.len(), d.index.min(CONTEXT));
                    assert_eq!(d.context[..], left[d.index - d.context.len()..d.index]);
                }
            }
        }
        assert_eq!(found, 2 * 14 + 1);
        // An error in either stream ends the comparison.
        let broken = a[..3].iter().cloned().map(Ok).chain([Err("damaged")]);
        assert_eq!(
            first_divergence_of(stream(&a).map(|r| r.map_err(|()| "")), broken, false),
            Err("damaged")
        );
    }
}
