//! A minimal MCP client over stdio (newline-delimited JSON-RPC) or
//! Streamable HTTP, cheap enough not to dominate the measurement: requests
//! are pipelined, responses matched by id.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{ChildStdin, ChildStdout},
    sync::{mpsc, oneshot},
};

/// The protocol version every server is asked for; all of them speak it.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>;

/// One MCP connection. Clones share it.
#[derive(Clone)]
pub(crate) enum Client {
    /// Over a child's stdin / stdout.
    Stdio(Arc<Stdio>),
    /// Over Streamable HTTP.
    Http(Arc<Http>),
}

pub(crate) struct Stdio {
    lines: mpsc::UnboundedSender<Vec<u8>>,
    pending: Pending,
    next: AtomicU64,
}

pub(crate) struct Http {
    http: reqwest::Client,
    url: String,
    bearer: Option<String>,
    session: Mutex<Option<String>>,
    next: AtomicU64,
}

impl Client {
    /// A client over a child's pipes; spawns the reader and writer tasks.
    pub(crate) fn stdio(stdin: ChildStdin, stdout: ChildStdout) -> Self {
        let (lines, mut outgoing) = mpsc::unbounded_channel::<Vec<u8>>();
        let pending: Pending = Arc::default();
        tokio::spawn(async move {
            let mut stdin = stdin;
            while let Some(line) = outgoing.recv().await {
                if stdin.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        let responses = pending.clone();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let Ok(message) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                // Requests and notifications from the server are not ours to answer.
                if message.get("method").is_some() {
                    continue;
                }
                let Some(id) = message.get("id").and_then(Value::as_u64) else {
                    continue;
                };
                let waiter = responses
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&id);
                if let Some(waiter) = waiter {
                    let _ = waiter.send(message);
                }
            }
            // The server closed stdout: every waiter gets an error.
            responses.lock().unwrap_or_else(|e| e.into_inner()).clear();
        });
        Self::Stdio(Arc::new(Stdio {
            lines,
            pending,
            next: AtomicU64::new(1),
        }))
    }

    /// A client for the Streamable HTTP endpoint `url`.
    pub(crate) fn http(url: String, bearer: Option<String>) -> Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?;
        Ok(Self::Http(Arc::new(Http {
            http,
            url,
            bearer,
            session: Mutex::new(None),
            next: AtomicU64::new(1),
        })))
    }

    /// Sends a request and returns the whole JSON-RPC response.
    pub(crate) async fn request(&self, method: &str, params: Value) -> Result<Value> {
        match self {
            Self::Stdio(s) => {
                let id = s.next.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = oneshot::channel();
                s.pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(id, tx);
                let mut line = serde_json::to_vec(
                    &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
                )?;
                line.push(b'\n');
                s.lines
                    .send(line)
                    .map_err(|_| anyhow!("the server's stdin is closed"))?;
                rx.await
                    .map_err(|_| anyhow!("the server closed stdout before answering {method}"))
            }
            Self::Http(h) => {
                let id = h.next.fetch_add(1, Ordering::Relaxed);
                let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
                let text = h.post(&body).await?;
                find_response(&text, id)
                    .with_context(|| format!("no response to {method} in {text:.300}"))
            }
        }
    }

    /// Sends a notification.
    pub(crate) async fn notify(&self, method: &str) -> Result<()> {
        let message = json!({"jsonrpc": "2.0", "method": method});
        match self {
            Self::Stdio(s) => {
                let mut line = serde_json::to_vec(&message)?;
                line.push(b'\n');
                s.lines
                    .send(line)
                    .map_err(|_| anyhow!("the server's stdin is closed"))
            }
            Self::Http(h) => h.post(&message).await.map(drop),
        }
    }

    /// `initialize`; returns the result.
    pub(crate) async fn initialize(&self) -> Result<Value> {
        let response = self
            .request(
                "initialize",
                json!({"protocolVersion": PROTOCOL_VERSION, "capabilities": {},
                    "clientInfo": {"name": "mcpist-bench", "version": "0"}}),
            )
            .await?;
        result_of(response, "initialize")
    }

    /// `tools/call`; returns the result, or an error if the call failed.
    pub(crate) async fn call_tool(&self, name: &str, arguments: &Value) -> Result<Value> {
        let response = self
            .request("tools/call", json!({"name": name, "arguments": arguments}))
            .await?;
        let result = result_of(response, "tools/call")?;
        if result.get("isError") == Some(&Value::Bool(true)) {
            bail!("{name} returned an error: {:.300}", result.to_string());
        }
        Ok(result)
    }
}

/// The `result` of a response, or its `error` as an error.
pub(crate) fn result_of(mut response: Value, method: &str) -> Result<Value> {
    if let Some(error) = response.get("error") {
        bail!("{method} failed: {error}");
    }
    response
        .get_mut("result")
        .map(Value::take)
        .with_context(|| format!("{method}: a response without result"))
}

impl Http {
    async fn post(&self, body: &Value) -> Result<String> {
        let mut request = self
            .http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body)?);
        if let Some(bearer) = &self.bearer {
            request = request.bearer_auth(bearer);
        }
        let session = self
            .session
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", PROTOCOL_VERSION);
        }
        let response = request.send().await?;
        let status = response.status();
        if let Some(id) = response.headers().get("mcp-session-id") {
            *self.session.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.to_str()?.to_owned());
        }
        let text = response.text().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {text:.300}");
        }
        Ok(text)
    }
}

/// The JSON-RPC response with `id` in a body that is either JSON or an SSE stream.
fn find_response(body: &str, id: u64) -> Option<Value> {
    let is_ours = |v: &Value| v.get("id").and_then(Value::as_u64) == Some(id);
    if let Ok(value) = serde_json::from_str::<Value>(body) {
        return is_ours(&value).then_some(value);
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(is_ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_are_found_in_json_and_in_event_streams() {
        let sse = "id: 0\nretry: 3000\ndata:\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n\n";
        assert_eq!(find_response(sse, 7).unwrap()["id"], 7);
        assert!(find_response(sse, 8).is_none());
        let json = r#"{"jsonrpc":"2.0","id":3,"result":{"ok":true}}"#;
        assert_eq!(find_response(json, 3).unwrap()["result"]["ok"], true);
    }
}
