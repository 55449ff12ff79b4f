//! Discover mode: `tools/list` holds four meta-tools whose size does not
//! grow with the services connected (search, describe, call, and the batch
//! tool of [`crate::batch`], which flat mode lists too). The model searches the catalog, asks
//! for one tool's schema, and calls it by name; the call runs through the
//! same path as a flat call (policy, audit under the real name, accounts,
//! validation), see [`crate::McpServer`].

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde::Deserialize;
use serde_json::{Value, json};

/// What `tools/list` holds: every allowed tool, or the meta-tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolMode {
    /// Every allowed tool, with its full schema (the default).
    #[default]
    Flat,
    /// Four meta-tools: search, describe, call, batch.
    Discover,
}

/// The meta-tool that searches the catalog.
pub const SEARCH: &str = "mcpist_search_tools";
/// The meta-tool that returns one tool's input schema.
pub const DESCRIBE: &str = "mcpist_describe_tool";
/// The meta-tool that calls a tool by name.
pub const CALL: &str = "mcpist_call_tool";

/// How many results a search returns at most.
const MAX_RESULTS: usize = 15;

/// The meta-tools' definitions, as discover mode's `tools/list` returns them.
pub fn meta_tools() -> Vec<Tool> {
    let schema = |value: Value| match value {
        Value::Object(map) => Arc::new(map),
        _ => unreachable!("a literal object"),
    };
    vec![
        Tool::new(
            SEARCH,
            "Find tools by keywords; returns names with one-line descriptions, best first.",
            schema(json!({"type": "object", "properties": {
                "query": {"type": "string", "description": "Keywords, e.g. \"list issues\""},
                "service": {"type": "string", "description": "Only this service's tools"}},
                "required": ["query"]})),
        )
        .annotate(ToolAnnotations::new().read_only(true).open_world(false)),
        Tool::new(
            DESCRIBE,
            "A tool's full description and input schema, before calling it.",
            schema(json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "Tool name from search"}},
                "required": ["name"]})),
        )
        .annotate(ToolAnnotations::new().read_only(true).open_world(false)),
        Tool::new(
            CALL,
            "Call a tool by name with its arguments (as its schema says).",
            schema(json!({"type": "object", "properties": {
                "name": {"type": "string", "description": "Tool name"},
                "arguments": {"type": "object", "description": "The tool's arguments"}},
                "required": ["name"]})),
        ),
        crate::batch::tool(),
    ]
}

/// Whether `name` is one of the meta-tools.
pub fn is_meta(name: &str) -> bool {
    [SEARCH, DESCRIBE, CALL].contains(&name)
}

/// Bad arguments to a meta-tool: the message for the model.
#[derive(Debug, PartialEq, Eq)]
pub struct BadMeta(pub String);

/// The `name` argument of describe or call.
pub fn name_arg(args: &JsonObject) -> Result<&str, BadMeta> {
    match args.get("name") {
        Some(Value::String(name)) if !name.is_empty() => Ok(name),
        Some(_) => Err(BadMeta(
            "invalid arguments: `name` must be a tool name".into(),
        )),
        None => Err(BadMeta("invalid arguments: `name` is required".into())),
    }
}

/// The `arguments` argument of call (none is an empty object).
pub fn call_args(args: &JsonObject) -> Result<JsonObject, BadMeta> {
    match args.get("arguments") {
        None | Some(Value::Null) => Ok(JsonObject::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(BadMeta(
            "invalid arguments: `arguments` must be an object".into(),
        )),
    }
}

/// The search's `query` and optional `service`.
pub fn search_args(args: &JsonObject) -> Result<(String, Option<String>), BadMeta> {
    let query = match args.get("query") {
        Some(Value::String(q)) => q.clone(),
        Some(_) => {
            return Err(BadMeta(
                "invalid arguments: `query` must be a string".into(),
            ));
        }
        None => return Err(BadMeta("invalid arguments: `query` is required".into())),
    };
    let service = match args.get("service") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(BadMeta(
                "invalid arguments: `service` must be a string".into(),
            ));
        }
    };
    Ok((query, service))
}

/// The words of `text`, lowercased, split on anything not alphanumeric.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// How well `tool` matches the query words: a word of the name counts four,
/// a name word it is a prefix of (or the other way round: `issue` and
/// `issues`) two, a word of the description one.
fn score(query: &[String], tool: &Tool) -> usize {
    let name = words(&tool.name);
    let description = words(tool.description.as_deref().unwrap_or(""));
    let close =
        |w: &str, q: &str| q.len() >= 3 && w.len() >= 3 && (w.starts_with(q) || q.starts_with(w));
    query
        .iter()
        .map(|q| {
            if name.iter().any(|w| w == q) {
                4
            } else if name.iter().any(|w| close(w, q)) {
                2
            } else if description.iter().any(|w| w == q || close(w, q)) {
                1
            } else {
                0
            }
        })
        .sum()
}

/// The search result: `tools` (each with its service) ranked by `query`,
/// one line per tool, `name: first sentence of the description`. An empty
/// query lists the service's tools (or all) by name.
pub fn search(tools: &[(&str, &Tool)], query: &str, service: Option<&str>) -> String {
    let query = words(query);
    let mut ranked: Vec<(usize, &Tool)> = tools
        .iter()
        .filter(|(s, _)| service.is_none_or(|want| want == *s))
        .map(|(_, tool)| (score(&query, tool), *tool))
        .filter(|(score, _)| query.is_empty() || *score > 0)
        .collect();
    // Best first; ties by name (the input is sorted by name).
    ranked.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let total = ranked.len();
    if total == 0 {
        return match service {
            Some(s) if !tools.iter().any(|(t, _)| *t == s) => {
                format!("no tools for service {s}; see the instructions for the services served")
            }
            _ => "no tool matches; try other words or leave the query empty to list all".into(),
        };
    }
    let mut lines: Vec<String> = ranked
        .iter()
        .take(MAX_RESULTS)
        .map(|(_, tool)| format!("{}: {}", tool.name, one_line(tool)))
        .collect();
    if total > MAX_RESULTS {
        lines.push(format!(
            "({} more; narrow the query or pass `service`)",
            total - MAX_RESULTS
        ));
    }
    lines.join("\n")
}

/// A tool's description up to its first sentence's end.
fn one_line(tool: &Tool) -> String {
    let description = tool.description.as_deref().unwrap_or("");
    let first = description.lines().next().unwrap_or("");
    match first.find(". ") {
        Some(end) => first[..=end].to_owned(),
        None => first.to_owned(),
    }
}

/// The describe result: the tool's name, description, input schema and hints.
pub fn describe(tool: &Tool) -> String {
    let mut value = json!({
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
    });
    if let Some(annotations) = &tool.annotations {
        value["annotations"] = serde_json::to_value(annotations).unwrap_or_default();
    }
    value.to_string()
}

/// Discover mode's instructions: how to use the meta-tools, then each
/// service with its account labels (`default` marked).
pub fn instructions(services: &[(&str, Vec<String>)]) -> String {
    let mut text = format!(
        "MCPist serves upstream services as tools named {{service}}_{{tool}}; it holds the \
         credentials: never ask the user for tokens. Find tools with {SEARCH}, read one's schema \
         with {DESCRIBE}, run it with {CALL}. When a service has several accounts, pass `account` \
         in the arguments with one of its labels.\nServices:"
    );
    for (service, accounts) in services {
        if accounts.is_empty() {
            text.push_str(&format!("\n- {service}"));
        } else {
            text.push_str(&format!(
                "\n- {service} (accounts: {})",
                accounts.join(", ")
            ));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str, description: &str) -> Tool {
        Tool::new(
            name.to_owned(),
            description.to_owned(),
            Arc::new(JsonObject::new()),
        )
    }

    #[test]
    fn search_ranks_name_matches_first_and_filters_by_service() {
        let a = tool("github_list_issues", "List issues of a repository.");
        let b = tool("github_get_pull", "Get a pull request. Mentions issues.");
        let c = tool("notion_search", "Search pages.");
        let tools = [("github", &b), ("github", &a), ("notion", &c)];
        let found = search(&tools, "issues", None);
        assert_eq!(
            found,
            "github_list_issues: List issues of a repository.\ngithub_get_pull: Get a pull request."
        );
        assert_eq!(
            search(&tools, "", Some("notion")),
            "notion_search: Search pages."
        );
        assert!(search(&tools, "issue", Some("jira")).contains("no tools for service jira"));
        assert!(search(&tools, "zebra", None).starts_with("no tool matches"));
    }

    #[test]
    fn meta_tools_stay_small() {
        let bytes = serde_json::to_string(&meta_tools()).unwrap().len();
        assert!(bytes <= 2048, "{bytes} bytes");
    }

    #[test]
    fn meta_arguments_are_checked() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(name_arg(&obj(json!({"name": "x_y"}))), Ok("x_y"));
        assert!(name_arg(&obj(json!({}))).is_err());
        assert!(call_args(&obj(json!({"arguments": [1]}))).is_err());
        assert_eq!(call_args(&obj(json!({}))), Ok(JsonObject::new()));
        assert!(search_args(&obj(json!({"query": 3}))).is_err());
    }
}
