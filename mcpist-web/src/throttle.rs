//! The login throttle: at most a few wrong passwords per window, counted for
//! the whole server and reset by a new password.

use std::{
    collections::VecDeque,
    sync::Mutex,
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

/// Wrong passwords allowed per window before logins are refused.
const LOGIN_FAILURES: usize = 5;
/// The window wrong passwords are counted over.
const LOGIN_WINDOW: Duration = Duration::from_secs(300);

/// Password attempts in the current window: the wrong ones, and those being
/// verified (each reserved before its verification starts, so concurrent
/// attempts cannot all slip under the limit).
#[derive(Default)]
struct Attempts {
    /// When each counted attempt started, oldest first.
    started: VecDeque<Instant>,
    /// The SHA-256 of the password hash they were made against: a new
    /// password starts a new count.
    against: Option<[u8; 32]>,
}

/// Password attempts, shared by every login form of the UI.
#[derive(Default)]
pub(crate) struct LoginThrottle(Mutex<Attempts>);

impl LoginThrottle {
    /// Counts an attempt against the password hash `hash` before it is
    /// verified; refused (with the seconds to wait) when too many failed in
    /// the window. A hash other than the one counted so far (the owner set a
    /// new password) starts the count again.
    pub(crate) fn reserve(&self, hash: &str) -> std::result::Result<Instant, u64> {
        let digest: [u8; 32] = Sha256::digest(hash.as_bytes()).into();
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if attempts.against != Some(digest) {
            *attempts = Attempts {
                started: VecDeque::new(),
                against: Some(digest),
            };
        }
        let now = Instant::now();
        while attempts
            .started
            .front()
            .is_some_and(|t| now.duration_since(*t) >= LOGIN_WINDOW)
        {
            attempts.started.pop_front();
        }
        if let Some(oldest) = attempts.started.front()
            && attempts.started.len() >= LOGIN_FAILURES
        {
            return Err((LOGIN_WINDOW - now.duration_since(*oldest))
                .as_secs()
                .max(1));
        }
        attempts.started.push_back(now);
        Ok(now)
    }

    /// Takes back the attempt reserved at `at`: the password was right.
    pub(crate) fn release(&self, at: Instant) {
        let mut attempts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = attempts.started.iter().position(|t| *t == at) {
            attempts.started.remove(i);
        }
    }
}
