//! Virtual time: instants and durations in nanoseconds.
//!
//! Nothing in dsim reads the wall clock on the simulation path. Time is a
//! `u64` count of nanoseconds since the start of a run, advanced only by the
//! scheduler.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in virtual time: nanoseconds since the run began.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Instant(pub u64);

/// A span of virtual time in nanoseconds.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Duration(pub u64);

impl Instant {
    /// The start of every run.
    pub const ZERO: Instant = Instant(0);

    /// Nanoseconds since the start of the run.
    pub fn as_nanos(self) -> u64 {
        self.0
    }

    /// This instant moved later by `d`, saturating at the end of time.
    pub fn after(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }

    /// How long after `earlier` this instant is (zero if it is not later).
    pub fn since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

/// `deadline = now + timeout`: saturating at the end of time, as
/// [`Instant::after`].
impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.after(d)
    }
}

impl std::ops::AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = self.after(d);
    }
}

/// An instant `d` earlier, saturating at the start of the run.
impl std::ops::Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.0))
    }
}

/// `now - last_heard`: how long after the other this instant is, zero if
/// it is not later (as [`Instant::since`]; a clock set back can make a
/// node's later reading the smaller one).
impl std::ops::Sub for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.since(earlier)
    }
}

/// Saturating: virtual time ends at `u64::MAX` nanoseconds.
impl std::ops::Add for Duration {
    type Output = Duration;
    fn add(self, other: Duration) -> Duration {
        Duration(self.0.saturating_add(other.0))
    }
}

/// Saturating at zero, as `+` saturates at the end of time (a lease less
/// its safety margin: `lease - margin`).
impl std::ops::Sub for Duration {
    type Output = Duration;
    fn sub(self, other: Duration) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
}

/// Saturating, as for `+` (a backoff doubles with `timeout * 2`).
impl std::ops::Mul<u64> for Duration {
    type Output = Duration;
    fn mul(self, k: u64) -> Duration {
        Duration(self.0.saturating_mul(k))
    }
}

/// A share of a duration, in whole nanoseconds (a margin of a fifth:
/// `lease / 5`). Dividing by zero panics, as for integers.
impl std::ops::Div<u64> for Duration {
    type Output = Duration;
    fn div(self, k: u64) -> Duration {
        Duration(self.0 / k)
    }
}

impl std::ops::AddAssign for Duration {
    fn add_assign(&mut self, other: Duration) {
        *self = *self + other;
    }
}

impl std::ops::SubAssign for Duration {
    fn sub_assign(&mut self, other: Duration) {
        *self = *self - other;
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    pub const fn from_nanos(ns: u64) -> Duration {
        Duration(ns)
    }
    pub const fn from_micros(us: u64) -> Duration {
        Duration(us.saturating_mul(1_000))
    }
    pub const fn from_millis(ms: u64) -> Duration {
        Duration(ms.saturating_mul(1_000_000))
    }
    pub const fn from_secs(s: u64) -> Duration {
        Duration(s.saturating_mul(1_000_000_000))
    }
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Whole microseconds (rounded down).
    pub fn as_micros(self) -> u64 {
        self.0 / 1_000
    }
    /// Whole milliseconds (rounded down).
    pub fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }
    /// Seconds as a float, for reports (not for decisions a run must
    /// repeat exactly).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// In the largest unit it holds at least one of, with the decimals it
    /// takes to be exact (`20.853913ms`, `1.5s`, `250us`, `0s`): easier to
    /// read than `Display`'s whole units (`20853913ns`), and it parses
    /// back to the same duration.
    pub fn exact(self) -> String {
        let ns = self.0;
        for (unit, size, digits) in [
            ("s", 1_000_000_000u64, 9),
            ("ms", 1_000_000, 6),
            ("us", 1_000, 3),
        ] {
            if ns >= size {
                let (whole, part) = (ns / size, ns % size);
                if part == 0 {
                    return format!("{whole}{unit}");
                }
                let part = format!("{part:0digits$}");
                return format!("{whole}.{}{unit}", part.trim_end_matches('0'));
            }
        }
        match ns {
            0 => "0s".to_string(),
            _ => format!("{ns}ns"),
        }
    }

    /// Parses a duration as people write it: `150ms`, `2s`, `1.5s`, `250us`,
    /// `10ns`, `3m`, `1h`. A bare `0` is accepted; any other bare number is
    /// rejected because its unit would be a guess.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        if t == "0" {
            return Ok(Duration::ZERO);
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("`{t}` has no unit; write e.g. `150ms`, `2s`, `250us`"))?;
        let (number, unit) = t.split_at(split);
        let unit_ns: u64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{t}`; expected one of ns, us, ms, s, m, h"
                ))
            }
        };
        if number.is_empty() {
            return Err(format!("`{t}` has no number before its unit"));
        }
        // Parse the decimal exactly, without floating point, so "0.1s" is
        // exactly 100_000_000 ns on every platform.
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
            return Err(format!("`{t}` is not a number followed by a unit"));
        }
        let int: u64 = if int_part.is_empty() {
            0
        } else {
            int_part
                .parse()
                .map_err(|_| format!("`{t}` is too large"))?
        };
        let mut ns = int
            .checked_mul(unit_ns)
            .ok_or_else(|| format!("`{t}` is too large"))?;
        let mut scale = unit_ns;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                if digit != b'0' {
                    return Err(format!("`{t}` is finer than a nanosecond"));
                }
                continue;
            }
            ns = ns
                .checked_add(u64::from(digit - b'0') * scale)
                .ok_or_else(|| format!("`{t}` is too large"))?;
        }
        Ok(Duration(ns))
    }
}

impl fmt::Display for Duration {
    /// Prints the largest unit that represents the value exactly, so the
    /// printed text parses back to the same duration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return write!(f, "0s");
        }
        for (unit, size) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
            if ns % size == 0 {
                return write!(f, "{}{unit}", ns / size);
            }
        }
        write!(f, "{ns}ns")
    }
}

impl fmt::Display for Instant {
    /// Seconds with nanosecond precision, e.g. `1.250000000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / 1_000_000_000,
            self.0 % 1_000_000_000
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_as_people_write_them() {
        assert_eq!(Duration::parse("150ms"), Ok(Duration::from_millis(150)));
        assert_eq!(Duration::parse("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(Duration::parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(Duration::parse("0.1s"), Ok(Duration::from_millis(100)));
        assert_eq!(Duration::parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(Duration::parse("0"), Ok(Duration::ZERO));
        assert!(Duration::parse("15").is_err());
        assert!(Duration::parse("ms").is_err());
        assert!(Duration::parse("1.2.3s").is_err());
        assert!(Duration::parse("5 parsecs").is_err());
        assert!(Duration::parse("99999999999999999999s").is_err());
        assert!(Duration::parse("0.5ns").is_err());
    }

    #[test]
    fn durations_add_and_subtract_without_wrapping() {
        let (a, b) = (Duration::from_millis(100), Duration::from_millis(5));
        assert_eq!(a - b, Duration::from_millis(95));
        assert_eq!(b - a, Duration::ZERO);
        assert_eq!(Duration(u64::MAX) + b, Duration(u64::MAX));
    }

    #[test]
    fn instants_and_durations_combine_as_std_time_does_without_wrapping() {
        let ms = Duration::from_millis;
        let at = |n| Instant::ZERO.after(ms(n));
        assert_eq!(at(10) + ms(5), at(15));
        assert_eq!(at(10) - ms(5), at(5));
        assert_eq!(at(5) - ms(10), Instant::ZERO);
        assert_eq!(at(15) - at(10), ms(5));
        assert_eq!(at(10) - at(15), Duration::ZERO);
        assert_eq!(Instant(u64::MAX) + ms(1), Instant(u64::MAX));
        let mut deadline = at(1);
        deadline += ms(2);
        assert_eq!(deadline, at(3));
        let mut d = ms(10);
        d += ms(5);
        d -= ms(20);
        assert_eq!(d, Duration::ZERO);
        assert_eq!(ms(300) / 5, ms(60));
        assert_eq!(Duration(7) / 2, Duration(3));
        assert_eq!(Duration::from_micros(2_500).as_millis(), 2);
        assert_eq!(Duration::from_micros(2_500).as_micros(), 2_500);
        assert_eq!(ms(1_500).as_secs_f64(), 1.5);
    }

    #[test]
    fn display_round_trips() {
        for d in [1u64, 999, 1_000, 1_500_000, 2_000_000_000, 1_234_567_891] {
            let d = Duration(d);
            assert_eq!(Duration::parse(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn exact_reads_in_the_largest_unit_and_round_trips() {
        let cases = [
            (0, "0s"),
            (7, "7ns"),
            (1_500, "1.5us"),
            (250_000, "250us"),
            (20_853_913, "20.853913ms"),
            (20_000_001, "20.000001ms"),
            (1_064_824_026, "1.064824026s"),
            (90_000_000_000, "90s"),
            (u64::MAX, "18446744073.709551615s"),
        ];
        for (ns, text) in cases {
            assert_eq!(Duration(ns).exact(), text);
            assert_eq!(Duration::parse(text), Ok(Duration(ns)), "{text}");
        }
    }
}
