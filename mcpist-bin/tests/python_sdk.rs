//! The official MCP Python SDK (a client nobody on the team wrote) drives the
//! real `mcpist` process over stdio and Streamable HTTP, at both protocol
//! generations: 2025-11-25 (the initialize handshake) and 2026-07-28
//! (`server/discover`, no handshake). It lists the tools and calls one on
//! the fake GitHub; the token never reaches the client.

use mcpist_tests::{canary, client_script, python_sdk};
use serde_json::Value;

mod support;
use support::*;

/// Runs `tests/clients/smoke.py MODE TARGET github_get_me` and parses what it
/// printed. It blocks: callers run on a multi-threaded runtime, so the fake
/// GitHub keeps answering.
fn smoke(home: &Home, mode: &str, target: &str, bearer: &str) -> Value {
    smoke_with(home, mode, target, bearer, "{}")
}

/// [`smoke`] with `args` (JSON) as the call's arguments.
fn smoke_with(home: &Home, mode: &str, target: &str, bearer: &str, args: &str) -> Value {
    smoke_call(home, mode, target, bearer, "github_get_me", args)
}

/// [`smoke`] calling `tool` with `args` (JSON).
fn smoke_call(
    home: &Home,
    mode: &str,
    target: &str,
    bearer: &str,
    tool: &str,
    args: &str,
) -> Value {
    let script = client_script("smoke.py");
    let out = home
        .program(
            python_sdk().to_str().unwrap(),
            &[("SMOKE_MCPIST", BIN), ("SMOKE_BEARER", bearer)],
            &[script.to_str().unwrap(), mode, target, tool, args],
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK client ({mode}, {target}) failed: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_served(seen: &Value, protocol: &str, token: &str) {
    assert_eq!(seen["protocol"], protocol, "negotiated version: {seen}");
    let tools: Vec<&str> = seen["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tools.contains(&"github_get_me"), "tools listed: {tools:?}");
    assert_eq!(seen["is_error"], false, "the call failed: {seen}");
    let text = seen["text"].as_str().unwrap();
    assert!(text.contains("octocat"), "the call's answer: {text}");
    assert!(!text.contains(token), "the token reached the client");
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_over_stdio_at_both_protocol_versions() {
    let token = canary("PYSTDIO");
    let (home, _fake) = github_home(&token).await;
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        assert_served(&smoke(&home, mode, "stdio", ""), protocol, &token);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_over_http_at_both_protocol_versions() {
    let token = canary("PYHTTP");
    let (home, _fake) = github_home(&token).await;
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout).unwrap();
    let server = spawn_http(&home);
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        assert_served(
            &smoke(&home, mode, &server.url, bearer.trim()),
            protocol,
            &token,
        );
    }
}

/// A call for an account that does not exist tells a client without URL
/// elicitation, at both protocol versions, the commands that add it, and
/// the link to the connect page the stdio process opened on loopback (no
/// web UI runs; `init` set its password). See `connect_stdio.rs` for the
/// connect itself.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_over_stdio_is_told_how_to_add_a_missing_account() {
    let token = canary("PYMISSING");
    let (home, fake) = github_home(&token).await;
    // Adding the token asked GitHub who it is.
    fake.clear_requests();
    for mode in ["legacy", "auto"] {
        let seen = smoke_with(&home, mode, "stdio", "", r#"{"account": "new"}"#);
        assert_eq!(seen["is_error"], true, "{seen}");
        let text = seen["text"].as_str().unwrap();
        for command in [
            "mcpist login github --account new",
            "mcpist accounts add github --account new --token-stdin",
            "open http://127.0.0.1:",
            "/connect/github?account=new&link=",
        ] {
            assert!(text.contains(command), "{mode}: no `{command}` in: {text}");
        }
    }
    assert!(fake.api_requests().is_empty(), "nothing was sent upstream");
}

/// The batch tool, in flat and discover mode, over stdio and HTTP, at both
/// protocol versions: two tasks, the second taking the first's login.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_runs_a_batch_over_stdio_and_http_in_both_tool_modes() {
    let token = canary("PYBATCH");
    let (home, fake) = github_home(&token).await;
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout).unwrap();
    let tasks = r#"{"tasks": [
        {"id": "me", "tool": "github_get_me"},
        {"id": "open", "tool": "github_list_issues",
         "arguments": {"owner": "${me.login}", "repo": "hello-world"}}]}"#;
    for tool_mode in ["flat", "discover"] {
        home.write_config(&format!(
            "[server]\ntool_mode = \"{tool_mode}\"\n[connectors.github]\nbase_url = \"{}\"\n",
            fake.base_url()
        ));
        let server = spawn_http(&home);
        for target in ["stdio", server.url.as_str()] {
            for mode in ["legacy", "auto"] {
                let seen = smoke_call(&home, mode, target, bearer.trim(), "mcpist_batch", tasks);
                let context = format!("{tool_mode}, {target}, {mode}: {seen}");
                assert!(
                    seen["tools"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|t| t == "mcpist_batch"),
                    "{context}"
                );
                assert_eq!(seen["is_error"], false, "{context}");
                let body: Value = serde_json::from_str(seen["text"].as_str().unwrap()).unwrap();
                let tasks = body["tasks"].as_array().unwrap();
                assert_eq!(tasks.len(), 2, "{context}");
                assert!(tasks.iter().all(|t| t["status"] == "ok"), "{context}");
                assert_eq!(tasks[0]["result"]["login"], "octocat", "{context}");
                assert!(tasks[1]["result"]["items"].is_array(), "{context}");
                assert!(
                    !seen.to_string().contains(&token),
                    "the token reached the client"
                );
            }
        }
    }
}

/// The prompts the user wrote in the config file are served as `my_NAME` by
/// the real binary over HTTP, at both protocol versions: listed, filled in
/// (a value is inserted as is), and audited without the values.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_gets_the_users_prompts_from_the_config_at_both_versions() {
    let token = canary("PYPROMPT");
    let (home, fake) = github_home(&token).await;
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n\n\
         [prompts.review]\ndescription = \"Review a pull request\"\n\
         text = \"Review {{{{url}}}} and focus on {{{{focus}}}}.\"\n\
         arguments = [{{ name = \"url\" }}, {{ name = \"focus\", required = false }}]\n",
        fake.base_url()
    ));
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout).unwrap();
    let server = spawn_http(&home);
    let secret_value = canary("VALUE");
    let steps = serde_json::json!([
        ["prompts"],
        ["prompt", "my_review", {"url": secret_value, "focus": "{{url}}"}],
        ["prompt", "my_review", {"focus": "tests"}],
        ["templates"],
    ]);
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let script = client_script("resources.py");
        let out = home
            .program(
                python_sdk().to_str().unwrap(),
                &[("SMOKE_BEARER", bearer.trim())],
                &[
                    script.to_str().unwrap(),
                    mode,
                    &server.url,
                    &steps.to_string(),
                ],
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["protocol"], protocol);
        let answers = seen["answers"].as_array().unwrap();
        assert_eq!(
            answers[0],
            serde_json::json!(["github_triage_issues", "my_review"])
        );
        assert_eq!(
            answers[1],
            serde_json::json!([format!("Review {secret_value} and focus on {{{{url}}}}.")])
        );
        // `url` is required.
        assert_eq!(answers[2]["code"], -32602, "{}", answers[2]);
        assert!(
            answers[3]
                .to_string()
                .contains("github://{owner}/{repo}/issues/{number}{?account}"),
            "{}",
            answers[3]
        );
    }
    let audit = home.run_ok(&["audit", "--json", "--limit", "50"]);
    let audit = String::from_utf8(audit.stdout).unwrap();
    assert!(audit.contains("prompt:my_review"), "{audit}");
    assert!(
        !audit.contains(&secret_value),
        "a prompt argument was audited in clear"
    );
}

/// A prompt whose text uses an argument it does not declare is a config
/// error naming the prompt and the file.
#[test]
fn a_prompt_with_an_undeclared_placeholder_is_refused_at_start() {
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config("[prompts.review]\ndescription = \"d\"\ntext = \"Review {{url}}\"\n");
    let out = home.run(&["tools"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("review") && err.contains("{{url}}"), "{err}");
    assert!(err.contains("mcpist.toml"), "{err}");
}

/// A prompt saved with `mcpist prompts add` is served by `mcpist serve`
/// next to the config file's, and the official Python SDK gets it over
/// HTTP at both protocol versions; its argument values are not audited in
/// clear.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_gets_a_prompt_saved_in_the_store_at_both_versions() {
    let token = canary("PYSTORED");
    let (home, fake) = github_home(&token).await;
    home.write_config(&format!(
        "[connectors.github]\nbase_url = \"{}\"\n\n\
         [prompts.review]\ndescription = \"Review a pull request\"\n\
         text = \"Review {{{{url}}}}.\"\narguments = [{{ name = \"url\" }}]\n",
        fake.base_url()
    ));
    home.run_with_stdin(
        &[
            "prompts",
            "add",
            "standup",
            "--description",
            "Standup notes",
            "--arg",
            "team",
            "--arg",
            "day:optional",
        ],
        "Notes for {{team}} on {{day}}.\n",
    );
    let bearer = String::from_utf8(home.run_ok(&["bearer", "show"]).stdout).unwrap();
    let server = spawn_http(&home);
    let secret_value = canary("TEAM");
    let steps = serde_json::json!([
        ["prompts"],
        ["prompt", "my_standup", {"team": secret_value, "day": "Friday"}],
        ["prompt", "my_standup", {"day": "Friday"}],
    ]);
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let script = client_script("resources.py");
        let out = home
            .program(
                python_sdk().to_str().unwrap(),
                &[("SMOKE_BEARER", bearer.trim())],
                &[
                    script.to_str().unwrap(),
                    mode,
                    &server.url,
                    &steps.to_string(),
                ],
            )
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .output()
            .unwrap();
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["protocol"], protocol);
        let answers = seen["answers"].as_array().unwrap();
        assert_eq!(
            answers[0],
            serde_json::json!(["github_triage_issues", "my_review", "my_standup"])
        );
        assert_eq!(
            answers[1],
            serde_json::json!([format!("Notes for {secret_value} on Friday.")])
        );
        // `team` is required.
        assert_eq!(answers[2]["code"], -32602, "{}", answers[2]);
    }
    let audit = home.run_ok(&["audit", "--json", "--limit", "50"]);
    let audit = String::from_utf8(audit.stdout).unwrap();
    assert!(audit.contains("prompt:my_standup"), "{audit}");
    assert!(
        !audit.contains(&secret_value),
        "a prompt argument was audited in clear"
    );
}

/// GitHub's overview and a file write through the real binary over stdio, at
/// both protocol versions: `describe_repo`'s one result, and a stale `sha`
/// refused as a tool error that says what to do.
#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_describes_a_repo_and_is_told_of_a_stale_sha_at_both_versions() {
    let token = canary("PYREPO");
    let (home, fake) = github_home(&token).await;
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke_call(
            &home,
            mode,
            "stdio",
            "",
            "github_describe_repo",
            r#"{"owner": "octocat", "repo": "hello-world"}"#,
        );
        assert_eq!(seen["protocol"], protocol);
        assert_eq!(seen["is_error"], false, "{seen}");
        let described: Value = serde_json::from_str(seen["text"].as_str().unwrap()).unwrap();
        assert_eq!(described["readme"]["text"], "# Hello World\n\nHi!\n");
        assert_eq!(described["open_pull_requests"]["count"], 1);

        let seen = smoke_call(
            &home,
            mode,
            "stdio",
            "",
            "github_create_or_update_file",
            r#"{"owner": "octocat", "repo": "hello-world", "path": "README.md",
                "content": "new", "message": "m", "sha": "0000000"}"#,
        );
        assert_eq!(seen["is_error"], true, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(text.contains("README.md does not match 0000000"), "{text}");
        assert!(
            text.contains("get_file_contents gives the current sha"),
            "{text}"
        );
        assert!(!text.contains(&token));
    }
    let puts = fake
        .api_requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .count();
    assert_eq!(puts, 2, "one refused PUT per protocol version");
}
