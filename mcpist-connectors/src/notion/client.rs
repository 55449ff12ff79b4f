//! HTTP calls to the Notion API, paced, and the one status-to-error mapping.

use std::time::{Duration, Instant};

use mcpist_core::{
    CallContext, Error, Result,
    upstream::{Failure, status_error},
};
use reqwest::{Method, Response};
use serde_json::Value;

/// Spaces requests out to at most `rate` per second (Notion's limit is an
/// average of three per second per integration), so bursts from a model do
/// not turn into 429s.
#[derive(Debug)]
pub(super) struct Pacer {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pacer {
    pub(super) fn new(rate: f64) -> Self {
        Self {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Waits for this request's slot.
    async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + self.interval;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

/// One call's view of the Notion API.
pub(super) struct Notion<'a> {
    pub(super) ctx: &'a CallContext,
    pub(super) version: &'a str,
    pub(super) pacer: &'a Pacer,
}

impl Notion<'_> {
    pub(super) async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Value> {
        self.send(Method::GET, segments, query, None).await
    }

    pub(super) async fn post(&self, segments: &[&str], body: Value) -> Result<Value> {
        self.send(Method::POST, segments, &[], Some(body)).await
    }

    pub(super) async fn patch(&self, segments: &[&str], body: Value) -> Result<Value> {
        self.send(Method::PATCH, segments, &[], Some(body)).await
    }

    pub(super) async fn delete(&self, segments: &[&str]) -> Result<Value> {
        self.send(Method::DELETE, segments, &[], None).await
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value> {
        let upstream = self.ctx.upstream();
        // Notion requires a dated API version header on every request.
        let mut request = upstream
            .request(method, segments)?
            .query(query)
            .header("Notion-Version", self.version);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.pacer.wait().await;
        let response = upstream.send(request).await?;
        classify(self.ctx, response).await
    }
}

/// Maps a Notion response onto MCPist's error model. Notion errors are
/// `{"object": "error", "status": 404, "code": "object_not_found", "message": ...}`.
async fn classify(ctx: &CallContext, response: Response) -> Result<Value> {
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = match ctx.upstream().body(response).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        // Over the size cap.
        Err(e @ Error::Upstream { .. }) => return Err(e),
        Err(_) => Value::Null,
    };
    if status.is_success() {
        return Ok(body);
    }
    let code = body.get("code").and_then(Value::as_str).unwrap_or("error");
    let mut message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error"))
        .to_owned();
    mcpist_core::output::cut(&mut message, 500, "…");
    Err(status_error(
        ctx.upstream(),
        status,
        &headers,
        Failure {
            unauthorized: format!("Notion says \"{message}\" ({code})"),
            ..Failure::new(format!("{message} ({code})"))
        },
    ))
}
