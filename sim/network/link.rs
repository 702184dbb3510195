//! A link's behaviour as a value: latency distribution, loss, duplication,
//! corruption, ordering and mailbox bound.

use crate::rng::{det_ln, DetRng, Ppm};
use crate::time::Duration;
use serde::{Deserialize, Serialize};

/// How long a message spends on a link.
///
/// Every distribution is sampled with integer arithmetic or IEEE basic
/// operations only, so a seed gives the same latencies on every platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Latency {
    /// Always `latency`.
    Constant { latency: Duration },
    /// Uniform in `[min, max]`.
    Uniform { min: Duration, max: Duration },
    /// Normal around `mean` with standard deviation `stddev`, clamped to
    /// `[min, max]`. Sampled as the sum of twelve uniforms (Irwin–Hall),
    /// in integers.
    Normal {
        mean: Duration,
        stddev: Duration,
        min: Duration,
        max: Duration,
    },
    /// `min` plus an exponential with mean `mean`, clamped at `max`.
    Exponential {
        mean: Duration,
        min: Duration,
        max: Duration,
    },
    /// A long tail: with probability `tail_probability` the latency comes
    /// from `tail`, otherwise from `base`.
    Mix {
        base: Box<Latency>,
        tail: Box<Latency>,
        tail_probability: Ppm,
    },
}

impl Default for Latency {
    fn default() -> Latency {
        Latency::Uniform {
            min: Duration::from_millis(1),
            max: Duration::from_millis(10),
        }
    }
}

impl Latency {
    /// Draws one latency.
    pub fn sample(&self, rng: &mut DetRng) -> Duration {
        match self {
            Latency::Constant { latency } => *latency,
            Latency::Uniform { min, max } => Duration(rng.between(min.0, max.0)),
            Latency::Normal {
                mean,
                stddev,
                min,
                max,
            } => {
                // Sum of 12 uniforms on [0, 2^32) has mean 6·2^32 and
                // variance 2^64, so (sum − 6·2^32) / 2^32 is close to N(0, 1).
                let sum: i128 = (0..12).map(|_| i128::from(rng.next_u32())).sum();
                let z = sum - 6 * (1i128 << 32);
                let value = i128::from(mean.0) + ((i128::from(stddev.0) * z) >> 32);
                Duration(value.clamp(i128::from(min.0), i128::from(max.0)) as u64)
            }
            Latency::Exponential { mean, min, max } => {
                // 1 − U is in (0, 1], so the logarithm is finite.
                let u = 1.0 - rng.unit_f64();
                let extra = -(mean.0 as f64) * det_ln(u);
                let extra = if extra.is_finite() && extra < u64::MAX as f64 {
                    extra as u64
                } else {
                    u64::MAX
                };
                Duration(min.0.saturating_add(extra).min(max.0.max(min.0)))
            }
            Latency::Mix {
                base,
                tail,
                tail_probability,
            } => {
                if rng.chance(*tail_probability) {
                    tail.sample(rng)
                } else {
                    base.sample(rng)
                }
            }
        }
    }

    /// Checks the parameters make sense: bounds in order, no zero stddev
    /// tricks, a mean inside its bounds.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Latency::Constant { .. } => Ok(()),
            Latency::Uniform { min, max } | Latency::Exponential { min, max, .. } if min > max => {
                Err(format!("latency min {min} is greater than max {max}"))
            }
            Latency::Normal { mean, min, max, .. } => {
                if min > max {
                    Err(format!("latency min {min} is greater than max {max}"))
                } else if mean < min || mean > max {
                    Err(format!("latency mean {mean} is outside [{min}, {max}]"))
                } else {
                    Ok(())
                }
            }
            Latency::Mix { base, tail, .. } => base.validate().and_then(|_| tail.validate()),
            _ => Ok(()),
        }
    }
}

/// Whether a link keeps the order in which messages were sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ordering {
    /// Messages on the link arrive in the order they were sent.
    Fifo,
    /// Each message's latency is independent; later messages may overtake.
    #[default]
    Reorder,
}

/// What a full mailbox does with one more message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Overflow {
    /// The new message is lost (tail drop).
    #[default]
    DropNewest,
    /// The oldest message in flight on the link is lost to make room.
    DropOldest,
}

/// Everything that decides a message's fate on one directed link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkConfig {
    /// Time from send to delivery.
    pub latency: Latency,
    /// Probability that a message is lost.
    pub loss: Ppm,
    /// Probability that a message is delivered twice (each copy has its own
    /// latency).
    pub duplicate: Ppm,
    /// Probability that a delivered copy has one to three bytes flipped.
    pub corrupt: Ppm,
    /// FIFO or reordering.
    pub ordering: Ordering,
    /// Bound on messages in flight on the link (the receiver's mailbox for
    /// this sender); `None` is unbounded.
    pub capacity: Option<u32>,
    /// What happens when the bound is reached.
    pub overflow: Overflow,
}

impl Default for LinkConfig {
    fn default() -> LinkConfig {
        LinkConfig {
            latency: Latency::default(),
            loss: Ppm::ZERO,
            duplicate: Ppm::ZERO,
            corrupt: Ppm::ZERO,
            ordering: Ordering::Reorder,
            capacity: None,
            overflow: Overflow::DropNewest,
        }
    }
}

impl LinkConfig {
    /// A perfect link with a constant latency: no loss, no duplication, FIFO.
    pub fn reliable(latency: Duration) -> LinkConfig {
        LinkConfig {
            latency: Latency::Constant { latency },
            ordering: Ordering::Fifo,
            ..LinkConfig::default()
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        self.latency.validate()?;
        if self.capacity == Some(0) {
            return Err("link capacity must be at least 1 (omit it for unbounded)".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn samples(l: &Latency, n: usize) -> Vec<u64> {
        let mut rng = DetRng::new(42, Stream::Network);
        (0..n).map(|_| l.sample(&mut rng).0).collect()
    }

    #[test]
    fn uniform_stays_in_bounds_and_covers_them() {
        let l = Latency::Uniform {
            min: Duration(100),
            max: Duration(200),
        };
        let s = samples(&l, 10_000);
        assert!(s.iter().all(|&x| (100..=200).contains(&x)));
        assert!(s.contains(&100) && s.contains(&200));
    }

    #[test]
    fn normal_has_its_mean_and_spread() {
        let l = Latency::Normal {
            mean: Duration(1_000_000),
            stddev: Duration(100_000),
            min: Duration(0),
            max: Duration(10_000_000),
        };
        let s = samples(&l, 20_000);
        let mean = s.iter().sum::<u64>() as f64 / s.len() as f64;
        let var = s.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / s.len() as f64;
        assert!((mean - 1_000_000.0).abs() < 5_000.0, "mean {mean}");
        assert!(
            (var.sqrt() - 100_000.0).abs() < 5_000.0,
            "stddev {}",
            var.sqrt()
        );
    }

    #[test]
    fn exponential_has_its_mean_above_min() {
        let l = Latency::Exponential {
            mean: Duration(1_000),
            min: Duration(500),
            max: Duration(u64::MAX),
        };
        let s = samples(&l, 20_000);
        assert!(s.iter().all(|&x| x >= 500));
        let mean = s.iter().sum::<u64>() as f64 / s.len() as f64 - 500.0;
        assert!((mean - 1_000.0).abs() < 40.0, "mean {mean}");
    }

    #[test]
    fn mix_draws_the_tail_at_its_rate() {
        let l = Latency::Mix {
            base: Box::new(Latency::Constant {
                latency: Duration(1),
            }),
            tail: Box::new(Latency::Constant {
                latency: Duration(1_000),
            }),
            tail_probability: Ppm(50_000),
        };
        let tail = samples(&l, 20_000).iter().filter(|&&x| x == 1_000).count();
        assert!((800..1200).contains(&tail), "tail {tail}");
    }

    #[test]
    fn impossible_bounds_are_rejected() {
        assert!(Latency::Uniform {
            min: Duration(5),
            max: Duration(1)
        }
        .validate()
        .is_err());
        let n = Latency::Normal {
            mean: Duration(50),
            stddev: Duration(1),
            min: Duration(0),
            max: Duration(10),
        };
        assert!(n.validate().is_err());
    }
}
