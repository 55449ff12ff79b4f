//! GitHub as MCP resources, prompts and completions: a file at a ref, an
//! issue or a pull request with its discussion; a prompt that triages a
//! repository's open issues; owners and repositories the account can see.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use mcpist_core::{
    CallContext, Error, Result,
    mcp::{ContentBlock, JsonObject, PromptMessage, ResourceContents, Role},
    resources::{CompletionRequest, PromptSpec, ResourceSpec},
};
use serde_json::Value;

use super::client;

/// How many comments a discussion resource carries (GitHub's largest page).
const COMMENTS: &str = "100";

/// How many open issues the triage prompt puts in front of the model.
const TRIAGE_ISSUES: &str = "30";

/// How long the repositories an account can see are kept for completion.
const COMPLETION_TTL: Duration = Duration::from_secs(60);

pub(super) fn specs() -> Vec<ResourceSpec> {
    vec![
        ResourceSpec::new(
            "file",
            "github://{owner}/{repo}/blob/{ref}/{+path}",
            "A file of a repository at a branch, tag or commit",
            "repos",
        ),
        ResourceSpec::new(
            "issue",
            "github://{owner}/{repo}/issues/{number}",
            "An issue with its comments, as Markdown",
            "issues",
        )
        .mime_type("text/markdown"),
        ResourceSpec::new(
            "pull",
            "github://{owner}/{repo}/pull/{number}",
            "A pull request with its discussion, as Markdown",
            "pull_requests",
        )
        .mime_type("text/markdown"),
    ]
}

/// The discussions a write changed: a comment on, or an edit of, an issue
/// or pull request (GitHub numbers both alike; each has its own URI).
pub(super) fn changed(tool: &str, args: &JsonObject) -> Vec<String> {
    let (owner, repo) = (text(args, "owner"), text(args, "repo"));
    if matches!(tool, "create_or_update_file" | "delete_file") {
        // The file at the branch written to; without a branch the write went
        // to the default branch, whose name this does not know.
        return match (text(args, "branch"), text(args, "path").trim_matches('/')) {
            ("", _) | (_, "") => Vec::new(),
            (branch, path) => vec![format!("github://{owner}/{repo}/blob/{branch}/{path}")],
        };
    }
    if !matches!(tool, "add_issue_comment" | "update_issue") {
        return Vec::new();
    }
    let Some(number) = args.get("issue_number").and_then(Value::as_u64) else {
        return Vec::new();
    };
    // GitHub owner and repository names are letters, digits, `-`, `_`
    // and `.`: nothing a URI needs encoded. Another value matches no
    // subscription, which is harmless.
    vec![
        format!("github://{owner}/{repo}/issues/{number}"),
        format!("github://{owner}/{repo}/pull/{number}"),
    ]
}

pub(super) fn prompts() -> Vec<PromptSpec> {
    vec![
        PromptSpec::new(
            "triage_issues",
            "Triage a repository's open issues: group, prioritise, find duplicates",
            "issues",
        )
        .arg("owner", "The repository's owner", true)
        .arg("repo", "The repository", true),
    ]
}

fn text<'a>(params: &'a JsonObject, name: &str) -> &'a str {
    params.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// The `number` variable, which must be a positive whole number.
fn number(params: &JsonObject) -> Result<&str> {
    let number = text(params, "number");
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) || number.starts_with('0') {
        return Err(Error::InvalidArguments(
            "number must be a positive whole number".into(),
        ));
    }
    Ok(number)
}

pub(super) async fn read(
    ctx: &CallContext,
    resource: &str,
    uri: &str,
    params: JsonObject,
) -> Result<Vec<ResourceContents>> {
    let (owner, repo) = (text(&params, "owner"), text(&params, "repo"));
    match resource {
        "file" => file(ctx, uri, owner, repo, &params).await,
        "issue" | "pull" => {
            let number = number(&params)?;
            let markdown = discussion(ctx, owner, repo, number, resource == "pull").await?;
            Ok(vec![
                ResourceContents::text(markdown, uri).with_mime_type("text/markdown"),
            ])
        }
        other => Err(Error::InvalidArguments(format!("no resource {other}"))),
    }
}

async fn file(
    ctx: &CallContext,
    uri: &str,
    owner: &str,
    repo: &str,
    params: &JsonObject,
) -> Result<Vec<ResourceContents>> {
    let path = text(params, "path");
    let mut segments = vec!["repos", owner, repo, "contents"];
    // One segment per part: the upstream client refuses `.` and `..`.
    segments.extend(path.split('/').filter(|p| !p.is_empty()));
    let query = [("ref", text(params, "ref").to_owned())];
    let page = client::get(ctx, &segments, &query).await?;
    let body = &page.body;
    if body.is_array() || body["type"] != "file" {
        return Err(Error::InvalidArguments(format!(
            "{path} is not a file (list a directory with github_get_file_contents)"
        )));
    }
    if body["encoding"] != "base64" {
        // GitHub leaves files over 1 MB without content here.
        return Err(Error::InvalidArguments(format!(
            "{path} is too large for the contents API"
        )));
    }
    use base64::Engine as _;
    let packed: String = body["content"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&packed)
        .map_err(|_| Error::InvalidArguments(format!("{path}: GitHub sent bad base64")))?;
    Ok(vec![match String::from_utf8(bytes) {
        Ok(text) => ResourceContents::text(text, uri),
        Err(_) => ResourceContents::BlobResourceContents {
            uri: uri.to_owned(),
            mime_type: Some("application/octet-stream".into()),
            blob: packed,
            meta: None,
        },
    }])
}

/// An issue or pull request and its comments, as Markdown.
async fn discussion(
    ctx: &CallContext,
    owner: &str,
    repo: &str,
    number: &str,
    pull: bool,
) -> Result<String> {
    let kind = if pull { "pulls" } else { "issues" };
    let item = client::get(ctx, &["repos", owner, repo, kind, number], &[])
        .await?
        .body;
    // A pull request's conversation is its issue's comments.
    let comments = client::get(
        ctx,
        &["repos", owner, repo, "issues", number, "comments"],
        &[("per_page", COMMENTS.to_owned())],
    )
    .await?;
    let login = |v: &Value| v["user"]["login"].as_str().unwrap_or("ghost").to_owned();
    let mut out = format!(
        "# {} #{number}: {}\n\n{} by @{}, {}",
        if pull { "Pull request" } else { "Issue" },
        item["title"].as_str().unwrap_or_default(),
        item["state"].as_str().unwrap_or_default(),
        login(&item),
        item["created_at"].as_str().unwrap_or_default(),
    );
    if pull {
        out.push_str(&format!(
            "; {} into {}",
            item["head"]["ref"].as_str().unwrap_or_default(),
            item["base"]["ref"].as_str().unwrap_or_default()
        ));
    }
    out.push_str("\n\n");
    out.push_str(item["body"].as_str().unwrap_or("(no description)"));
    out.push('\n');
    let comments = comments.body.as_array().cloned().unwrap_or_default();
    for comment in &comments {
        out.push_str(&format!(
            "\n---\n\n**@{}** ({}):\n\n{}\n",
            login(comment),
            comment["created_at"].as_str().unwrap_or_default(),
            comment["body"].as_str().unwrap_or_default()
        ));
    }
    if comments.len().to_string() == COMMENTS {
        out.push_str("\n(only the first 100 comments)\n");
    }
    Ok(out)
}

pub(super) async fn prompt(
    ctx: &CallContext,
    prompt: &str,
    args: JsonObject,
) -> Result<Vec<PromptMessage>> {
    if prompt != "triage_issues" {
        return Err(Error::InvalidArguments(format!("no prompt {prompt}")));
    }
    let (owner, repo) = (text(&args, "owner"), text(&args, "repo"));
    let page = client::get(
        ctx,
        &["repos", owner, repo, "issues"],
        &[
            ("state", "open".to_owned()),
            ("per_page", TRIAGE_ISSUES.to_owned()),
        ],
    )
    .await?;
    let mut list = String::new();
    for issue in page.body.as_array().into_iter().flatten() {
        // The issues endpoint lists pull requests too.
        if issue.get("pull_request").is_some() {
            continue;
        }
        let labels: Vec<&str> = issue["labels"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| l["name"].as_str())
            .collect();
        list.push_str(&format!(
            "- #{} {} [{}] ({} comments)\n",
            issue["number"],
            issue["title"].as_str().unwrap_or_default(),
            labels.join(", "),
            issue["comments"]
        ));
    }
    if list.is_empty() {
        list.push_str("(no open issues)\n");
    }
    let text = format!(
        "Triage the open issues of {owner}/{repo} below. Group them by theme, point out \
         likely duplicates, and propose a priority (high, medium, low) and labels for each, \
         with one line of reasoning. Read an issue's discussion from the resource \
         github://{owner}/{repo}/issues/NUMBER when its title is not enough.\n\n{list}"
    );
    Ok(vec![PromptMessage::new(
        Role::User,
        ContentBlock::text(text),
    )])
}

/// The repositories (`owner/name`) each account could see lately.
#[derive(Debug, Default)]
pub(super) struct Seen {
    by_account: Mutex<HashMap<String, (Instant, Vec<String>)>>,
}

impl Seen {
    /// Owners or repositories the account can see that start with what was
    /// typed: the first page (100) of its repositories, most recently pushed
    /// first, kept a minute per account.
    pub(super) async fn complete(
        &self,
        ctx: &CallContext,
        request: &CompletionRequest,
    ) -> Result<Vec<String>> {
        let typed = request.value.to_lowercase();
        let repos = self.repos(ctx).await?;
        let split = repos.iter().filter_map(|r| r.split_once('/'));
        let mut out: Vec<String> = match request.argument.as_str() {
            "owner" => split.map(|(owner, _)| owner.to_owned()).collect(),
            "repo" => {
                let owner = request.context.get("owner").and_then(Value::as_str);
                split
                    .filter(|(o, _)| owner.is_none_or(|owner| o.eq_ignore_ascii_case(owner)))
                    .map(|(_, name)| name.to_owned())
                    .collect()
            }
            _ => return Ok(Vec::new()),
        };
        out.retain(|v| v.to_lowercase().starts_with(&typed));
        let mut seen = std::collections::HashSet::new();
        out.retain(|v| seen.insert(v.clone()));
        Ok(out)
    }

    async fn repos(&self, ctx: &CallContext) -> Result<Vec<String>> {
        let account = ctx.upstream().account().unwrap_or_default().to_owned();
        if let Some((at, repos)) = self
            .by_account
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&account)
            && at.elapsed() < COMPLETION_TTL
        {
            return Ok(repos.clone());
        }
        let page = client::get(
            ctx,
            &["user", "repos"],
            &[
                ("per_page", "100".to_owned()),
                ("sort", "pushed".to_owned()),
            ],
        )
        .await?;
        let repos: Vec<String> = page
            .body
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["full_name"].as_str().map(str::to_owned))
            .collect();
        let mut cache = self.by_account.lock().unwrap_or_else(|e| e.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < COMPLETION_TTL);
        cache.insert(account, (Instant::now(), repos.clone()));
        Ok(repos)
    }
}
