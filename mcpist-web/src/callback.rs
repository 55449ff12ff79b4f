//! `GET /oauth/callback/{service}`: where an OAuth provider sends the browser
//! back after a login, for the web UI and for `mcpist login`'s loopback
//! listener alike. It lives here, beside the pages, because it answers the
//! browser with a page; it needs only core's public login API.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use axum::{
    Router,
    extract::{Path, Query},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use maud::{DOCTYPE, html};
use mcpist_core::{Connector, Error, Exchanger, oauth::LoginFlows, store::AccountKey};
use tokio::sync::mpsc;

/// What the OAuth callback route needs.
#[derive(Clone)]
pub struct LoginCallback {
    /// Exchanges codes and stores grants.
    pub exchanger: Exchanger,
    /// The logins in progress.
    pub flows: Arc<LoginFlows>,
    /// The connectors, by service, to ask who a new grant belongs to.
    pub connectors: Arc<BTreeMap<String, Arc<dyn Connector>>>,
    /// Told how each login that reached the callback ended.
    pub done: Option<mpsc::UnboundedSender<mcpist_core::Result<AccountKey>>>,
    /// Where the browser goes after a login (the web UI's page), if anywhere.
    pub back_to: Option<String>,
    /// The connect links a login may have been started from (the web UI's):
    /// the callback claims the login's link before it stores anything and
    /// uses it up once the account is stored.
    pub links: Option<Arc<mcpist_core::connect::ConnectLinks>>,
}

impl std::fmt::Debug for LoginCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginCallback").finish_non_exhaustive()
    }
}

/// `GET /oauth/callback/{service}`: where the provider sends the browser
/// back. Checks the one-time `state` (and that it was issued for this
/// service's path, against mix-ups), exchanges the code, stores the grant.
/// A provider error, a missing code, or an unknown, reused or expired state
/// stores nothing.
pub fn login_callback_routes(callback: LoginCallback) -> Router {
    Router::new().route(
        "/oauth/callback/{service}",
        get(
            move |Path(service): Path<String>, Query(query): Query<HashMap<String, String>>| {
                let callback = callback.clone();
                async move { finish_login(&callback, &service, &query).await }
            },
        ),
    )
}

/// The page the callback answers with; `next` is where it sends the browser on.
///
/// The provider's redirect is a cross-site navigation, which carries no
/// SameSite=Strict cookie: the page sends the browser on from our own
/// origin, where the web UI's session cookie is sent again.
fn page(status: StatusCode, title: &str, text: &str, next: Option<String>) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "MCPist: " (title) }
                meta name="viewport" content="width=device-width";
                @if let Some(next) = &next {
                    meta http-equiv="refresh" content={ "0;url=" (next) };
                }
            }
            body style="font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem" {
                h1 { (title) }
                p { (text) }
                @if let Some(next) = &next {
                    p { a href=(next) { "Back to MCPist" } }
                }
            }
        }
    };
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        [(
            "content-security-policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )],
        markup.into_string(),
    )
        .into_response()
}

async fn finish_login(
    callback: &LoginCallback,
    service: &str,
    query: &HashMap<String, String>,
) -> Response {
    let Some(state) = query.get("state") else {
        return page(
            StatusCode::BAD_REQUEST,
            "Login failed",
            "The provider sent no state.",
            callback.back_to.clone(),
        );
    };
    let login = match callback.flows.take(state) {
        Ok(login) => login,
        // Not ours (or already used): leave any waiting login alone.
        Err(e) => {
            return page(
                StatusCode::BAD_REQUEST,
                "Login failed",
                &e.to_string(),
                callback.back_to.clone(),
            );
        }
    };
    // A login started from a connect link stores nothing unless the link
    // is still live; a second one from the same link is refused.
    let claim = match (&login.connect_link, &callback.links) {
        (None, _) => None,
        (Some(link), links) => {
            match links
                .as_ref()
                .ok_or(mcpist_core::connect::LinkRefusal::Unknown)
                .and_then(|links| links.claim(link, &login.service, &login.account))
            {
                Ok(claim) => Some(claim),
                Err(refusal) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "Login refused",
                        &refusal.to_string(),
                        callback.back_to.clone(),
                    );
                }
            }
        }
    };
    let result = if login.service != service {
        Err(Error::InvalidArguments(format!(
            "this login was started for {}, not {service}; start it again",
            login.service
        )))
    } else if let Some(error) = query.get("error") {
        let detail = query
            .get("error_description")
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        Err(Error::Account {
            service: service.to_owned(),
            message: format!("the provider refused the login: {error}{detail}; nothing was stored"),
        })
    } else if let Some(code) = query.get("code") {
        match callback.connectors.get(service) {
            Some(connector) => {
                callback
                    .exchanger
                    .complete_login(login, code, connector.as_ref())
                    .await
            }
            None => Err(Error::InvalidArguments(format!(
                "unknown service {service}"
            ))),
        }
    } else {
        Err(Error::InvalidArguments(
            "the provider sent no authorization code".into(),
        ))
    };
    if let (Ok(_), Some(claim)) = (&result, claim) {
        claim.connected();
    }
    let response = match &result {
        Ok(key) => page(
            StatusCode::OK,
            "Connected",
            &format!(
                "Account '{}' of {} is connected. You can close this tab.",
                key.account(),
                key.service()
            ),
            callback.back_to.as_ref().map(|to| {
                let connected = format!("{}/{}", key.service(), key.account());
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("connected", &connected)
                    .finish();
                format!("{to}?{query}")
            }),
        ),
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "Login failed",
            &e.to_string(),
            callback.back_to.clone(),
        ),
    };
    if let Some(done) = &callback.done {
        let _ = done.send(result);
    }
    response
}
