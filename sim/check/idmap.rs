//! A map keyed by message id, made for how ids come and go in a trace.
//!
//! A run numbers its sends 0, 1, 2, … and most messages are resolved soon
//! after they are sent, so the live ids form a narrow band that moves up.
//! [`IdMap`] keeps that band in a ring buffer indexed by `id - base` —
//! insertion at the top, lookup and removal in constant time, no
//! allocation per message — and anything that does not fit the band (a
//! message in flight while more than [`WINDOW`] later ones were sent, or
//! ids out of order in a damaged trace) in a `BTreeMap` beside it.

use std::collections::{BTreeMap, VecDeque};

/// The most slots the band holds before its oldest entries move aside.
const WINDOW: usize = 1 << 16;

/// Ids ahead of the band's top that still extend it (with empty slots).
const MAX_GAP: u64 = 64;

pub(crate) struct IdMap<V> {
    /// The id of `band[0]`.
    base: u64,
    band: VecDeque<Option<V>>,
    /// Entries outside the band.
    aside: BTreeMap<u64, V>,
}

impl<V> Default for IdMap<V> {
    fn default() -> IdMap<V> {
        IdMap {
            base: 0,
            band: VecDeque::new(),
            aside: BTreeMap::new(),
        }
    }
}

impl<V> IdMap<V> {
    /// Where `id` sits in the band, if it does.
    fn slot(&self, id: u64) -> Option<usize> {
        let offset = id.checked_sub(self.base)?;
        (offset < self.band.len() as u64).then_some(offset as usize)
    }

    // An id whose band slot is empty may still be aside: the band can be
    // rebuilt over ids that were moved aside earlier.

    pub fn get(&self, id: u64) -> Option<&V> {
        match self.slot(id) {
            Some(i) if self.band[i].is_some() => self.band[i].as_ref(),
            _ => self.aside.get(&id),
        }
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        match self.slot(id) {
            Some(i) if self.band[i].is_some() => self.band[i].as_mut(),
            _ => self.aside.get_mut(&id),
        }
    }

    /// Inserts or replaces the value of `id`.
    pub fn insert(&mut self, id: u64, value: V) {
        if let Some(slot) = self.get_mut(id) {
            *slot = value;
            return;
        }
        if let Some(i) = self.slot(id) {
            self.band[i] = Some(value);
            return;
        }
        if self.band.is_empty() {
            self.base = id;
        }
        let top = self.base.saturating_add(self.band.len() as u64);
        if id < top || id - top > MAX_GAP {
            self.aside.insert(id, value);
            return;
        }
        for _ in top..id {
            self.push_top(None);
        }
        self.push_top(Some(value));
    }

    fn push_top(&mut self, slot: Option<V>) {
        if self.band.len() == WINDOW {
            if let Some(Some(oldest)) = self.band.pop_front() {
                self.aside.insert(self.base, oldest);
            }
            self.base += 1;
        }
        self.band.push_back(slot);
    }

    pub fn remove(&mut self, id: u64) -> Option<V> {
        match self.slot(id) {
            Some(i) if self.band[i].is_some() => {
                let value = self.band[i].take();
                // Keep the band starting at a live entry.
                while let Some(None) = self.band.front() {
                    self.band.pop_front();
                    self.base += 1;
                }
                value
            }
            _ => self.aside.remove(&id),
        }
    }

    /// The smallest live id.
    pub fn first_id(&self) -> Option<u64> {
        let in_band = self.band.iter().position(Option::is_some);
        let in_band = in_band.map(|i| self.base + i as u64);
        let aside = self.aside.keys().next().copied();
        match (in_band, aside) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Every value, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.band.iter().flatten().chain(self.aside.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u64),
        Remove(u64),
    }

    fn ops() -> impl Strategy<Value = Vec<Op>> {
        // Mostly ids near a rising counter, as in a trace; sometimes far
        // ahead or behind, as in a damaged one.
        let id = prop_oneof![
            8 => 0u64..40,
            1 => 0u64..1_000,
            1 => any::<u64>(),
        ];
        proptest::collection::vec(
            (any::<bool>(), id)
                .prop_map(|(ins, id)| if ins { Op::Insert(id) } else { Op::Remove(id) }),
            0..300,
        )
    }

    proptest! {
        #[test]
        fn behaves_as_an_ordered_map(ops in ops()) {
            let mut ours = IdMap::default();
            let mut model = BTreeMap::new();
            let mut counter = 0u64;
            for op in ops {
                match op {
                    Op::Insert(d) => {
                        let id = counter.wrapping_add(d);
                        counter += 1;
                        ours.insert(id, id ^ 7);
                        model.insert(id, id ^ 7);
                    }
                    Op::Remove(d) => {
                        let id = counter.saturating_sub(d % 50);
                        prop_assert_eq!(ours.remove(id), model.remove(&id));
                    }
                }
                prop_assert_eq!(ours.values().count(), model.len());
                prop_assert_eq!(ours.first_id(), model.keys().next().copied());
            }
            for (id, v) in &model {
                prop_assert_eq!(ours.get(*id), Some(v));
            }
            let mut values: Vec<u64> = ours.values().copied().collect();
            values.sort_unstable();
            let mut expected: Vec<u64> = model.values().copied().collect();
            expected.sort_unstable();
            prop_assert_eq!(values, expected);
        }
    }

    #[test]
    fn a_long_lived_entry_moves_aside_and_stays_reachable() {
        let mut map = IdMap::default();
        map.insert(0, "old");
        for id in 1..(WINDOW as u64 + 10) {
            map.insert(id, "new");
            map.remove(id);
        }
        assert_eq!(map.get(0), Some(&"old"));
        assert!(map.band.len() <= WINDOW);
        assert_eq!(map.values().count(), 1);
        assert_eq!(map.remove(0), Some("old"));
        assert_eq!(map.values().count(), 0);
    }
}
