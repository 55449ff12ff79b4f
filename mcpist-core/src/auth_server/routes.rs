//! The authorization server's HTTP endpoints that need no browser session:
//! protected resource metadata (RFC 9728), authorization server metadata
//! (RFC 8414, and the OpenID discovery path clients also probe), Dynamic
//! Client Registration (RFC 7591), the token endpoint and revocation
//! (RFC 7009). [`crate::http::router_with`] mounts them when
//! [`crate::http::HttpOptions::oauth`] is set.

use std::collections::BTreeMap;

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{AuthServer, OAuthError, SCOPE_ALL, SCOPES};

/// The path of the authorization endpoint (served by the web UI).
pub const AUTHORIZE_PATH: &str = "/oauth/authorize";
/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/oauth/token";
/// The path of the registration endpoint.
pub const REGISTER_PATH: &str = "/oauth/register";
/// The path of the revocation endpoint.
pub const REVOKE_PATH: &str = "/oauth/revoke";

/// The routes, with their state.
pub fn routes(server: AuthServer) -> Router {
    Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/.well-known/openid-configuration", get(server_metadata))
        .route(REGISTER_PATH, post(register))
        .route(TOKEN_PATH, post(token))
        .route(REVOKE_PATH, post(revoke))
        .with_state(server)
}

/// The `WWW-Authenticate` value of a 401 from `/mcp`: where the protected
/// resource metadata is, and the scope to ask for; `error="invalid_token"`
/// when a token was presented but is not valid.
pub fn challenge(server: &AuthServer, presented: bool) -> String {
    let error = if presented {
        ", error=\"invalid_token\""
    } else {
        ""
    };
    format!(
        "Bearer resource_metadata=\"{}\", scope=\"{SCOPE_ALL}\"{error}",
        server.resource_metadata_url()
    )
}

fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(body),
    )
        .into_response()
}

fn error(e: &OAuthError) -> Response {
    let status = match e.code {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    no_store(
        status,
        json!({"error": e.code, "error_description": e.description}),
    )
}

async fn resource_metadata(State(server): State<AuthServer>) -> Response {
    Json(json!({
        "resource": server.resource(),
        "authorization_servers": [server.issuer()],
        "scopes_supported": SCOPES,
        "bearer_methods_supported": ["header"],
        "resource_name": "MCPist",
    }))
    .into_response()
}

async fn server_metadata(State(server): State<AuthServer>) -> Response {
    let issuer = server.issuer();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "registration_endpoint": format!("{issuer}{REGISTER_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOKE_PATH}"),
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["none"],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "code_challenge_methods_supported": ["S256"],
        "client_id_metadata_document_supported": true,
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

/// A form's fields; a repeated one is an `invalid_request` (RFC 6749 §3.1).
fn form(body: &[u8]) -> Result<BTreeMap<String, String>, OAuthError> {
    let mut fields = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if fields
            .insert(k.clone().into_owned(), v.into_owned())
            .is_some()
        {
            return Err(OAuthError::new(
                "invalid_request",
                format!("parameter {k:?} is repeated"),
            ));
        }
    }
    Ok(fields)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        })
}

async fn register(State(server): State<AuthServer>, body: Bytes) -> Response {
    let request: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        _ => {
            return error(&OAuthError::new(
                "invalid_client_metadata",
                "the body must be a JSON object of client metadata",
            ));
        }
    };
    match server.register(&request).await {
        Ok(registered) => no_store(StatusCode::CREATED, registered),
        Err(e) => {
            tracing::warn!(error = %e.code, "refused a client registration");
            error(&e)
        }
    }
}

async fn token(State(server): State<AuthServer>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return error(&OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(e) => return error(&e),
    };
    match server.token(&fields).await {
        Ok(tokens) => no_store(
            StatusCode::OK,
            json!({
                "access_token": tokens.access_token.expose_secret(),
                "token_type": "Bearer",
                "expires_in": tokens.expires_in,
                "refresh_token": tokens.refresh_token.expose_secret(),
                "scope": tokens.scope,
            }),
        ),
        Err(e) => {
            tracing::warn!(error = %e.code, "refused a token request");
            error(&e)
        }
    }
}

async fn revoke(State(server): State<AuthServer>, headers: HeaderMap, body: Bytes) -> Response {
    if !is_form(&headers) {
        return error(&OAuthError::new(
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let fields = match form(&body) {
        Ok(fields) => fields,
        Err(e) => return error(&e),
    };
    let Some(token) = fields.get("token") else {
        return error(&OAuthError::new("invalid_request", "token is required"));
    };
    match server.revoke(token).await {
        Ok(()) => no_store(StatusCode::OK, json!({})),
        Err(e) => error(&OAuthError::new("server_error", e.to_string())),
    }
}
