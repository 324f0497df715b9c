//! Property test: the client queue (`OutQueue`) against a reference model written from its
//! documented rules — conflation, the message bound, replies ahead of the backlog, close frames,
//! discarding unsent entries — checking every observable and the exact bytes written.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use liquidationheatmap::core::queue::{Chunk, EntryKind, OutQueue, SnapshotPush};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Reply(usize),
    WarningFirst(usize),
    Handshake(usize),
    Close(usize),
    Snapshot {
        symbol: usize,
        len: usize,
        messages_max: usize,
    },
    DiscardUnsent,
    RemoveSnapshots(usize),
    /// Write this share (per mille) of the queued bytes.
    Write(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1..40usize).prop_map(Op::Reply),
        (1..40usize).prop_map(Op::WarningFirst),
        (1..40usize).prop_map(Op::Handshake),
        (1..40usize).prop_map(Op::Close),
        (0..3usize, 1..60usize, 0..4usize).prop_map(|(symbol, len, messages_max)| Op::Snapshot {
            symbol,
            len,
            messages_max
        }),
        Just(Op::DiscardUnsent),
        (0..3usize).prop_map(Op::RemoveSnapshots),
        (0..=1000u16).prop_map(Op::Write),
        (0..=1000u16).prop_map(Op::Write),
    ]
}

/// The reference: entries with their bytes, and how much of the front one is written.
#[derive(Default)]
struct Model {
    entries: VecDeque<(EntryKind, Vec<u8>)>,
    head_written: usize,
}

impl Model {
    fn first_unsent(&self) -> usize {
        usize::from(self.head_written > 0)
    }

    /// Nothing at or before the handshake, and no partly written entry, may be dropped or
    /// overtaken: every WebSocket frame must follow the 101 response.
    fn first_movable(&self) -> usize {
        let after_handshake = self
            .entries
            .iter()
            .rposition(|(k, _)| *k == EntryKind::Handshake)
            .map_or(0, |i| i + 1);
        self.first_unsent()
            .max(after_handshake)
            .min(self.entries.len())
    }

    fn bytes_queued(&self) -> usize {
        self.entries.iter().map(|(_, b)| b.len()).sum::<usize>() - self.head_written
    }

    fn unsent_count(&self, wanted: impl Fn(EntryKind) -> bool) -> usize {
        self.entries
            .iter()
            .skip(self.first_unsent())
            .filter(|(k, _)| wanted(*k))
            .count()
    }

    fn push_snapshot(
        &mut self,
        symbol: usize,
        seq: u64,
        bytes: Vec<u8>,
        messages_max: usize,
    ) -> SnapshotPush {
        let start = self.first_unsent();
        let same = (start..self.entries.len()).find(
            |&i| matches!(self.entries[i].0, EntryKind::Snapshot { symbol: s, .. } if s == symbol),
        );
        if let Some(i) = same {
            self.entries[i] = (EntryKind::Snapshot { symbol, seq }, bytes);
            return SnapshotPush::Conflated;
        }
        let mut outcome = SnapshotPush::Queued;
        if self.unsent_count(|k| matches!(k, EntryKind::Snapshot { .. })) >= messages_max.max(1) {
            let oldest = (start..self.entries.len())
                .find(|&i| matches!(self.entries[i].0, EntryKind::Snapshot { .. }));
            if let Some(i) = oldest {
                self.entries.remove(i);
                outcome = SnapshotPush::DroppedOldest;
            }
        }
        self.entries
            .push_back((EntryKind::Snapshot { symbol, seq }, bytes));
        outcome
    }

    /// Writes `n` bytes; returns them and the entries completed.
    fn write(&mut self, mut n: usize) -> (Vec<u8>, Vec<(EntryKind, usize)>) {
        let mut out = Vec::new();
        let mut done = Vec::new();
        while n > 0 {
            let Some((kind, bytes)) = self.entries.front() else {
                break;
            };
            let rest = &bytes[self.head_written..];
            let take = rest.len().min(n);
            out.extend_from_slice(&rest[..take]);
            n -= take;
            if take == rest.len() {
                done.push((*kind, bytes.len()));
                self.entries.pop_front();
                self.head_written = 0;
            } else {
                self.head_written += take;
            }
        }
        (out, done)
    }
}

/// Distinct bytes per entry so that any reordering or mixing shows in the written stream.
fn bytes(tag: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (tag.wrapping_mul(31).wrapping_add(i as u64) % 251) as u8)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn queue_matches_its_reference_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut queue = OutQueue::new();
        let mut model = Model::default();
        let mut tag = 0u64;
        for op in ops {
            tag += 1;
            match op {
                Op::Reply(len) if !model.entries.back().is_some_and(|(k, _)| *k == EntryKind::Close) => {
                    let b = bytes(tag, len);
                    queue.push_reply(Chunk::Owned(b.clone().into_boxed_slice()));
                    model.entries.push_back((EntryKind::Reply, b));
                }
                Op::WarningFirst(len) => {
                    let b = bytes(tag, len);
                    queue.push_warning_first(Chunk::Owned(b.clone().into_boxed_slice()));
                    let at = model.first_movable();
                    model.entries.insert(at, (EntryKind::Warning, b));
                }
                Op::Handshake(len) if !model.entries.back().is_some_and(|(k, _)| *k == EntryKind::Close) => {
                    let b = bytes(tag, len);
                    queue.push_handshake(Chunk::Owned(b.clone().into_boxed_slice()));
                    model.entries.push_back((EntryKind::Handshake, b));
                }
                Op::Close(len) if !model.entries.back().is_some_and(|(k, _)| *k == EntryKind::Close) => {
                    let b = bytes(tag, len);
                    queue.push_close(Chunk::Owned(b.clone().into_boxed_slice()));
                    model.entries.push_back((EntryKind::Close, b));
                }
                Op::Snapshot { symbol, len, messages_max } if !model.entries.back().is_some_and(|(k, _)| *k == EntryKind::Close) => {
                    let b = bytes(tag, len);
                    let got = queue.push_snapshot(symbol, tag, Chunk::Shared(Arc::from(b.clone())), messages_max);
                    let expected = model.push_snapshot(symbol, tag, b, messages_max);
                    prop_assert_eq!(got, expected);
                }
                Op::DiscardUnsent => {
                    let start = model.first_movable();
                    let dropped: Vec<_> = model.entries.drain(start..).collect();
                    let snapshots = dropped.iter().filter(|(k, _)| matches!(k, EntryKind::Snapshot { .. })).count();
                    prop_assert_eq!(queue.discard_unsent(), snapshots);
                }
                Op::RemoveSnapshots(symbol) => {
                    queue.remove_unsent_snapshots(symbol);
                    let start = model.first_unsent();
                    let mut index = 0;
                    model.entries.retain(|(k, _)| {
                        let keep = index < start || !matches!(k, EntryKind::Snapshot { symbol: s, .. } if *s == symbol);
                        index += 1;
                        keep
                    });
                }
                Op::Write(per_mille) => {
                    let n = model.bytes_queued() * usize::from(per_mille) / 1000;
                    let mut slices = [IoSlice::new(&[]); 64];
                    let filled = queue.fill_slices(&mut slices);
                    let mut written: Vec<u8> = slices[..filled].iter().flat_map(|s| s.iter().copied()).collect();
                    written.truncate(n);
                    let mut completed = Vec::new();
                    queue.advance(written.len(), |kind, chunk| completed.push((kind, chunk.len())));
                    let (expected_bytes, expected_done) = model.write(written.len());
                    prop_assert_eq!(written, expected_bytes);
                    prop_assert_eq!(completed, expected_done);
                }
                _ => {}
            }
            prop_assert_eq!(queue.bytes_queued(), model.bytes_queued());
            prop_assert_eq!(queue.len(), model.entries.len());
            prop_assert_eq!(queue.is_empty(), model.entries.is_empty());
            let model_has_warning = model.entries.iter().any(|(k, _)| *k == EntryKind::Warning);
            prop_assert_eq!(queue.has_warning(), model_has_warning);
            prop_assert_eq!(queue.head_in_progress(), model.head_written > 0);
            prop_assert_eq!(queue.unsent_snapshots(), model.unsent_count(|k| matches!(k, EntryKind::Snapshot { .. })));
            prop_assert_eq!(queue.unsent_replies(), model.unsent_count(|k| k == EntryKind::Reply));
            let kinds: Vec<EntryKind> = queue.kinds().collect();
            let model_kinds: Vec<EntryKind> = model.entries.iter().map(|(k, _)| *k).collect();
            prop_assert_eq!(kinds, model_kinds);
        }
    }
}
