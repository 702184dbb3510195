//! Structural mutation of messages: decoded through serde, one field
//! changed, encoded again — so the result is a well-formed message of the
//! protocol's own type that says something else, which is what a byzantine
//! sender or a forging network produces (and what random bit flips almost
//! never do: they mostly make bytes that do not decode).
//!
//! The message goes through serde's data model as a JSON value: fields by
//! name, enums by variant name, sequences as arrays. A mutation picks one
//! place at random and changes it; if the result does not decode as the
//! message type (an integer out of its type's range, a variant whose
//! fields differ), another is tried, up to a bound.

use crate::rng::DetRng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// How many mutations are tried before giving up on a message.
const ATTEMPTS: usize = 16;
/// How many earlier messages an arbitrary mutation may choose from.
const REMEMBERED: usize = 32;

/// One step of a path into a message.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// A mutator's memory: the message kinds (top-level variant names) and the
/// messages it has seen, so it can swap one kind for another and replace a
/// message by an earlier one.
#[derive(Clone, Debug, Default)]
pub struct Mutator {
    kinds: BTreeSet<String>,
    seen: VecDeque<Value>,
}

/// A mutation made: the new message and what changed, for the trace
/// ("Echo.value: 3 → 4").
pub struct Mutation<M> {
    pub msg: M,
    pub change: String,
}

impl Mutator {
    /// Learns a message's kind and keeps it for arbitrary mutations.
    pub fn observe<M: Serialize>(&mut self, msg: &M) {
        if let Ok(v) = serde_json::to_value(msg) {
            if let Some(kind) = kind_of(&v) {
                if !self.kinds.contains(kind) {
                    self.kinds.insert(kind.to_string());
                }
            }
            if self.seen.len() == REMEMBERED {
                self.seen.pop_front();
            }
            self.seen.push_back(v);
        }
    }

    /// A mutation of `msg`, or `None` if no attempt gave a different
    /// message of the same type. With `arbitrary`, half the attempts
    /// replace the whole message by one seen earlier.
    ///
    /// `Err` when `msg` cannot make the trip through JSON data and back
    /// that mutation takes it on (a `u128` beyond 64 bits, a map keyed by
    /// tuples or structs, a NaN float): no mutation of it could ever take,
    /// and giving up quietly would leave an adversary that does nothing.
    pub fn mutate<M: Serialize + DeserializeOwned>(
        &mut self,
        msg: &M,
        rng: &mut DetRng,
        arbitrary: bool,
    ) -> Result<Option<Mutation<M>>, String> {
        let original = serde_json::to_value(msg).map_err(|e| e.to_string())?;
        // Read back from the value in place: no copy of it for the check.
        M::deserialize(&original)
            .map_err(|e| format!("it does not read back from JSON data: {e}"))?;
        let Ok(encoded) = postcard::to_allocvec(msg) else {
            return Ok(None);
        };
        for _ in 0..ATTEMPTS {
            let (value, change) = if arbitrary && rng.below(2) == 0 && !self.seen.is_empty() {
                let i = rng.below(self.seen.len() as u64) as usize;
                (
                    self.seen[i].clone(),
                    "replaced by an earlier message".to_string(),
                )
            } else {
                match self.small(&original, rng) {
                    Some(m) => m,
                    None => continue,
                }
            };
            let Ok(m) = serde_json::from_value::<M>(value) else {
                continue;
            };
            // A change the type cannot express (a float's last digit, say)
            // may give back the same bytes: that is no mutation.
            if postcard::to_allocvec(&m).ok().as_ref() == Some(&encoded) {
                continue;
            }
            return Ok(Some(Mutation { msg: m, change }));
        }
        Ok(None)
    }

    /// One small-scope change to `v`, and its description.
    fn small(&self, v: &Value, rng: &mut DetRng) -> Option<(Value, String)> {
        let mut places = Vec::new();
        collect(v, &mut Vec::new(), &mut places);
        let other_kinds: Vec<&String> = match kind_of(v) {
            Some(k) => self.kinds.iter().filter(|o| *o != k).collect(),
            None => Vec::new(),
        };
        let choices = places.len() + usize::from(!other_kinds.is_empty());
        if choices == 0 {
            return None;
        }
        let pick = rng.below(choices as u64) as usize;
        let mut out = v.clone();
        if pick == places.len() {
            // Swap the message's kind, keeping its fields.
            let kind = kind_of(v)?.to_string();
            let to = other_kinds[rng.below(other_kinds.len() as u64) as usize].clone();
            out = match out {
                Value::String(_) => Value::String(to.clone()),
                Value::Object(mut map) => {
                    let body = map.remove(&kind)?;
                    let mut m = serde_json::Map::new();
                    m.insert(to.clone(), body);
                    Value::Object(m)
                }
                _ => return None,
            };
            return Some((out, format!("kind: {kind} → {to}")));
        }
        let path = &places[pick];
        let name = render(path);
        let target = locate(&mut out, path)?;
        let change = match target {
            Value::Bool(b) => {
                let was = *b;
                *b = !was;
                format!("{name}: {was} → {}", !was)
            }
            Value::Number(n) => {
                let was = n.clone();
                let new = if let Some(u) = n.as_u64() {
                    Value::from(match rng.below(5) {
                        0 => u.wrapping_add(1),
                        1 if u > 0 => u - 1,
                        1 => 1,
                        2 if u != 0 => 0,
                        2 => u64::from(u8::MAX),
                        3 => [u64::from(u8::MAX), u64::from(u16::MAX), u64::from(u32::MAX)]
                            [rng.below(3) as usize],
                        _ => u64::MAX,
                    })
                } else if let Some(i) = n.as_i64() {
                    Value::from(match rng.below(4) {
                        0 => i.wrapping_add(1),
                        1 => i.wrapping_sub(1),
                        2 => 0,
                        _ => i64::MIN,
                    })
                } else {
                    let f = n.as_f64().unwrap_or(0.0);
                    Value::from(if rng.below(2) == 0 { f + 1.0 } else { -f })
                };
                if new == Value::Number(was.clone()) {
                    return None;
                }
                let text = new.to_string();
                *target = new;
                format!("{name}: {was} → {text}")
            }
            Value::String(s) => {
                let was = s.clone();
                if s.is_empty() {
                    s.push('x');
                } else {
                    s.pop();
                }
                format!("{name}: {was:?} → {s:?}")
            }
            Value::Array(items) => {
                let was = items.len();
                if !items.is_empty() && (rng.below(2) == 0) {
                    items.pop();
                } else if !items.is_empty() {
                    let i = rng.below(items.len() as u64) as usize;
                    let copy = items[i].clone();
                    items.push(copy);
                } else {
                    return None;
                }
                format!("{name}: {was} items → {}", items.len())
            }
            _ => return None,
        };
        Some((out, change))
    }
}

/// The kind of a message: the variant name of a top-level enum.
fn kind_of(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(m) if m.len() == 1 => m.keys().next().map(String::as_str),
        _ => None,
    }
}

/// Every place a small mutation can change: leaves and sequences.
fn collect(v: &Value, path: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Null => {}
        Value::Bool(_) | Value::Number(_) => out.push(path.clone()),
        // A top-level string is a unit variant: its kind is changed by
        // the kind swap, not as text.
        Value::String(_) if !path.is_empty() => out.push(path.clone()),
        Value::String(_) => {}
        Value::Array(items) => {
            out.push(path.clone());
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                collect(item, path, out);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Step::Key(k.clone()));
                collect(item, path, out);
                path.pop();
            }
        }
    }
}

fn locate<'v>(v: &'v mut Value, path: &[Step]) -> Option<&'v mut Value> {
    let mut at = v;
    for step in path {
        at = match step {
            Step::Key(k) => at.get_mut(k.as_str())?,
            Step::Index(i) => at.get_mut(*i)?,
        };
    }
    Some(at)
}

fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        s.push_str("(the message)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;
    use serde::Deserialize;

    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    enum Msg {
        Echo { round: u32, value: u8, ok: bool },
        Ready { round: u32, value: u8, ok: bool },
        Batch(Vec<u16>),
        Ping,
    }

    #[test]
    fn every_mutation_is_a_different_well_formed_message() {
        let mut m = Mutator::default();
        let msgs = [
            Msg::Echo {
                round: 3,
                value: 7,
                ok: true,
            },
            Msg::Ready {
                round: 0,
                value: 255,
                ok: false,
            },
            Msg::Batch(vec![1, 2]),
            Msg::Ping,
        ];
        msgs.iter().for_each(|x| m.observe(x));
        let mut rng = DetRng::new(1, Stream::Faults);
        let mut changes = BTreeSet::new();
        for i in 0..2000 {
            let msg = &msgs[i % msgs.len()];
            let Some(out) = m.mutate(msg, &mut rng, false).unwrap() else {
                continue;
            };
            assert_ne!(&out.msg, msg, "{}", out.change);
            changes.insert(out.change.split(':').next().unwrap().to_string());
        }
        // Fields, sequences and the kind all get changed.
        for place in ["Echo.round", "Echo.value", "Echo.ok", "Batch", "kind"] {
            assert!(
                changes.contains(place),
                "{place} never mutated: {changes:?}"
            );
        }
    }

    #[test]
    fn the_same_draws_give_the_same_mutations() {
        let run = || {
            let mut m = Mutator::default();
            let mut rng = DetRng::new(9, Stream::Faults);
            (0..50u32)
                .filter_map(|r| {
                    let msg = Msg::Echo {
                        round: r,
                        value: 1,
                        ok: true,
                    };
                    m.observe(&msg);
                    m.mutate(&msg, &mut rng, true).unwrap().map(|x| x.change)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn a_message_json_data_cannot_carry_is_refused_not_left_alone() {
        #[derive(Debug, Serialize, Deserialize)]
        struct Wide {
            v: u128,
        }
        #[derive(Debug, Serialize, Deserialize)]
        struct Keyed {
            votes: std::collections::BTreeMap<(u32, u32), bool>,
        }
        #[derive(Debug, Serialize, Deserialize)]
        struct Float {
            v: f64,
        }
        let mut m = Mutator::default();
        let mut rng = DetRng::new(1, Stream::Faults);
        let wide = m.mutate(&Wide { v: u128::MAX }, &mut rng, false);
        assert_eq!(wide.err().unwrap(), "number out of range");
        let votes = [((1, 2), true)].into_iter().collect();
        let keyed = m.mutate(&Keyed { votes }, &mut rng, false);
        assert_eq!(keyed.err().unwrap(), "key must be a string");
        let nan = m.mutate(&Float { v: f64::NAN }, &mut rng, false);
        assert!(nan
            .err()
            .unwrap()
            .starts_with("it does not read back from JSON data"));
        // What JSON data does carry is mutated.
        let fine = m.mutate(&Wide { v: 5 }, &mut rng, false).unwrap().unwrap();
        assert_ne!(fine.msg.v, 5);
    }
}
