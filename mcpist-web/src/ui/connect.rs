//! `GET /connect/{service}?account=LABEL&link=TOKEN`: the page a client's
//! URL elicitation (or its `isError` text) sends the user to, to connect the
//! account a call lacked: OAuth with the stored app, or a pasted token.
//!
//! The page needs the web UI login, always: a link alone must not let
//! anyone attach an account (a hostile client could attach its own and
//! collect what the agent writes there). The link is one-time and lasts 10
//! minutes ([`mcpist_core::connect::ConnectLinks`]); it is used up when the
//! account is connected (a failed or abandoned login leaves it usable), a
//! second use while one is being stored is refused, and a forged, reused,
//! late or other-account link changes nothing and says so.

use std::{collections::HashMap, sync::Arc};

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use maud::html;
use mcpist_core::{Error, oauth::AppCredentials, store::AccountKey};
use secrecy::SecretString;

use super::{Web, html, way_back};
use crate::{form::Form, pages};

fn refused(text: &str) -> Response {
    html(
        StatusCode::BAD_REQUEST,
        pages::message("Connect link refused", text),
    )
}

/// `GET /connect/{service}`: the login first, then the link's check, then
/// the ways to connect.
pub(super) async fn page(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let account = query.get("account").cloned().unwrap_or_default();
    let link = query.get("link").cloned().unwrap_or_default();
    let Some(visit) = web.visit(&headers) else {
        // A client opens this link cross-site, which sends no SameSite=Strict
        // session cookie: go on from our own origin (where it is sent) to
        // the login, which comes back here.
        let here: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("account", &account)
            .append_pair("link", &link)
            .finish();
        let here = format!(
            "/connect/{}?{here}",
            url::form_urlencoded::byte_serialize(service.as_bytes()).collect::<String>()
        );
        let markup = html! {
            (maud::DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta http-equiv="refresh" content="0;url=/login";
                    title { "Log in to connect · MCPist" }
                }
                body { p { "Log in to MCPist to connect the account: " a href="/login" { "log in" } } }
            }
        };
        let mut response = html(StatusCode::OK, markup);
        way_back::remember(&web, &mut response, &here);
        return response;
    };
    if web.server.connectors().get(service.as_str()).is_none() {
        return refused(&format!(
            "MCPist serves no service {service:?}; nothing was changed."
        ));
    }
    if let Err(refusal) = web.server.connect_links().check(&link, &service, &account) {
        return refused(&refusal.to_string());
    }
    let exchanger = web.server.exchanger();
    let oauth = exchanger.oauth_spec(&service).is_some();
    let app = oauth
        && AppCredentials::load(web.store().as_ref(), &service)
            .await
            .ok()
            .flatten()
            .is_some();
    let chrome = web.chrome(&visit, "services");
    let body = html! {
        p { "A client asked to use account " strong { (account) } " of " (service)
            ", which is not connected. Connect it here; then the client's retry of its call uses it." }
        @if oauth {
            section {
                h2 { "Log in with OAuth" }
                @if app {
                    form method="post" action={ "/connect/" (service) "/oauth" } {
                        input type="hidden" name="csrf" value=(visit.csrf);
                        input type="hidden" name="account" value=(account);
                        input type="hidden" name="link" value=(link);
                        button type="submit" { "Log in to " (service) " as '" (account) "'" }
                    }
                } @else {
                    p { "No OAuth app is stored for " (service) " yet: add one on "
                        a href="/apps" { "OAuth apps" } ", then open this link again." }
                }
            }
        }
        section {
            h2 { "Paste a token" }
            form method="post" action={ "/connect/" (service) "/token" } {
                input type="hidden" name="csrf" value=(visit.csrf);
                input type="hidden" name="account" value=(account);
                input type="hidden" name="link" value=(link);
                label for="token" { "Token" }
                input id="token" type="password" name="token" autocomplete="off" required;
                div.actions { button type="submit" { "Connect with this token" } }
            }
        }
    };
    html(
        StatusCode::OK,
        pages::layout(
            &chrome,
            &format!("Connect account '{account}' of {service}"),
            body,
        ),
    )
}

/// The account and link of a submitted connect form, if the link is live
/// for them; else the page that says why nothing happened.
fn live_link(web: &Web, service: &str, form: &Form) -> Result<(String, String), Box<Response>> {
    let account = form.text("account");
    let link = form.text("link");
    web.server
        .connect_links()
        .check(&link, service, &account)
        .map_err(|refusal| Box::new(refused(&refusal.to_string())))?;
    Ok((account, link))
}

/// `POST /connect/{service}/oauth`: starts the login with the stored app.
/// The link stays usable until the callback stores the grant: a failed or
/// abandoned login does not use it up.
pub(super) async fn oauth(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let (account, link) = match live_link(&web, &service, &form) {
        Ok(live) => live,
        Err(response) => return *response,
    };
    super::start_login(&web, &visit, &service, &account, None, Some(&link)).await
}

/// `POST /connect/{service}/token`: uses the link up and stores the token
/// (checked upstream, as the "Add a token" page does).
pub(super) async fn token(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    body: Bytes,
) -> Response {
    let (visit, form) = match web.submission(&headers, body) {
        Ok(submitted) => submitted,
        Err(response) => return *response,
    };
    let account = form.text("account");
    // Held while the token is checked and stored: a second use meanwhile is
    // refused; a token that fails leaves the link usable.
    let claim = match web
        .server
        .connect_links()
        .claim(&form.text("link"), &service, &account)
    {
        Ok(claim) => claim,
        Err(refusal) => return refused(&refusal.to_string()),
    };
    let token = SecretString::from(form.get("token").unwrap_or("").trim().to_owned());
    let result = async {
        let connector = web
            .server
            .connectors()
            .get(service.as_str())
            .ok_or_else(|| Error::InvalidArguments(format!("unknown service {service:?}")))?;
        let key = AccountKey::new(&service, &account)?;
        web.server
            .exchanger()
            .add_token(connector.as_ref(), &key, token, true)
            .await
    }
    .await;
    if result.is_ok() {
        claim.connected();
    }
    let done = result.map(|added| {
        format!(
            "Connected account '{account}' of {service}{}. Go back to the chat: the client's retry uses it.",
            added
                .identity
                .map(|i| format!(", signed in upstream as {i}"))
                .unwrap_or_default()
        )
    });
    web.report(&visit, done, "Could not connect the account", "/")
}
