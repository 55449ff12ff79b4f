//! Client ID Metadata Documents: a client whose `client_id` is an https URL
//! publishes its metadata there, and MCPist fetches it at authorization time
//! instead of asking the client to register.
//!
//! The fetch is bounded: https only; the host must resolve to public
//! addresses only (never private, loopback, link-local, CGNAT, multicast or
//! unspecified ones), and the connection goes to the address that was
//! checked, so DNS cannot swap it afterwards; no redirects; a total timeout;
//! at most [`MAX_DOCUMENT_BYTES`]. The document's `client_id` must be its
//! own URL, and its redirect URIs are the only ones accepted.
//!
//! Tests serve documents on loopback over plain http: that needs
//! [`super::AuthServerOptions::cimd_allow_loopback_http`], which nothing
//! sets in production.

use std::net::{IpAddr, SocketAddr};

use super::{AuthServerOptions, RegisteredClient, check_redirect_uri};
use crate::audit::now_ms;

/// The largest metadata document accepted.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// Whether `client_id` is a URL-form client id (a metadata document).
pub(crate) fn is_document_id(client_id: &str) -> bool {
    client_id.starts_with("https://") || client_id.starts_with("http://")
}

fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

fn failed(what: &str, e: reqwest::Error) -> String {
    if e.is_timeout() {
        "the metadata document did not arrive in time".into()
    } else {
        format!(
            "the metadata document could not be {what}: {}",
            e.without_url()
        )
    }
}

/// Fetches and checks the metadata document at `client_id`.
pub(crate) async fn fetch(
    options: &AuthServerOptions,
    client_id: &str,
) -> Result<RegisteredClient, String> {
    let url = url::Url::parse(client_id).map_err(|e| format!("the client id is not a URL: {e}"))?;
    let loopback_test = options.cimd_allow_loopback_http;
    let host = url
        .host_str()
        .ok_or("the client id URL has no host")?
        .trim_matches(['[', ']'])
        .to_owned();
    match url.scheme() {
        "https" => {}
        "http" if loopback_test => {}
        _ => return Err("a client id metadata document must be served over https".into()),
    }
    if url.path() == "/" || url.fragment().is_some() || !url.username().is_empty() {
        return Err("a client id URL needs a path, and no fragment or user name".into());
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let timeout = options.cimd_timeout;
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| "the client's host did not resolve in time".to_owned())?
            .map_err(|e| format!("the client's host does not resolve: {e}"))?
            .collect();
    let allowed = |ip: IpAddr| public(ip) || (loopback_test && ip.is_loopback());
    let Some(addr) = addrs.first().copied() else {
        return Err("the client's host has no address".into());
    };
    if !addrs.iter().all(|a| allowed(a.ip())) {
        return Err("the client's host is on a private, loopback or link-local address".into());
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .resolve(&host, addr)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let fetched = async {
        let mut response = http
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed("fetched", e))?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "the metadata document answered {}",
                response.status()
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed("read", e))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT_BYTES {
                return Err(format!(
                    "the metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
                ));
            }
        }
        Ok(body)
    };
    let body = tokio::time::timeout(timeout, fetched)
        .await
        .map_err(|_| "the metadata document did not arrive in time".to_owned())??;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("the metadata document is not JSON: {e}"))?;
    if document.get("client_id").and_then(|v| v.as_str()) != Some(client_id) {
        return Err("the metadata document's client_id is not its own URL".into());
    }
    let uris = document
        .get("redirect_uris")
        .and_then(|v| v.as_array())
        .filter(|a| !a.is_empty() && a.len() <= 10)
        .ok_or("the metadata document lists no redirect_uris")?;
    let mut redirect_uris = Vec::new();
    for uri in uris {
        let uri = uri.as_str().ok_or("redirect URIs are strings")?;
        check_redirect_uri(uri)?;
        redirect_uris.push(uri.to_owned());
    }
    let client_name = document
        .get("client_name")
        .and_then(|v| v.as_str())
        .filter(|n| n.chars().count() <= 200 && !n.chars().any(char::is_control))
        .map(str::to_owned);
    Ok(RegisteredClient {
        client_id: client_id.to_owned(),
        client_name,
        redirect_uris,
        created_ms: now_ms(),
        last_used_ms: None,
        scopes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_fetched() {
        for private in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for ok in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(public(ok.parse().unwrap()), "{ok}");
        }
    }
}
