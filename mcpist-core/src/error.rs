//! The one error type of MCPist's library crates.

use std::{borrow::Cow, time::SystemTime};

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The keys of `requests`, for messages.
fn keys_of(requests: &rmcp::model::InputRequests) -> String {
    requests.keys().cloned().collect::<Vec<_>>().join(", ")
}

/// A specialized [`std::result::Result`] whose error type is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Errors returned by stores, connectors, the exchanger and the server.
///
/// Messages never contain a secret: they name services, accounts, keys and
/// HTTP statuses, never token values. Every variant is safe to show to a model
/// as an `isError` tool result.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The call needs the client's answers first: raised by
    /// [`crate::CallContext::ask`] for a 2026-07-28 client, which the server
    /// answers with an input-required result; the retry runs the call again
    /// with the answers. A connector passes it on with `?`.
    #[error("the call needs the client's answers to {}", keys_of(requests))]
    InputRequired {
        /// The questions, by key.
        requests: rmcp::model::InputRequests,
    },
    /// The call needs a capability (`sampling`, `elicitation`, `roots`) the
    /// 2026-07-28 client did not declare in the request: the server answers
    /// with the protocol's `MissingRequiredClientCapabilityError` (-32021).
    #[error("the client did not declare the `{capability}` capability this call needs")]
    MissingClientCapability {
        /// The capability's name.
        capability: String,
    },
    /// The configuration of `component` is invalid.
    #[error("invalid configuration for {component}: {message}")]
    Config {
        /// Which part of the configuration (a connector name, `store`, …).
        component: Cow<'static, str>,
        /// What is wrong, naming the key.
        message: String,
    },

    /// The tool arguments do not match the tool's input schema.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),

    /// No account of `service` can serve this call; the message says why and what to do.
    #[error("{message}")]
    Account {
        /// The service whose account was needed.
        service: String,
        /// Why no account was chosen, and the command that fixes it.
        message: String,
    },

    /// The upstream rejected the credential of this account (HTTP 401).
    #[error("{service} rejected the credential of account '{account}': {message}")]
    Unauthorized {
        /// The service.
        service: String,
        /// The account label.
        account: String,
        /// The upstream's message and what to do about it.
        message: String,
    },

    /// The upstream asks us to wait.
    #[error("{service} is rate limiting requests{}", until.map(retry_hint).unwrap_or_default())]
    RateLimited {
        /// The service.
        service: String,
        /// When a retry may succeed, if the upstream said.
        until: Option<SystemTime>,
    },

    /// The upstream answered with an error the model can read and act on
    /// (not found, validation failed, forbidden).
    #[error("{service} returned HTTP {status}: {message}")]
    Upstream {
        /// The service.
        service: String,
        /// The HTTP status code.
        status: u16,
        /// The upstream's own message.
        message: String,
    },

    /// The upstream could not be reached or answered with something unreadable.
    #[error("{service} could not be reached: {message}")]
    Transport {
        /// The service.
        service: String,
        /// What went wrong (never a URL with credentials, never a header).
        message: String,
    },

    /// A request was about to leave for a host the connector did not declare.
    #[error("refused a request to {url_host}: {service} may only call {allowed}")]
    HostNotAllowed {
        /// The service.
        service: String,
        /// The host that was refused.
        url_host: String,
        /// The host the connector is bound to.
        allowed: String,
    },

    /// A compare-and-swap write lost against a concurrent writer.
    #[error(
        "the record for {service}/{account} changed concurrently (expected version {expected:?}, found {found:?})"
    )]
    Conflict {
        /// The service.
        service: String,
        /// The account label.
        account: String,
        /// The version the writer expected.
        expected: Option<u64>,
        /// The version in the store.
        found: Option<u64>,
    },

    /// The master key does not open this store.
    #[error("the master key does not open the store at {location}: {hint}")]
    WrongKey {
        /// Where the store is.
        location: String,
        /// What the user can do.
        hint: String,
    },

    /// A sealed value failed to open: tampered with, moved, or sealed with another key.
    #[error(
        "a sealed value for {what} could not be opened (tampered with, moved, or sealed with another key)"
    )]
    Unseal {
        /// Which record.
        what: String,
    },

    /// The store failed.
    #[error("token store failed: {0}")]
    Store(String),

    /// Work that needs the store to itself (key rotation, restore, a
    /// stdio server's exclusive lock) found another process using it.
    /// Nothing was changed.
    #[error(
        "token store failed: {location} is in use by another process: stop every process that \
         has it open, then try again; nothing was changed"
    )]
    StoreInUse {
        /// Where the store is.
        location: String,
    },

    /// A key rotation found records that do not open with the current key
    /// and was not told to skip them. Nothing was changed.
    #[error(
        "token store failed: {} record(s) do not open with the current key, so they cannot be \
         re-sealed: {}; nothing was changed. Rotate again skipping them to re-seal the rest and \
         leave these as they are (no key opens them); or remove them first",
        records.len(),
        records.join(", ")
    )]
    BrokenRecords {
        /// The records, as `service/account` or secret names.
        records: Vec<String>,
    },

    /// Anything else, tagged with where it came from.
    #[error("{component} failed: {message}")]
    Other {
        /// Where it came from.
        component: Cow<'static, str>,
        /// What happened.
        message: String,
    },
}

fn retry_hint(until: SystemTime) -> String {
    let secs = until
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let unix = until
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("; retry in {secs} s (at unix time {unix})")
}

impl Error {
    /// A configuration error for `component`.
    pub fn config(component: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::Config {
            component: component.into(),
            message: message.into(),
        }
    }

    /// Any other failure of `component`.
    pub fn other(component: impl Into<Cow<'static, str>>, message: impl ToString) -> Self {
        Self::Other {
            component: component.into(),
            message: message.to_string(),
        }
    }

    /// Returns true if retrying the same call later may succeed.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Self::RateLimited { .. } | Self::Transport { .. })
    }
}
