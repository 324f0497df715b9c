//! The scripted snapshot producer: regular snapshots per symbol with bursts, stalls, large
//! snapshots, generation restarts, snapshots of symbols the server does not know, and a producer
//! that dies. Every snapshot carries a unique number `sim_n` in its data so a client can tell
//! exactly which publication it received, independently of the server's own `seq`.

use liquidationheatmap::core::SnapshotReady;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::params::ProducerPlan;

/// Snapshots in one burst, at most.
pub const BURST_SNAPSHOTS_MAX: usize = 6;
/// Bytes of the envelope and `sim_n` around the padding, generously.
const ENVELOPE_BYTES_MAX: usize = 320;

/// What the simulator knows about one publication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub symbol: usize,
    pub generation: u64,
    /// The `seq` the server must give it: one more than the previous snapshot of the symbol in the
    /// same generation, else 1.
    pub expected_seq: u64,
}

#[derive(Debug)]
pub struct Producer {
    rng: ChaCha8Rng,
    plan: ProducerPlan,
    symbols: Vec<String>,
    pub generation: u64,
    /// Indexed by `sim_n`.
    pub published: Vec<Published>,
    /// Per symbol: newest `sim_n`.
    pub latest: Vec<Option<u64>>,
    last_seq: Vec<Option<(u64, u64)>>,
    pub alive: bool,
    /// Largest padding of a large snapshot: a few snapshots of every symbol must fit one queue,
    /// or even a perfect client would be closed for its byte bound.
    large_pad_bytes_max: usize,
    queue_bytes_max: usize,
}

impl Producer {
    pub fn new(
        rng: ChaCha8Rng,
        plan: ProducerPlan,
        symbols: Vec<String>,
        queue_bytes_max: usize,
    ) -> Producer {
        let per_symbol = queue_bytes_max / (2 * symbols.len().max(1));
        let count = symbols.len();
        Producer {
            rng,
            plan,
            symbols,
            generation: 1,
            published: Vec::new(),
            latest: vec![None; count],
            last_seq: vec![None; count],
            alive: true,
            large_pad_bytes_max: per_symbol.saturating_sub(ENVELOPE_BYTES_MAX).max(1),
            queue_bytes_max,
        }
    }

    pub fn interval_ms(&mut self, symbol: usize) -> u64 {
        let base = self.plan.interval_ms[symbol];
        let stall = if self.plan.stall > 0.0 && self.rng.random_bool(self.plan.stall) {
            self.rng.random_range(5..=20)
        } else {
            1
        };
        (base / 2 + self.rng.random_range(0..=base)) * stall
    }

    /// The snapshots of one publication event for `symbol` (a burst has several).
    pub fn next_batch(&mut self, symbol: usize, computed_at_unix_ms: i64) -> Vec<SnapshotReady> {
        let count = if self.plan.burst > 0.0 && self.rng.random_bool(self.plan.burst) {
            self.rng.random_range(2..=BURST_SNAPSHOTS_MAX)
        } else {
            1
        };
        if self.plan.new_generation > 0.0 && self.rng.random_bool(self.plan.new_generation) {
            self.generation += 1;
        }
        let mut batch: Vec<SnapshotReady> = (0..count)
            .map(|_| self.snapshot(symbol, computed_at_unix_ms))
            .collect();
        if self.plan.unsupported_symbol > 0.0 && self.rng.random_bool(self.plan.unsupported_symbol)
        {
            batch.push(SnapshotReady {
                symbol: "DOGEUSDT".into(),
                generation: self.generation,
                timestamp: "2026-06-14T14:55:00Z".into(),
                source: "sim".into(),
                data_json: "{}".into(),
                computed_at_unix_ms,
                compute_micros: 1,
            });
        }
        batch
    }

    /// One snapshot of `symbol`, recorded as published.
    pub fn snapshot(&mut self, symbol: usize, computed_at_unix_ms: i64) -> SnapshotReady {
        let huge = self.plan.huge > 0.0 && self.rng.random_bool(self.plan.huge);
        let pad = if huge {
            self.rng
                .random_range(self.queue_bytes_max / 2..=self.queue_bytes_max * 6 / 5)
        } else if self.plan.large > 0.0 && self.rng.random_bool(self.plan.large) {
            self.rng.random_range(1..=self.large_pad_bytes_max)
        } else {
            self.rng.random_range(0..=200.min(self.large_pad_bytes_max))
        };
        let n = self.published.len() as u64;
        let expected_seq = match self.last_seq[symbol] {
            Some((generation, seq)) if generation == self.generation => seq + 1,
            _ => 1,
        };
        self.last_seq[symbol] = Some((self.generation, expected_seq));
        self.published.push(Published {
            symbol,
            generation: self.generation,
            expected_seq,
        });
        self.latest[symbol] = Some(n);
        SnapshotReady {
            symbol: self.symbols[symbol].clone(),
            generation: self.generation,
            timestamp: "2026-06-14T14:55:00Z".into(),
            source: "sim".into(),
            data_json: format!(r#"{{"sim_n":{n},"pad":"{}"}}"#, "x".repeat(pad)),
            computed_at_unix_ms,
            compute_micros: 1,
        }
    }
}
