//! Answers of recent heatmap queries, valid until new data arrives.

use std::collections::{BTreeMap, VecDeque};

use crate::core::QueryResponse;

/// Answers kept at most.
const ENTRIES_MAX: usize = 64;
/// Bytes kept at most over all answers.
const BYTES_MAX: usize = 64 * 1024 * 1024;

/// A small FIFO cache keyed by the request, tagged with the store's data version: any ingest
/// bumps the version and so invalidates every answer at once. Answers are shared, not copied:
/// a hit hands out the same allocations (plain and gzip) the clients already being sent it hold.
#[derive(Debug, Default)]
pub struct ResponseCache {
    entries: BTreeMap<String, (u64, QueryResponse)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResponseCache {
    pub fn new() -> ResponseCache {
        ResponseCache::default()
    }

    pub fn get(&self, key: &str, data_version: u64) -> Option<QueryResponse> {
        match self.entries.get(key) {
            Some((version, answer)) if *version == data_version => Some(answer.clone()),
            _ => None,
        }
    }

    pub fn put(&mut self, key: String, data_version: u64, answer: QueryResponse) {
        let bytes = held_bytes(&answer);
        if bytes > BYTES_MAX {
            return;
        }
        if let Some((_, old)) = self.entries.remove(&key) {
            self.bytes -= held_bytes(&old);
            self.order.retain(|k| k != &key);
        }
        while self.entries.len() >= ENTRIES_MAX || self.bytes + bytes > BYTES_MAX {
            let Some(oldest) = self.order.pop_front() else { break };
            if let Some((_, old)) = self.entries.remove(&oldest) {
                self.bytes -= held_bytes(&old);
            }
        }
        self.bytes += bytes;
        self.order.push_back(key.clone());
        self.entries.insert(key, (data_version, answer));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Bytes an answer holds: its body and its gzip representation.
fn held_bytes(answer: &QueryResponse) -> usize {
    answer.body.len() + answer.encoded.as_ref().and_then(|e| e.gzip.as_ref()).map_or(0, |g| g.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn answer(body: &[u8]) -> QueryResponse {
        QueryResponse::encoded_json(Arc::from(body))
    }

    #[test]
    fn answer_is_served_while_the_data_version_is_unchanged() {
        let mut cache = ResponseCache::new();
        cache.put("q".into(), 1, answer(b"a"));
        assert_eq!(cache.get("q", 1).map(|a| a.body.to_vec()), Some(b"a".to_vec()));
    }

    #[test]
    fn new_data_invalidates_the_answer() {
        let mut cache = ResponseCache::new();
        cache.put("q".into(), 1, answer(b"a"));
        assert_eq!(cache.get("q", 2), None);
    }

    #[test]
    fn oldest_answer_is_evicted_beyond_the_entry_bound() {
        let mut cache = ResponseCache::new();
        for i in 0..=ENTRIES_MAX {
            cache.put(format!("q{i}"), 1, answer(&[0u8]));
        }
        assert_eq!(cache.len(), ENTRIES_MAX);
        assert_eq!(cache.get("q0", 1), None);
        assert!(cache.get(&format!("q{ENTRIES_MAX}"), 1).is_some());
    }

    #[test]
    fn a_hit_shares_the_stored_bytes_instead_of_copying_them() {
        let mut cache = ResponseCache::new();
        let stored = answer(&b"[1,2,3]".repeat(1000));
        cache.put("q".into(), 1, stored.clone());
        let hit = cache.get("q", 1).unwrap();
        assert!(Arc::ptr_eq(&hit.body, &stored.body));
        let gzip = |a: &QueryResponse| a.encoded.as_ref().and_then(|e| e.gzip.clone()).unwrap();
        assert!(Arc::ptr_eq(&gzip(&hit), &gzip(&stored)), "the gzip bytes are shared too");
    }
}
