//! # mcpist-connectors
//!
//! MCPist's built-in connectors. Each registers itself with [`inventory`]
//! through [`mcpist_core::Registration`], so a program that links this crate
//! serves them without further wiring.
//!
//! Each connector is one module (below: `github`, `notion`, each behind a
//! default feature of its name) holding its registration, its fake upstream
//! (feature `fake`) and its `snapshot.json`; adding one is a folder and its
//! `mod` line here. Nothing else lists them: [`builtin`], the binary and the
//! snapshot test read the registry. See `docs/writing-a-connector.md`.
//!
//! **Linking.** The linker drops a crate that the final program never names,
//! and its registrations with it. Name this crate somewhere, for example by
//! calling [`builtin`] or with `use mcpist_connectors as _;`.

// The guide's worked connector compiles as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../docs/writing-a-connector.md")]
struct WritingAConnector;

pub mod catalog;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod declarative;
#[cfg(feature = "fake")]
pub mod fake;
#[cfg(feature = "github")]
pub mod github;
#[cfg(feature = "notion")]
pub mod notion;
mod rest;
#[cfg(test)]
mod rest_props;

/// The services registered in this program, sorted, read from the
/// registry: this crate's (as its features select) and those of any other
/// linked crate that registers one. Calling it also keeps the crate (and so
/// its registrations) linked in.
pub fn builtin() -> Vec<&'static str> {
    mcpist_core::Registration::all()
        .into_iter()
        .map(|r| r.service)
        .collect()
}
