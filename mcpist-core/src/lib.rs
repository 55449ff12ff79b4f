//! # mcpist-core
//!
//! The library behind MCPist, a self-hosted MCP server that is a **token
//! exchanger**: it holds the user's upstream credentials (encrypted at rest)
//! and calls upstream APIs on their behalf when an MCP client calls a tool.
//! Clients get tools, never tokens.
//!
//! - [`store`]: the [`TokenStore`] trait, [`MemoryStore`] and the encrypted
//!   [`SqliteStore`] (feature `sqlite`, on by default); `PostgresStore`
//!   (feature `postgres`) for several replicas on one database.
//! - [`connector`]: the [`Connector`] trait (the contract), tool specs and
//!   the link-time registry.
//! - [`prompts`]: the prompts the user wrote, served as `my_NAME`.
//! - [`resources`]: resources, prompts and completions as connectors
//!   declare them, and the resource URI scheme.
//! - [`upstream`]: the host-bound [`Upstream`] client a connector gets for
//!   each call, with its retries, body caps and status-to-error mapping.
//! - [`names`]: every name rule (tool names, service names, account labels).
//! - [`exchanger`]: account resolution, credential injection, OAuth refresh.
//! - [`accounts`]: account changes (audited) and the one status an account shows;
//!   [`guide`]: how the embedding program words what the user can do.
//! - [`oauth`]: the user's OAuth apps, login with PKCE, the token endpoint.
//! - [`connect`]: one-time links to connect a missing account from the chat.
//! - [`server`]: the rmcp server ([`McpServer`]), over stdio or HTTP.
//! - [`http`]: the axum app with bearer, Host and Origin checks; the web UI
//!   (crate `mcpist-web`) is merged in with [`http::router_with`].
//! - [`policy`]: which tools exist (read-only, toolsets, allow and deny globs).
//! - [`audit`]: the append-only, hash-chained audit log ([`AuditSink`]).
//! - [`seal`]: the master key and the sealed-value envelope.
//!
//! ```no_run
//! # async fn run() -> mcpist_core::Result<()> {
//! use std::sync::Arc;
//! use mcpist_core::{Exchanger, McpServer, MemoryStore, Registration, ServicePolicy};
//!
//! // The memory store keeps both the accounts and the audit log.
//! let store = Arc::new(MemoryStore::new());
//! let exchanger = Exchanger::new(store.clone(), store.clone())?;
//! let mut server = McpServer::builder(exchanger, store);
//! for registration in Registration::all().into_iter().filter(|r| r.enabled_by_default) {
//!     let connector = (registration.build)(serde_json::Value::Null)?;
//!     server = server.connector(connector, ServicePolicy::default());
//! }
//! server.build()?.serve_stdio().await
//! # }
//! ```

pub mod accounts;
pub mod audit;
pub mod auth_server;
pub mod batch;
pub mod clients;
pub mod connect;
pub mod connector;
pub mod discover;
pub mod elicit;
pub mod error;
pub mod exchanger;
pub mod guide;
pub mod http;
pub mod metrics;
pub mod names;
pub mod oauth;
pub mod output;
pub mod policy;
pub mod prompts;
pub mod redact;
pub mod resources;
pub mod seal;
pub mod server;
pub mod service;
pub mod store;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
pub mod upstream;

#[cfg(test)]
mod props;

pub use audit::AuditSink;
pub use connector::{Auth, CallContext, Connector, Registration, ToolHints, ToolSpec, Upstream};
pub use error::{Error, Result};
pub use exchanger::Exchanger;
pub use policy::ServicePolicy;
pub use server::McpServer;
pub use service::Service;
#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
pub use store::{AccountKey, MemoryStore, TokenStore};

/// The rmcp model types connectors use, re-exported so connector crates build
/// against the same rmcp version as the server.
pub mod mcp {
    // Sampling is deprecated from protocol 2026-07-28 (SEP-2577) but still
    // part of 2025-11-25, which clients speak.
    #![allow(deprecated)]
    pub use rmcp::model::{
        CallToolResult, ContentBlock, CreateMessageRequestParams, CreateMessageResult,
        ElicitRequestParams, ElicitResult, InputRequest, JsonObject, PromptMessage,
        ResourceContents, Role,
    };
}

/// Re-exported for connector crates: `inventory::submit!` needs it in scope.
pub use inventory;
