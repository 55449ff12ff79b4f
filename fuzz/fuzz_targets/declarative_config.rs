//! Config-defined connectors: any TOML table is turned into a connector or
//! refused with an error, never a panic; a built one has valid tool names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpist_connectors::declarative;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(table) = text.parse::<toml::Table>() else {
        return;
    };
    let Ok(value) = serde_json::to_value(table) else {
        return;
    };
    if let Ok(connector) = declarative::build("fuzzed", value) {
        for tool in connector.tools() {
            let name = mcpist_core::names::tool_name("fuzzed", &tool.name);
            assert!(mcpist_core::names::is_tool_name(&name), "{name}");
            assert!(tool.input_schema.is_object(), "{name}: schema is an object");
        }
    }
});
