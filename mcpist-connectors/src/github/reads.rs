//! GitHub's plain read tools, described as data: a path template, the
//! arguments that fill it or go in the query, and the fields a model gets back.
//! One handler serves them all, on the shared [`rest`](crate::rest) engine.

use mcpist_core::{CallContext, Result, ToolHints, ToolSpec, mcp::CallToolResult, output::project};
use serde_json::{Map, Value, json};

use super::{
    client,
    results::{json_result, list, paged_items},
};
use crate::rest;

/// How an argument is typed in the schema.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    /// A string.
    Str,
    /// A positive integer.
    Int,
    /// One of these strings.
    OneOf(&'static [&'static str]),
}

/// One argument of a read tool.
#[derive(Debug, Clone, Copy)]
pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    pub(super) required: bool,
    pub(super) description: &'static str,
}

const fn req(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        required: true,
        description,
    }
}

const fn opt(name: &'static str, kind: Kind, description: &'static str) -> Param {
    Param {
        name,
        kind,
        required: false,
        description,
    }
}

// The names say what these are; a description would be repeated in every tool.
const OWNER: Param = req("owner", Kind::Str, "");
const REPO: Param = req("repo", Kind::Str, "");

/// A read tool: `GET path` (with `{arg}` segments filled in), the other
/// arguments as query parameters, and `fields` picked from the answer
/// (`name` or `name=json/pointer/path`).
#[derive(Debug)]
pub(super) struct Read {
    pub(super) name: &'static str,
    pub(super) description: &'static str,
    pub(super) toolset: &'static str,
    pub(super) path: &'static str,
    pub(super) params: &'static [Param],
    pub(super) fields: &'static [&'static str],
    /// The answer is a list (paginated with `per_page` / `page`).
    pub(super) list: bool,
    /// The list is under this key of the answer (search results: `items`).
    pub(super) items_key: Option<&'static str>,
}

pub(super) const REPO_FIELDS: &[&str] = &[
    "full_name",
    "private",
    "description",
    "language",
    "stargazers_count",
    "open_issues_count",
    "default_branch",
    "updated_at",
];

pub(super) const READS: &[Read] = &[
    Read {
        name: "list_orgs",
        description: "Organizations the account belongs to.",
        toolset: "context",
        path: "user/orgs",
        params: &[],
        fields: &["login", "description"],
        list: true,
        items_key: None,
    },
    Read {
        name: "get_repo",
        description: "One repository's details.",
        toolset: "repos",
        path: "repos/{owner}/{repo}",
        params: &[OWNER, REPO],
        fields: &[
            "full_name",
            "private",
            "description",
            "language",
            "default_branch",
            "topics",
            "stargazers_count",
            "forks_count",
            "open_issues_count",
            "archived",
            "html_url",
            "pushed_at",
            "permissions",
        ],
        list: false,
        items_key: None,
    },
    Read {
        name: "list_starred",
        description: "Repositories the account starred.",
        toolset: "repos",
        path: "user/starred",
        params: &[],
        fields: REPO_FIELDS,
        list: true,
        items_key: None,
    },
    Read {
        name: "list_branches",
        description: "Branches of a repository.",
        toolset: "repos",
        path: "repos/{owner}/{repo}/branches",
        params: &[OWNER, REPO],
        fields: &["name", "sha=commit/sha", "protected"],
        list: true,
        items_key: None,
    },
    Read {
        name: "list_commits",
        description: "Commits of a branch or path, newest first.",
        toolset: "repos",
        path: "repos/{owner}/{repo}/commits",
        params: &[
            OWNER,
            REPO,
            opt("sha", Kind::Str, "Branch, tag or commit to start from"),
            opt("path", Kind::Str, "Only commits touching this path"),
            opt("author", Kind::Str, "GitHub login or e-mail"),
        ],
        fields: &[
            "sha",
            "message=commit/message",
            "author=commit/author/name",
            "date=commit/author/date",
        ],
        list: true,
        items_key: None,
    },
    Read {
        name: "list_issue_comments",
        description: "Comments on an issue or pull request, oldest first.",
        toolset: "issues",
        path: "repos/{owner}/{repo}/issues/{issue_number}/comments",
        params: &[OWNER, REPO, req("issue_number", Kind::Int, "Issue number")],
        fields: &["id", "author=user/login", "body", "created_at"],
        list: true,
        items_key: None,
    },
    Read {
        name: "list_pull_requests",
        description: "Pull requests of a repository.",
        toolset: "pull_requests",
        path: "repos/{owner}/{repo}/pulls",
        params: &[
            OWNER,
            REPO,
            opt(
                "state",
                Kind::OneOf(&["open", "closed", "all"]),
                "Default: open",
            ),
            opt("base", Kind::Str, "Only PRs into this branch"),
        ],
        fields: &[
            "number",
            "title",
            "state",
            "draft",
            "author=user/login",
            "head=head/ref",
            "base=base/ref",
            "updated_at",
        ],
        list: true,
        items_key: None,
    },
    Read {
        name: "get_pull_request",
        description: "One pull request with its body and merge state.",
        toolset: "pull_requests",
        path: "repos/{owner}/{repo}/pulls/{pull_number}",
        params: &[
            OWNER,
            REPO,
            req("pull_number", Kind::Int, "Pull request number"),
        ],
        fields: &[
            "number",
            "title",
            "state",
            "draft",
            "merged",
            "mergeable",
            "author=user/login",
            "head=head/ref",
            "base=base/ref",
            "body",
            "commits",
            "additions",
            "deletions",
            "changed_files",
            "html_url",
        ],
        list: false,
        items_key: None,
    },
    Read {
        name: "list_pull_request_files",
        description: "Files a pull request changes, with their patches.",
        toolset: "pull_requests",
        path: "repos/{owner}/{repo}/pulls/{pull_number}/files",
        params: &[
            OWNER,
            REPO,
            req("pull_number", Kind::Int, "Pull request number"),
        ],
        fields: &["filename", "status", "additions", "deletions", "patch"],
        list: true,
        items_key: None,
    },
    Read {
        name: "list_pull_request_reviews",
        description: "Reviews of a pull request.",
        toolset: "pull_requests",
        path: "repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        params: &[
            OWNER,
            REPO,
            req("pull_number", Kind::Int, "Pull request number"),
        ],
        fields: &["id", "author=user/login", "state", "body", "submitted_at"],
        list: true,
        items_key: None,
    },
    Read {
        name: "search_repositories",
        description: "Search repositories (GitHub search syntax).",
        toolset: "search",
        path: "search/repositories",
        params: &[req("q", Kind::Str, "Query, e.g. `topic:rust stars:>100`")],
        fields: REPO_FIELDS,
        list: true,
        items_key: Some("items"),
    },
    Read {
        name: "search_code",
        description: "Search code (GitHub code search syntax).",
        toolset: "search",
        path: "search/code",
        params: &[req("q", Kind::Str, "Query, e.g. `fn main repo:owner/name`")],
        fields: &[
            "name",
            "path",
            "repository=repository/full_name",
            "html_url",
        ],
        list: true,
        items_key: Some("items"),
    },
    Read {
        name: "search_issues",
        description: "Search issues and pull requests (GitHub search syntax).",
        toolset: "search",
        path: "search/issues",
        params: &[req(
            "q",
            Kind::Str,
            "Query, e.g. `is:open label:bug repo:owner/name`",
        )],
        fields: &[
            "number",
            "title",
            "state",
            "author=user/login",
            "html_url",
            "updated_at",
        ],
        list: true,
        items_key: Some("items"),
    },
    Read {
        name: "list_workflows",
        description: "GitHub Actions workflows of a repository.",
        toolset: "actions",
        path: "repos/{owner}/{repo}/actions/workflows",
        params: &[OWNER, REPO],
        fields: &["id", "name", "path", "state"],
        list: true,
        items_key: Some("workflows"),
    },
    Read {
        name: "list_workflow_runs",
        description: "Recent GitHub Actions runs of a repository.",
        toolset: "actions",
        path: "repos/{owner}/{repo}/actions/runs",
        params: &[
            OWNER,
            REPO,
            opt("branch", Kind::Str, "Only runs of this branch"),
            opt(
                "status",
                Kind::OneOf(&["queued", "in_progress", "completed", "success", "failure"]),
                "Only runs in this state",
            ),
        ],
        fields: &[
            "id",
            "name",
            "head_branch",
            "event",
            "status",
            "conclusion",
            "created_at",
            "html_url",
        ],
        list: true,
        items_key: Some("workflow_runs"),
    },
    Read {
        name: "list_workflow_jobs",
        description: "Jobs of a GitHub Actions run, with the steps that failed.",
        toolset: "actions",
        path: "repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
        params: &[OWNER, REPO, req("run_id", Kind::Int, "Workflow run id")],
        fields: &[
            "id",
            "name",
            "status",
            "conclusion",
            "started_at",
            "completed_at",
            "steps",
        ],
        list: true,
        items_key: Some("jobs"),
    },
    Read {
        name: "list_public_events",
        description: "A user's recent public activity.",
        toolset: "users",
        path: "users/{username}/events/public",
        params: &[req("username", Kind::Str, "GitHub login")],
        fields: &["type", "repo=repo/name", "created_at"],
        list: true,
        items_key: None,
    },
];

impl Read {
    /// The tool's spec, its schema made from the parameters.
    pub(super) fn spec(&self) -> ToolSpec {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for p in self.params {
            let mut schema = match p.kind {
                Kind::Str => json!({"type": "string", "minLength": 1, "maxLength": 256}),
                Kind::Int => json!({"type": "integer", "minimum": 1}),
                Kind::OneOf(values) => json!({"type": "string", "enum": values}),
            };
            if !p.description.is_empty() {
                schema["description"] = json!(p.description);
            }
            properties.insert(p.name.to_owned(), schema);
            if p.required {
                required.push(p.name);
            }
        }
        if self.list {
            properties.insert(
                "per_page".into(),
                json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 30}),
            );
            properties.insert(
                "page".into(),
                json!({"type": "integer", "minimum": 1, "default": 1}),
            );
        }
        ToolSpec::new(
            self.name,
            self.description,
            json!({"type": "object", "properties": properties, "required": required,
                "additionalProperties": false}),
            ToolHints::READ,
            self.toolset,
        )
    }

    /// Runs the tool with validated `args`.
    pub(super) async fn run(
        &self,
        ctx: &CallContext,
        args: &Map<String, Value>,
    ) -> Result<CallToolResult> {
        let segments = rest::fill(self.path, args)?;
        let used: Vec<&str> = rest::path_args(self.path).collect();
        let mut query = rest::query(
            self.params
                .iter()
                .map(|p| p.name)
                .filter(|name| !used.contains(name)),
            args,
        );
        let page_number = args.get("page").and_then(Value::as_u64).unwrap_or(1) as u32;
        if self.list {
            let per_page = args.get("per_page").and_then(Value::as_u64).unwrap_or(30);
            query.push(("per_page", per_page.to_string()));
            query.push(("page", page_number.to_string()));
        }
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let page = client::get(ctx, &refs, &query).await?;
        if !self.list {
            return Ok(json_result(project(&page.body, self.fields)));
        }
        let items = list(&page.body, self.items_key)?
            .iter()
            .map(|i| project(i, self.fields))
            .collect();
        let mut result = paged_items(items, &page, page_number);
        if let Some(total) = page.body.get("total_count") {
            result["total_count"] = total.clone();
        }
        Ok(json_result(result))
    }
}
