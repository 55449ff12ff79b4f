//! Commits and branches: one commit with its patches, a comparison of two
//! refs, and a new branch from another's head.

use mcpist_core::{
    CallContext, Result, ToolHints, ToolSpec,
    mcp::{CallToolResult, JsonObject},
    output::project,
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    client,
    results::json_result,
    tools::{default_per_page, first_page, parse},
};

/// Longest patch of one file returned, in bytes.
const MAX_PATCH: usize = 20_000;
/// The patches of one answer together, in bytes; later files get none.
const MAX_PATCHES: usize = 100_000;

/// A commit in a list, as `list_commits` shows it.
const COMMIT_FIELDS: &[&str] = &[
    "sha",
    "message=commit/message",
    "author=commit/author/name",
    "date=commit/author/date",
];

pub(super) fn specs() -> Vec<ToolSpec> {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 100});
    let git_ref = |description: &str| json!({"type": "string", "minLength": 1, "maxLength": 256, "description": description});
    vec![
        ToolSpec::new(
            "get_commit",
            "One commit with its changed files and their patches (long ones cut).",
            json!({"type": "object", "properties": {
                "owner": name, "repo": name, "ref": git_ref("Commit SHA, branch or tag"),
            }, "required": ["owner", "repo", "ref"], "additionalProperties": false}),
            ToolHints::READ,
            "repos",
        ),
        ToolSpec::new(
            "compare_commits",
            "How `head` differs from `base`: ahead/behind, its commits and changed files.",
            json!({"type": "object", "properties": {
                "owner": name, "repo": name,
                "base": git_ref("Branch, tag or commit"), "head": git_ref("Branch, tag or commit"),
                "per_page": {"type": "integer", "minimum": 1, "maximum": 100, "default": 30},
                "page": {"type": "integer", "minimum": 1, "default": 1},
            }, "required": ["owner", "repo", "base", "head"], "additionalProperties": false}),
            ToolHints::READ,
            "repos",
        ),
        ToolSpec::new(
            "create_branch",
            "Create branch `branch` at the head of `from` (default branch if absent).",
            json!({"type": "object", "properties": {
                "owner": name, "repo": name,
                "branch": git_ref("Name of the new branch"),
                "from": git_ref("Branch to start from"),
            }, "required": ["owner", "repo", "branch"], "additionalProperties": false}),
            ToolHints::CREATE,
            "repos",
        ),
    ]
}

pub(super) async fn call(
    ctx: &CallContext,
    tool: &str,
    args: JsonObject,
) -> Result<CallToolResult> {
    match tool {
        "get_commit" => get_commit(ctx, parse(args)?).await,
        "compare_commits" => compare_commits(ctx, parse(args)?).await,
        _ => create_branch(ctx, parse(args)?).await,
    }
}

#[derive(Deserialize)]
struct GetCommit {
    owner: String,
    repo: String,
    #[serde(rename = "ref")]
    reference: String,
}

async fn get_commit(ctx: &CallContext, args: GetCommit) -> Result<CallToolResult> {
    let segments = ["repos", &args.owner, &args.repo, "commits", &args.reference];
    let page = client::get(ctx, &segments, &[]).await?;
    let mut out = project(&page.body, COMMIT_FIELDS);
    out["stats"] = page.body["stats"].clone();
    out["files"] = changed_files(&page.body["files"], &args.reference);
    Ok(json_result(out))
}

#[derive(Deserialize)]
struct Compare {
    owner: String,
    repo: String,
    base: String,
    head: String,
    #[serde(default = "default_per_page")]
    per_page: u32,
    #[serde(default = "first_page")]
    page: u32,
}

async fn compare_commits(ctx: &CallContext, args: Compare) -> Result<CallToolResult> {
    // GitHub's `{basehead}`: one path segment, `BASE...HEAD`.
    let basehead = format!("{}...{}", args.base, args.head);
    let segments = ["repos", &args.owner, &args.repo, "compare", &basehead];
    let query = [
        ("per_page", args.per_page.to_string()),
        ("page", args.page.to_string()),
    ];
    let page = client::get(ctx, &segments, &query).await?;
    let body = &page.body;
    let mut out = project(
        body,
        &[
            "status",
            "ahead_by",
            "behind_by",
            "total_commits",
            "html_url",
        ],
    );
    out["commits"] = body["commits"]
        .as_array()
        .map(|commits| commits.iter().map(|c| project(c, COMMIT_FIELDS)).collect())
        .unwrap_or_default();
    out["files"] = changed_files(&body["files"], &args.head);
    if page.has_next {
        out["next_page"] = json!(args.page + 1);
    }
    Ok(json_result(out))
}

/// The changed files of a commit or comparison, each patch cut to
/// [`MAX_PATCH`] and all of them to [`MAX_PATCHES`]; a cut patch says how to
/// read the whole file at `at`.
fn changed_files(files: &Value, at: &str) -> Value {
    let mut budget = MAX_PATCHES;
    let files = files.as_array().map(Vec::as_slice).unwrap_or_default();
    files
        .iter()
        .map(|file| {
            let mut out = project(
                file,
                &[
                    "filename",
                    "status",
                    "additions",
                    "deletions",
                    "previous_filename",
                ],
            );
            if let Some(patch) = file.get("patch").and_then(Value::as_str) {
                let mut patch = patch.to_owned();
                let total = patch.len();
                let keep = MAX_PATCH.min(budget);
                if total > keep {
                    let marker = format!(
                        "… [patch cut: {total} bytes in all; the whole file: get_file_contents \
                         with path {} and ref {at}]",
                        file["filename"].as_str().unwrap_or_default()
                    );
                    mcpist_core::output::cut(&mut patch, keep, &marker);
                    out["patch_cut"] = json!(true);
                }
                budget = budget.saturating_sub(total.min(keep));
                out["patch"] = json!(patch);
            }
            out
        })
        .collect()
}

#[derive(Deserialize)]
struct CreateBranch {
    owner: String,
    repo: String,
    branch: String,
    from: Option<String>,
}

async fn create_branch(ctx: &CallContext, args: CreateBranch) -> Result<CallToolResult> {
    let from = match args.from {
        Some(from) => from,
        None => {
            let repo = client::get(ctx, &["repos", &args.owner, &args.repo], &[]).await?;
            repo.body["default_branch"]
                .as_str()
                .unwrap_or("main")
                .to_owned()
        }
    };
    // `git/ref/heads/NAME`: a branch name's `/`s are path separators there.
    let mut segments = vec![
        "repos",
        args.owner.as_str(),
        args.repo.as_str(),
        "git",
        "ref",
        "heads",
    ];
    segments.extend(from.split('/'));
    let base = client::get(ctx, &segments, &[]).await?;
    let sha = base.body["object"]["sha"].clone();
    let created = client::post(
        ctx,
        &["repos", &args.owner, &args.repo, "git", "refs"],
        json!({"ref": format!("refs/heads/{}", args.branch), "sha": sha}),
    )
    .await?;
    Ok(json_result(json!({
        "branch": args.branch,
        "from": from,
        "sha": created.body["object"]["sha"],
    })))
}
