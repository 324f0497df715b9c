//! Answers of recent heatmap queries, valid until new data arrives.

use std::collections::{BTreeMap, VecDeque};

/// Answers kept at most.
const ENTRIES_MAX: usize = 64;
/// Bytes kept at most over all answers.
const BYTES_MAX: usize = 64 * 1024 * 1024;

/// A small FIFO cache keyed by the request, tagged with the store's data version: any ingest
/// bumps the version and so invalidates every answer at once.
#[derive(Debug, Default)]
pub struct ResponseCache {
    entries: BTreeMap<String, (u64, Vec<u8>)>,
    order: VecDeque<String>,
    bytes: usize,
}

impl ResponseCache {
    pub fn new() -> ResponseCache {
        ResponseCache::default()
    }

    pub fn get(&self, key: &str, data_version: u64) -> Option<&[u8]> {
        match self.entries.get(key) {
            Some((version, body)) if *version == data_version => Some(body),
            _ => None,
        }
    }

    pub fn put(&mut self, key: String, data_version: u64, body: Vec<u8>) {
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
        cache.put("q".into(), 1, b"a".to_vec());
        assert_eq!(cache.get("q", 1), Some(&b"a"[..]));
    }

    #[test]
    fn new_data_invalidates_the_answer() {
        let mut cache = ResponseCache::new();
        cache.put("q".into(), 1, b"a".to_vec());
        assert_eq!(cache.get("q", 2), None);
    }

    #[test]
    fn oldest_answer_is_evicted_beyond_the_entry_bound() {
        let mut cache = ResponseCache::new();
        for i in 0..=ENTRIES_MAX {
            cache.put(format!("q{i}"), 1, vec![0]);
        }
        assert_eq!(cache.len(), ENTRIES_MAX);
        assert_eq!(cache.get("q0", 1), None);
        assert!(cache.get(&format!("q{ENTRIES_MAX}"), 1).is_some());
    }
}
