//! Socket and process options the loop sets: the few things std and mio do not expose.

use std::io;
use std::os::fd::AsRawFd;

/// Bytes of unsent data the kernel keeps per socket before it reports the socket unwritable.
/// Bounding it keeps slow clients' backlog in our own bounded queue (where it can be conflated)
/// instead of in kernel buffers we cannot see or shrink.
pub const NOTSENT_LOWAT_BYTES: i32 = 128 * 1024;

/// Connections the kernel may hold completed but not yet accepted (capped by net.core.somaxconn).
/// std and mio use 128, so a reconnect storm of thousands of clients overflowed the queue and the
/// kernel dropped their SYNs, leaving them to retransmit after 1 s, 3 s, 7 s (measured with
/// `loadgen --scenario storm`: 10,000 clients took 8 s to be served again).
pub const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener bound to `addr` with room for `backlog` pending connections
/// (SO_REUSEADDR as mio sets it, so a restart does not wait for TIME_WAIT).
pub fn listen(addr: std::net::SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Sets TCP_NOTSENT_LOWAT on a connected socket.
pub fn set_notsent_lowat(socket: &impl AsRawFd, bytes: i32) -> io::Result<()> {
    let value: libc::c_int = bytes;
    // SAFETY: a valid fd, a pointer to a c_int that outlives the call, and its exact size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOTSENT_LOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises the soft open-files limit to the hard limit; returns the new soft limit.
pub fn raise_open_files_limit() -> io::Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}
