//! Snapshots from the producer: framed once, fanned out to every subscriber's queue.

use std::sync::Arc;

use log::{debug, warn};

use super::sequencer::StampedSnapshot;
use super::queue::{Chunk, SnapshotPush};
use super::symbols::{LatestSnapshot, ProducerStatus};
use super::time::Now;
use super::{ConnId, Core, MutationPolicy};

/// A snapshot computed by the producer thread. The [`super::Sequencer`] adds the envelope
/// (sequence number, epoch, send time) and frames it once; every subscriber shares the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotReady {
    pub symbol: String,
    /// Changes whenever the producer's stream restarts (data reset, replay wrapped around).
    pub generation: u64,
    /// Data time of the snapshot, ISO-8601 UTC.
    pub timestamp: String,
    /// Where the data came from: "binance", "synthetic", ...
    pub source: String,
    /// The serialised `data` object.
    pub data_json: String,
    pub computed_at_unix_ms: i64,
    pub compute_micros: u64,
}

impl<M: MutationPolicy> Core<M> {
    /// A new snapshot arrived from the producer: stamped by this core's own [`super::Sequencer`], then
    /// fanned out. (A process with a sequencer in front of its loops, or a node fed by a bus,
    /// calls [`Core::handle_stamped_snapshot`] with the stamped bytes instead.)
    pub fn handle_snapshot(&mut self, now: Now, snapshot: SnapshotReady) {
        let now = self.advance_clock(now);
        let stamped = self.sequencer.stamp(now.wall_unix_ms, &snapshot);
        self.handle_stamped_snapshot(now, stamped);
    }

    /// A snapshot whose position (`epoch`, `seq`) and bytes were decided once, upstream: queue the
    /// same shared frame for every subscriber.
    pub fn handle_stamped_snapshot(&mut self, now: Now, snapshot: StampedSnapshot) {
        let now = self.advance_clock(now);
        let Some(index) = self.config.symbol_index(&snapshot.symbol) else {
            warn!("event=snapshot_ignored symbol={:?} reason=unsupported_symbol", snapshot.symbol);
            return;
        };
        let state = &mut self.symbols[index];
        let seq = snapshot.seq;
        let framed = Arc::clone(&snapshot.frame);
        let deflated = snapshot.frame_deflated.clone();
        state.latest = Some(LatestSnapshot {
            seq,
            epoch: snapshot.epoch,
            frame: Arc::clone(&framed),
            frame_deflated: deflated.clone(),
            timestamp: snapshot.timestamp,
            arrived_at: now.mono,
            computed_at_unix_ms: snapshot.computed_at_unix_ms,
        });
        state.status = ProducerStatus::Ok;
        if self.loop_index == 0 {
            // Every loop receives every snapshot; one of them counts its computation, once.
            self.metrics.symbols[index].compute_seconds.observe(snapshot.compute_micros as f64 / 1e6);
        }
        if let Some(duration) = state.broadcast.superseded() {
            // The previous snapshot never reached every subscriber (some were stalled): record
            // how long it took to reach the ones it did reach.
            self.metrics.symbols[index].broadcast_seconds.observe(duration.as_secs_f64());
        }
        let subscribers = std::mem::take(&mut state.subscribers);
        state.broadcast.start(seq, now.mono, subscribers.len());
        // The set is out for the fan-out; demand is recomputed once it is back.
        self.demand_frozen = true;
        let skipped = subscribers.first().copied().filter(|_| self.mutations.skip_lowest_subscriber());
        for &id in subscribers.iter().filter(|&&id| Some(id) != skipped) {
            let chunk = self.snapshot_chunk(id, &framed, deflated.as_ref());
            self.enqueue_snapshot(now, id, index, seq, chunk);
        }
        // Clients closed during the fan-out unsubscribed from a set that was taken out; drop them
        // from it before putting it back.
        let mut subscribers = subscribers;
        subscribers.retain(|&id| {
            self.clients
                .get(id)
                .and_then(|c| c.ws())
                .is_some_and(|ws| ws.subscriptions & (1 << index) != 0)
        });
        let clients = subscribers.len();
        self.symbols[index].subscribers = subscribers;
        self.demand_frozen = false;
        debug!(
            "event=ws_broadcast symbol={} seq={} clients={} bytes={}",
            self.symbols[index].name,
            seq,
            clients,
            framed.len()
        );
        self.update_demand();
    }

    /// Which of a snapshot's two shared frames client `id` gets: the deflated one when it
    /// negotiated permessage-deflate with the full window and one was built, the plain one
    /// otherwise. Either way a pointer is copied, never the bytes.
    pub(super) fn snapshot_chunk(&self, id: ConnId, plain: &Arc<[u8]>, deflated: Option<&Arc<[u8]>>) -> Chunk {
        let takes_deflated = self
            .clients
            .get(id)
            .and_then(|c| c.ws())
            .and_then(|ws| ws.deflate)
            .is_some_and(|agreed| agreed.takes_shared_frames());
        match deflated {
            Some(deflated) if takes_deflated => Chunk::Shared(Arc::clone(deflated)),
            _ => Chunk::Shared(Arc::clone(plain)),
        }
    }

    /// Queues a snapshot for one client, applying conflation and the queue bounds.
    pub(super) fn enqueue_snapshot(&mut self, now: Now, id: ConnId, symbol: usize, seq: u64, chunk: Chunk) {
        let Some(client) = self.clients.get_mut(id) else { return };
        if client.closing.is_some() {
            return;
        }
        // Conflation keeps at most one unsent snapshot per subscribed symbol, and that one is the
        // symbol's latest: a bound below the subscription count would drop some symbol's latest
        // snapshot for good, and the client would never converge (found by the simulator).
        let subscribed = client.ws().map_or(0, |ws| ws.subscriptions.count_ones() as usize);
        let messages_max = self.config.queue_messages_max.max(subscribed);
        let was_empty = client.out.is_empty();
        let outcome = client.out.push_snapshot(symbol, seq, chunk, messages_max);
        if was_empty {
            client.write_progress_at = now.mono;
        }
        if outcome != SnapshotPush::Queued {
            if let Some(ws) = client.ws_mut() {
                ws.dropped_messages += 1;
            }
            self.symbols[symbol].dropped_total += 1;
            self.metrics.symbols[symbol].dropped_snapshots.inc();
        }
        if self.enforce_byte_bound(now, id) {
            self.want_transmit(id);
            if was_empty {
                self.reschedule(id);
            }
        }
    }

    /// The producer reports on a symbol without a snapshot (no data, or an error it will retry).
    pub fn handle_producer_status(&mut self, now: Now, symbol: &str, status: ProducerStatus) {
        self.advance_clock(now);
        if let Some(index) = self.config.symbol_index(symbol) {
            self.symbols[index].status = status;
        }
    }
}
