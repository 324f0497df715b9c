//! The event trace of one run: hashed for the determinism check, kept in full only on request.

/// FNV-1a, 64 bit: tiny, stable across Rust versions and platforms (unlike `DefaultHasher`).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Lines kept in memory for `--trace`; beyond this only the hash goes on.
pub const TRACE_LINES_MAX: usize = 2_000_000;

#[derive(Debug, Clone)]
pub struct Trace {
    hash: u64,
    lines: Option<Vec<String>>,
    /// Timeout decisions (warnings, closes, releases) with their monotonic time: compared between
    /// a run and its flat-wall-clock twin, where they must be identical.
    pub decisions: Vec<String>,
    pub events: u64,
}

impl Trace {
    pub fn new(keep_lines: bool) -> Trace {
        Trace {
            hash: FNV_OFFSET,
            lines: keep_lines.then(Vec::new),
            decisions: Vec::new(),
            events: 0,
        }
    }

    pub fn record(&mut self, line: String) {
        for byte in line.as_bytes().iter().chain(b"\n") {
            self.hash ^= u64::from(*byte);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.events += 1;
        if let Some(lines) = self.lines.as_mut() {
            if lines.len() < TRACE_LINES_MAX {
                lines.push(line);
            }
        }
    }

    pub fn decision(&mut self, line: String) {
        self.decisions.push(line.clone());
        self.record(line);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn take_lines(&mut self) -> Vec<String> {
        self.lines.take().unwrap_or_default()
    }
}
