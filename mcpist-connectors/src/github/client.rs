//! HTTP calls to the GitHub REST API and the one status-to-error mapping.

use mcpist_core::{
    CallContext, Error, Result, Upstream,
    upstream::{Failure, status_error},
};
use reqwest::{Method, Response};
use serde_json::Value;

use super::NAME;

/// One page of a GitHub answer.
pub(super) struct Page {
    pub(super) body: Value,
    /// The `Link` header has a `rel="next"` page.
    pub(super) has_next: bool,
    /// GitHub answered `201 Created` (the contents API: a new file).
    pub(super) created: bool,
}

/// `GET` of `segments` (each one path segment) with `query`.
pub(super) async fn get(
    ctx: &CallContext,
    segments: &[&str],
    query: &[(&str, String)],
) -> Result<Page> {
    send(ctx, Method::GET, segments, query, None).await
}

/// `GET` of `segments` as `media_type` (such as `application/vnd.github.diff`), as text.
pub(super) async fn get_text(
    ctx: &CallContext,
    segments: &[&str],
    media_type: &str,
) -> Result<String> {
    let upstream = ctx.upstream();
    let request = upstream
        .get(segments)?
        .header("Accept", media_type)
        .header("X-GitHub-Api-Version", "2022-11-28");
    let response = upstream.send(request).await?;
    if !response.status().is_success() {
        classify(upstream, response).await?;
        unreachable!("classify fails on every unsuccessful status");
    }
    upstream.text(response).await
}

/// `POST` of `body` to `segments`.
pub(super) async fn post(ctx: &CallContext, segments: &[&str], body: Value) -> Result<Page> {
    send(ctx, Method::POST, segments, &[], Some(body)).await
}

/// `PUT` of `body` to `segments`.
pub(super) async fn put(ctx: &CallContext, segments: &[&str], body: Value) -> Result<Page> {
    send(ctx, Method::PUT, segments, &[], Some(body)).await
}

/// `DELETE` of `segments`, with `body` (the contents API takes its arguments there).
pub(super) async fn delete(ctx: &CallContext, segments: &[&str], body: Value) -> Result<Page> {
    send(ctx, Method::DELETE, segments, &[], Some(body)).await
}

/// `PATCH` of `body` to `segments`.
pub(super) async fn patch(ctx: &CallContext, segments: &[&str], body: Value) -> Result<Page> {
    send(ctx, Method::PATCH, segments, &[], Some(body)).await
}

async fn send(
    ctx: &CallContext,
    method: Method,
    segments: &[&str],
    query: &[(&str, String)],
    body: Option<Value>,
) -> Result<Page> {
    let upstream = ctx.upstream();
    let mut request = upstream.request(method, segments)?.query(query);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let request = request
        // GitHub's documented media type and API version.
        .header("Accept", "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    let response = upstream.send(request).await?;
    classify(upstream, response).await
}

/// Maps a GitHub response onto MCPist's error model.
async fn classify(upstream: &Upstream, response: Response) -> Result<Page> {
    let account = upstream.account().unwrap_or_default();
    let status = response.status();
    let headers = response.headers().clone();
    if status.is_success() {
        let has_next = headers
            .get("link")
            .and_then(|l| l.to_str().ok())
            .is_some_and(|l| l.contains("rel=\"next\""));
        let body = serde_json::from_slice(&upstream.body(response).await?).map_err(|_| {
            Error::Transport {
                service: NAME.into(),
                message: "GitHub answered with a body that is not JSON".into(),
            }
        })?;
        return Ok(Page {
            body,
            has_next,
            created: status == reqwest::StatusCode::CREATED,
        });
    }
    let message = error_message(upstream, response).await?;
    Err(status_error(
        upstream,
        status,
        &headers,
        Failure {
            unauthorized: format!(
                "GitHub says \"{message}\": the token is invalid, expired or revoked"
            ),
            // GitHub answers 404 for private resources the token cannot see.
            not_found: Some(format!(
                "{message} (it does not exist, or account '{account}' cannot see it)"
            )),
            // Primary rate limit: 403 with x-ratelimit-remaining: 0 and a reset time.
            // Secondary rate limit: 403 with Retry-After.
            forbidden_may_be_rate_limit: true,
            message,
        },
    ))
}

/// GitHub's `{"message": ..., "errors": [...]}` as one short line; an error
/// only when the body is over the size cap.
async fn error_message(upstream: &Upstream, response: Response) -> Result<String> {
    let status = response.status();
    let body: Value = match upstream.body(response).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(e @ Error::Upstream { .. }) => return Err(e),
        Err(_) => Value::Null,
    };
    let mut message = body
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_owned());
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        let details: Vec<String> = errors
            .iter()
            .take(5)
            .filter_map(|e| {
                e.get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| {
                        let field = e.get("field")?.as_str()?;
                        let code = e.get("code")?.as_str()?;
                        Some(format!("{field}: {code}"))
                    })
            })
            .collect();
        if !details.is_empty() {
            message = format!("{message}: {}", details.join("; "));
        }
    }
    truncate(&mut message, 500);
    Ok(message)
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
pub(super) fn truncate(text: &mut String, max: usize) {
    mcpist_core::output::cut(text, max, "… [truncated]");
}
