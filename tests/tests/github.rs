//! GitHub's tools against the fake GitHub, through the real MCP server and
//! an rmcp client in process: what each tool sends and answers, pagination,
//! routes, writes, per-toolset errors, and the connector testkit's error
//! mapping.

use mcpist_core::Registration;
use mcpist_tests::{call, canary, json_of, on_fake_github::setup, text};
use serde_json::{Value, json};

#[tokio::test]
async fn a_tool_call_reaches_github_with_the_token_and_the_client_never_sees_it() {
    let token = canary("e2e");
    let s = setup(&[("work", &token, "octocat")]).await;
    let me = call(&s.client, "github_get_me", json!({})).await;
    let me_json = json_of(&me);
    assert_eq!(me_json["login"], "octocat");
    assert_eq!(me_json["name"], "The octocat");

    let seen = s.fake.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, "/api/v3/user");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {token}").as_str())
    );

    let issues = json_of(
        &call(
            &s.client,
            "github_list_issues",
            json!({"owner": "octocat", "repo": "hello-world"}),
        )
        .await,
    );
    let numbers: Vec<_> = issues["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].clone())
        .collect();
    assert_eq!(numbers, [json!(3), json!(2)], "open issues, newest first");
    assert_eq!(issues["items"][1]["pr"], true);
    assert_eq!(issues["items"][0]["labels"], json!(["bug"]));

    let issue = json_of(
        &call(
            &s.client,
            "github_get_issue",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 1}),
        )
        .await,
    );
    assert_eq!(issue["state"], "closed");
    assert_eq!(issue["assignees"], json!(["hubot"]));
    assert!(issue["body"].as_str().unwrap().starts_with("Body of Typo"));

    // Nothing the client received carries the token.
    let listed = serde_json::to_string(&s.client.list_all_tools().await.unwrap()).unwrap();
    for output in [serde_json::to_string(&me).unwrap(), listed] {
        assert!(!output.contains(&token));
    }
}

#[tokio::test]
async fn pagination_says_when_more_exists() {
    let s = setup(&[("work", &canary("page"), "octocat")]).await;
    let first = json_of(&call(&s.client, "github_list_repos", json!({"per_page": 2})).await);
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["next_page"], 2);
    let second = json_of(
        &call(
            &s.client,
            "github_list_repos",
            json!({"per_page": 2, "page": 2}),
        )
        .await,
    );
    assert_eq!(second["items"][0]["full_name"], "octocat/linguist");
    assert_eq!(second["items"][0]["private"], true);
    assert!(second.get("next_page").is_none());
}

#[tokio::test]
async fn ids_cannot_change_the_route() {
    let s = setup(&[("work", &canary("route"), "octocat")]).await;
    for owner in [
        "../../user",
        "a/b",
        "x?y=1",
        "https://evil.example",
        "%2e%2e",
    ] {
        let r = call(
            &s.client,
            "github_list_issues",
            json!({"owner": owner, "repo": "hello-world"}),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{owner}: {}", text(&r));
    }
    for owner in ["..", "."] {
        let r = call(
            &s.client,
            "github_list_issues",
            json!({"owner": owner, "repo": "x"}),
        )
        .await;
        assert!(text(&r).contains("not a valid name"), "{}", text(&r));
    }
    for seen in s.fake.requests() {
        assert!(seen.path.starts_with("/api/v3/repos/"), "{}", seen.path);
        assert_eq!(seen.path.split('/').count(), 7, "{}", seen.path);
        assert!(seen.path.ends_with("/hello-world/issues"), "{}", seen.path);
    }
}

#[tokio::test]
async fn write_tools_send_what_the_model_asked_for() {
    let s = setup(&[("work", &canary("write"), "octocat")]).await;
    let created = json_of(&call(&s.client, "github_create_issue", json!({"owner": "octocat", "repo": "hello-world", "title": "New bug", "body": "It broke", "labels": ["bug"]})).await);
    assert_eq!(created["number"], 4);
    assert_eq!(created["title"], "New bug");
    let seen = s.fake.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].body,
        Some(json!({"title": "New bug", "body": "It broke", "labels": ["bug"]}))
    );

    let closed = json_of(&call(&s.client, "github_update_issue", json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "state": "closed"})).await);
    assert_eq!(closed["state"], "closed");
    let r = call(
        &s.client,
        "github_update_issue",
        json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3}),
    )
    .await;
    assert!(text(&r).contains("nothing to change"), "{}", text(&r));

    let comment = json_of(
        &call(
            &s.client,
            "github_add_issue_comment",
            json!({"owner": "octocat", "repo": "hello-world", "issue_number": 3, "body": "Thanks"}),
        )
        .await,
    );
    assert!(
        comment["html_url"]
            .as_str()
            .unwrap()
            .ends_with("#issuecomment-1")
    );
    assert_eq!(
        s.fake.requests().len(),
        3,
        "one upstream request per successful write"
    );
}

#[tokio::test]
async fn every_github_read_tool_answers_from_the_api() {
    let s = setup(&[("work", &canary("reads"), "octocat")]).await;
    let repo = json!({"owner": "octocat", "repo": "hello-world"});
    let with = |extra: Value| {
        let mut args = repo.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    let cases: Vec<(&str, Value, &str, Value)> = vec![
        (
            "github_list_orgs",
            json!({}),
            "/items/0/login",
            json!("acme"),
        ),
        (
            "github_get_repo",
            repo.clone(),
            "/default_branch",
            json!("main"),
        ),
        (
            "github_list_starred",
            json!({}),
            "/items/0/full_name",
            json!("rust-lang/hello-world"),
        ),
        (
            "github_list_branches",
            repo.clone(),
            "/items/1/sha",
            json!("6dcb09b"),
        ),
        (
            "github_list_commits",
            repo.clone(),
            "/items/0/message",
            json!("Add --json"),
        ),
        (
            "github_get_commit",
            with(json!({"ref": "6dcb09b"})),
            "/stats/total",
            json!(43),
        ),
        (
            "github_list_issue_comments",
            with(json!({"issue_number": 3})),
            "/items/0/body",
            json!("Seen on #3"),
        ),
        (
            "github_list_pull_requests",
            repo.clone(),
            "/items/0/head",
            json!("json-flag"),
        ),
        (
            "github_get_pull_request",
            with(json!({"pull_number": 2})),
            "/changed_files",
            json!(2),
        ),
        (
            "github_list_pull_request_files",
            with(json!({"pull_number": 2})),
            "/items/0/filename",
            json!("src/main.rs"),
        ),
        (
            "github_list_pull_request_reviews",
            with(json!({"pull_number": 2})),
            "/items/0/state",
            json!("APPROVED"),
        ),
        (
            "github_search_repositories",
            json!({"q": "topic:rust"}),
            "/total_count",
            json!(3),
        ),
        (
            "github_search_code",
            json!({"q": "fn main"}),
            "/items/0/repository",
            json!("octocat/hello-world"),
        ),
        (
            "github_search_issues",
            json!({"q": "is:open"}),
            "/items/1/author",
            json!("octocat"),
        ),
        (
            "github_list_workflows",
            repo.clone(),
            "/items/0/path",
            json!(".github/workflows/ci.yml"),
        ),
        (
            "github_list_workflow_runs",
            repo.clone(),
            "/items/0/conclusion",
            json!("failure"),
        ),
        (
            "github_list_workflow_jobs",
            with(json!({"run_id": 30433642})),
            "/items/0/steps/0/name",
            json!("cargo test"),
        ),
        (
            "github_list_public_events",
            json!({"username": "octocat"}),
            "/items/0/repo",
            json!("octocat/hello-world"),
        ),
        (
            "github_get_file_contents",
            with(json!({"path": "README.md"})),
            "/content",
            json!("# Hello World\n\nHi!\n"),
        ),
        (
            "github_get_file_contents",
            repo.clone(),
            "/entries/1/type",
            json!("dir"),
        ),
    ];
    for (tool, args, pointer, want) in cases {
        let result = json_of(&call(&s.client, tool, args.clone()).await);
        assert_eq!(
            result.pointer(pointer),
            Some(&want),
            "{tool} {args}: {result}"
        );
    }
    let diff = call(
        &s.client,
        "github_get_pull_request_diff",
        with(json!({"pull_number": 2})),
    )
    .await;
    assert!(
        text(&diff).starts_with("diff --git a/src/main.rs"),
        "{}",
        text(&diff)
    );
    // Query arguments reach GitHub as query parameters.
    let _ = call(
        &s.client,
        "github_list_commits",
        with(json!({"path": "src/main.rs", "per_page": 5})),
    )
    .await;
    let last = s.fake.requests().pop().unwrap();
    assert_eq!(last.path, "/api/v3/repos/octocat/hello-world/commits");
    assert!(last.query.unwrap().contains("path=src%2Fmain.rs"));
}

#[tokio::test]
async fn github_errors_per_toolset_are_readable() {
    let s = setup(&[("work", &canary("errs"), "octocat")]).await;
    let cases = [
        (
            "github_get_repo",
            json!({"owner": "octocat", "repo": "nope"}),
            "404",
        ),
        (
            "github_get_file_contents",
            json!({"owner": "octocat", "repo": "hello-world", "path": "missing.txt"}),
            "404",
        ),
        (
            "github_get_file_contents",
            json!({"owner": "octocat", "repo": "hello-world", "path": "../../user"}),
            "not a valid name",
        ),
        (
            "github_get_pull_request",
            json!({"owner": "octocat", "repo": "hello-world", "pull_number": 9}),
            "404",
        ),
        (
            "github_create_pull_request",
            json!({"owner": "octocat", "repo": "hello-world", "title": "x", "head": "nope", "base": "main"}),
            "head: invalid",
        ),
        (
            "github_list_workflow_runs",
            json!({"owner": "ratelimited", "repo": "x"}),
            "rate limiting",
        ),
        ("github_search_code", json!({}), "\"q\""),
        (
            "github_list_public_events",
            json!({"username": "x", "per_page": 500}),
            "`per_page`",
        ),
    ];
    for (tool, args, needle) in cases {
        let r = call(&s.client, tool, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{tool} {args}");
        assert!(text(&r).contains(needle), "{tool} {args}: {}", text(&r));
    }
    let created = json_of(&call(&s.client, "github_create_pull_request", json!({"owner": "octocat", "repo": "hello-world", "title": "Add --json", "head": "json-flag", "base": "main", "draft": true})).await);
    assert_eq!(created["number"], 5);
    assert_eq!(created["draft"], true);
}

#[tokio::test]
async fn github_maps_upstream_errors_as_the_exchanger_expects() {
    let github = (Registration::find("github").unwrap().build)(Value::Null).unwrap();
    let repo = json!({"owner": "octocat", "repo": "hello-world"});
    // A hand-written read, a read of the shared REST engine, and a write.
    for (tool, args) in [
        ("get_me", json!({})),
        ("list_issues", repo.clone()),
        ("get_repo", repo.clone()),
        (
            "create_issue",
            json!({"owner": "octocat", "repo": "hello-world", "title": "x"}),
        ),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            github.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}

#[tokio::test]
async fn file_writes_commit_through_the_contents_api_and_check_the_sha() {
    let s = setup(&[("work", &canary("files"), "octocat")]).await;
    let file = |extra: Value| {
        let mut args = json!({"owner": "octocat", "repo": "hello-world", "path": "README.md",
            "message": "Say more"});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    // A new file: no sha, 201 Created, the text sent as base64.
    let created = json_of(
        &call(
            &s.client,
            "github_create_or_update_file",
            file(json!({"path": "docs/new.md", "content": "Hé\n", "branch": "json-flag"})),
        )
        .await,
    );
    assert_eq!(created["created"], true, "{created}");
    assert_eq!(created["path"], "docs/new.md");
    assert_eq!(
        created["commit"]["sha"],
        "7638417db6d59f3c431d3e1f261cc637155684cd"
    );
    let sent = s.fake.requests().pop().unwrap();
    assert_eq!(sent.method, "PUT");
    assert_eq!(
        sent.path,
        "/api/v3/repos/octocat/hello-world/contents/docs/new.md"
    );
    assert_eq!(
        sent.body,
        Some(json!({"message": "Say more", "content": "SMOpCg==", "branch": "json-flag"}))
    );

    // Replacing an existing file needs its current sha.
    let updated = json_of(
        &call(
            &s.client,
            "github_create_or_update_file",
            file(json!({"content": "# Hello\n", "sha": "3d21ec5"})),
        )
        .await,
    );
    assert_eq!(updated["created"], false, "{updated}");
    assert_eq!(updated["sha"], "95b966ae1c166bd92f8ae7d1c313e738c731dfc3");

    let missing = call(
        &s.client,
        "github_create_or_update_file",
        file(json!({"content": "# Hello\n"})),
    )
    .await;
    assert_eq!(missing.is_error, Some(true));
    let why = text(&missing);
    assert!(why.contains("\"sha\" wasn't supplied"), "{why}");
    assert!(
        why.contains("get_file_contents gives the current sha"),
        "{why}"
    );
    let stale = call(
        &s.client,
        "github_create_or_update_file",
        file(json!({"content": "# Hello\n", "sha": "0000000"})),
    )
    .await;
    assert_eq!(stale.is_error, Some(true));
    let why = text(&stale);
    assert!(why.contains("README.md does not match 0000000"), "{why}");
    assert!(why.contains("changed since that sha was read"), "{why}");

    // Deleting: the sha is required by the schema, checked by GitHub.
    let stale = call(
        &s.client,
        "github_delete_file",
        file(json!({"sha": "0000000"})),
    )
    .await;
    assert!(text(&stale).contains("does not match"), "{}", text(&stale));
    let deleted = json_of(
        &call(
            &s.client,
            "github_delete_file",
            file(json!({"sha": "3d21ec5"})),
        )
        .await,
    );
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let sent = s.fake.requests().pop().unwrap();
    assert_eq!(sent.method, "DELETE");
    assert_eq!(
        sent.body,
        Some(json!({"message": "Say more", "sha": "3d21ec5"}))
    );
    let r = call(&s.client, "github_delete_file", file(json!({}))).await;
    assert!(text(&r).contains("sha"), "{}", text(&r));
    let gone = call(
        &s.client,
        "github_delete_file",
        file(json!({"path": "nope.txt", "sha": "3d21ec5"})),
    )
    .await;
    assert!(text(&gone).contains("404"), "{}", text(&gone));
    for path in ["/", "..", "a/../../user"] {
        let r = call(
            &s.client,
            "github_create_or_update_file",
            file(json!({"path": path, "content": "x"})),
        )
        .await;
        assert_eq!(r.is_error, Some(true), "{path}");
    }
    let requests = s.fake.requests().len();
    assert_eq!(
        requests, 7,
        "bad paths and a missing sha never reach GitHub"
    );

    // The hints: both overwrite or delete; create_issue, for one, does not.
    let tools = s.client.list_all_tools().await.unwrap();
    for name in ["github_create_or_update_file", "github_delete_file"] {
        let tool = tools.iter().find(|t| t.name == name).unwrap();
        let hints = tool.annotations.as_ref().unwrap();
        // MCP's defaults (a destructive write) are left out of the list.
        assert_ne!(hints.read_only_hint, Some(true), "{name}");
        assert_ne!(hints.destructive_hint, Some(false), "{name}");
    }
    let create = tools
        .iter()
        .find(|t| t.name == "github_create_issue")
        .unwrap();
    assert_eq!(
        create.annotations.as_ref().unwrap().destructive_hint,
        Some(false)
    );
}

#[tokio::test]
async fn commits_compare_and_branches_answer_as_github_does() {
    let s = setup(&[("work", &canary("git"), "octocat")]).await;
    let repo = |extra: Value| {
        let mut args = json!({"owner": "octocat", "repo": "hello-world"});
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };

    // A commit's patches, the long ones cut with where to read the rest.
    let small = json_of(&call(&s.client, "github_get_commit", repo(json!({"ref": "main"}))).await);
    assert_eq!(small["sha"], "a5c3d2e", "a branch name resolves: {small}");
    assert_eq!(
        small["files"][0]["patch"],
        "@@ -1 +1,2 @@\n fn main() {}\n+// --json"
    );
    assert!(small["files"][0].get("patch_cut").is_none());
    let big = json_of(
        &call(
            &s.client,
            "github_get_commit",
            repo(json!({"ref": "b16b16b"})),
        )
        .await,
    );
    let files = big["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    for file in &files[..5] {
        let patch = file["patch"].as_str().unwrap();
        assert_eq!(file["patch_cut"], true);
        assert!(patch.starts_with("@@ -0,0 +1,250 @@\n+xxx"), "{patch:.40}");
        assert!(
            patch.contains("25268 bytes in all"),
            "{}",
            &patch[patch.len() - 160..]
        );
        assert!(
            patch.ends_with(&format!(
                "get_file_contents with path {} and ref b16b16b]",
                file["filename"].as_str().unwrap()
            )),
            "{}",
            &patch[patch.len() - 120..]
        );
        assert!(patch.len() < 20_200, "{}", patch.len());
    }
    // The five cut patches used the whole budget: the sixth has only the note.
    assert!(
        files[5]["patch"]
            .as_str()
            .unwrap()
            .starts_with("… [patch cut"),
        "{}",
        files[5]["patch"]
    );
    let unknown = call(
        &s.client,
        "github_get_commit",
        repo(json!({"ref": "0badc0de"})),
    )
    .await;
    assert_eq!(unknown.is_error, Some(true));
    assert!(
        text(&unknown).contains("No commit found for SHA: 0badc0de"),
        "{}",
        text(&unknown)
    );

    // base...head as one path segment.
    let compared = json_of(
        &call(
            &s.client,
            "github_compare_commits",
            repo(json!({"base": "main", "head": "json-flag"})),
        )
        .await,
    );
    assert_eq!(compared["status"], "ahead", "{compared}");
    assert_eq!(compared["ahead_by"], 1);
    assert_eq!(compared["commits"][0]["message"], "Add --json");
    assert_eq!(compared["files"][0]["filename"], "src/main.rs");
    let sent = s.fake.requests().pop().unwrap();
    assert_eq!(
        sent.path,
        "/api/v3/repos/octocat/hello-world/compare/main...json-flag"
    );
    let behind = json_of(
        &call(
            &s.client,
            "github_compare_commits",
            repo(json!({"base": "json-flag", "head": "a5c3d2e"})),
        )
        .await,
    );
    assert_eq!(behind["status"], "behind");
    assert_eq!(behind["commits"], json!([]));
    let nowhere = call(
        &s.client,
        "github_compare_commits",
        repo(json!({"base": "main", "head": "nope"})),
    )
    .await;
    assert!(text(&nowhere).contains("404"), "{}", text(&nowhere));

    // A branch from the default branch's head, then from a named one.
    s.fake.clear_requests();
    let branch = json_of(
        &call(
            &s.client,
            "github_create_branch",
            repo(json!({"branch": "fix/typo"})),
        )
        .await,
    );
    assert_eq!(
        branch,
        json!({"branch": "fix/typo", "from": "main", "sha": "a5c3d2e"})
    );
    let seen = s.fake.requests();
    let paths: Vec<_> = seen
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("GET", "/api/v3/repos/octocat/hello-world"),
            (
                "GET",
                "/api/v3/repos/octocat/hello-world/git/ref/heads/main"
            ),
            ("POST", "/api/v3/repos/octocat/hello-world/git/refs"),
        ]
    );
    assert_eq!(
        seen[2].body,
        Some(json!({"ref": "refs/heads/fix/typo", "sha": "a5c3d2e"}))
    );
    let from = json_of(
        &call(
            &s.client,
            "github_create_branch",
            repo(json!({"branch": "more", "from": "json-flag"})),
        )
        .await,
    );
    assert_eq!(from["sha"], "6dcb09b");
    let taken = call(
        &s.client,
        "github_create_branch",
        repo(json!({"branch": "json-flag", "from": "main"})),
    )
    .await;
    assert_eq!(taken.is_error, Some(true));
    assert!(
        text(&taken).contains("Reference already exists"),
        "{}",
        text(&taken)
    );
    let no_base = call(
        &s.client,
        "github_create_branch",
        repo(json!({"branch": "x", "from": "nope"})),
    )
    .await;
    assert!(text(&no_base).contains("404"), "{}", text(&no_base));
    let posts = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 3, "no POST when the base branch is not found");
}

#[tokio::test]
async fn describe_repo_gathers_the_repository_in_one_call() {
    let s = setup(&[("work", &canary("describe"), "octocat")]).await;
    // The five parts are asked for together: each request waits until all
    // five have arrived, so fetching them one after another would never end.
    s.fake.gather_api_requests(5);
    let described = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        call(
            &s.client,
            "github_describe_repo",
            json!({"owner": "octocat", "repo": "hello-world"}),
        ),
    )
    .await
    .expect("the parts are fetched in parallel");
    let d = json_of(&described);
    assert_eq!(d["full_name"], "octocat/hello-world", "{d}");
    assert_eq!(d["default_branch"], "main");
    assert_eq!(
        d["readme"],
        json!({"path": "README.md", "text": "# Hello World\n\nHi!\n"})
    );
    assert_eq!(d["branches"], json!({"names": ["main", "json-flag"]}));
    assert_eq!(d["open_issues"]["count"], 1);
    assert_eq!(d["open_issues"]["first"][0]["number"], 3);
    assert_eq!(d["open_pull_requests"]["count"], 1);
    assert_eq!(
        d["open_pull_requests"]["first"][0],
        json!({"number": 2, "title": "Add a --json flag", "author": "octocat",
            "updated_at": "2024-01-20T10:00:00Z"})
    );
    let searches: Vec<String> = s
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v3/search/issues")
        .map(|r| r.query.clone().unwrap())
        .collect();
    assert_eq!(searches.len(), 2);
    assert!(
        searches
            .iter()
            .any(|q| q.contains("is%3Apr") && q.contains("repo%3Aoctocat%2Fhello-world")),
        "{searches:?}"
    );

    // No README is part of the answer; no repository is an error.
    let bare = json_of(
        &call(
            &s.client,
            "github_describe_repo",
            json!({"owner": "octocat", "repo": "linguist"}),
        )
        .await,
    );
    assert_eq!(bare["readme"], Value::Null, "{bare}");
    assert_eq!(bare["private"], true);
    let missing = call(
        &s.client,
        "github_describe_repo",
        json!({"owner": "octocat", "repo": "nope"}),
    )
    .await;
    assert_eq!(missing.is_error, Some(true));
    assert!(text(&missing).contains("404"), "{}", text(&missing));

    // A part GitHub refuses (here the search rate limit, after one search)
    // is said in its place; the rest still stands.
    s.fake.limit_searches(1);
    let limited = json_of(
        &call(
            &s.client,
            "github_describe_repo",
            json!({"owner": "octocat", "repo": "hello-world"}),
        )
        .await,
    );
    let parts = [&limited["open_issues"], &limited["open_pull_requests"]];
    let refused: Vec<_> = parts.iter().filter(|p| p.get("error").is_some()).collect();
    assert_eq!(refused.len(), 1, "{limited}");
    assert!(
        refused[0]["error"].as_str().unwrap().contains("rate limit"),
        "{limited}"
    );
    assert_eq!(limited["readme"]["path"], "README.md");
    assert_eq!(limited["branches"]["names"][0], "main");
}

#[test]
fn a_file_write_names_the_file_resource_it_changed() {
    let github = (Registration::find("github").unwrap().build)(Value::Null).unwrap();
    let args = |v: Value| v.as_object().unwrap().clone();
    let write = json!({"owner": "octocat", "repo": "hello-world", "path": "docs/a.md",
        "branch": "main", "content": "x", "message": "m"});
    assert_eq!(
        github.changed_resources("create_or_update_file", &args(write.clone())),
        ["github://octocat/hello-world/blob/main/docs/a.md"]
    );
    assert_eq!(
        github.changed_resources("delete_file", &args(write.clone())),
        ["github://octocat/hello-world/blob/main/docs/a.md"]
    );
    // The default branch's name is not known without asking GitHub.
    let mut default_branch = write;
    default_branch.as_object_mut().unwrap().remove("branch");
    assert!(
        github
            .changed_resources("create_or_update_file", &args(default_branch))
            .is_empty()
    );
}
