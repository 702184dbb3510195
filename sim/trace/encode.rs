//! The encoding of the records a run writes most, spelled out.
//!
//! Postcard defines the trace's bytes, and the reader decodes them with
//! postcard. Encoding through serde costs a call and a capacity check per
//! field, and the handful of kinds that make up nearly every trace (start,
//! send, deliver, timer, loss) are written millions of times, so
//! [`encode`] writes their postcard bytes directly — a struct is its
//! fields in order, an integer a LEB128 varint, an enum its variant index
//! then its fields, a byte string or sequence its length then its items —
//! and hands every other kind to postcard. The tests hold the two
//! byte-identical for every kind.

use super::record::{Kind, Record};

/// Appends the postcard encoding of `record` to `out`. On error, `out` may
/// hold a partial encoding past its old length; callers truncate.
pub fn encode(record: &Record<'_>, out: &mut Vec<u8>) -> postcard::Result<()> {
    // Variant indices: the order of `Kind`'s declaration.
    const START: u64 = 0;
    const SEND: u64 = 1;
    const DELIVER: u64 = 2;
    const TIMER: u64 = 3;
    const LOST: u64 = 8;
    let mut s = Scratch::new();
    s.varint(record.time.0);
    match &record.kind {
        Kind::Start { node, lamport } => {
            s.varints([START, u64::from(node.0), *lamport]);
        }
        Kind::Send {
            node,
            lamport,
            msg,
            to,
            payload,
        } => {
            let len = payload.len() as u64;
            s.varints([
                SEND,
                u64::from(node.0),
                *lamport,
                *msg,
                u64::from(to.0),
                len,
            ]);
            s.flush_into(out);
            out.extend_from_slice(payload);
        }
        Kind::Deliver {
            node,
            lamport,
            msg,
            copy,
            from,
            vc,
        } => {
            s.varints([DELIVER, u64::from(node.0), *lamport, *msg]);
            s.varints([u64::from(*copy), u64::from(from.0), vc.len() as u64]);
            for &(i, t) in vc.iter() {
                if s.len > Scratch::ROOM - 20 {
                    s.flush_into(out);
                }
                s.varints([u64::from(i), u64::from(t)]);
            }
        }
        Kind::Timer {
            node,
            lamport,
            timer,
            tag,
        } => {
            s.varints([TIMER, u64::from(node.0), *lamport, *timer, *tag]);
        }
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            cause,
        } => {
            s.varints([LOST, *msg, u64::from(*copy), u64::from(from.0)]);
            s.varints([u64::from(to.0), *cause as u64]);
        }
        _ => return crate::wire::encode_into(record, out),
    }
    s.flush_into(out);
    Ok(())
}

/// Bytes gathered on the stack and appended to the output in one copy: a
/// byte written through a `&mut Vec` makes the compiler reload the
/// vector's length after every store, a local cursor stays in a register.
struct Scratch {
    buf: [u8; Scratch::ROOM],
    len: usize,
}

impl Scratch {
    /// Room for the largest batch written between flushes: the time and
    /// up to seven varints, or a vector-clock entry after a flush check.
    const ROOM: usize = 96;

    fn new() -> Scratch {
        Scratch {
            buf: [0; Scratch::ROOM],
            len: 0,
        }
    }

    /// LEB128, as postcard writes every unsigned integer wider than a byte.
    #[inline(always)]
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf[self.len] = v as u8 | 0x80;
            self.len += 1;
            v >>= 7;
        }
        self.buf[self.len] = v as u8;
        self.len += 1;
    }

    #[inline(always)]
    fn varints<const N: usize>(&mut self, values: [u64; N]) {
        for v in values {
            self.varint(v);
        }
    }

    fn flush_into(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf[..self.len]);
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::LossCause;
    use crate::node::NodeId;
    use crate::time::Instant;
    use proptest::prelude::*;
    use std::borrow::Cow;

    fn same_as_postcard(record: &Record<'_>) {
        let mut ours = vec![0xAA];
        encode(record, &mut ours).unwrap();
        let theirs = postcard::to_stdvec(record).unwrap();
        assert_eq!(&ours[1..], &theirs[..], "{record:?}");
    }

    fn kinds(a: u64, b: u64, c: u32, d: u32, bytes: Vec<u8>) -> Vec<Kind<'static>> {
        let pairs: Vec<(u32, u32)> = bytes.iter().map(|&x| (u32::from(x), c ^ d)).collect();
        vec![
            Kind::Start {
                node: NodeId(c),
                lamport: a,
            },
            Kind::Send {
                node: NodeId(c),
                lamport: a,
                msg: b,
                to: NodeId(d),
                payload: Cow::Owned(bytes),
            },
            Kind::Deliver {
                node: NodeId(d),
                lamport: b,
                msg: a,
                copy: c,
                from: NodeId(c),
                vc: Cow::Owned(pairs),
            },
            Kind::Timer {
                node: NodeId(c),
                lamport: a,
                timer: b,
                tag: a ^ b,
            },
            Kind::Input {
                node: NodeId(c),
                lamport: a,
                id: b,
                value: a,
            },
            Kind::Duplicated { msg: a, copy: c },
            Kind::Crash {
                node: NodeId(d),
                lamport: b,
            },
        ]
        .into_iter()
        .chain(LossCause::ALL.map(|cause| Kind::Lost {
            msg: a,
            copy: c,
            from: NodeId(c),
            to: NodeId(d),
            cause,
        }))
        .collect()
    }

    proptest! {
        #[test]
        fn every_kind_encodes_as_postcard_does(
            time in any::<u64>(),
            a in any::<u64>(),
            b in prop_oneof![Just(0u64), Just(127), Just(128), Just(u64::MAX), any::<u64>()],
            c in any::<u32>(),
            d in 0u32..300,
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            for kind in kinds(a, b, c, d, bytes) {
                same_as_postcard(&Record { time: Instant(time), kind });
            }
        }
    }
}
