//! Small helpers for shaping what tools return.

use serde_json::{Map, Value};

/// Cuts `text` to at most `max` bytes, on a character boundary, and appends
/// `marker` when it cut anything. Returns whether it did.
pub fn cut(text: &mut String, max: usize, marker: &str) -> bool {
    if text.len() <= max {
        return false;
    }
    let at = (0..=max)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text.truncate(at);
    text.push_str(marker);
    true
}

/// `text` safe to print to a terminal: control characters (escape sequences
/// that could retitle the window, move the cursor or hide text) and Unicode
/// direction overrides are written as `\u{1b}`-style escapes. For strings
/// an upstream or a client chose, such as an account's identity.
pub fn terminal_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The `fields` of `source`: `name` copies that field, `name=a/b` takes the
/// value at JSON pointer `/a/b`. Missing and null values are left out.
pub fn project<S: AsRef<str>>(source: &Value, fields: &[S]) -> Value {
    let mut out = Map::new();
    for field in fields {
        let field = field.as_ref();
        let (key, value) = match field.split_once('=') {
            Some((key, path)) => (key, source.pointer(&format!("/{path}"))),
            None => (field, source.get(field)),
        };
        if let Some(v) = value.filter(|v| !v.is_null()) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn cut_respects_character_boundaries_and_marks_the_cut() {
        let mut s = "héllo".to_owned();
        assert!(cut(&mut s, 2, "…"));
        assert_eq!(s, "h…");
        let mut short = "ok".to_owned();
        assert!(!cut(&mut short, 2, "…"));
        assert_eq!(short, "ok");
    }

    #[test]
    fn terminal_safe_escapes_control_and_direction_characters_only() {
        assert_eq!(terminal_safe("octocat é"), "octocat é");
        assert_eq!(
            terminal_safe("a\u{1b}]0;x\u{7}b\u{202e}c\n"),
            "a\\u{1b}]0;x\\u{7}b\\u{202e}c\\u{a}"
        );
    }

    #[test]
    fn project_picks_fields_and_pointers() {
        let v = json!({"id": 1, "user": {"login": "octocat"}, "gone": null});
        assert_eq!(
            project(&v, &["id", "author=user/login", "gone", "missing"]),
            json!({"id": 1, "author": "octocat"})
        );
    }
}
