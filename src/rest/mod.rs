//! The REST endpoints that need the database, answered on the query worker thread:
//! `GET /liquidations/heatmap-timeseries`, `GET /liquidations/realised` and `GET /prices/klines`
//! (docs/rest_api.md).

mod cache;
mod klines;
mod params;
mod realised;
mod timeseries;


use crate::core::{QueryRequest, QueryResponse};
use crate::engine::EngineParams;
use crate::store::Store;

pub use cache::ResponseCache;
pub use params::{parse_time, QueryParams};

/// What the REST handlers need besides the store.
#[derive(Debug, Clone)]
pub struct RestContext {
    pub supported_symbols: Vec<String>,
    /// Days of history the model runs over before a window starts.
    pub warmup_days: u32,
    /// `REST_MAX_LEVELS`: price levels one heatmap answer may hold over all its snapshots (about
    /// 65 bytes of JSON each); a larger one is refused with 422 `ANSWER_TOO_LARGE`.
    pub levels_max: usize,
    pub engine_params: EngineParams,
    /// Where each symbol's data came from ("binance", "synthetic"); see [`crate::store::source_of`].
    pub sources: Vec<(String, String)>,
}

impl RestContext {
    pub fn source_of(&self, symbol: &str) -> &str {
        crate::store::source_of(&self.sources, symbol)
    }
}

/// A REST error: status and a machine-readable code, rendered as `{"error":{"code","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl RestError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> RestError {
        RestError { status: 400, code, message: message.into() }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> RestError {
        RestError { status: 422, code, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> RestError {
        RestError { status: 500, code: "INTERNAL", message: message.into() }
    }

    fn into_response(self) -> QueryResponse {
        let body = crate::core::http::error_body(self.code, &self.message);
        QueryResponse::plain(self.status, "application/json", body.into())
    }
}

/// Answers one REST request.
pub fn handle(store: &Store, ctx: &RestContext, cache: &mut ResponseCache, request: &QueryRequest) -> QueryResponse {
    let result = match request.path.as_str() {
        "/liquidations/heatmap-timeseries" => {
            let key = format!("{}?{}", request.path, request.query);
            let version = store.data_version();
            if let Some(answer) = cache.get(&key, version) {
                return answer;
            }
            // Compressed here, on the worker thread, once per cached answer.
            timeseries::handle(store, ctx, &request.query).map(|body| {
                let answer = QueryResponse::encoded_json(body.into());
                cache.put(key, version, answer.clone());
                answer
            })
        }
        "/prices/klines" => klines::handle(store, ctx, &request.query).map(|body| QueryResponse::encoded_json(body.into())),
        "/liquidations/realised" => realised::handle(store, ctx, &request.query).map(|body| QueryResponse::encoded_json(body.into())),
        other => Err(RestError { status: 404, code: "NOT_FOUND", message: format!("no such path: {other}") }),
    };
    result.unwrap_or_else(RestError::into_response)
}
