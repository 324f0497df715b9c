//! Who the client is, and how many connections one client address may hold.
//!
//! Two rules, kept here so the accept, request and upgrade paths each make one call:
//!
//! - **The client address** is the TCP peer, unless the peer is a trusted proxy
//!   (`TRUSTED_PROXIES`): then it is taken from `X-Forwarded-For` (RFC 7239 §5.2's de-facto
//!   predecessor; nginx appends `$remote_addr` to whatever the client sent). The header is read
//!   from the right: each trusted proxy appended the address it saw, so the first address from the
//!   right that is *not* a trusted proxy is the client. Anything left of it was written by the
//!   client itself and is never believed. A header from an untrusted peer is ignored entirely.
//! - **The per-address bound**: one address may hold at most `WS_MAX_CONNECTIONS_PER_ADDRESS`
//!   WebSockets and `HTTP_MAX_CONNECTIONS_PER_ADDRESS` plain HTTP connections, so one host cannot
//!   take every slot of `WS_MAX_CONNECTIONS` / `HTTP_MAX_CONNECTIONS`. IPv6 addresses are counted
//!   by their /64 prefix (one host is usually given a whole /64, and could otherwise pick a fresh
//!   address per connection); IPv4-mapped IPv6 addresses count as the IPv4 address.
//!
//! HTTP connections are counted at accept, by the TCP peer, except when the peer is a trusted
//! proxy: every client of a proxy shares its address, and the proxy bounds them itself (nginx's
//! `limit_conn`, see `deploy/nginx.conf`). WebSockets are counted at the upgrade, by the client
//! address above, so a proxy's clients are told apart.
//!
//! **Several event loops.** The bound is per process: the loops share one [`AddressLedger`]
//! inside their [`super::ConnectionLedger`], behind a `Mutex` held for one map operation
//! ([`AddressLedger::try_acquire`] or [`AddressLedger::release`], each O(log addresses)) per
//! accept, upgrade and close.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// Most entries `TRUSTED_PROXIES` may list (each is checked for every request from a proxy).
pub const TRUSTED_PROXIES_MAX: usize = 64;

/// Most addresses read from one `X-Forwarded-For` header, from the right; a longer chain is
/// cut there (the request head bound already limits it to a few hundred).
const FORWARDED_HOPS_MAX: usize = 16;

/// An address range: an address and how many leading bits of it must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    base: IpAddr,
    prefix_bits: u8,
}

impl AddressRange {
    /// Parses `ADDR` or `ADDR/BITS` (IPv4 or IPv6). Host bits set beyond the prefix are an error:
    /// `10.0.0.1/8` is more likely a typo than a wish.
    pub fn parse(text: &str) -> Result<AddressRange, String> {
        let (addr, bits) = match text.split_once('/') {
            Some((addr, bits)) => (addr, Some(bits)),
            None => (text, None),
        };
        let base: IpAddr = addr.parse().map_err(|_| format!("{text:?} is not an IPv4 or IPv6 address or ADDRESS/BITS range"))?;
        let base = canonical(base);
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix_bits = match bits {
            None => width,
            Some(bits) => match bits.parse::<u8>() {
                Ok(b) if b <= width => b,
                _ => return Err(format!("{text:?}: the prefix must be 0 to {width} bits")),
            },
        };
        let range = AddressRange { base, prefix_bits };
        if range.masked(base) != bits_of(base) {
            return Err(format!("{text:?} has bits set beyond its /{prefix_bits} prefix"));
        }
        Ok(range)
    }

    /// True when `addr` lies in this range (an IPv4-mapped IPv6 address matches IPv4 ranges).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        addr.is_ipv4() == self.base.is_ipv4() && self.masked(addr) == bits_of(self.base)
    }

    fn masked(&self, addr: IpAddr) -> u128 {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        let host_bits = u32::from(width - self.prefix_bits);
        let mask = if host_bits >= 128 { 0 } else { !0u128 << host_bits };
        bits_of(addr) & mask
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix_bits)
    }
}

/// The peers whose `X-Forwarded-For` is believed (`TRUSTED_PROXIES`); empty trusts nobody.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    ranges: Vec<AddressRange>,
}

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and ranges, e.g. `127.0.0.1,10.0.0.0/8,::1`.
    /// Empty means none. At most [`TRUSTED_PROXIES_MAX`] entries.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            ranges.push(AddressRange::parse(part)?);
        }
        if ranges.len() > TRUSTED_PROXIES_MAX {
            return Err(format!("{} entries; at most {TRUSTED_PROXIES_MAX}", ranges.len()));
        }
        Ok(TrustedProxies { ranges })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(addr))
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.ranges.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// The client's address: `peer`, or when `peer` is a trusted proxy, the rightmost address of
/// `forwarded_for` (the `X-Forwarded-For` field, all its lines joined) that is not itself a
/// trusted proxy. A missing or unparsable header, or one of trusted proxies only, leaves the
/// leftmost trusted one reached (or `peer`): never an address the client could choose.
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &TrustedProxies) -> IpAddr {
    let peer = canonical(peer);
    if !trusted.contains(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else { return peer };
    let mut client = peer;
    for hop in header.rsplit(',').take(FORWARDED_HOPS_MAX) {
        let Some(addr) = parse_hop(hop.trim()) else { break };
        client = canonical(addr);
        if !trusted.contains(client) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` element: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(addr) = hop.parse::<IpAddr>() {
        return Some(addr);
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip())
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 prefix.
pub fn ledger_key(addr: IpAddr) -> IpAddr {
    match canonical(addr) {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (!0u128 << 64))),
    }
}

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`, what a dual-stack socket reports) as IPv4.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

fn bits_of(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// What a counted connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConnKind {
    Http,
    WebSocket,
}

impl ConnKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnKind::Http => "http",
            ConnKind::WebSocket => "ws",
        }
    }
}

/// A connection's place in the ledger, kept by the connection so it is released exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub kind: ConnKind,
    pub key: IpAddr,
}

/// Open connections per client address and kind. Holds an entry only for addresses with at
/// least one connection, so it never outgrows the connection bounds.
#[derive(Debug, Clone, Default)]
pub struct AddressLedger {
    counts: BTreeMap<(IpAddr, ConnKind), usize>,
}

impl AddressLedger {
    /// Counts one more connection of `kind` for `key` (see [`ledger_key`]) and returns its
    /// [`Held`], or `None` when `key` already holds `max` of that kind.
    pub fn try_acquire(&mut self, kind: ConnKind, key: IpAddr, max: usize) -> Option<Held> {
        let count = self.counts.entry((key, kind)).or_insert(0);
        if *count >= max {
            if *count == 0 {
                self.counts.remove(&(key, kind));
            }
            return None;
        }
        *count += 1;
        Some(Held { kind, key })
    }

    /// Gives back what [`AddressLedger::try_acquire`] counted.
    pub fn release(&mut self, held: Held) {
        let entry = (held.key, held.kind);
        if let Some(count) = self.counts.get_mut(&entry) {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&entry);
            }
        } else {
            debug_assert!(false, "released a connection the ledger does not hold: {held:?}");
        }
    }

    /// Connections of `kind` counted for `key`.
    #[cfg(test)]
    pub fn count(&self, kind: ConnKind, key: IpAddr) -> usize {
        self.counts.get(&(key, kind)).copied().unwrap_or(0)
    }

    /// Distinct addresses holding at least one counted connection.
    pub fn addresses(&self) -> usize {
        let mut last = None;
        let mut distinct = 0;
        for (addr, _) in self.counts.keys() {
            if last != Some(addr) {
                distinct += 1;
                last = Some(addr);
            }
        }
        distinct
    }
}

impl<M: super::MutationPolicy> super::Core<M> {
    /// Counts one more WebSocket for the client address of `id`, or counts and logs the refusal
    /// when that address holds `ws_connections_per_address_max` already.
    pub(super) fn acquire_ws_slot(&mut self, id: super::ConnId) -> Option<Held> {
        let client = self.clients.get(id)?;
        let (peer, address) = (client.peer, client.address);
        let held = self.ledger.try_hold_address(ConnKind::WebSocket, ledger_key(address), self.config.ws_connections_per_address_max);
        if held.is_none() {
            self.metrics.refused_per_address(ConnKind::WebSocket);
            log::info!(
                "event=refused reason=address_full kind=ws peer={peer} client={address} bound={}",
                self.config.ws_connections_per_address_max
            );
        }
        held
    }

    /// Distinct client addresses holding counted connections in the process (`/metrics`).
    pub fn connection_addresses(&self) -> usize {
        self.ledger.connection_addresses()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn trusted(text: &str) -> TrustedProxies {
        TrustedProxies::parse(text).unwrap()
    }

    #[test]
    fn forwarded_for_from_an_untrusted_peer_is_ignored() {
        let proxies = trusted("10.0.0.1");
        assert_eq!(client_address(ip("192.0.2.7"), Some("198.51.100.1"), &proxies), ip("192.0.2.7"));
        assert_eq!(client_address(ip("192.0.2.7"), Some("198.51.100.1"), &TrustedProxies::default()), ip("192.0.2.7"));
    }

    #[test]
    fn trusted_proxy_gives_the_rightmost_untrusted_forwarded_address() {
        let proxies = trusted("10.0.0.0/8");
        // The client claimed 1.1.1.1; the edge proxy 10.0.0.5 appended the address it saw.
        let header = "1.1.1.1, 203.0.113.9, 10.0.0.5";
        assert_eq!(client_address(ip("10.0.0.2"), Some(header), &proxies), ip("203.0.113.9"));
    }

    #[test]
    fn forged_leftmost_entries_are_never_believed() {
        let proxies = trusted("127.0.0.1");
        assert_eq!(client_address(ip("127.0.0.1"), Some("6.6.6.6, 127.0.0.9"), &proxies), ip("127.0.0.9"));
    }

    #[test]
    fn missing_or_garbage_header_from_a_proxy_leaves_the_proxy() {
        let proxies = trusted("127.0.0.1");
        assert_eq!(client_address(ip("127.0.0.1"), None, &proxies), ip("127.0.0.1"));
        assert_eq!(client_address(ip("127.0.0.1"), Some("not-an-address"), &proxies), ip("127.0.0.1"));
        // Garbage to the right stops the walk before anything the client wrote to its left.
        assert_eq!(client_address(ip("127.0.0.1"), Some("8.8.8.8, junk"), &proxies), ip("127.0.0.1"));
    }

    #[test]
    fn forwarded_addresses_with_ports_and_mapped_ipv6_are_understood() {
        let proxies = trusted("127.0.0.1,::1");
        assert_eq!(client_address(ip("::1"), Some("[2001:db8::5]:443"), &proxies), ip("2001:db8::5"));
        assert_eq!(client_address(ip("::ffff:127.0.0.1"), Some("192.0.2.1:5000"), &proxies), ip("192.0.2.1"));
    }

    #[test]
    fn ranges_parse_and_match_by_prefix() {
        let range = AddressRange::parse("192.168.0.0/16").unwrap();
        assert!(range.contains(ip("192.168.44.1")));
        assert!(range.contains(ip("::ffff:192.168.1.1")));
        assert!(!range.contains(ip("192.169.0.1")));
        assert!(AddressRange::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(AddressRange::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(!AddressRange::parse("::/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn bad_ranges_are_refused_with_a_reason() {
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "::1/129", "localhost", "10.0.0.0/x", ""] {
            assert!(AddressRange::parse(bad).is_err(), "{bad} accepted");
        }
        let many: Vec<String> = (0..=TRUSTED_PROXIES_MAX).map(|i| format!("10.0.0.{i}")).collect();
        assert!(TrustedProxies::parse(&many.join(",")).is_err());
        assert!(TrustedProxies::parse(" ").unwrap().is_empty());
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_key() {
        assert_eq!(ledger_key(ip("2001:db8:1:2:aaaa::1")), ledger_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(ledger_key(ip("2001:db8:1:2::1")), ledger_key(ip("2001:db8:1:3::1")));
        assert_eq!(ledger_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn ledger_refuses_at_the_bound_and_frees_on_release() {
        let mut ledger = AddressLedger::default();
        let a = ip("192.0.2.1");
        let first = ledger.try_acquire(ConnKind::WebSocket, a, 2).unwrap();
        let _second = ledger.try_acquire(ConnKind::WebSocket, a, 2).unwrap();
        assert_eq!(ledger.try_acquire(ConnKind::WebSocket, a, 2), None);
        // Another address and the other kind are counted apart.
        assert!(ledger.try_acquire(ConnKind::WebSocket, ip("192.0.2.2"), 2).is_some());
        assert!(ledger.try_acquire(ConnKind::Http, a, 1).is_some());
        assert_eq!(ledger.addresses(), 2);
        ledger.release(first);
        assert_eq!(ledger.count(ConnKind::WebSocket, a), 1);
        assert!(ledger.try_acquire(ConnKind::WebSocket, a, 2).is_some());
    }

    #[test]
    fn ledger_forgets_addresses_without_connections() {
        let mut ledger = AddressLedger::default();
        let held: Vec<Held> = (0..3).filter_map(|i| ledger.try_acquire(ConnKind::Http, IpAddr::from([10, 0, 0, i]), 4)).collect();
        assert_eq!(ledger.addresses(), 3);
        for h in held {
            ledger.release(h);
        }
        assert_eq!(ledger.addresses(), 0);
        assert!(ledger.counts.is_empty());
    }
}
