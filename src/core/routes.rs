//! What each HTTP path answers. Everything here is computed from core state; REST queries that
//! need the database are handed out as [`Output::Query`].

use std::io::{Read, Write};

use serde_json::{json, Map, Value};
use tungstenite::http::Method;

use super::client::{Endpoint, PendingQuery, Phase, IF_NONE_MATCH_BYTES_MAX};
use super::http_encoding;
use super::http::Request;
use super::http_conn::ResponseMeta;
use super::queue::Chunk;
use super::static_files::LookupError;
use super::symbols::ProducerStatus;
use super::time::Now;
use super::{ConnId, Core, MutationPolicy, Output, QueryRequest};

/// The page served at `/`.
pub const INDEX_FILE: &str = "coinglass_heatmap.html";

/// Paths answered by the query worker.
pub const QUERY_PATHS: [&str; 4] = ["/liquidations/heatmap-timeseries", "/liquidations/realised", "/prices/klines", "/metrics"];

impl<M: MutationPolicy> Core<M> {
    pub(super) fn route<S: Read + Write>(&mut self, now: Now, id: ConnId, request: Request, _stream: &mut S) {
        let keep_alive = request.keep_alive;
        let head_only = request.is_head();
        if request.head.method() != Method::GET && request.head.method() != Method::HEAD {
            // We never read request bodies, so the connection cannot be reused after this.
            let body = super::http::error_body("METHOD_NOT_ALLOWED", &format!("method {} is not allowed; use GET or HEAD", request.head.method()));
            let meta = ResponseMeta { content_type: "application/json", keep_alive: false, head_only: false, extra_headers: &[("Allow", "GET, HEAD")] };
            self.respond(now, id, 405, meta, Chunk::Owned(body.into_boxed_slice()));
            return;
        }
        if request.has_body {
            self.respond_error(now, id, 400, "GET and HEAD requests must not carry a body", false);
            return;
        }
        let path = request.path().to_string();
        match path.as_str() {
            "/ws/heatmap" => self.upgrade(now, id, request, Endpoint::Heatmap),
            "/ws/echo" if self.config.ws_echo_enabled => self.upgrade(now, id, request, Endpoint::Echo),
            "/health" => {
                let body = self.health_json(now).to_string().into_bytes();
                self.respond_json(now, id, 200, body, keep_alive, head_only);
            }
            "/ws/stats" => {
                let body = self.stats_json(now).to_string().into_bytes();
                self.respond_json(now, id, 200, body, keep_alive, head_only);
            }
            "/api/config" => {
                let body = self.public_config_json().to_string().into_bytes();
                self.respond_json(now, id, 200, body, keep_alive, head_only);
            }
            p if QUERY_PATHS.contains(&p) => self.start_query(now, id, &request),
            "/" => self.serve_static(now, id, &format!("/{INDEX_FILE}"), &request),
            p => self.serve_static(now, id, p, &request),
        }
    }

    /// A file from memory: gzip when the request allows it and the file has a gzip
    /// representation, 304 when `If-None-Match` names the representation's ETag.
    fn serve_static(&mut self, now: Now, id: ConnId, path: &str, request: &Request) {
        let (keep_alive, head_only) = (request.keep_alive, request.is_head());
        match self.static_files.lookup(path) {
            Ok(file) => {
                let content_type = file.content_type;
                let (body, etag, is_gzip) = file.body.select(request.field("accept-encoding"));
                let varies = file.body.gzip.is_some();
                let not_modified = http_encoding::none_match_hits(request.field("if-none-match"), &etag);
                let mut headers = vec![("Cache-Control", "no-cache"), ("ETag", etag.as_str())];
                self.respond_encoded(now, id, (content_type, keep_alive, head_only), &mut headers, (body, is_gzip, varies, not_modified), false);
            }
            Err(LookupError::BadPath(why)) => self.respond_error(now, id, 400, why, keep_alive),
            Err(LookupError::NotFound) => self.respond_error(now, id, 404, &format!("no such path: {path}"), keep_alive),
        }
    }

    /// Queues a 200 (or a 304 when `not_modified`) of a body in the representation chosen:
    /// `Content-Encoding: gzip` when `is_gzip`, `Vary: Accept-Encoding` when the answer depends on
    /// that field (`varies`). `answer` marks a REST answer body (counted against
    /// `HTTP_MAX_PENDING_BYTES`) rather than a static file.
    pub(super) fn respond_encoded(
        &mut self,
        now: Now,
        id: ConnId,
        (content_type, keep_alive, head_only): (&str, bool, bool),
        headers: &mut Vec<(&str, &str)>,
        (body, is_gzip, varies, not_modified): (std::sync::Arc<[u8]>, bool, bool, bool),
        answer: bool,
    ) {
        if varies {
            headers.push(("Vary", "Accept-Encoding"));
        }
        if not_modified {
            // RFC 9110 §15.4.5: no content; the validator and Vary of the 200 it stands for.
            let meta = ResponseMeta { content_type, keep_alive, head_only, extra_headers: headers };
            self.respond(now, id, 304, meta, Chunk::Owned(Box::default()));
            return;
        }
        if is_gzip {
            headers.push(("Content-Encoding", "gzip"));
        }
        let meta = ResponseMeta { content_type, keep_alive, head_only, extra_headers: headers };
        let chunk = if answer { Chunk::Answer(body) } else { Chunk::Shared(body) };
        self.respond(now, id, 200, meta, chunk);
    }

    fn start_query(&mut self, now: Now, id: ConnId, request: &Request) {
        let pending_bytes = self.ledger.pending_answer_bytes();
        if pending_bytes >= self.config.http_pending_bytes_max {
            // Computing another answer now would only hold more memory than the bound allows.
            self.respond_busy(now, id, request.keep_alive, pending_bytes, 0);
            return;
        }
        // The process-wide bound (every loop's queries count).
        if !self.ledger.try_start_query(self.config.queries_in_flight_max) {
            let body = super::http::error_body("BUSY", "too many queries in progress; retry shortly");
            let meta = ResponseMeta { content_type: "application/json", keep_alive: request.keep_alive, head_only: false, extra_headers: &[("Retry-After", "1")] };
            self.respond(now, id, 503, meta, Chunk::Owned(body.into_boxed_slice()));
            return;
        }
        let token = self.next_query_token;
        self.next_query_token += 1;
        let Some(Phase::Http(http)) = self.clients.get_mut(id).map(|c| &mut c.phase) else {
            self.ledger.end_query();
            return;
        };
        http.awaiting_query = Some(PendingQuery {
            token,
            keep_alive: request.keep_alive,
            head_only: request.is_head(),
            accepts_gzip: http_encoding::accepts_gzip(request.field("accept-encoding")),
            if_none_match: request.field("if-none-match").filter(|v| v.len() <= IF_NONE_MATCH_BYTES_MAX).map(Box::from),
        });
        self.outputs.push_back(Output::Query(QueryRequest {
            conn: id,
            token,
            path: request.path().to_string(),
            query: request.query().to_string(),
            head_only: request.is_head(),
        }));
        self.reschedule(id);
    }

    /// `/health`: liveness, connections, and how fresh each symbol's snapshot is.
    pub fn health_json(&self, now: Now) -> Value {
        let mut snapshots = Map::new();
        for state in &self.symbols {
            let entry = match (&state.latest, &state.status) {
                (Some(latest), status) => json!({
                    "status": match status { ProducerStatus::Error(_) => "stale", _ => "ok" },
                    "seq": latest.seq,
                    "epoch": &*latest.epoch,
                    "timestamp": &*latest.timestamp,
                    "age_s": round3(now.mono.since(latest.arrived_at).as_secs_f64()),
                    "error": match status { ProducerStatus::Error(e) => Value::String(e.clone()), _ => Value::Null },
                }),
                (None, ProducerStatus::NoData) => json!({ "status": "no_data", "age_s": null }),
                (None, ProducerStatus::Error(e)) => json!({ "status": "error", "error": e, "age_s": null }),
                (None, _) => json!({ "status": "pending", "age_s": null }),
            };
            snapshots.insert(state.name.clone(), entry);
        }
        // One `feed` object: what the data is (config) and, with a live feed, how it is doing.
        let live = self.feed.as_ref().map(|report| report.health(now.wall_unix_ms));
        let bus = self.bus_json(now);
        let degraded = live.as_ref().is_some_and(|(_, degraded)| *degraded) || bus.as_ref().is_some_and(|(_, degraded)| *degraded);
        let mut feed = self.config.feed.to_json();
        if let (Some((Value::Object(state), _)), Some(feed)) = (live, feed.as_object_mut()) {
            feed.extend(state);
        }
        let status = match (self.shutdown_deadline.is_some(), degraded) {
            (true, _) => "shutting_down",
            (false, true) => "degraded",
            (false, false) => "ok",
        };
        let mut health = json!({
            "status": status,
            "uptime_s": round3(now.mono.since(self.stats.started_at).as_secs_f64()),
            "ws_enabled": self.config.ws_enabled,
            "feed": feed,
            "connections": {
                "websocket": self.ledger.ws_open(),
                "http": self.ledger.http_open(),
                "websocket_max": self.config.ws_connections_max,
            },
            "snapshots": snapshots,
        });
        if let (Some((bus, _)), Some(object)) = (bus, health.as_object_mut()) {
            object.insert("bus".into(), bus);
        }
        health
    }

    /// `/ws/stats`.
    pub fn stats_json(&mut self, now: Now) -> Value {
        // Process-wide: this loop's figures fresh, the other loops' as they last published them
        // (at most FIGURES_REFRESH_MS old).
        self.publish_figures(now);
        let process = self.ledger.process_figures();
        let mut by_symbol = Map::new();
        for (i, state) in self.symbols.iter().enumerate() {
            by_symbol.insert(state.name.clone(), json!(process.subscriptions.get(i).copied().unwrap_or(0)));
        }
        let mut stats = json!({
            "active_connections": self.ledger.ws_open(),
            "connections_per_loop": self.ledger.per_loop_open(),
            "messages_sent_1m": process.messages_sent_1m,
            "slow_consumers": process.slow_consumers,
            "subscriptions_by_symbol": by_symbol,
            "queued_bytes": process.queued_bytes,
            "http_pending_bytes": self.ledger.pending_answer_bytes(),
            "queries_in_flight": self.ledger.queries_in_flight(),
            "dropped_snapshots": process.dropped_snapshots,
            "connections_total": process.connections_total,
            "rejected_full": process.rejected_full,
        });
        if let (Some((bus, _)), Some(object)) = (self.bus_json(now), stats.as_object_mut()) {
            object.insert("bus".into(), bus);
        }
        stats
    }

    /// `/api/config`: what the page needs to know about this server.
    fn public_config_json(&self) -> Value {
        json!({
            "supported_symbols": self.config.supported_symbols,
            "ws_enabled": self.config.ws_enabled,
            "ws_update_interval_s": self.config.update_interval_ms as f64 / 1000.0,
            "ws_max_message_bytes": self.config.message_bytes_max,
            "feed": self.config.feed.to_json(),
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
