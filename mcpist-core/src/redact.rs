//! Taking secrets and argument values out of text before it is kept or sent:
//! a value can come back in any of the forms it was sent or quoted in.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// What replaces an argument value in the audit log.
pub const ARGUMENT: &str = "[argument]";

/// The forms `value` may appear in: as is, JSON- or Rust-escaped (as quoted
/// in error messages and JSON bodies), and percent-encoded (as in a URL or a
/// form body echoed back), each once.
pub fn forms(value: &str) -> Vec<String> {
    let json = serde_json::to_string(value).unwrap_or_default();
    let debug = format!("{value:?}");
    let mut forms = vec![
        value.to_owned(),
        json.get(1..json.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned(),
        debug
            .get(1..debug.len().saturating_sub(1))
            .unwrap_or_default()
            .to_owned(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        // Form encoding, and path encoding that leaves `-._~` alone.
        url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
    ];
    forms.retain(|f| !f.is_empty());
    forms.sort();
    forms.dedup();
    forms
}

/// Replaces every form of `secret` in `text` with [`REDACTED`]. Secrets
/// shorter than 8 bytes are left alone: they would match ordinary text.
/// Returns whether anything was replaced.
///
/// The marker next to the text around it can spell a form again (a secret
/// that starts with `REDACTED]`); passes repeat until none is left, and if a
/// few passes do not get there, the whole text is replaced (by nothing, if
/// the marker itself holds the secret): a secret never survives redaction.
pub fn secret(text: &mut String, secret: &str) -> bool {
    if secret.len() < 8 {
        return false;
    }
    let forms = forms(secret);
    let mut changed = false;
    for _ in 0..4 {
        let mut replaced = false;
        for form in &forms {
            if text.contains(form.as_str()) {
                *text = text.replace(form.as_str(), REDACTED);
                replaced = true;
            }
        }
        if !replaced {
            return changed;
        }
        changed = true;
    }
    if forms.iter().any(|f| text.contains(f.as_str())) {
        // The marker itself may hold the secret ("[REDACTED"): then nothing.
        let marker_holds_it = forms.iter().any(|f| REDACTED.contains(f.as_str()));
        *text = if marker_holds_it {
            String::new()
        } else {
            REDACTED.to_owned()
        };
    }
    changed
}

/// [`secret`] on every string (and key) in `value`, at any depth.
pub fn secret_in_json(value: &mut Value, secret_text: &str) -> bool {
    match value {
        Value::String(s) => secret(s, secret_text),
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| secret_in_json(v, secret_text) | changed),
        Value::Object(map) => {
            let mut changed = false;
            for (key, mut v) in std::mem::take(map) {
                let mut key = key;
                changed |= secret(&mut key, secret_text);
                changed |= secret_in_json(&mut v, secret_text);
                map.insert(key, v);
            }
            changed
        }
        _ => false,
    }
}

/// `text` with every string value in `args` (at any depth) replaced by
/// [`ARGUMENT`], in any of its [`forms`]. A value of fewer than four
/// characters is replaced only where it stands alone (not inside a word),
/// so that `"a"` does not erase every letter a.
pub fn arguments(text: &str, args: &Map<String, Value>) -> String {
    let mut values = Vec::new();
    collect_strings(args.values(), &mut values);
    // Longest first, so a value inside another is not replaced half-way.
    let mut forms: Vec<String> = values.iter().flat_map(|v| forms(v)).collect();
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut text = text.to_owned();
    for form in forms {
        text = if form.chars().count() >= 4 {
            text.replace(&form, ARGUMENT)
        } else {
            replace_standalone(&text, &form)
        };
    }
    text
}

fn collect_strings<'a>(values: impl Iterator<Item = &'a Value>, out: &mut Vec<&'a str>) {
    for value in values {
        match value {
            Value::String(s) if !s.is_empty() => out.push(s),
            Value::Array(items) => collect_strings(items.iter(), out),
            Value::Object(map) => collect_strings(map.values(), out),
            _ => {}
        }
    }
}

/// Replaces the occurrences of `needle` in `text` that no letter or digit
/// touches on either side.
fn replace_standalone(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in text.match_indices(needle) {
        if at < last {
            continue;
        }
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        let touches = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        if !touches(before) && !touches(after) {
            out.push_str(&text[last..at]);
            out.push_str(ARGUMENT);
            last = at + needle.len();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_form_of_a_secret_is_redacted() {
        let token = "tok/en+\"quoted\" é";
        let encoded = utf8_percent_encode(token, NON_ALPHANUMERIC).to_string();
        let form: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        let json = serde_json::to_string(token).unwrap();
        let mut text = format!("a {token} b {encoded} c {form} d {json} e {token:?}");
        assert!(secret(&mut text, token));
        for leaked in ["tok/en", "tok%2Fen", "tok%2Fen%2B", "\\\"quoted"] {
            assert!(!text.contains(leaked), "{leaked} in {text}");
        }
        let mut short = "pw pw".to_owned();
        assert!(!secret(&mut short, "pw"));
    }

    #[test]
    fn argument_values_are_replaced_at_any_depth_and_short_ones_only_alone() {
        let args = json!({"q": "s3cret value", "n": 5, "list": [{"deep": "ab"}], "x": "a"});
        let text = "\"s3cret value\" is not found; repos/ab/x; s3cret%20value; grab a tab";
        let out = arguments(text, args.as_object().unwrap());
        assert!(!out.contains("s3cret"), "{out}");
        assert!(out.contains("repos/[argument]/x"), "{out}");
        assert!(out.contains("grab [argument] tab"), "{out}");
    }
}
