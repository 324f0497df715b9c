//! Adapters between the caller's byte streams and the core's codecs.
//!
//! The core is handed any `Read + Write` stream (a mio socket in production, a simulated pipe in
//! `sim/`) and never creates, registers or polls one itself. These adapters apply the rules every
//! stream needs: retry `Interrupted`, stop at `WouldBlock`, treat `Ok(0)` from a read as end of
//! stream, and never let one client read more than its turn allows.

use std::io::{self, Read, Write};

/// Reads from the client's stream for tungstenite, writes tungstenite's automatic replies (pong,
/// close echo) into `replies` so they enter the client's queue in order with everything else.
pub struct ReadSide<'a, S> {
    pub stream: &'a mut S,
    pub replies: &'a mut Vec<u8>,
    /// Bytes this turn may still read; at zero reads report `WouldBlock` and `budget_exhausted`.
    pub budget_bytes: usize,
    pub budget_exhausted: bool,
    /// The stream reported end of file.
    pub eof: bool,
    /// The stream reported a hard error (reset, broken pipe): the connection is gone.
    pub failed: Option<io::ErrorKind>,
    /// Total bytes read this turn.
    pub bytes_read: usize,
}

impl<'a, S: Read> ReadSide<'a, S> {
    pub fn new(stream: &'a mut S, replies: &'a mut Vec<u8>, budget_bytes: usize) -> Self {
        ReadSide {
            stream,
            replies,
            budget_bytes,
            budget_exhausted: false,
            eof: false,
            failed: None,
            bytes_read: 0,
        }
    }
}

impl<S: Read> Read for ReadSide<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.budget_bytes == 0 {
            self.budget_exhausted = true;
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let len = buf.len().min(self.budget_bytes);
        match read_retrying(self.stream, &mut buf[..len]) {
            Ok(0) => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => {
                self.budget_bytes -= n;
                self.bytes_read += n;
                Ok(n)
            }
            Err(e) => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    self.failed = Some(e.kind());
                }
                Err(e)
            }
        }
    }
}

impl<S> Write for ReadSide<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.replies.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// `read`, retried while interrupted by a signal.
pub fn read_retrying<S: Read + ?Sized>(stream: &mut S, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `write_vectored`, retried while interrupted by a signal.
pub fn write_vectored_retrying<S: Write + ?Sized>(
    stream: &mut S,
    slices: &[io::IoSlice<'_>],
) -> io::Result<usize> {
    loop {
        match stream.write_vectored(slices) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
