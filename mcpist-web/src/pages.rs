//! The web UI's HTML, written with `maud`: its templates are checked at
//! compile time and escape every value spliced into them, so no page can
//! forget to.

use std::collections::{BTreeMap, BTreeSet};

use maud::{DOCTYPE, Markup, html};
use secrecy::ExposeSecret;

use mcpist_core::{
    audit::{AuditEntry, AuditFilter, Outcome, format_time},
    clients::{McpClient, ServerEntry},
    policy::{ServicePolicy, Verdict},
    prompts::UserPrompt,
    server::ListedTool,
    store::AccountInfo,
};

/// The one stylesheet: system fonts, high contrast, visible focus, narrow screens.
pub(super) const STYLESHEET: &str = r#"
:root { color-scheme: light; --fg:#1b1f24; --muted:#4b5563; --line:#d0d7de; --bg:#fff;
  --soft:#f6f8fa; --accent:#0b57d0; --ok:#116329; --warn:#7a4d00; --bad:#a40e26; }
* { box-sizing: border-box; }
body { margin:0; font:16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--fg); background:var(--bg); }
a { color:var(--accent); }
:focus-visible { outline:3px solid var(--accent); outline-offset:2px; }
.skip { position:absolute; left:-999px; } .skip:focus { left:1rem; top:1rem; background:#fff; padding:.5rem; }
header { background:var(--soft); border-bottom:1px solid var(--line); }
header .bar { max-width:64rem; margin:0 auto; padding:.5rem 1rem; display:flex; flex-wrap:wrap;
  align-items:center; gap:.25rem 1rem; }
header .brand { font-weight:700; margin-right:auto; text-decoration:none; color:var(--fg); }
nav ul { list-style:none; display:flex; flex-wrap:wrap; gap:.25rem .75rem; margin:0; padding:0; }
nav a { text-decoration:none; padding:.25rem .1rem; }
nav a[aria-current=page] { font-weight:700; border-bottom:3px solid var(--accent); }
main { max-width:64rem; margin:0 auto; padding:1rem; }
h1 { font-size:1.5rem; margin:.5rem 0 1rem; } h2 { font-size:1.2rem; margin:1.5rem 0 .5rem; }
section.card { border:1px solid var(--line); border-radius:8px; padding:.75rem 1rem; margin:1rem 0; }
.flash { border-left:4px solid var(--accent); background:var(--soft); padding:.5rem 1rem; }
.error { border-left:4px solid var(--bad); background:#fff0f0; padding:.5rem 1rem; }
.muted { color:var(--muted); }
.table { overflow-x:auto; }
table { border-collapse:collapse; width:100%; font-size:.95rem; }
th, td { text-align:left; padding:.4rem .5rem; border-bottom:1px solid var(--line); vertical-align:top; }
th { background:var(--soft); }
code, pre, textarea { font-family:ui-monospace, SFMono-Regular, Menlo, monospace; font-size:.9rem; }
pre { background:var(--soft); border:1px solid var(--line); padding:.75rem; overflow-x:auto;
  white-space:pre-wrap; word-break:break-all; }
.status { font-weight:600; white-space:nowrap; }
.status-ok { color:var(--ok); } .status-expiring, .status-expired { color:var(--warn); }
.status-needs_reauth, .status-broken { color:var(--bad); }
label { display:block; font-weight:600; margin:.75rem 0 .25rem; }
label.check { display:flex; gap:.5rem; align-items:center; font-weight:400; margin:.25rem 0; }
input[type=text], input[type=password], select, textarea { width:100%; max-width:32rem; padding:.5rem;
  border:1px solid #8c959f; border-radius:6px; font-size:1rem; }
.hint { color:var(--muted); font-size:.9rem; margin:.25rem 0; }
button, .button { display:inline-block; font:inherit; padding:.45rem .9rem; border-radius:6px;
  border:1px solid var(--accent); background:var(--accent); color:#fff; cursor:pointer; text-decoration:none; }
button.secondary, .button.secondary { background:#fff; color:var(--accent); }
button.danger { background:var(--bad); border-color:var(--bad); }
form.inline { display:inline; }
td.actions { white-space:nowrap; } td.actions button { padding:.2rem .6rem; }
.actions { display:flex; flex-wrap:wrap; gap:.5rem; align-items:center; margin-top:.75rem; }
.filters { display:flex; flex-wrap:wrap; gap:.5rem 1rem; align-items:flex-end; }
.filters label { margin:0 0 .25rem; } .filters div { min-width:10rem; }
"#;

#[path = "remote_pages.rs"]
mod remote;
pub(super) use remote::{bare, remote_clients};

/// What every logged-in page shares: the active nav entry, the CSRF token
/// for its forms, and a message left by the last action.
pub(super) struct Chrome<'a> {
    pub(super) active: &'a str,
    pub(super) csrf: &'a str,
    pub(super) flash: Option<&'a str>,
}

/// A whole page: the document head with `title`, then `body`.
fn document(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · MCPist" }
                link rel="stylesheet" href="/ui.css";
            }
            body { (body) }
        }
    }
}

fn csrf_field(chrome: &Chrome<'_>) -> Markup {
    html! { input type="hidden" name="csrf" value=(chrome.csrf); }
}

/// A whole logged-in page.
pub(super) fn layout(chrome: &Chrome<'_>, title: &str, body: Markup) -> Markup {
    const NAV: [(&str, &str, &str); 7] = [
        ("services", "/", "Services"),
        ("add", "/accounts/new", "Add a token"),
        ("apps", "/apps", "OAuth apps"),
        ("prompts", "/prompts", "Prompts"),
        ("audit", "/audit", "Audit log"),
        ("clients", "/clients", "Connect a client"),
        ("remote", "/remote-clients", "Remote clients"),
    ];
    document(
        title,
        html! {
            a.skip href="#main" { "Skip to content" }
            header {
                div.bar {
                    a.brand href="/" { "MCPist" }
                    nav aria-label="Main" {
                        ul {
                            @for (id, href, label) in NAV {
                                li { a href=(href) aria-current=[(chrome.active == id).then_some("page")] { (label) } }
                            }
                        }
                    }
                    form.inline method="post" action="/logout" {
                        (csrf_field(chrome))
                        button.secondary type="submit" { "Log out" }
                    }
                }
            }
            main id="main" {
                h1 { (title) }
                @if let Some(flash) = chrome.flash {
                    p.flash role="status" { (flash) }
                }
                (body)
            }
        },
    )
}

/// A page with only a title and a message (errors, refusals).
pub(super) fn message(title: &str, text: &str) -> Markup {
    document(
        title,
        html! {
            main id="main" {
                h1 { (title) }
                p.error role="alert" { (text) }
                p { a href="/" { "Back to MCPist" } }
            }
        },
    )
}

/// The login page; `token` is the form's CSRF token (also in a cookie).
pub(super) fn login(token: &str, error: Option<&str>, has_password: bool) -> Markup {
    document(
        "Log in",
        html! {
            main id="main" {
                h1 { "Log in to MCPist" }
                @if let Some(error) = error {
                    p.error role="alert" { (error) }
                }
                @if !has_password {
                    p.hint {
                        "No password is set yet: run " code { "mcpist password set" }
                        " on the machine MCPist runs on."
                    }
                }
                form method="post" action="/login" {
                    input type="hidden" name="csrf" value=(token);
                    label for="password" { "Password" }
                    input type="password" id="password" name="password" autocomplete="current-password" required autofocus;
                    p.hint { "Set by " code { "mcpist init" } " or " code { "mcpist password set" } "." }
                    div.actions { button type="submit" { "Log in" } }
                }
            }
        },
    )
}

/// One account as the services page lists it.
pub(super) struct AccountRow<'a> {
    pub(super) info: &'a AccountInfo,
    /// `ok`, `expiring`, `expired`, `needs_reauth` or `broken`.
    pub(super) status: &'static str,
    /// The masked token hint.
    pub(super) hint: String,
    pub(super) last_used_ms: Option<u64>,
}

/// One service as the services page lists it.
pub(super) struct ServiceView<'a> {
    pub(super) name: &'a str,
    pub(super) needs_credentials: bool,
    pub(super) oauth: bool,
    /// Whether an OAuth app is stored for it.
    pub(super) app: bool,
    pub(super) rows: Vec<AccountRow<'a>>,
    pub(super) visible: usize,
    pub(super) total: usize,
}

/// `2026-11-26 11:07:18`, UTC: short enough for a table cell.
fn short_time(ms: u64) -> String {
    let mut text = format_time(ms).replacen('T', " ", 1);
    text.truncate(19);
    text
}

fn time_or(ms: Option<u64>, none: &str) -> String {
    ms.map(short_time).unwrap_or_else(|| none.to_owned())
}

/// One account's row on the services page.
fn account_row(chrome: &Chrome<'_>, s: &ServiceView<'_>, row: &AccountRow<'_>) -> Markup {
    let a = row.info;
    let name = s.name;
    let account = a.account.as_str();
    let oauth = a.kind == mcpist_core::store::CredentialKind::Oauth;
    html! {
        tr {
            th scope="row" {
                (account)
                @if a.is_default { " " strong { "(default)" } }
                br;
                span.muted { @if oauth { "OAuth" } @else { "pasted token" } }
            }
            td { span class={ "status status-" (row.status) } { (row.status) } }
            td { (a.identity.as_deref().unwrap_or("unknown")) }
            td { code { (row.hint) } }
            td { @if a.scopes.is_empty() { "—" } @else { (a.scopes.join(" ")) } }
            td { (time_or(a.expires_at.map(|t| t * 1000), "never")) }
            td { (time_or(row.last_used_ms, "never")) }
            td.actions {
                @if !a.is_default {
                    form.inline method="post" action={ "/accounts/" (name) "/" (account) "/default" } {
                        (csrf_field(chrome))
                        button.secondary type="submit" aria-label={ "Make " (account) " the default" } { "Make default" }
                    }
                    " "
                }
                // An OAuth account whose grant stopped working is connected
                // again under the same label.
                @if oauth && s.app {
                    form.inline method="post" action={ "/connect/" (name) } {
                        (csrf_field(chrome))
                        input type="hidden" name="account" value=(account);
                        button.secondary type="submit" aria-label={ "Reconnect " (account) } { "Reconnect" }
                    }
                    " "
                }
                a href={ "/accounts/" (name) "/" (account) "/remove" } aria-label={ "Remove " (account) } { "Remove" }
            }
        }
    }
}

/// The services page: each connector with its accounts.
pub(super) fn services(chrome: &Chrome<'_>, services: &[ServiceView<'_>]) -> Markup {
    let body = html! {
        p.muted {
            "Each service MCPist serves, the accounts it holds tokens for, and what clients can do with them."
        }
        @for s in services {
            @let name = s.name;
            section.card aria-labelledby={ "svc-" (name) } {
                h2 id={ "svc-" (name) } { (name) }
                p.muted {
                    (s.visible) " of " (s.total) " tools visible to clients · "
                    a href={ "/policy/" (name) } { "Policy" }
                }
                @if !s.needs_credentials {
                    p { "This service needs no credential." }
                } @else {
                    @if s.rows.is_empty() {
                        p { "No account yet." }
                    } @else {
                        div.table {
                            table {
                                caption.skip { "Accounts" }
                                thead {
                                    tr {
                                        th scope="col" { "Account" }
                                        th scope="col" { "Status" }
                                        th scope="col" { "Upstream identity" }
                                        th scope="col" { "Token" }
                                        th scope="col" { "Scopes" }
                                        th scope="col" { "Expires" }
                                        th scope="col" { "Last activity" }
                                        th scope="col" { "Actions" }
                                    }
                                }
                                tbody {
                                    @for row in &s.rows { (account_row(chrome, s, row)) }
                                }
                            }
                        }
                    }
                    div.actions {
                        a.button.secondary href={ "/accounts/new?service=" (name) } { "Add a token" }
                        @if s.oauth && s.app {
                            form.inline method="post" action={ "/connect/" (name) } {
                                (csrf_field(chrome))
                                label.check for={ "connect-" (name) } {
                                    "Account label "
                                    input type="text" id={ "connect-" (name) } name="account" value="default" required
                                        pattern="[A-Za-z0-9_.\\-]+" style="width:10rem";
                                }
                                " "
                                button type="submit" { "Connect with OAuth" }
                            }
                        } @else if s.oauth {
                            span.muted {
                                "To connect with OAuth, first " a href="/apps" { "register an OAuth app" } "."
                            }
                        }
                    }
                }
            }
        }
    };
    layout(chrome, "Services", body)
}

/// The form that stores a pasted token.
pub(super) fn add_token(
    chrome: &Chrome<'_>,
    services: &[&str],
    selected: Option<&str>,
    error: Option<(&str, &str)>,
) -> Markup {
    let account = error.map_or("default", |(account, _)| account);
    let body = html! {
        @if let Some((_, message)) = error {
            p.error role="alert" { (message) }
        }
        p {
            "Paste a personal access token or integration secret. MCPist seals it in its store and \
             never shows it again: pages show only a masked hint."
        }
        form method="post" action="/accounts" autocomplete="off" {
            (csrf_field(chrome))
            label for="service" { "Service" }
            select id="service" name="service" {
                @for s in services {
                    option selected[Some(*s) == selected] { (s) }
                }
            }
            label for="account" { "Account label" }
            input type="text" id="account" name="account" value=(account) required pattern="[A-Za-z0-9_.\\-]+" aria-describedby="account-hint";
            p.hint id="account-hint" {
                "Letters, digits, " code { "_" } ", " code { "-" } " and " code { "." } "; for example "
                code { "work" } " or " code { "personal" } ". An existing label's token is replaced."
            }
            label for="token" { "Token" }
            input type="password" id="token" name="token" required autocomplete="off" spellcheck="false";
            label.check { input type="checkbox" name="make_default"; " Make it the service's default account" }
            div.actions { button type="submit" { "Add the token" } }
        }
    };
    layout(chrome, "Add a token", body)
}

/// Asks before removing an account.
pub(super) fn confirm_remove(chrome: &Chrome<'_>, service: &str, account: &str) -> Markup {
    let body = html! {
        p {
            "Remove account " strong { (account) } " of " strong { (service) }
            "? Its token is deleted from the store; tools called with this account will fail until \
             you add it again. The provider still knows the token: revoke it there too if you no \
             longer need it."
        }
        form method="post" action={ "/accounts/" (service) "/" (account) "/remove" } {
            (csrf_field(chrome))
            div.actions {
                button.danger type="submit" { "Remove " (account) }
                a.button.secondary href="/" { "Cancel" }
            }
        }
    };
    layout(chrome, "Remove an account", body)
}

/// One service's OAuth app as the apps page shows it.
pub(super) struct AppView<'a> {
    pub(super) service: &'a str,
    pub(super) client_id: Option<String>,
    pub(super) has_secret: bool,
    pub(super) redirect_uri: String,
}

/// The OAuth apps page.
pub(super) fn apps(chrome: &Chrome<'_>, apps: &[AppView<'_>]) -> Markup {
    let body = html! {
        p {
            "MCPist logs in with " em { "your" } " OAuth app. Register one with the provider, give it \
             the redirect URI shown, and paste its client ID and secret here."
        }
        @if apps.is_empty() {
            p { "No served service supports OAuth login." }
        }
        @for app in apps {
            @let s = app.service;
            section.card aria-labelledby={ "app-" (s) } {
                h2 id={ "app-" (s) } { (s) }
                p {
                    @match &app.client_id {
                        Some(id) => {
                            "Client ID " code { (id) } "; client secret "
                            @if app.has_secret { "set (never shown)" } @else { "not set (public client)" }
                            "."
                        }
                        None => "No app yet.",
                    }
                }
                p { "Redirect URI to register: " code { (app.redirect_uri) } }
                p.hint {
                    "For " code { "mcpist login" } " on this machine, also register "
                    code { "http://127.0.0.1/oauth/callback/" (s) } "."
                }
                form method="post" action={ "/apps/" (s) } autocomplete="off" {
                    (csrf_field(chrome))
                    label for={ "id-" (s) } { "Client ID" }
                    input type="text" id={ "id-" (s) } name="client_id" value=(app.client_id.as_deref().unwrap_or("")) required;
                    label for={ "secret-" (s) } { "Client secret" }
                    input type="password" id={ "secret-" (s) } name="client_secret" autocomplete="off" aria-describedby={ "secret-hint-" (s) };
                    p.hint id={ "secret-hint-" (s) } { "Leave empty to keep the stored secret." }
                    div.actions { button type="submit" { "Save the " (s) " app" } }
                }
            }
        }
    };
    layout(chrome, "OAuth apps", body)
}

/// `team, day:optional`: the arguments as the prompt form takes them.
fn arguments_field(prompt: &UserPrompt) -> String {
    prompt
        .arguments
        .iter()
        .map(|a| {
            if a.required {
                a.name.clone()
            } else {
                format!("{}:optional", a.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The prompts page: the saved prompts with edit and remove, the config
/// file's prompt names, and the form (filled in when `editing`).
pub(super) fn prompts(
    chrome: &Chrome<'_>,
    saved: &BTreeMap<String, UserPrompt>,
    configured: &BTreeSet<String>,
    editing: Option<(&str, &UserPrompt)>,
) -> Markup {
    let body = html! {
        p {
            "Your own prompts, served to clients as " code { "my_NAME" } ". In the text, "
            code { "{{argument}}" } " is replaced by that argument's value. A change is served \
             from the next start of " code { "mcpist serve" } "."
        }
        @if saved.is_empty() {
            p { "No prompt saved yet." }
        } @else {
            div.table {
                table {
                    caption.muted { "Saved in the store" }
                    thead { tr { th scope="col" { "Prompt" } th scope="col" { "Arguments" } th scope="col" { "Description" } th scope="col" { "Actions" } } }
                    tbody {
                        @for (name, prompt) in saved {
                            tr {
                                td { code { "my_" (name) } }
                                td { (arguments_field(prompt)) }
                                td { (prompt.description) }
                                td.actions {
                                    a.button.secondary href={ "/prompts?edit=" (name) } { "Edit" }
                                    " "
                                    form.inline method="post" action={ "/prompts/" (name) "/remove" } {
                                        (csrf_field(chrome))
                                        button.danger type="submit" { "Remove my_" (name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if !configured.is_empty() {
            p {
                "From the config file (edit them there): "
                @for (i, name) in configured.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { "my_" (name) }
                }
            }
        }
        section.card aria-labelledby="prompt-form" {
            h2 id="prompt-form" {
                @match editing { Some((name, _)) => { "Edit my_" (name) }, None => "Add a prompt" }
            }
            form method="post" action="/prompts" autocomplete="off" {
                (csrf_field(chrome))
                label for="prompt-name" { "Name" }
                input type="text" id="prompt-name" name="name" required
                    value=(editing.map(|(n, _)| n).unwrap_or(""))
                    aria-describedby="prompt-name-hint";
                p.hint id="prompt-name-hint" { "Letters, digits, " code { "_" } " and " code { "-" } "; clients see " code { "my_NAME" } "." }
                label for="prompt-description" { "Description" }
                input type="text" id="prompt-description" name="description"
                    value=(editing.map(|(_, p)| p.description.as_str()).unwrap_or(""));
                label for="prompt-arguments" { "Arguments" }
                input type="text" id="prompt-arguments" name="arguments"
                    value=(editing.map(|(_, p)| arguments_field(p)).unwrap_or_default())
                    aria-describedby="prompt-arguments-hint";
                p.hint id="prompt-arguments-hint" { "Separated by commas, such as " code { "team, day:optional" } " (" code { ":optional" } " for one clients may leave out)." }
                label for="prompt-text" { "Text" }
                textarea id="prompt-text" name="text" rows="8" required {
                    (editing.map(|(_, p)| p.text.as_str()).unwrap_or(""))
                }
                @if editing.is_some() {
                    input type="hidden" name="replace" value="on";
                } @else {
                    label.check { input type="checkbox" name="replace"; "Replace a saved prompt of the same name" }
                }
                div.actions { button type="submit" { "Save the prompt" } }
            }
        }
    };
    layout(chrome, "Prompts", body)
}

/// The policy page of one service.
pub(super) fn policy(
    chrome: &Chrome<'_>,
    service: &str,
    policy: &ServicePolicy,
    tools: &[ListedTool],
) -> Markup {
    let s = service;
    let mut toolsets: Vec<&str> = tools.iter().map(|t| t.toolset).collect();
    toolsets.sort_unstable();
    toolsets.dedup();
    let names: Vec<String> = tools.iter().map(|t| t.tool.name.to_string()).collect();
    // The deny patterns that are not a tool's name: those are the switches.
    let patterns = policy
        .deny
        .iter()
        .filter(|p| !names.contains(p))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let body = html! {
        p {
            "What MCP clients may do with " (s) ". Saved policies are kept in MCPist's store and \
             replace the policy keys of " code { "[connectors." (s) "]" } " in " code { "mcpist.toml" }
            "; " code { "mcpist tools" } " and the running server both apply them at once."
        }
        form method="post" action={ "/policy/" (s) } {
            (csrf_field(chrome))
            fieldset {
                legend { "Service" }
                label.check { input type="checkbox" name="enabled" checked[policy.is_enabled()]; " Serve " (s) "'s tools" }
                label.check { input type="checkbox" name="read_only" checked[policy.read_only]; " Read-only: only tools that do not write" }
            }
            fieldset {
                legend { "Toolsets" }
                @for t in &toolsets {
                    @let on = policy.toolsets.as_ref().is_none_or(|chosen| chosen.iter().any(|c| c == t));
                    label.check { input type="checkbox" name="toolset" value=(t) checked[on]; " " (t) }
                }
            }
            h2 { "Tools" }
            p.hint { "Switch a tool off to deny it by name." }
            div.table {
                table {
                    thead {
                        tr {
                            th scope="col" { "Tool" }
                            th scope="col" { "Toolset" }
                            th scope="col" { "Kind" }
                            th scope="col" { "Now" }
                        }
                    }
                    tbody {
                        @for t in tools {
                            @let name = t.tool.name.to_string();
                            @let writes = t.tool.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true);
                            tr {
                                td { label.check { input type="checkbox" name="tool" value=(name) checked[!policy.deny.contains(&name)]; " " code { (name) } } }
                                td { (t.toolset) }
                                td { @if writes { "writes" } @else { "reads" } }
                                td {
                                    @match &t.verdict {
                                        Verdict::Allowed => span.status.status-ok { "visible" },
                                        Verdict::Hidden(why) => span.muted { "hidden: " (why) },
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "More rules" }
            label for="allow" { "Allow only tools matching (globs, one per line; empty allows all)" }
            textarea id="allow" name="allow" rows="3" { (policy.allow.join("\n")) }
            label for="deny" { "Deny tools matching (globs, one per line)" }
            textarea id="deny" name="deny" rows="3" { (patterns) }
            label for="resources" { "Pinned resources: what resources/list shows (URIs, one per line, each matching one of the service's resource templates)" }
            textarea id="resources" name="resources" rows="3" { (policy.resources.join("\n")) }
            div.actions { button type="submit" { "Save the policy" } }
        }
    };
    layout(chrome, &format!("Policy: {service}"), body)
}

/// The outcomes the audit page can filter on, in the order it lists them.
const OUTCOMES: [Outcome; 9] = [
    Outcome::Ok,
    Outcome::ToolError,
    Outcome::TransportError,
    Outcome::InvalidArguments,
    Outcome::NoAccount,
    Outcome::Denied,
    Outcome::UnknownTool,
    Outcome::Failed,
    Outcome::Pending,
];

/// The audit log page: filters, newest first, paged by sequence number.
pub(super) fn audit(
    chrome: &Chrome<'_>,
    services: &[&str],
    filter: &AuditFilter,
    entries: &[AuditEntry],
    more: bool,
) -> Markup {
    // The filter's query string, from `before` on when given.
    let query = |before: Option<u64>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some(s) = &filter.service {
            q.append_pair("service", s);
        }
        if let Some(a) = &filter.account {
            q.append_pair("account", a);
        }
        if let Some(o) = filter.outcome {
            q.append_pair("outcome", o.as_str());
        }
        if let Some(b) = before {
            q.append_pair("before", &b.to_string());
        }
        q.finish()
    };
    let older = entries.last().filter(|_| more);
    let body = html! {
        p {
            "Every tool call, token operation and setting change, newest first. Records are \
             hash-chained: " code { "mcpist audit --verify" } " checks that none was changed or removed."
        }
        form method="get" action="/audit" class="filters" {
            div {
                label for="f-service" { "Service" }
                select id="f-service" name="service" {
                    option value="" { "all" }
                    @for s in services {
                        option selected[filter.service.as_deref() == Some(*s)] { (s) }
                    }
                }
            }
            div {
                label for="f-account" { "Account" }
                input type="text" id="f-account" name="account" value=(filter.account.as_deref().unwrap_or(""));
            }
            div {
                label for="f-outcome" { "Outcome" }
                select id="f-outcome" name="outcome" {
                    option value="" { "all" }
                    @for o in OUTCOMES {
                        option selected[filter.outcome == Some(o)] { (o.as_str()) }
                    }
                }
            }
            div { button type="submit" { "Filter" } }
        }
        div.table {
            table {
                thead {
                    tr {
                        th scope="col" { "#" }
                        th scope="col" { "Time (UTC)" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Service" }
                        th scope="col" { "Account" }
                        th scope="col" { "Tool" }
                        th scope="col" { "Outcome" }
                        th scope="col" { "HTTP" }
                        th scope="col" { "ms" }
                        th scope="col" { "Message" }
                    }
                }
                tbody {
                    @for entry in entries {
                        @let ev = &entry.event;
                        @let out = &entry.outcome;
                        tr {
                            td { (entry.seq) }
                            td { (short_time(ev.time_ms)) }
                            td { (ev.kind.as_str()) }
                            td { (ev.service.as_deref().unwrap_or("")) }
                            td { (ev.account.as_deref().unwrap_or("")) }
                            td { (ev.tool.as_deref().unwrap_or("")) }
                            td { (out.outcome.as_str()) }
                            td { @if let Some(status) = out.upstream_status { (status) } }
                            td { (out.latency_ms) }
                            td { (out.message.as_deref().unwrap_or("")) }
                        }
                    }
                    @if entries.is_empty() {
                        tr { td colspan="10" { "No records match." } }
                    }
                }
            }
        }
        p {
            @if filter.before_seq.is_some() {
                a href={ "/audit?" (query(None)) } { "Newest" } " "
            }
            @if let Some(last) = older {
                a href={ "/audit?" (query(Some(last.seq))) } { "Older records" }
            }
        }
    };
    layout(chrome, "Audit log", body)
}

/// The client configuration page. The bearer is in `http` only when `revealed`.
pub(super) fn clients(
    chrome: &Chrome<'_>,
    http: &ServerEntry,
    stdio: Option<&ServerEntry>,
    revealed: bool,
) -> Markup {
    let body = html! {
        p {
            "Paste one of these into your MCP client. Over HTTP, the client sends MCPist's bearer \
             token; anyone with it can call every tool this server allows, so keep it like a \
             password (" code { "mcpist bearer rotate" } " replaces it)."
        }
        @if !revealed {
            form method="post" action="/clients" {
                (csrf_field(chrome))
                label for="password" { "Your web UI password (the bearer is shown only to it)" }
                input type="password" id="password" name="password" autocomplete="current-password" required;
                div.actions { button type="submit" { "Show the configs with the bearer token" } }
            }
        }
        @for client in McpClient::ALL {
            @let entry = if client.speaks_http() { Some(http) } else { stdio };
            @let id = client.name().to_lowercase().replace(' ', "-");
            section.card aria-labelledby={ "c-" (id) } {
                h2 id={ "c-" (id) } { (client.name()) }
                p.hint { "In " (client.file()) }
                @match entry {
                    Some(entry) => {
                        @let text = serde_json::to_string_pretty(&client.document(entry)).unwrap_or_default();
                        label for={ "cfg-" (id) } { "Configuration" }
                        textarea id={ "cfg-" (id) } rows=(text.lines().count().max(3)) readonly spellcheck="false" { (text) }
                    }
                    None => p {
                        "This client starts MCPist itself over stdio: run "
                        code { "mcpist client-config claude-desktop" } " on this machine for its entry."
                    },
                }
            }
        }
        @if let (ServerEntry::Http { url, bearer }, true) = (http, revealed) {
            section.card {
                h2 { "Claude Code, from a terminal" }
                pre {
                    "claude mcp add --transport http mcpist " (url)
                    " --header \"Authorization: Bearer " (bearer.expose_secret()) "\""
                }
            }
        }
    };
    layout(chrome, "Connect a client", body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_in_text_and_attributes() {
        let chrome = Chrome {
            active: "services",
            csrf: "\"><script>csrf</script>",
            flash: Some("<img src=x onerror=alert(1)>"),
        };
        let page = confirm_remove(&chrome, "git<hub", "a\"b&c").into_string();
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(page.contains("value=\"&quot;&gt;&lt;script&gt;csrf&lt;/script&gt;\""));
        assert!(page.contains("/accounts/git&lt;hub/a&quot;b&amp;c/remove"));
        let plain = message("Oops <b>", "a < b").into_string();
        assert!(plain.contains("<h1>Oops &lt;b&gt;</h1>"), "{plain}");
    }
}
