//! Reading WebSocket clients and acting on their messages.

use std::io::{Read, Write};

use log::{error, info};
use tungstenite::error::{CapacityError, Error as WsError, ProtocolError};
use tungstenite::protocol::frame::coding::Data;
use tungstenite::Message;

use super::client::Endpoint;
use super::deflate;
use super::frame;
use super::inflate::InflatingReader;
use super::io::ReadSide;
use super::protocol::{self, close_code, ClientRequest, ErrorCode};
use super::stats::DisconnectReason;
use super::time::Now;
use super::{ConnId, Core, MutationPolicy};

/// RATE_LIMITED errors are sent at most this often per client, so a flood does not turn into a
/// flood of errors.
const RATE_LIMITED_NOTICE_INTERVAL_MS: u64 = 1000;

/// What one read step produced.
enum Step {
    Message(Message),
    /// Nothing more to read now (would block, or the turn's budget is spent).
    Pause { budget_exhausted: bool },
    /// The peer is gone: end of stream or a hard error.
    PeerGone,
    /// The client broke the protocol or a limit; close with this code.
    Violation(u16, &'static str, DisconnectReason),
}

impl<M: MutationPolicy> Core<M> {
    pub(super) fn read_websocket<S: Read + Write>(&mut self, now: Now, id: ConnId, stream: &mut S) {
        let mut budget = self.config.read_bytes_per_turn_max;
        loop {
            let mut replies = Vec::new();
            let step = {
                let Some(ws) = self.clients.get_mut(id).and_then(|c| c.ws_mut()) else { return };
                let mut side = ReadSide::new(stream, &mut replies, budget);
                let result = match ws.inflate.as_deref_mut() {
                    Some(state) => ws.ctx.read(&mut InflatingReader { inner: &mut side, state }),
                    None => ws.ctx.read(&mut side),
                };
                // tungstenite answers pings and close frames on its next write; take those
                // answers now so they are queued in order behind everything already queued.
                let _ = ws.ctx.flush(&mut side);
                budget = side.budget_bytes;
                if side.bytes_read > 0 {
                    ws.last_received = now.mono;
                }
                match ws.inflate.as_ref().and_then(|state| state.failure()) {
                    Some((code, reason)) => {
                        let why = if code == close_code::MESSAGE_TOO_BIG { DisconnectReason::MessageTooBig } else { DisconnectReason::ProtocolError };
                        Step::Violation(code, reason, why)
                    }
                    None => classify(result, side.eof, side.failed.is_some(), side.budget_exhausted),
                }
            };
            self.push_raw_reply(now, id, replies);
            match step {
                Step::Message(message) => self.on_ws_message(now, id, message),
                Step::Pause { budget_exhausted } => {
                    if budget_exhausted {
                        self.want_read_again(id);
                    }
                    break;
                }
                Step::PeerGone => {
                    self.on_peer_gone(now, id);
                    return;
                }
                Step::Violation(code, reason, why) => {
                    // Messages read before the bad frame were answered above; those answers go
                    // out before the close.
                    self.close_after_replies(now, id, code, reason, why);
                    if let Some(closing) = self.clients.get_mut(id).and_then(|c| c.closing.as_mut()) {
                        // The stream is out of sync; do not wait for anything more from the peer.
                        closing.peer_done = true;
                    }
                    return;
                }
            }
            if !self.clients.contains(id) {
                return;
            }
        }
        self.reschedule(id);
    }

    /// The peer closed its side or vanished.
    fn on_peer_gone(&mut self, now: Now, id: ConnId) {
        let Some(client) = self.clients.get_mut(id) else { return };
        match client.closing.as_mut() {
            Some(closing) if !client.out.is_empty() => closing.peer_done = true,
            Some(closing) => {
                let reason = closing.reason;
                self.remove(now, id, reason);
            }
            None => {
                self.remove(now, id, DisconnectReason::PeerGone);
                if self.mutations.peer_gone_removes_neighbour() {
                    if let Some(other) = self.clients.iter().map(|(other, _)| other).next() {
                        self.remove(now, other, DisconnectReason::PeerGone);
                    }
                }
            }
        }
    }

    fn on_ws_message(&mut self, now: Now, id: ConnId, message: Message) {
        let Some(client) = self.clients.get_mut(id) else { return };
        if client.closing.is_some() {
            // After our close frame only the peer's close matters.
            if let Message::Close(_) = message {
                self.on_peer_gone(now, id);
            }
            return;
        }
        let Some(ws) = client.ws_mut() else { return };
        let endpoint = ws.endpoint;
        match message {
            Message::Close(_) => {
                // tungstenite queued the close echo with the replies already.
                self.mark_client_closed(now, id);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {
                if !ws.rate.try_take(now.mono) {
                    // A control-frame flood: tungstenite's automatic pong was queued; that is
                    // bounded by the reply limit, which closes a client that floods and never reads.
                }
            }
            Message::Text(text) if endpoint == Endpoint::Echo => {
                let bytes = echo_frame(ws.deflate, self.config.ws_compression_min_bytes, Data::Text, text.as_bytes());
                self.push_raw_reply(now, id, bytes);
            }
            Message::Binary(data) if endpoint == Endpoint::Echo => {
                let bytes = echo_frame(ws.deflate, self.config.ws_compression_min_bytes, Data::Binary, &data);
                self.push_raw_reply(now, id, bytes);
            }
            Message::Text(text) => {
                if !ws.rate.try_take(now.mono) {
                    self.on_rate_limited(now, id);
                    return;
                }
                self.on_client_text(now, id, text.as_str());
            }
            Message::Binary(_) => {
                if !ws.rate.try_take(now.mono) {
                    self.on_rate_limited(now, id);
                    return;
                }
                self.send_error(now, id, ErrorCode::InvalidMessage, "binary messages are not accepted; send JSON text", None);
            }
        }
    }

    /// The client sent a close frame; tungstenite's echo is queued, release once it is out.
    fn mark_client_closed(&mut self, now: Now, id: ConnId) {
        let close_timeout_ms = self.config.close_timeout_ms;
        let Some(client) = self.clients.get_mut(id) else { return };
        client.closing = Some(super::client::Closing {
            reason: DisconnectReason::ClientClosed,
            deadline: now.mono.plus_ms(close_timeout_ms),
            peer_done: true,
        });
        self.unsubscribe_all(id);
        if self.clients[id].out.is_empty() {
            self.remove(now, id, DisconnectReason::ClientClosed);
        } else {
            self.want_transmit(id);
            self.reschedule(id);
        }
    }

    fn on_rate_limited(&mut self, now: Now, id: ConnId) {
        let Some(ws) = self.clients.get_mut(id).and_then(|c| c.ws_mut()) else { return };
        let due = ws
            .rate_limited_notice_at
            .is_none_or(|at| now.mono >= at.plus_ms(RATE_LIMITED_NOTICE_INTERVAL_MS));
        if due {
            ws.rate_limited_notice_at = Some(now.mono);
            let message = format!(
                "too many messages: at most {} per second (burst {}); this message was ignored",
                self.config.rate_limit_messages_per_s, self.config.rate_limit_burst_messages
            );
            self.send_error(now, id, ErrorCode::RateLimited, &message, None);
        }
    }

    pub(super) fn send_error(&mut self, now: Now, id: ConnId, code: ErrorCode, message: &str, symbols: Option<&[String]>) {
        *self.stats.errors_total.entry(code.as_str()).or_insert(0) += 1;
        self.metrics.error_sent(code);
        if let Some(client) = self.clients.get(id) {
            error!(
                "event=ws_error peer={} conn={} code={} message={:?} active={}",
                client.peer,
                id,
                code.as_str(),
                message,
                self.ledger.ws_open()
            );
        }
        let text = protocol::error(code, message, symbols);
        self.push_reply(now, id, &text);
    }

    fn on_client_text(&mut self, now: Now, id: ConnId, text: &str) {
        match protocol::parse_client_message(text, self.config.symbols_per_request_max) {
            Ok(ClientRequest::Ping) => {
                let text = protocol::pong(now.wall_unix_ms);
                self.push_reply(now, id, &text);
            }
            Ok(ClientRequest::Subscribe(symbols)) => self.subscribe(now, id, symbols),
            Ok(ClientRequest::Unsubscribe(symbols)) => self.unsubscribe(now, id, symbols),
            Err(refusal) => self.send_error(now, id, refusal.code, &refusal.message, None),
        }
    }

    /// Splits requested symbols into supported indexes and unsupported names.
    fn split_symbols(&self, symbols: Vec<String>) -> (Vec<usize>, Vec<String>) {
        let mut valid = Vec::new();
        let mut invalid = Vec::new();
        for symbol in symbols {
            match self.config.symbol_index(&symbol) {
                Some(index) => valid.push(index),
                None => invalid.push(symbol),
            }
        }
        (valid, invalid)
    }

    fn subscribe(&mut self, now: Now, id: ConnId, symbols: Vec<String>) {
        let (valid, invalid) = self.split_symbols(symbols);
        let per_client_max = self.config.symbols_per_request_max;
        let Some(ws) = self.clients.get_mut(id).and_then(|c| c.ws_mut()) else { return };
        let mut newly = Vec::new();
        let mut over_limit = Vec::new();
        for index in valid {
            let bit = 1u64 << index;
            if ws.subscriptions & bit != 0 {
                continue;
            }
            if ws.subscriptions.count_ones() as usize >= per_client_max {
                over_limit.push(self.symbols[index].name.clone());
                continue;
            }
            ws.subscriptions |= bit;
            newly.push(index);
        }
        let subscriptions = ws.subscriptions;
        for &index in &newly {
            self.symbols[index].subscribers.insert(id);
        }
        let all: Vec<&str> = self
            .symbols
            .iter()
            .enumerate()
            .filter(|(i, _)| subscriptions & (1 << i) != 0)
            .map(|(_, s)| s.name.as_str())
            .collect();
        if !newly.is_empty() || invalid.is_empty() && over_limit.is_empty() {
            let text = protocol::symbols_reply("subscribed", &all);
            if let Some(client) = self.clients.get(id) {
                let names: Vec<&str> = newly.iter().map(|&i| self.symbols[i].name.as_str()).collect();
                info!(
                    "event=ws_subscribe peer={} conn={} symbols={} active={}",
                    client.peer,
                    id,
                    names.join(","),
                    self.ledger.ws_open()
                );
            }
            self.push_reply(now, id, &text);
        }
        self.report_unsupported(now, id, &invalid);
        if !over_limit.is_empty() {
            let message = format!("a client may subscribe to at most {per_client_max} symbols");
            self.send_error(now, id, ErrorCode::InvalidMessage, &message, Some(&over_limit));
        }
        for index in newly {
            if let Some(latest) = self.symbols[index].latest.clone() {
                let chunk = self.snapshot_chunk(id, &latest.frame, latest.frame_deflated.as_ref());
                self.enqueue_snapshot(now, id, index, latest.seq, chunk);
            }
        }
        self.update_demand();
    }

    fn unsubscribe(&mut self, now: Now, id: ConnId, symbols: Vec<String>) {
        let (valid, invalid) = self.split_symbols(symbols);
        let Some(client) = self.clients.get_mut(id) else { return };
        let peer = client.peer;
        let Some(ws) = client.ws_mut() else { return };
        for &index in &valid {
            ws.subscriptions &= !(1u64 << index);
        }
        for &index in &valid {
            self.symbols[index].subscribers.remove(&id);
            // Unsent snapshots of a symbol the client no longer wants are not sent.
            self.clients[id].out.remove_unsent_snapshots(index);
        }
        let names: Vec<&str> = valid.iter().map(|&i| self.symbols[i].name.as_str()).collect();
        if !valid.is_empty() || invalid.is_empty() {
            info!(
                "event=ws_unsubscribe peer={peer} conn={id} symbols={} active={}",
                names.join(","),
                self.ledger.ws_open()
            );
            let text = protocol::symbols_reply("unsubscribed", &names);
            self.push_reply(now, id, &text);
        }
        self.report_unsupported(now, id, &invalid);
        self.update_demand();
    }

    /// One INVALID_SYMBOL error naming every unsupported symbol of a request, if there are any.
    fn report_unsupported(&mut self, now: Now, id: ConnId, invalid: &[String]) {
        if invalid.is_empty() {
            return;
        }
        let message = format!("unsupported symbol(s); supported: {}", self.config.supported_symbols.join(","));
        self.send_error(now, id, ErrorCode::InvalidSymbol, &message, Some(invalid));
    }

    /// Removes `id` from every symbol it subscribes to.
    pub(super) fn unsubscribe_all(&mut self, id: ConnId) {
        let Some(ws) = self.clients.get_mut(id).and_then(|c| c.ws_mut()) else { return };
        let subscriptions = std::mem::take(&mut ws.subscriptions);
        if subscriptions == 0 {
            return;
        }
        for (index, state) in self.symbols.iter_mut().enumerate() {
            if subscriptions & (1 << index) != 0 {
                state.subscribers.remove(&id);
            }
        }
        self.update_demand();
    }
}

/// The echo of one message: compressed with the agreed window when the connection negotiated
/// permessage-deflate and the message is at least `min_bytes` long, plain otherwise.
fn echo_frame(agreed: Option<deflate::Agreed>, min_bytes: usize, kind: Data, payload: &[u8]) -> Vec<u8> {
    match agreed {
        Some(agreed) if payload.len() >= min_bytes => deflate::deflated_frame(kind, payload, agreed.server_window_bits),
        _ if kind == Data::Text => frame::text_frame(payload),
        _ => frame::binary_frame(payload),
    }
}

/// Maps tungstenite's read result to what the core does next.
fn classify(result: tungstenite::Result<Message>, eof: bool, failed: bool, budget_exhausted: bool) -> Step {
    match result {
        Ok(message) => Step::Message(message),
        Err(WsError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock && !failed => {
            Step::Pause { budget_exhausted }
        }
        Err(WsError::Io(_)) | Err(WsError::ConnectionClosed) | Err(WsError::AlreadyClosed) => Step::PeerGone,
        Err(WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake)) => Step::PeerGone,
        Err(_) if eof => Step::PeerGone,
        // tungstenite reads the 64-bit length whole and reports it as too long; RFC 6455 §5.2
        // makes its most significant bit a protocol error, not a size. Lengths are reported as
        // usize, which holds all 64 bits on the 64-bit targets this server builds for.
        Err(WsError::Capacity(CapacityError::MessageTooLong { size, .. })) if size as u64 > i64::MAX as u64 => {
            Step::Violation(close_code::PROTOCOL_ERROR, "frame length has its most significant bit set", DisconnectReason::ProtocolError)
        }
        Err(WsError::Capacity(_)) => Step::Violation(
            close_code::MESSAGE_TOO_BIG,
            "message too big",
            DisconnectReason::MessageTooBig,
        ),
        Err(WsError::Utf8(_)) => Step::Violation(1007, "invalid UTF-8 in text message", DisconnectReason::ProtocolError),
        Err(_) => Step::Violation(close_code::PROTOCOL_ERROR, "protocol error", DisconnectReason::ProtocolError),
    }
}
