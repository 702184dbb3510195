//! The coding of the records a run writes most, spelled out.
//!
//! Postcard defines the trace's bytes. Going through serde costs a call
//! and a capacity or bounds check per field, and the handful of kinds that
//! make up nearly every trace (start, send, deliver, timer, loss) are
//! written and read millions of times, so [`encode`] and [`decode`] handle
//! their postcard bytes directly — a struct is its fields in order, an
//! integer a LEB128 varint, an enum its variant index then its fields, a
//! byte string or sequence its length then its items — and leave every
//! other kind to postcard. `decode` also leaves to postcard every record
//! it does not accept, so errors are postcard's own. The tests hold the
//! two byte-identical for every kind, and `decode` to accepting nothing
//! postcard would not, with the same result.

use super::record::{DeliveryClock, Kind, Record};
use crate::network::LossCause;
use crate::node::NodeId;
use crate::time::Instant;
use std::borrow::Cow;

/// Room `encode` asks for beyond a record's payload and clock entries: the
/// fixed fields, and slack for the eight-byte stores of `Cursor::varint`.
const FIXED_ROOM: usize = 10 * 10;

// Variant indices: the order of `Kind`'s declaration.
const START: u64 = 0;
const SEND: u64 = 1;
const DELIVER: u64 = 2;
const TIMER: u64 = 3;
const LOST: u64 = 8;
// `DeliveryClock`'s variant indices.
const CLOCK_NONE: u64 = 0;
const CLOCK_RAISED: u64 = 1;
const CLOCK_DIGEST: u64 = 2;

/// Writes the postcard encoding of `record` at the start of `out`, with
/// `time` in place of its time (the writer stores a difference), and
/// returns its length, or `None` if `out` may be too short for it.
/// `legacy` writes what differs as that older format has it.
pub fn encode(
    record: &Record<'_>,
    time: u64,
    out: &mut [u8],
    legacy: Legacy,
) -> postcard::Result<Option<usize>> {
    let room = match &record.kind {
        Kind::Start { .. } | Kind::Lost { .. } => FIXED_ROOM,
        Kind::Timer { tag, .. } => FIXED_ROOM + tag.len(),
        Kind::Send { payload, .. } => FIXED_ROOM + payload.len(),
        Kind::Deliver { vc, .. } => match vc {
            DeliveryClock::Raised(raised) => FIXED_ROOM + 10 * raised.len(),
            DeliveryClock::None | DeliveryClock::Digest(_) => FIXED_ROOM,
        },
        _ => {
            // A record is its time, then its kind: the time here, the
            // kind by postcard.
            if out.len() < FIXED_ROOM {
                return Ok(None);
            }
            let mut c = Cursor { out, at: 0 };
            c.varint(time);
            let at = c.at;
            return match postcard::to_slice(&record.kind, &mut out[at..]) {
                Ok(bytes) => Ok(Some(at + bytes.len())),
                Err(postcard::Error::SerializeBufferFull) => Ok(None),
                Err(e) => Err(e),
            };
        }
    };
    if out.len() < room {
        return Ok(None);
    }
    let mut c = Cursor { out, at: 0 };
    c.varint(time);
    match &record.kind {
        Kind::Start { node, lamport } => {
            c.varints([START, u64::from(node.0), *lamport]);
        }
        Kind::Send {
            node,
            lamport,
            msg,
            to,
            payload,
        } => {
            let len = payload.len() as u64;
            c.varints([
                SEND,
                u64::from(node.0),
                *lamport,
                *msg,
                u64::from(to.0),
                len,
            ]);
            c.bytes(payload);
        }
        Kind::Deliver {
            node,
            lamport,
            msg,
            copy,
            from,
            vc,
        } => {
            c.varints([DELIVER, u64::from(node.0), *lamport, *msg]);
            c.varints([u64::from(*copy), u64::from(from.0)]);
            if legacy.clock {
                // A bare list of raised entries; nothing is one with clocks off.
                let raised: &[(u32, u32)] = match vc {
                    DeliveryClock::None => &[],
                    DeliveryClock::Raised(raised) => raised,
                    // Refused by the writer before it gets here.
                    DeliveryClock::Digest(_) => return Err(postcard::Error::NotYetImplemented),
                };
                c.varint(raised.len() as u64);
                for &(i, t) in raised {
                    c.varints([u64::from(i), u64::from(t)]);
                }
                return Ok(Some(c.at));
            }
            match vc {
                DeliveryClock::None => c.varint(CLOCK_NONE),
                DeliveryClock::Digest(d) => c.varints([CLOCK_DIGEST, u64::from(*d)]),
                DeliveryClock::Raised(raised) => {
                    c.varints([CLOCK_RAISED, raised.len() as u64]);
                    for &(i, t) in raised.iter() {
                        c.varints([u64::from(i), u64::from(t)]);
                    }
                }
            }
        }
        Kind::Timer {
            node,
            lamport,
            timer,
            tag,
        } => {
            let len = tag.len() as u64;
            c.varints([TIMER, u64::from(node.0), *lamport, *timer, len]);
            c.bytes(tag);
        }
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            cause,
        } => {
            c.varints([LOST, *msg, u64::from(*copy), u64::from(from.0)]);
            c.varints([u64::from(to.0), *cause as u64]);
        }
        _ => unreachable!("every other kind returned above"),
    }
    Ok(Some(c.at))
}

/// For a value with `i` leading zero bits: its varint's length, and the
/// continuation bits of its bytes (the top bit of all but the last).
const BY_LEADING_ZEROS: [(u8, u64); 65] = {
    let mut table = [(0, 0); 65];
    let mut i = 0;
    while i <= 64 {
        let bits: usize = 64 - i;
        let len = if bits == 0 { 1 } else { bits.div_ceil(7) };
        let continuation = if len >= 9 {
            0x8080_8080_8080_8080
        } else {
            0x8080_8080_8080_8080 & ((1u64 << (8 * (len - 1))) - 1)
        };
        table[i] = (len as u8, continuation);
        i += 1;
    }
    table
};

/// Writes into a slice the caller made long enough for the whole record.
struct Cursor<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Cursor<'_> {
    /// LEB128, as postcard writes every unsigned integer wider than a
    /// byte: seven bits a byte, low bits first, the top bit set on every
    /// byte but the last. Values below 2^56 are spread into one word with
    /// three shift-and-mask steps and stored at once, with no branch on
    /// their length.
    #[inline(always)]
    fn varint(&mut self, v: u64) {
        if v < 0x80 {
            self.out[self.at] = v as u8;
            self.at += 1;
            return;
        }
        if v < 0x4000 {
            // Two bytes: node indices and clock entries, mostly.
            let w = (v & 0x7f | 0x80) | (v >> 7) << 8;
            self.out[self.at..self.at + 2].copy_from_slice(&(w as u16).to_le_bytes());
            self.at += 2;
            return;
        }
        if v >= 1 << 56 {
            let mut v = v;
            while v >= 0x80 {
                self.out[self.at] = v as u8 | 0x80;
                self.at += 1;
                v >>= 7;
            }
            self.out[self.at] = v as u8;
            self.at += 1;
            return;
        }
        // 28-bit halves into 32-bit lanes, 14-bit quarters into 16-bit
        // lanes, 7-bit groups into bytes.
        let w = (v & 0x0000_0000_0fff_ffff) | ((v & 0x00ff_ffff_f000_0000) << 4);
        let w = (w & 0x0000_3fff_0000_3fff) | ((w & 0x0fff_c000_0fff_c000) << 2);
        let w = (w & 0x007f_007f_007f_007f) | ((w & 0x3f80_3f80_3f80_3f80) << 1);
        let (len, continuation) = BY_LEADING_ZEROS[v.leading_zeros() as usize];
        self.out[self.at..self.at + 8].copy_from_slice(&(w | continuation).to_le_bytes());
        self.at += len as usize;
    }

    #[inline(always)]
    fn varints<const N: usize>(&mut self, values: [u64; N]) {
        for v in values {
            self.varint(v);
        }
    }

    fn bytes(&mut self, data: &[u8]) {
        self.out[self.at..self.at + data.len()].copy_from_slice(data);
        self.at += data.len();
    }
}

/// How records of older format versions differ from today's.
#[derive(Clone, Copy, Debug, Default)]
pub struct Legacy {
    /// A timer's tag is a bare varint (version 2); its bytes are lent as
    /// the tag.
    pub timer: bool,
    /// A delivery lists its raised clock entries bare, without
    /// `DeliveryClock`'s tag (versions 2 to 4); read as `Raised`.
    pub clock: bool,
    /// A record's time is absolute (versions 2 to 4). From version 5 it
    /// is the difference from the previous record's in the same frame,
    /// zigzag-coded (see [`zigzag`]); the first of a frame counts from 0.
    pub absolute_time: bool,
}

/// A time as a frame of version 5 or later stores it: the difference from the
/// previous record's, as a signed number (hand-made traces may go back)
/// folded into an unsigned one, small either way.
pub fn zigzag(time: u64, previous: u64) -> u64 {
    let d = time.wrapping_sub(previous) as i64;
    ((d << 1) ^ (d >> 63)) as u64
}

/// The time that [`zigzag`] stored.
pub fn unzigzag(stored: u64, previous: u64) -> u64 {
    let d = ((stored >> 1) as i64) ^ -((stored & 1) as i64);
    previous.wrapping_add(d as u64)
}

impl Legacy {
    pub fn of(format_version: u16) -> Legacy {
        Legacy {
            timer: format_version < 3,
            clock: format_version < super::record::CLOCK_DIGEST_VERSION,
            absolute_time: format_version < super::record::CLOCK_DIGEST_VERSION,
        }
    }
}

/// Decodes the record at the start of `bytes` as postcard would, and the
/// bytes it took; `None` for a kind left to postcard or bytes postcard may
/// reject. A delivery's raised clock entries go to `vc`, which the record
/// borrows, as it borrows a send's payload from `bytes`. `legacy` says
/// how an older format wrote what differs.
pub fn decode<'a>(
    bytes: &'a [u8],
    vc: &'a mut Vec<(u32, u32)>,
    legacy: Legacy,
) -> Option<(Record<'a>, usize)> {
    let mut r = Reader { bytes, at: 0 };
    let time = Instant(r.u64()?);
    let kind = match u64::from(r.u32()?) {
        START => Kind::Start {
            node: NodeId(r.u32()?),
            lamport: r.u64()?,
        },
        SEND => Kind::Send {
            node: NodeId(r.u32()?),
            lamport: r.u64()?,
            msg: r.u64()?,
            to: NodeId(r.u32()?),
            payload: Cow::Borrowed(r.bytes()?),
        },
        DELIVER => {
            let (node, lamport, msg) = (NodeId(r.u32()?), r.u64()?, r.u64()?);
            let (copy, from) = (r.u32()?, NodeId(r.u32()?));
            let variant = if legacy.clock {
                CLOCK_RAISED
            } else {
                u64::from(r.u32()?)
            };
            let clock = match variant {
                CLOCK_NONE => DeliveryClock::None,
                CLOCK_DIGEST => DeliveryClock::Digest(r.u32()?),
                CLOCK_RAISED => {
                    let len = r.u64()?;
                    vc.clear();
                    for _ in 0..len {
                        vc.push((r.u32()?, r.u32()?));
                    }
                    DeliveryClock::Raised(Cow::Borrowed(vc))
                }
                _ => return None,
            };
            Kind::Deliver {
                node,
                lamport,
                msg,
                copy,
                from,
                vc: clock,
            }
        }
        TIMER => {
            let (node, lamport, timer) = (NodeId(r.u32()?), r.u64()?, r.u64()?);
            let tag = if legacy.timer {
                let start = r.at;
                r.u64()?;
                &bytes[start..r.at]
            } else {
                r.bytes()?
            };
            Kind::Timer {
                node,
                lamport,
                timer,
                tag: Cow::Borrowed(tag),
            }
        }
        LOST => Kind::Lost {
            msg: r.u64()?,
            copy: r.u32()?,
            from: NodeId(r.u32()?),
            to: NodeId(r.u32()?),
            cause: *LossCause::ALL.get(r.u32()? as usize)?,
        },
        _ => return None,
    };
    Some((Record { time, kind }, r.at))
}

/// Reads postcard's varints as postcard does: at most as many bytes as
/// the type needs, the last of them holding no bits beyond the type.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn varint(&mut self, max_len: usize, last_max: u8) -> Option<u64> {
        let mut out = 0u64;
        for i in 0..max_len {
            let byte = *self.bytes.get(self.at)?;
            self.at += 1;
            out |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return (i + 1 < max_len || byte <= last_max).then_some(out);
            }
        }
        None
    }

    fn u64(&mut self) -> Option<u64> {
        self.varint(10, 0x01)
    }

    fn u32(&mut self) -> Option<u32> {
        self.varint(5, 0x0f).map(|v| v as u32)
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u64()?).ok()?;
        let end = self.at.checked_add(len)?;
        let data = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn same_as_postcard(record: &Record<'_>) {
        let theirs = postcard::to_stdvec(record).unwrap();
        // Too little room is reported, never overrun.
        let mut short = vec![0xAA; theirs.len().saturating_sub(1)];
        assert_eq!(
            encode(record, record.time.0, &mut short, Legacy::default()).unwrap(),
            None
        );
        let mut ours = vec![0xAA; theirs.len() + FIXED_ROOM + 10 * 300];
        let len = encode(record, record.time.0, &mut ours, Legacy::default())
            .unwrap()
            .unwrap();
        assert_eq!(&ours[..len], &theirs[..], "{record:?}");
        // And back, with the length taken, when the kind is one `decode`
        // handles.
        let mut vc = Vec::new();
        if let Some((back, used)) = decode(&theirs, &mut vc, Legacy::default()) {
            assert_eq!(&back, record);
            assert_eq!(used, theirs.len());
        } else {
            assert!(!matches!(
                record.kind,
                Kind::Start { .. }
                    | Kind::Send { .. }
                    | Kind::Deliver { .. }
                    | Kind::Timer { .. }
                    | Kind::Lost { .. }
            ));
        }
    }

    /// Whatever `decode` accepts, postcard accepts the same way.
    fn decodes_as_postcard_does(bytes: &[u8]) {
        let mut vc = Vec::new();
        if let Some((ours, used)) = decode(bytes, &mut vc, Legacy::default()) {
            let (theirs, rest) =
                postcard::take_from_bytes::<Record<'_>>(bytes).unwrap_or_else(|e| {
                    panic!("postcard rejects {bytes:?} ({e}), decode took {ours:?}")
                });
            assert_eq!(ours, theirs);
            assert_eq!(used, bytes.len() - rest.len());
        }
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
                vc: DeliveryClock::Raised(Cow::Owned(pairs)),
            },
            Kind::Deliver {
                node: NodeId(c),
                lamport: a,
                msg: b,
                copy: d,
                from: NodeId(d),
                vc: DeliveryClock::Digest(c ^ d),
            },
            Kind::Deliver {
                node: NodeId(d),
                lamport: a,
                msg: b,
                copy: 0,
                from: NodeId(c),
                vc: DeliveryClock::None,
            },
            Kind::Timer {
                node: NodeId(c),
                lamport: a,
                timer: b,
                tag: Cow::Owned(postcard::to_stdvec(&(a ^ b)).unwrap()),
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
            a in prop_oneof![(0u32..64).prop_map(|k| 1u64 << k), (1u32..64).prop_map(|k| (1u64 << k) - 1), any::<u64>()],
            b in prop_oneof![Just(0u64), Just(127), Just(128), Just(u64::MAX), any::<u64>()],
            c in any::<u32>(),
            d in 0u32..300,
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            for kind in kinds(a, b, c, d, bytes) {
                same_as_postcard(&Record { time: Instant(time), kind });
            }
        }

        #[test]
        fn decode_accepts_nothing_postcard_would_not(
            kind in 0usize..14,
            time in any::<u64>(),
            bytes in proptest::collection::vec(any::<u8>(), 0..40),
            edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
            cut in any::<usize>(),
        ) {
            // Valid records, damaged in a few bytes and cut short, and
            // plain noise.
            let kinds = kinds(time ^ 0x55, time >> 3, 300, 7, bytes.clone());
            let record = Record { time: Instant(time), kind: kinds[kind % kinds.len()].clone() };
            let mut valid = postcard::to_stdvec(&record).unwrap();
            for (at, byte) in edits {
                let n = valid.len();
                valid[at % n] = byte;
            }
            let keep = cut % (valid.len() + 1);
            decodes_as_postcard_does(&valid[..keep]);
            decodes_as_postcard_does(&valid);
            decodes_as_postcard_does(&bytes);
        }
    }

    #[test]
    fn zigzag_times_come_back_whichever_way_they_go() {
        for (t, prev) in [
            (0u64, 0u64),
            (5, 3),
            (3, 5),
            (u64::MAX, 0),
            (0, u64::MAX),
            (1 << 63, 1),
            (7_000_000, 1_000_000),
        ] {
            assert_eq!(unzigzag(zigzag(t, prev), prev), t, "{t} after {prev}");
        }
        // Forward and back by a little both take a small number.
        assert_eq!(zigzag(10, 7), 6);
        assert_eq!(zigzag(7, 10), 5);
    }

    #[test]
    fn overlong_varints_are_left_to_postcard() {
        // A time of eleven bytes, and a u32 field whose fifth byte holds
        // bits beyond 32: postcard rejects both, and so must `decode`.
        let mut vc = Vec::new();
        let overlong = [
            0x80u8, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0, 0, 0,
        ];
        assert!(decode(&overlong, &mut vc, Legacy::default()).is_none());
        assert!(postcard::from_bytes::<Record<'_>>(&overlong).is_err());
        let wide_node = [0x05u8, 0x00, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x01];
        assert!(decode(&wide_node, &mut vc, Legacy::default()).is_none());
        assert!(postcard::from_bytes::<Record<'_>>(&wide_node).is_err());
    }
}
