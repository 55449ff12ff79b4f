//! Where credentials live: the [`TokenStore`] trait and its backends.
//!
//! | backend | feature | what it is for |
//! |---|---|---|
//! | [`MemoryStore`] | always | tests and embedders that keep nothing on disk |
//! | [`SqliteStore`] | `sqlite` (default) | the embedded default: one encrypted SQLite file |
//! | `PostgresStore` | `postgres` | several replicas sharing one PostgreSQL database |
//!
//! Persistent backends seal every secret with [`crate::seal::Sealer`]; only
//! non-secret metadata (labels, status, expiry, identity) is stored in the clear,
//! so listing accounts never decrypts anything.

mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::{Resealed, Restored, SqliteStore, restore_snapshot};

use crate::{
    Error, Result,
    seal::{KdfParams, MasterKey, Sealer},
};

/// The name of one account of one service: the key of every record.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountKey {
    service: String,
    account: String,
}

impl AccountKey {
    /// A key for `account` of `service`. Both must be 1–64 characters of
    /// `[A-Za-z0-9_.-]` starting with a letter or digit, so they are safe in
    /// file names, URLs, headers and log lines.
    pub fn new(service: &str, account: &str) -> Result<Self> {
        crate::names::check_label("service", service)?;
        crate::names::check_label("account label", account)?;
        Ok(Self {
            service: service.to_owned(),
            account: account.to_owned(),
        })
    }

    /// The service, such as `github`.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The account label, such as `work`.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The associated data that binds a sealed value to this record.
    pub fn aad(&self) -> Vec<u8> {
        [
            b"mcpist/account\0".as_slice(),
            self.service.as_bytes(),
            b"\0",
            self.account.as_bytes(),
        ]
        .concat()
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.account)
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.service, self.account)
    }
}

/// Checks a service name or account label (the rule lives in
/// [`crate::names::check_label`]; kept here for existing callers).
pub use crate::names::check_label as validate_label;

/// How a credential was obtained, which decides whether it can be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A token the user pasted (personal access token, integration token). Never refreshed.
    Static,
    /// An OAuth grant obtained by `mcpist login`: access token, maybe a refresh token.
    Oauth,
}

impl CredentialKind {
    /// The lowercase name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Oauth => "oauth",
        }
    }

    /// Parses [`Self::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "static" => Some(Self::Static),
            "oauth" => Some(Self::Oauth),
            _ => None,
        }
    }
}

/// Whether an account can be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Usable.
    Ok,
    /// The grant was revoked or expired for good: the user must log in again.
    NeedsReauth,
}

impl AccountStatus {
    /// The lowercase name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NeedsReauth => "needs_reauth",
        }
    }

    /// Parses [`Self::as_str`] output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "needs_reauth" => Some(Self::NeedsReauth),
            _ => None,
        }
    }
}

/// A credential for one account. Secrets stay in [`SecretString`]s from the
/// moment they are read until they are written into an upstream request.
#[derive(Debug, Clone)]
pub struct Credential {
    /// How it was obtained.
    pub kind: CredentialKind,
    /// The token sent upstream.
    pub access_token: SecretString,
    /// The OAuth refresh token, if the provider issued one.
    pub refresh_token: Option<SecretString>,
    /// When the access token expires, in seconds since the Unix epoch.
    pub expires_at: Option<u64>,
    /// The scopes granted, if known.
    pub scopes: Vec<String>,
}

impl Credential {
    /// A static token pasted by the user. Surrounding whitespace is trimmed;
    /// control characters inside are refused (they could split an HTTP header).
    pub fn static_token(token: SecretString) -> Result<Self> {
        let trimmed = token.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(Error::InvalidArguments("the token is empty".into()));
        }
        if trimmed.chars().any(|c| c.is_control() || !c.is_ascii()) {
            return Err(Error::InvalidArguments(
                "the token contains control or non-ASCII characters; paste it on one line".into(),
            ));
        }
        let access_token = if trimmed.len() == token.expose_secret().len() {
            token
        } else {
            SecretString::from(trimmed.to_owned())
        };
        Ok(Self {
            kind: CredentialKind::Static,
            access_token,
            refresh_token: None,
            expires_at: None,
            scopes: Vec::new(),
        })
    }

    /// The secret parts, serialized for sealing. The buffer is zeroed on drop.
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        struct Parts<'a> {
            a: &'a str,
            r: Option<&'a str>,
        }
        let parts = Parts {
            a: self.access_token.expose_secret(),
            r: self.refresh_token.as_ref().map(|r| r.expose_secret()),
        };
        Zeroizing::new(serde_json::to_vec(&parts).expect("strings always serialize"))
    }

    /// Rebuilds the secret parts from [`Self::secret_bytes`] output.
    pub fn from_secret_bytes(
        bytes: &[u8],
        kind: CredentialKind,
        expires_at: Option<u64>,
        scopes: Vec<String>,
    ) -> Result<Self> {
        #[derive(Deserialize)]
        struct Parts {
            a: String,
            r: Option<String>,
        }
        let parts: Parts = serde_json::from_slice(bytes)
            .map_err(|_| Error::Store("a sealed credential has an unknown layout".into()))?;
        Ok(Self {
            kind,
            access_token: SecretString::from(parts.a),
            refresh_token: parts.r.map(SecretString::from),
            expires_at,
            scopes,
        })
    }
}

/// What a writer stores for an account.
#[derive(Debug, Clone)]
pub struct AccountWrite {
    /// The credential.
    pub credential: Credential,
    /// Who the account is upstream (a login or e-mail), if known.
    pub identity: Option<String>,
    /// Whether it can be used.
    pub status: AccountStatus,
}

/// A stored account, with its secrets.
#[derive(Debug, Clone)]
pub struct AccountRecord {
    /// The credential.
    pub credential: Credential,
    /// Who the account is upstream, if known.
    pub identity: Option<String>,
    /// Whether it can be used.
    pub status: AccountStatus,
    /// Incremented on every write; compare-and-swap writes name the version they read.
    pub version: u64,
    /// When it was last written, in seconds since the Unix epoch.
    pub updated_at: u64,
}

/// A stored account without its secrets: what listings show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    /// The service.
    pub service: String,
    /// The account label.
    pub account: String,
    /// How the credential was obtained.
    pub kind: CredentialKind,
    /// Who the account is upstream, if known.
    pub identity: Option<String>,
    /// Whether it can be used.
    pub status: AccountStatus,
    /// When the access token expires (Unix seconds), if it does.
    pub expires_at: Option<u64>,
    /// Granted scopes, if known.
    pub scopes: Vec<String>,
    /// Whether this is the service's default account.
    pub is_default: bool,
    /// The record's version.
    pub version: u64,
    /// When it was last written (Unix seconds).
    pub updated_at: u64,
}

/// The condition a compare-and-swap write puts on the current record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever is there (the user replacing a token).
    Any,
    /// Write only if there is no record yet.
    Absent,
    /// Write only if the record is still at this version.
    Version(u64),
}

/// Storage for accounts, their credentials, and the server's own secrets.
///
/// Servers hold stores as `Arc<dyn TokenStore>`.
///
/// # Contract
///
/// - `get` on a missing key returns `Ok(None)`.
/// - `put` checks its [`Expect`] atomically with the write and returns the new
///   version; a failed check is [`Error::Conflict`] and writes nothing.
/// - `list` never returns secrets and never needs to decrypt.
/// - `delete` of a missing key returns `Ok(false)`; deleting the default
///   account clears the service's default.
/// - A key's versions never repeat: an account deleted and added again
///   continues from the deleted record's version, so a compare-and-swap
///   that read the old record (a refresh started before the delete) fails.
/// - A record that does not open (tampered, moved, wrong key) fails its own
///   `get` with [`Error::Unseal`]; other records are unaffected.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The account stored under `key`, if any.
    async fn get(&self, key: &AccountKey) -> Result<Option<AccountRecord>>;

    /// Writes `write` under `key` if `expect` holds, and returns the new version.
    async fn put(&self, key: &AccountKey, write: AccountWrite, expect: Expect) -> Result<u64>;

    /// Every account, sorted by service then label, without secrets.
    async fn list(&self) -> Result<Vec<AccountInfo>>;

    /// Removes the account. Returns whether it existed.
    async fn delete(&self, key: &AccountKey) -> Result<bool>;

    /// Makes `key` the default account of its service. Fails if it does not exist.
    async fn set_default(&self, key: &AccountKey) -> Result<()>;

    /// A server secret (such as the MCP bearer token) stored under `name`.
    async fn get_secret(&self, name: &str) -> Result<Option<SecretString>>;

    /// Stores a server secret under `name`, replacing any previous value.
    async fn put_secret(&self, name: &str, value: &SecretString) -> Result<()>;

    /// Where the store lives, for messages (a path, or `memory`).
    fn location(&self) -> String;

    /// Takes a lock on `key` that every process sharing this store respects,
    /// held until the returned value is dropped. The exchanger holds it while
    /// it refreshes the account's grant, and re-reads the record after taking
    /// it, so that replicas never spend one refresh token twice.
    ///
    /// The default is no lock: right for stores that one process owns (the
    /// exchanger's in-process lock is enough there). The SQLite store takes
    /// an advisory file lock, the PostgreSQL store an advisory lock.
    async fn lock_account(&self, key: &AccountKey) -> Result<AccountLock> {
        let _ = key;
        Ok(AccountLock::default())
    }
}

/// A lock taken by [`TokenStore::lock_account`]; dropping it releases the lock.
#[derive(Default)]
pub struct AccountLock(Option<Box<dyn Send + Sync>>);

impl AccountLock {
    /// A lock released when `guard` is dropped.
    pub fn new(guard: impl Send + Sync + 'static) -> Self {
        Self(Some(Box::new(guard)))
    }

    /// Whether a lock is actually held (false for stores without one).
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

impl fmt::Debug for AccountLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountLock")
            .field("held", &self.is_held())
            .finish()
    }
}

/// What opens a persistent store: a master key, or a passphrase to derive it from.
pub(crate) enum Unlock<'a> {
    Key(MasterKey),
    Passphrase(&'a SecretString),
}

impl Unlock<'_> {
    /// The sealer for a store whose `kdf` record is `stored_kdf` and which
    /// `exists` (has its key check) already, and the parameters to store
    /// with a new passphrase-sealed store.
    pub(crate) fn resolve(
        self,
        stored_kdf: Option<&KdfParams>,
        exists: bool,
        location: &str,
    ) -> Result<(Sealer, Option<KdfParams>)> {
        let (key, new) = match self {
            Self::Key(key) => (key, None),
            Self::Passphrase(passphrase) => match (stored_kdf, exists) {
                (Some(params), _) => (MasterKey::derive(passphrase, params)?, None),
                (None, true) => {
                    return Err(Error::WrongKey {
                        location: location.to_owned(),
                        hint: "it is sealed with a key file, not a passphrase; \
                               set [store] key = \"file\" (the default)"
                            .into(),
                    });
                }
                (None, false) => {
                    let params = KdfParams::generate()?;
                    (MasterKey::derive(passphrase, &params)?, Some(params))
                }
            },
        };
        Ok((Sealer::new(key), new))
    }
}

/// The error for a key-check record `sealed` that `sealer` does not open.
pub(crate) fn wrong_key(
    location: String,
    sealed: &[u8],
    sealer: &Sealer,
    by_passphrase: bool,
    store_has_kdf: bool,
) -> Error {
    let hint = match (Sealer::envelope_key_id(sealed), by_passphrase) {
        (_, false) if store_has_kdf => {
            "it is sealed with a passphrase; set [store] key = \"passphrase\" \
             and give the passphrase in MCPIST_PASSPHRASE or at the prompt"
                .into()
        }
        (Some(id), true) if id != sealer.key_id() => "the passphrase is wrong".into(),
        (Some(id), false) if id != sealer.key_id() => format!(
            "it was sealed with key {id:08x}, the key given is {:08x}; \
             point MCPIST_MASTER_KEY or the key file at the key it was created with",
            sealer.key_id()
        ),
        _ => "the key check record does not open; the key or the store is damaged".into(),
    };
    Error::WrongKey { location, hint }
}

/// The current time in seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check_expect(key: &AccountKey, expect: Expect, found: Option<u64>) -> Result<()> {
    let ok = match expect {
        Expect::Any => true,
        Expect::Absent => found.is_none(),
        Expect::Version(v) => found == Some(v),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Conflict {
            service: key.service.clone(),
            account: key.account.clone(),
            expected: match expect {
                Expect::Version(v) => Some(v),
                _ => None,
            },
            found,
        })
    }
}

fn missing_account(key: &AccountKey) -> Error {
    Error::Account {
        service: key.service.clone(),
        message: format!("no account '{}' for {}", key.account, key.service),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_reject_separators_and_control_characters() {
        for bad in [
            "",
            "a/b",
            "../x",
            "a b",
            "a\r\nb",
            "-x",
            "é",
            &"a".repeat(65),
        ] {
            assert!(AccountKey::new("github", bad).is_err(), "{bad:?} accepted");
        }
        for good in ["work", "personal-2", "a.b_c", "X"] {
            assert!(AccountKey::new("github", good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn static_tokens_are_trimmed_and_refuse_line_breaks() {
        let c = Credential::static_token(SecretString::from("  ghp_abc \n")).unwrap();
        assert_eq!(c.access_token.expose_secret(), "ghp_abc");
        let err = Credential::static_token(SecretString::from("ghp_a\r\nX-Evil: 1")).unwrap_err();
        assert!(!err.to_string().contains("ghp_a"), "{err}");
        assert!(Credential::static_token(SecretString::from("   ")).is_err());
    }

    #[test]
    fn secret_parts_round_trip() {
        let mut c = Credential::static_token(SecretString::from("tok")).unwrap();
        c.refresh_token = Some(SecretString::from("ref"));
        let bytes = c.secret_bytes();
        let back =
            Credential::from_secret_bytes(&bytes, CredentialKind::Oauth, Some(5), vec![]).unwrap();
        assert_eq!(back.access_token.expose_secret(), "tok");
        assert_eq!(back.refresh_token.unwrap().expose_secret(), "ref");
    }
}
