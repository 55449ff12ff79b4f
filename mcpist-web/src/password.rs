//! The web UI password: its argon2id hash in the store, and the thread that
//! verifies passwords one at a time.

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use mcpist_core::{Error, Result, store::TokenStore};
use secrecy::{ExposeSecret, SecretString};

/// The store secret holding the web UI password's argon2id hash (a PHC string).
pub const PASSWORD_SECRET: &str = "ui_password";

/// Shortest password `set_password` accepts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Hashes `password` with argon2id and a random salt (a PHC string).
pub fn hash_password(password: &SecretString) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.expose_secret().as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::other("password hashing", std::io::Error::other(e.to_string())))
}

/// Whether `password` matches the PHC string `hash`.
pub fn verify_password(password: &SecretString, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok()
    })
}

/// Sets the web UI password: at least [`MIN_PASSWORD_CHARS`] characters.
pub async fn set_password(store: &dyn TokenStore, password: &SecretString) -> Result<()> {
    if password.expose_secret().chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::InvalidArguments(format!(
            "the password must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let hash = hash_password(password)?;
    store
        .put_secret(PASSWORD_SECRET, &SecretString::from(hash))
        .await
}

/// A new random password: five groups of four letters and digits, with no
/// look-alike characters (about 119 bits).
pub fn generate_password() -> Result<SecretString> {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes).map_err(|e| Error::other("password", e))?;
    let mut out = String::with_capacity(24);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            out.push('-');
        }
        out.push(ALPHABET[usize::from(*b) % ALPHABET.len()] as char);
    }
    Ok(SecretString::from(out))
}

/// A password to verify against a PHC hash, and where to send the verdict.
pub(crate) type Verification = (
    SecretString,
    SecretString,
    tokio::sync::oneshot::Sender<bool>,
);

/// Verifies passwords one at a time, on one thread of its own. An argon2
/// verification takes about 19 MiB: one at a time bounds what a burst of
/// logins can take, and one thread reuses that memory where each thread of
/// the blocking pool would keep its own. The thread ends with the web UI.
pub(crate) struct Verifier(pub(crate) std::sync::mpsc::Sender<Verification>);

impl Verifier {
    pub(crate) fn start() -> std::io::Result<Self> {
        let (send, receive) = std::sync::mpsc::channel::<Verification>();
        std::thread::Builder::new()
            .name("mcpist-password".into())
            .spawn(move || {
                for (password, hash, verdict) in receive {
                    let _ = verdict.send(verify_password(&password, hash.expose_secret()));
                }
            })?;
        Ok(Self(send))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let password = SecretString::from("correct horse battery".to_owned());
        let hash = hash_password(&password).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&password, &hash));
        assert!(!verify_password(
            &SecretString::from("wrong".to_owned()),
            &hash
        ));
        assert!(!verify_password(&password, "not a hash"));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_eq!(a.expose_secret().len(), 24);
        assert_ne!(a.expose_secret(), b.expose_secret());
    }
}
