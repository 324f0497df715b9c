//! The server side of one simulated TCP connection, lent to the core as `Read + Write`.
//!
//! It follows the seeded fault schedule: `Interrupted`, short reads and writes (never `Ok(0)` for
//! "no room"), `WouldBlock` when the kernel send buffer is full or as a transient fault, resets.
//! It also remembers the transitions edge-triggered readiness would report, so the world can
//! signal only those.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::params::FaultRates;

#[derive(Debug)]
pub struct SimStream {
    /// Client bytes that have arrived and the core has not read.
    pub inbound: VecDeque<u8>,
    /// The client's FIN has arrived.
    pub fin: bool,
    /// The client reset the connection.
    pub reset: bool,
    /// Server bytes the client application has not read yet (kernel buffers of both ends).
    pub outbound: VecDeque<u8>,
    pub sndbuf_bytes: usize,
    /// Bytes written since the world last handed them to the client's decoder.
    pub fresh: Vec<u8>,
    /// A write found no room: the next time room appears is a writable edge.
    pub write_blocked: bool,
    /// A transient `WouldBlock` was injected: the poller re-signals writable soon.
    pub transient_block: bool,
    /// Any write ever returned `WouldBlock` (the client did not keep up at some point).
    pub ever_blocked: bool,
    rng: ChaCha8Rng,
    rates: FaultRates,
    /// Faults stop once the world turns quiet.
    pub faults_on: bool,
    /// Vectored writes gather every slice (like a real socket) unless this is false, in which
    /// case only the first slice is written (the `Write` trait's default).
    gather: bool,
}

impl SimStream {
    pub fn new(sndbuf_bytes: usize, mut rng: ChaCha8Rng, rates: FaultRates) -> SimStream {
        let gather = rng.random_bool(0.7);
        SimStream {
            inbound: VecDeque::new(),
            fin: false,
            reset: false,
            outbound: VecDeque::new(),
            sndbuf_bytes,
            fresh: Vec::new(),
            write_blocked: false,
            transient_block: false,
            ever_blocked: false,
            rng,
            rates,
            faults_on: true,
            gather,
        }
    }

    fn roll(&mut self, p: f64) -> bool {
        self.faults_on && p > 0.0 && self.rng.random_bool(p.min(1.0))
    }

    /// How many of `available` bytes one call moves.
    fn amount(&mut self, available: usize) -> usize {
        if available > 1 && self.roll(self.rates.short_io) {
            self.rng.random_range(1..available)
        } else {
            available
        }
    }

    pub fn room(&self) -> usize {
        self.sndbuf_bytes.saturating_sub(self.outbound.len())
    }

    /// Checks the faults every write shares; `Some` is the call's result.
    fn write_gate(&mut self) -> Option<io::Result<usize>> {
        if self.reset {
            return Some(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if self.roll(self.rates.eintr) {
            return Some(Err(io::ErrorKind::Interrupted.into()));
        }
        if self.roll(self.rates.write_would_block) {
            self.transient_block = true;
            self.write_blocked = true;
            self.ever_blocked = true;
            return Some(Err(io::ErrorKind::WouldBlock.into()));
        }
        if self.room() == 0 {
            self.write_blocked = true;
            self.ever_blocked = true;
            return Some(Err(io::ErrorKind::WouldBlock.into()));
        }
        None
    }

    fn accept_bytes(&mut self, bytes: &[u8]) {
        self.outbound.extend(bytes);
        self.fresh.extend_from_slice(bytes);
    }
}

impl Read for SimStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if self.roll(self.rates.eintr) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        if self.inbound.is_empty() {
            return if self.fin {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.amount(buf.len().min(self.inbound.len()));
        for (slot, byte) in buf.iter_mut().zip(self.inbound.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl Write for SimStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let Some(result) = self.write_gate() {
            return result;
        }
        let n = self.amount(buf.len().min(self.room()));
        self.accept_bytes(&buf[..n]);
        Ok(n)
    }

    fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        if !self.gather {
            let first = slices
                .iter()
                .find(|s| !s.is_empty())
                .map_or(&[][..], |s| &s[..]);
            return self.write(first);
        }
        let total: usize = slices.iter().map(|s| s.len()).sum();
        if total == 0 {
            return Ok(0);
        }
        if let Some(result) = self.write_gate() {
            return result;
        }
        let mut n = self.amount(total.min(self.room()));
        let written = n;
        for slice in slices {
            if n == 0 {
                break;
            }
            let take = slice.len().min(n);
            self.accept_bytes(&slice[..take]);
            n -= take;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
