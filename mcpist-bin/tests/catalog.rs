//! Catalog services end to end (Todoist, TickTick, Google Tasks and Calendar, Microsoft To
//! Do, Asana, Airtable, Supabase): the real `mcpist` binary with
//! `[connectors.todoist]` pointed at the fake Todoist (API and OAuth
//! provider, built from the vendored description): `mcpist apps set`, an
//! OAuth login through the loopback callback, `mcpist tools`, and the
//! official MCP Python SDK calling a tool over stdio at both protocol
//! versions. No secret reaches an output.

use std::{
    io::{BufRead, BufReader, Read},
    process::Stdio,
};

use mcpist_connectors::catalog::fake::{
    airtable::{BASE as AIRTABLE_BASE, FakeAirtable},
    asana::{FakeAsana, PROJECT},
    google_calendar::FakeGoogleCalendar,
    google_tasks::FakeGoogleTasks,
    microsoft_todo::{FakeMicrosoftTodo, TASKS},
    supabase::{FakeSupabase, REF as SUPABASE_REF},
    ticktick::{FakeTicktick, WORK},
    todoist::FakeTodoist,
};
use mcpist_tests::{client_script, python_sdk};
use serde_json::Value;

mod support;
use support::*;

const SECRET: &str = "todoist-app-secret-CANARY-9d2e";

/// A home serving catalog service `service` on a fake (its API base URL and
/// OAuth endpoints), with the OAuth app `client` stored.
fn catalog_home(service: &str, urls: [String; 3], client: &str) -> Home {
    let [base, authorize, token] = urls;
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.{service}]\nbase_url = \"{base}\"\n\n[connectors.{service}.oauth]\n\
         authorize_url = \"{authorize}\"\ntoken_url = \"{token}\"\n"
    ));
    let out = home.run_input_ok(
        &[],
        &[
            "apps",
            "set",
            service,
            "--client-id",
            client,
            "--client-secret-stdin",
        ],
        &format!("{SECRET}\n"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("/oauth/callback/{service}")));
    home
}

/// A home serving Todoist on `fake`, with an OAuth app stored.
fn todoist_home(fake: &FakeTodoist) -> Home {
    fake.register_app("todoist-client", SECRET);
    catalog_home(
        "todoist",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "todoist-client",
    )
}

/// Runs `mcpist login SERVICE`, follows the URL it prints as a browser would
/// (the fake approves at once and redirects to the loopback callback), and
/// returns what the login printed.
async fn login(home: &Home, service: &str, client: &str, scope: &str) -> String {
    let mut child = home
        .cmd(&["login", service, "--no-browser", "--account", "me"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "login exited: {seen}"
        );
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("http") {
            break format!("http{rest}");
        }
    };
    let query: std::collections::HashMap<_, _> = url::Url::parse(&url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    assert_eq!(query["client_id"], client);
    assert_eq!(query["scope"], scope);
    let page = reqwest::get(&url).await.unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("Connected"), "{html}");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    assert!(status.success(), "{seen}");
    seen + &html
}

/// `tests/clients/smoke.py MODE stdio TOOL ARGS` against `home`, parsed.
fn smoke(home: &Home, mode: &str, tool: &str, args: &str) -> Value {
    let script = client_script("smoke.py");
    let out = home
        .program(
            python_sdk().to_str().unwrap(),
            &[("SMOKE_MCPIST", BIN)],
            &[script.to_str().unwrap(), mode, "stdio", tool, args],
        )
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Python SDK client ({mode}) failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todoist_from_the_catalog_logs_in_with_oauth_and_serves_the_python_sdk() {
    let fake = FakeTodoist::start().await;
    let home = todoist_home(&fake);

    // Todoist separates scopes with commas: one value.
    let printed = login(
        &home,
        "todoist",
        "todoist-client",
        "data:read_write,data:delete",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of todoist"),
        "{printed}"
    );
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["service"], "todoist");
    assert_eq!(listed[0]["kind"], "oauth");

    let tools = String::from_utf8(home.run_ok(&["tools"]).stdout).unwrap();
    for tool in [
        "todoist_filter_tasks",
        "todoist_create_task",
        "github_get_me",
    ] {
        assert!(
            tools.contains(tool),
            "{tool} missing from mcpist tools: {tools}"
        );
    }

    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "todoist_filter_tasks",
            r#"{"query": "today | overdue"}"#,
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(
            text.contains("Buy milk") && text.contains("Call the bank"),
            "{text}"
        );
        let listed = seen["tools"].as_array().unwrap();
        assert_eq!(
            listed
                .iter()
                .filter(|t| t.as_str().unwrap().starts_with("todoist_"))
                .count(),
            13
        );
        let everything = format!("{printed}{seen}{tools}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("todoist-oauth-token-"),
            "the access token leaked"
        );
    }
    // Every API call carried the token from the login.
    let calls = fake.requests();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.path == "/api/v1/tasks/filter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_service_takes_a_pasted_token_and_its_policy() {
    let fake = FakeTodoist::start().await;
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.todoist]\nbase_url = \"{}\"\nread_only = true\n",
        fake.base_url()
    ));
    fake.accept_token("todoist-personal-token-CANARY");
    home.run_input_ok(
        &[],
        &["accounts", "add", "todoist", "--token-stdin"],
        "todoist-personal-token-CANARY\n",
    );
    let tools = String::from_utf8(home.run_ok(&["tools"]).stdout).unwrap();
    assert!(tools.contains("todoist_list_tasks"), "{tools}");
    let create = tools
        .lines()
        .find(|l| l.starts_with("todoist_create_task"))
        .unwrap();
    assert!(
        create.contains("hidden: read_only"),
        "read_only hides the writes: {create}"
    );
    let results = stdio_calls(
        &home,
        &[
            ("todoist_list_projects", serde_json::json!({})),
            ("todoist_create_task", serde_json::json!({"content": "x"})),
        ],
    )
    .await;
    assert_eq!(results[0].is_error, Some(false), "{}", text(&results[0]));
    assert!(text(&results[0]).contains("Inbox"));
    assert_eq!(results[1].is_error, Some(true), "a write under read_only");
    assert_eq!(fake.requests().len(), 1, "the refused write sent nothing");
    let out = home
        .cmd_env(&[("MCPIST_CONNECTORS__TODOIST__TOOLS", "[]")], &["tools"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown key `tools`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticktick_logs_in_with_basic_client_auth_and_serves_the_python_sdk() {
    let fake = FakeTicktick::start().await;
    fake.register_app("ticktick-client", SECRET);
    let home = catalog_home(
        "ticktick",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "ticktick-client",
    );
    let printed = login(
        &home,
        "ticktick",
        "ticktick-client",
        "tasks:read tasks:write",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of ticktick"),
        "{printed}"
    );
    assert_eq!(
        fake.basic_auth_token_requests(),
        1,
        "TickTick takes the client's id and secret by HTTP Basic"
    );
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["kind"], "oauth");
    assert!(
        listed[0]["expires_at"].as_u64().unwrap() > 0,
        "expires_in is kept"
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "ticktick_get_project_data",
            &format!(r#"{{"projectId": "{WORK}"}}"#),
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        assert!(
            seen["text"].as_str().unwrap().contains("Write the report"),
            "{seen}"
        );
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("ticktick-access-"),
            "the access token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_tasks_logs_in_offline_with_consent_and_serves_the_python_sdk() {
    let fake = FakeGoogleTasks::start().await;
    fake.register_app("123-fake.apps.googleusercontent.com", SECRET);
    let home = catalog_home(
        "google_tasks",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "123-fake.apps.googleusercontent.com",
    );
    let printed = login(
        &home,
        "google_tasks",
        "123-fake.apps.googleusercontent.com",
        "https://www.googleapis.com/auth/tasks",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of google_tasks"),
        "{printed}"
    );
    // Google returns a refresh token only for offline access, on every
    // consent only with prompt=consent; earlier grants are kept.
    let asked = &fake.authorize_queries()[0];
    assert_eq!(asked["access_type"], "offline");
    assert_eq!(asked["prompt"], "consent");
    assert_eq!(asked["include_granted_scopes"], "true");
    assert_eq!(asked["code_challenge_method"], "S256");
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(listed[0]["kind"], "oauth");
    assert!(listed[0]["expires_at"].as_u64().unwrap() > 0);
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "google_tasks_list_tasks",
            r#"{"tasklist": "@default", "showCompleted": false}"#,
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(
            text.contains("File the taxes") && !text.contains("Renew the passport"),
            "{text}"
        );
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("ya29.fake-access-"),
            "the access token leaked"
        );
        assert!(
            !everything.contains("1//fake-refresh-"),
            "the refresh token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microsoft_todo_logs_in_on_the_common_tenant_and_serves_the_python_sdk() {
    let fake = FakeMicrosoftTodo::start().await;
    fake.register_app("00000000-fake-app", SECRET);
    let home = catalog_home(
        "microsoft_todo",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "00000000-fake-app",
    );
    // offline_access is what gets a refresh token from Microsoft.
    let printed = login(
        &home,
        "microsoft_todo",
        "00000000-fake-app",
        "Tasks.ReadWrite offline_access",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of microsoft_todo"),
        "{printed}"
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "microsoft_todo_list_tasks",
            &format!(r#"{{"list": "{TASKS}", "filter": "status ne 'completed'"}}"#),
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(
            text.contains("Send the invoice") && !text.contains("Sign the lease"),
            "{text}"
        );
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("fake.access."),
            "the access token leaked"
        );
        assert!(
            !everything.contains("fake.refresh."),
            "the refresh token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asana_logs_in_and_serves_the_python_sdk() {
    let fake = FakeAsana::start().await;
    fake.register_app("1209999999999999", SECRET);
    let home = catalog_home(
        "asana",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "1209999999999999",
    );
    let printed = login(&home, "asana", "1209999999999999", "default").await;
    assert!(
        printed.contains("Connected account 'me' of asana as ada@example.com"),
        "{printed}"
    );
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(
        listed[0]["identity"], "ada@example.com",
        "from its [identity] call"
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "asana_list_tasks",
            &format!(r#"{{"project": "{PROJECT}", "completed_since": "now"}}"#),
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(
            text.contains("Record the demo") && !text.contains("Book the venue"),
            "{text}"
        );
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("asana-access-"),
            "the access token leaked"
        );
        assert!(
            !everything.contains("asana-refresh-"),
            "the refresh token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_calendar_logs_in_and_serves_the_python_sdk() {
    let fake = FakeGoogleCalendar::start().await;
    fake.register_app("456-fake.apps.googleusercontent.com", SECRET);
    let home = catalog_home(
        "google_calendar",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "456-fake.apps.googleusercontent.com",
    );
    let printed = login(
        &home,
        "google_calendar",
        "456-fake.apps.googleusercontent.com",
        "https://www.googleapis.com/auth/calendar",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of google_calendar"),
        "{printed}"
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "google_calendar_list_events",
            r#"{"calendarId": "primary", "timeMin": "2026-12-04T00:00:00Z", "timeMax": "2026-12-05T00:00:00Z"}"#,
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(
            text.contains("Design review") && !text.contains("Board meeting"),
            "{text}"
        );
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("ya29.fake-access-"),
            "the access token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airtable_logs_in_with_pkce_and_basic_auth_and_serves_the_python_sdk() {
    let fake = FakeAirtable::start().await;
    fake.register_app("airtable-client-id", SECRET);
    let home = catalog_home(
        "airtable",
        [fake.base_url(), fake.authorize_url(), fake.token_url()],
        "airtable-client-id",
    );
    // The fake refuses an authorization without an S256 challenge and a
    // token request whose verifier does not match it, as Airtable does.
    let printed = login(
        &home,
        "airtable",
        "airtable-client-id",
        "data.records:read data.records:write schema.bases:read schema.bases:write",
    )
    .await;
    assert!(
        printed.contains("Connected account 'me' of airtable as ada@example.com"),
        "{printed}"
    );
    let listed: Value =
        serde_json::from_slice(&home.run_ok(&["accounts", "list", "--json"]).stdout).unwrap();
    assert_eq!(
        listed[0]["identity"], "ada@example.com",
        "from its [identity] call"
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "airtable_search_records",
            &format!(
                r#"{{"baseId": "{AIRTABLE_BASE}", "tableIdOrName": "Tasks", "filterByFormula": "{{Status}} = 'Done'"}}"#
            ),
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        let text = seen["text"].as_str().unwrap();
        assert!(text.contains("Plan") && !text.contains("Ship"), "{text}");
        let everything = format!("{printed}{seen}");
        assert!(!everything.contains(SECRET), "the app secret leaked");
        assert!(
            !everything.contains("airtable-access-"),
            "the access token leaked"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supabase_takes_a_personal_access_token_and_serves_the_python_sdk() {
    let fake = FakeSupabase::start().await;
    let token = "sbp_fake_personal_token_CANARY_0451";
    fake.accept_token(token);
    let home = Home::new();
    home.run_ok(&["init"]);
    home.write_config(&format!(
        "[connectors.supabase]\nbase_url = \"{}\"\n",
        fake.base_url()
    ));
    home.run_input_ok(
        &[],
        &["accounts", "add", "supabase", "--token-stdin"],
        &format!("{token}\n"),
    );
    for (mode, protocol) in [("legacy", "2025-11-25"), ("auto", "2026-07-28")] {
        let seen = smoke(
            &home,
            mode,
            "supabase_list_tables",
            &format!(r#"{{"ref": "{SUPABASE_REF}"}}"#),
        );
        assert_eq!(seen["protocol"], protocol, "{seen}");
        assert_eq!(seen["is_error"], false, "{seen}");
        assert!(seen["text"].as_str().unwrap().contains("orders"), "{seen}");
        assert!(!seen.to_string().contains(token), "the token leaked");
    }
}
