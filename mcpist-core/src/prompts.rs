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

use secrecy::{ExposeSecret, SecretString};

use crate::{
    AuditSink, Auth, CallContext, Connector, Error, Result, ToolSpec,
    audit::{AuditEvent, AuditKind},
    resources::PromptSpec,
    store::TokenStore,
};

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

impl UserArgument {
    /// A required argument `NAME`, or an optional one from `NAME:optional`
    /// (how `mcpist prompts add --arg` and the web UI take them).
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let spec = spec.trim();
        let (name, required) = match spec.split_once(':') {
            None => (spec, true),
            Some((name, "optional")) => (name, false),
            Some((_, other)) => {
                return Err(format!(
                    "argument {spec}: after the name only `:optional` is allowed, not `:{other}`"
                ));
            }
        };
        Ok(Self {
            name: name.to_owned(),
            description: String::new(),
            required,
        })
    }
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
    /// Checks every prompt (see [`check`]).
    pub fn new(prompts: BTreeMap<String, UserPrompt>) -> Result<Arc<Self>> {
        for (name, prompt) in &prompts {
            check(name, prompt)
                .map_err(|why| Error::config("prompts", format!("{name}: {why}")))?;
        }
        Ok(Arc::new(Self {
            prompts,
            base_url: Url::parse("http://127.0.0.1:9/").expect("static URL"),
        }))
    }

    /// The prompts served, by name.
    pub fn prompts_by_name(&self) -> &BTreeMap<String, UserPrompt> {
        &self.prompts
    }
}

/// Checks one prompt: its name, its argument names (each once), a text
/// within [`MAX_TEXT`] whose every `{{placeholder}}` is a declared argument.
/// The error says what is wrong, without the text.
pub fn check(name: &str, prompt: &UserPrompt) -> std::result::Result<(), String> {
    crate::names::check_tool_part("a prompt name", name)
        .and_then(|()| crate::names::check_tool_name(&crate::names::tool_name(SERVICE, name)))
        .map_err(|e| e.to_string())?;
    if prompt.text.len() > MAX_TEXT {
        return Err(format!("the text is over {MAX_TEXT} bytes"));
    }
    for (i, arg) in prompt.arguments.iter().enumerate() {
        crate::names::check_tool_part("an argument name", &arg.name).map_err(|e| e.to_string())?;
        if prompt.arguments[..i].iter().any(|a| a.name == arg.name) {
            return Err(format!("the argument {} is declared twice", arg.name));
        }
    }
    for placeholder in placeholders(&prompt.text) {
        if !prompt.arguments.iter().any(|a| a.name == placeholder) {
            return Err(format!("{{{{{placeholder}}}}} is not one of its arguments"));
        }
    }
    Ok(())
}

/// The store secret the saved prompts live under: one JSON object, name to
/// prompt, sealed like every store secret (the text is the user's own).
const SAVED: &str = "prompts/user";

/// The prompts saved in `store` (by `mcpist prompts add` or the web UI), by
/// name; empty when none were saved.
pub async fn load_saved(store: &dyn TokenStore) -> Result<BTreeMap<String, UserPrompt>> {
    let Some(text) = store.get_secret(SAVED).await? else {
        return Ok(BTreeMap::new());
    };
    serde_json::from_str(text.expose_secret())
        .map_err(|e| Error::Store(format!("the saved prompts do not read: {e}")))
}

/// Replaces every saved prompt with `prompts` (unchecked, unaudited: the
/// callers are [`save`] and [`remove`]).
async fn store_all(store: &dyn TokenStore, prompts: &BTreeMap<String, UserPrompt>) -> Result<()> {
    let text = serde_json::to_string(prompts).map_err(|e| Error::other("prompts", e))?;
    store.put_secret(SAVED, &SecretString::from(text)).await
}

/// The audit record of a change to the saved prompt `name`: the prompt's
/// description and text summarized by `audit` (length and keyed hash), the
/// argument list by its size, never any of them in clear.
fn prompt_event(
    audit: &dyn AuditSink,
    kind: AuditKind,
    name: &str,
    prompt: Option<&UserPrompt>,
) -> AuditEvent {
    let mut event = AuditEvent::now(kind)
        .service(SERVICE)
        .tool(crate::names::tool_name(SERVICE, name));
    if let Some(prompt) = prompt {
        let mut args = JsonObject::new();
        args.insert("description".into(), prompt.description.clone().into());
        args.insert("text".into(), prompt.text.clone().into());
        args.insert(
            "arguments".into(),
            serde_json::Value::Array(
                prompt
                    .arguments
                    .iter()
                    .map(|a| a.name.clone().into())
                    .collect(),
            ),
        );
        event.args = Some(audit.summarize(&args));
    }
    event
}

/// Saves `prompt` as `name` in `store`, audited as `prompt_set`. Refused,
/// with nothing changed, when the prompt does not pass [`check`] or when a
/// prompt `name` is saved already and `replace` is false. Returns whether
/// one was replaced.
pub async fn save(
    store: &dyn TokenStore,
    audit: &dyn AuditSink,
    name: &str,
    prompt: UserPrompt,
    replace: bool,
) -> Result<bool> {
    check(name, &prompt).map_err(|why| Error::InvalidArguments(format!("prompt {name}: {why}")))?;
    let event = prompt_event(audit, AuditKind::PromptSet, name, Some(&prompt));
    crate::accounts::audited(audit, event, async {
        let mut saved = load_saved(store).await?;
        if saved.contains_key(name) && !replace {
            return Err(Error::InvalidArguments(format!(
                "a prompt {name} is saved already; remove it first or replace it"
            )));
        }
        let replaced = saved.insert(name.to_owned(), prompt).is_some();
        store_all(store, &saved).await?;
        Ok(replaced)
    })
    .await
}

/// Removes the saved prompt `name`, audited as `prompt_remove`; an error
/// when there is none.
pub async fn remove(store: &dyn TokenStore, audit: &dyn AuditSink, name: &str) -> Result<()> {
    let event = prompt_event(audit, AuditKind::PromptRemove, name, None);
    crate::accounts::audited(audit, event, async {
        let mut saved = load_saved(store).await?;
        if saved.remove(name).is_none() {
            return Err(Error::InvalidArguments(format!("no saved prompt {name}")));
        }
        store_all(store, &saved).await
    })
    .await
}

/// The prompts served: `configured` (the config file's) and `saved` (the
/// store's). The config file's wins a name both define; the names it hid
/// are returned too, for a warning.
pub fn merge(
    configured: &BTreeMap<String, UserPrompt>,
    saved: BTreeMap<String, UserPrompt>,
) -> (BTreeMap<String, UserPrompt>, Vec<String>) {
    let mut served = configured.clone();
    let mut hidden = Vec::new();
    for (name, prompt) in saved {
        match served.entry(name) {
            std::collections::btree_map::Entry::Occupied(taken) => hidden.push(taken.key().clone()),
            std::collections::btree_map::Entry::Vacant(free) => {
                free.insert(prompt);
            }
        }
    }
    (served, hidden)
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

    #[test]
    fn the_config_files_prompt_wins_a_name_both_define() {
        let configured = prompt("config {{url}}", &["url"]);
        let mut saved = prompt("saved {{url}}", &["url"]);
        saved.insert(
            "standup".into(),
            UserPrompt {
                description: "s".into(),
                text: "notes".into(),
                arguments: Vec::new(),
            },
        );
        let (served, hidden) = merge(&configured, saved);
        assert_eq!(hidden, ["review"]);
        assert_eq!(served["review"].text, "config {{url}}");
        assert_eq!(served["standup"].text, "notes");
        let twice = UserPrompt {
            description: String::new(),
            text: "{{a}}".into(),
            arguments: vec![
                UserArgument {
                    name: "a".into(),
                    description: String::new(),
                    required: true,
                };
                2
            ],
        };
        assert!(check("twice", &twice).unwrap_err().contains("twice"));
    }
}
