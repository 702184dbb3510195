//! Records: the plain data a trace is made of.
//!
//! A record is what happened, at what virtual time, at which node, with the
//! Lamport time the kernel stamped on it. Node events (start, send, deliver,
//! timer, input, observation, crash, restart) advance the node's clocks;
//! network records (lost, duplicated, corrupted) and fault records do not.

use crate::network::{LossCause, PartitionSpec};
use crate::node::NodeId;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// The trace format version this dsim writes, and the newest it reads.
/// Version 5 changed what a delivery record says about the receiver's
/// vector clock: its digest ([`DeliveryClock::Digest`], see
/// [`crate::clock`]) in place of the entries the merge raised; and a
/// record's time field holds the difference from the previous record's
/// in the same frame (zigzag-coded; the first of a frame counts from 0),
/// so that frames stay readable one by one. Version 4
/// was version 3 plus the adversary's records (`Byzantine`, `Mutated`,
/// `Altered`, `Injected`, `Unauthentic`) and the `silenced` loss cause;
/// version 5 has them too. Version 6 records what version 5 does, in the
/// same encoding; it marks runs whose network draws each message's loss,
/// duplication and corruption as one number ([`crate::rng::Fates`]), so
/// that a seed of an older trace is known to name another run (see
/// [`FATE_DRAW_VERSION`]).
pub const FORMAT_VERSION: u16 = 6;

/// The first version whose runs draw a message's fate as one number. A
/// seed recorded by an older version named a run of the older draws:
/// `dsim replay` follows such a trace's recorded schedule instead of its
/// seed.
pub const FATE_DRAW_VERSION: u16 = 6;

/// The first version whose delivery records carry a [`DeliveryClock`];
/// before it, a delivery lists the raised entries bare, and is read as
/// [`DeliveryClock::Raised`].
pub const CLOCK_DIGEST_VERSION: u16 = 5;

/// The oldest format version this dsim still reads. Version 2 differs
/// from 3 only in a timer record's tag, a bare integer there; it is read
/// as the postcard bytes of that integer, which is what version 3 would
/// hold.
pub const OLDEST_FORMAT_VERSION: u16 = 2;

/// What a trace says about the run that wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub format_version: u16,
    /// The protocol's registered name.
    pub protocol: String,
    pub seed: u64,
    pub nodes: u32,
    /// The scenario that was run (its file name, or a label).
    pub scenario: String,
    /// The full configuration, resolved (ranges already drawn), as text that
    /// can be run again (TOML for scenario runs).
    pub config: String,
    /// Knobs drawn from the seed in swarm mode, name → value, for people.
    pub drawn: BTreeMap<String, String>,
    /// FIFO promise per link: the default, and the links that differ.
    pub fifo_default: bool,
    pub fifo_exceptions: Vec<(NodeId, NodeId)>,
    /// Whether delivery records say what the receiver's vector clock is.
    pub vector_clocks: bool,
    /// For traces that replay by their recorded schedule (shrunk traces):
    /// the exact configuration and parameters as JSON. Empty otherwise, and
    /// then a replay reruns `config` with `seed`.
    pub replay: String,
}

impl Header {
    /// True when the link `from → to` promises FIFO delivery.
    pub fn is_fifo(&self, from: NodeId, to: NodeId) -> bool {
        self.fifo_default != self.fifo_exceptions.contains(&(from, to))
    }
}

/// One entry of the trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record<'a> {
    /// Virtual time of the entry.
    pub time: Instant,
    pub kind: Kind<'a>,
}

/// What a delivery record says about the receiver's vector clock after
/// the delivery. The clock itself follows from the causal structure the
/// trace records; `dsim check` rebuilds it and compares.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeliveryClock<'a> {
    /// Vector clocks are off.
    None,
    /// The `(node, new value)` entries the merge raised, in node order:
    /// what formats before 5 record (there bare, without this variant's
    /// tag); empty there also when vector clocks are off.
    Raised(Cow<'a, [(u32, u32)]>),
    /// The clock's [`crate::clock::digest`], which version 5 records.
    Digest(u32),
}

impl DeliveryClock<'_> {
    pub fn into_owned(self) -> DeliveryClock<'static> {
        match self {
            DeliveryClock::None => DeliveryClock::None,
            DeliveryClock::Raised(r) => DeliveryClock::Raised(Cow::Owned(r.into_owned())),
            DeliveryClock::Digest(d) => DeliveryClock::Digest(d),
        }
    }
}

impl From<Vec<(u32, u32)>> for DeliveryClock<'static> {
    fn from(raised: Vec<(u32, u32)>) -> Self {
        DeliveryClock::Raised(Cow::Owned(raised))
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndReason {
    /// No events were left.
    Quiescent,
    /// The next event lay beyond the virtual time limit.
    TimeLimit,
    /// The event limit was reached.
    EventLimit,
    /// A check failed (the preceding `CheckFailed` record says which).
    CheckFailed,
    /// The run was told to stop (`RunOptions::stop`: `dsim run` on Ctrl-C)
    /// and ended where it had got to.
    Interrupted,
}

impl EndReason {
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Quiescent => "quiescent",
            EndReason::TimeLimit => "time limit",
            EndReason::EventLimit => "event limit",
            EndReason::CheckFailed => "check failed",
            EndReason::Interrupted => "interrupted",
        }
    }
}

/// What a record says happened.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Kind<'a> {
    /// The node started (first start, or after a restart).
    Start { node: NodeId, lamport: u64 },
    /// The node sent message `msg` (ids increase from 0 in send order).
    Send {
        node: NodeId,
        lamport: u64,
        msg: u64,
        to: NodeId,
        #[serde(
            serialize_with = "bytes::serialize",
            deserialize_with = "bytes::deserialize"
        )]
        payload: Cow<'a, [u8]>,
    },
    /// Copy `copy` of message `msg` from `from` was delivered to `node`.
    /// `vc` says what the receiver's vector clock became (see
    /// [`crate::clock`]).
    Deliver {
        node: NodeId,
        lamport: u64,
        msg: u64,
        copy: u32,
        from: NodeId,
        vc: DeliveryClock<'a>,
    },
    /// A timer fired; `tag` is the postcard bytes of the value the node
    /// set it with (its own timer type).
    Timer {
        node: NodeId,
        lamport: u64,
        timer: u64,
        #[serde(
            serialize_with = "bytes::serialize",
            deserialize_with = "bytes::deserialize"
        )]
        tag: Cow<'a, [u8]>,
    },
    /// The workload handed the node an operation.
    Input {
        node: NodeId,
        lamport: u64,
        id: u64,
        value: u64,
    },
    /// A client-visible operation or result.
    Observe {
        node: NodeId,
        lamport: u64,
        text: Cow<'a, str>,
    },
    /// The node crashed: volatile state and unsynced writes are gone.
    Crash { node: NodeId, lamport: u64 },
    /// The node came back (a `Start` follows).
    Restart { node: NodeId, lamport: u64 },
    /// Copy `copy` of message `msg` was lost.
    Lost {
        msg: u64,
        copy: u32,
        from: NodeId,
        to: NodeId,
        cause: LossCause,
    },
    /// Message `msg` got a second copy, numbered `copy`.
    Duplicated { msg: u64, copy: u32 },
    /// Copy `copy` of `msg` had bytes flipped: (offset, xor mask) pairs.
    Corrupted {
        msg: u64,
        copy: u32,
        flips: Vec<(u32, u8)>,
    },
    /// A partition came into force.
    Partition { id: u32, spec: PartitionSpec },
    /// Partition `id` (every partition if `None`) was lifted.
    Heal { id: Option<u32> },
    /// A topology wire went down.
    CutWire { a: NodeId, b: NodeId },
    /// A topology wire came back.
    RestoreWire { a: NodeId, b: NodeId },
    /// A node's local clock was set to run `offset_ns` ahead and drift by
    /// `drift_ppm` parts per million.
    ClockSkew {
        node: NodeId,
        offset_ns: i64,
        drift_ppm: i32,
    },
    /// A check failed: an invariant, or a panic inside a handler.
    CheckFailed {
        check: Cow<'a, str>,
        message: Cow<'a, str>,
    },
    /// The seal: the run ended for `reason` after `records` records (this
    /// one not counted). A trace without it was cut short.
    End { reason: EndReason, records: u64 },
    /// A client history event: a process invoked an operation or learned
    /// its outcome (see [`crate::history`]).
    Op {
        node: NodeId,
        lamport: u64,
        op: crate::history::Op,
    },
    /// Process `node` is byzantine (written before the run starts): an
    /// instance of node `of` (itself, unless `node` is an extra twin
    /// instance), misbehaving as `behaviour` says.
    Byzantine {
        node: NodeId,
        of: NodeId,
        behaviour: Cow<'a, str>,
    },
    /// Byzantine `node` sent message `msg` mutated: its `Send` record holds
    /// the bytes that left; `change` says how they differ from what the
    /// node's code produced.
    Mutated {
        node: NodeId,
        msg: u64,
        change: Cow<'a, str>,
    },
    /// The network adversary altered copy `copy` of `msg` in transit:
    /// `payload` is what arrives, `change` what was changed.
    Altered {
        msg: u64,
        copy: u32,
        change: Cow<'a, str>,
        #[serde(
            serialize_with = "bytes::serialize",
            deserialize_with = "bytes::deserialize"
        )]
        payload: Cow<'a, [u8]>,
    },
    /// The network adversary injected message `msg`, claiming to be from
    /// `from`, to `to`: built from message `source` — a replay of it when
    /// `change` is empty, else a forgery (`change` says what was changed).
    /// No node sent it, so it has no send event and carries no causality.
    Injected {
        msg: u64,
        from: NodeId,
        to: NodeId,
        source: u64,
        change: Cow<'a, str>,
        #[serde(
            serialize_with = "bytes::serialize",
            deserialize_with = "bytes::deserialize"
        )]
        payload: Cow<'a, [u8]>,
    },
    /// Copy `copy` of `msg` carries a MAC that does not verify for the
    /// sender it claims: the receiver is told it is not authentic.
    Unauthentic { msg: u64, copy: u32 },
    /// Right after `node`'s crash, on a disk that may keep writes not yet
    /// synced ([`crate::config::DiskConfig`]): which of them it kept and
    /// which it lost (keys, in key order). Without this record a crash
    /// lost every one.
    DiskAtCrash {
        node: NodeId,
        kept: Vec<String>,
        lost: Vec<String>,
    },
    /// `node` was paused ([`crate::FaultAction::Pause`]): it handles
    /// nothing until its `Resume`; what reaches it meanwhile waits.
    Pause { node: NodeId },
    /// `node` was resumed: what waited for it comes next, in order.
    Resume { node: NodeId },
    /// Copy `copy` of `msg` reached `node` while it was paused: it waits
    /// for the resume (its `Deliver` then follows). When it arrived, which
    /// a replay by schedule follows.
    Held { node: NodeId, msg: u64, copy: u32 },
}

impl Record<'_> {
    /// The node and Lamport time, for node events.
    pub fn node_event(&self) -> Option<(NodeId, u64)> {
        match &self.kind {
            Kind::Start { node, lamport }
            | Kind::Send { node, lamport, .. }
            | Kind::Deliver { node, lamport, .. }
            | Kind::Timer { node, lamport, .. }
            | Kind::Input { node, lamport, .. }
            | Kind::Observe { node, lamport, .. }
            | Kind::Crash { node, lamport }
            | Kind::Restart { node, lamport }
            | Kind::Op { node, lamport, .. } => Some((*node, *lamport)),
            _ => None,
        }
    }

    /// A copy that owns all its data.
    pub fn into_owned(self) -> Record<'static> {
        let kind = match self.kind {
            Kind::Send {
                node,
                lamport,
                msg,
                to,
                payload,
            } => Kind::Send {
                node,
                lamport,
                msg,
                to,
                payload: Cow::Owned(payload.into_owned()),
            },
            Kind::Deliver {
                node,
                lamport,
                msg,
                copy,
                from,
                vc,
            } => Kind::Deliver {
                node,
                lamport,
                msg,
                copy,
                from,
                vc: vc.into_owned(),
            },
            Kind::Observe {
                node,
                lamport,
                text,
            } => Kind::Observe {
                node,
                lamport,
                text: Cow::Owned(text.into_owned()),
            },
            Kind::CheckFailed { check, message } => Kind::CheckFailed {
                check: Cow::Owned(check.into_owned()),
                message: Cow::Owned(message.into_owned()),
            },
            Kind::Start { node, lamport } => Kind::Start { node, lamport },
            Kind::Timer {
                node,
                lamport,
                timer,
                tag,
            } => Kind::Timer {
                node,
                lamport,
                timer,
                tag: Cow::Owned(tag.into_owned()),
            },
            Kind::Input {
                node,
                lamport,
                id,
                value,
            } => Kind::Input {
                node,
                lamport,
                id,
                value,
            },
            Kind::Crash { node, lamport } => Kind::Crash { node, lamport },
            Kind::Restart { node, lamport } => Kind::Restart { node, lamport },
            Kind::Lost {
                msg,
                copy,
                from,
                to,
                cause,
            } => Kind::Lost {
                msg,
                copy,
                from,
                to,
                cause,
            },
            Kind::Duplicated { msg, copy } => Kind::Duplicated { msg, copy },
            Kind::Corrupted { msg, copy, flips } => Kind::Corrupted { msg, copy, flips },
            Kind::Partition { id, spec } => Kind::Partition { id, spec },
            Kind::Heal { id } => Kind::Heal { id },
            Kind::CutWire { a, b } => Kind::CutWire { a, b },
            Kind::RestoreWire { a, b } => Kind::RestoreWire { a, b },
            Kind::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            } => Kind::ClockSkew {
                node,
                offset_ns,
                drift_ppm,
            },
            Kind::End { reason, records } => Kind::End { reason, records },
            Kind::Op { node, lamport, op } => Kind::Op { node, lamport, op },
            Kind::Byzantine {
                node,
                of,
                behaviour,
            } => Kind::Byzantine {
                node,
                of,
                behaviour: Cow::Owned(behaviour.into_owned()),
            },
            Kind::Mutated { node, msg, change } => Kind::Mutated {
                node,
                msg,
                change: Cow::Owned(change.into_owned()),
            },
            Kind::Altered {
                msg,
                copy,
                change,
                payload,
            } => Kind::Altered {
                msg,
                copy,
                change: Cow::Owned(change.into_owned()),
                payload: Cow::Owned(payload.into_owned()),
            },
            Kind::Injected {
                msg,
                from,
                to,
                source,
                change,
                payload,
            } => Kind::Injected {
                msg,
                from,
                to,
                source,
                change: Cow::Owned(change.into_owned()),
                payload: Cow::Owned(payload.into_owned()),
            },
            Kind::Unauthentic { msg, copy } => Kind::Unauthentic { msg, copy },
            Kind::DiskAtCrash { node, kept, lost } => Kind::DiskAtCrash { node, kept, lost },
            Kind::Pause { node } => Kind::Pause { node },
            Kind::Resume { node } => Kind::Resume { node },
            Kind::Held { node, msg, copy } => Kind::Held { node, msg, copy },
        };
        Record {
            time: self.time,
            kind,
        }
    }
}

/// Payload bytes as one block rather than element by element. Postcard
/// writes a byte string and a sequence of `u8` identically (a varint
/// length, then the bytes), so this changes speed, not the format.
mod bytes {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::borrow::Cow;
    use std::fmt;

    #[allow(clippy::ptr_arg)] // serialize_with hands over the field's own type
    pub fn serialize<S: Serializer>(b: &Cow<'_, [u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b)
    }

    pub fn deserialize<'de, 'a, D: Deserializer<'de>>(d: D) -> Result<Cow<'a, [u8]>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("payload bytes")
            }
            fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        d.deserialize_bytes(Bytes).map(Cow::Owned)
    }
}
