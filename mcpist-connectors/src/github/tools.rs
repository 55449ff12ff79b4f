//! The GitHub tools: their schemas, and what each returns.

use mcpist_core::{
    CallContext, Error, Result, ToolHints, ToolSpec,
    mcp::{CallToolResult, ContentBlock, JsonObject},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    client::{self, Page, truncate},
    contents, git, overview,
    reads::{READS, REPO_FIELDS},
    results::{file_text, json_result, list, paged_items},
};

/// Longest issue body returned, in bytes.
const MAX_BODY: usize = 20_000;
/// Longest file or diff returned, in bytes.
const MAX_TEXT: usize = 100_000;

pub(super) fn all() -> Vec<ToolSpec> {
    // The names say what these are; every byte here is repeated in most tools.
    let owner = json!({"type": "string", "minLength": 1, "maxLength": 100});
    let repo = json!({"type": "string", "minLength": 1, "maxLength": 100});
    let per_page = json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 30});
    let page = json!({"type": "integer", "minimum": 1, "default": 1});
    vec![
        ToolSpec::new(
            "get_me",
            "The GitHub user this account is signed in as.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            ToolHints::READ,
            "context",
        ),
        ToolSpec::new(
            "list_repos",
            "List repositories: the account's own (with private ones), or those of `owner`.",
            json!({"type": "object", "properties": {
                "owner": owner,
                "sort": {"type": "string", "enum": ["created", "updated", "pushed", "full_name"],
                    "default": "full_name"},
                "per_page": per_page, "page": page,
            }, "additionalProperties": false}),
            ToolHints::READ,
            "repos",
        ),
        ToolSpec::new(
            "list_issues",
            "List issues of a repository, newest first. Pull requests are marked `pr: true`.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "state": {"type": "string", "enum": ["open", "closed", "all"], "default": "open"},
                "labels": {"type": "string", "description": "Comma-separated label names"},
                "per_page": per_page, "page": page,
            }, "required": ["owner", "repo"], "additionalProperties": false}),
            ToolHints::READ,
            "issues",
        ),
        ToolSpec::new(
            "get_issue",
            "Get one issue with its body.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "issue_number": {"type": "integer", "minimum": 1},
            }, "required": ["owner", "repo", "issue_number"], "additionalProperties": false}),
            ToolHints::READ,
            "issues",
        ),
        ToolSpec::new(
            "create_issue",
            "Open an issue.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "title": {"type": "string", "minLength": 1, "maxLength": 256},
                "body": {"type": "string", "maxLength": 65536},
                "labels": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            }, "required": ["owner", "repo", "title"], "additionalProperties": false}),
            ToolHints::CREATE,
            "issues",
        ),
        ToolSpec::new(
            "add_issue_comment",
            "Comment on an issue or pull request.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "issue_number": {"type": "integer", "minimum": 1},
                "body": {"type": "string", "minLength": 1, "maxLength": 65536},
            }, "required": ["owner", "repo", "issue_number", "body"], "additionalProperties": false}),
            ToolHints::CREATE,
            "issues",
        ),
        ToolSpec::new(
            "update_issue",
            "Change an issue's title, body or labels, or close or reopen it.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "issue_number": {"type": "integer", "minimum": 1},
                "title": {"type": "string", "minLength": 1, "maxLength": 256},
                "body": {"type": "string", "maxLength": 65536},
                "state": {"type": "string", "enum": ["open", "closed"]},
                "labels": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
            }, "required": ["owner", "repo", "issue_number"], "additionalProperties": false}),
            ToolHints::DESTRUCTIVE,
            "issues",
        ),
        ToolSpec::new(
            "get_file_contents",
            "A file's text, or a directory's entries, at a branch, tag or commit.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "path": {"type": "string", "maxLength": 1024, "description": "Path in the repository; empty for the root"},
                "ref": {"type": "string", "maxLength": 256, "description": "Branch, tag or commit (default branch if absent)"},
            }, "required": ["owner", "repo"], "additionalProperties": false}),
            ToolHints::READ,
            "repos",
        ),
        ToolSpec::new(
            "get_pull_request_diff",
            "A pull request's unified diff.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "pull_number": {"type": "integer", "minimum": 1},
            }, "required": ["owner", "repo", "pull_number"], "additionalProperties": false}),
            ToolHints::READ,
            "pull_requests",
        ),
        ToolSpec::new(
            "create_pull_request",
            "Open a pull request from `head` into `base`.",
            json!({"type": "object", "properties": {
                "owner": owner, "repo": repo,
                "title": {"type": "string", "minLength": 1, "maxLength": 256},
                "head": {"type": "string", "minLength": 1, "maxLength": 256, "description": "Branch with the changes (or owner:branch)"},
                "base": {"type": "string", "minLength": 1, "maxLength": 256, "description": "Branch to merge into"},
                "body": {"type": "string", "maxLength": 65536},
                "draft": {"type": "boolean", "default": false},
            }, "required": ["owner", "repo", "title", "head", "base"], "additionalProperties": false}),
            ToolHints::CREATE,
            "pull_requests",
        ),
    ]
    .into_iter()
    .chain(READS.iter().map(|r| r.spec()))
    .chain(git::specs())
    .chain(contents::specs())
    .chain(overview::specs())
    .collect()
}

pub(super) async fn call(
    ctx: &CallContext,
    tool: &str,
    args: JsonObject,
) -> Result<CallToolResult> {
    match tool {
        "get_me" => get_me(ctx).await,
        "list_repos" => list_repos(ctx, parse(args)?).await,
        "list_issues" => list_issues(ctx, parse(args)?).await,
        "get_issue" => get_issue(ctx, parse(args)?).await,
        "create_issue" => create_issue(ctx, parse(args)?).await,
        "add_issue_comment" => add_issue_comment(ctx, parse(args)?).await,
        "update_issue" => update_issue(ctx, parse(args)?).await,
        "get_file_contents" => get_file_contents(ctx, parse(args)?).await,
        "get_pull_request_diff" => {
            let args: PullNumber = parse(args)?;
            let number = args.pull_number.to_string();
            let segments = ["repos", &args.owner, &args.repo, "pulls", &number];
            let mut diff = client::get_text(ctx, &segments, "application/vnd.github.diff").await?;
            truncate(&mut diff, MAX_TEXT);
            Ok(CallToolResult::success(vec![ContentBlock::text(diff)]))
        }
        "create_pull_request" => create_pull_request(ctx, parse(args)?).await,
        "get_commit" | "compare_commits" | "create_branch" => git::call(ctx, tool, args).await,
        "describe_repo" => overview::call(ctx, args).await,
        "create_or_update_file" | "delete_file" => contents::call(ctx, tool, args).await,
        other => match READS.iter().find(|r| r.name == other) {
            Some(read) => read.run(ctx, &args).await,
            None => Err(Error::InvalidArguments(format!(
                "github has no tool {other:?}"
            ))),
        },
    }
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(args: JsonObject) -> Result<T> {
    serde_json::from_value(Value::Object(args)).map_err(|e| Error::InvalidArguments(e.to_string()))
}

fn paged(items: Vec<Value>, page: &Page, current: u32) -> CallToolResult {
    json_result(paged_items(items, page, current))
}

pub(super) fn pick(source: &Value, fields: &[&str]) -> Value {
    mcpist_core::output::project(source, fields)
}

fn login(v: &Value) -> Value {
    v.get("login").cloned().unwrap_or(Value::Null)
}

fn label_names(issue: &Value) -> Value {
    issue
        .get("labels")
        .and_then(Value::as_array)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|l| l.get("name").cloned())
                .collect::<Vec<_>>()
        })
        .map(Value::from)
        .unwrap_or(Value::Array(vec![]))
}

fn items(page: &Page) -> Result<&Vec<Value>> {
    list(&page.body, None)
}

async fn get_me(ctx: &CallContext) -> Result<CallToolResult> {
    let page = client::get(ctx, &["user"], &[]).await?;
    Ok(json_result(pick(
        &page.body,
        &[
            "login",
            "name",
            "email",
            "company",
            "html_url",
            "public_repos",
            "type",
        ],
    )))
}

#[derive(Deserialize)]
struct ListRepos {
    owner: Option<String>,
    sort: Option<String>,
    #[serde(default = "default_per_page")]
    per_page: u32,
    #[serde(default = "first_page")]
    page: u32,
}

pub(super) fn default_per_page() -> u32 {
    30
}

pub(super) fn first_page() -> u32 {
    1
}

async fn list_repos(ctx: &CallContext, args: ListRepos) -> Result<CallToolResult> {
    let mut query = vec![
        ("per_page", args.per_page.to_string()),
        ("page", args.page.to_string()),
    ];
    if let Some(sort) = args.sort {
        query.push(("sort", sort));
    }
    let page = match &args.owner {
        Some(owner) => client::get(ctx, &["users", owner, "repos"], &query).await?,
        None => client::get(ctx, &["user", "repos"], &query).await?,
    };
    let repos = items(&page)?.iter().map(|r| pick(r, REPO_FIELDS)).collect();
    Ok(paged(repos, &page, args.page))
}

#[derive(Deserialize)]
struct ListIssues {
    owner: String,
    repo: String,
    state: Option<String>,
    labels: Option<String>,
    #[serde(default = "default_per_page")]
    per_page: u32,
    #[serde(default = "first_page")]
    page: u32,
}

async fn list_issues(ctx: &CallContext, args: ListIssues) -> Result<CallToolResult> {
    let mut query = vec![
        ("state", args.state.unwrap_or_else(|| "open".into())),
        ("per_page", args.per_page.to_string()),
        ("page", args.page.to_string()),
    ];
    if let Some(labels) = args.labels {
        query.push(("labels", labels));
    }
    let page = client::get(ctx, &["repos", &args.owner, &args.repo, "issues"], &query).await?;
    let issues = items(&page)?
        .iter()
        .map(|i| {
            let mut out = pick(i, &["number", "title", "state", "comments", "updated_at"]);
            out["author"] = login(&i["user"]);
            out["labels"] = label_names(i);
            if i.get("pull_request").is_some() {
                out["pr"] = json!(true);
            }
            out
        })
        .collect();
    Ok(paged(issues, &page, args.page))
}

#[derive(Deserialize)]
struct GetIssue {
    owner: String,
    repo: String,
    issue_number: u64,
}

async fn get_issue(ctx: &CallContext, args: GetIssue) -> Result<CallToolResult> {
    let number = args.issue_number.to_string();
    let page = client::get(
        ctx,
        &["repos", &args.owner, &args.repo, "issues", &number],
        &[],
    )
    .await?;
    Ok(json_result(issue_details(&page.body)))
}

#[derive(Deserialize)]
struct CreateIssue {
    owner: String,
    repo: String,
    title: String,
    body: Option<String>,
    labels: Option<Vec<String>>,
}

async fn create_issue(ctx: &CallContext, args: CreateIssue) -> Result<CallToolResult> {
    let mut body = json!({ "title": args.title });
    if let Some(text) = args.body {
        body["body"] = json!(text);
    }
    if let Some(labels) = args.labels {
        body["labels"] = json!(labels);
    }
    let page = client::post(ctx, &["repos", &args.owner, &args.repo, "issues"], body).await?;
    Ok(json_result(pick(
        &page.body,
        &["number", "html_url", "state", "title"],
    )))
}

#[derive(Deserialize)]
struct AddComment {
    owner: String,
    repo: String,
    issue_number: u64,
    body: String,
}

async fn add_issue_comment(ctx: &CallContext, args: AddComment) -> Result<CallToolResult> {
    let number = args.issue_number.to_string();
    let segments = [
        "repos",
        &args.owner,
        &args.repo,
        "issues",
        &number,
        "comments",
    ];
    let page = client::post(ctx, &segments, json!({ "body": args.body })).await?;
    Ok(json_result(pick(
        &page.body,
        &["id", "html_url", "created_at"],
    )))
}

#[derive(Deserialize)]
struct UpdateIssue {
    owner: String,
    repo: String,
    issue_number: u64,
    title: Option<String>,
    body: Option<String>,
    state: Option<String>,
    labels: Option<Vec<String>>,
}

async fn update_issue(ctx: &CallContext, args: UpdateIssue) -> Result<CallToolResult> {
    let mut body = serde_json::Map::new();
    for (key, value) in [
        ("title", args.title),
        ("body", args.body),
        ("state", args.state),
    ] {
        if let Some(value) = value {
            body.insert(key.into(), json!(value));
        }
    }
    if let Some(labels) = args.labels {
        body.insert("labels".into(), json!(labels));
    }
    if body.is_empty() {
        return Err(Error::InvalidArguments(
            "nothing to change: give title, body, state or labels".into(),
        ));
    }
    let number = args.issue_number.to_string();
    let segments = ["repos", &args.owner, &args.repo, "issues", &number];
    let page = client::patch(ctx, &segments, Value::Object(body)).await?;
    Ok(json_result(issue_details(&page.body)))
}

/// The fields of an issue a model needs, with the body cut to [`MAX_BODY`].
fn issue_details(issue: &Value) -> Value {
    let mut out = pick(
        issue,
        &[
            "number",
            "title",
            "state",
            "state_reason",
            "comments",
            "created_at",
            "updated_at",
            "closed_at",
            "html_url",
        ],
    );
    out["author"] = login(&issue["user"]);
    out["labels"] = label_names(issue);
    out["assignees"] = issue
        .get("assignees")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(login).collect::<Vec<_>>())
        .map(Value::from)
        .unwrap_or(Value::Array(vec![]));
    if issue.get("pull_request").is_some() {
        out["pr"] = json!(true);
    }
    if let Some(body) = issue.get("body").and_then(Value::as_str) {
        let mut body = body.to_owned();
        truncate(&mut body, MAX_BODY);
        out["body"] = json!(body);
    }
    out
}

#[derive(Deserialize)]
struct FileContents {
    owner: String,
    repo: String,
    path: Option<String>,
    #[serde(rename = "ref")]
    reference: Option<String>,
}

async fn get_file_contents(ctx: &CallContext, args: FileContents) -> Result<CallToolResult> {
    let path = args.path.unwrap_or_default();
    let mut segments = vec!["repos", args.owner.as_str(), args.repo.as_str(), "contents"];
    // Each part of the path is its own segment (the upstream client refuses
    // `.` and `..`), so a path cannot leave the repository's contents.
    segments.extend(path.split('/').filter(|p| !p.is_empty()));
    let query: Vec<(&str, String)> = args.reference.map(|r| ("ref", r)).into_iter().collect();
    let page = client::get(ctx, &segments, &query).await?;
    if let Some(entries) = page.body.as_array() {
        let entries: Vec<Value> = entries
            .iter()
            .map(|e| pick(e, &["name", "type", "size", "path"]))
            .collect();
        return Ok(json_result(json!({ "path": path, "entries": entries })));
    }
    let body = &page.body;
    let mut out = pick(body, &["path", "size", "sha", "type"]);
    if body["encoding"] == "base64" {
        match file_text(body) {
            Some(mut text) => {
                truncate(&mut text, MAX_TEXT);
                out["content"] = json!(text);
            }
            None => out["binary"] = json!(true),
        }
    }
    Ok(json_result(out))
}

#[derive(Deserialize)]
struct PullNumber {
    owner: String,
    repo: String,
    pull_number: u64,
}

#[derive(Deserialize)]
struct CreatePull {
    owner: String,
    repo: String,
    title: String,
    head: String,
    base: String,
    body: Option<String>,
    draft: Option<bool>,
}

async fn create_pull_request(ctx: &CallContext, args: CreatePull) -> Result<CallToolResult> {
    let mut body = json!({"title": args.title, "head": args.head, "base": args.base,
        "draft": args.draft.unwrap_or(false)});
    if let Some(text) = args.body {
        body["body"] = json!(text);
    }
    let page = client::post(ctx, &["repos", &args.owner, &args.repo, "pulls"], body).await?;
    Ok(json_result(pick(
        &page.body,
        &["number", "html_url", "state", "draft"],
    )))
}
