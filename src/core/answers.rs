//! The process-wide count of REST answer bytes waiting to be sent.
//!
//! An answer body is one allocation shared by the answer cache and by every connection it is
//! queued for, so the memory it costs is its length once, however many clients receive it. The
//! ledger counts each distinct body once, from the moment it is queued for a first connection
//! until the last connection holding it has sent it or gone. `HTTP_MAX_PENDING_BYTES` bounds that
//! count (see [`super::CoreConfig::http_pending_bytes_max`]).

use std::collections::BTreeMap;
use std::sync::Arc;

/// Identity of a body: the address of its allocation, stable while any handle is alive (and the
/// ledger's entry exists only while a queued chunk holds one).
type BodyId = usize;

fn id_of(body: &Arc<[u8]>) -> BodyId {
    Arc::as_ptr(body).cast::<u8>() as usize
}

/// Distinct answer bodies queued on connections, with how many queued chunks hold each.
#[derive(Debug, Default)]
pub struct AnswerLedger {
    /// Body → (queued chunks holding it, its length in bytes).
    held: BTreeMap<BodyId, (usize, usize)>,
    /// Sum of the lengths of the distinct bodies in `held`.
    pending_bytes: usize,
}

impl AnswerLedger {
    /// Bytes of distinct answers queued and not completely sent.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    /// Bytes that queueing `body` once more would add: nothing when it is already queued.
    pub fn cost_of(&self, body: &Arc<[u8]>) -> usize {
        if self.held.contains_key(&id_of(body)) {
            0
        } else {
            body.len()
        }
    }

    /// `body` was queued on a connection.
    pub fn hold(&mut self, body: &Arc<[u8]>) {
        let entry = self.held.entry(id_of(body)).or_insert((0, body.len()));
        if entry.0 == 0 {
            self.pending_bytes += body.len();
        }
        entry.0 += 1;
    }

    /// A queued chunk holding `body` was sent completely or dropped.
    pub fn release(&mut self, body: &Arc<[u8]>) {
        let id = id_of(body);
        let Some(entry) = self.held.get_mut(&id) else {
            debug_assert!(false, "released an answer that was never held");
            return;
        };
        entry.0 -= 1;
        if entry.0 == 0 {
            let len = entry.1;
            self.held.remove(&id);
            debug_assert!(self.pending_bytes >= len, "pending answer bytes underflow");
            self.pending_bytes -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_queued_for_many_connections_counts_once() {
        let mut ledger = AnswerLedger::default();
        let body: Arc<[u8]> = Arc::from(vec![7u8; 1000]);
        assert_eq!(ledger.cost_of(&body), 1000);
        ledger.hold(&body);
        ledger.hold(&body);
        assert_eq!(ledger.cost_of(&body), 0);
        assert_eq!(ledger.pending_bytes(), 1000);
        ledger.release(&body);
        assert_eq!(ledger.pending_bytes(), 1000, "still queued on one connection");
        ledger.release(&body);
        assert_eq!(ledger.pending_bytes(), 0);
    }

    #[test]
    fn distinct_bodies_add_up() {
        let mut ledger = AnswerLedger::default();
        let a: Arc<[u8]> = Arc::from(vec![1u8; 10]);
        let b: Arc<[u8]> = Arc::from(vec![1u8; 10]);
        ledger.hold(&a);
        ledger.hold(&b);
        assert_eq!(ledger.pending_bytes(), 20);
        ledger.release(&a);
        assert_eq!(ledger.pending_bytes(), 10);
    }
}
