//! The batch tool: up to [`MAX_TASKS`] tool calls in one round trip.
//!
//! Each task is `{id, tool, arguments, after?: [ids]}`. Before anything
//! runs, the batch is refused whole if a task is malformed, an id repeats,
//! `after` or a reference names no task, or the dependencies form a cycle
//! (this module), or if a task's tool is unknown or not allowed by policy
//! (the server, [`crate::McpServer`]). Then tasks run in waves: each wave
//! holds the tasks whose dependencies have all succeeded, run concurrently;
//! a task whose dependency failed (or was skipped) is skipped. Every task
//! runs through the same path as a flat call (policy, validation, accounts,
//! audit under the real tool's name, with the batch's id in its request id).
//!
//! `${id.path}` in a string argument takes a value from task `id`'s result
//! (its structured content, else its text parsed as JSON, else the text):
//! `path` is dot-separated keys and array indexes (`${pr.files.0.name}`),
//! `${id}` alone is the whole result. A string that is exactly one
//! reference becomes the value itself (a number stays a number); elsewhere
//! in a string the value is spliced in as text. A reference makes its task
//! depend on `id`, as `after` does.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde_json::{Value, json};

use crate::discover::BadMeta;

/// The batch tool's name.
pub const BATCH: &str = "mcpist_batch";

/// How many tasks a batch holds at most.
pub const MAX_TASKS: usize = 10;

/// The longest task id.
const MAX_ID_CHARS: usize = 32;

/// The batch tool's definition, in both tool modes.
pub fn tool() -> Tool {
    let schema = json!({"type": "object", "properties": {"tasks": {
        "type": "array", "minItems": 1, "maxItems": MAX_TASKS,
        "items": {"type": "object", "properties": {
            "id": {"type": "string", "description": "Letters, digits, - or _"},
            "tool": {"type": "string", "description": "Tool name"},
            "arguments": {"type": "object"},
            "after": {"type": "array", "items": {"type": "string"}, "description": "Task ids to wait for"}},
            "required": ["id", "tool"]}}},
        "required": ["tasks"]});
    let Value::Object(schema) = schema else {
        unreachable!("a literal object")
    };
    Tool::new(
        BATCH,
        "Run up to 10 tool calls in one go. Tasks run concurrently unless `after` names others; \
         \"${id.path}\" in an argument is a value from task id's JSON result (e.g. \
         \"${pr.head.sha}\", \"${list.0.number}\"). A failed task skips the tasks that need it.",
        Arc::new(schema),
    )
}

/// One task of a batch, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// Its id, unique in the batch (`[A-Za-z0-9_-]{1,32}`).
    pub id: String,
    /// The tool it calls.
    pub tool: String,
    /// The arguments, with references not yet resolved.
    pub arguments: JsonObject,
    /// The tasks it waits for: its `after` and those it references, in
    /// batch order.
    pub needs: Vec<String>,
}

/// A checked batch: its tasks, and the waves they run in (indexes into
/// `tasks`; each wave's tasks need only tasks of earlier waves).
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The tasks, in the order given.
    pub tasks: Vec<Task>,
    /// The waves.
    pub waves: Vec<Vec<usize>>,
}

fn bad(message: impl Into<String>) -> BadMeta {
    BadMeta(format!("batch refused, nothing ran: {}", message.into()))
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks the batch tool's arguments: the tasks, their ids, their `after`
/// and references, and that no dependency cycle exists.
pub fn plan(args: &JsonObject) -> Result<Plan, BadMeta> {
    let Some(Value::Array(raw)) = args.get("tasks") else {
        return Err(bad("`tasks` must be an array of tasks"));
    };
    if raw.is_empty() || raw.len() > MAX_TASKS {
        return Err(bad(format!(
            "a batch holds 1 to {MAX_TASKS} tasks, not {}",
            raw.len()
        )));
    }
    let mut tasks = Vec::with_capacity(raw.len());
    for (n, value) in raw.iter().enumerate() {
        let Value::Object(task) = value else {
            return Err(bad(format!("task {} is not an object", n + 1)));
        };
        let id = match task.get("id") {
            Some(Value::String(id)) if valid_id(id) => id.clone(),
            _ => {
                return Err(bad(format!(
                    "task {}: `id` must be 1 to {MAX_ID_CHARS} letters, digits, - or _",
                    n + 1
                )));
            }
        };
        if let Some(unknown) = task
            .keys()
            .find(|k| !["id", "tool", "arguments", "after"].contains(&k.as_str()))
        {
            return Err(bad(format!("task {id}: unknown field `{unknown}`")));
        }
        let Some(Value::String(tool)) = task.get("tool") else {
            return Err(bad(format!("task {id}: `tool` must be a tool name")));
        };
        let arguments = match task.get("arguments") {
            None | Some(Value::Null) => JsonObject::new(),
            Some(Value::Object(arguments)) => arguments.clone(),
            Some(_) => return Err(bad(format!("task {id}: `arguments` must be an object"))),
        };
        let mut needs: Vec<String> = match task.get("after") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(after)) => after
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("task {id}: `after` must list task ids")))?,
            Some(_) => return Err(bad(format!("task {id}: `after` must list task ids"))),
        };
        for value in arguments.values() {
            references(value, &mut |reference| {
                needs.push(reference.split('.').next().unwrap_or_default().to_owned());
            });
        }
        tasks.push(Task {
            id,
            tool: tool.clone(),
            arguments,
            needs,
        });
    }
    let index: HashMap<String, usize> = tasks
        .iter()
        .enumerate()
        .map(|(n, t)| (t.id.clone(), n))
        .collect();
    if index.len() != tasks.len() {
        let mut seen = std::collections::HashSet::new();
        let twice = tasks
            .iter()
            .find(|t| !seen.insert(t.id.as_str()))
            .map(|t| t.id.clone())
            .unwrap_or_default();
        return Err(bad(format!("task id {twice} is used twice")));
    }
    for task in &mut tasks {
        if let Some(unknown) = task.needs.iter().find(|n| !index.contains_key(n.as_str())) {
            return Err(bad(format!(
                "task {} needs {unknown}, which is no task of this batch",
                task.id
            )));
        }
        let mut seen = std::collections::HashSet::new();
        task.needs.retain(|n| seen.insert(n.clone()));
    }
    let waves = waves(&tasks, &index)?;
    Ok(Plan { tasks, waves })
}

/// Kahn's algorithm, a wave at a time; what is left over is a cycle.
fn waves(tasks: &[Task], index: &HashMap<String, usize>) -> Result<Vec<Vec<usize>>, BadMeta> {
    let mut wave_of: Vec<Option<usize>> = vec![None; tasks.len()];
    let mut waves: Vec<Vec<usize>> = Vec::new();
    loop {
        let ready: Vec<usize> = (0..tasks.len())
            .filter(|&n| wave_of[n].is_none())
            .filter(|&n| {
                tasks[n]
                    .needs
                    .iter()
                    .all(|need| wave_of[index[need.as_str()]].is_some())
            })
            .collect();
        if ready.is_empty() {
            break;
        }
        for &n in &ready {
            wave_of[n] = Some(waves.len());
        }
        waves.push(ready);
    }
    let stuck: Vec<&str> = (0..tasks.len())
        .filter(|&n| wave_of[n].is_none())
        .map(|n| tasks[n].id.as_str())
        .collect();
    if stuck.is_empty() {
        Ok(waves)
    } else {
        Err(bad(format!(
            "the tasks {} wait for each other (a cycle)",
            stuck.join(", ")
        )))
    }
}

/// Calls `found` with the inside of every `${…}` in the strings of `value`.
fn references(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => {
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                found(&after[..end]);
                rest = &after[end + 1..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        Value::Object(map) => map.values().for_each(|v| references(v, found)),
        _ => {}
    }
}

/// What a reference to a task reads: its structured content, else its
/// text parsed as JSON, else the text.
pub fn value_of(result: &CallToolResult) -> Value {
    if let Some(structured) = &result.structured_content {
        return structured.clone();
    }
    let text: String = result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.as_str()))
        .collect();
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// The value at `reference` (`id` or `id.path`) among the results.
fn lookup(results: &BTreeMap<String, Value>, reference: &str) -> Result<Value, String> {
    let mut parts = reference.split('.');
    let id = parts.next().unwrap_or_default();
    let mut value = results
        .get(id)
        .ok_or_else(|| format!("${{{reference}}}: task {id} has no result"))?;
    for key in parts {
        let next = match value {
            Value::Object(map) => map.get(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|n| items.get(n)),
            _ => None,
        };
        value = next.ok_or_else(|| {
            format!("${{{reference}}}: task {id}'s result has nothing at `{key}`")
        })?;
    }
    Ok(value.clone())
}

/// `arguments` with every reference replaced by its value from `results`
/// (the finished tasks' values, by id); the message says which reference
/// found nothing.
pub fn resolve(
    arguments: &JsonObject,
    results: &BTreeMap<String, Value>,
) -> Result<JsonObject, String> {
    arguments
        .iter()
        .map(|(k, v)| Ok((k.clone(), resolve_value(v, results)?)))
        .collect()
}

fn resolve_value(value: &Value, results: &BTreeMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(text) => {
            let whole = text
                .strip_prefix("${")
                .and_then(|t| t.strip_suffix('}'))
                .filter(|inner| !inner.contains('}') && !inner.contains("${"));
            if let Some(reference) = whole {
                return lookup(results, reference);
            }
            let mut out = String::new();
            let mut rest = text.as_str();
            while let Some(start) = rest.find("${") {
                let after = &rest[start + 2..];
                let Some(end) = after.find('}') else { break };
                out.push_str(&rest[..start]);
                match lookup(results, &after[..end])? {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
                rest = &after[end + 1..];
            }
            out.push_str(rest);
            Value::String(out)
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve_value(v, results))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve_value(v, results)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    fn refused(value: Value) -> String {
        plan(&obj(value)).unwrap_err().0
    }

    #[test]
    fn independent_tasks_share_a_wave_and_references_order_the_rest() {
        let plan = plan(&obj(json!({"tasks": [
            {"id": "a", "tool": "x_list"},
            {"id": "b", "tool": "x_get", "arguments": {"n": "${a.0.number}"}},
            {"id": "c", "tool": "x_list"},
            {"id": "d", "tool": "x_put", "after": ["b", "c"]},
        ]})))
        .unwrap();
        assert_eq!(plan.waves, vec![vec![0, 2], vec![1], vec![3]]);
        assert_eq!(plan.tasks[1].needs, vec!["a".to_owned()]);
        assert_eq!(plan.tasks[3].needs, vec!["b".to_owned(), "c".to_owned()]);
    }

    #[test]
    fn bad_batches_are_refused_whole() {
        assert!(refused(json!({})).contains("`tasks` must be an array"));
        assert!(refused(json!({"tasks": []})).contains("1 to 10 tasks"));
        let eleven: Vec<Value> = (0..11)
            .map(|n| json!({"id": format!("t{n}"), "tool": "x_y"}))
            .collect();
        assert!(refused(json!({"tasks": eleven})).contains("not 11"));
        assert!(refused(json!({"tasks": [{"id": "a b", "tool": "x"}]})).contains("`id` must be"));
        assert!(
            refused(json!({"tasks": [{"id": "a", "tool": "x"}, {"id": "a", "tool": "y"}]}))
                .contains("a is used twice")
        );
        assert!(
            refused(json!({"tasks": [{"id": "a", "tool": "x", "after": ["z"]}]}))
                .contains("needs z, which is no task")
        );
        assert!(
            refused(json!({"tasks": [{"id": "a", "tool": "x", "arguments": {"q": "${zz.n}"}}]}))
                .contains("needs zz")
        );
        assert!(
            refused(json!({"tasks": [
                {"id": "a", "tool": "x", "after": ["b"]},
                {"id": "b", "tool": "x", "arguments": {"q": "${a}"}},
                {"id": "c", "tool": "x"},
            ]}))
            .contains("the tasks a, b wait for each other")
        );
        assert!(
            refused(json!({"tasks": [{"id": "a", "tool": "x", "arguments": {"q": "${a}"}}]}))
                .contains("a cycle")
        );
        assert!(
            refused(json!({"tasks": [{"id": "a", "tool": "x", "args": {}}]}))
                .contains("unknown field `args`")
        );
    }

    #[test]
    fn references_take_values_and_splice_text() {
        let mut results = BTreeMap::new();
        results.insert(
            "pr".to_owned(),
            json!({"number": 7, "head": {"sha": "abc"}, "files": [{"name": "a.rs"}]}),
        );
        let args = obj(json!({
            "n": "${pr.number}",
            "title": "Fix #${pr.number} at ${pr.head.sha}",
            "nested": {"file": ["${pr.files.0.name}"]},
            "plain": 3,
        }));
        assert_eq!(
            resolve(&args, &results).unwrap(),
            obj(json!({
                "n": 7,
                "title": "Fix #7 at abc",
                "nested": {"file": ["a.rs"]},
                "plain": 3,
            }))
        );
        let missing = resolve(&obj(json!({"n": "${pr.head.ref}"})), &results).unwrap_err();
        assert!(missing.contains("nothing at `ref`"), "{missing}");
    }

    #[test]
    fn the_tool_definition_is_small() {
        let bytes = serde_json::to_string(&tool()).unwrap().len();
        assert!(bytes <= 1024, "{bytes} bytes");
    }
}
