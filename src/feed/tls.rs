//! Connections to the exchange: plain TCP for `ws://` on loopback, rustls for `wss://`.
//!
//! rustls runs with the ring provider (no OpenSSL, no cmake) and trusts the platform's root
//! certificates ([`roots`]), the same roots `ureq` uses for the REST calls; a host without a
//! certificate store falls back to the Mozilla set compiled in (`webpki-roots`), and says so.

use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use log::{info, warn};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::url::BaseUrl;

/// The root certificates the feed trusts, for both the stream and the REST calls.
#[derive(Debug, Clone, PartialEq)]
pub enum Roots {
    /// The platform's store (DER certificates rustls could parse), as `rustls-native-certs`
    /// finds it: on Linux the files of `SSL_CERT_FILE`/`SSL_CERT_DIR` or the distribution's
    /// bundle (`/etc/ssl/certs`, ...), the keychain on macOS, the system store on Windows.
    Platform(Vec<CertificateDer<'static>>),
    /// Mozilla's set compiled in (`webpki-roots`): only when the platform yields no certificate.
    Mozilla,
}

/// The process's roots, loaded once (the first `wss://` or `https://` connection).
pub fn roots() -> &'static Roots {
    static ROOTS: OnceLock<Roots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let roots = roots_from(rustls_native_certs::load_native_certs());
        match &roots {
            Roots::Platform(certs) => info!("event=feed_tls_roots source=platform certificates={}", certs.len()),
            Roots::Mozilla => warn!("event=feed_tls_roots source=mozilla reason=\"the platform has no root certificate\""),
        }
        roots
    })
}

/// The platform's certificates that parse as trust anchors; [`Roots::Mozilla`] when none does.
/// Errors reading part of the store are logged; what was read is still used.
pub fn roots_from(found: rustls_native_certs::CertificateResult) -> Roots {
    for error in found.errors.iter().take(4) {
        warn!("event=feed_tls_roots_error error={:?}", error.to_string());
    }
    let mut store = RootCertStore::empty();
    let usable: Vec<CertificateDer<'static>> =
        found.certs.into_iter().filter(|cert| store.add(cert.clone()).is_ok()).collect();
    if usable.is_empty() {
        Roots::Mozilla
    } else {
        Roots::Platform(usable)
    }
}

/// The one TLS client configuration of the process.
fn tls_config() -> io::Result<Arc<ClientConfig>> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let roots = match roots() {
                Roots::Platform(certs) => {
                    let mut store = RootCertStore::empty();
                    store.add_parsable_certificates(certs.iter().cloned());
                    store
                }
                Roots::Mozilla => RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() },
            };
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

#[cfg(test)]
mod tests {
    use rustls::pki_types::pem::PemObject;

    use super::*;

    /// A public root CA certificate (ISRG Root X1, Let's Encrypt), as a platform store holds it.
    fn platform_like_certs() -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(include_bytes!("../../tests/fixtures/tls/isrg-root-x1.pem"))
            .collect::<Result<_, _>>()
            .expect("the fixture is a PEM certificate")
    }

    #[test]
    fn the_platforms_certificates_are_the_roots_when_it_has_any() {
        let certs = platform_like_certs();
        assert_eq!(certs.len(), 1);
        let mut found = rustls_native_certs::CertificateResult::default();
        found.certs = certs.clone();
        assert_eq!(roots_from(found), Roots::Platform(certs));
    }

    #[test]
    fn a_host_without_a_usable_certificate_falls_back_to_the_mozilla_set() {
        assert_eq!(roots_from(rustls_native_certs::CertificateResult::default()), Roots::Mozilla);
        let mut garbage = rustls_native_certs::CertificateResult::default();
        garbage.certs = vec![CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00])];
        assert_eq!(roots_from(garbage), Roots::Mozilla, "a certificate that does not parse is not a root");
    }

    #[test]
    fn unusable_certificates_are_skipped_and_the_rest_kept() {
        let good = platform_like_certs();
        let mut found = rustls_native_certs::CertificateResult::default();
        found.certs = vec![CertificateDer::from(vec![0x30, 0x00]), good[0].clone()];
        assert_eq!(roots_from(found), Roots::Platform(good));
    }
}
