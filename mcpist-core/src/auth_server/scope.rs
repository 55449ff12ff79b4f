//! Scopes as an upper bound over policy: a read-only grant sees only the
//! read-only tools, and a call of another tool is refused at the HTTP layer
//! with `403` and `WWW-Authenticate: Bearer error="insufficient_scope"`, so
//! the client can step up (MCP authorization, "Scope challenge handling").

use axum::{
    body::Body,
    extract::Request,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{AuthServer, Grant, SCOPE_ALL};
use crate::server::McpServer;

/// Lets `req` through for `grant`, or answers the refusal: for a read-only
/// grant, a POST that calls a tool which is not read-only is refused.
/// The body is read (up to `max_body` bytes) and put back.
pub(crate) async fn check(
    grant: &Grant,
    oauth: &AuthServer,
    server: &McpServer,
    max_body: usize,
    req: Request,
) -> Result<Request, Response> {
    if !grant.read_only() || req.method() != http::Method::POST {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, max_body).await else {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large\n",
        )
            .into_response());
    };
    let message: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let messages = match &message {
        serde_json::Value::Array(batch) => batch.iter().collect(),
        single => vec![single],
    };
    for m in messages {
        if m.get("method").and_then(|v| v.as_str()) != Some("tools/call") {
            continue;
        }
        let name = m
            .pointer("/params/name")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        // Discover mode's call meta-tool is as read-only as the tool it
        // calls, a batch as its tasks' tools.
        let names: Vec<&str> = if name == crate::discover::CALL {
            vec![
                m.pointer("/params/arguments/name")
                    .and_then(|v| v.as_str())
                    .unwrap_or(""),
            ]
        } else if name == crate::batch::BATCH {
            m.pointer("/params/arguments/tasks")
                .and_then(|v| v.as_array())
                .map(|tasks| {
                    tasks
                        .iter()
                        .map(|t| t.get("tool").and_then(|v| v.as_str()).unwrap_or(""))
                        .collect()
                })
                .unwrap_or_default()
        } else {
            vec![name]
        };
        if let Some(name) = names.into_iter().find(|n| !server.is_read_only_tool(n)) {
            tracing::info!(
                client = %grant.client_id,
                tool = name,
                "refused a write call for a read-only grant"
            );
            let challenge = format!(
                "Bearer error=\"insufficient_scope\", scope=\"{SCOPE_ALL}\", resource_metadata=\"{}\", \
                 error_description=\"this grant is read-only; the tool needs the {SCOPE_ALL} scope\"",
                oauth.resource_metadata_url()
            );
            return Err((
                StatusCode::FORBIDDEN,
                [(header::WWW_AUTHENTICATE, challenge)],
                format!("insufficient_scope: {name} is not a read-only tool and this grant is read-only\n"),
            )
                .into_response());
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
