//! Logical clocks: Lamport times and vector clocks, kept by the kernel.
//!
//! The kernel stamps every node event itself; protocols never touch these.
//!
//! ## How vector clocks are stored in a trace
//!
//! A trace does not hold N integers per event, nor the entries a merge
//! raised: every vector clock follows from the causal structure the trace
//! already records (each node's events in order, and which send each
//! delivery delivers), so `dsim check` and `dsim show` rebuild them from
//! that. What a delivery record carries is the kernel's own clock in four
//! bytes, a [`digest`]: the sum of every entry times a fixed odd weight
//! per node, modulo 2^32. `dsim check` rebuilds the clock and compares the
//! digests, so a kernel (or a forger) that got one clock wrong is caught:
//! a wrong entry always changes the digest, since an odd weight times a
//! difference below 2^32 is never 0 modulo 2^32; wrong entries in several
//! places at once escape with a chance of one in 2^32 per record.
//!
//! The digest is linear, so the kernel keeps it up to date as it merges,
//! in the same vectorized pass, at no cost per raised entry: at 1,000
//! nodes a delivery raises hundreds of entries, and listing them (what
//! trace formats before 5 did, and are still read) made the trace about
//! 1.3 KB a delivery.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A dense vector clock: entry `i` counts the events of node `i` known here.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VectorClock(pub Vec<u32>);

/// How two events relate in the happens-before order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Causality {
    Equal,
    Before,
    After,
    Concurrent,
}

impl VectorClock {
    pub fn new(nodes: usize) -> VectorClock {
        VectorClock(vec![0; nodes])
    }

    /// How `self` relates to `other`: `Before` means self → other.
    pub fn compare(&self, other: &VectorClock) -> Causality {
        let mut less = false;
        let mut greater = false;
        let len = self.0.len().max(other.0.len());
        for i in 0..len {
            let a = self.0.get(i).copied().unwrap_or(0);
            let b = other.0.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Less => less = true,
                Ordering::Greater => greater = true,
                Ordering::Equal => {}
            }
        }
        match (less, greater) {
            (false, false) => Causality::Equal,
            (true, false) => Causality::Before,
            (false, true) => Causality::After,
            (true, true) => Causality::Concurrent,
        }
    }

    /// Raises entries to `other`'s where it is larger, and returns what
    /// that adds to the clock's [`digest`]: the sum of each rise times
    /// its entry's weight, modulo 2^32. The entry `except` (the
    /// receiver's own, which counts its own events) is never above in
    /// `other`, so it is never raised.
    pub fn merge(&mut self, other: &[u32], except: usize, weights: &[u32]) -> u32 {
        debug_assert!(other.get(except).is_none_or(|t| *t <= self.0[except]));
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: `merge_avx2` needs AVX2, and this CPU has it.
            return unsafe { merge_avx2(&mut self.0, other, weights) };
        }
        merge_portable(&mut self.0, other, weights)
    }
}

/// [`VectorClock::merge`] compiled for AVX2, which multiplies eight
/// 32-bit lanes at once (the baseline x86-64 has no 32-bit lane multiply,
/// and emulating it took a quarter of a delivery's time at 1,000 nodes).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn merge_avx2(mine: &mut [u32], other: &[u32], weights: &[u32]) -> u32 {
    merge_portable(mine, other, weights)
}

#[inline(always)]
fn merge_portable(mine: &mut [u32], other: &[u32], weights: &[u32]) -> u32 {
    let n = mine.len().min(other.len()).min(weights.len());
    // Branch-free and in fixed-size chunks, so the compiler unrolls and
    // vectorizes it: the rise is `max - old`, 0 where nothing changes.
    let mut sums = [0u32; 16];
    let mut mine = mine[..n].chunks_exact_mut(16);
    let mut theirs = other[..n].chunks_exact(16);
    let mut ws = weights[..n].chunks_exact(16);
    for ((m, t), w) in (&mut mine).zip(&mut theirs).zip(&mut ws) {
        for j in 0..16 {
            let new = m[j].max(t[j]);
            sums[j] = sums[j].wrapping_add(new.wrapping_sub(m[j]).wrapping_mul(w[j]));
            m[j] = new;
        }
    }
    let mut sum = sums.iter().fold(0u32, |a, &b| a.wrapping_add(b));
    let rest = mine.into_remainder().iter_mut().zip(theirs.remainder());
    for ((m, &t), &w) in rest.zip(ws.remainder()) {
        let new = (*m).max(t);
        sum = sum.wrapping_add(new.wrapping_sub(*m).wrapping_mul(w));
        *m = new;
    }
    sum
}

/// The weight of node `i`'s entry in a clock's [`digest`]: odd, from a
/// fixed mix of `i` (SplitMix64's finalizer), the same in every version
/// of trace format 5.
pub fn weight(i: u32) -> u32 {
    let mut z = u64::from(i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 32) as u32 | 1
}

/// The weights of nodes `0..nodes`.
pub fn weights(nodes: usize) -> Vec<u32> {
    (0..nodes as u32).map(weight).collect()
}

/// A vector clock's digest, as a delivery record carries it: the sum of
/// each entry times its node's [`weight`], modulo 2^32.
pub fn digest(clock: &[u32], weights: &[u32]) -> u32 {
    clock
        .iter()
        .zip(weights)
        .fold(0u32, |a, (&v, &w)| a.wrapping_add(v.wrapping_mul(w)))
}

/// The kernel's per-node logical clocks.
#[derive(Clone, Debug)]
pub struct Clocks {
    lamport: Vec<u64>,
    vectors: Option<Vectors>,
}

#[derive(Clone, Debug)]
struct Vectors {
    clocks: Vec<VectorClock>,
    /// Each clock's digest, kept up to date as it changes.
    digests: Vec<u32>,
    weights: Vec<u32>,
}

impl Clocks {
    /// Clocks for `nodes` nodes; `vector` switches vector clocks on.
    pub fn new(nodes: usize, vector: bool) -> Clocks {
        Clocks {
            lamport: vec![0; nodes],
            vectors: vector.then(|| Vectors {
                clocks: vec![VectorClock::new(nodes); nodes],
                digests: vec![0; nodes],
                weights: weights(nodes),
            }),
        }
    }

    /// A local event (start, send, timer, observation, crash, restart) at
    /// `node`: returns its Lamport time.
    pub fn tick(&mut self, node: usize) -> u64 {
        self.lamport[node] += 1;
        if let Some(v) = &mut self.vectors {
            v.clocks[node].0[node] += 1;
            v.digests[node] = v.digests[node].wrapping_add(v.weights[node]);
        }
        self.lamport[node]
    }

    /// A delivery at `node` of a message sent at Lamport time `sent_lamport`
    /// with vector clock `sent_vector`: returns the delivery's Lamport time
    /// and, with vector clocks on, the [`digest`] of its vector clock.
    pub fn receive(
        &mut self,
        node: usize,
        sent_lamport: u64,
        sent_vector: Option<&[u32]>,
    ) -> (u64, Option<u32>) {
        self.lamport[node] = self.lamport[node].max(sent_lamport) + 1;
        let digest = self.vectors.as_mut().map(|v| {
            // A message no node sent (one the network adversary made up)
            // carries no clock: the delivery is a local event only.
            if let Some(sent) = sent_vector {
                let rise = v.clocks[node].merge(sent, node, &v.weights);
                v.digests[node] = v.digests[node].wrapping_add(rise);
            }
            v.clocks[node].0[node] += 1;
            v.digests[node] = v.digests[node].wrapping_add(v.weights[node]);
            v.digests[node]
        });
        (self.lamport[node], digest)
    }

    /// The vector clock of `node`'s latest event, if vector clocks are on.
    pub fn vector(&self, node: usize) -> Option<&[u32]> {
        self.vectors.as_ref().map(|v| v.clocks[node].0.as_slice())
    }

    pub fn lamport(&self, node: usize) -> u64 {
        self.lamport[node]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_orders_clocks_by_happens_before() {
        let a = VectorClock(vec![1, 0, 0]);
        let b = VectorClock(vec![1, 1, 0]);
        let c = VectorClock(vec![0, 0, 1]);
        assert_eq!(a.compare(&b), Causality::Before);
        assert_eq!(b.compare(&a), Causality::After);
        assert_eq!(a.compare(&c), Causality::Concurrent);
        assert_eq!(a.compare(&a.clone()), Causality::Equal);
    }

    #[test]
    fn delivery_merges_and_keeps_the_digest_of_the_clock() {
        let mut clocks = Clocks::new(3, true);
        clocks.tick(0);
        let sent_l = clocks.tick(0);
        let sent_v = clocks.vector(0).unwrap().to_vec();
        clocks.tick(1);
        let (l, d) = clocks.receive(1, sent_l, Some(&sent_v));
        assert_eq!(l, 3);
        assert_eq!(clocks.vector(1).unwrap(), &[2, 2, 0]);
        assert_eq!(d, Some(digest(&[2, 2, 0], &weights(3))));
        let (_, off) = Clocks::new(3, false).receive(1, 1, None);
        assert_eq!(off, None);
    }

    #[test]
    fn merge_matches_the_entry_by_entry_definition() {
        let mut rng = crate::rng::DetRng::new(3, crate::rng::Stream::Workload);
        for n in [1usize, 3, 15, 16, 17, 33, 100] {
            let w = weights(n);
            for _ in 0..50 {
                let mine: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
                let theirs: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
                let merged: Vec<u32> = (0..n).map(|i| mine[i].max(theirs[i])).collect();
                let before = digest(&mine, &w);
                // The portable code, and what this CPU runs (AVX2 if it
                // has it).
                let mut portable = mine.clone();
                let rise = merge_portable(&mut portable, &theirs, &w);
                assert_eq!(portable, merged);
                assert_eq!(before.wrapping_add(rise), digest(&merged, &w));
                let mut clock = VectorClock(mine);
                assert_eq!(clock.merge(&theirs, usize::MAX, &w), rise);
                assert_eq!(clock.0, merged);
            }
        }
    }

    #[test]
    fn one_wrong_entry_always_changes_the_digest() {
        let w = weights(1000);
        assert!(w.iter().all(|x| x % 2 == 1));
        let clock: Vec<u32> = (0..1000).map(|i| i * 7 % 13).collect();
        let d = digest(&clock, &w);
        for i in 0..1000 {
            for delta in [1u32, 2, 1 << 31, u32::MAX] {
                let mut wrong = clock.clone();
                wrong[i] = wrong[i].wrapping_add(delta);
                assert_ne!(digest(&wrong, &w), d, "entry {i} off by {delta}");
            }
        }
    }
}
