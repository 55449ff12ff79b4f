//! The audit log: one append-only record per operation, chained by a keyed hash.
//!
//! Every tool call (allowed, refused by policy, or unknown), and every token
//! operation (add, remove, default, login, refresh, refresh failure,
//! `needs_reauth`, bearer rotation) gets one record. A tool call's record is
//! written **before** the upstream is called, so a call whose record cannot be
//! written is refused (fail closed); its outcome is completed afterwards.
//!
//! Each record carries two MACs, HMAC-SHA256 with a random audit key that is
//! kept sealed in the store:
//!
//! - `mac` covers the record's opening fields and the previous record's `mac`,
//!   so an edited, deleted or reordered record breaks the chain;
//! - `outcome_mac` covers the outcome fields and the record's own `mac`.
//!
//! Argument values are never stored: each string is reduced to its length and
//! a keyed hash (the same value always gives the same hash, which lets a user
//! correlate calls without the log revealing what was sent).
//!
//! The persistent stores also keep two marks beside the chain: `audit_head`,
//! the (seq, mac) of the newest record written, and `audit_anchor`, that of
//! the last record retention pruned. Each mark carries its own MAC with the
//! audit key ([`AuditKey::seal_mark`]), so a mark rewritten by hand does not
//! verify, and once the log has records a missing head is itself a break.
//!
//! # What the chain proves, and against whom
//!
//! Against someone who can change the store's file or database but holds
//! neither the master key nor the audit key (a stolen backup, a compromised
//! database account, a hand edit): any edited, inserted, reordered or
//! deleted record is detected, including records removed from the end or the
//! start, and a changed or deleted mark. It does **not** detect a rollback of
//! the whole store (every table, marks included) to an earlier copy of itself,
//! since nothing outside the store remembers how far the log had grown: keep
//! the newest record's seq (`mcpist audit --limit 1`) somewhere else if that
//! matters.
//! Against anyone who holds the master key (it opens the sealed audit key) or
//! the audit key, or who runs code as the MCPist user, it proves nothing: they
//! can rewrite the log and recompute every MAC. The marks of a store written
//! before they were authenticated are trusted once, when it is first opened
//! by a version that authenticates them.

use std::fmt;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::{Error, Result};

/// What happened, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A `tools/call`.
    ToolCall,
    /// An account was added or its token replaced.
    AccountAdd,
    /// An account was removed.
    AccountRemove,
    /// A service's default account was set.
    AccountDefault,
    /// An OAuth login stored a grant.
    Login,
    /// An OAuth access token was refreshed.
    Refresh,
    /// A refresh failed.
    RefreshFailed,
    /// An account was marked `needs_reauth`.
    NeedsReauth,
    /// The MCP bearer token was replaced.
    BearerRotate,
    /// The master key was replaced and every secret re-sealed.
    KeyRotate,
    /// A service's OAuth app credentials were stored.
    AppSet,
    /// A service's policy was changed (in the web UI).
    PolicySet,
    /// A prompt the user wrote was saved in the store (added or replaced);
    /// its text is summarized (length and keyed hash), never kept in clear.
    PromptSet,
    /// A prompt the user wrote was removed from the store.
    PromptRemove,
    /// The web UI password was checked: `ok` for a login, `denied` for a wrong password.
    UiLogin,
    /// A snapshot of the store was written (`mcpist backup`).
    Backup,
    /// The store was replaced by a snapshot (`mcpist restore`); recorded in the restored store.
    Restore,
    /// A remote MCP client of MCPist's own authorization server registered,
    /// was granted or denied, got or refreshed tokens, reused a refresh
    /// token, or was revoked (the message says which; the account is the client id).
    RemoteClient,
}

impl AuditKind {
    /// The name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ToolCall => "tool_call",
            Self::AccountAdd => "account_add",
            Self::AccountRemove => "account_remove",
            Self::AccountDefault => "account_default",
            Self::Login => "login",
            Self::Refresh => "refresh",
            Self::RefreshFailed => "refresh_failed",
            Self::NeedsReauth => "needs_reauth",
            Self::BearerRotate => "bearer_rotate",
            Self::KeyRotate => "key_rotate",
            Self::AppSet => "app_set",
            Self::PolicySet => "policy_set",
            Self::PromptSet => "prompt_set",
            Self::PromptRemove => "prompt_remove",
            Self::UiLogin => "ui_login",
            Self::Backup => "backup",
            Self::Restore => "restore",
            Self::RemoteClient => "remote_client",
        }
    }

    /// Parses [`Self::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::ToolCall,
            Self::AccountAdd,
            Self::AccountRemove,
            Self::AccountDefault,
            Self::Login,
            Self::Refresh,
            Self::RefreshFailed,
            Self::NeedsReauth,
            Self::BearerRotate,
            Self::KeyRotate,
            Self::AppSet,
            Self::PolicySet,
            Self::PromptSet,
            Self::PromptRemove,
            Self::UiLogin,
            Self::Backup,
            Self::Restore,
            Self::RemoteClient,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// How an operation ended. For tool calls, `tool_error` (the tool ran and
/// answered `isError`) is kept apart from `transport_error` (the upstream
/// could not be reached) and from refusals before anything ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Still running, or the process died before the outcome was written.
    Pending,
    /// Succeeded.
    Ok,
    /// The tool ran and reported an error (`isError: true`): an upstream 4xx/5xx, …
    ToolError,
    /// The upstream could not be reached or answered unreadably.
    TransportError,
    /// The arguments did not match the tool's schema; nothing was sent.
    InvalidArguments,
    /// No usable account; nothing was sent.
    NoAccount,
    /// Refused by policy; nothing was sent.
    Denied,
    /// No such tool.
    UnknownTool,
    /// A non-call operation failed.
    Failed,
    /// Cut off by a shutdown before it finished; the upstream may or may not have acted.
    Interrupted,
}

impl Outcome {
    /// The name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Ok => "ok",
            Self::ToolError => "tool_error",
            Self::TransportError => "transport_error",
            Self::InvalidArguments => "invalid_arguments",
            Self::NoAccount => "no_account",
            Self::Denied => "denied",
            Self::UnknownTool => "unknown_tool",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// Parses [`Self::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Ok,
            Self::ToolError,
            Self::TransportError,
            Self::InvalidArguments,
            Self::NoAccount,
            Self::Denied,
            Self::UnknownTool,
            Self::Failed,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// The opening fields of a record, known before the operation runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// What kind of operation.
    pub kind: AuditKind,
    /// A random id for this operation, also in the server's log line.
    pub request_id: String,
    /// The service.
    pub service: Option<String>,
    /// The account label.
    pub account: Option<String>,
    /// The full tool name.
    pub tool: Option<String>,
    /// The argument summary (values redacted to length and keyed hash).
    pub args: Option<Value>,
}

impl AuditEvent {
    /// An event of `kind` happening now, with a fresh request id.
    pub fn now(kind: AuditKind) -> Self {
        Self {
            time_ms: now_ms(),
            kind,
            request_id: new_request_id(),
            service: None,
            account: None,
            tool: None,
            args: None,
        }
    }

    /// Sets the service.
    pub fn service(mut self, service: impl Into<String>) -> Self {
        self.service = Some(service.into());
        self
    }

    /// Sets the account label.
    pub fn account(mut self, account: impl Into<String>) -> Self {
        self.account = Some(account.into());
        self
    }

    /// Sets the tool name.
    pub fn tool(mut self, tool: impl Into<String>) -> Self {
        self.tool = Some(tool.into());
        self
    }
}

/// The closing fields of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditOutcome {
    /// How it ended.
    pub outcome: Outcome,
    /// The MCP result's `isError`, for tool calls that produced a result.
    pub is_error: Option<bool>,
    /// The last upstream HTTP status, if a request was sent.
    pub upstream_status: Option<u16>,
    /// How long it took.
    pub latency_ms: u64,
    /// A short message (an error's text; never a secret).
    pub message: Option<String>,
}

impl AuditOutcome {
    /// A plain outcome with no status, latency or message.
    pub fn of(outcome: Outcome) -> Self {
        Self {
            outcome,
            is_error: None,
            upstream_status: None,
            latency_ms: 0,
            message: None,
        }
    }

    /// Sets the message, cut to 300 bytes.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        let mut message = message.into();
        crate::output::cut(&mut message, 300, "…");
        self.message = Some(message);
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1.
    pub seq: u64,
    /// The opening fields.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// The closing fields.
    #[serde(flatten)]
    pub outcome: AuditOutcome,
}

/// Which records a query returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// At most this many.
    pub limit: Option<usize>,
    /// Only this service.
    pub service: Option<String>,
    /// Only records at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
    /// Only this account label.
    pub account: Option<String>,
    /// Only records with this outcome (`pending` for unfinished ones).
    pub outcome: Option<Outcome>,
    /// Only records older than this one (paging backwards).
    pub before_seq: Option<u64>,
}

impl AuditFilter {
    /// Whether `entry` passes every condition but the limit.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.service
            .as_deref()
            .is_none_or(|s| entry.event.service.as_deref() == Some(s))
            && self
                .account
                .as_deref()
                .is_none_or(|a| entry.event.account.as_deref() == Some(a))
            && self.outcome.is_none_or(|o| entry.outcome.outcome == o)
            && self.since_ms.is_none_or(|t| entry.event.time_ms >= t)
            && self.before_seq.is_none_or(|b| entry.seq < b)
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub checked: u64,
    /// Records whose outcome was never written (in flight, or the process died).
    pub pending: u64,
    /// Every break found, in order: an empty list means the log is intact.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether the chain is intact.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Where audit records go.
///
/// # Contract
///
/// - `begin` makes the record durable before it returns; if it fails, the
///   operation must not run.
/// - Records are never changed except for `finish` (or `finish_soon`)
///   filling the outcome of a pending record once.
/// - `verify` reports every edited, deleted or reordered record.
#[async_trait]
pub trait AuditSink: Send + Sync + fmt::Debug + 'static {
    /// Appends a pending record and returns its sequence number.
    async fn begin(&self, event: AuditEvent) -> Result<u64>;

    /// Writes the outcome of the pending record `seq`.
    async fn finish(&self, seq: u64, outcome: AuditOutcome) -> Result<()>;

    /// Writes the outcome of the pending record `seq`, possibly after
    /// returning: a sink that commits in groups may hold it for its next
    /// commit, which saves a tool call a durable write of its own. The
    /// outcome is visible to this sink's `query` and `verify` at once and
    /// durable within milliseconds; until then a crash leaves the record
    /// pending, as a crash during the call would. A write that fails later
    /// is logged by the sink. The default is [`AuditSink::finish`].
    async fn finish_soon(&self, seq: u64, outcome: AuditOutcome) -> Result<()> {
        self.finish(seq, outcome).await
    }

    /// Appends a complete record in one step.
    async fn record(&self, event: AuditEvent, outcome: AuditOutcome) -> Result<u64>;

    /// Records matching `filter`, newest first.
    async fn query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>>;

    /// Checks the whole chain.
    async fn verify(&self) -> Result<VerifyReport>;

    /// Deletes records older than `before_ms`, keeping the chain verifiable
    /// from the first record kept. Returns how many were deleted.
    async fn prune(&self, before_ms: u64) -> Result<u64>;

    /// The argument summary to store for `args` (see [`AuditKey::summarize`]).
    fn summarize(&self, args: &Map<String, Value>) -> Value;
}

/// The keyed hashes behind the chain and the argument summaries.
pub struct AuditKey(SecretBox<[u8; 32]>);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuditKey([REDACTED])")
    }
}

/// A MAC as stored: 32 bytes.
pub type MacBytes = [u8; 32];

impl AuditKey {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        let mut bytes = Box::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::other("audit key", e))?;
        Ok(Self(SecretBox::new(bytes)))
    }

    /// A key from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Store("the audit key has the wrong length".into()))?;
        Ok(Self(SecretBox::new(Box::new(array))))
    }

    /// The key bytes, for sealing into the store.
    pub fn bytes(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }

    fn mac(&self, parts: &[&[u8]]) -> MacBytes {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).expect("any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// The chain MAC of record `seq` opening with `event` after `previous`.
    pub fn event_mac(&self, previous: &MacBytes, seq: u64, event: &AuditEvent) -> MacBytes {
        let encoded = serde_json::to_vec(event).expect("events serialize");
        self.mac(&[b"event", previous, &seq.to_be_bytes(), &encoded])
    }

    /// The MAC of the outcome of the record whose chain MAC is `event_mac`.
    pub fn outcome_mac(&self, event_mac: &MacBytes, outcome: &AuditOutcome) -> MacBytes {
        let encoded = serde_json::to_vec(outcome).expect("outcomes serialize");
        self.mac(&[b"outcome", event_mac, &encoded])
    }

    /// The stored form of the chain mark `name` (such as `audit_head`):
    /// record `seq`'s chain MAC `mac`, and a MAC over the name and both, so
    /// that a mark cannot be rewritten without this key.
    pub fn seal_mark(&self, name: &str, seq: u64, mac: &MacBytes) -> Vec<u8> {
        let tag = self.mark_tag(name, seq, mac);
        [seq.to_be_bytes().as_slice(), mac.as_slice(), tag.as_slice()].concat()
    }

    /// Reads a stored mark: its (seq, mac) and whether it is authentic
    /// (written by [`Self::seal_mark`] with this key under this name).
    /// `None` when the bytes are not a mark at all. An unauthenticated
    /// (seq, mac) pair, as older versions wrote, reads as not authentic.
    pub fn open_mark(&self, name: &str, bytes: &[u8]) -> Option<(u64, MacBytes, bool)> {
        let seq = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
        let mac: MacBytes = bytes.get(8..40)?.try_into().ok()?;
        let authentic = match bytes.get(40..) {
            Some(tag) if tag.len() == 32 => {
                use subtle::ConstantTimeEq as _;
                bool::from(tag.ct_eq(&self.mark_tag(name, seq, &mac)))
            }
            Some([]) => false,
            _ => return None,
        };
        Some((seq, mac, authentic))
    }

    fn mark_tag(&self, name: &str, seq: u64, mac: &MacBytes) -> MacBytes {
        self.mac(&[b"mark", name.as_bytes(), &seq.to_be_bytes(), mac])
    }

    /// A short keyed hash of an argument value.
    pub fn value_hash(&self, value: &str) -> String {
        let mac = self.mac(&[b"value", value.as_bytes()]);
        mac[..4].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The argument summary stored for `args`: strings become
    /// `{"len": N, "h": "…"}`, objects and arrays their size; numbers, booleans
    /// and nulls are kept.
    pub fn summarize(&self, args: &Map<String, Value>) -> Value {
        Value::Object(
            args.iter()
                .map(|(k, v)| {
                    let summary = match v {
                        Value::String(s) => {
                            json!({"len": s.chars().count(), "h": self.value_hash(s)})
                        }
                        Value::Array(a) => json!({"items": a.len()}),
                        Value::Object(o) => json!({"keys": o.len()}),
                        other => other.clone(),
                    };
                    (k.clone(), summary)
                })
                .collect(),
        )
    }
}

/// Checks a chain of entries with their stored MACs, starting after `anchor`
/// (the MAC of the last pruned record, or zeros). `head` is the stored
/// (seq, mac) of the newest record, if the backend keeps one.
pub fn verify_chain(
    key: &AuditKey,
    anchor: (u64, MacBytes),
    rows: &[(AuditEntry, MacBytes, Option<MacBytes>)],
    head: Option<(u64, MacBytes)>,
) -> VerifyReport {
    let mut report = VerifyReport::default();
    let (mut expected_seq, mut previous) = (anchor.0 + 1, anchor.1);
    for (entry, mac, outcome_mac) in rows {
        report.checked += 1;
        if entry.seq != expected_seq {
            report.problems.push(format!(
                "record {expected_seq} is missing (next is {})",
                entry.seq
            ));
        }
        if key.event_mac(&previous, entry.seq, &entry.event) != *mac {
            report.problems.push(format!(
                "record {} was changed, or a record before it was removed or reordered",
                entry.seq
            ));
        }
        match outcome_mac {
            None if entry.outcome.outcome == Outcome::Pending => report.pending += 1,
            Some(om) if key.outcome_mac(mac, &entry.outcome) == *om => {}
            _ => report
                .problems
                .push(format!("the outcome of record {} was changed", entry.seq)),
        }
        previous = *mac;
        expected_seq = entry.seq + 1;
    }
    if let Some((head_seq, head_mac)) = head
        && (head_seq + 1 != expected_seq || head_mac != previous)
    {
        report.problems.push(format!(
            "the log ends at record {} but the last record written was {head_seq}: records were removed from the end",
            expected_seq - 1
        ));
    }
    report
}

/// [`verify_chain`] for a store that keeps the chain's marks as
/// [`AuditKey::seal_mark`] wrote them: `anchor` and `head` are the stored
/// `audit_anchor` and `audit_head` values, if any. A mark that is not
/// authentic, or a missing head once the log has records (or an anchor), is
/// a break of its own; the chain is then checked from the marks' values.
pub fn verify_with_marks(
    key: &AuditKey,
    anchor: Option<&[u8]>,
    rows: &[(AuditEntry, MacBytes, Option<MacBytes>)],
    head: Option<&[u8]>,
) -> VerifyReport {
    let mut problems = Vec::new();
    let mut read = |name: &str, bytes: &[u8]| match key.open_mark(name, bytes) {
        Some((seq, mac, true)) => Some((seq, mac)),
        Some((seq, mac, false)) => {
            problems.push(format!(
                "the {name} mark (record {seq}) was not written by MCPist: it was rewritten \
                 outside it, so records may have been removed"
            ));
            Some((seq, mac))
        }
        None => {
            problems.push(format!("the {name} mark is damaged"));
            None
        }
    };
    let anchor_mark = anchor.and_then(|bytes| read("audit_anchor", bytes));
    let head_mark = head.and_then(|bytes| read("audit_head", bytes));
    if head.is_none() && (!rows.is_empty() || anchor.is_some()) {
        problems.push(
            "the audit_head mark is missing although the log has records: it was deleted, \
             and records may have been removed from the end"
                .to_owned(),
        );
    }
    let mut report = verify_chain(key, anchor_mark.unwrap_or((0, [0; 32])), rows, head_mark);
    problems.append(&mut report.problems);
    report.problems = problems;
    report
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random 16-hex-digit id.
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `time_ms` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn format_time(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        time_ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_as_utc() {
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_time(1_795_680_827_123), "2026-11-26T08:13:47.123Z");
        assert_eq!(format_time(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn summaries_hide_string_values() {
        let key = AuditKey::generate().unwrap();
        let args = json!({"owner": "secret-org", "n": 7, "labels": ["a"], "ok": true});
        let summary = key.summarize(args.as_object().unwrap());
        let text = summary.to_string();
        assert!(!text.contains("secret-org"), "{text}");
        assert_eq!(summary["owner"]["len"], 10);
        assert_eq!(summary["n"], 7);
        assert_eq!(summary["labels"]["items"], 1);
        assert_eq!(
            key.value_hash("secret-org"),
            summary["owner"]["h"].as_str().unwrap()
        );
    }
}
