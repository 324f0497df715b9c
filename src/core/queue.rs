//! A client's bounded outbound queue.
//!
//! Entries are whole WebSocket frames or HTTP responses. A snapshot entry holds an `Arc` to bytes
//! framed once for every subscriber, so queueing it for 10,000 clients copies a pointer, not the
//! payload; a REST answer holds the `Arc` its cache holds. The socket is written straight from the
//! entries with vectored writes, as far as it accepts bytes; a client with nothing queued holds no
//! buffer at all.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

/// Bytes waiting to be sent.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Framed once, shared by every client it is queued for (snapshots, static files).
    Shared(Arc<[u8]>),
    /// Belongs to this client alone (replies, HTTP heads, close frames).
    Owned(Box<[u8]>),
    /// A REST answer body computed on the query worker, shared with its answer cache and with
    /// every client receiving the same answer.
    Answer(Arc<[u8]>),
}

impl Chunk {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(bytes) => bytes,
            Chunk::Owned(bytes) => bytes,
            Chunk::Answer(bytes) => bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What an entry is, so that conflation, bounds and accounting can tell entries apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A snapshot of the symbol with this index, at this sequence number.
    Snapshot { symbol: usize, seq: u64 },
    /// A WebSocket reply to this client (ack, pong, error) or an HTTP response part.
    Reply,
    /// A WebSocket close frame: nothing may follow it.
    Close,
    /// A SLOW_CONSUMER warning: at most one is queued at a time.
    Warning,
    /// A message that is not conflated (a realised liquidation): bounded per client, the oldest
    /// unsent one dropped beyond the bound.
    Event,
    /// The HTTP 101 response that turns the connection into a WebSocket: every frame must follow
    /// it, so it is never dropped nor overtaken (the simulator found a warning and a close frame
    /// sent ahead of it to a client that had not read it yet).
    Handshake,
}

#[derive(Debug)]
struct Entry {
    kind: EntryKind,
    chunk: Chunk,
}

/// What pushing a snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPush {
    /// Appended.
    Queued,
    /// Replaced an older unsent snapshot of the same symbol, which is dropped for this client.
    Conflated,
    /// Appended after dropping the oldest unsent snapshot of another symbol (message bound hit).
    DroppedOldest,
}

/// What pushing an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventPush {
    Queued,
    /// Appended after dropping the oldest unsent event (the bound was hit).
    DroppedOldest,
}

/// Queues kept at most this many entries of capacity once drained, so a busy-then-idle client
/// gives its memory back.
const IDLE_CAPACITY_ENTRIES_MAX: usize = 8;

/// A client's outbound queue. Bounds are enforced by the caller with [`OutQueue::bytes_queued`]
/// and the message bound passed to [`OutQueue::push_snapshot`].
#[derive(Debug, Default)]
pub struct OutQueue {
    entries: VecDeque<Entry>,
    /// Bytes of the front entry already handed to the kernel.
    head_written: usize,
    /// Bytes not yet handed to the kernel, over all entries.
    bytes_queued: usize,
}

impl OutQueue {
    pub fn new() -> OutQueue {
        OutQueue::default()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes_queued(&self) -> usize {
        self.bytes_queued
    }

    /// Entries not yet completely written.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Snapshots not yet started (a partly written one is committed and no longer counts).
    pub fn unsent_snapshots(&self) -> usize {
        self.unsent()
            .filter(|(_, e)| matches!(e.kind, EntryKind::Snapshot { .. }))
            .count()
    }

    /// Replies not yet started.
    pub fn unsent_replies(&self) -> usize {
        self.unsent().filter(|(_, e)| e.kind == EntryKind::Reply).count()
    }

    /// True once a close frame is queued: nothing more may be queued after it.
    pub fn has_close(&self) -> bool {
        self.entries.back().is_some_and(|e| e.kind == EntryKind::Close)
    }

    /// True when the front entry is partly written, so it must be finished before anything else.
    pub fn head_in_progress(&self) -> bool {
        self.head_written > 0
    }

    /// Entries that have not started going out, with their index.
    fn unsent(&self) -> impl Iterator<Item = (usize, &Entry)> {
        let skip = usize::from(self.head_written > 0);
        self.entries.iter().enumerate().skip(skip)
    }

    /// Index of the first entry that may be dropped or overtaken: not a partly written one, and
    /// not the WebSocket handshake nor anything before it.
    fn first_movable(&self) -> usize {
        let after_handshake = self.entries.iter().rposition(|e| e.kind == EntryKind::Handshake).map_or(0, |i| i + 1);
        usize::from(self.head_written > 0).max(after_handshake).min(self.entries.len())
    }

    /// Appends the HTTP 101 response of a WebSocket upgrade.
    pub fn push_handshake(&mut self, chunk: Chunk) {
        self.push(EntryKind::Handshake, chunk);
    }

    /// Appends a reply (or HTTP response part).
    pub fn push_reply(&mut self, chunk: Chunk) {
        self.push(EntryKind::Reply, chunk);
    }

    /// Puts a warning ahead of every unsent entry (after a partly written one and after the
    /// handshake), so it is the next thing the client reads.
    pub fn push_warning_first(&mut self, chunk: Chunk) {
        let at = self.first_movable();
        self.bytes_queued += chunk.len();
        self.entries.insert(at, Entry { kind: EntryKind::Warning, chunk });
    }

    /// True while a warning is queued (partly written or not at all).
    pub fn has_warning(&self) -> bool {
        self.entries.iter().any(|e| e.kind == EntryKind::Warning)
    }

    /// Appends a close frame. Callers drop unsent entries first when the close is urgent.
    pub fn push_close(&mut self, chunk: Chunk) {
        self.push(EntryKind::Close, chunk);
    }

    fn push(&mut self, kind: EntryKind, chunk: Chunk) {
        debug_assert!(!self.has_close(), "nothing may follow a close frame");
        self.bytes_queued += chunk.len();
        self.entries.push_back(Entry { kind, chunk });
    }

    /// Queues a snapshot of `symbol`. A newer snapshot replaces an unsent older one of the same
    /// symbol (conflation); when `messages_max` unsent snapshots are already queued the oldest
    /// unsent one is dropped. Either way the caller counts one dropped message.
    pub fn push_snapshot(
        &mut self,
        symbol: usize,
        seq: u64,
        chunk: Chunk,
        messages_max: usize,
    ) -> SnapshotPush {
        let same_symbol = self
            .unsent()
            .find(|(_, e)| matches!(e.kind, EntryKind::Snapshot { symbol: s, .. } if s == symbol))
            .map(|(i, _)| i);
        if let Some(index) = same_symbol {
            let entry = &mut self.entries[index];
            self.bytes_queued = self.bytes_queued - entry.chunk.len() + chunk.len();
            entry.chunk = chunk;
            entry.kind = EntryKind::Snapshot { symbol, seq };
            return SnapshotPush::Conflated;
        }
        let mut outcome = SnapshotPush::Queued;
        if self.unsent_snapshots() >= messages_max.max(1) {
            let oldest = self
                .unsent()
                .find(|(_, e)| matches!(e.kind, EntryKind::Snapshot { .. }))
                .map(|(i, _)| i);
            if let Some(index) = oldest {
                if let Some(removed) = self.entries.remove(index) {
                    self.bytes_queued -= removed.chunk.len();
                }
                outcome = SnapshotPush::DroppedOldest;
            }
        }
        self.push(EntryKind::Snapshot { symbol, seq }, chunk);
        outcome
    }

    /// Queues an event; when `events_max` unsent events are already queued the oldest unsent one
    /// is dropped.
    pub fn push_event(&mut self, chunk: Chunk, events_max: usize) -> EventPush {
        let mut outcome = EventPush::Queued;
        if self.unsent().filter(|(_, e)| e.kind == EntryKind::Event).count() >= events_max.max(1) {
            let oldest = self.unsent().find(|(_, e)| e.kind == EntryKind::Event).map(|(i, _)| i);
            if let Some(removed) = oldest.and_then(|index| self.entries.remove(index)) {
                self.bytes_queued -= removed.chunk.len();
                outcome = EventPush::DroppedOldest;
            }
        }
        self.push(EntryKind::Event, chunk);
        outcome
    }

    /// Drops every entry that has not started going out (a partly written frame must be finished
    /// to keep the stream valid, and the handshake must precede any frame). Returns how many
    /// snapshots were dropped.
    pub fn discard_unsent(&mut self) -> usize {
        let keep = self.first_movable();
        let mut dropped_snapshots = 0;
        for entry in self.entries.drain(keep..) {
            self.bytes_queued -= entry.chunk.len();
            if matches!(entry.kind, EntryKind::Snapshot { .. }) {
                dropped_snapshots += 1;
            }
        }
        self.release_idle_capacity();
        dropped_snapshots
    }

    /// Drops every snapshot that has not started going out, keeping replies, the warning and the
    /// handshake in order. Returns how many were dropped.
    pub fn discard_unsent_snapshots(&mut self) -> usize {
        let before = self.entries.len();
        let keep_from = self.first_movable();
        let mut index = 0;
        let mut freed_bytes = 0;
        self.entries.retain(|entry| {
            index += 1;
            let drop = index > keep_from && matches!(entry.kind, EntryKind::Snapshot { .. });
            if drop {
                freed_bytes += entry.chunk.len();
            }
            !drop
        });
        self.bytes_queued -= freed_bytes;
        self.release_idle_capacity();
        before - self.entries.len()
    }

    /// Drops unsent snapshots of `symbol` (the client unsubscribed from it).
    pub fn remove_unsent_snapshots(&mut self, symbol: usize) {
        let skip = usize::from(self.head_written > 0);
        let mut index = skip;
        while index < self.entries.len() {
            if matches!(self.entries[index].kind, EntryKind::Snapshot { symbol: s, .. } if s == symbol) {
                if let Some(removed) = self.entries.remove(index) {
                    self.bytes_queued -= removed.chunk.len();
                }
            } else {
                index += 1;
            }
        }
        self.release_idle_capacity();
    }

    /// Fills `slices` with the bytes to write next, front first. Returns how many were filled.
    pub fn fill_slices<'a>(&'a self, slices: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (index, entry) in self.entries.iter().enumerate() {
            if filled == slices.len() {
                break;
            }
            let bytes = entry.chunk.as_bytes();
            let bytes = if index == 0 { &bytes[self.head_written..] } else { bytes };
            slices[filled] = IoSlice::new(bytes);
            filled += 1;
        }
        filled
    }

    /// Every queued chunk, front first, including a partly written one (to release what they hold
    /// when the client goes).
    pub fn chunks(&self) -> impl Iterator<Item = &Chunk> + '_ {
        self.entries.iter().map(|e| &e.chunk)
    }

    /// Marks `written` bytes as handed to the kernel, calling `completed` for every entry that is
    /// now fully written.
    pub fn advance(&mut self, mut written: usize, mut completed: impl FnMut(EntryKind, &Chunk)) {
        debug_assert!(written <= self.bytes_queued, "advanced past the queued bytes");
        written = written.min(self.bytes_queued);
        self.bytes_queued -= written;
        while written > 0 {
            let Some(front) = self.entries.front() else { break };
            let remaining = front.chunk.len() - self.head_written;
            if written < remaining {
                self.head_written += written;
                return;
            }
            written -= remaining;
            self.head_written = 0;
            if let Some(done) = self.entries.pop_front() {
                completed(done.kind, &done.chunk);
            }
        }
        // Zero-length entries at the front are complete as soon as they are reached.
        while self.head_written == 0 && self.entries.front().is_some_and(|e| e.chunk.is_empty()) {
            if let Some(done) = self.entries.pop_front() {
                completed(done.kind, &done.chunk);
            }
        }
        self.release_idle_capacity();
    }

    fn release_idle_capacity(&mut self) {
        if self.entries.is_empty() && self.entries.capacity() > IDLE_CAPACITY_ENTRIES_MAX {
            self.entries.shrink_to(IDLE_CAPACITY_ENTRIES_MAX);
        }
    }

    /// Kinds of the queued entries, front first (tests and the simulator's invariant checks).
    pub fn kinds(&self) -> impl Iterator<Item = EntryKind> + '_ {
        self.entries.iter().map(|e| e.kind)
    }
}
