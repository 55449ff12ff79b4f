//! Test-only connectors that provide the tools the official MCP conformance
//! suite (`@modelcontextprotocol/conformance`) calls. Behind the
//! `conformance` feature, never enabled by default, and served only when the
//! config names them (`[connectors.test]`, `[connectors.json]`).
//!
//! They go through the same registry, server, validation and transports as
//! every real connector, which is what the suite then checks.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use mcpist_core::{
    Auth, CallContext, Connector, Error, Registration, Result, ToolHints, ToolSpec,
    connector::{LogLevel, parse_config},
    mcp::{CallToolResult, ContentBlock, JsonObject, ResourceContents},
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
        ]
    }

    async fn call(
        &self,
        ctx: &CallContext,
        tool: &str,
        _args: JsonObject,
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
            (service, other) => {
                return Err(Error::InvalidArguments(format!(
                    "{service} has no tool {other:?}"
                )));
            }
        })
    }
}
