//! HTTP: the one axum handler (records the request, reads the body, routes under the store's
//! lock, reconciles) and the request as the handlers see it.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::error::ApiError;
use super::handlers::route;
use super::{FakeRequest, MAX_BODY, Shared, lock};

pub(super) enum Reply {
    Json(u16, Value),
    Text(u16, &'static str),
}

fn json_response(code: u16, value: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, value.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub(super) async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    lock(&shared.requests).push(FakeRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        auth_scheme: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_owned),
    });
    let bytes = match axum::body::to_bytes(Body::new(body), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::bad_request(format!("cannot read the request body: {e}"));
            return json_response(err.code, &err.body());
        }
    };
    let req = Req {
        method: parts.method,
        path,
        query: parse_query(&query),
        content_type: content_type.unwrap_or_default(),
        body: &bytes,
    };
    let now = Instant::now();
    let result = {
        let mut store = lock(&shared.store);
        store.reconcile(now);
        let result = route(&mut store, &req, shared.addr);
        // The controllers react to the write at once (the answer is the object as written).
        store.reconcile(now);
        result
    };
    match result {
        Ok(Reply::Json(code, value)) => json_response(code, &value),
        Ok(Reply::Text(code, text)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            (status, text).into_response()
        }
        Err(e) => json_response(e.code, &e.body()),
    }
}

pub(super) struct Req<'a> {
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) query: Vec<(String, String)>,
    pub(super) content_type: String,
    pub(super) body: &'a [u8],
}

impl Req<'_> {
    pub(super) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn dry_run(&self) -> Result<bool, ApiError> {
        match self.param("dryRun") {
            None | Some("") => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "unsupported dryRun value {other:?} (only \"All\")"
            ))),
        }
    }

    pub(super) fn json_body(&self) -> Result<Value, ApiError> {
        let value: Value = serde_json::from_slice(self.body).map_err(|e| {
            ApiError::bad_request(format!(
                "the request body is not JSON (this fake parses JSON bodies only, no YAML): {e}"
            ))
        })?;
        if !value.is_object() {
            return Err(ApiError::bad_request(
                "the request body is not a JSON object",
            ));
        }
        Ok(value)
    }

    pub(super) fn media_type(&self) -> &str {
        self.content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding of a query component (`+` is a space).
pub(super) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push(h * 16 + l);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}
