//! One JSON object per record, for jq and scripts.
//!
//! Every object has `index`, `time_ns` and `type`; node events add `node`
//! and `lamport`; the rest follows the record (`msg`, `copy`, `to`, `from`,
//! `cause`, `payload_hex`, `decoded`...).

use super::text::Decoder;
use crate::trace::{DeliveryClock, Kind, Record};
use serde_json::{json, Map, Value};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON object for record `index`.
pub fn object(index: u64, r: &Record<'_>, decode: Option<Decoder<'_>>) -> Value {
    let mut o = Map::new();
    o.insert("index".into(), json!(index));
    o.insert("time_ns".into(), json!(r.time.0));
    if let Some((node, lamport)) = r.node_event() {
        o.insert("node".into(), json!(node.0));
        o.insert("lamport".into(), json!(lamport));
    }
    let (kind, fields): (&str, Value) = match &r.kind {
        Kind::Start { .. } => ("start", json!({})),
        Kind::Restart { .. } => ("restart", json!({})),
        Kind::Crash { .. } => ("crash", json!({})),
        Kind::Send {
            msg, to, payload, ..
        } => {
            let decoded = decode.and_then(|d| d.message(payload));
            (
                "send",
                json!({ "msg": msg, "to": to.0, "payload_hex": hex(payload), "decoded": decoded }),
            )
        }
        Kind::Deliver {
            msg,
            copy,
            from,
            vc,
            ..
        } => (
            "deliver",
            match vc {
                DeliveryClock::None => json!({ "msg": msg, "copy": copy, "from": from.0 }),
                DeliveryClock::Raised(raised) => {
                    json!({ "msg": msg, "copy": copy, "from": from.0, "vc_raised": raised.as_ref() })
                }
                DeliveryClock::Digest(d) => {
                    json!({ "msg": msg, "copy": copy, "from": from.0, "vc_digest": d })
                }
            },
        ),
        Kind::Timer { timer, tag, .. } => (
            "timer",
            json!({ "timer": timer, "tag_hex": hex(tag), "decoded": decode.and_then(|d| d.timer(tag)) }),
        ),
        Kind::Input { id, value, .. } => ("input", json!({ "id": id, "value": value })),
        Kind::Observe { text, .. } => ("observe", json!({ "text": text })),
        Kind::Lost {
            msg,
            copy,
            from,
            to,
            cause,
        } => (
            "lost",
            json!({ "msg": msg, "copy": copy, "from": from.0, "to": to.0, "cause": cause.name() }),
        ),
        Kind::Duplicated { msg, copy } => ("duplicated", json!({ "msg": msg, "copy": copy })),
        Kind::Corrupted { msg, copy, flips } => (
            "corrupted",
            json!({ "msg": msg, "copy": copy, "flips": flips }),
        ),
        Kind::Partition { id, spec } => (
            "partition",
            json!({ "id": id, "spec": format!("{spec:?}") }),
        ),
        Kind::Heal { id } => ("heal", json!({ "id": id })),
        Kind::CutWire { a, b } => ("cut", json!({ "a": a.0, "b": b.0 })),
        Kind::RestoreWire { a, b } => ("restore", json!({ "a": a.0, "b": b.0 })),
        Kind::ClockSkew {
            node,
            offset_ns,
            drift_ppm,
        } => (
            "skew",
            json!({ "node": node.0, "offset_ns": offset_ns, "drift_ppm": drift_ppm }),
        ),
        Kind::Pause { node } => ("pause", json!({ "node": node.0 })),
        Kind::Resume { node } => ("resume", json!({ "node": node.0 })),
        Kind::Held { node, msg, copy } => {
            ("held", json!({ "node": node.0, "msg": msg, "copy": copy }))
        }
        Kind::CheckFailed { check, message } => (
            "check_failed",
            json!({ "check": check, "message": message }),
        ),
        Kind::End { reason, records } => (
            "end",
            json!({ "reason": reason.name(), "records": records }),
        ),
        Kind::Op { op, .. } => (
            "op",
            json!({
                "process": op.process,
                "phase": op.phase.name(),
                "f": op.f,
                "key": op.key.as_ref().map(|k| k.to_string()),
                "value": op.value.to_string(),
            }),
        ),
        Kind::Byzantine {
            node,
            of,
            behaviour,
        } => (
            "byzantine",
            json!({ "process": node.0, "of": of.0, "behaviour": behaviour }),
        ),
        Kind::Mutated { node, msg, change } => (
            "mutated",
            json!({ "by": node.0, "msg": msg, "change": change }),
        ),
        Kind::Altered {
            msg,
            copy,
            change,
            payload,
        } => (
            "altered",
            json!({ "msg": msg, "copy": copy, "change": change, "payload_hex": hex(payload), "decoded": decode.and_then(|d| d.message(payload)) }),
        ),
        Kind::Injected {
            msg,
            from,
            to,
            source,
            change,
            payload,
        } => (
            "injected",
            json!({ "msg": msg, "from": from.0, "to": to.0, "source": source, "change": change, "payload_hex": hex(payload), "decoded": decode.and_then(|d| d.message(payload)) }),
        ),
        Kind::Unauthentic { msg, copy } => ("unauthentic", json!({ "msg": msg, "copy": copy })),
        Kind::DiskAtCrash { node, kept, lost } => (
            "disk",
            json!({ "node": node.0, "kept": kept, "lost": lost }),
        ),
    };
    o.insert("type".into(), json!(kind));
    if let Value::Object(f) = fields {
        o.extend(f);
    }
    Value::Object(o)
}
