//! Which tools exist: per-service policy from the connector's config table.
//!
//! ```toml
//! [connectors.github]
//! enabled = true                 # false: the service serves no tools at all
//! read_only = true               # only tools annotated readOnlyHint: true
//! toolsets = ["issues", "repos"] # only tools of these toolsets
//! allow = ["github_get_*"]       # only tools matching one of these globs
//! deny = ["*delete*"]            # never tools matching one of these globs
//! resources = ["github://octocat/hello/issues/1"]  # what resources/list shows
//! ```
//!
//! Read-only wins over everything; deny wins over allow. Globs (`*`, `?`)
//! match the tool name with or without its service prefix. Policy is checked
//! when listing tools and again when a tool is called by name.
//!
//! Resource templates and prompts are reads in the toolset they declare:
//! `enabled` and `toolsets` apply to them as to tools, and globs match their
//! keys (`resource:github_issue`, `prompt:github_triage_issues`,
//! `complete:resource:github_issue`) or their unprefixed names (`issue`).

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Error, Result, connector::ToolSpec, store::TokenStore};

/// The config keys policy takes out of a connector's table.
pub const POLICY_KEYS: [&str; 6] = [
    "enabled",
    "read_only",
    "toolsets",
    "allow",
    "deny",
    "resources",
];

/// The policy of one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePolicy {
    /// `Some(false)` serves no tool of the service.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Only tools annotated read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Only tools of these toolsets (all toolsets when absent).
    #[serde(default)]
    pub toolsets: Option<Vec<String>>,
    /// Only tools matching one of these globs (all tools when empty).
    #[serde(default)]
    pub allow: Vec<String>,
    /// Never tools matching one of these globs.
    #[serde(default)]
    pub deny: Vec<String>,
    /// The resource URIs `resources/list` shows (pinned by the user; each
    /// must match one of the service's resource templates).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
}

/// Whether a tool is served, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Listed and callable.
    Allowed,
    /// Not listed; a call by name is refused. The reason is for the user.
    Hidden(String),
}

impl ServicePolicy {
    /// Takes the policy keys out of a connector's config table (so the
    /// connector sees only its own keys) and parses them.
    pub fn take_from(service: &str, table: &mut Value) -> Result<Self> {
        let Value::Object(map) = table else {
            return Ok(Self::default());
        };
        let mut policy = Map::new();
        for key in POLICY_KEYS {
            if let Some(value) = map.remove(key) {
                policy.insert(key.to_owned(), value);
            }
        }
        serde_json::from_value(Value::Object(policy))
            .map_err(|e| Error::config(service.to_owned(), format!("policy: {e}")))
    }

    /// Whether the service is switched on (`enabled` unset counts as on).
    pub fn is_enabled(&self) -> bool {
        self.enabled != Some(false)
    }

    /// The verdict on `spec`, exposed as `full_name`.
    pub fn check(&self, full_name: &str, spec: &ToolSpec) -> Verdict {
        if !self.is_enabled() {
            return Verdict::Hidden("the service is disabled (enabled = false)".into());
        }
        if self.read_only && !spec.hints.read_only {
            return Verdict::Hidden("read_only = true and this tool writes".into());
        }
        if let Some(toolsets) = &self.toolsets
            && !toolsets.iter().any(|t| t == spec.toolset)
        {
            return Verdict::Hidden(format!(
                "its toolset `{}` is not in `toolsets`",
                spec.toolset
            ));
        }
        let matches = |pattern: &String| glob(pattern, full_name) || glob(pattern, &spec.name);
        if let Some(pattern) = self.deny.iter().find(|p| matches(p)) {
            return Verdict::Hidden(format!("denied by `{pattern}`"));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(matches) {
            return Verdict::Hidden("matches no pattern in `allow`".into());
        }
        Verdict::Allowed
    }
}

/// The store secret a policy saved by the web UI lives under.
fn saved_name(service: &str) -> String {
    format!("policy/{service}")
}

/// The policy saved for `service` (by the web UI), which replaces the
/// configured one, if any.
pub async fn load_saved(store: &dyn TokenStore, service: &str) -> Result<Option<ServicePolicy>> {
    let Some(text) = store.get_secret(&saved_name(service)).await? else {
        return Ok(None);
    };
    serde_json::from_str(text.expose_secret())
        .map(Some)
        .map_err(|e| Error::config(service.to_owned(), format!("saved policy: {e}")))
}

/// Saves `policy` for `service`: from now on it replaces the configured one.
pub async fn save(store: &dyn TokenStore, service: &str, policy: &ServicePolicy) -> Result<()> {
    let text = serde_json::to_string(policy).map_err(|e| Error::other("policy", e))?;
    store
        .put_secret(&saved_name(service), &SecretString::from(text))
        .await
}

/// Matches `text` against `pattern`, where `*` is any run of characters and
/// `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::connector::ToolHints;

    fn spec(name: &'static str, hints: ToolHints, toolset: &'static str) -> ToolSpec {
        ToolSpec::new(name, "d", json!({"type": "object"}), hints, toolset)
    }

    #[test]
    fn globs_match_stars_and_question_marks() {
        assert!(glob("*delete*", "github_delete_repo"));
        assert!(glob("github_get_*", "github_get_issue"));
        assert!(glob("get_?ssue", "get_issue"));
        assert!(glob("*", ""));
        assert!(!glob("github_get_*", "github_list_issues"));
        assert!(!glob("*delete", "delete_it"));
        assert!(glob("a*b*c", "aXXbYYc"));
        assert!(!glob("a*b*c", "aXXbYY"));
    }

    #[test]
    fn read_only_wins_over_allow_and_deny_wins_over_allow() {
        let write = spec("create_issue", ToolHints::CREATE, "issues");
        let read = spec("get_issue", ToolHints::READ, "issues");
        let policy = ServicePolicy {
            read_only: true,
            allow: vec!["*".into()],
            ..Default::default()
        };
        assert!(
            matches!(policy.check("github_create_issue", &write), Verdict::Hidden(r) if r.contains("read_only"))
        );
        assert_eq!(policy.check("github_get_issue", &read), Verdict::Allowed);
        let policy = ServicePolicy {
            allow: vec!["github_*".into()],
            deny: vec!["*create*".into()],
            ..Default::default()
        };
        assert!(
            matches!(policy.check("github_create_issue", &write), Verdict::Hidden(r) if r.contains("denied"))
        );
        assert_eq!(policy.check("github_get_issue", &read), Verdict::Allowed);
    }

    #[test]
    fn toolsets_and_allow_lists_restrict() {
        let read = spec("get_issue", ToolHints::READ, "issues");
        let only_repos = ServicePolicy {
            toolsets: Some(vec!["repos".into()]),
            ..Default::default()
        };
        assert!(matches!(
            only_repos.check("github_get_issue", &read),
            Verdict::Hidden(_)
        ));
        let allow = ServicePolicy {
            allow: vec!["get_*".into()],
            ..Default::default()
        };
        assert_eq!(allow.check("github_get_issue", &read), Verdict::Allowed);
        let disabled = ServicePolicy {
            enabled: Some(false),
            ..Default::default()
        };
        assert!(matches!(
            disabled.check("github_get_issue", &read),
            Verdict::Hidden(_)
        ));
    }

    #[test]
    fn policy_keys_are_taken_out_of_the_connector_table() {
        let mut table = json!({"base_url": "https://x", "read_only": true, "deny": ["*x*"]});
        let policy = ServicePolicy::take_from("github", &mut table).unwrap();
        assert!(policy.read_only);
        assert_eq!(table, json!({"base_url": "https://x"}));
        let mut bad = json!({"read_only": "yes"});
        let err = ServicePolicy::take_from("github", &mut bad).unwrap_err();
        assert!(err.to_string().contains("github"), "{err}");
    }
}
