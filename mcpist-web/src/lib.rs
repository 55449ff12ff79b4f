//! The web UI: where the one user hands MCPist their tokens and sees what it
//! does with them. Server-rendered HTML at `/`, on the same port as `/mcp`.
//!
//! - One password (argon2id hash, sealed in the store as [`PASSWORD_SECRET`]),
//!   a rate limit on wrong ones, sessions in memory (a restart logs out).
//! - The session cookie is `HttpOnly`, `SameSite=Strict`, and `Secure` (with
//!   the `__Host-` prefix) when the public URL is https.
//! - Every form carries a CSRF token bound to the session (the login form, a
//!   double-submit cookie); a POST without it changes nothing.
//! - Pages never contain a token: pasted tokens are shown as a masked hint,
//!   app secrets as "set", and the MCP bearer only after an explicit POST
//!   that gives the password again.
//! - Over plain http (loopback), where the browser sends the cookie to every
//!   port of the host, sessions are short: 30 idle minutes, 12 hours at most.
//!
//! The UI uses only `mcpist-core`'s public API. Mount [`routes`] beside
//! `/mcp` with [`mcpist_core::http::router_with`], which puts them behind the
//! same Host / Origin guard:
//!
//! ```no_run
//! # async fn run(server: mcpist_core::McpServer) -> std::io::Result<()> {
//! use mcpist_core::http::{self, BearerDigest, ClientAuth, HttpOptions};
//! use secrecy::SecretString;
//!
//! let bearer = SecretString::from("a long random token".to_owned());
//! let options = HttpOptions::loopback(ClientAuth::Bearer(BearerDigest::of(&bearer)));
//! let ui = mcpist_web::routes(server.clone(), mcpist_web::WebOptions::new("http://127.0.0.1:8765"));
//! let app = http::router_with(server, options, ui);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8765").await?;
//! http::serve(listener, app, Default::default(), std::future::pending()).await
//! # }
//! ```
//!
//! Modules: [`callback`] (the OAuth redirect target, also used by
//! `mcpist login`), `on_demand` (the connect page a stdio-only setup opens,
//! [`connect_on_demand`]), `ui` (the handlers), `pages` (the HTML, in `maud`),
//! `session`, `form`, `password`, `throttle` and `options`.

pub mod callback;
mod form;
mod on_demand;
mod options;
mod pages;
mod password;
mod session;
mod throttle;
mod ui;

pub use callback::{LoginCallback, login_callback_routes};
pub use on_demand::connect_on_demand;
pub use options::WebOptions;
pub use password::{
    MIN_PASSWORD_CHARS, PASSWORD_SECRET, generate_password, hash_password, set_password,
    verify_password,
};
pub use ui::routes;
