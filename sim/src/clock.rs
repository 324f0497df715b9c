//! The simulated clocks. Monotonic time follows simulated time but may stall (a coarse clock) and
//! jump forward (a suspended VM); the wall clock may step, drift and jump either way. A rare
//! fault hands the core a monotonic time earlier than one it saw before, which the core must refuse.

use liquidationheatmap::core::{MonoTime, Now};

/// Wall time at simulated time zero (13 digits: jumps stay within 13 digits so that every
/// timestamp the server prints has the same length whatever the wall clock does).
pub const WALL_BASE_UNIX_MS: i64 = 1_750_000_000_000;
/// Largest wall-clock jump either way.
pub const WALL_JUMP_MS_MAX: i64 = 10 * 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct Clocks {
    /// Added to simulated time to get monotonic time (forward jumps only).
    mono_offset_ns: u64,
    /// While simulated time is before this, monotonic time stands still.
    frozen_until_ns: u64,
    frozen_at: MonoTime,
    /// The largest monotonic time handed out.
    pub mono_max: MonoTime,
    /// Wall clock: stepped offset and drift in parts per million.
    wall_offset_ms: i64,
    drift_ppm: i64,
    /// A flat wall clock ignores steps and drift (the twin run of the wall-clock check).
    flat_wall: bool,
    /// Regressed times handed to the core (it must count exactly these).
    pub regressions_handed: u64,
}

impl Clocks {
    pub fn new(drift_ppm: i64, flat_wall: bool) -> Clocks {
        Clocks {
            mono_offset_ns: 0,
            frozen_until_ns: 0,
            frozen_at: MonoTime::ZERO,
            mono_max: MonoTime::ZERO,
            wall_offset_ms: 0,
            drift_ppm,
            flat_wall,
            regressions_handed: 0,
        }
    }

    fn mono_at(&self, sim_ns: u64) -> MonoTime {
        if sim_ns < self.frozen_until_ns {
            self.frozen_at
        } else {
            MonoTime::from_nanos(sim_ns + self.mono_offset_ns).max(self.mono_max)
        }
    }

    /// The time handed to the core at simulated time `sim_ns`.
    pub fn now(&mut self, sim_ns: u64) -> Now {
        let mono = self.mono_at(sim_ns);
        self.mono_max = self.mono_max.max(mono);
        Now::new(mono, self.wall_at(mono))
    }

    /// The monotonic time right now, without handing it out.
    pub fn peek_mono(&self, sim_ns: u64) -> MonoTime {
        self.mono_at(sim_ns)
    }

    fn wall_at(&self, mono: MonoTime) -> i64 {
        let ms = mono.as_millis() as i64;
        if self.flat_wall {
            return WALL_BASE_UNIX_MS + ms;
        }
        WALL_BASE_UNIX_MS + ms + ms * self.drift_ppm / 1_000_000 + self.wall_offset_ms
    }

    /// The earliest simulated time at which monotonic time reaches `at`.
    pub fn sim_time_of(&self, at: MonoTime, sim_now_ns: u64) -> u64 {
        let by_offset = at.as_nanos().saturating_sub(self.mono_offset_ns);
        by_offset.max(self.frozen_until_ns).max(sim_now_ns)
    }

    pub fn jump_wall(&mut self, delta_ms: i64) {
        self.wall_offset_ms =
            (self.wall_offset_ms + delta_ms).clamp(-WALL_JUMP_MS_MAX, WALL_JUMP_MS_MAX);
    }

    pub fn jump_mono(&mut self, delta_ns: u64) {
        self.mono_offset_ns += delta_ns;
    }

    pub fn stall_mono(&mut self, sim_now_ns: u64, for_ns: u64) {
        self.frozen_at = self.mono_at(sim_now_ns).max(self.mono_max);
        self.frozen_until_ns = sim_now_ns + for_ns;
    }

    /// Clock faults stop: a stalled monotonic clock resumes (catching up at once).
    pub fn end_stall(&mut self, sim_now_ns: u64) {
        self.frozen_until_ns = self.frozen_until_ns.min(sim_now_ns);
    }

    /// A time `back_ns` before the newest one handed out, for exactly one core call; counted.
    pub fn regressed(&mut self, back_ns: u64) -> Option<Now> {
        let back = self.mono_max.as_nanos().checked_sub(back_ns.max(1))?;
        self.regressions_handed += 1;
        let mono = MonoTime::from_nanos(back);
        Some(Now::new(mono, self.wall_at(self.mono_max)))
    }
}
