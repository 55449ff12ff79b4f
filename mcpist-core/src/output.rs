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
    fn project_picks_fields_and_pointers() {
        let v = json!({"id": 1, "user": {"login": "octocat"}, "gone": null});
        assert_eq!(
            project(&v, &["id", "author=user/login", "gone", "missing"]),
            json!({"id": 1, "author": "octocat"})
        );
    }
}
