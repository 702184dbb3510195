//! Histories: what clients saw. A client process invokes an operation
//! (`read`, `write`, `cas`, `put`, `get`, `append`, `lock`, `enqueue`...)
//! and later learns its outcome, in Jepsen's terms:
//!
//! - `ok`: it happened, and this is what it returned;
//! - `fail`: it certainly did not happen;
//! - `info`: unknown — it may or may not have taken effect (the client
//!   timed out, or crashed).
//!
//! Nodes record these through their context ([`crate::Context::invoke`],
//! [`crate::Context::complete`]); each becomes an `Op` record in the trace,
//! so the linearizability checker ([`crate::check::linearizable`]) reads
//! them from the trace alone.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How many lists deep a [`Value`] may nest. Every reader of a value
/// walks it on the stack, so a deeper one is refused where it is recorded
/// ([`crate::Context::invoke`] panics, failing the run as check `panic`)
/// and where it is read back (a trace holding one does not decode):
/// a recorded trace can always be read.
pub const MAX_DEPTH: usize = 100;

/// A value an operation is given or returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Value {
    /// No value: a register never written, an empty queue's dequeue.
    #[default]
    Nil,
    Int(i64),
    Str(String),
    /// A sequence: a compare-and-set's `[old new]`, an append log.
    List(Vec<Value>),
}

impl Value {
    /// Whether this value nests more than `limit` lists deep (a scalar is
    /// none deep, `[1]` one). Walks no deeper than `limit`.
    pub fn deeper_than(&self, limit: usize) -> bool {
        match self {
            Value::List(items) => limit == 0 || items.iter().any(|v| v.deeper_than(limit - 1)),
            _ => false,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    /// As derived, but refusing values more than [`MAX_DEPTH`] lists deep
    /// before they reach the stack's end.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(Nested(MAX_DEPTH), d)
    }
}

thread_local! {
    /// Set when a value is refused as too deep: postcard's errors drop the
    /// text a deserializer gives them.
    static REFUSED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Why the last decode on this thread failed, when it was a value too deep
/// (see [`MAX_DEPTH`]); forgets it. Called before a decode, it clears.
pub(crate) fn take_refusal() -> Option<String> {
    REFUSED.with(|r| r.replace(false)).then(too_deep)
}

fn too_deep() -> String {
    format!("a history value nests more than {MAX_DEPTH} lists deep")
}

/// Reads a [`Value`] at most `.0` lists deep.
struct Nested(usize);

/// A [`Value`]'s variant, by index (postcard) or by name (JSON).
#[derive(Deserialize)]
#[serde(variant_identifier)]
enum Variant {
    Nil,
    Int,
    Str,
    List,
}

impl<'de> serde::de::DeserializeSeed<'de> for Nested {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_enum("Value", &["Nil", "Int", "Str", "List"], self)
    }
}

impl<'de> serde::de::Visitor<'de> for Nested {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a history value")
    }

    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use serde::de::VariantAccess;
        let (variant, access) = data.variant::<Variant>()?;
        match variant {
            Variant::Nil => access.unit_variant().map(|()| Value::Nil),
            Variant::Int => access.newtype_variant().map(Value::Int),
            Variant::Str => access.newtype_variant().map(Value::Str),
            Variant::List if self.0 == 0 => {
                REFUSED.with(|r| r.set(true));
                Err(serde::de::Error::custom(too_deep()))
            }
            Variant::List => access
                .newtype_variant_seed(Items(self.0 - 1))
                .map(Value::List),
        }
    }
}

/// Reads a list's items, each at most `.0` lists deep.
struct Items(usize);

impl<'de> serde::de::DeserializeSeed<'de> for Items {
    type Value = Vec<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Vec<Value>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Items {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of history values")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Value>, A::Error> {
        // A length read from the input sizes no more than it can back.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(v) = seq.next_element_seed(Nested(self.0))? {
            items.push(v);
        }
        Ok(items)
    }
}

impl fmt::Display for Value {
    /// EDN-like: `nil`, `3`, `"x"`, `[1 2]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(v as i64)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Nil, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}

/// Where an operation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// The client asked for it.
    Invoke,
    /// It happened, with this result.
    Ok,
    /// It did not happen.
    Fail,
    /// It may or may not have happened.
    Info,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Invoke => "invoke",
            Phase::Ok => "ok",
            Phase::Fail => "fail",
            Phase::Info => "info",
        }
    }
}

/// One history event: a client process invoking an operation or learning
/// its outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Op {
    /// The client process (Jepsen's `:process`); one operation at a time.
    pub process: u64,
    pub phase: Phase,
    /// The function: `read`, `write`, `cas`, `get`, `put`, `append`,
    /// `lock`, `unlock`, `enqueue`, `dequeue`, or a model's own.
    pub f: String,
    /// The key, for key-value operations.
    pub key: Option<Value>,
    /// The argument at invocation (a write's value, a cas's `[old new]`),
    /// the result at completion (a read's value).
    pub value: Value,
}

impl fmt::Display for Op {
    /// `p3 ok put k=1 5`, as a history line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{} {} {}", self.process, self.phase.name(), self.f)?;
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        write!(f, " {}", self.value)
    }
}

/// A request to check the clients' history for linearizability: the
/// model's name (a built-in, see [`crate::check::linearizable::MODEL_NAMES`],
/// or one the protocol declares with [`crate::protocols::Spec::model`]) and the
/// value a register (or every key) holds before any write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Linearizability {
    pub model: String,
    pub initial: Value,
}

/// The checks of the clients' history a property test adds to a
/// protocol's own invariants, as a scenario's `[check]` section does:
/// `linearizable` (and `initial`), and `answered`.
///
/// ```ignore
/// let lin = Linearizability { model: "kv".into(), initial: Value::Nil };
/// let checks = HistoryChecks::from(lin).answered(Duration::from_secs(1));
/// check_protocol_with(&case, protocol, &params, checks)?;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryChecks {
    pub linearizable: Option<Linearizability>,
    /// Every client operation answered within this long of calm
    /// ([`crate::protocols::answered`]).
    pub answered: Option<crate::time::Duration>,
}

impl HistoryChecks {
    /// These checks, and `answered` within `within`.
    pub fn answered(mut self, within: crate::time::Duration) -> HistoryChecks {
        self.answered = Some(within);
        self
    }
}

impl From<Linearizability> for HistoryChecks {
    fn from(l: Linearizability) -> HistoryChecks {
        HistoryChecks {
            linearizable: Some(l),
            answered: None,
        }
    }
}

impl From<Option<Linearizability>> for HistoryChecks {
    fn from(l: Option<Linearizability>) -> HistoryChecks {
        HistoryChecks {
            linearizable: l,
            answered: None,
        }
    }
}

impl From<Option<&Linearizability>> for HistoryChecks {
    fn from(l: Option<&Linearizability>) -> HistoryChecks {
        HistoryChecks::from(l.cloned())
    }
}
