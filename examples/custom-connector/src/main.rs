//! Serves the xkcd connector over stdio: `cargo run -p mcpist-example-custom-connector`.
use std::sync::Arc;

use mcpist_core::{Exchanger, McpServer, MemoryStore, Registration, Service};
use mcpist_example_custom_connector::NAME;

#[tokio::main]
async fn main() -> mcpist_core::Result<()> {
    let store = Arc::new(MemoryStore::new());
    let xkcd = Service::from_config(
        Registration::find(NAME).expect("linked"),
        serde_json::Value::Null,
    )?;
    let server =
        McpServer::builder(Exchanger::new(store.clone(), store.clone())?, store).service(xkcd);
    server.build()?.serve_stdio().await
}
