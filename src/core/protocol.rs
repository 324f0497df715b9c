//! The `/ws/heatmap` JSON protocol: what clients may send and what the server answers.
//! Documented for users in docs/websocket_api.md.

use serde::Serialize;
use serde_json::Value;

/// Error codes sent in `{"type":"error","code":...}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidSymbol,
    InvalidAction,
    InvalidMessage,
    RateLimited,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 4] = [
        ErrorCode::InvalidSymbol,
        ErrorCode::InvalidAction,
        ErrorCode::InvalidMessage,
        ErrorCode::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidSymbol => "INVALID_SYMBOL",
            ErrorCode::InvalidAction => "INVALID_ACTION",
            ErrorCode::InvalidMessage => "INVALID_MESSAGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
        }
    }
}

/// WebSocket close codes the server sends (all documented in docs/websocket_api.md).
pub mod close_code {
    /// Server shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// A client message larger than the limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// A protocol violation by the client (unmasked frame, bad opcode, invalid UTF-8 text).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The server is at its connection limit (used when a full server still completes a handshake).
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The client did not keep up with the stream.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// The client sent nothing for the idle timeout.
    pub const IDLE_TIMEOUT: u16 = 4002;
}

/// A valid client request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientRequest {
    Subscribe(Vec<String>),
    Unsubscribe(Vec<String>),
    Ping,
}

/// Why a client message was refused; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    fn invalid_message(message: impl Into<String>) -> Refusal {
        Refusal { code: ErrorCode::InvalidMessage, message: message.into() }
    }
}

/// Parses one text message. `symbols_max` bounds the `symbols` array.
pub fn parse_client_message(text: &str, symbols_max: usize) -> Result<ClientRequest, Refusal> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Refusal::invalid_message(format!("message is not valid JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(Refusal::invalid_message("message must be a JSON object"));
    };
    let action = match object.get("action") {
        Some(Value::String(action)) => action.as_str(),
        Some(_) => return Err(Refusal::invalid_message("\"action\" must be a string")),
        None => return Err(Refusal::invalid_message("message has no \"action\" field")),
    };
    match action {
        "ping" => Ok(ClientRequest::Ping),
        "subscribe" | "unsubscribe" => {
            let symbols = parse_symbols(object.get("symbols"), symbols_max)?;
            Ok(if action == "subscribe" {
                ClientRequest::Subscribe(symbols)
            } else {
                ClientRequest::Unsubscribe(symbols)
            })
        }
        other => Err(Refusal {
            code: ErrorCode::InvalidAction,
            message: format!(
                "unknown action {:?}; expected \"subscribe\", \"unsubscribe\" or \"ping\"",
                truncate(other, 64)
            ),
        }),
    }
}

fn parse_symbols(value: Option<&Value>, symbols_max: usize) -> Result<Vec<String>, Refusal> {
    let Some(Value::Array(items)) = value else {
        return Err(Refusal::invalid_message("\"symbols\" must be an array of strings"));
    };
    if items.is_empty() || items.len() > symbols_max {
        return Err(Refusal::invalid_message(format!(
            "\"symbols\" must hold 1 to {symbols_max} symbols, got {}",
            items.len()
        )));
    }
    let mut symbols: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(symbol) = item else {
            return Err(Refusal::invalid_message("\"symbols\" must be an array of strings"));
        };
        if !symbols.contains(symbol) {
            symbols.push(symbol.clone());
        }
    }
    Ok(symbols)
}

fn truncate(text: &str, chars_max: usize) -> String {
    text.chars().take(chars_max).collect()
}

#[derive(Serialize)]
struct SymbolsReply<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    symbols: &'a [&'a str],
}

/// `{"type":"subscribed","symbols":[...]}` or `{"type":"unsubscribed",...}`.
pub fn symbols_reply(kind: &'static str, symbols: &[&str]) -> String {
    to_json(&SymbolsReply { kind, symbols })
}

#[derive(Serialize)]
struct Pong {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: i64,
}

/// `{"type":"pong","timestamp":<unix ms>}`.
pub fn pong(wall_unix_ms: i64) -> String {
    to_json(&Pong { kind: "pong", timestamp: wall_unix_ms })
}

#[derive(Serialize)]
struct ErrorReply<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbols: Option<&'a [String]>,
}

/// `{"type":"error","code":...,"message":...,"symbols":[...]}`.
pub fn error(code: ErrorCode, message: &str, symbols: Option<&[String]>) -> String {
    to_json(&ErrorReply { kind: "error", code: code.as_str(), message, symbols })
}

#[derive(Serialize)]
struct Warning<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    code: &'static str,
    message: &'a str,
    dropped_messages: u64,
}

/// `{"type":"warning","code":"SLOW_CONSUMER",...}`.
pub fn slow_consumer_warning(dropped_messages: u64, grace_ms: u64) -> String {
    let message = format!(
        "you are not reading fast enough; snapshots are being conflated and the connection will be \
         closed if you stay stalled for {} ms",
        grace_ms
    );
    to_json(&Warning { kind: "warning", code: "SLOW_CONSUMER", message: &message, dropped_messages })
}

/// The parts of a snapshot message that vary; `data_json` is inserted verbatim.
pub struct SnapshotEnvelope<'a> {
    pub symbol: &'a str,
    pub seq: u64,
    pub epoch: &'a str,
    pub timestamp: &'a str,
    pub sent_at_ms: i64,
    pub source: &'a str,
    pub data_json: &'a str,
}

/// `{"type":"snapshot","symbol":..,"seq":..,"epoch":..,"timestamp":..,"sent_at_ms":..,"source":..,"data":{..}}`.
/// Built by hand around the already serialised `data` so the payload is not parsed again.
pub fn snapshot_message(e: &SnapshotEnvelope<'_>) -> String {
    let mut out = String::with_capacity(e.data_json.len() + 192);
    out.push_str("{\"type\":\"snapshot\",\"symbol\":");
    out.push_str(&to_json(&e.symbol));
    out.push_str(",\"seq\":");
    out.push_str(&e.seq.to_string());
    out.push_str(",\"epoch\":");
    out.push_str(&to_json(&e.epoch));
    out.push_str(",\"timestamp\":");
    out.push_str(&to_json(&e.timestamp));
    out.push_str(",\"sent_at_ms\":");
    out.push_str(&e.sent_at_ms.to_string());
    out.push_str(",\"source\":");
    out.push_str(&to_json(&e.source));
    out.push_str(",\"data\":");
    out.push_str(e.data_json);
    out.push('}');
    out
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serialising these plain structs and strings cannot fail.
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribe_with_symbols_parses() {
        let request = parse_client_message(r#"{"action":"subscribe","symbols":["BTCUSDT","ETHUSDT"]}"#, 10);
        assert_eq!(
            request,
            Ok(ClientRequest::Subscribe(vec!["BTCUSDT".into(), "ETHUSDT".into()]))
        );
    }

    #[test]
    fn repeated_symbols_in_one_request_count_once() {
        let request = parse_client_message(r#"{"action":"unsubscribe","symbols":["A","A"]}"#, 10);
        assert_eq!(request, Ok(ClientRequest::Unsubscribe(vec!["A".into()])));
    }

    #[test]
    fn unknown_action_is_invalid_action() {
        let refusal = parse_client_message(r#"{"action":"dance"}"#, 10).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::InvalidAction);
        assert!(refusal.message.contains("dance"));
    }

    #[test]
    fn not_json_is_invalid_message() {
        let refusal = parse_client_message("hello", 10).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::InvalidMessage);
    }

    #[test]
    fn wrong_shape_is_invalid_message() {
        for text in [
            "[1,2]",
            r#"{"symbols":["BTCUSDT"]}"#,
            r#"{"action":5}"#,
            r#"{"action":"subscribe"}"#,
            r#"{"action":"subscribe","symbols":"BTCUSDT"}"#,
            r#"{"action":"subscribe","symbols":[1]}"#,
            r#"{"action":"subscribe","symbols":[]}"#,
        ] {
            let refusal = parse_client_message(text, 10).unwrap_err();
            assert_eq!(refusal.code, ErrorCode::InvalidMessage, "{text}");
        }
    }

    #[test]
    fn more_symbols_than_the_bound_is_invalid_message() {
        let symbols: Vec<String> = (0..11).map(|i| format!("\"S{i}\"")).collect();
        let text = format!(r#"{{"action":"subscribe","symbols":[{}]}}"#, symbols.join(","));
        let refusal = parse_client_message(&text, 10).unwrap_err();
        assert_eq!(refusal.code, ErrorCode::InvalidMessage);
        assert!(refusal.message.contains("1 to 10"));
    }

    #[test]
    fn snapshot_message_is_valid_json_with_data_verbatim() {
        let text = snapshot_message(&SnapshotEnvelope {
            symbol: "BTCUSDT",
            seq: 7,
            epoch: "e\"1",
            timestamp: "2026-06-14T14:55:00Z",
            sent_at_ms: 1_750_000_000_000,
            source: "binance",
            data_json: r#"{"levels":[]}"#,
        });
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["type"], "snapshot");
        assert_eq!(value["seq"], 7);
        assert_eq!(value["epoch"], "e\"1");
        assert_eq!(value["data"]["levels"], Value::Array(vec![]));
    }
}
