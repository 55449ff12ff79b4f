//! Test-only connectors that provide the tools, resources, prompts and
//! completions the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`) calls. Behind the
//! `conformance` feature, never enabled by default, and served only when the
//! config names them (`[connectors.test]`, `[connectors.json]`).
//!
//! They go through the same registry, server, validation and transports as
//! every real connector, which is what the suite then checks.

// Sampling is deprecated from protocol 2026-07-28 (SEP-2577) but the 2025-11-25
// suite calls a tool that uses it.
#![allow(deprecated)]

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use mcpist_core::{
    Auth, CallContext, Connector, Error, Registration, Result, ToolHints, ToolSpec,
    connector::{LogLevel, parse_config},
    mcp::{
        CallToolResult, ContentBlock, CreateMessageRequestParams, ElicitRequestParams,
        InputRequest, JsonObject, PromptMessage, ResourceContents, Role,
    },
    resources::{CompletionRequest, CompletionTarget, PromptSpec, ResourceSpec},
};
use serde::Deserialize;
use serde_json::json;
use url::Url;

/// The services this module registers: `test` (its tools are `test_*`) and
/// `json` (for `json_schema_2020_12_tool`).
pub const NAMES: [&str; 2] = ["json", "test"];

mcpist_core::inventory::submit! {
    Registration {
        service: "test",
        summary: "MCP conformance suite fixture (test only)",
        enabled_by_default: false,
        build: |raw| build("test", raw),
    }
}

mcpist_core::inventory::submit! {
    Registration {
        service: "json",
        summary: "MCP conformance suite fixture: JSON Schema 2020-12 (test only)",
        enabled_by_default: false,
        build: |raw| build("json", raw),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn build(service: &'static str, raw: serde_json::Value) -> Result<Arc<dyn Connector>> {
    let _: Empty = parse_config(service, raw)?;
    Ok(Arc::new(Fixture {
        service,
        // Never called: these tools answer locally.
        base_url: Url::parse("http://127.0.0.1:9/").expect("static URL"),
    }))
}

/// One of the two fixture connectors.
#[derive(Debug)]
struct Fixture {
    service: &'static str,
    base_url: Url,
}

// A 1x1 PNG and a tiny WAV, base64.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV: &str = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA=";

fn no_args(name: &'static str, description: &'static str) -> ToolSpec {
    ToolSpec::new(
        name,
        description,
        json!({"type": "object", "properties": {}}),
        ToolHints {
            read_only: true,
            destructive: false,
            idempotent: true,
            open_world: false,
        },
        "conformance",
    )
}

/// A tool with one required string argument.
fn with_string(name: &'static str, argument: &str, description: &'static str) -> ToolSpec {
    let mut spec = no_args(name, description);
    spec.input_schema = json!({"type": "object",
        "properties": {argument: {"type": "string"}}, "required": [argument]});
    spec
}

/// An rmcp request type from the JSON the suite describes.
fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::other("conformance fixture", e))
}

/// One question for [`CallContext::ask`], from the JSON the suite describes.
fn question(key: &str, request: serde_json::Value) -> Result<(String, InputRequest)> {
    Ok((key.to_owned(), from_json(request)?))
}

/// An `elicitation/create` request for one required `field` of `kind`.
fn elicitation(message: &str, field: &str, kind: &str) -> serde_json::Value {
    json!({"method": "elicitation/create", "params": {"mode": "form", "message": message,
        "requestedSchema": {"type": "object", "properties": {field: {"type": kind}},
            "required": [field]}}})
}

/// A `sampling/createMessage` request for `prompt`.
fn sampling(prompt: &str, max_tokens: u32) -> serde_json::Value {
    json!({"method": "sampling/createMessage", "params": {
        "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
        "maxTokens": max_tokens}})
}

/// A `roots/list` request.
fn roots() -> serde_json::Value {
    json!({"method": "roots/list"})
}

/// Asks the user with the form `schema` and reports the answer as the
/// suite's elicitation tools do.
async fn elicited(ctx: &CallContext, schema: serde_json::Value) -> Result<CallToolResult> {
    let params: ElicitRequestParams = from_json(json!({
        "mode": "form", "message": "Please review and accept the defaults",
        "requestedSchema": schema
    }))?;
    let answer = serde_json::to_value(ctx.elicit(params).await?).unwrap_or_default();
    Ok(CallToolResult::success(vec![ContentBlock::text(format!(
        "Elicitation completed: action={}, content={}",
        answer["action"].as_str().unwrap_or_default(),
        answer.get("content").cloned().unwrap_or_default()
    ))]))
}

#[async_trait]
impl Connector for Fixture {
    fn service(&self) -> &'static str {
        self.service
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        if self.service == "json" {
            let mut spec = no_args(
                "schema_2020_12_tool",
                "Tool with JSON Schema 2020-12 features",
            );
            // The suite's own schema (0.2.0-alpha.12 adds the SEP-2106
            // keywords: $anchor, allOf/anyOf, if/then/else).
            spec.input_schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                    "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                    "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                    "phone": {"type": "string"}, "email": {"type": "string"}},
                "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
                "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
                "then": {"required": ["phone"]},
                "else": {"required": ["email"]},
                "additionalProperties": false
            });
            return vec![spec];
        }
        vec![
            no_args("simple_text", "Returns a simple text."),
            no_args("image_content", "Returns an image."),
            no_args("audio_content", "Returns audio."),
            no_args("embedded_resource", "Returns an embedded resource."),
            no_args(
                "multiple_content_types",
                "Returns text, an image and a resource.",
            ),
            no_args("error_handling", "Always fails."),
            no_args("tool_with_logging", "Sends three log messages."),
            no_args("tool_with_progress", "Reports progress."),
            with_string("sampling", "prompt", "Asks the client's model (sampling)."),
            with_string("elicitation", "message", "Asks the user (elicitation)."),
            no_args(
                "elicitation_sep1034_defaults",
                "Asks the user with defaults for every primitive type.",
            ),
            no_args(
                "elicitation_sep1330_enums",
                "Asks the user with every enum variant.",
            ),
            no_args(
                "input_required_result_elicitation",
                "Asks the user's name first.",
            ),
            no_args(
                "input_required_result_request_state",
                "Asks for a confirmation first.",
            ),
            no_args(
                "input_required_result_sampling",
                "Asks the client's model first.",
            ),
            no_args(
                "input_required_result_list_roots",
                "Asks for the client's roots first.",
            ),
            no_args(
                "input_required_result_multiple_inputs",
                "Asks three questions at once.",
            ),
            no_args(
                "input_required_result_multi_round",
                "Asks two questions, one per round.",
            ),
            no_args(
                "input_required_result_tampered_state",
                "Asks one question (sealed state).",
            ),
            no_args(
                "input_required_result_capabilities",
                "Asks only what the client declared.",
            ),
            no_args(
                "missing_capability",
                "Needs sampling, whatever the client declared.",
            ),
            no_args("streaming_elicitation", "Asks the user a question."),
            no_args("logging_tool", "Sends one log message."),
        ]
    }

    fn resources(&self) -> Vec<ResourceSpec> {
        if self.service != "test" {
            return Vec::new();
        }
        vec![
            ResourceSpec::new(
                "static_text",
                "test://static-text",
                "A static text resource",
                "conformance",
            )
            .mime_type("text/plain"),
            ResourceSpec::new(
                "static_binary",
                "test://static-binary",
                "A static binary resource (a PNG)",
                "conformance",
            )
            .mime_type("image/png"),
            ResourceSpec::new(
                "watched_resource",
                "test://watched-resource",
                "A resource to subscribe to",
                "conformance",
            )
            .mime_type("text/plain"),
            ResourceSpec::new(
                "template",
                "test://template/{id}/data",
                "Data for an id",
                "conformance",
            )
            .mime_type("application/json"),
        ]
    }

    async fn read_resource(
        &self,
        _ctx: &CallContext,
        resource: &str,
        uri: &str,
        params: JsonObject,
    ) -> Result<Vec<ResourceContents>> {
        let text = |t: &str, mime: &str| ResourceContents::text(t, uri).with_mime_type(mime);
        Ok(vec![match resource {
            "static_text" => text(
                "This is the content of the static text resource.",
                "text/plain",
            ),
            "static_binary" => ResourceContents::BlobResourceContents {
                uri: uri.to_owned(),
                mime_type: Some("image/png".into()),
                blob: PNG.into(),
                meta: None,
            },
            "watched_resource" => text("Watched resource content.", "text/plain"),
            "template" => {
                let id = params
                    .get("id")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default();
                let data =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                text(&data.to_string(), "application/json")
            }
            other => return Err(Error::InvalidArguments(format!("no resource {other}"))),
        }])
    }

    fn prompts(&self) -> Vec<PromptSpec> {
        if self.service != "test" {
            return Vec::new();
        }
        vec![
            PromptSpec::new(
                "simple_prompt",
                "A simple prompt without arguments",
                "conformance",
            ),
            PromptSpec::new(
                "prompt_with_arguments",
                "A prompt with arguments",
                "conformance",
            )
            .arg("arg1", "First test argument", true)
            .arg("arg2", "Second test argument", true),
            PromptSpec::new(
                "prompt_with_embedded_resource",
                "A prompt with an embedded resource",
                "conformance",
            )
            .arg("resourceUri", "URI of the resource to embed", true),
            PromptSpec::new("prompt_with_image", "A prompt with an image", "conformance"),
            PromptSpec::new(
                "input_required_result_prompt",
                "A prompt that asks the user for context first",
                "conformance",
            ),
        ]
    }

    async fn get_prompt(
        &self,
        ctx: &CallContext,
        prompt: &str,
        args: JsonObject,
    ) -> Result<Vec<PromptMessage>> {
        let arg = |name: &str| args.get(name).and_then(|v| v.as_str()).unwrap_or_default();
        let user = |text: String| PromptMessage::new(Role::User, ContentBlock::text(text));
        Ok(match prompt {
            "simple_prompt" => vec![user("This is a simple prompt for testing.".into())],
            "prompt_with_arguments" => vec![user(format!(
                "Prompt with arguments: arg1='{}', arg2='{}'",
                arg("arg1"),
                arg("arg2")
            ))],
            "prompt_with_embedded_resource" => vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(ResourceContents::text(
                        "Embedded resource content for testing.",
                        arg("resourceUri"),
                    )),
                ),
                user("Please process the embedded resource above.".into()),
            ],
            "input_required_result_prompt" => {
                let answers = ctx
                    .ask(vec![question(
                        "user_context",
                        elicitation("What context should the prompt use?", "context", "string"),
                    )?])
                    .await?;
                vec![user(format!(
                    "Use this context: {}",
                    answers[0]["content"]["context"]
                        .as_str()
                        .unwrap_or_default()
                ))]
            }
            "prompt_with_image" => vec![
                PromptMessage::new(Role::User, ContentBlock::image(PNG, "image/png")),
                user("Please analyze the image above.".into()),
            ],
            other => return Err(Error::InvalidArguments(format!("no prompt {other}"))),
        })
    }

    async fn complete(
        &self,
        _ctx: &CallContext,
        request: &CompletionRequest,
    ) -> Result<Vec<String>> {
        // A small fixed vocabulary, filtered by what was typed.
        let words: &[&str] = match (&request.target, request.argument.as_str()) {
            (CompletionTarget::Prompt(_), _) => &["paris", "park", "party", "test", "testValue1"],
            (CompletionTarget::Resource(_), _) => &["1", "123", "42"],
        };
        Ok(words
            .iter()
            .filter(|w| w.starts_with(request.value.as_str()))
            .map(|w| (*w).to_owned())
            .collect())
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        args: JsonObject,
    ) -> Result<CallToolResult> {
        let text = |t: &str| ContentBlock::text(t.to_owned());
        Ok(match (self.service, tool) {
            ("json", "schema_2020_12_tool") => CallToolResult::success(vec![text("ok")]),
            (_, "simple_text") => {
                CallToolResult::success(vec![text("This is a simple text response for testing.")])
            }
            (_, "image_content") => {
                CallToolResult::success(vec![ContentBlock::image(PNG, "image/png")])
            }
            (_, "audio_content") => {
                CallToolResult::success(vec![ContentBlock::audio(WAV, "audio/wav")])
            }
            (_, "embedded_resource") => {
                CallToolResult::success(vec![ContentBlock::resource(ResourceContents::text(
                    "This is an embedded resource content.",
                    "test://embedded-resource",
                ))])
            }
            (_, "multiple_content_types") => CallToolResult::success(vec![
                text("Multiple content types test:"),
                ContentBlock::image(PNG, "image/png"),
                ContentBlock::resource(
                    ResourceContents::text(
                        r#"{"test":"data","value":123}"#,
                        "test://mixed-content-resource",
                    )
                    .with_mime_type("application/json"),
                ),
            ]),
            (_, "error_handling") => CallToolResult::error(vec![text(
                "This tool intentionally returns an error for testing",
            )]),
            (_, "tool_with_logging") => {
                for (i, message) in [
                    "Tool execution started",
                    "Tool processing data",
                    "Tool execution completed",
                ]
                .into_iter()
                .enumerate()
                {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    ctx.log(LogLevel::Info, message).await;
                }
                CallToolResult::success(vec![text("Tool with logging executed successfully")])
            }
            (_, "tool_with_progress") => {
                for (i, p) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    ctx.progress(p, Some(100.0)).await;
                }
                CallToolResult::success(vec![text("Tool with progress executed successfully")])
            }
            (_, "sampling") => {
                let prompt = args.get("prompt").and_then(|v| v.as_str()).unwrap_or_default();
                let params: CreateMessageRequestParams = from_json(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100
                }))?;
                let answer = ctx.sample(params).await?;
                let text = serde_json::to_value(&answer.message.content)
                    .ok()
                    .and_then(|c| {
                        // One content block, or a list of them.
                        let first = if c.is_array() { c[0].clone() } else { c };
                        first["text"].as_str().map(str::to_owned)
                    })
                    .unwrap_or_default();
                CallToolResult::success(vec![ContentBlock::text(format!("LLM response: {text}"))])
            }
            (_, "elicitation") => {
                let message = args.get("message").and_then(|v| v.as_str()).unwrap_or_default();
                let answer = ctx
                    .elicit(from_json(json!({
                        "mode": "form",
                        "message": message,
                        "requestedSchema": {"type": "object", "properties": {
                            "username": {"type": "string", "description": "User's response"},
                            "email": {"type": "string", "description": "User's email address"}},
                            "required": ["username", "email"]}
                    }))?)
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "User response: {}",
                    serde_json::to_string(&answer).unwrap_or_default()
                ))])
            }
            (_, "elicitation_sep1034_defaults") => elicited(ctx, json!({
                "type": "object", "properties": {
                    "name": {"type": "string", "description": "User name", "default": "John Doe"},
                    "age": {"type": "integer", "description": "User age", "default": 30},
                    "score": {"type": "number", "description": "User score", "default": 95.5},
                    "status": {"type": "string", "description": "User status",
                        "enum": ["active", "inactive", "pending"], "default": "active"},
                    "verified": {"type": "boolean", "description": "Verification status", "default": true}},
                "required": []
            })).await?,
            (_, "elicitation_sep1330_enums") => elicited(ctx, json!({
                "type": "object", "properties": {
                    "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                    "titledSingle": {"type": "string", "oneOf": [
                        {"const": "value1", "title": "First Option"},
                        {"const": "value2", "title": "Second Option"},
                        {"const": "value3", "title": "Third Option"}]},
                    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"]},
                    "untitledMulti": {"type": "array", "items": {"type": "string",
                        "enum": ["option1", "option2", "option3"]}},
                    "titledMulti": {"type": "array", "items": {"anyOf": [
                        {"const": "value1", "title": "First Choice"},
                        {"const": "value2", "title": "Second Choice"},
                        {"const": "value3", "title": "Third Choice"}]}}},
                "required": []
            })).await?,
            (_, "input_required_result_elicitation") => {
                let answers = ctx
                    .ask(vec![question(
                        "user_name",
                        elicitation("What is your name?", "name", "string"),
                    )?])
                    .await?;
                let name = answers[0]["content"]["name"].as_str().unwrap_or_default();
                CallToolResult::success(vec![text(&format!("Hello, {name}!"))])
            }
            (_, "input_required_result_request_state" | "input_required_result_tampered_state") => {
                // MCPist refuses a retry whose requestState it did not seal
                // for this tool, so a retry that gets here is "state-ok".
                let answers = ctx
                    .ask(vec![question("confirm", elicitation("Please confirm", "ok", "boolean"))?])
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "state-ok: confirmed={}",
                    answers[0]["content"]["ok"]
                ))])
            }
            (_, "input_required_result_sampling") => {
                let answers = ctx
                    .ask(vec![question(
                        "capital_question",
                        sampling("What is the capital of France?", 100),
                    )?])
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "Sampling response: {}",
                    answers[0]["content"]["text"].as_str().unwrap_or_default()
                ))])
            }
            (_, "input_required_result_list_roots") => {
                let answers = ctx
                    .ask(vec![question("client_roots", roots())?])
                    .await?;
                let uris: Vec<&str> = answers[0]["roots"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["uri"].as_str())
                    .collect();
                CallToolResult::success(vec![text(&format!("Roots: {}", uris.join(", ")))])
            }
            (_, "input_required_result_multiple_inputs") => {
                let answers = ctx
                    .ask(vec![
                        question("user_name", elicitation("What is your name?", "name", "string"))?,
                        question("greeting", sampling("Generate a greeting", 50))?,
                        question("client_roots", roots())?,
                    ])
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "All inputs received: name={}, greeting={}, roots={}",
                    answers[0]["content"]["name"],
                    answers[1]["content"]["text"],
                    answers[2]["roots"].as_array().map_or(0, Vec::len)
                ))])
            }
            (_, "input_required_result_multi_round") => {
                let first = ctx
                    .ask(vec![question(
                        "step1",
                        elicitation("Step 1: What is your name?", "name", "string"),
                    )?])
                    .await?;
                let second = ctx
                    .ask(vec![question(
                        "step2",
                        elicitation("Step 2: What is your favorite color?", "color", "string"),
                    )?])
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "Completed: name={}, color={}",
                    first[0]["content"]["name"], second[0]["content"]["color"]
                ))])
            }
            (_, "missing_capability") => {
                let answers = ctx
                    .ask(vec![question("needs_sampling", sampling("Say hello", 20))?])
                    .await?;
                CallToolResult::success(vec![text(&format!(
                    "Sampled: {}",
                    answers[0]["content"]["text"].as_str().unwrap_or_default()
                ))])
            }
            (_, "streaming_elicitation") => {
                let answers = ctx
                    .ask(vec![question(
                        "user_name",
                        elicitation("What is your name?", "name", "string"),
                    )?])
                    .await?;
                let name = answers[0]["content"]["name"].as_str().unwrap_or_default();
                CallToolResult::success(vec![text(&format!("Hello, {name}!"))])
            }
            (_, "logging_tool") => {
                // Sent only when the request asked for log messages.
                ctx.log(LogLevel::Info, "Logging tool executed").await;
                CallToolResult::success(vec![text("Logged")])
            }
            (_, "input_required_result_capabilities") => {
                let mut asked = Vec::new();
                if ctx.client_offers("sampling") {
                    asked.push(question("sample", sampling("Say hello", 20))?);
                }
                if ctx.client_offers("elicitation") {
                    asked.push(question("confirm", elicitation("Please confirm", "ok", "boolean"))?);
                }
                let answers = ctx.ask(asked).await?;
                CallToolResult::success(vec![text(&format!("{} answers received", answers.len()))])
            }
            (service, other) => {
                return Err(Error::InvalidArguments(format!(
                    "{service} has no tool {other:?}"
                )));
            }
        })
    }
}
