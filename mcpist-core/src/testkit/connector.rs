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
