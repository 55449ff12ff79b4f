//! Prompts the user wrote, served as MCP prompts `my_NAME`.
//!
//! ```toml
//! [prompts.review]
//! description = "Review a pull request"
//! text = "Review {{url}} for correctness and tests. Focus on {{focus}}."
//! arguments = [
//!   { name = "url", description = "The pull request" },
//!   { name = "focus", required = false },
//! ]
//! ```
//!
//! They are served by a small built-in connector ([`UserPrompts`], service
//! [`SERVICE`]), so getting one runs on the path every prompt takes: policy
//! (the web UI's policy page for `my` can switch them off), audit (argument
//! values summarized, never in clear). Nothing is sent anywhere: the text is
//! the user's, with each `{{argument}}` replaced by its value.

use std::{collections::BTreeMap, sync::Arc};

use async_trait::async_trait;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, PromptMessage, Role};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::{Auth, CallContext, Connector, Error, Result, ToolSpec, resources::PromptSpec};

/// The service the user's prompts are served under (`my_review`).
pub const SERVICE: &str = "my";

/// The longest prompt text accepted.
pub const MAX_TEXT: usize = 64 * 1024;

/// One prompt the user wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPrompt {
    /// What the prompt is for, as clients list it.
    pub description: String,
    /// The text; `{{name}}` is replaced by the argument `name`'s value.
    pub text: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Vec<UserArgument>,
}

/// One argument of a [`UserPrompt`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserArgument {
    /// Its name (letters, digits, `_`, `-`), used as `{{name}}` in the text.
    pub name: String,
    /// What to pass.
    #[serde(default)]
    pub description: String,
    /// Whether `prompts/get` needs it (default true).
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

/// The user's prompts as a connector.
#[derive(Debug)]
pub struct UserPrompts {
    prompts: BTreeMap<String, UserPrompt>,
    base_url: Url,
}

impl UserPrompts {
    /// Checks every prompt (names, argument names, a text within
    /// [`MAX_TEXT`] whose every `{{placeholder}}` is a declared argument).
    pub fn new(prompts: BTreeMap<String, UserPrompt>) -> Result<Arc<Self>> {
        let bad = |name: &str, why: String| Error::config("prompts", format!("{name}: {why}"));
        for (name, prompt) in &prompts {
            crate::names::check_tool_part("a prompt name", name)
                .and_then(|()| {
                    crate::names::check_tool_name(&crate::names::tool_name(SERVICE, name))
                })
                .map_err(|e| bad(name, e.to_string()))?;
            if prompt.text.len() > MAX_TEXT {
                return Err(bad(name, format!("the text is over {MAX_TEXT} bytes")));
            }
            for arg in &prompt.arguments {
                crate::names::check_tool_part("an argument name", &arg.name)
                    .map_err(|e| bad(name, e.to_string()))?;
            }
            for placeholder in placeholders(&prompt.text) {
                if !prompt.arguments.iter().any(|a| a.name == placeholder) {
                    return Err(bad(
                        name,
                        format!("{{{{{placeholder}}}}} is not one of its arguments"),
                    ));
                }
            }
        }
        Ok(Arc::new(Self {
            prompts,
            base_url: Url::parse("http://127.0.0.1:9/").expect("static URL"),
        }))
    }
}

/// The `{{name}}` placeholders of `text`, in order.
fn placeholders(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    out
}

/// `text` with each `{{name}}` replaced by its value (empty when absent).
/// A value is inserted as is, never expanded again.
fn render(text: &str, args: &JsonObject) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push_str(&rest[..start]);
        let name = after[..end].trim();
        out.push_str(args.get(name).and_then(|v| v.as_str()).unwrap_or_default());
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[async_trait]
impl Connector for UserPrompts {
    fn service(&self) -> &'static str {
        SERVICE
    }

    fn auth(&self) -> Auth {
        Auth::None
    }

    fn base_url(&self) -> &Url {
        &self.base_url
    }

    fn tools(&self) -> Vec<ToolSpec> {
        Vec::new()
    }

    async fn call(&self, _: &CallContext, tool: &str, _: JsonObject) -> Result<CallToolResult> {
        Err(Error::InvalidArguments(format!("no tool {tool}")))
    }

    fn prompts(&self) -> Vec<PromptSpec> {
        self.prompts
            .iter()
            .map(|(name, prompt)| {
                let mut spec = PromptSpec::new(name.clone(), prompt.description.clone(), "prompts");
                for arg in &prompt.arguments {
                    spec = spec.arg(arg.name.clone(), arg.description.clone(), arg.required);
                }
                spec
            })
            .collect()
    }

    async fn get_prompt(
        &self,
        _: &CallContext,
        prompt: &str,
        args: JsonObject,
    ) -> Result<Vec<PromptMessage>> {
        let Some(user) = self.prompts.get(prompt) else {
            return Err(Error::InvalidArguments(format!("no prompt {prompt}")));
        };
        Ok(vec![PromptMessage::new(
            Role::User,
            ContentBlock::text(render(&user.text, &args)),
        )])
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn prompt(text: &str, args: &[&str]) -> BTreeMap<String, UserPrompt> {
        let arguments = args
            .iter()
            .map(|a| UserArgument {
                name: (*a).into(),
                description: String::new(),
                required: true,
            })
            .collect();
        BTreeMap::from([(
            "review".to_owned(),
            UserPrompt {
                description: "d".into(),
                text: text.into(),
                arguments,
            },
        )])
    }

    #[test]
    fn placeholders_are_replaced_once_and_must_be_declared() {
        let args = json!({"url": "{{focus}}", "focus": "tests"});
        assert_eq!(
            render(
                "Review {{url}}, focus {{ focus }}.",
                args.as_object().unwrap()
            ),
            "Review {{focus}}, focus tests."
        );
        assert_eq!(render("a {{b", &JsonObject::new()), "a {{b");
        assert!(UserPrompts::new(prompt("{{url}}", &["url"])).is_ok());
        let undeclared = UserPrompts::new(prompt("{{nope}}", &["url"])).unwrap_err();
        assert!(undeclared.to_string().contains("{{nope}}"), "{undeclared}");
        assert!(UserPrompts::new(prompt("x", &["bad name"])).is_err());
    }
}
