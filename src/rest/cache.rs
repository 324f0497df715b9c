//! Answers of recent heatmap queries, valid until new data arrives.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// Answers kept at most.
const ENTRIES_MAX: usize = 64;
/// Bytes kept at most over all answers.
const BYTES_MAX: usize = 64 * 1024 * 1024;

/// A small FIFO cache keyed by the request, tagged with the store's data version: any ingest
/// bumps the version and so invalidates every answer at once. Answers are shared, not copied:
/// a hit hands out the same allocation the clients already being sent it hold.
#[derive(Debug, Default)]
pub struct ResponseCache {
    entries: BTreeMap<String, (u64, Arc<[u8]>)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResponseCache {
    pub fn new() -> ResponseCache {
        ResponseCache::default()
    }

    pub fn get(&self, key: &str, data_version: u64) -> Option<Arc<[u8]>> {
        match self.entries.get(key) {
            Some((version, body)) if *version == data_version => Some(Arc::clone(body)),
            _ => None,
        }
    }

    pub fn put(&mut self, key: String, data_version: u64, body: Arc<[u8]>) {
        if body.len() > BYTES_MAX {
            return;
        }
        if let Some((_, old)) = self.entries.remove(&key) {
            self.bytes -= old.len();
            self.order.retain(|k| k != &key);
        }
        while self.entries.len() >= ENTRIES_MAX || self.bytes + body.len() > BYTES_MAX {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, old)) = self.entries.remove(&oldest) {
                self.bytes -= old.len();
            }
        }
        self.bytes += body.len();
        self.order.push_back(key.clone());
        self.entries.insert(key, (data_version, body));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_is_served_while_the_data_version_is_unchanged() {
        let mut cache = ResponseCache::new();
        cache.put("q".into(), 1, Arc::from(&b"a"[..]));
        assert_eq!(cache.get("q", 1).as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn new_data_invalidates_the_answer() {
        let mut cache = ResponseCache::new();
        cache.put("q".into(), 1, Arc::from(&b"a"[..]));
        assert_eq!(cache.get("q", 2), None);
    }

    #[test]
    fn oldest_answer_is_evicted_beyond_the_entry_bound() {
        let mut cache = ResponseCache::new();
        for i in 0..=ENTRIES_MAX {
            cache.put(format!("q{i}"), 1, Arc::from(&[0u8][..]));
        }
        assert_eq!(cache.len(), ENTRIES_MAX);
        assert_eq!(cache.get("q0", 1), None);
        assert!(cache.get(&format!("q{ENTRIES_MAX}"), 1).is_some());
    }

    #[test]
    fn a_hit_shares_the_stored_bytes_instead_of_copying_them() {
        let mut cache = ResponseCache::new();
        let body: Arc<[u8]> = Arc::from(vec![1u8; 4096]);
        cache.put("q".into(), 1, Arc::clone(&body));
        let hit = cache.get("q", 1).unwrap();
        assert!(Arc::ptr_eq(&hit, &body));
    }
}
