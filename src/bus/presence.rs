//! One running process per `NODE_ID`: a presence key per node, `lhm:node:{NODE_ID}`, held like
//! the lease (`SET key token NX PX ttl`, renewed by compare-and-extend every third of
//! `REDIS_LEASE_TTL_MS`, deleted by compare-and-delete on a clean shutdown). Two processes with
//! the same id would make `/health`, the probe channel and the logs ambiguous.
//!
//! - At startup ([`check_at_startup`]) a node whose key is held and **renewed** by someone else
//!   refuses to start (exit 2, naming `NODE_ID`). A key that only runs out is the previous run
//!   of this node (killed without a clean shutdown): it waits for it, at most one TTL and a half.
//!   Redis unreachable at startup: nothing can be checked yet, the running check below covers it.
//! - While running (`bus-control`, [`Presence::step`]): when another process holds the key, the
//!   node logs `event=bus_duplicate_node_id` (error) and `/health` shows `bus.duplicate_node_id:
//!   true` and `degraded` until the key is ours again (two nodes started at the same instant both
//!   pass the startup check; one of them then reports it).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use log::{error, info};
use redis::{Connection, RedisResult, Script};

use super::lease;
use super::shared::{self, Shared};
use super::BusSettings;

/// Deletes the key if `ARGV[1]` still holds it.
const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"#;

/// How often the startup check looks at the key, ms.
const STARTUP_POLL_MS: u64 = 100;
/// A renewal shows as the key's remaining time going up by more than this, ms (clock-free: both
/// readings come from Redis).
const RENEWAL_SLACK_MS: i64 = 50;

/// The presence key of `node_id`.
pub fn key(node_id: &str) -> String {
    format!("lhm:node:{node_id}")
}

/// Errors (the message names `NODE_ID`) when another running process renews this node id's
/// presence key; waits for a key that only runs out (at most 1.5 × `REDIS_LEASE_TTL_MS`).
pub fn check_at_startup(settings: &BusSettings) -> Result<(), String> {
    let mut con = match shared::connect(settings) {
        Ok(con) => con,
        Err(e) => {
            info!("event=bus_presence_unchecked node={} error={:?} detail=\"checked once Redis answers\"", settings.node_id, e.to_string());
            return Ok(());
        }
    };
    let key = key(&settings.node_id);
    let deadline = Instant::now() + Duration::from_millis(settings.lease_ttl_ms + settings.lease_ttl_ms / 2);
    let mut last_left_ms: Option<i64> = None;
    loop {
        // PTTL: -2 no key, -1 no expiry (not ours to judge: treated as held).
        let left_ms: i64 = match redis::cmd("PTTL").arg(&key).query(&mut con) {
            Ok(left) => left,
            Err(e) => {
                info!("event=bus_presence_unchecked node={} error={:?}", settings.node_id, e.to_string());
                return Ok(());
            }
        };
        if left_ms == -2 {
            return Ok(());
        }
        let renewed = last_left_ms.is_some_and(|before| left_ms > before + RENEWAL_SLACK_MS);
        if renewed || Instant::now() >= deadline {
            let holder: Option<String> = redis::cmd("GET").arg(&key).query(&mut con).unwrap_or(None);
            return Err(format!(
                "NODE_ID={:?}: another running node uses this id (its presence key {key} is held by {:?} and kept alive); give every node its own NODE_ID",
                settings.node_id,
                holder.unwrap_or_default()
            ));
        }
        if last_left_ms.is_none() {
            info!("event=bus_presence_wait node={} key={key} left_ms={left_ms} detail=\"a previous run's key: waiting for it to run out\"", settings.node_id);
        }
        last_left_ms = Some(left_ms);
        std::thread::sleep(Duration::from_millis(STARTUP_POLL_MS));
    }
}

/// `bus-control`'s side: holds and renews the key; reports a duplicate.
pub struct Presence {
    token: String,
    release: Script,
}

impl Presence {
    /// `token` is unique per process run (node id and boot time).
    pub fn new(token: String) -> Presence {
        Presence { token, release: Script::new(RELEASE) }
    }

    /// Renews or takes the key; when another process holds it, flags the node (`/health`
    /// degraded) and logs it once per change.
    pub fn step(&self, shared: &Shared, con: &mut Connection, scripts: &lease::Scripts) -> RedisResult<()> {
        let settings = &shared.settings;
        let key = key(&settings.node_id);
        let ours = scripts.extend(con, &key, &self.token, settings.lease_ttl_ms)? || lease::acquire(con, &key, &self.token, settings.lease_ttl_ms)?;
        let was_duplicate = shared.duplicate_node.swap(!ours, Ordering::AcqRel);
        if !ours && !was_duplicate {
            let holder: Option<String> = redis::cmd("GET").arg(&key).query(con)?;
            let holder = holder.unwrap_or_default();
            error!(
                "event=bus_duplicate_node_id node={} key={key} held_by={holder:?} detail=\"another running process uses this NODE_ID: /health is degraded; give every node its own NODE_ID\"",
                settings.node_id
            );
            shared.wake();
        } else if ours && was_duplicate {
            info!("event=bus_duplicate_node_id_gone node={}", settings.node_id);
            shared.wake();
        }
        Ok(())
    }

    /// Deletes the key if it is still ours (clean shutdown: a restart need not wait for it).
    pub fn release(&self, con: &mut Connection, node_id: &str) {
        let _ = self.release.key(key(node_id)).arg(&self.token).invoke::<i64>(con);
    }
}
