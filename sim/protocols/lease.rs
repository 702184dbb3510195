//! A lock by lease guarding a store, with fencing tokens (Kleppmann, "How
//! to do distributed locking", 2016).
//!
//! Node 0 grants the lock as a lease: to whoever asks once the last lease
//! was released or ran out by its own clock (or to its holder, asking
//! again), for `lease`, numbered one more than the last (the number is the
//! fencing token). Node 1 is the store. Every other node is a client with
//! `jobs` jobs to do, each under a lease of its own: it asks for the lock
//! (again every `retry` until answered), then writes `writes` times to the
//! store, one at a time, each with its lease's number, and releases the
//! lock. Before each write it checks its lease, which it counts from when
//! it asked (so it never believes in more of it than the service granted):
//! with less than `margin` left, it gives the job's other writes up and
//! moves on. A write unanswered for `retry` (longer than a round trip)
//! gives the job up too: a write sent twice could land late.
//!
//! A store that fences refuses a write with a lower number than one it
//! has taken: whatever delays a holder between its check and its write (a
//! message slow on the network, a process stopped by a long garbage
//! collection), its write cannot land after the next holder's.
//!
//! **Checks.** `exclusive`: the store never takes a write under a lease
//! after one under a later lease (two holders' work never interleaves
//! where it lands).
//!
//! **Broken twin** (`fencing = false`,
//! `scenarios/lease-bug-no-fencing-holder-paused.toml`): the store takes
//! every write. The check and the margin hold off a network whose delays
//! stay under the margin (and whose round trips stay under `retry`) and a
//! pause that falls between handlers (the client resumes, checks, finds
//! its lease run out); a pause that falls between the check and the write
//! (`mid_handler = true`) lets a stale write land after the next
//! holder's. So does a network slower than that: `dsim explore`, which
//! keeps no time, finds a write that outlasted its client's `retry` and
//! landed after the same client's next lease's.

use super::{ParamDoc, Spec};
use crate::scheduler::Simulation;
use crate::{Context, Duration, Node, NodeId, TimerId};
use serde::{Deserialize, Serialize};

/// The protocol's messages.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LeaseMsg {
    /// Client → service: may I have the lock? (its `ask`-th asking)
    Acquire { ask: u64 },
    /// Service → client: yes, to its `ask`-th asking, as lease `token`,
    /// for `left` from now.
    Grant {
        ask: u64,
        token: u64,
        left: Duration,
    },
    /// Service → client: someone else holds it.
    Busy,
    /// Client → service: done with lease `token`.
    Release { token: u64 },
    /// Client → store: the `k`-th write under lease `token`.
    Write { token: u64, k: u32 },
    /// Store → client: taken.
    Ack { token: u64, k: u32 },
    /// Store → client: refused, a later lease has written.
    Refused { token: u64 },
}

/// The protocol's settings.
#[derive(Clone, Copy, Debug, Hash)]
pub struct LeaseSettings {
    pub lease: Duration,
    pub margin: Duration,
    pub retry: Duration,
    pub jobs: u32,
    pub writes: u32,
    pub fencing: bool,
}

/// The lock service's state.
#[derive(Clone, Debug, Default, Hash)]
pub struct Service {
    /// The last lease granted, its holder, and when it runs out.
    pub token: u64,
    holder: Option<NodeId>,
    until: crate::Instant,
}

/// The store's state.
#[derive(Clone, Debug, Default, Hash)]
pub struct Store {
    /// The highest lease a write was taken under, and by whom.
    pub highest: u64,
    by: Option<NodeId>,
    /// Writes taken.
    pub taken: u64,
    /// Ghost state for `exclusive`: the first write taken after a later
    /// lease's, in words.
    pub interleaved: Option<String>,
}

/// A client's state.
#[derive(Clone, Debug, Default, Hash)]
pub struct Client {
    /// Jobs done (or given up).
    pub jobs: u32,
    /// How many times it asked for the lock, and when it last did, by its
    /// clock.
    asks: u64,
    asked: crate::Instant,
    /// The lease it holds, until when by its clock (less the margin), and
    /// how many of the job's writes were taken.
    holding: Option<(u64, crate::Instant, u32)>,
    timer: Option<TimerId>,
}

#[derive(Clone, Debug, Hash)]
pub enum Role {
    Service(Service),
    Store(Store),
    Client(Client),
}

/// A node: the service, the store or a client.
#[derive(Clone, Debug, Hash)]
pub struct Lease {
    s: LeaseSettings,
    pub role: Role,
}

impl Lease {
    pub fn new(id: NodeId, s: LeaseSettings) -> Lease {
        let role = match id.0 {
            0 => Role::Service(Service::default()),
            1 => Role::Store(Store::default()),
            _ => Role::Client(Client::default()),
        };
        Lease { s, role }
    }

    fn client(&mut self) -> Option<&mut Client> {
        match &mut self.role {
            Role::Client(c) => Some(c),
            _ => None,
        }
    }

    /// Asks for the lock (and again every `retry` until answered), if
    /// jobs are left.
    fn ask(&mut self, ctx: &mut Context<'_, Self>) {
        let s = self.s;
        let Some(c) = self.client() else { return };
        if let Some(t) = c.timer.take() {
            ctx.cancel_timer(t);
        }
        c.holding = None;
        if c.jobs >= s.jobs {
            return;
        }
        c.asks += 1;
        c.asked = ctx.now();
        ctx.send(NodeId(0), &LeaseMsg::Acquire { ask: c.asks });
        c.timer = Some(ctx.set_timer(s.retry, ()));
    }

    /// The job's next write, if its lease still has more than the margin
    /// left; else the job is given up and the next one begins.
    fn write(&mut self, ctx: &mut Context<'_, Self>) {
        let retry = self.s.retry;
        let Some(c) = self.client() else { return };
        let Some((token, until, taken)) = c.holding else {
            return;
        };
        if let Some(t) = c.timer.take() {
            ctx.cancel_timer(t);
        }
        // The check, then the write.
        if ctx.now() < until {
            ctx.send(
                NodeId(1),
                &LeaseMsg::Write {
                    token,
                    k: taken + 1,
                },
            );
            c.timer = Some(ctx.set_timer(retry, ()));
        } else {
            c.jobs += 1;
            self.ask(ctx);
        }
    }
}

impl Node for Lease {
    type Msg = LeaseMsg;
    type Timer = ();

    fn on_start(&mut self, ctx: &mut Context<'_, Self>) {
        self.ask(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_, Self>, from: NodeId, msg: LeaseMsg) {
        let s = self.s;
        let now = ctx.now();
        match (&mut self.role, msg) {
            // A new lease to whoever asks once the last was released or
            // ran out, and to its holder asking again (done with it, or
            // its grant lost): a release of the old one that comes after
            // then frees nothing.
            (Role::Service(v), LeaseMsg::Acquire { ask }) => {
                if v.holder.is_some_and(|h| h != from) && now < v.until {
                    ctx.send(from, &LeaseMsg::Busy);
                    return;
                }
                v.token += 1;
                v.holder = Some(from);
                v.until = now.after(s.lease);
                let grant = LeaseMsg::Grant {
                    ask,
                    token: v.token,
                    left: s.lease,
                };
                ctx.send(from, &grant);
            }
            (Role::Service(v), LeaseMsg::Release { token }) if token == v.token => {
                v.holder = None;
            }
            (Role::Store(st), LeaseMsg::Write { token, k }) => {
                if s.fencing && token < st.highest {
                    ctx.send(from, &LeaseMsg::Refused { token });
                    return;
                }
                if token < st.highest && st.interleaved.is_none() {
                    let by = st.by.map_or("?".into(), |n| n.to_string());
                    st.interleaved = Some(format!(
                        "the store took {from}'s write {k} under lease {token} after {by}'s under \
                         lease {}",
                        st.highest
                    ));
                }
                if token >= st.highest {
                    st.highest = token;
                    st.by = Some(from);
                }
                st.taken += 1;
                ctx.send(from, &LeaseMsg::Ack { token, k });
            }
            (Role::Client(c), LeaseMsg::Grant { ask, token, left }) => {
                // An answer to its last asking alone, while it asks.
                if c.holding.is_some() || ask != c.asks || c.jobs >= s.jobs {
                    return;
                }
                // Counted from when it asked, which was before the grant:
                // never more than was granted.
                let until = c.asked.after(left);
                let until = crate::Instant(until.0.saturating_sub(s.margin.0));
                c.holding = Some((token, until, 0));
                self.write(ctx);
            }
            (Role::Client(c), LeaseMsg::Ack { token, k }) => {
                let Some((held, _, taken)) = c.holding.as_mut() else {
                    return;
                };
                if *held != token || k != *taken + 1 {
                    return;
                }
                *taken = k;
                if k < s.writes {
                    self.write(ctx);
                    return;
                }
                ctx.send(NodeId(0), &LeaseMsg::Release { token });
                c.jobs += 1;
                self.ask(ctx);
            }
            (Role::Client(c), LeaseMsg::Refused { token })
                if c.holding.is_some_and(|h| h.0 == token) =>
            {
                c.jobs += 1;
                self.ask(ctx);
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, ctx: &mut Context<'_, Self>, timer: TimerId, _: ()) {
        let Some(c) = self.client() else { return };
        if c.timer != Some(timer) {
            return;
        }
        c.timer = None;
        // A write unanswered (`retry` is longer than a round trip, so
        // nothing of it is still on its way): the job is given up, and its
        // lease left to run out. A write is never sent twice: a copy late
        // on the network would land after the next holder's.
        if c.holding.is_some() {
            c.jobs += 1;
        }
        self.ask(ctx);
    }

    fn role(&self) -> Option<&'static str> {
        match &self.role {
            Role::Client(Client {
                holding: Some(_), ..
            }) => Some("holder"),
            _ => None,
        }
    }
}

/// The lease lock for the registry.
pub fn protocol() -> Spec<Lease> {
    Spec::new(
        "lease",
        "a lock by lease guarding a store with fencing tokens; node 0 grants, node 1 stores, the rest are clients",
        |config, params| {
            let s = LeaseSettings {
                lease: params.duration("lease")?,
                margin: params.duration("margin")?,
                retry: params.duration("retry")?,
                jobs: params.int("jobs")? as u32,
                writes: params.int("writes")? as u32,
                fencing: params.flag("fencing")?,
            };
            if s.margin >= s.lease {
                return Err(crate::scheduler::SimError::Config(format!(
                    "lease: a margin of {} leaves nothing of a lease of {}",
                    s.margin, s.lease
                )));
            }
            Ok(Simulation::new(config, move |id| Lease::new(id, s))
                .hashable()
                .cloneable()
                .always(
                    "exclusive",
                    "the store never takes a write under a lease after one under a later lease",
                    |v| match v.node(NodeId(1)).map(|n| &n.role) {
                        Some(Role::Store(Store {
                            interleaved: Some(what),
                            ..
                        })) => Err(what.clone()),
                        _ => Ok(()),
                    },
                ))
        },
    )
    .param(ParamDoc::duration(
        "lease",
        Duration::from_millis(200),
        "how long a lease lasts from its grant, by the service's clock",
    ))
    .param(ParamDoc::duration(
        "margin",
        Duration::from_millis(50),
        "a client writes only while more than this is left of its lease",
    ))
    .param(ParamDoc::duration(
        "retry",
        Duration::from_millis(50),
        "how long a client waits for an answer before it asks again or gives a job up; longer than a round trip",
    ))
    .param(ParamDoc::int("jobs", 5, (0, 1000), "jobs each client does"))
    .param(ParamDoc::int(
        "writes",
        3,
        (1, 1000),
        "writes to the store in each job, under one lease",
    ))
    .param(ParamDoc::flag(
        "fencing",
        true,
        "the store refuses a write under a lease older than one it took; false is the broken twin",
    ))
    .min_nodes(3)
    .roles(&["holder"])
}
