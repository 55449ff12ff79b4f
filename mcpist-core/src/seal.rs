//! Encryption at rest: the master key and the sealed-value envelope.
//!
//! Every secret a store writes is sealed with XChaCha20-Poly1305 into a
//! versioned envelope:
//!
//! ```text
//! version (1 byte, = 1) | key id (4 bytes, big endian) | nonce (24 bytes) | ciphertext + tag
//! ```
//!
//! The record's identity (for tokens: service and account label) is the
//! associated data, so a sealed value copied onto another record does not
//! open. The key id names the master key that sealed the value, so a wrong key
//! is reported as such instead of as corruption, and a key rotation can tell
//! old records from new ones.

use std::{fmt, fs, io::Write, path::Path};

use base64::{Engine as _, engine::general_purpose::STANDARD as B64};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// The envelope format this build writes.
pub const ENVELOPE_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 24;

/// The environment variable that can hold the master key instead of a key file.
pub const MASTER_KEY_ENV: &str = "MCPIST_MASTER_KEY";

/// The environment variable that holds the passphrase a master key is derived from.
pub const PASSPHRASE_ENV: &str = "MCPIST_PASSPHRASE";

/// How a master key is derived from a passphrase: argon2id with a random salt.
///
/// Not secret: stores keep it beside the sealed records (SQLite: the `meta`
/// table), so the same passphrase gives the same key on the next start. The
/// default cost is RFC 9106's second recommendation (64 MiB, 3 passes, 4
/// lanes): a stolen store allows offline guessing, so guesses must be dear.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KdfParams {
    /// Always `"argon2id"`; anything else is refused.
    pub algorithm: String,
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Number of passes.
    pub t: u32,
    /// Degree of parallelism (lanes).
    pub p: u32,
    /// The salt, standard base64 of 16 random bytes.
    pub salt: String,
}

impl KdfParams {
    /// Fresh parameters with a new random salt and the default cost.
    pub fn generate() -> Result<Self> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| Error::other("key derivation", e))?;
        Ok(Self {
            algorithm: "argon2id".into(),
            m_kib: 64 * 1024,
            t: 3,
            p: 4,
            salt: B64.encode(salt),
        })
    }

    /// The parameters as stored (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain fields serialize")
    }

    /// Parses [`Self::to_bytes`] output; `location` names the store in errors.
    ///
    /// The parameters come from the store file, which anyone who can write
    /// it can change: a cost beyond [`Self::MAX_M_KIB`], [`Self::MAX_T`] or
    /// [`Self::MAX_P`] is refused here, before any memory is allocated for
    /// it, rather than exhausting the machine's memory or time.
    pub fn from_bytes(bytes: &[u8], location: &str) -> Result<Self> {
        let params: Self = serde_json::from_slice(bytes).map_err(|_| {
            Error::Store(format!(
                "{location}: the passphrase parameters are unreadable; it was left untouched"
            ))
        })?;
        if params.m_kib > Self::MAX_M_KIB || params.t > Self::MAX_T || params.p > Self::MAX_P {
            return Err(Error::Store(format!(
                "{location}: the passphrase parameters ask for m={} KiB, t={}, p={}; this build \
                 accepts at most m={} KiB (1 GiB), t={}, p={} (the default is m=65536, t=3, p=4): \
                 refused, and it was left untouched",
                params.m_kib,
                params.t,
                params.p,
                Self::MAX_M_KIB,
                Self::MAX_T,
                Self::MAX_P
            )));
        }
        Ok(params)
    }

    /// The largest memory cost read from a store, in KiB: 1 GiB, sixteen
    /// times the default.
    pub const MAX_M_KIB: u32 = 1024 * 1024;
    /// The largest number of passes read from a store (the default is 3).
    pub const MAX_T: u32 = 16;
    /// The largest degree of parallelism read from a store (the default is 4).
    pub const MAX_P: u32 = 16;
}

impl MasterKey {
    /// Derives the key from `passphrase` with argon2id and `params`.
    ///
    /// The passphrase must not be empty. The derivation is slow on purpose
    /// (about a quarter of a second with the default cost).
    pub fn derive(passphrase: &SecretString, params: &KdfParams) -> Result<Self> {
        let passphrase = passphrase.expose_secret();
        if passphrase.is_empty() {
            return Err(Error::config("passphrase", "the passphrase is empty"));
        }
        if params.algorithm != "argon2id" {
            return Err(Error::config(
                "passphrase",
                format!(
                    "the store names the key derivation {:?}; this build knows argon2id",
                    params.algorithm
                ),
            ));
        }
        let bad = |e: &dyn fmt::Display| {
            Error::config("passphrase", format!("bad key derivation parameters: {e}"))
        };
        let salt = B64.decode(&params.salt).map_err(|e| bad(&e))?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(params.m_kib, params.t, params.p, Some(32)).map_err(|e| bad(&e))?,
        );
        let mut bytes = Box::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.as_bytes(), &salt, bytes.as_mut())
            .map_err(|e| bad(&e))?;
        Ok(Self::from_bytes(bytes))
    }
}

/// A 256-bit master key. Its bytes are zeroed on drop and never printed.
pub struct MasterKey {
    bytes: SecretBox<[u8; 32]>,
    id: u32,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey {{ id: {:08x}, bytes: [REDACTED] }}", self.id)
    }
}

impl MasterKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = Box::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| Error::other("key generation", e))?;
        Ok(Self::from_bytes(bytes))
    }

    fn from_bytes(bytes: Box<[u8; 32]>) -> Self {
        let digest = Sha256::new()
            .chain_update(b"mcpist key id\0")
            .chain_update(bytes.as_ref())
            .finalize();
        let id = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        Self {
            bytes: SecretBox::new(bytes),
            id,
        }
    }

    /// Parses a key written as standard base64 of 32 bytes (what `mcpist init` writes).
    pub fn from_encoded(text: &str) -> Result<Self> {
        let decoded = Zeroizing::new(B64.decode(text.trim()).map_err(|_| {
            Error::config(
                "master key",
                "the key is not valid base64 (expected 32 bytes)",
            )
        })?);
        let array: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            Error::config(
                "master key",
                format!("the key has {} bytes; expected 32", decoded.len()),
            )
        })?;
        Ok(Self::from_bytes(Box::new(array)))
    }

    /// The key as base64 text, the form key files and `MCPIST_MASTER_KEY` use.
    pub fn encode(&self) -> SecretString {
        SecretString::from(B64.encode(self.bytes.expose_secret()))
    }

    /// A short public identifier of this key (derived from it by a one-way hash).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Reads the key file at `path`.
    pub fn read_file(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| {
            Error::config(
                "master key",
                format!("cannot read key file {}: {e}", path.display()),
            )
        })?);
        Self::from_encoded(&text).map_err(|e| match e {
            Error::Config { message, .. } => Error::config(
                "master key",
                format!("key file {}: {message}", path.display()),
            ),
            other => other,
        })
    }

    /// Writes a new key file at `path`, readable by the owner only (mode 0600).
    /// Refuses to overwrite an existing file.
    pub fn write_new_file(&self, path: &Path) -> Result<()> {
        let mut file = create_private_file(path).map_err(|e| {
            Error::config(
                "master key",
                format!("cannot create key file {}: {e}", path.display()),
            )
        })?;
        let text = self.encode();
        file.write_all(text.expose_secret().as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::other("master key", format!("writing {}: {e}", path.display())))
    }

    /// The key from `MCPIST_MASTER_KEY` if set, else from the key file at `path`.
    /// With `create`, a missing key file is created; the returned flag says so.
    pub fn load(path: &Path, create: bool) -> Result<(Self, bool)> {
        if let Ok(text) = std::env::var(MASTER_KEY_ENV) {
            let text = Zeroizing::new(text);
            return Self::from_encoded(&text)
                .map(|k| (k, false))
                .map_err(|e| Error::config("master key", format!("{MASTER_KEY_ENV}: {e}")));
        }
        if path.exists() || !create {
            return Self::read_file(path).map(|k| (k, false));
        }
        let key = Self::generate()?;
        key.write_new_file(path)?;
        Ok((key, true))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.bytes.expose_secret().into())
    }
}

/// Creates a new file that only its owner can read and write.
pub fn create_private_file(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Creates `dir` (and its parents) with mode 0700 if it does not exist.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Seals and opens values with a master key.
#[derive(Debug)]
pub struct Sealer {
    key: MasterKey,
}

impl Sealer {
    /// A sealer that writes with `key`.
    pub fn new(key: MasterKey) -> Self {
        Self { key }
    }

    /// The id of the key new values are sealed with.
    pub fn key_id(&self) -> u32 {
        self.key.id()
    }

    /// Seals `plaintext`, binding it to `aad` (the identity of the record that holds it).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| Error::other("seal", e))?;
        let ciphertext = self
            .key
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::other("seal", "encryption failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + ciphertext.len());
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&self.key.id().to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Opens an envelope sealed for `aad`. `what` names the record in errors.
    pub fn open(&self, aad: &[u8], envelope: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
        let unseal = || Error::Unseal { what: what.into() };
        if envelope.len() < HEADER_LEN || envelope[0] != ENVELOPE_VERSION {
            return Err(unseal());
        }
        let key_id = u32::from_be_bytes(envelope[1..5].try_into().map_err(|_| unseal())?);
        if key_id != self.key.id() {
            return Err(Error::Unseal {
                what: format!(
                    "{what} (sealed with key {key_id:08x}, current key is {:08x})",
                    self.key.id()
                ),
            });
        }
        let nonce = XNonce::from_slice(&envelope[5..HEADER_LEN]);
        self.key
            .cipher()
            .decrypt(
                nonce,
                Payload {
                    msg: &envelope[HEADER_LEN..],
                    aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| unseal())
    }

    /// The key id an envelope names, if it is one of ours.
    pub fn envelope_key_id(envelope: &[u8]) -> Option<u32> {
        (envelope.len() >= HEADER_LEN && envelope[0] == ENVELOPE_VERSION)
            .then(|| u32::from_be_bytes([envelope[1], envelope[2], envelope[3], envelope[4]]))
    }
}

#[cfg(test)]
impl MasterKey {
    /// A second handle on the same key, for tests that open a store twice.
    pub(crate) fn duplicate(&self) -> Self {
        Self::from_encoded(self.encode().expose_secret()).expect("a key decodes from its encoding")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer() -> Sealer {
        Sealer::new(MasterKey::generate().unwrap())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let s = sealer();
        let env = s.seal(b"github\0work", b"ghp_secret").unwrap();
        assert_eq!(
            &s.open(b"github\0work", &env, "x").unwrap()[..],
            b"ghp_secret"
        );
    }

    #[test]
    fn ciphertext_hides_the_plaintext_and_differs_each_time() {
        let s = sealer();
        let a = s.seal(b"k", b"plaintext-canary").unwrap();
        let b = s.seal(b"k", b"plaintext-canary").unwrap();
        assert_ne!(a, b);
        assert!(!a.windows(16).any(|w| w == b"plaintext-canary"));
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let s = sealer();
        let env = s.seal(b"k", b"secret value").unwrap();
        for i in 0..env.len() {
            let mut bad = env.clone();
            bad[i] ^= 0x01;
            assert!(
                s.open(b"k", &bad, "x").is_err(),
                "flip at byte {i} went unnoticed"
            );
        }
    }

    #[test]
    fn a_value_moved_to_another_record_does_not_open() {
        let s = sealer();
        let env = s.seal(b"github\0work", b"secret").unwrap();
        assert!(s.open(b"github\0personal", &env, "x").is_err());
    }

    #[test]
    fn another_key_does_not_open_and_says_so() {
        let env = sealer().seal(b"k", b"secret").unwrap();
        let err = sealer().open(b"k", &env, "rec").unwrap_err();
        assert!(err.to_string().contains("sealed with key"), "{err}");
    }

    #[test]
    fn a_passphrase_derives_the_same_key_with_the_same_salt_only() {
        let cheap = |salt: &str| KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
            salt: salt.into(),
            ..KdfParams::generate().unwrap()
        };
        let pass = SecretString::from("correct horse");
        let a = MasterKey::derive(&pass, &cheap("c2FsdHNhbHRzYWx0c2FsdA==")).unwrap();
        let b = MasterKey::derive(&pass, &cheap("c2FsdHNhbHRzYWx0c2FsdA==")).unwrap();
        let c = MasterKey::derive(&pass, &cheap("b3RoZXJzYWx0b3RoZXJzYQ==")).unwrap();
        let d = MasterKey::derive(
            &SecretString::from("correct horsf"),
            &cheap("c2FsdHNhbHRzYWx0c2FsdA=="),
        )
        .unwrap();
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_ne!(a.id(), d.id());
        assert!(
            MasterKey::derive(&SecretString::from(""), &cheap("c2FsdHNhbHRzYWx0c2FsdA==")).is_err()
        );
        let params = KdfParams::generate().unwrap();
        assert_eq!(
            KdfParams::from_bytes(&params.to_bytes(), "x").unwrap(),
            params
        );
    }

    #[test]
    fn stored_parameters_beyond_the_bounds_are_refused_before_deriving() {
        let mut params = KdfParams::generate().unwrap();
        params.m_kib = 4 * 1024 * 1024; // 4 GiB
        let err = KdfParams::from_bytes(&params.to_bytes(), "s.db").unwrap_err();
        assert!(err.to_string().contains("m=4194304 KiB"), "{err}");
        for (m_kib, t, p) in [
            (KdfParams::MAX_M_KIB, 17, 4),
            (65536, 3, 64),
            (65536, u32::MAX, 4),
        ] {
            let mut params = KdfParams::generate().unwrap();
            (params.m_kib, params.t, params.p) = (m_kib, t, p);
            assert!(KdfParams::from_bytes(&params.to_bytes(), "s.db").is_err());
        }
        let mut params = KdfParams::generate().unwrap();
        params.m_kib = KdfParams::MAX_M_KIB;
        assert!(KdfParams::from_bytes(&params.to_bytes(), "s.db").is_ok());
    }

    #[test]
    fn key_text_round_trips_and_rejects_bad_lengths() {
        let k = MasterKey::generate().unwrap();
        let again = MasterKey::from_encoded(k.encode().expose_secret()).unwrap();
        assert_eq!(k.id(), again.id());
        assert!(MasterKey::from_encoded("c2hvcnQ=").is_err());
        assert!(MasterKey::from_encoded("not base64!").is_err());
        assert!(!format!("{k:?}").contains(k.encode().expose_secret()));
    }
}
