//! Knobs: values that are either fixed or a range each seed draws from
//! (swarm testing), and their conversion from TOML values.

use super::error::{did_you_mean, Locator, ScenarioError};
use crate::rng::{DetRng, Ppm};
use crate::time::Duration;
use std::fmt;
use std::ops::Range;
use toml::{Spanned, Value};

/// A value, or an inclusive range to draw one from per seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Knob<T> {
    Fixed(T),
    Range(T, T),
}

/// What a knob can hold.
pub trait Drawable: Copy + PartialOrd + fmt::Display {
    fn draw(lo: Self, hi: Self, rng: &mut DetRng) -> Self;
}

impl Drawable for u64 {
    fn draw(lo: u64, hi: u64, rng: &mut DetRng) -> u64 {
        rng.between(lo, hi)
    }
}

impl Drawable for Duration {
    fn draw(lo: Duration, hi: Duration, rng: &mut DetRng) -> Duration {
        Duration(rng.between(lo.0, hi.0))
    }
}

impl Drawable for Ppm {
    fn draw(lo: Ppm, hi: Ppm, rng: &mut DetRng) -> Ppm {
        Ppm(rng.between(u64::from(lo.0), u64::from(hi.0)) as u32)
    }
}

/// A signed duration: how far a clock is set off (`"-5ms"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Offset(pub i64);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            write!(f, "-")?;
        }
        write!(f, "{}", Duration(self.0.unsigned_abs()))
    }
}

impl Offset {
    /// Reads what [`Offset`]'s `Display` writes: a duration, after a `-`
    /// when set back (`"-5ms"`).
    pub fn parse(text: &str) -> Result<Offset, String> {
        let (neg, body) = text.strip_prefix('-').map_or((false, text), |b| (true, b));
        let d = Duration::parse(body)?;
        let v = i64::try_from(d.0).map_err(|_| format!("{text} is too large"))?;
        Ok(Offset(if neg { -v } else { v }))
    }
}

impl Drawable for Offset {
    fn draw(lo: Offset, hi: Offset, rng: &mut DetRng) -> Offset {
        Offset(lo.0.wrapping_add(rng.between(0, hi.0.abs_diff(lo.0)) as i64))
    }
}

impl Drawable for i32 {
    fn draw(lo: i32, hi: i32, rng: &mut DetRng) -> i32 {
        (i64::from(lo) + rng.between(0, u64::from(hi.abs_diff(lo))) as i64) as i32
    }
}

impl<T: Drawable> Knob<T> {
    /// The value for this run: fixed, or drawn and noted in `drawn` as `name`.
    pub fn resolve(&self, name: &str, rng: &mut DetRng, drawn: &mut Vec<(String, String)>) -> T {
        match *self {
            Knob::Fixed(v) => v,
            Knob::Range(lo, hi) => {
                let v = T::draw(lo, hi, rng);
                drawn.push((name.to_string(), v.to_string()));
                v
            }
        }
    }

    /// The smallest value the knob can take.
    pub fn low(&self) -> T {
        match *self {
            Knob::Fixed(v) | Knob::Range(v, _) => v,
        }
    }

    /// The largest value the knob can take.
    pub fn high(&self) -> T {
        match *self {
            Knob::Fixed(v) | Knob::Range(_, v) => v,
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// Reads a fixed value or a two-element range with `one`.
fn knob<T: PartialOrd + fmt::Display + Copy>(
    loc: &Locator<'_>,
    span: Range<usize>,
    value: &Value,
    what: &str,
    one: &dyn Fn(&Value) -> Result<T, String>,
) -> Result<Knob<T>, ScenarioError> {
    match value {
        Value::Array(items) => {
            if items.len() != 2 {
                return Err(loc.at(
                    span,
                    format!(
                        "a range for {what} must have exactly two values [low, high], not {}",
                        items.len()
                    ),
                ));
            }
            let lo = one(&items[0]).map_err(|e| loc.at(span.clone(), e))?;
            let hi = one(&items[1]).map_err(|e| loc.at(span.clone(), e))?;
            if lo > hi {
                return Err(loc.at(
                    span,
                    format!("the range for {what} is backwards: {lo} > {hi}"),
                ));
            }
            Ok(Knob::Range(lo, hi))
        }
        v => one(v).map(Knob::Fixed).map_err(|e| loc.at(span, e)),
    }
}

fn probability_of(v: &Value) -> Result<Ppm, String> {
    let p = match v {
        Value::Float(f) => *f,
        Value::Integer(i) => *i as f64,
        other => {
            return Err(format!(
                "expected a probability in [0, 1], found {}",
                type_name(other)
            ))
        }
    };
    Ppm::from_probability(p).map_err(|_| format!("a probability must be in [0, 1], not {p}"))
}

fn duration_of(v: &Value) -> Result<Duration, String> {
    match v {
        Value::String(s) => Duration::parse(s),
        Value::Integer(0) => Ok(Duration::ZERO),
        Value::Integer(i) => Err(format!(
            "a duration needs a unit: write \"{i}ms\" or \"{i}s\""
        )),
        other => Err(format!(
            "expected a duration such as \"150ms\", found {}",
            type_name(other)
        )),
    }
}

/// A probability knob (`0.01`, or `[0.0, 0.2]`).
pub fn probability(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
) -> Result<Knob<Ppm>, ScenarioError> {
    knob(loc, v.span(), v.get_ref(), what, &probability_of)
}

/// A duration knob (`"150ms"`, or `["5ms", "200ms"]`).
pub fn duration(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
) -> Result<Knob<Duration>, ScenarioError> {
    knob(loc, v.span(), v.get_ref(), what, &duration_of)
}

/// A clock offset knob (`"-5ms"`, or `["-50ms", "50ms"]`).
pub fn offset(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
) -> Result<Knob<Offset>, ScenarioError> {
    let one = |v: &Value| match v {
        Value::String(text) => Offset::parse(text).map_err(|e| format!("{what}: {e}")),
        Value::Integer(0) => Ok(Offset(0)),
        other => Err(format!(
            "{what}: expected a signed duration such as \"-5ms\", found {}",
            type_name(other)
        )),
    };
    knob(loc, v.span(), v.get_ref(), what, &one)
}

/// A clock drift knob in parts per million (`300`, or `[-1000, 1000]`):
/// above -1,000,000, since a clock must move forward.
pub fn drift(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
) -> Result<Knob<i32>, ScenarioError> {
    let one = |v: &Value| match v {
        Value::Integer(i) if *i > -1_000_000 && *i <= i64::from(i32::MAX) => Ok(*i as i32),
        Value::Integer(i) if *i <= -1_000_000 => Err(format!(
            "{what} {i} would stop or reverse the clock (must be above -1000000)"
        )),
        Value::Integer(i) => Err(format!("{what} {i} is too large (at most {})", i32::MAX)),
        other => Err(format!(
            "{what} must be an integer (parts per million), found {}",
            type_name(other)
        )),
    };
    knob(loc, v.span(), v.get_ref(), what, &one)
}

/// An integer knob within `[min, max]`.
pub fn count(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
    min: u64,
    max: u64,
) -> Result<Knob<u64>, ScenarioError> {
    let one = |v: &Value| match v {
        Value::Integer(i) if *i >= 0 && (*i as u64) >= min && (*i as u64) <= max => Ok(*i as u64),
        Value::Integer(i) => Err(format!("{what} must be between {min} and {max}, not {i}")),
        other => Err(format!(
            "{what} must be an integer, found {}",
            type_name(other)
        )),
    };
    knob(loc, v.span(), v.get_ref(), what, &one)
}

/// A latency distribution with knobs for every duration in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LatencyKnob {
    Constant(Knob<Duration>),
    Uniform {
        min: Knob<Duration>,
        max: Knob<Duration>,
    },
    Normal {
        mean: Knob<Duration>,
        stddev: Knob<Duration>,
        min: Knob<Duration>,
        max: Knob<Duration>,
    },
    Exponential {
        mean: Knob<Duration>,
        min: Knob<Duration>,
        max: Knob<Duration>,
    },
    Mix {
        base: Box<LatencyKnob>,
        tail: Box<LatencyKnob>,
        tail_probability: Knob<Ppm>,
    },
}

const LATENCY_KEYS: [&str; 9] = [
    "dist",
    "value",
    "min",
    "max",
    "mean",
    "stddev",
    "base",
    "tail",
    "tail_probability",
];
const DISTS: [&str; 5] = ["constant", "uniform", "normal", "exponential", "mix"];

/// Reads `latency = "5ms"` or `latency = { dist = "uniform", min = .., max = .. }`.
pub fn latency(
    loc: &Locator<'_>,
    v: &Spanned<Value>,
    what: &str,
) -> Result<LatencyKnob, ScenarioError> {
    latency_value(loc, v.span(), v.get_ref(), what)
}

fn latency_value(
    loc: &Locator<'_>,
    span: Range<usize>,
    v: &Value,
    what: &str,
) -> Result<LatencyKnob, ScenarioError> {
    let table = match v {
        Value::String(_) | Value::Array(_) => {
            return knob(loc, span, v, what, &duration_of).map(LatencyKnob::Constant);
        }
        Value::Table(t) => t,
        other => {
            return Err(loc.at(
                span,
                format!(
                    "{what} must be a duration or a table with `dist`, found {}",
                    type_name(other)
                ),
            ))
        }
    };
    for key in table.keys() {
        if !LATENCY_KEYS.contains(&key.as_str()) {
            let hint = did_you_mean(key, LATENCY_KEYS, '`');
            return Err(loc.at(
                span,
                format!(
                    "unknown key `{key}` in {what}{hint} (valid keys: {})",
                    LATENCY_KEYS.join(", ")
                ),
            ));
        }
    }
    let dist = match table.get("dist") {
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(loc.at(
                span,
                format!("{what}.dist must be a string, found {}", type_name(other)),
            ))
        }
        None if table.contains_key("mean") && table.contains_key("stddev") => "normal",
        None => "uniform",
    };
    let allowed: &[&str] = match dist {
        "constant" => &["dist", "value"],
        "uniform" => &["dist", "min", "max"],
        "normal" => &["dist", "mean", "stddev", "min", "max"],
        "exponential" => &["dist", "mean", "min", "max"],
        "mix" => &["dist", "base", "tail", "tail_probability"],
        other => {
            let hint = did_you_mean(other, DISTS, '"');
            return Err(loc.at(
                span,
                format!(
                    "unknown distribution \"{other}\" in {what}{hint} (one of {})",
                    DISTS.join(", ")
                ),
            ));
        }
    };
    if let Some(extra) = table.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(loc.at(
            span,
            format!(
                "`{extra}` does not apply to a {dist} latency (it takes {})",
                allowed.join(", ")
            ),
        ));
    }
    let field = |key: &str| -> Result<Knob<Duration>, ScenarioError> {
        match table.get(key) {
            Some(v) => knob(loc, span.clone(), v, &format!("{what}.{key}"), &duration_of),
            None => Err(loc.at(span.clone(), format!("a {dist} latency needs `{key}`"))),
        }
    };
    let optional = |key: &str, default: Duration| -> Result<Knob<Duration>, ScenarioError> {
        match table.get(key) {
            Some(_) => field(key),
            None => Ok(Knob::Fixed(default)),
        }
    };
    let ordered = |lo: &Knob<Duration>, hi: &Knob<Duration>, a: &str, b: &str| {
        if lo.high() > hi.low() {
            Err(loc.at(
                span.clone(),
                format!("{what}: {a} ({}) can exceed {b} ({})", lo.high(), hi.low()),
            ))
        } else {
            Ok(())
        }
    };
    let far = Duration::from_secs(3600);
    Ok(match dist {
        "constant" => LatencyKnob::Constant(field("value")?),
        "uniform" => {
            let (min, max) = (field("min")?, field("max")?);
            ordered(&min, &max, "min", "max")?;
            LatencyKnob::Uniform { min, max }
        }
        "normal" => {
            let (mean, stddev) = (field("mean")?, field("stddev")?);
            let (min, max) = (optional("min", Duration::ZERO)?, optional("max", far)?);
            ordered(&min, &mean, "min", "mean")?;
            ordered(&mean, &max, "mean", "max")?;
            LatencyKnob::Normal {
                mean,
                stddev,
                min,
                max,
            }
        }
        "exponential" => {
            let mean = field("mean")?;
            let (min, max) = (optional("min", Duration::ZERO)?, optional("max", far)?);
            ordered(&min, &max, "min", "max")?;
            LatencyKnob::Exponential { mean, min, max }
        }
        _ => {
            let sub = |key: &str| match table.get(key) {
                Some(v) => latency_value(loc, span.clone(), v, &format!("{what}.{key}")),
                None => Err(loc.at(span.clone(), format!("a mix latency needs `{key}`"))),
            };
            let p = match table.get("tail_probability") {
                Some(v) => knob(loc, span.clone(), v, "tail_probability", &probability_of)?,
                None => return Err(loc.at(span.clone(), "a mix latency needs `tail_probability`")),
            };
            LatencyKnob::Mix {
                base: Box::new(sub("base")?),
                tail: Box::new(sub("tail")?),
                tail_probability: p,
            }
        }
    })
}

impl LatencyKnob {
    /// The distribution for this run, drawing any ranges.
    pub fn resolve(
        &self,
        name: &str,
        rng: &mut DetRng,
        drawn: &mut Vec<(String, String)>,
    ) -> crate::network::Latency {
        use crate::network::Latency;
        let mut d = |k: &Knob<Duration>, field: &str, rng: &mut DetRng| {
            k.resolve(&format!("{name}.{field}"), rng, drawn)
        };
        match self {
            LatencyKnob::Constant(v) => Latency::Constant {
                latency: d(v, "value", rng),
            },
            LatencyKnob::Uniform { min, max } => Latency::Uniform {
                min: d(min, "min", rng),
                max: d(max, "max", rng),
            },
            LatencyKnob::Normal {
                mean,
                stddev,
                min,
                max,
            } => Latency::Normal {
                mean: d(mean, "mean", rng),
                stddev: d(stddev, "stddev", rng),
                min: d(min, "min", rng),
                max: d(max, "max", rng),
            },
            LatencyKnob::Exponential { mean, min, max } => Latency::Exponential {
                mean: d(mean, "mean", rng),
                min: d(min, "min", rng),
                max: d(max, "max", rng),
            },
            LatencyKnob::Mix {
                base,
                tail,
                tail_probability,
            } => {
                let base = base.resolve(&format!("{name}.base"), rng, drawn);
                let tail = tail.resolve(&format!("{name}.tail"), rng, drawn);
                let p = tail_probability.resolve(&format!("{name}.tail_probability"), rng, drawn);
                Latency::Mix {
                    base: Box::new(base),
                    tail: Box::new(tail),
                    tail_probability: p,
                }
            }
        }
    }
}
