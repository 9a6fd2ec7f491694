//! A map that is one sorted vector while small: what the tally keeps per device (a few entries
//! each, for a million devices) in a fraction of a `BTreeMap`'s memory. Lookups are binary
//! searches; an insertion moves the entries after it, which costs little for the tens of
//! entries a device has. Past [`SMALL_MAX`] entries it becomes a `BTreeMap`, so that a device
//! with very many reports costs a logarithm per report, not a move of all its entries.

use std::collections::BTreeMap;

/// Entries kept in one sorted vector at most.
pub const SMALL_MAX: usize = 64;

/// A map from `K` to `V`, in key order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SortedMap<K, V> {
    /// Up to [`SMALL_MAX`] entries, sorted by key.
    Small(Vec<(K, V)>),
    /// More.
    Large(BTreeMap<K, V>),
}

impl<K: Ord, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap::Small(Vec::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        match self {
            SortedMap::Small(entries) => {
                let i = entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                Some(&entries[i].1)
            }
            SortedMap::Large(map) => map.get(key),
        }
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self {
            SortedMap::Small(entries) => {
                let i = entries.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
                Some(&mut entries[i].1)
            }
            SortedMap::Large(map) => map.get_mut(key),
        }
    }

    /// Sets `key` to `value`; the value it replaces, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let entries = match self {
            SortedMap::Large(map) => return map.insert(key, value),
            SortedMap::Small(entries) => entries,
        };
        match entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut entries[i].1, value)),
            Err(i) if entries.len() < SMALL_MAX => {
                entries.insert(i, (key, value));
                None
            }
            Err(_) => {
                let mut map: BTreeMap<K, V> = std::mem::take(entries).into_iter().collect();
                map.insert(key, value);
                *self = SortedMap::Large(map);
                None
            }
        }
    }

    /// Entries whose keys are in `low..=high`.
    pub fn count_between(&self, low: &K, high: &K) -> usize {
        match self {
            SortedMap::Small(entries) => {
                let start = entries.partition_point(|(k, _)| k < low);
                let end = entries.partition_point(|(k, _)| k <= high);
                end.saturating_sub(start)
            }
            SortedMap::Large(map) if low <= high => map.range(low..=high).count(),
            SortedMap::Large(_) => 0,
        }
    }

    /// Entries.
    pub fn len(&self) -> usize {
        match self {
            SortedMap::Small(entries) => entries.len(),
            SortedMap::Large(map) => map.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&K> {
        match self {
            SortedMap::Small(entries) => entries.iter().map(|(k, _)| k).collect(),
            SortedMap::Large(map) => map.keys().collect(),
        }
    }

    /// The entries, in key order.
    pub fn into_entries(self) -> Vec<(K, V)> {
        match self {
            SortedMap::Small(entries) => entries,
            SortedMap::Large(map) => map.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever is inserted, small or large, it answers as a `BTreeMap` does.
        #[test]
        fn answers_as_a_btree_map(
            inserts in proptest::collection::vec((any::<u8>(), any::<u16>()), 0..200),
            range in (any::<u8>(), any::<u8>()),
        ) {
            let mut ours = SortedMap::default();
            let mut theirs = BTreeMap::new();
            for (k, v) in inserts {
                prop_assert_eq!(ours.insert(k, v), theirs.insert(k, v));
                prop_assert_eq!(ours.len(), theirs.len());
            }
            for k in 0..=u8::MAX {
                prop_assert_eq!(ours.get(&k), theirs.get(&k));
            }
            let (low, high) = (range.0.min(range.1), range.0.max(range.1));
            prop_assert_eq!(ours.count_between(&low, &high), theirs.range(low..=high).count());
            prop_assert!(ours.keys().into_iter().eq(theirs.keys()));
            prop_assert_eq!(ours.into_entries(), theirs.into_iter().collect::<Vec<_>>());
        }
    }
}
