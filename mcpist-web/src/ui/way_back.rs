//! The way back after the login. A page that needs the web UI session (an
//! OAuth authorization request, a connect link) sends a logged-out browser
//! to `/login` with a short-lived cookie naming where it was; the login then
//! sends it back there, and only to such a page, never to another site or
//! another path of the UI.

use std::time::Duration;

use axum::{
    http::{HeaderMap, header},
    response::Response,
};
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::Web;
use crate::session::cookie_value;

/// The pages the login may send the browser back to.
const PAGES: [&str; 2] = ["/oauth/authorize?", "/connect/"];

/// How long the way back is remembered.
const LIFETIME: Duration = Duration::from_secs(600);

fn cookie_name(web: &Web) -> &'static str {
    if web.options.secure() {
        "__Host-mcpist_next"
    } else {
        "mcpist_next"
    }
}

/// Remembers `page` (one of [`PAGES`], with its query) on `response`, which
/// sends the browser to the login.
pub(super) fn remember(web: &Web, response: &mut Response, page: &str) {
    let value = utf8_percent_encode(page, NON_ALPHANUMERIC).to_string();
    response.headers_mut().append(
        header::SET_COOKIE,
        web.cookie(cookie_name(web), &value, Some(LIFETIME)),
    );
}

/// Where the login sends the browser: the remembered page if it is one of
/// [`PAGES`], else the services page.
pub(super) fn after_login(web: &Web, headers: &HeaderMap) -> String {
    cookie_value(headers, cookie_name(web))
        .and_then(|value| percent_decode_str(value).decode_utf8().ok())
        .filter(|page| allowed(page))
        .map_or_else(|| "/".to_owned(), |page| page.into_owned())
}

/// A page of [`PAGES`], in printable ASCII (it becomes a `Location` header),
/// whose path has no empty segment or backslash a browser could read as
/// another host.
fn allowed(page: &str) -> bool {
    let path = page.split('?').next().unwrap_or_default();
    PAGES.iter().any(|p| page.starts_with(p))
        && page.bytes().all(|b| b.is_ascii_graphic())
        && !path.contains("//")
        && !path.contains('\\')
}

/// Clears the cookie [`after_login`] read; appended after the session
/// cookie, which clients that read the first `Set-Cookie` expect.
pub(super) fn forget(web: &Web, response: &mut Response) {
    response.headers_mut().append(
        header::SET_COOKIE,
        web.cookie(cookie_name(web), "", Some(Duration::ZERO)),
    );
}

#[cfg(test)]
mod tests {
    use super::allowed;

    #[test]
    fn only_authorization_requests_and_connect_pages_are_ways_back() {
        for page in [
            "/oauth/authorize?client_id=a&redirect_uri=https://app.example/cb",
            "/connect/github?account=work",
        ] {
            assert!(allowed(page), "{page}");
        }
        for page in [
            "https://evil.example/",
            "//evil.example",
            "/audit",
            "/connect//evil.example",
            "/connect/\\evil.example",
            "/connect/github?account=a b",
            "/oauth/authorize",
        ] {
            assert!(!allowed(page), "{page}");
        }
    }
}
