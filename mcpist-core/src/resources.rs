//! Resources, prompts and completion as connectors declare them, and the
//! URI scheme that names a resource and the account it is read with.
//!
//! # URIs
//!
//! A resource of service `github` has a URI of scheme `github`: the
//! connector declares templates such as
//! `github://{owner}/{repo}/issues/{number}` ([`ResourceSpec`]). MCPist owns
//! two query parameters on every such URI:
//!
//! - `account=LABEL` picks the account, as the `account` argument of a tool
//!   does; without it the default (or only) account is used. Templates are
//!   listed with `{?account}` appended when the service uses accounts.
//! - `offset=N` reads on from byte `N` of a text content that was cut: a
//!   read returns at most [`MAX_READ_BYTES`] of each text and says which URI
//!   gives the rest.
//!
//! Template variables are RFC 6570 level 1 and 2: `{name}` matches one
//! non-empty path segment, `{+name}` the rest of the path (slashes
//! included). Values are percent-decoded before the connector sees them.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// The most bytes of one text content a `resources/read` returns; the rest
/// is one `offset=` away.
pub const MAX_READ_BYTES: usize = 100_000;

/// Most completion values returned (MCP's own limit).
pub const MAX_COMPLETIONS: usize = 100;

/// A resource (no template variables) or resource template a connector serves.
#[derive(Debug, Clone)]
pub struct ResourceSpec {
    /// A short name, unique within the connector (`issue`); the server lists
    /// it as `{service}_{name}`.
    pub name: Cow<'static, str>,
    /// The URI template, of scheme `{service}` (`github://{owner}/{repo}/issues/{number}`).
    /// Without variables, the resource itself.
    pub uri_template: Cow<'static, str>,
    /// What reading it gives, for the model.
    pub description: Cow<'static, str>,
    /// The MIME type of its contents, when known.
    pub mime_type: Option<&'static str>,
    /// The toolset it belongs to, for policy (`issues`, `repos`, …).
    pub toolset: &'static str,
}

impl ResourceSpec {
    /// A resource or template `name` at `uri_template` in `toolset`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        uri_template: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
        toolset: &'static str,
    ) -> Self {
        Self {
            name: name.into(),
            uri_template: uri_template.into(),
            description: description.into(),
            mime_type: None,
            toolset,
        }
    }

    /// The same with its MIME type.
    #[must_use]
    pub fn mime_type(mut self, mime_type: &'static str) -> Self {
        self.mime_type = Some(mime_type);
        self
    }
}

/// One argument of a prompt.
#[derive(Debug, Clone)]
pub struct PromptArgSpec {
    /// The argument's name.
    pub name: Cow<'static, str>,
    /// What to pass.
    pub description: Cow<'static, str>,
    /// Whether `prompts/get` needs it.
    pub required: bool,
}

/// A prompt a connector serves (or the user wrote).
#[derive(Debug, Clone)]
pub struct PromptSpec {
    /// The name without the service prefix; listed as `{service}_{name}`.
    pub name: Cow<'static, str>,
    /// What the prompt is for.
    pub description: Cow<'static, str>,
    /// Its arguments.
    pub arguments: Vec<PromptArgSpec>,
    /// The toolset it belongs to, for policy.
    pub toolset: &'static str,
}

impl PromptSpec {
    /// A prompt `name` in `toolset` with no arguments yet.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
        toolset: &'static str,
    ) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            arguments: Vec::new(),
            toolset,
        }
    }

    /// The same with one more argument.
    #[must_use]
    pub fn arg(
        mut self,
        name: impl Into<Cow<'static, str>>,
        description: impl Into<Cow<'static, str>>,
        required: bool,
    ) -> Self {
        self.arguments.push(PromptArgSpec {
            name: name.into(),
            description: description.into(),
            required,
        });
        self
    }
}

/// What a completion is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionTarget {
    /// An argument of the connector's resource template of this name.
    Resource(String),
    /// An argument of the connector's prompt of this (unprefixed) name.
    Prompt(String),
}

/// A `completion/complete` request, as a connector gets it.
#[derive(Debug, Clone)]
pub struct CompletionRequest {
    /// The template or prompt.
    pub target: CompletionTarget,
    /// The argument being completed.
    pub argument: String,
    /// What the user typed so far.
    pub value: String,
    /// Arguments already chosen (a repository's owner before its name).
    pub context: Map<String, Value>,
}

/// A parsed URI template: literals and variables in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    /// A variable; `true` for `{+name}` (may contain `/`).
    Var(String, bool),
}

impl Template {
    /// Parses `template`; fails on an unclosed brace, an empty or repeated
    /// variable, a variable that follows another without a literal, or an
    /// operator other than `+`.
    pub(crate) fn parse(template: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidArguments(format!("URI template {template}: {why}"));
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let end = rest.find('}').ok_or_else(|| bad("unclosed `{`"))?;
                    let inner = &rest[1..end];
                    let (name, reserved) = match inner.strip_prefix('+') {
                        Some(name) => (name, true),
                        None => (inner, false),
                    };
                    if name.is_empty()
                        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    {
                        return Err(bad("variables are {name} or {+name}"));
                    }
                    if matches!(parts.last(), Some(Part::Var(..))) {
                        return Err(bad("two variables need a literal between them"));
                    }
                    if parts
                        .iter()
                        .any(|p| matches!(p, Part::Var(n, _) if n == name))
                    {
                        return Err(bad("a variable appears twice"));
                    }
                    parts.push(Part::Var(name.to_owned(), reserved));
                    rest = &rest[end + 1..];
                }
                next => {
                    let at = next.unwrap_or(rest.len());
                    if rest[..at].contains('}') {
                        return Err(bad("stray `}`"));
                    }
                    parts.push(Part::Literal(rest[..at].to_owned()));
                    rest = &rest[at..];
                }
            }
        }
        Ok(Self { parts })
    }

    /// The variable names, in order.
    pub(crate) fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name, _) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Whether the template has no variables (a fixed resource).
    pub(crate) fn is_fixed(&self) -> bool {
        self.variables().next().is_none()
    }

    /// The variables' values if `path` (a URI without its query) matches.
    pub(crate) fn matches(&self, path: &str) -> Option<Map<String, Value>> {
        let mut values = Map::new();
        let mut rest = path;
        let mut parts = self.parts.iter().peekable();
        while let Some(part) = parts.next() {
            match part {
                Part::Literal(literal) => rest = rest.strip_prefix(literal.as_str())?,
                Part::Var(name, reserved) => {
                    // The value runs to the next literal (the first one
                    // found), or to the end.
                    let end = match parts.peek() {
                        Some(Part::Literal(next)) => rest.find(next.as_str())?,
                        _ => rest.len(),
                    };
                    let raw = &rest[..end];
                    if raw.is_empty() || (!reserved && raw.contains('/')) {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(raw)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    if value.chars().any(char::is_control) {
                        return None;
                    }
                    values.insert(name.clone(), Value::String(value));
                    rest = &rest[end..];
                }
            }
        }
        rest.is_empty().then_some(values)
    }

    /// The JSON Schema of the variables, all required strings: what a read's
    /// arguments are validated against.
    pub(crate) fn schema(&self) -> Value {
        let properties: Map<String, Value> = self
            .variables()
            .map(|v| (v.to_owned(), json!({"type": "string", "minLength": 1})))
            .collect();
        let required: Vec<&str> = self.variables().collect();
        json!({"type": "object", "properties": properties, "required": required,
            "additionalProperties": false})
    }
}

/// A `resources/read` URI split into what MCPist reads: the URI without
/// MCPist's own query parameters, the account and the offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadUri {
    /// The scheme, which names the service.
    pub(crate) service: String,
    /// The URI without `account` and `offset` (what the template matches
    /// after the query is cut off, and what the contents are named by).
    pub(crate) uri: String,
    /// The part the templates match (the URI without any query).
    pub(crate) path: String,
    /// `account=`.
    pub(crate) account: Option<String>,
    /// `offset=`.
    pub(crate) offset: usize,
}

impl ReadUri {
    /// Splits `uri`; fails on a URI without a scheme or with a bad offset.
    pub(crate) fn parse(uri: &str) -> std::result::Result<Self, String> {
        let Some((service, _)) = uri.split_once("://") else {
            return Err("a resource URI is SERVICE://…".into());
        };
        let (path, query) = match uri.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (uri, None),
        };
        let mut account = None;
        let mut offset = 0;
        let mut kept = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| "the query is not UTF-8".to_owned())?;
            match key {
                "account" => account = Some(value.into_owned()),
                "offset" => {
                    offset = value
                        .parse()
                        .map_err(|_| "offset must be a whole number of bytes".to_owned())?;
                }
                _ => kept.push(pair),
            }
        }
        let uri = if kept.is_empty() {
            path.to_owned()
        } else {
            format!("{path}?{}", kept.join("&"))
        };
        Ok(Self {
            service: service.to_owned(),
            uri,
            path: path.to_owned(),
            account,
            offset,
        })
    }
}

/// `text` from byte `offset` on, cut to [`MAX_READ_BYTES`] on a character
/// boundary; with the offset the rest starts at when it was cut.
pub(crate) fn window(
    text: &str,
    offset: usize,
) -> std::result::Result<(&str, Option<usize>), String> {
    if offset > text.len() || !text.is_char_boundary(offset) {
        return Err(format!(
            "offset {offset} is not a position in this resource ({} bytes)",
            text.len()
        ));
    }
    let rest = &text[offset..];
    if rest.len() <= MAX_READ_BYTES {
        return Ok((rest, None));
    }
    let end = (0..=MAX_READ_BYTES)
        .rev()
        .find(|i| rest.is_char_boundary(*i))
        .unwrap_or(0);
    Ok((&rest[..end], Some(offset + end)))
}

/// `uri` with `offset=next` (and `account=` when one was named) added.
pub(crate) fn continuation(uri: &str, account: Option<&str>, next: usize) -> String {
    let encode = |v: &str| {
        percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    let mut out = uri.to_owned();
    out.push(if uri.contains('?') { '&' } else { '?' });
    if let Some(label) = account {
        out.push_str(&format!("account={}&", encode(label)));
    }
    out.push_str(&format!("offset={next}"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_segments_and_reserved_paths() {
        let t = Template::parse("github://{owner}/{repo}/blob/{ref}/{+path}").unwrap();
        let v = t
            .matches("github://octo/hello/blob/main/src/a%20b.rs")
            .unwrap();
        assert_eq!(v["owner"], "octo");
        assert_eq!(v["ref"], "main");
        assert_eq!(v["path"], "src/a b.rs");
        // A segment variable takes no slash, and nothing may be left over.
        assert!(t.matches("github://octo/x/y/blob/main/a").is_none());
        let issue = Template::parse("github://{owner}/{repo}/issues/{number}").unwrap();
        assert!(issue.matches("github://octo/hello/issues/").is_none());
        assert!(issue.matches("github://octo/hello/issues/1/x").is_none());
        assert!(issue.matches("github://octo/hello/issues/%0a").is_none());
        assert!(Template::parse("test://static-text").unwrap().is_fixed());
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "x://{a",
            "x://{a}{b}",
            "x://{a}/{a}",
            "x://{?a}",
            "x://{}",
            "x://a}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_uris_keep_the_service_and_take_out_account_and_offset() {
        let r = ReadUri::parse("github://o/r/issues/1?account=work&offset=10").unwrap();
        assert_eq!(r.service, "github");
        assert_eq!(r.uri, "github://o/r/issues/1");
        assert_eq!(r.account.as_deref(), Some("work"));
        assert_eq!(r.offset, 10);
        assert!(ReadUri::parse("no-scheme").is_err());
        assert!(ReadUri::parse("x://a?offset=-1").is_err());
    }

    #[test]
    fn windows_cut_on_character_boundaries_and_name_the_rest() {
        let text = "é".repeat(MAX_READ_BYTES);
        let (first, next) = window(&text, 0).unwrap();
        assert_eq!(first.len(), MAX_READ_BYTES);
        let next = next.unwrap();
        let (second, after) = window(&text, next).unwrap();
        assert_eq!(first.len() + second.len(), text.len());
        assert_eq!(after, None);
        assert!(window(&text, 1).is_err());
        assert_eq!(
            continuation("x://a", Some("work"), 5),
            "x://a?account=work&offset=5"
        );
    }
}
