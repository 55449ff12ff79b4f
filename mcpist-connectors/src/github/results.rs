//! How GitHub answers become tool results, for the hand-written tools and
//! the `READS` table alike.

use mcpist_core::{
    Error, Result,
    mcp::{CallToolResult, ContentBlock},
};
use serde_json::{Value, json};

use super::client::Page;

/// `value` as the tool's JSON text.
pub(super) fn json_result(value: Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(value.to_string())])
}

/// The list in `body`, or under its `key` (search results: `items`).
pub(super) fn list<'a>(body: &'a Value, key: Option<&str>) -> Result<&'a Vec<Value>> {
    match key {
        Some(key) => body.get(key),
        None => Some(body),
    }
    .and_then(Value::as_array)
    .ok_or_else(|| Error::Transport {
        service: super::NAME.into(),
        message: "GitHub answered with an unexpected shape (expected a list)".into(),
    })
}

/// The listing and, when GitHub has more, the page to ask for next.
pub(super) fn paged_items(items: Vec<Value>, page: &Page, current: u32) -> Value {
    let mut out = json!({ "items": items });
    if page.has_next {
        out["next_page"] = json!(current + 1);
    }
    out
}

/// The text of a contents-API file answer (`encoding: base64`, wrapped at 60
/// columns); `None` when it has no content there or is not UTF-8.
pub(super) fn file_text(body: &Value) -> Option<String> {
    use base64::Engine as _;
    if body["encoding"] != "base64" {
        return None;
    }
    let packed: String = body["content"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(packed)
        .ok()?;
    String::from_utf8(bytes).ok()
}
