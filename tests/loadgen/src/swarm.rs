//! The client swarm: every connection on one thread, driven by one mio poller.

use std::collections::VecDeque;
use std::io;
use std::ops::Range;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mio::{Events, Interest, Poll, Token};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use slab::Slab;

use super::args::Plan;
use super::client::{connect, source_address, Client, ClientSetup, Context, Ended, Stage};
use super::stats::PhaseStats;

/// Readiness events taken per poll call.
const EVENTS_PER_POLL_MAX: usize = 4096;
/// One read takes at most this much; a 16 KiB snapshot fits with room for the next one.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// The loop wakes at least this often (ramp schedule, keepalives, timeouts).
const TICK: Duration = Duration::from_millis(20);
/// How often keepalives and handshake timeouts are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(250);
/// Reconnection attempts per client after a failed one (storm only).
const RETRIES_MAX: u32 = 5;
/// Pause before a failed client retries (storm only), so a refused burst does not spin.
const RETRY_DELAY: Duration = Duration::from_millis(100);

fn wall_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64)
}

/// Whether logical client `id` is in the slow group: exactly floor(n * percent / 100) of the
/// first n ids are, spread evenly.
pub fn in_slow_group(id: usize, percent: f64) -> bool {
    let share = percent / 100.0;
    ((id + 1) as f64 * share).floor() > (id as f64 * share).floor()
}

pub struct Swarm<'p> {
    plan: &'p Plan,
    poll: Poll,
    events: Events,
    ready: Vec<usize>,
    clients: Slab<Client>,
    rng: ChaCha8Rng,
    scratch: Vec<u8>,
    /// What the clients saw since the last [`Swarm::take_stats`].
    pub stats: PhaseStats,
    /// Clients currently open and served (subscribed and given a snapshot).
    served: usize,
    /// Logical clients that failed with no retry left, since the last [`Swarm::reset_gave_up`].
    gave_up: usize,
    /// Failed clients reconnect (storm).
    pub retry_failed: bool,
    /// Clients subscribe (all scenarios but idle).
    pub subscribe: bool,
    /// Percent of logical clients in the slow group.
    slow_percent: f64,
    reopen: VecDeque<(Instant, usize, u32)>,
    next_housekeeping: Instant,
}

impl<'p> Swarm<'p> {
    pub fn new(plan: &'p Plan, slow_percent: f64) -> io::Result<Swarm<'p>> {
        Ok(Swarm {
            plan,
            poll: Poll::new()?,
            events: Events::with_capacity(EVENTS_PER_POLL_MAX),
            ready: Vec::with_capacity(EVENTS_PER_POLL_MAX),
            clients: Slab::with_capacity(plan.args.connections),
            rng: ChaCha8Rng::seed_from_u64(plan.args.seed),
            scratch: vec![0; READ_CHUNK_BYTES],
            stats: PhaseStats::default(),
            served: 0,
            gave_up: 0,
            retry_failed: false,
            subscribe: true,
            slow_percent,
            reopen: VecDeque::new(),
            next_housekeeping: Instant::now(),
        })
    }

    /// Returns the stats gathered so far and starts afresh.
    pub fn take_stats(&mut self) -> PhaseStats {
        std::mem::take(&mut self.stats)
    }

    pub fn served(&self) -> usize {
        self.served
    }

    pub fn gave_up(&self) -> usize {
        self.gave_up
    }

    pub fn reset_gave_up(&mut self) {
        self.gave_up = 0;
    }

    /// Clients still connecting or handshaking.
    pub fn pending(&self) -> usize {
        self.clients.iter().filter(|(_, c)| c.stage != Stage::Open).count()
    }

    pub fn open_count(&self) -> usize {
        self.clients.iter().filter(|(_, c)| c.stage == Stage::Open).count()
    }

    fn subscribe_message(&self, id: usize) -> (Option<String>, Vec<usize>) {
        if !self.subscribe {
            return (None, Vec::new());
        }
        let symbols = &self.plan.symbols;
        let indexes: Vec<usize> = (0..self.plan.args.symbols_per_client).map(|k| (id + k) % symbols.len()).collect();
        let names: Vec<String> = indexes.iter().map(|&i| format!("\"{}\"", symbols[i])).collect();
        (Some(format!("{{\"action\":\"subscribe\",\"symbols\":[{}]}}", names.join(","))), indexes)
    }

    /// Starts connecting logical client `id`.
    pub fn open(&mut self, id: usize, retries: u32) {
        self.stats.attempts += 1;
        if retries > 0 {
            self.stats.retries += 1;
        }
        let source = source_address(id, self.plan.args.clients_per_source);
        let rcvbuf = (self.plan.args.rcvbuf_bytes > 0).then_some(self.plan.args.rcvbuf_bytes);
        let mut stream = match connect(source, self.plan.args.target, rcvbuf) {
            Ok(stream) => stream,
            Err(e) => return self.failed(id, retries, &format!("socket: {}", e.kind())),
        };
        let key = self.clients.vacant_key();
        if let Err(e) = self.poll.registry().register(&mut stream, Token(key), Interest::READABLE | Interest::WRITABLE) {
            return self.failed(id, retries, &format!("register: {}", e.kind()));
        }
        let mut nonce = [0u8; 16];
        self.rng.fill_bytes(&mut nonce);
        let mask: [u8; 4] = self.rng.random();
        let (subscribe, symbols) = self.subscribe_message(id);
        let slow_group = in_slow_group(id, self.slow_percent);
        let inserted = self.clients.insert(Client::new(ClientSetup { id, stream, nonce, mask, subscribe, symbols, retries, slow_group }, Instant::now()));
        debug_assert_eq!(inserted, key);
    }

    fn failed(&mut self, id: usize, retries: u32, reason: &str) {
        self.stats.failure(reason);
        if self.retry_failed && retries < RETRIES_MAX {
            self.reopen.push_back((Instant::now() + RETRY_DELAY, id, retries + 1));
        } else {
            self.gave_up += 1;
        }
    }

    /// Drops client `key`; `ended` says why (None: we closed it).
    fn remove(&mut self, key: usize, ended: Option<Ended>) {
        let mut client = self.clients.remove(key);
        let _ = self.poll.registry().deregister(client.stream_mut());
        if client.served {
            self.served -= 1;
        }
        match ended {
            None => {}
            Some(Ended::Failed(reason)) => self.failed(client.id, client.retries, &reason),
            Some(Ended::ClosedByServer(reason)) => {
                self.stats.server_close(&reason);
                // A subscribing client closed before its first snapshot never got what it came for.
                if self.subscribe && !client.served {
                    self.failed(client.id, client.retries, &format!("closed before served: {reason}"));
                }
            }
        }
    }

    /// Closes every client (with a close frame) and returns their logical ids, in id order.
    pub fn close_all(&mut self) -> Vec<usize> {
        let keys: Vec<usize> = self.clients.iter().map(|(key, _)| key).collect();
        let mut ids = Vec::with_capacity(keys.len());
        for key in keys {
            self.clients[key].say_goodbye();
            ids.push(self.clients[key].id);
            self.remove(key, None);
        }
        ids.sort_unstable();
        ids
    }

    /// Closes `count` open clients chosen by the seeded generator; returns their logical ids.
    pub fn close_some(&mut self, count: usize) -> Vec<usize> {
        let mut keys: Vec<usize> = self.clients.iter().filter(|(_, c)| c.stage == Stage::Open).map(|(key, _)| key).collect();
        let count = count.min(keys.len());
        for i in 0..count {
            let j = self.rng.random_range(i..keys.len());
            keys.swap(i, j);
        }
        let mut ids = Vec::with_capacity(count);
        for &key in &keys[..count] {
            self.clients[key].say_goodbye();
            ids.push(self.clients[key].id);
            self.remove(key, None);
        }
        ids
    }

    /// Makes every client of the slow group stop reading; returns how many.
    pub fn stall_slow_group(&mut self) -> usize {
        let mut stalled = 0;
        for (_, client) in self.clients.iter_mut().filter(|(_, c)| c.slow_group) {
            client.stalled = true;
            stalled += 1;
        }
        stalled
    }

    /// Runs the loop until `deadline`.
    pub fn run_until(&mut self, deadline: Instant) -> io::Result<()> {
        self.run_while(deadline, |_| true).map(|_| ())
    }

    /// Runs the loop until `deadline` or until `keep_going` is false; true when it stopped early.
    pub fn run_while(&mut self, deadline: Instant, keep_going: impl Fn(&Swarm) -> bool) -> io::Result<bool> {
        loop {
            if !keep_going(self) {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            self.turn(deadline.min(now + TICK))?;
        }
    }

    /// Opens logical clients `ids` at `per_s` per second (0: at once) while running the loop,
    /// stopping at `deadline` if the ramp is not done by then.
    pub fn ramp(&mut self, ids: Range<usize>, per_s: f64, deadline: Instant) -> io::Result<()> {
        let started = Instant::now();
        let mut next = ids.start;
        while next < ids.end {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let due = if per_s == 0.0 { ids.end } else { ids.start + ((now - started).as_secs_f64() * per_s) as usize + 1 };
            while next < ids.end.min(due) {
                self.open(next, 0);
                next += 1;
            }
            self.turn(deadline.min(now + TICK))?;
        }
        Ok(())
    }

    /// One poll and everything due.
    fn turn(&mut self, until: Instant) -> io::Result<()> {
        let timeout = until.saturating_duration_since(Instant::now());
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        self.ready.clear();
        self.ready.extend(self.events.iter().map(|event| event.token().0));
        for i in 0..self.ready.len() {
            let key = self.ready[i];
            let Some(client) = self.clients.get_mut(key) else { continue };
            let ctx = Context { symbols: &self.plan.symbols, path: &self.plan.args.path, compression: self.plan.args.compression, now: Instant::now(), wall_us: &wall_us };
            let was_served = client.served;
            match client.on_ready(&mut self.scratch, &ctx, &mut self.stats) {
                Ok(()) => {
                    if client.served && !was_served {
                        self.served += 1;
                    }
                }
                Err(ended) => {
                    if client.served && !was_served {
                        self.served += 1;
                    }
                    self.remove(key, Some(ended));
                }
            }
        }
        let now = Instant::now();
        while self.reopen.front().is_some_and(|&(at, _, _)| at <= now) {
            if let Some((_, id, retries)) = self.reopen.pop_front() {
                self.open(id, retries);
            }
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + HOUSEKEEPING_INTERVAL;
            self.housekeeping(now);
        }
        Ok(())
    }

    /// Keepalive pings and handshake timeouts.
    fn housekeeping(&mut self, now: Instant) {
        let handshake_timeout = self.plan.settle_timeout;
        let mut ended: Vec<(usize, Ended)> = Vec::new();
        for (key, client) in self.clients.iter_mut() {
            if client.stage != Stage::Open {
                if now.duration_since(client.started) > handshake_timeout {
                    ended.push((key, Ended::Failed("handshake timeout".into())));
                }
                continue;
            }
            let Some(keepalive) = self.plan.keepalive else { continue };
            match client.next_ping {
                None => client.next_ping = Some(now + keepalive),
                Some(at) if at <= now => {
                    client.next_ping = Some(at + keepalive);
                    if let Err(e) = client.ping() {
                        ended.push((key, e));
                    }
                }
                Some(_) => {}
            }
        }
        for (key, why) in ended {
            self.remove(key, Some(why));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_percent_of_ten_thousand_clients_is_exactly_one_thousand_spread_evenly() {
        let members: Vec<usize> = (0..10_000).filter(|&id| in_slow_group(id, 10.0)).collect();
        assert_eq!(members.len(), 1000);
        assert!(members.windows(2).all(|w| w[1] - w[0] == 10));
    }

    #[test]
    fn zero_percent_selects_nobody_and_a_hundred_everybody() {
        assert!((0..1000).all(|id| !in_slow_group(id, 0.0)));
        assert!((0..1000).all(|id| in_slow_group(id, 100.0)));
    }
}
