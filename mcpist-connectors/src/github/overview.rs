//! `describe_repo`: a repository at a glance in one call, its parts fetched
//! from GitHub in parallel.

use mcpist_core::{
    CallContext, Error, Result, ToolHints, ToolSpec,
    mcp::{CallToolResult, JsonObject},
    output::project,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    client::{self, Page, truncate},
    reads::REPO_FIELDS,
    results::{file_text, json_result},
    tools::parse,
};

/// Longest README returned, in bytes.
const MAX_README: usize = 8_000;
/// Branches listed.
const BRANCHES: usize = 20;
/// Open issues and pull requests listed (of each).
const FIRST: usize = 5;

pub(super) fn specs() -> Vec<ToolSpec> {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 100});
    vec![ToolSpec::new(
        "describe_repo",
        "A repository at a glance: details, README, branches, open issues and PRs.",
        json!({"type": "object", "properties": {"owner": name, "repo": name},
            "required": ["owner", "repo"], "additionalProperties": false}),
        ToolHints::READ,
        "repos",
    )]
}

#[derive(Deserialize)]
struct Repo {
    owner: String,
    repo: String,
}

pub(super) async fn call(ctx: &CallContext, args: JsonObject) -> Result<CallToolResult> {
    let Repo { owner, repo } = parse(args)?;
    let base = ["repos", owner.as_str(), repo.as_str()];
    let readme_path = [base[0], base[1], base[2], "readme"];
    let branches_path = [base[0], base[1], base[2], "branches"];
    let branches_query = [("per_page", BRANCHES.to_string())];
    let search = |kind: &str| {
        vec![
            ("q", format!("repo:{owner}/{repo} is:{kind} is:open")),
            ("sort", "updated".to_owned()),
            ("per_page", FIRST.to_string()),
        ]
    };
    let (issues_query, pulls_query) = (search("issue"), search("pr"));
    let (info, readme, branches, issues, pulls) = tokio::join!(
        client::get(ctx, &base, &[]),
        client::get(ctx, &readme_path, &[]),
        client::get(ctx, &branches_path, &branches_query),
        client::get(ctx, &["search", "issues"], &issues_query),
        client::get(ctx, &["search", "issues"], &pulls_query),
    );
    // Without the repository there is nothing to describe (404, no access).
    let info = info?;
    let mut out = project(&info.body, REPO_FIELDS);
    out["topics"] = info.body["topics"].clone();
    out["html_url"] = info.body["html_url"].clone();
    out["readme"] = match readme {
        Ok(page) => readme_text(&page),
        // No README is an answer, not a failure.
        Err(Error::Upstream { status: 404, .. }) => Value::Null,
        Err(e) => part_error(e),
    };
    out["branches"] = match branches {
        Ok(page) => {
            let names: Vec<Value> = page
                .body
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|b| b["name"].clone())
                .collect();
            let mut branches = json!({"names": names});
            if page.has_next {
                branches["more"] = json!("list_branches has the rest");
            }
            branches
        }
        Err(e) => part_error(e),
    };
    out["open_issues"] = found(
        issues,
        &["number", "title", "author=user/login", "updated_at"],
    );
    out["open_pull_requests"] = found(
        pulls,
        &["number", "title", "author=user/login", "updated_at"],
    );
    Ok(json_result(out))
}

/// The README's path and text, cut to [`MAX_README`].
fn readme_text(page: &Page) -> Value {
    let path = page.body["path"].as_str().unwrap_or("README.md");
    match file_text(&page.body) {
        Some(mut text) => {
            truncate(&mut text, MAX_README);
            json!({"path": path, "text": text})
        }
        None => json!({"path": path, "binary": true}),
    }
}

/// A search answer as its total and first items.
fn found(answer: Result<Page>, fields: &[&str]) -> Value {
    match answer {
        Ok(page) => json!({
            "count": page.body["total_count"],
            "first": page.body["items"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|i| project(i, fields))
                .collect::<Vec<_>>(),
        }),
        Err(e) => part_error(e),
    }
}

/// A part that could not be fetched (a search rate limit, say), said in its
/// place; the rest still stands.
fn part_error(error: Error) -> Value {
    json!({"error": error.to_string()})
}
