//! Seeded randomness: one root seed, independent ChaCha streams per purpose,
//! and probabilities as integer ratios.
//!
//! Every random choice in a run comes from a [`DetRng`] derived from the
//! root seed and a [`Stream`]. Streams are ChaCha8 with the same key and a
//! different 64-bit stream number, so they are independent: a node that draws
//! more numbers does not shift the network's choices, nor another node's.
//! The network draws a message's loss, duplication and corruption as one
//! number ([`Fates`]).

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng, TryRng};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::fmt;

/// What a random stream is for. Each purpose has its own stream number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Every message's fate: latency, loss, duplication, corruption.
    Network,
    /// Fault placement drawn at run time.
    Faults,
    /// Client operations injected into nodes.
    Workload,
    /// Swarm testing: drawing a configuration from ranges.
    Swarm,
    /// A scheduling strategy's own choices (PCT's priorities).
    Schedule,
    /// The adversary's choices: byzantine mutations, twins' reach drawn at
    /// random, what the network forges, replays and alters.
    Adversary,
    /// The node's own randomness, through its context.
    Node(u32),
    /// Which of the node's unsynced disk writes a crash keeps (see
    /// [`crate::config::DiskConfig`]).
    Disk(u32),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Faults => 2,
            Stream::Workload => 3,
            Stream::Swarm => 4,
            Stream::Schedule => 5,
            Stream::Adversary => 6,
            // Node streams live above 2^32 so they never meet a purpose.
            Stream::Node(i) => (1u64 << 32) | u64::from(i),
            Stream::Disk(i) => (2u64 << 32) | u64::from(i),
        }
    }
}

/// A deterministic random number generator for one purpose of one run.
#[derive(Clone, Debug)]
pub struct DetRng {
    inner: ChaCha8Rng,
}

impl DetRng {
    /// The stream `purpose` of the run whose root seed is `seed`.
    pub fn new(seed: u64, purpose: Stream) -> DetRng {
        let mut inner = ChaCha8Rng::seed_from_u64(seed);
        inner.set_stream(purpose.number());
        DetRng { inner }
    }

    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        self.inner.fill_bytes(out)
    }

    /// A uniform integer in `0..n` (0 when `n` is 0). Uses the widening
    /// multiply (Lemire) without rejection: the bias is below 2^-32 for any
    /// `n < 2^32`, and the result depends only on integer arithmetic.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform integer in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.below(span),
            None => self.next_u64(),
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: Ppm) -> bool {
        // Always draw, so that a probability of zero does not change how
        // many numbers the stream yields: switching a fault off must not
        // shift every later choice.
        let draw = self.below(Ppm::ONE.0 as u64) as u32;
        draw < p.0
    }

    /// How far the stream has been read (in 32-bit words): two streams of
    /// one seed and purpose at the same position yield the same numbers.
    pub fn position(&self) -> u128 {
        self.inner.get_word_pos()
    }

    /// A uniform float in [0, 1) with 53 random bits; exact on every platform.
    pub fn unit_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

impl TryRng for DetRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.inner.next_u32())
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.inner.next_u64())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        Ok(())
    }
}

/// A message's fate from one 64-bit draw: three independent 21-bit fields,
/// one each for loss, duplication and corruption. The draw is taken
/// whatever the probabilities, so a probability of zero costs no draw of
/// its own, and changing one shifts no later draw by itself (a duplicate's
/// latency and a corruption's flipped bytes are draws of their own, taken
/// when one strikes); each field decides its chance to within 2^-21 (half
/// a part per million), and probabilities 0 and 1 exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fates(u64);

/// Which field of [`Fates`] decides what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FateField {
    Loss = 0,
    Duplicate = 1,
    Corrupt = 2,
}

impl Fates {
    const BITS: u32 = 21;

    pub fn draw(rng: &mut DetRng) -> Fates {
        Fates(rng.next_u64())
    }

    /// True with probability `p`, decided by `field` alone.
    pub fn holds(self, field: FateField, p: Ppm) -> bool {
        let bits = (self.0 >> (Self::BITS * field as u32)) & ((1 << Self::BITS) - 1);
        // The smallest threshold t with t / 2^21 >= p: 0 for 0, 2^21 for 1.
        let threshold = (u64::from(p.0.min(Ppm::ONE.0)) << Self::BITS).div_ceil(1_000_000);
        bits < threshold
    }
}

/// A probability in parts per million: `Ppm(10_000)` is 1%.
///
/// Scenario files say `0.01`; the conversion happens once, at parse time, so
/// the kernel never compares floats.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Ppm(pub u32);

impl Ppm {
    pub const ZERO: Ppm = Ppm(0);
    pub const ONE: Ppm = Ppm(1_000_000);

    /// From a probability in [0, 1], rounded to the nearest part per million.
    pub fn from_probability(p: f64) -> Result<Ppm, String> {
        if !(0.0..=1.0).contains(&p) {
            return Err(format!("probability {p} is outside [0, 1]"));
        }
        Ok(Ppm((p * 1_000_000.0).round() as u32))
    }

    pub fn as_probability(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }
}

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_probability())
    }
}

/// Natural logarithm from IEEE-754 basic operations only (+, -, *, /), which
/// are correctly rounded everywhere; the platform's `ln` is not guaranteed to
/// be, and a seed must mean the same run on every machine.
pub fn det_ln(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NEG_INFINITY;
    }
    // x = m * 2^e with m in [1, 2).
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if exponent == -1023 {
        // Subnormal: normalise by hand.
        let scaled = x * (1u64 << 54) as f64;
        let b = scaled.to_bits();
        exponent = ((b >> 52) & 0x7ff) as i64 - 1023 - 54;
        m = f64::from_bits((b & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    }
    // Centre m on 1 to speed up the series: m in [sqrt(1/2), sqrt(2)).
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        exponent += 1;
    }
    // ln(m) = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.172.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    2.0 * sum + exponent as f64 * std::f64::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_independent_of_each_other() {
        let mut a = DetRng::new(7, Stream::Network);
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        // Drawing heavily from a node's stream leaves the network's alone.
        let mut node = DetRng::new(7, Stream::Node(0));
        for _ in 0..1000 {
            node.next_u64();
        }
        let mut b = DetRng::new(7, Stream::Network);
        let again: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(first, again);
        let mut other = DetRng::new(7, Stream::Node(1));
        assert_ne!(first[0], other.next_u64());
    }

    #[test]
    fn det_ln_matches_the_platform_closely() {
        for x in [
            1e-300, 1e-10, 0.001, 0.5, 0.9999, 1.0, 1.5, 2.0, 10.0, 1e10, 1e300,
        ] {
            let ours = det_ln(x);
            let theirs = f64::ln(x);
            assert!(
                (ours - theirs).abs() <= 1e-12 * theirs.abs().max(1.0),
                "{x}: {ours} vs {theirs}"
            );
        }
        assert_eq!(det_ln(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn probabilities_convert_once_to_ppm() {
        assert_eq!(Ppm::from_probability(0.01), Ok(Ppm(10_000)));
        assert_eq!(Ppm::from_probability(1.0), Ok(Ppm::ONE));
        assert!(Ppm::from_probability(1.5).is_err());
        assert!(Ppm::from_probability(-0.1).is_err());
        assert!(Ppm::from_probability(f64::NAN).is_err());
    }

    #[test]
    fn chance_of_zero_and_one_are_exact() {
        let mut r = DetRng::new(1, Stream::Faults);
        assert!((0..10_000).all(|_| !r.chance(Ppm::ZERO)));
        assert!((0..10_000).all(|_| r.chance(Ppm::ONE)));
    }

    #[test]
    fn each_fate_field_decides_its_own_chance() {
        use FateField::*;
        let mut r = DetRng::new(3, Stream::Network);
        let draws: Vec<Fates> = (0..200_000).map(|_| Fates::draw(&mut r)).collect();
        for field in [Loss, Duplicate, Corrupt] {
            assert!(draws.iter().all(|f| !f.holds(field, Ppm::ZERO)));
            assert!(draws.iter().all(|f| f.holds(field, Ppm::ONE)));
            let hits = draws
                .iter()
                .filter(|f| f.holds(field, Ppm(100_000)))
                .count();
            // 10% of 200,000 is 20,000; six standard deviations is 805.
            assert!((19_195..=20_805).contains(&hits), "{field:?}: {hits}");
        }
        // The fields are independent: a loss says nothing about a duplication.
        let both = draws
            .iter()
            .filter(|f| f.holds(Loss, Ppm(500_000)) && f.holds(Duplicate, Ppm(500_000)))
            .count();
        assert!((48_658..=51_342).contains(&both), "{both}");
        // Each field is decided by its own bits: all ones in one field, zeros elsewhere.
        let loss_only = Fates((1 << 21) - 1);
        assert!(!loss_only.holds(Loss, Ppm(999_999)) && loss_only.holds(Loss, Ppm::ONE));
        assert!(loss_only.holds(Duplicate, Ppm(1)) && loss_only.holds(Corrupt, Ppm(1)));
        // The smallest probability still happens, on the smallest fields only.
        assert!(Fates(0).holds(Corrupt, Ppm(1)) && !Fates(3 << 42).holds(Corrupt, Ppm(1)));
    }
}
