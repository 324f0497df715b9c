//! The leader lease and the fenced publish, as Redis commands and Lua scripts.
//!
//! - Acquire: `SET lhm:leader <token> NX PX <ttl>` (the Redis documentation's single-instance
//!   lock pattern, <https://redis.io/docs/latest/commands/set/>).
//! - Renew: compare-and-extend ([`EXTEND`]): `PEXPIRE` only while the key still holds our token.
//! - Publish: [`PUBLISH_FENCED`] checks the token, appends to the capped history stream
//!   (`XADD ... MAXLEN n`) and `PUBLISH`es, in one script: Redis runs a script atomically, so a
//!   leader whose lease expired (paused past its TTL) can never publish, and a publish is in the
//!   history exactly when it was published. The script also refuses a `seq` at or before the
//!   history's newest one in the same `epoch`, so a leader continuing another's epoch
//!   (`src/bus/lineage.rs`) can never publish a position twice.
//!
//! Tokens are `"{node_id}#{epoch prefix}"`, unique per acquisition; `/health` shows the node id.

use redis::{Connection, RedisResult, Script, Value};

/// Renews the lease if `ARGV[1]` still holds it. Returns 1 when extended, 0 otherwise.
pub const EXTEND: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"#;

/// KEYS: lease, history stream. ARGV: token, channel, message, history max, epoch, seq.
/// Returns the number of subscribers reached, -1 when the caller does not hold the lease, -2
/// when the history's newest entry is of the same epoch at this seq or later.
pub const PUBLISH_FENCED: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local newest = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if newest then
  local fields, epoch, seq = newest[2], nil, nil
  for i = 1, #fields, 2 do
    if fields[i] == 'epoch' then epoch = fields[i + 1] elseif fields[i] == 'seq' then seq = tonumber(fields[i + 1]) end
  end
  if epoch == ARGV[5] and seq and seq >= tonumber(ARGV[6]) then
    return -2
  end
end
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], '*', 'epoch', ARGV[5], 'seq', ARGV[6], 'message', ARGV[3])
return redis.call('PUBLISH', ARGV[2], ARGV[3])
"#;

/// The loaded scripts (EVALSHA, falling back to EVAL after a Redis restart lost them).
pub struct Scripts {
    extend: Script,
    publish: Script,
}

impl Default for Scripts {
    fn default() -> Scripts {
        Scripts { extend: Script::new(EXTEND), publish: Script::new(PUBLISH_FENCED) }
    }
}

/// Outcome of a fenced publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// Published and appended to the history; this many subscriptions received it.
    Delivered(i64),
    /// The caller no longer holds the lease: nothing was published.
    Refused,
    /// The history already holds this `seq` (or a later one) of this `epoch`: nothing was
    /// published (a position is never published twice).
    SeqUsed,
}

/// Tries to take the free lease with `token` for `ttl_ms`; true when taken.
pub fn acquire(con: &mut Connection, key: &str, token: &str, ttl_ms: u64) -> RedisResult<bool> {
    let reply: Value = redis::cmd("SET").arg(key).arg(token).arg("NX").arg("PX").arg(ttl_ms).query(con)?;
    Ok(matches!(reply, Value::Okay) || matches!(&reply, Value::SimpleString(s) if s == "OK"))
}

/// Who holds the lease (the node id part of its token), if anyone.
pub fn holder(con: &mut Connection, key: &str) -> RedisResult<Option<String>> {
    let token: Option<String> = redis::cmd("GET").arg(key).query(con)?;
    Ok(token.map(|t| node_of_token(&t).to_string()))
}

/// The node id in a lease token.
pub fn node_of_token(token: &str) -> &str {
    token.rsplit_once('#').map_or(token, |(node, _)| node)
}

impl Scripts {
    /// Extends the lease held with `token` to `ttl_ms` from now; false when it is not ours.
    pub fn extend(&self, con: &mut Connection, key: &str, token: &str, ttl_ms: u64) -> RedisResult<bool> {
        let extended: i64 = self.extend.key(key).arg(token).arg(ttl_ms).invoke(con)?;
        Ok(extended == 1)
    }

    /// Publishes `message` (symbol's snapshot at `epoch`/`seq`) if `token` holds the lease.
    #[allow(clippy::too_many_arguments)]
    pub fn publish(
        &self,
        con: &mut Connection,
        lease_key: &str,
        token: &str,
        symbol: &str,
        epoch: &str,
        seq: u64,
        message: &str,
        history_max: u64,
    ) -> RedisResult<Published> {
        let reached: i64 = self
            .publish
            .key(lease_key)
            .key(super::keys::history(symbol))
            .arg(token)
            .arg(super::keys::channel(symbol))
            .arg(message)
            .arg(history_max)
            .arg(epoch)
            .arg(seq)
            .invoke(con)?;
        Ok(match reached {
            -2 => Published::SeqUsed,
            r if r < 0 => Published::Refused,
            r => Published::Delivered(r),
        })
    }
}

/// Reads `symbol`'s history stream, oldest first: the `message` field of at most `count` entries.
pub fn read_history(con: &mut Connection, symbol: &str, count: u64) -> RedisResult<Vec<Vec<u8>>> {
    // XREVRANGE + COUNT: the newest `count`, then reversed into append order.
    let reply: Value = redis::cmd("XREVRANGE").arg(super::keys::history(symbol)).arg("+").arg("-").arg("COUNT").arg(count).query(con)?;
    let mut messages = Vec::new();
    if let Value::Array(entries) = reply {
        for entry in entries {
            let Value::Array(parts) = entry else { continue };
            let Some(Value::Array(fields)) = parts.get(1) else { continue };
            for pair in fields.chunks(2) {
                if let [Value::BulkString(name), Value::BulkString(value)] = pair {
                    if name == b"message" {
                        messages.push(value.clone());
                    }
                }
            }
        }
    }
    messages.reverse();
    Ok(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_token_names_its_node() {
        assert_eq!(node_of_token("web-1:8000#web-1:8000.19b.3"), "web-1:8000");
        assert_eq!(node_of_token("plain"), "plain");
    }
}
