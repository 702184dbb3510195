//! A compact, aligned, greppable timeline: one record per line.
//!
//! ```text
//! #000012  0.012345678s  n1  L5    deliver   m7.0 from n0  vc+[0:3]
//! #000013  0.012345678s  n1  L6    send      m9 -> n2 (12 bytes) Request { seq: 1, value: 5 }
//! #000014  0.013000000s  --        lost      m9.0 n1->n2 (loss)
//! ```

use crate::trace::{DeliveryClock, Kind, Record};
use std::fmt::Write;

/// Turns a trace's bytes back into the protocol's values, for people.
pub trait Decode {
    /// A message's payload, as the protocol's message.
    fn message(&self, payload: &[u8]) -> Option<String>;
    /// A timer's tag, as the node's timer value.
    fn timer(&self, tag: &[u8]) -> Option<String> {
        let _ = tag;
        None
    }
}

/// The protocol's decoder, when the protocol is known.
pub type Decoder<'a> = &'a dyn Decode;

/// A timer tag without the protocol's code: a tag that is one integer
/// (postcard's varint) shows as that integer, the unit tag as nothing, any
/// other as hex.
pub fn raw_tag(tag: &[u8]) -> String {
    let mut value = 0u64;
    for (i, b) in tag.iter().enumerate() {
        if i >= 10 {
            break;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i + 1 == tag.len() {
                return format!("tag {value}");
            }
            break;
        }
    }
    if tag.is_empty() {
        return String::new();
    }
    let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
    format!("tag 0x{hex}")
}

/// A timer tag as the protocol names it, or raw.
pub fn tag(tag: &[u8], decode: Option<Decoder<'_>>) -> String {
    match decode.and_then(|d| d.timer(tag)) {
        Some(name) => super::plain(&name).into_owned(),
        None => raw_tag(tag),
    }
}

/// One line for record `index`.
pub fn line(index: u64, r: &Record<'_>, decode: Option<Decoder<'_>>) -> String {
    let (who, what) = describe(r, decode);
    let node = match (r.node_event(), &r.kind) {
        (Some((n, l)), _) => format!("{:<4}L{:<5}", n.to_string(), l),
        (
            None,
            Kind::DiskAtCrash { node, .. }
            | Kind::Pause { node }
            | Kind::Resume { node }
            | Kind::Held { node, .. },
        ) => format!("{:<4}{:<6}", node.to_string(), ""),
        (None, _) => format!("{:<4}{:<6}", who, ""),
    };
    format!("#{index:06}  {}  {node} {what}", r.time)
}

fn describe(r: &Record<'_>, decode: Option<Decoder<'_>>) -> (&'static str, String) {
    let mut s = String::new();
    match &r.kind {
        Kind::Start { .. } => s.push_str("start"),
        Kind::Restart { .. } => s.push_str("restart"),
        Kind::Crash { .. } => s.push_str("crash"),
        Kind::Send {
            msg, to, payload, ..
        } => {
            let _ = write!(s, "{:<9} m{msg} -> {to} ({} bytes)", "send", payload.len());
            if let Some(text) = decode.and_then(|d| d.message(payload)) {
                let _ = write!(s, " {}", super::plain(&text));
            }
        }
        Kind::Deliver {
            msg,
            copy,
            from,
            vc,
            ..
        } => {
            let _ = write!(s, "{:<9} m{msg}.{copy} from {from}", "deliver");
            // A digest says nothing to a reader (`dsim check` compares it
            // with the clock it rebuilds); raised entries, from older
            // formats, do.
            if let DeliveryClock::Raised(raised) = vc {
                if !raised.is_empty() {
                    let parts: Vec<String> =
                        raised.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                    let _ = write!(s, "  vc+[{}]", parts.join(" "));
                }
            }
        }
        Kind::Timer {
            timer, tag: bytes, ..
        } => {
            let _ = write!(s, "{:<9} t{timer} {}", "timer", tag(bytes, decode));
        }
        Kind::Input { id, value, .. } => {
            let _ = write!(s, "{:<9} op{id} value {value}", "input");
        }
        Kind::Observe { text, .. } => {
            let _ = write!(s, "{:<9} {}", "observe", super::plain(text));
        }
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            cause,
        } => {
            let _ = write!(s, "{:<9} m{msg}.{copy} {from}->{to} ({cause})", "lost");
        }
        Kind::Duplicated { msg, copy } => {
            let _ = write!(s, "{:<9} m{msg} copy {copy}", "duplicate");
        }
        Kind::Corrupted { msg, copy, flips } => {
            let _ = write!(
                s,
                "{:<9} m{msg}.{copy} {} byte(s) flipped",
                "corrupt",
                flips.len()
            );
        }
        Kind::Partition { id, spec } => {
            let _ = write!(s, "{:<9} #{id} {spec}", "partition");
        }
        Kind::Heal { id } => {
            let _ = match id {
                Some(id) => write!(s, "{:<9} #{id}", "heal"),
                None => write!(s, "{:<9} all", "heal"),
            };
        }
        Kind::CutWire { a, b } => {
            let _ = write!(s, "{:<9} {a}-{b}", "cut");
        }
        Kind::RestoreWire { a, b } => {
            let _ = write!(s, "{:<9} {a}-{b}", "restore");
        }
        Kind::ClockSkew {
            node,
            offset_ns,
            drift_ppm,
        } => {
            let _ = write!(
                s,
                "{:<9} {node} offset {offset_ns}ns drift {drift_ppm}ppm",
                "skew"
            );
        }
        Kind::Pause { node } => {
            let _ = write!(s, "{:<9} {node}: handles nothing until resumed", "pause");
        }
        Kind::Resume { node } => {
            let _ = write!(s, "{:<9} {node}: what waited comes now", "resume");
        }
        Kind::Held { node, msg, copy } => {
            let _ = write!(s, "{:<9} m{msg}.{copy} waits: {node} is paused", "held");
        }
        Kind::CheckFailed { check, message } => {
            let _ = write!(
                s,
                "{:<9} {}: {}",
                "FAILED",
                super::plain(check),
                super::plain(message)
            );
            return ("!!", s);
        }
        Kind::Op { op, .. } => {
            let _ = write!(s, "{:<9} {}", "op", super::plain(&op.to_string()));
        }
        Kind::End { reason, records } => {
            let _ = write!(s, "{:<9} {} after {records} records", "end", reason.name());
        }
        Kind::Byzantine {
            node,
            of,
            behaviour,
        } => {
            let _ = if node == of {
                write!(s, "{:<9} {node}: {}", "byzantine", super::plain(behaviour))
            } else {
                write!(
                    s,
                    "{:<9} {node} is a twin instance of {of}: {}",
                    "byzantine",
                    super::plain(behaviour)
                )
            };
            return ("AD", s);
        }
        Kind::Mutated { node, msg, change } => {
            let _ = write!(
                s,
                "{:<9} m{msg} by byzantine {node}: {}",
                "mutated",
                super::plain(change)
            );
            return ("AD", s);
        }
        Kind::Altered {
            msg,
            copy,
            change,
            payload,
        } => {
            let _ = write!(
                s,
                "{:<9} m{msg}.{copy} in transit: {}",
                "altered",
                super::plain(change)
            );
            if let Some(text) = decode.and_then(|d| d.message(payload)) {
                let _ = write!(s, " => {}", super::plain(&text));
            }
            return ("AD", s);
        }
        Kind::Injected {
            msg,
            from,
            to,
            source,
            change,
            payload,
        } => {
            let what = if change.is_empty() {
                format!("replay of m{source}")
            } else {
                format!("forged from m{source}: {}", super::plain(change))
            };
            let _ = write!(
                s,
                "{:<9} m{msg} claiming {from}->{to} ({} bytes), {what}",
                "injected",
                payload.len()
            );
            if let Some(text) = decode.and_then(|d| d.message(payload)) {
                let _ = write!(s, " {}", super::plain(&text));
            }
            return ("AD", s);
        }
        Kind::Unauthentic { msg, copy } => {
            let _ = write!(
                s,
                "{:<9} m{msg}.{copy}: its MAC does not verify for the sender it claims",
                "bad-mac"
            );
            return ("AD", s);
        }
        Kind::DiskAtCrash { kept, lost, .. } => {
            let keys = |k: &[String]| match k.len() {
                0 => "none".to_string(),
                _ => k
                    .iter()
                    .map(|k| super::plain(k))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            let _ = write!(
                s,
                "{:<9} writes not yet synced at the crash: kept {}; lost {}",
                "disk",
                keys(kept),
                keys(lost)
            );
        }
    }
    ("--", s)
}
