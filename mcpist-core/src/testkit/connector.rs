//! Behaviour every [`Connector`] must have, checked without a network.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::{
    Error,
    connector::{CallContext, Connector, Upstream},
};

/// Runs every check in this module against `connector`.
pub async fn run_all(connector: &dyn Connector) {
    tools_are_well_formed(connector);
    unknown_tool_is_rejected(connector).await;
}

/// Names are unique and valid with the service prefix, descriptions are
/// short and present, schemas are object schemas that compile, and every
/// tool says whether it only reads.
pub fn tools_are_well_formed(connector: &dyn Connector) {
    let service = connector.service();
    crate::names::check_service("service", service).expect("service name");
    let tools = connector.tools();
    assert!(!tools.is_empty(), "{service} has no tools");
    let mut names = BTreeSet::new();
    for tool in &tools {
        let full = crate::names::tool_name(service, &tool.name);
        if let Err(e) = crate::names::check_tool_name(&full) {
            panic!("{e}");
        }
        assert!(names.insert(full.clone()), "{full} is defined twice");
        assert!(
            !tool.description.trim().is_empty() && tool.description.len() <= 200,
            "{full}: the description must say what the tool does in at most 200 bytes"
        );
        assert_eq!(
            tool.input_schema["type"], "object",
            "{full}: input schema must be an object schema"
        );
        assert!(
            tool.input_schema
                .get("properties")
                .is_none_or(Value::is_object),
            "{full}: properties must be an object"
        );
        assert!(
            tool.input_schema["properties"].get("account").is_none(),
            "{full}: `account` is reserved"
        );
        jsonschema::validator_for(&tool.input_schema)
            .unwrap_or_else(|e| panic!("{full}: the input schema does not compile: {e}"));
        assert!(
            !(tool.hints.read_only && tool.hints.destructive),
            "{full}: a read-only tool cannot be destructive"
        );
        assert!(!tool.toolset.is_empty(), "{full}: toolset is empty");
    }
}

/// Calling a tool the connector does not have is an error, not a panic and
/// not a request.
pub async fn unknown_tool_is_rejected(connector: &dyn Connector) {
    let upstream = Upstream::new(
        connector.service(),
        Some("testkit".into()),
        connector.base_url().clone(),
        reqwest::Client::new(),
        connector.auth(),
        None,
    );
    let ctx = CallContext::new(upstream);
    let result = connector
        .call(&ctx, "no_such_tool_in_any_connector", Map::new())
        .await;
    assert!(
        matches!(result, Err(Error::InvalidArguments(_))),
        "{}: an unknown tool must be Error::InvalidArguments, got {result:?}",
        connector.service()
    );
}

/// Calling `tool` with `args` (which must validate and reach the upstream)
/// against a loopback fake that answers every request with one status maps
/// that status as [`crate::upstream::status_error`] does, so the exchanger
/// and the client see what happened:
///
/// - 401 is [`Error::Unauthorized`] (the exchanger renews an OAuth grant and
///   retries on it), checked when the connector sends a credential;
/// - 429 with `Retry-After` is [`Error::RateLimited`] with the time it names;
/// - 404, 500 and 503 are [`Error::Upstream`] with that status.
///
/// None of them may be a success or a panic. `tool` is the name without the
/// service prefix, as [`Connector::call`] takes it. Retries are off (the
/// answers are the same each time), so the check takes no waits.
pub async fn maps_upstream_errors(connector: &dyn Connector, tool: &str, args: Map<String, Value>) {
    use std::sync::{
        Arc,
        atomic::{AtomicU16, AtomicUsize, Ordering},
    };

    let service = connector.service();
    let status = Arc::new(AtomicU16::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let app = axum::Router::new().fallback({
        let (status, hits) = (status.clone(), hits.clone());
        move || async move {
            hits.fetch_add(1, Ordering::SeqCst);
            let code =
                axum::http::StatusCode::from_u16(status.load(Ordering::SeqCst)).expect("a status");
            (
                code,
                [("retry-after", "120"), ("content-type", "application/json")],
                r#"{"object":"error","code":"testkit","message":"testkit says no"}"#,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    // The connector's own path (GitHub Enterprise's /api/v3/) on the fake's host.
    let mut base = connector.base_url().clone();
    base.set_scheme("http").expect("http");
    base.set_host(Some("127.0.0.1")).expect("host");
    base.set_port(Some(addr.port())).expect("port");
    let settings = crate::upstream::UpstreamSettings {
        max_retries: 0,
        ..Default::default()
    };
    let sends_credential = connector.auth() != crate::Auth::None;
    let call = |code: u16| {
        status.store(code, Ordering::SeqCst);
        hits.store(0, Ordering::SeqCst);
        let upstream = Upstream::new(
            service,
            Some("testkit".into()),
            base.clone(),
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            connector.auth(),
            Some(Arc::new(crate::upstream::StaticToken(
                "testkit-token".into(),
            ))),
        )
        .with_settings(settings);
        let (args, hits) = (args.clone(), hits.clone());
        async move {
            let result = connector
                .call(&CallContext::new(upstream), tool, args)
                .await;
            assert!(
                hits.load(Ordering::SeqCst) > 0,
                "{service}.{tool}: the call never reached the upstream (got {result:?}); \
                 pass arguments that validate"
            );
            result
        }
    };

    if sends_credential {
        let result = call(401).await;
        assert!(
            matches!(result, Err(Error::Unauthorized { .. })),
            "{service}.{tool}: upstream 401 must be Error::Unauthorized (so the exchanger \
             renews the grant and retries), got {result:?}"
        );
    }
    let before = std::time::SystemTime::now();
    let result = call(429).await;
    match result {
        Err(Error::RateLimited {
            until: Some(until), ..
        }) => assert!(
            until >= before + std::time::Duration::from_secs(100),
            "{service}.{tool}: 429 with Retry-After: 120 must be RateLimited until about \
             two minutes from now, got {until:?}"
        ),
        other => panic!(
            "{service}.{tool}: upstream 429 with Retry-After must be Error::RateLimited with \
             its time (pass the response headers to status_error), got {other:?}"
        ),
    }
    for code in [404, 500, 503] {
        let result = call(code).await;
        assert!(
            matches!(result, Err(Error::Upstream { status, .. }) if status == code),
            "{service}.{tool}: upstream {code} must be Error::Upstream with status {code}, \
             got {result:?}"
        );
    }
    server.abort();
}
