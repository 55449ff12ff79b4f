//! Google's OAuth 2.0 endpoints as the Google fakes share them (one OAuth
//! client serves the whole Google family): `GET /o/oauth2/v2/auth` approves
//! at once and records its query (`access_type`, `prompt`, ...); `POST
//! /token` trades a code (with the client's id and secret in the form) or a
//! refresh token for an access token of 3599 s, and a code for a refresh
//! token too.

use std::collections::HashMap;

use axum::{
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

/// The path of the authorization endpoint.
pub const AUTHORIZE_PATH: &str = "/o/oauth2/v2/auth";
/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// Registered clients, pending codes and issued refresh tokens.
#[derive(Debug, Default)]
pub struct GoogleOAuth {
    apps: HashMap<String, String>,
    codes: HashMap<String, String>,
    refresh_tokens: Vec<String>,
    authorize_queries: Vec<HashMap<String, String>>,
    issued: u64,
}

impl GoogleOAuth {
    /// Registers an OAuth client.
    pub fn register_app(&mut self, client_id: &str, client_secret: &str) {
        self.apps
            .insert(client_id.to_owned(), client_secret.to_owned());
    }

    /// The query of every authorization request.
    pub fn authorize_queries(&self) -> Vec<HashMap<String, String>> {
        self.authorize_queries.clone()
    }

    /// The authorization endpoint, granting `scope`.
    pub fn authorize(&mut self, query: HashMap<String, String>, scope: &str) -> Response {
        let client = query.get("client_id").cloned().unwrap_or_default();
        if !self.apps.contains_key(&client) {
            return (StatusCode::BAD_REQUEST, "Error 401: invalid_client").into_response();
        }
        let (Some(redirect), Some(state)) = (
            query.get("redirect_uri").cloned(),
            query.get("state").cloned(),
        ) else {
            return (StatusCode::BAD_REQUEST, "Error 400: invalid_request").into_response();
        };
        self.authorize_queries.push(query);
        self.issued += 1;
        let code = format!("4/0Afake{}", self.issued);
        self.codes.insert(code.clone(), client);
        let location = format!("{redirect}?code={code}&state={state}&scope={scope}");
        (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
    }

    /// The token endpoint; an issued access token is pushed onto `tokens`
    /// (the API's accepted tokens).
    pub fn token(&mut self, body: &[u8], scope: &str, tokens: &mut Vec<String>) -> Response {
        let answer = |status: StatusCode, body: serde_json::Value| {
            (
                status,
                [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
                body.to_string(),
            )
                .into_response()
        };
        let raw = std::str::from_utf8(body)
            .ok()
            .map(|b| b.replace('+', "%20"));
        let form = crate::fake::parse_query(raw.as_deref());
        let client = form.get("client_id").cloned().unwrap_or_default();
        if self.apps.get(&client) != form.get("client_secret") {
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"error": "invalid_client", "error_description": "Unauthorized"}),
            );
        }
        let by_code = form.get("grant_type").map(String::as_str) == Some("authorization_code");
        let granted = match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => form
                .get("code")
                .and_then(|c| self.codes.remove(c))
                .is_some_and(|c| c == client),
            Some("refresh_token") => form
                .get("refresh_token")
                .is_some_and(|r| self.refresh_tokens.contains(r)),
            _ => false,
        };
        if !granted {
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "invalid_grant", "error_description": "Bad Request"}),
            );
        }
        self.issued += 1;
        let access = format!("ya29.fake-access-{:06}", self.issued);
        tokens.push(access.clone());
        let mut body = json!({"access_token": access, "expires_in": 3599,
            "token_type": "Bearer", "scope": scope});
        if by_code {
            let refresh = format!("1//fake-refresh-{:06}", self.issued);
            self.refresh_tokens.push(refresh.clone());
            body["refresh_token"] = json!(refresh);
        }
        answer(StatusCode::OK, body)
    }
}
