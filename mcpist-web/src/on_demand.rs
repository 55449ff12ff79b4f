//! The connect page where no web UI runs (`mcpist serve --stdio`): when a
//! call first needs a connect link, a loopback listener opens on a free
//! port of 127.0.0.1, as `mcpist login` does for its callback, and serves
//! the web UI there (the connect page needs its login, its OAuth callback
//! and the services page it returns to), behind the same password and the
//! same Host / Origin guard. It closes once none of its links is live: each
//! connected its account or expired ([`mcpist_core::connect::ConnectLinks`]).
//!
//! Without a web UI password no page is opened: the call's error says how
//! to set one.

use std::sync::Arc;

use mcpist_core::{
    connect::{OpenPage, PageOpener},
    http::{ClientAuth, HttpOptions},
    server::McpServer,
};
use tokio_util::sync::CancellationToken;

use crate::{PASSWORD_SECRET, WebOptions};

/// From now on, calls of `server` that lack an account get a link to a
/// connect page opened on demand on loopback (for a server with no web UI
/// mounted, such as one serving stdio).
pub fn connect_on_demand(server: &McpServer) {
    server.connect_links().open_on_demand(Arc::new(OnDemand));
}

struct OnDemand;

#[async_trait::async_trait]
impl PageOpener for OnDemand {
    async fn open(&self, server: &McpServer) -> Result<OpenPage, String> {
        match server.exchanger().store().get_secret(PASSWORD_SECRET).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(
                    "the connect page needs the web UI password, and none is set; \
                     set one with `mcpist password set`, then call the tool again"
                        .into(),
                );
            }
            Err(e) => return Err(format!("the store cannot be read ({e})")),
        }
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the connect page ({e})"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on 127.0.0.1 for the connect page ({e})"))?
            .port();
        let base_url = format!("http://127.0.0.1:{port}");
        let mut options = WebOptions::new(base_url.clone());
        options.lockout_hint = "To get in at once, run `mcpist password set` where MCPist runs \
                                (the same password will do), then call the tool again."
            .into();
        // No `/mcp` here: of these options only the loopback Host / Origin
        // lists apply.
        let app = mcpist_core::http::guarded(
            crate::ui::router(server.clone(), options),
            HttpOptions::loopback(ClientAuth::DangerouslyNone),
        );
        let close = CancellationToken::new();
        let stop = close.clone().cancelled_owned();
        tokio::spawn(async move {
            if let Err(e) = mcpist_core::http::serve(listener, app, Default::default(), stop).await
            {
                tracing::warn!(error = %e, "the connect page stopped");
            }
        });
        tracing::info!(url = %base_url, "opened the connect page on demand");
        Ok(OpenPage { base_url, close })
    }
}
