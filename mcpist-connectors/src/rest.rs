//! The REST engine that connectors described as data share: GitHub's plain
//! reads (`github/reads.rs`) and the config-defined connectors
//! (`declarative.rs`).
//!
//! A tool there is a path template (`repos/{owner}/{repo}`: literal segments
//! and whole `{arg}` segments), the arguments that go in the query or the
//! JSON body, and the fields a model gets back (`name` or
//! `name=json/pointer`). This module turns a template and the call's
//! arguments into path segments and query pairs, and projects the answer;
//! sending the request and reading its status stay with each connector.

use mcpist_core::{Error, Result, output::project};
use serde_json::{Map, Value};

/// One segment of a path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Sent as written.
    Literal(&'a str),
    /// `{name}`: the argument `name`, as one percent-encoded segment.
    Arg(&'a str),
}

/// The segments of `template`, split on `/` (empty parts skipped).
pub(crate) fn segments(template: &str) -> impl Iterator<Item = Segment<'_>> {
    template.split('/').filter(|p| !p.is_empty()).map(|part| {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(arg) => Segment::Arg(arg),
            None => Segment::Literal(part),
        }
    })
}

/// The arguments `template` names, in order.
// Only GitHub's reads need them apart from the query; declarative tools name their query.
#[cfg_attr(not(feature = "github"), allow(dead_code))]
pub(crate) fn path_args(template: &str) -> impl Iterator<Item = &str> {
    segments(template).filter_map(|s| match s {
        Segment::Arg(arg) => Some(arg),
        Segment::Literal(_) => None,
    })
}

/// Checks a template written by a user, in order: every segment a literal
/// or a whole `{arg}` (no `.` or `..`), and each `{arg}` accepted by `arg`.
/// The error names the offending segment.
pub(crate) fn check(
    template: &str,
    mut arg: impl FnMut(&str) -> std::result::Result<(), String>,
) -> std::result::Result<(), String> {
    for segment in segments(template) {
        match segment {
            Segment::Arg(name) => arg(name)?,
            Segment::Literal(part) if part.contains(['{', '}']) || part == "." || part == ".." => {
                return Err(format!(
                    "{part:?} must be a literal segment or a whole {{arg}}"
                ));
            }
            Segment::Literal(_) => {}
        }
    }
    Ok(())
}

/// An argument as it goes in a path segment or the query: strings as they
/// are, anything else as its JSON text.
pub(crate) fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `template` with its `{arg}` segments filled from `args`. A missing
/// argument is an [`Error::InvalidArguments`] (schemas make path arguments
/// required, so a validated call always has them).
pub(crate) fn fill(template: &str, args: &Map<String, Value>) -> Result<Vec<String>> {
    segments(template)
        .map(|segment| match segment {
            Segment::Literal(part) => Ok(part.to_owned()),
            Segment::Arg(name) => args
                .get(name)
                .map(text)
                .ok_or_else(|| Error::InvalidArguments(format!("`{name}` is required"))),
        })
        .collect()
}

/// The query pairs: each of `names` that `args` holds, in order.
pub(crate) fn query<'a>(
    names: impl IntoIterator<Item = &'a str>,
    args: &Map<String, Value>,
) -> Vec<(&'a str, String)> {
    names
        .into_iter()
        .filter_map(|name| args.get(name).map(|v| (name, text(v))))
        .collect()
}

/// `fields` of each item of a list answer, or of the one object.
pub(crate) fn pick(body: &Value, fields: &[impl AsRef<str>]) -> Value {
    match body.as_array() {
        Some(items) => Value::Array(items.iter().map(|i| project(i, fields)).collect()),
        None => project(body, fields),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_template_fills_its_args_as_whole_segments() {
        let args = json!({"owner": "o/x", "n": 7}).as_object().unwrap().clone();
        assert_eq!(
            fill("repos/{owner}//issues/{n}", &args).unwrap(),
            ["repos", "o/x", "issues", "7"]
        );
        assert_eq!(path_args("a/{x}/b/{y}").collect::<Vec<_>>(), ["x", "y"]);
        assert!(matches!(
            fill("a/{missing}", &args),
            Err(Error::InvalidArguments(_))
        ));
    }

    #[test]
    fn check_refuses_partial_args_and_dot_segments() {
        let mut seen = Vec::new();
        let note = |a: &str| {
            seen.push(a.to_owned());
            Ok(())
        };
        assert!(check("a/{b}/c", note).is_ok());
        assert_eq!(seen, ["b"]);
        for bad in ["a/x{b}", "a/{b", "./a", "a/.."] {
            assert!(check(bad, |_| Ok(())).is_err(), "{bad}");
        }
        assert_eq!(check("a/{b}", |b| Err(b.to_owned())), Err("b".to_owned()));
    }

    #[test]
    fn query_takes_the_named_args_present() {
        let args = json!({"a": "1", "b": true}).as_object().unwrap().clone();
        assert_eq!(
            query(["a", "b", "c"], &args),
            [("a", "1".to_owned()), ("b", "true".to_owned())]
        );
    }
}
