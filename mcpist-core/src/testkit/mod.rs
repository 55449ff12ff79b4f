//! Conformance suites that every implementation of a core trait must pass.
//!
//! Published behind the `testkit` feature so that out-of-tree backends run
//! the same checks as the built-in ones:
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     mcpist_core::testkit::token_store::run_all(&MyStore::new()).await;
//! }
//! ```
//!
//! Not a stable part of the public API: checks are added as contracts grow.

pub mod audit_sink;
pub mod connector;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod token_store;
