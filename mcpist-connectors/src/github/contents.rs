//! File writes through GitHub's contents API: each one a commit on a branch.
//!
//! GitHub guards an update or a delete with the blob SHA of the file being
//! replaced: a missing `sha` for an existing file is `422 Invalid request.
//! "sha" wasn't supplied.`, a stale one `409 PATH does not match SHA`. Both
//! come back with what to do next (read the current SHA), not just the code.

use base64::Engine as _;
use mcpist_core::{
    CallContext, Error, Result, ToolHints, ToolSpec,
    mcp::{CallToolResult, JsonObject},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    client::{self, Page},
    results::json_result,
    tools::{parse, pick},
};

pub(super) fn specs() -> Vec<ToolSpec> {
    let name = json!({"type": "string", "minLength": 1, "maxLength": 100});
    let path = json!({"type": "string", "minLength": 1, "maxLength": 1024,
        "description": "Path of the file in the repository"});
    let message = json!({"type": "string", "minLength": 1, "maxLength": 65536,
        "description": "Commit message"});
    let branch = json!({"type": "string", "minLength": 1, "maxLength": 256,
        "description": "Branch to commit to (default branch if absent)"});
    vec![
        ToolSpec::new(
            "create_or_update_file",
            "Commit a file's new text; to replace a file, pass its `sha` from get_file_contents.",
            json!({"type": "object", "properties": {
                "owner": name, "repo": name, "path": path,
                "content": {"type": "string", "maxLength": 1_000_000, "description": "The whole new text of the file"},
                "message": message, "branch": branch,
                "sha": {"type": "string", "minLength": 1, "maxLength": 64,
                    "description": "Blob SHA of the file being replaced (required to update)"},
            }, "required": ["owner", "repo", "path", "content", "message"],
            "additionalProperties": false}),
            ToolHints::DESTRUCTIVE,
            "repos",
        ),
        ToolSpec::new(
            "delete_file",
            "Delete a file in a commit; `sha` is the file's blob SHA from get_file_contents.",
            json!({"type": "object", "properties": {
                "owner": name, "repo": name, "path": path, "message": message, "branch": branch,
                "sha": {"type": "string", "minLength": 1, "maxLength": 64,
                    "description": "Blob SHA of the file being deleted"},
            }, "required": ["owner", "repo", "path", "message", "sha"],
            "additionalProperties": false}),
            ToolHints::DESTRUCTIVE,
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
        "create_or_update_file" => put_file(ctx, parse(args)?).await,
        _ => delete_file(ctx, parse(args)?).await,
    }
}

#[derive(Deserialize)]
struct PutFile {
    owner: String,
    repo: String,
    path: String,
    content: String,
    message: String,
    branch: Option<String>,
    sha: Option<String>,
}

async fn put_file(ctx: &CallContext, args: PutFile) -> Result<CallToolResult> {
    let mut body = json!({
        "message": args.message,
        "content": base64::engine::general_purpose::STANDARD.encode(args.content),
    });
    if let Some(branch) = args.branch {
        body["branch"] = json!(branch);
    }
    if let Some(sha) = args.sha {
        body["sha"] = json!(sha);
    }
    let segments = file_segments(&args.owner, &args.repo, &args.path)?;
    let page = client::put(ctx, &segments, body)
        .await
        .map_err(with_sha_hint)?;
    let mut out = committed(&page, &args.path);
    out["created"] = json!(page.created);
    out["sha"] = page.body["content"]["sha"].clone();
    Ok(json_result(out))
}

#[derive(Deserialize)]
struct DeleteFile {
    owner: String,
    repo: String,
    path: String,
    message: String,
    branch: Option<String>,
    sha: String,
}

async fn delete_file(ctx: &CallContext, args: DeleteFile) -> Result<CallToolResult> {
    let mut body = json!({"message": args.message, "sha": args.sha});
    if let Some(branch) = args.branch {
        body["branch"] = json!(branch);
    }
    let segments = file_segments(&args.owner, &args.repo, &args.path)?;
    let page = client::delete(ctx, &segments, body)
        .await
        .map_err(with_sha_hint)?;
    let mut out = committed(&page, &args.path);
    out["deleted"] = json!(true);
    Ok(json_result(out))
}

/// `repos/OWNER/REPO/contents/PATH…`, each part of the path its own segment
/// (the upstream client refuses `.` and `..`), as `get_file_contents` does.
fn file_segments<'a>(owner: &'a str, repo: &'a str, path: &'a str) -> Result<Vec<&'a str>> {
    let mut segments = vec!["repos", owner, repo, "contents"];
    segments.extend(path.split('/').filter(|p| !p.is_empty()));
    if segments.len() == 4 {
        return Err(Error::InvalidArguments(format!("{path:?} names no file")));
    }
    Ok(segments)
}

/// The path and the commit GitHub made.
fn committed(page: &Page, path: &str) -> Value {
    let commit = &page.body["commit"];
    json!({
        "path": path,
        "commit": pick(commit, &["sha", "html_url"]),
    })
}

/// GitHub's refusal of a missing or stale `sha`, with what to do about it.
fn with_sha_hint(error: Error) -> Error {
    match error {
        Error::Upstream {
            service,
            status,
            message,
        } if status == 409 || (status == 422 && message.contains("\"sha\"")) => {
            let why = if status == 409 {
                "the file changed since that sha was read"
            } else {
                "the file exists, so replacing it needs its sha"
            };
            Error::Upstream {
                service,
                status,
                message: format!(
                    "{message} ({why}: get_file_contents gives the current sha; nothing was committed)"
                ),
            }
        }
        other => other,
    }
}
