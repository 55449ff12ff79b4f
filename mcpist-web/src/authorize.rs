//! The authorization endpoint of MCPist's own OAuth server
//! ([`mcpist_core::auth_server`]) and the "Remote clients" page.
//!
//! `GET /oauth/authorize` checks the request (client, exact redirect URI,
//! PKCE S256, `resource`, scopes); without a session it sends the browser to
//! the login and back. The consent page names the client, its redirect
//! host and the scopes with what they allow; its form carries the session's
//! CSRF token and the request's parameters, which the POST checks again. An
//! approval redirects with `code`, `state` and `iss` (RFC 9207).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::{Markup, html};
use mcpist_core::auth_server::{AuthRequest, AuthServer, AuthorizeError, scope_description};
use secrecy::ExposeSecret;

use super::{Web, html as page, redirect, way_back};
use crate::pages;

/// The parameters of an authorization request that the consent form
/// carries back.
const PARAMS: [&str; 8] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "resource",
];

fn not_enabled() -> Response {
    page(
        StatusCode::NOT_FOUND,
        pages::message(
            "Remote clients are off",
            "This server has no authorization server for remote clients.",
        ),
    )
}

fn refused(text: &str) -> Response {
    page(
        StatusCode::BAD_REQUEST,
        pages::message("Authorization refused", text),
    )
}

/// `redirect_uri` with the query parameters added.
fn with_query(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        // Registered URIs parse; refuse to guess otherwise.
        Err(_) => return "/".into(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    url.into()
}

fn error_redirect(oauth: &AuthServer, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Show(text) => refused(&text),
        AuthorizeError::Redirect {
            redirect_uri,
            error,
            state,
        } => {
            let mut params = vec![
                ("error", error.code),
                ("error_description", error.description.as_str()),
                ("iss", oauth.issuer()),
            ];
            if let Some(state) = &state {
                params.push(("state", state));
            }
            redirect(&with_query(&redirect_uri, &params))
        }
    }
}

/// `GET /oauth/authorize`.
pub(super) async fn authorize_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(oauth) = web.options.oauth.clone() else {
        return not_enabled();
    };
    let query = query.unwrap_or_default();
    let params = parse(query.as_bytes());
    let request = match oauth.check_authorize(&params).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return error_redirect(&oauth, e),
        Err(e) => return refused(&e.to_string()),
    };
    let Some(visit) = web.visit(&headers) else {
        // Log in first, then back here.
        let mut response = redirect("/login");
        way_back::remember(&web, &mut response, &format!("/oauth/authorize?{query}"));
        return response;
    };
    page(StatusCode::OK, consent(&visit.csrf, &request, &params))
}

/// `POST /oauth/authorize`: the consent form's answer.
pub(super) async fn authorize_decision(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(oauth) = web.options.oauth.clone() else {
        return not_enabled();
    };
    let (_visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let params: BTreeMap<String, String> = PARAMS
        .iter()
        .filter_map(|k| form.get(k).map(|v| ((*k).to_owned(), v.to_owned())))
        .collect();
    let request = match oauth.check_authorize(&params).await {
        Ok(Ok(request)) => request,
        Ok(Err(e)) => return error_redirect(&oauth, e),
        Err(e) => return refused(&e.to_string()),
    };
    let mut back = vec![("iss", oauth.issuer())];
    if let Some(state) = &request.state {
        back.push(("state", state));
    }
    if form.get("decision") != Some("approve") {
        oauth.deny(&request).await;
        back.insert(0, ("error", "access_denied"));
        return redirect(&with_query(&request.redirect_uri, &back));
    }
    match oauth.approve(&request).await {
        Ok(code) => {
            back.insert(0, ("code", code.expose_secret()));
            redirect(&with_query(&request.redirect_uri, &back))
        }
        Err(e) => refused(&e.to_string()),
    }
}

fn parse(body: &[u8]) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn consent(csrf: &str, request: &AuthRequest, params: &BTreeMap<String, String>) -> Markup {
    let client = &request.client;
    let host = url::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| request.redirect_uri.clone());
    pages::bare(
        "Allow access?",
        html! {
            p {
                "A client that calls itself "
                strong { (client.client_name.as_deref().unwrap_or("(no name)")) }
                " asks to use your MCPist tools."
            }
            dl {
                dt { "Client id" } dd { code { (client.client_id) } }
                dt { "Sends you back to" } dd { strong { (host) } " (" code { (request.redirect_uri) } ")" }
            }
            h2 { "It asks to" }
            ul {
                @for scope in &request.scopes {
                    li { code { (scope) } ": " (scope_description(scope)) }
                }
            }
            p { "It never sees your upstream tokens: it gets a short-lived MCPist token for this server's MCP endpoint only. You can revoke it under Remote clients." }
            form method="post" action="/oauth/authorize" {
                input type="hidden" name="csrf" value=(csrf);
                @for key in PARAMS {
                    @if let Some(value) = params.get(key) {
                        input type="hidden" name=(key) value=(value);
                    }
                }
                div.actions {
                    button type="submit" name="decision" value="approve" id="approve" { "Allow" }
                    button.secondary type="submit" name="decision" value="deny" id="deny" { "Deny" }
                }
            }
        },
    )
}

/// `GET /remote-clients`: the registered clients, their scopes, when they
/// registered and were last used, and a revoke button each.
pub(super) async fn remote_clients_page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
) -> Response {
    let Some(visit) = web.visit(&headers) else {
        return redirect("/login");
    };
    let Some(oauth) = web.options.oauth.clone() else {
        return not_enabled();
    };
    match oauth.clients().await {
        Ok(clients) => page(
            StatusCode::OK,
            pages::remote_clients(&web.chrome(&visit, "remote"), &clients, oauth.resource()),
        ),
        Err(e) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            pages::message("Store error", &e.to_string()),
        ),
    }
}

/// `POST /remote-clients/{client_id}/revoke`.
pub(super) async fn revoke_client(
    State(web): State<Arc<Web>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (visit, _) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let Some(oauth) = web.options.oauth.clone() else {
        return not_enabled();
    };
    let result = oauth.remove_client(&client_id).await.map(|existed| {
        if existed {
            "Revoked the client and every token it held.".to_owned()
        } else {
            "No such client.".to_owned()
        }
    });
    web.report(&visit, result, "Could not revoke", "/remote-clients")
}
