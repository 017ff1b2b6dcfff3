//! The one cache type: a bounded, concurrent map whose entries are forgotten when a change
//! event of their topic arrives (see `depot_store::events`), never by a timer.
//!
//! A reader takes the topic's generation *before* reading the database and stores what it
//! read under that generation; an entry is only returned while its generation is current.
//! So a write that lands between a read and its insert leaves a stale entry that is never
//! served. Lookups take no global lock (the map is sharded) and allocate nothing when the
//! key type allows borrowed lookups (`Equivalent`).

use std::hash::Hash;

use depot_store::{Events, Topic};
pub use quick_cache::Equivalent;

pub struct EventCache<K, V> {
    map: quick_cache::sync::Cache<K, (u64, V)>,
    events: Events,
    topic: Topic,
}

impl<K: Eq + Hash + Clone, V: Clone> std::fmt::Debug for EventCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventCache")
            .field("topic", &self.topic)
            .field("len", &self.map.len())
            .finish()
    }
}

impl<K, V> EventCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A cache of at most `capacity` entries, forgetting everything on `topic` events.
    pub fn new(events: &Events, topic: Topic, capacity: usize) -> Self {
        EventCache {
            map: quick_cache::sync::Cache::new(capacity.max(16)),
            events: events.clone(),
            topic,
        }
    }

    /// The generation to store a value read from now on under.
    pub fn generation(&self) -> u64 {
        self.events.generation(self.topic)
    }

    /// The value for `key`, if it was stored under the current generation.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let current = self.generation();
        match self.map.get(key) {
            Some((g, v)) if g == current => Some(v),
            _ => None,
        }
    }

    /// Remember `value`, read under `generation` (taken before the read).
    pub fn insert(&self, key: K, value: V, generation: u64) {
        if generation == self.generation() {
            self.map.insert(key, (generation, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_end_entries_and_late_inserts_are_ignored() {
        let events = Events::default();
        let c: EventCache<String, u32> = EventCache::new(&events, Topic::Auth, 100);
        let g = c.generation();
        c.insert("a".into(), 1, g);
        assert_eq!(c.get("a"), Some(1));
        // a change of another topic leaves it alone
        events.notify(Topic::Serving);
        assert_eq!(c.get("a"), Some(1));
        // a change of its own forgets it
        events.notify(Topic::Auth);
        assert_eq!(c.get("a"), None);
        // a value read before the change is not stored after it
        c.insert("b".into(), 2, g);
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn bounded() {
        let events = Events::default();
        let c: EventCache<u32, u32> = EventCache::new(&events, Topic::Auth, 100);
        let g = c.generation();
        for i in 0..10_000 {
            c.insert(i, i, g);
        }
        assert!(c.map.len() <= 200, "{}", c.map.len());
    }
}
