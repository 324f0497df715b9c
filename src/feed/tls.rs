//! Connections to the exchange: plain TCP for `ws://` on loopback, rustls for `wss://`.
//!
//! rustls runs with the ring provider (no OpenSSL, no cmake) and the Mozilla root set compiled in
//! (`webpki-roots`), the same roots `ureq` uses for the REST calls, so both work on a host without
//! a system certificate store.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::url::BaseUrl;

/// The one TLS client configuration of the process.
fn tls_config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map(|builder| Arc::new(builder.with_root_certificates(roots).with_no_client_auth()))
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(io::Error::other)
}

/// A connection to the stream endpoint.
pub enum FeedStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl FeedStream {
    fn tcp(&self) -> &TcpStream {
        match self {
            FeedStream::Plain(s) => s,
            FeedStream::Tls(s) => s.get_ref(),
        }
    }

    /// Reads give up after `timeout` with `WouldBlock`, so the reader can look at its clocks.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.tcp().set_read_timeout(Some(timeout))
    }
}

impl Read for FeedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            FeedStream::Plain(s) => s.read(buf),
            FeedStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for FeedStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            FeedStream::Plain(s) => s.write(buf),
            FeedStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            FeedStream::Plain(s) => s.flush(),
            FeedStream::Tls(s) => s.flush(),
        }
    }
}

/// Connects to `url`'s host within `timeout` per address, with TLS when the URL says so.
pub fn connect(url: &BaseUrl, timeout: Duration) -> io::Result<FeedStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, format!("{} resolves to no address", url.host));
    for addr in url.authority().to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                tcp.set_read_timeout(Some(timeout))?;
                tcp.set_write_timeout(Some(timeout))?;
                if !url.secure {
                    return Ok(FeedStream::Plain(tcp));
                }
                let name = ServerName::try_from(url.host.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                let connection = ClientConnection::new(tls_config()?, name).map_err(io::Error::other)?;
                return Ok(FeedStream::Tls(Box::new(StreamOwned::new(connection, tcp))));
            }
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}
