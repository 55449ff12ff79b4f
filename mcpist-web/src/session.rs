//! Sessions and their cookies, and the CSRF tokens bound to them.

use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, header};
use subtle::ConstantTimeEq;

use crate::WebOptions;

/// A random token for cookies and forms: 256 bits, hex.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One logged-in browser.
pub(crate) struct Session {
    /// The token its forms carry.
    pub(crate) csrf: String,
    /// When it logged in.
    pub(crate) created: Instant,
    /// When it last sent a request.
    pub(crate) seen: Instant,
    /// A message for its next page.
    pub(crate) flash: Option<String>,
}

/// A logged-in request: its session's key and CSRF token, and any message
/// left for this page by the previous POST.
pub(crate) struct Visit {
    pub(crate) key: [u8; 32],
    pub(crate) csrf: String,
    pub(crate) flash: Option<String>,
}

pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A `Set-Cookie` value: never readable by scripts, never sent cross-site,
/// `Secure` when the UI is served over https.
pub(crate) fn cookie(
    options: &WebOptions,
    name: &str,
    value: &str,
    max_age: Option<Duration>,
) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if options.secure() {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("cookie values are hex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_secure_with_a_host_prefix_behind_https() {
        let local = WebOptions::new("http://127.0.0.1:8765/");
        assert_eq!(local.base_url, "http://127.0.0.1:8765");
        let plain = cookie(&local, local.session_cookie(), "ab", None);
        assert_eq!(
            plain,
            "mcpist_session=ab; Path=/; HttpOnly; SameSite=Strict"
        );
        let public = WebOptions::new("https://mcpist.example.net");
        let name = public.session_cookie();
        assert_eq!(name, "__Host-mcpist_session");
        let secure = cookie(&public, name, "ab", Some(Duration::ZERO));
        assert_eq!(
            secure,
            "__Host-mcpist_session=ab; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure"
        );
        assert_eq!(
            public.redirect_uri("github"),
            "https://mcpist.example.net/oauth/callback/github"
        );
    }
}
