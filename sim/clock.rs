//! Logical clocks: Lamport times and vector clocks, kept by the kernel.
//!
//! The kernel stamps every node event itself; protocols never touch these.
//!
//! ## How vector clocks are stored in a trace
//!
//! A trace does not hold N integers per event. It uses a *differential*
//! encoding (after Singhal and Kshemkalyani): an event's own entry always
//! grows by exactly one, so it is implicit, and only a delivery can raise
//! other entries; a delivery record carries the list of `(node, value)`
//! pairs that the merge raised, and nothing else. Replaying the records of
//! one node in order rebuilds its clock at every event. A node that hears
//! from few others writes few pairs, however many nodes there are.

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

    /// Raises entries to `other`'s where it is larger, pushing each raised
    /// `(index, new value)` to `delta`, skipping entry `except`.
    pub fn merge_into_delta(&mut self, other: &[u32], except: usize, delta: &mut Vec<(u32, u32)>) {
        // The receiver's own entry is never below the sender's view of it
        // (it counts the receiver's own events), so it is never raised and
        // `except` needs no test in the loop; it is checked once after.
        debug_assert!(other.get(except).is_none_or(|t| *t <= self.0[except]));
        // Sixteen entries at a time: a branch-free max and a bit mask of the
        // raised entries (fixed-size, so the compiler unrolls and
        // vectorizes it), then one push per raised entry, which are few.
        let n = self.0.len().min(other.len());
        let mut mine = self.0[..n].chunks_exact_mut(16);
        let mut theirs = other[..n].chunks_exact(16);
        for (c, (m, t)) in (&mut mine).zip(&mut theirs).enumerate() {
            let (Ok(m), Ok(t)) = (<&mut [u32; 16]>::try_from(m), <&[u32; 16]>::try_from(t)) else {
                unreachable!("chunks_exact yields chunks of 16")
            };
            let mut raised = 0u32;
            for j in 0..16 {
                raised |= u32::from(t[j] > m[j]) << j;
                m[j] = m[j].max(t[j]);
            }
            if raised == 0 {
                continue;
            }
            // Compress the raised entries into place without a branch per
            // entry: every candidate is written, and the cursor moves past
            // the raised ones only.
            let mut stage = [(0u32, 0u32); 16];
            let mut k = 0;
            for (j, &tj) in t.iter().enumerate() {
                stage[k] = ((c * 16 + j) as u32, tj);
                k += ((raised >> j) & 1) as usize;
            }
            delta.extend_from_slice(&stage[..k]);
        }
        let base = n - n % 16;
        let rest = mine.into_remainder().iter_mut().zip(theirs.remainder());
        for (i, (m, &t)) in rest.enumerate() {
            if t > *m {
                *m = t;
                delta.push(((base + i) as u32, t));
            }
        }
    }
}

/// The kernel's per-node logical clocks.
#[derive(Clone, Debug)]
pub struct Clocks {
    lamport: Vec<u64>,
    vectors: Option<Vec<VectorClock>>,
}

impl Clocks {
    /// Clocks for `nodes` nodes; `vector` switches vector clocks on.
    pub fn new(nodes: usize, vector: bool) -> Clocks {
        Clocks {
            lamport: vec![0; nodes],
            vectors: vector.then(|| vec![VectorClock::new(nodes); nodes]),
        }
    }

    /// A local event (start, send, timer, observation, crash, restart) at
    /// `node`: returns its Lamport time.
    pub fn tick(&mut self, node: usize) -> u64 {
        self.lamport[node] += 1;
        if let Some(v) = &mut self.vectors {
            v[node].0[node] += 1;
        }
        self.lamport[node]
    }

    /// A delivery at `node` of a message sent at Lamport time `sent_lamport`
    /// with vector clock `sent_vector`: returns the delivery's Lamport time
    /// and fills `delta` with the entries the merge raised.
    pub fn receive(
        &mut self,
        node: usize,
        sent_lamport: u64,
        sent_vector: Option<&[u32]>,
        delta: &mut Vec<(u32, u32)>,
    ) -> u64 {
        delta.clear();
        self.lamport[node] = self.lamport[node].max(sent_lamport) + 1;
        if let Some(v) = &mut self.vectors {
            // A message no node sent (one the network adversary made up)
            // carries no clock: the delivery is a local event only.
            if let Some(sent) = sent_vector {
                v[node].merge_into_delta(sent, node, delta);
            }
            v[node].0[node] += 1;
        }
        self.lamport[node]
    }

    /// The vector clock of `node`'s latest event, if vector clocks are on.
    pub fn vector(&self, node: usize) -> Option<&[u32]> {
        self.vectors.as_ref().map(|v| v[node].0.as_slice())
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
    fn delivery_merges_and_records_only_raised_entries() {
        let mut clocks = Clocks::new(3, true);
        clocks.tick(0);
        let sent_l = clocks.tick(0);
        let sent_v = clocks.vector(0).unwrap().to_vec();
        clocks.tick(1);
        let mut delta = Vec::new();
        let l = clocks.receive(1, sent_l, Some(&sent_v), &mut delta);
        assert_eq!(l, 3);
        assert_eq!(delta, vec![(0, 2)]);
        assert_eq!(clocks.vector(1).unwrap(), &[2, 2, 0]);
    }

    #[test]
    fn merge_matches_the_entry_by_entry_definition() {
        let mut rng = crate::rng::DetRng::new(3, crate::rng::Stream::Workload);
        for n in [1usize, 3, 15, 16, 17, 33, 100] {
            for _ in 0..50 {
                let mine: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
                let theirs: Vec<u32> = (0..n).map(|_| rng.below(5) as u32).collect();
                let mut expected = Vec::new();
                let mut merged = mine.clone();
                for i in 0..n {
                    if theirs[i] > mine[i] {
                        merged[i] = theirs[i];
                        expected.push((i as u32, theirs[i]));
                    }
                }
                let mut clock = VectorClock(mine);
                let mut delta = Vec::new();
                clock.merge_into_delta(&theirs, usize::MAX, &mut delta);
                assert_eq!(clock.0, merged);
                assert_eq!(delta, expected);
            }
        }
    }
}
