//! The web UI's HTML. Every value from outside goes through [`e`].

use std::fmt::Write;

use secrecy::ExposeSecret;

use mcpist_core::{
    audit::{AuditEntry, AuditFilter, Outcome, format_time},
    clients::{McpClient, ServerEntry},
    policy::{ServicePolicy, Verdict},
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

/// What every logged-in page shares: the active nav entry, the CSRF token
/// for its forms, and a message left by the last action.
pub(super) struct Chrome<'a> {
    pub(super) active: &'a str,
    pub(super) csrf: &'a str,
    pub(super) flash: Option<&'a str>,
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · MCPist</title><link rel=\"stylesheet\" href=\"/ui.css\"></head>",
        e(title)
    )
}

fn csrf_field(chrome: &Chrome<'_>) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        e(chrome.csrf)
    )
}

/// A whole logged-in page.
fn layout(chrome: &Chrome<'_>, title: &str, body: &str) -> String {
    let mut nav = String::new();
    for (id, href, label) in [
        ("services", "/", "Services"),
        ("add", "/accounts/new", "Add a token"),
        ("apps", "/apps", "OAuth apps"),
        ("audit", "/audit", "Audit log"),
        ("clients", "/clients", "Connect a client"),
    ] {
        let current = if chrome.active == id {
            " aria-current=\"page\""
        } else {
            ""
        };
        let _ = write!(nav, "<li><a href=\"{href}\"{current}>{label}</a></li>");
    }
    let flash = chrome
        .flash
        .map(|f| format!("<p class=\"flash\" role=\"status\">{}</p>", e(f)))
        .unwrap_or_default();
    format!(
        "{head}<body><a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><div class=\"bar\"><a class=\"brand\" href=\"/\">MCPist</a>\
         <nav aria-label=\"Main\"><ul>{nav}</ul></nav>\
         <form class=\"inline\" method=\"post\" action=\"/logout\">{csrf}\
         <button class=\"secondary\" type=\"submit\">Log out</button></form></div></header>\
         <main id=\"main\"><h1>{title}</h1>{flash}{body}</main></body></html>",
        head = head(title),
        csrf = csrf_field(chrome),
        title = e(title),
    )
}

/// A page with only a title and a message (errors, refusals).
pub(super) fn message(title: &str, text: &str) -> String {
    format!(
        "{}<body><main id=\"main\"><h1>{}</h1><p class=\"error\" role=\"alert\">{}</p>\
         <p><a href=\"/\">Back to MCPist</a></p></main></body></html>",
        head(title),
        e(title),
        e(text)
    )
}

/// The login page; `token` is the form's CSRF token (also in a cookie).
pub(super) fn login(token: &str, error: Option<&str>, has_password: bool) -> String {
    let error = error
        .map(|m| format!("<p class=\"error\" role=\"alert\">{}</p>", e(m)))
        .unwrap_or_default();
    let first = if has_password {
        String::new()
    } else {
        "<p class=\"hint\">No password is set yet: run <code>mcpist password set</code> on the \
         machine MCPist runs on.</p>"
            .to_owned()
    };
    format!(
        "{}<body><main id=\"main\"><h1>Log in to MCPist</h1>{error}{first}\
         <form method=\"post\" action=\"/login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus>\
         <p class=\"hint\">Set by <code>mcpist init</code> or <code>mcpist password set</code>.</p>\
         <div class=\"actions\"><button type=\"submit\">Log in</button></div></form></main></body></html>",
        head("Log in"),
        e(token)
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

/// The services page: each connector with its accounts.
pub(super) fn services(chrome: &Chrome<'_>, services: &[ServiceView<'_>]) -> String {
    let mut body = String::from(
        "<p class=\"muted\">Each service MCPist serves, the accounts it holds tokens for, and \
         what clients can do with them.</p>",
    );
    for s in services {
        let name = e(s.name);
        let _ = write!(
            body,
            "<section class=\"card\" aria-labelledby=\"svc-{name}\"><h2 id=\"svc-{name}\">{name}</h2>\
             <p class=\"muted\">{} of {} tools visible to clients · <a href=\"/policy/{name}\">Policy</a></p>",
            s.visible, s.total
        );
        if !s.needs_credentials {
            body.push_str("<p>This service needs no credential.</p></section>");
            continue;
        }
        if s.rows.is_empty() {
            body.push_str("<p>No account yet.</p>");
        } else {
            body.push_str(
                "<div class=\"table\"><table><caption class=\"skip\">Accounts</caption><thead><tr>\
                 <th scope=\"col\">Account</th><th scope=\"col\">Status</th><th scope=\"col\">Upstream identity</th>\
                 <th scope=\"col\">Token</th><th scope=\"col\">Scopes</th><th scope=\"col\">Expires</th>\
                 <th scope=\"col\">Last activity</th><th scope=\"col\">Actions</th></tr></thead><tbody>",
            );
            for row in &s.rows {
                let a = row.info;
                let account = e(&a.account);
                let default = if a.is_default {
                    " <strong>(default)</strong>"
                } else {
                    ""
                };
                let make_default = if a.is_default {
                    String::new()
                } else {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/accounts/{name}/{account}/default\">{}\
                         <button class=\"secondary\" type=\"submit\" aria-label=\"Make {account} the default\">Make default</button></form> ",
                        csrf_field(chrome)
                    )
                };
                // An OAuth account whose grant stopped working is connected again
                // under the same label.
                let reconnect = if a.kind == mcpist_core::store::CredentialKind::Oauth && s.app {
                    format!(
                        "<form class=\"inline\" method=\"post\" action=\"/connect/{name}\">{}\
                         <input type=\"hidden\" name=\"account\" value=\"{account}\">\
                         <button class=\"secondary\" type=\"submit\" aria-label=\"Reconnect {account}\">Reconnect</button></form> ",
                        csrf_field(chrome)
                    )
                } else {
                    String::new()
                };
                let _ = write!(
                    body,
                    "<tr><th scope=\"row\">{account}{default}<br><span class=\"muted\">{kind}</span></th>\
                     <td><span class=\"status status-{status}\">{status}</span></td><td>{identity}</td>\
                     <td><code>{hint}</code></td><td>{scopes}</td><td>{expires}</td><td>{last}</td>\
                     <td class=\"actions\">{make_default}{reconnect}<a href=\"/accounts/{name}/{account}/remove\" aria-label=\"Remove {account}\">Remove</a></td></tr>",
                    kind = if a.kind == mcpist_core::store::CredentialKind::Oauth {
                        "OAuth"
                    } else {
                        "pasted token"
                    },
                    status = row.status,
                    identity = e(a.identity.as_deref().unwrap_or("unknown")),
                    hint = e(&row.hint),
                    scopes = if a.scopes.is_empty() {
                        "—".to_owned()
                    } else {
                        e(&a.scopes.join(" "))
                    },
                    expires = time_or(a.expires_at.map(|t| t * 1000), "never"),
                    last = time_or(row.last_used_ms, "never"),
                );
            }
            body.push_str("</tbody></table></div>");
        }
        let _ = write!(
            body,
            "<div class=\"actions\"><a class=\"button secondary\" href=\"/accounts/new?service={name}\">Add a token</a>"
        );
        if s.oauth && s.app {
            let _ = write!(
                body,
                "<form class=\"inline\" method=\"post\" action=\"/connect/{name}\">{}\
                 <label class=\"check\" for=\"connect-{name}\">Account label \
                 <input type=\"text\" id=\"connect-{name}\" name=\"account\" value=\"default\" required \
                 pattern=\"[A-Za-z0-9_.\\-]+\" style=\"width:10rem\"></label> \
                 <button type=\"submit\">Connect with OAuth</button></form>",
                csrf_field(chrome)
            );
        } else if s.oauth {
            body.push_str(
                "<span class=\"muted\">To connect with OAuth, first <a href=\"/apps\">register an OAuth app</a>.</span>",
            );
        }
        body.push_str("</div></section>");
    }
    layout(chrome, "Services", &body)
}

/// The form that stores a pasted token.
pub(super) fn add_token(
    chrome: &Chrome<'_>,
    services: &[&str],
    selected: Option<&str>,
    error: Option<(&str, &str)>,
) -> String {
    let mut options = String::new();
    for s in services {
        let chosen = if Some(*s) == selected {
            " selected"
        } else {
            ""
        };
        let _ = write!(options, "<option{chosen}>{}</option>", e(s));
    }
    let (account, error) = match error {
        Some((account, message)) => (
            account,
            format!("<p class=\"error\" role=\"alert\">{}</p>", e(message)),
        ),
        None => ("default", String::new()),
    };
    let body = format!(
        "{error}<p>Paste a personal access token or integration secret. MCPist seals it in its \
         store and never shows it again: pages show only a masked hint.</p>\
         <form method=\"post\" action=\"/accounts\" autocomplete=\"off\">{csrf}\
         <label for=\"service\">Service</label><select id=\"service\" name=\"service\">{options}</select>\
         <label for=\"account\">Account label</label>\
         <input type=\"text\" id=\"account\" name=\"account\" value=\"{account}\" required pattern=\"[A-Za-z0-9_.\\-]+\" aria-describedby=\"account-hint\">\
         <p class=\"hint\" id=\"account-hint\">Letters, digits, <code>_</code>, <code>-</code> and <code>.</code>; for example <code>work</code> or <code>personal</code>. \
         An existing label's token is replaced.</p>\
         <label for=\"token\">Token</label>\
         <input type=\"password\" id=\"token\" name=\"token\" required autocomplete=\"off\" spellcheck=\"false\">\
         <label class=\"check\"><input type=\"checkbox\" name=\"make_default\"> Make it the service's default account</label>\
         <div class=\"actions\"><button type=\"submit\">Add the token</button></div></form>",
        csrf = csrf_field(chrome),
        account = e(account),
    );
    layout(chrome, "Add a token", &body)
}

/// Asks before removing an account.
pub(super) fn confirm_remove(chrome: &Chrome<'_>, service: &str, account: &str) -> String {
    let body = format!(
        "<p>Remove account <strong>{a}</strong> of <strong>{s}</strong>? Its token is deleted from \
         the store; tools called with this account will fail until you add it again. The provider \
         still knows the token: revoke it there too if you no longer need it.</p>\
         <form method=\"post\" action=\"/accounts/{s}/{a}/remove\">{csrf}\
         <div class=\"actions\"><button class=\"danger\" type=\"submit\">Remove {a}</button>\
         <a class=\"button secondary\" href=\"/\">Cancel</a></div></form>",
        s = e(service),
        a = e(account),
        csrf = csrf_field(chrome),
    );
    layout(chrome, "Remove an account", &body)
}

/// One service's OAuth app as the apps page shows it.
pub(super) struct AppView<'a> {
    pub(super) service: &'a str,
    pub(super) client_id: Option<String>,
    pub(super) has_secret: bool,
    pub(super) redirect_uri: String,
}

/// The OAuth apps page.
pub(super) fn apps(chrome: &Chrome<'_>, apps: &[AppView<'_>]) -> String {
    let mut body = String::from(
        "<p>MCPist logs in with <em>your</em> OAuth app. Register one with the provider, give it the \
         redirect URI shown, and paste its client ID and secret here.</p>",
    );
    if apps.is_empty() {
        body.push_str("<p>No served service supports OAuth login.</p>");
    }
    for app in apps {
        let s = e(app.service);
        let status = match &app.client_id {
            Some(id) => format!(
                "Client ID <code>{}</code>; client secret {}.",
                e(id),
                if app.has_secret {
                    "set (never shown)"
                } else {
                    "not set (public client)"
                }
            ),
            None => "No app yet.".into(),
        };
        let _ = write!(
            body,
            "<section class=\"card\" aria-labelledby=\"app-{s}\"><h2 id=\"app-{s}\">{s}</h2><p>{status}</p>\
             <p>Redirect URI to register: <code>{uri}</code></p>\
             <p class=\"hint\">For <code>mcpist login</code> on this machine, also register \
             <code>http://127.0.0.1/oauth/callback/{s}</code>.</p>\
             <form method=\"post\" action=\"/apps/{s}\" autocomplete=\"off\">{csrf}\
             <label for=\"id-{s}\">Client ID</label>\
             <input type=\"text\" id=\"id-{s}\" name=\"client_id\" value=\"{id}\" required>\
             <label for=\"secret-{s}\">Client secret</label>\
             <input type=\"password\" id=\"secret-{s}\" name=\"client_secret\" autocomplete=\"off\" aria-describedby=\"secret-hint-{s}\">\
             <p class=\"hint\" id=\"secret-hint-{s}\">Leave empty to keep the stored secret.</p>\
             <div class=\"actions\"><button type=\"submit\">Save the {s} app</button></div></form></section>",
            uri = e(&app.redirect_uri),
            csrf = csrf_field(chrome),
            id = e(app.client_id.as_deref().unwrap_or("")),
        );
    }
    layout(chrome, "OAuth apps", &body)
}

/// The policy page of one service.
pub(super) fn policy(
    chrome: &Chrome<'_>,
    service: &str,
    policy: &ServicePolicy,
    tools: &[ListedTool],
) -> String {
    let s = e(service);
    let checked = |on: bool| if on { " checked" } else { "" };
    let mut toolsets: Vec<&str> = tools.iter().map(|t| t.toolset).collect();
    toolsets.sort_unstable();
    toolsets.dedup();
    let mut toolset_boxes = String::new();
    for t in &toolsets {
        let on = policy
            .toolsets
            .as_ref()
            .is_none_or(|chosen| chosen.iter().any(|c| c == t));
        let _ = write!(
            toolset_boxes,
            "<label class=\"check\"><input type=\"checkbox\" name=\"toolset\" value=\"{t}\"{}> {t}</label>",
            checked(on),
            t = e(t)
        );
    }
    let names: Vec<String> = tools.iter().map(|t| t.tool.name.to_string()).collect();
    let patterns = |list: &[String]| {
        e(&list
            .iter()
            .filter(|p| !names.contains(p))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"))
    };
    let mut rows = String::new();
    for t in tools {
        let name = t.tool.name.to_string();
        let on = !policy.deny.contains(&name);
        let writes = t.tool.annotations.as_ref().and_then(|a| a.read_only_hint) != Some(true);
        let state = match &t.verdict {
            Verdict::Allowed => "<span class=\"status status-ok\">visible</span>".to_owned(),
            Verdict::Hidden(why) => format!("<span class=\"muted\">hidden: {}</span>", e(why)),
        };
        let _ = write!(
            rows,
            "<tr><td><label class=\"check\"><input type=\"checkbox\" name=\"tool\" value=\"{n}\"{}> <code>{n}</code></label></td>\
             <td>{}</td><td>{}</td><td>{state}</td></tr>",
            checked(on),
            e(t.toolset),
            if writes { "writes" } else { "reads" },
            n = e(&name),
        );
    }
    let body = format!(
        "<p>What MCP clients may do with {s}. Saved policies are kept in MCPist's store and replace \
         the policy keys of <code>[connectors.{s}]</code> in <code>mcpist.toml</code>; \
         <code>mcpist tools</code> and the running server both apply them at once.</p>\
         <form method=\"post\" action=\"/policy/{s}\">{csrf}\
         <fieldset><legend>Service</legend>\
         <label class=\"check\"><input type=\"checkbox\" name=\"enabled\"{enabled}> Serve {s}'s tools</label>\
         <label class=\"check\"><input type=\"checkbox\" name=\"read_only\"{read_only}> Read-only: only tools that do not write</label></fieldset>\
         <fieldset><legend>Toolsets</legend>{toolset_boxes}</fieldset>\
         <h2>Tools</h2><p class=\"hint\">Switch a tool off to deny it by name.</p>\
         <div class=\"table\"><table><thead><tr><th scope=\"col\">Tool</th><th scope=\"col\">Toolset</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Now</th></tr></thead><tbody>{rows}</tbody></table></div>\
         <h2>More rules</h2>\
         <label for=\"allow\">Allow only tools matching (globs, one per line; empty allows all)</label>\
         <textarea id=\"allow\" name=\"allow\" rows=\"3\">{allow}</textarea>\
         <label for=\"deny\">Deny tools matching (globs, one per line)</label>\
         <textarea id=\"deny\" name=\"deny\" rows=\"3\">{deny}</textarea>\
         <div class=\"actions\"><button type=\"submit\">Save the policy</button></div></form>",
        csrf = csrf_field(chrome),
        enabled = checked(policy.is_enabled()),
        read_only = checked(policy.read_only),
        allow = e(&policy.allow.join("\n")),
        deny = patterns(&policy.deny),
    );
    layout(chrome, &format!("Policy: {service}"), &body)
}

/// The audit log page: filters, newest first, paged by sequence number.
pub(super) fn audit(
    chrome: &Chrome<'_>,
    services: &[&str],
    filter: &AuditFilter,
    entries: &[AuditEntry],
    more: bool,
) -> String {
    let mut service_options = String::from("<option value=\"\">all</option>");
    for s in services {
        let chosen = if filter.service.as_deref() == Some(*s) {
            " selected"
        } else {
            ""
        };
        let _ = write!(service_options, "<option{chosen}>{}</option>", e(s));
    }
    let mut outcome_options = String::from("<option value=\"\">all</option>");
    for o in [
        Outcome::Ok,
        Outcome::ToolError,
        Outcome::TransportError,
        Outcome::InvalidArguments,
        Outcome::NoAccount,
        Outcome::Denied,
        Outcome::UnknownTool,
        Outcome::Failed,
        Outcome::Pending,
    ] {
        let chosen = if filter.outcome == Some(o) {
            " selected"
        } else {
            ""
        };
        let _ = write!(outcome_options, "<option{chosen}>{}</option>", o.as_str());
    }
    let mut rows = String::new();
    for entry in entries {
        let ev = &entry.event;
        let out = &entry.outcome;
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td></tr>",
            entry.seq,
            short_time(ev.time_ms),
            ev.kind.as_str(),
            e(ev.service.as_deref().unwrap_or("")),
            e(ev.account.as_deref().unwrap_or("")),
            e(ev.tool.as_deref().unwrap_or("")),
            out.outcome.as_str(),
            out.upstream_status
                .map(|s| s.to_string())
                .unwrap_or_default(),
            out.latency_ms,
            e(out.message.as_deref().unwrap_or("")),
        );
    }
    if entries.is_empty() {
        rows.push_str("<tr><td colspan=\"10\">No records match.</td></tr>");
    }
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
        e(&q.finish())
    };
    let mut paging = String::new();
    if filter.before_seq.is_some() {
        let _ = write!(paging, "<a href=\"/audit?{}\">Newest</a> ", query(None));
    }
    if more && let Some(last) = entries.last() {
        let _ = write!(
            paging,
            "<a href=\"/audit?{}\">Older records</a>",
            query(Some(last.seq))
        );
    }
    let body = format!(
        "<p>Every tool call, token operation and setting change, newest first. Records are \
         hash-chained: <code>mcpist audit --verify</code> checks that none was changed or removed.</p>\
         <form method=\"get\" action=\"/audit\" class=\"filters\">\
         <div><label for=\"f-service\">Service</label><select id=\"f-service\" name=\"service\">{service_options}</select></div>\
         <div><label for=\"f-account\">Account</label><input type=\"text\" id=\"f-account\" name=\"account\" value=\"{account}\"></div>\
         <div><label for=\"f-outcome\">Outcome</label><select id=\"f-outcome\" name=\"outcome\">{outcome_options}</select></div>\
         <div><button type=\"submit\">Filter</button></div></form>\
         <div class=\"table\"><table><thead><tr><th scope=\"col\">#</th><th scope=\"col\">Time (UTC)</th>\
         <th scope=\"col\">Kind</th><th scope=\"col\">Service</th><th scope=\"col\">Account</th><th scope=\"col\">Tool</th>\
         <th scope=\"col\">Outcome</th><th scope=\"col\">HTTP</th><th scope=\"col\">ms</th><th scope=\"col\">Message</th></tr></thead>\
         <tbody>{rows}</tbody></table></div><p>{paging}</p>",
        account = e(filter.account.as_deref().unwrap_or("")),
    );
    layout(chrome, "Audit log", &body)
}

/// The client configuration page. The bearer is in `http` only when `revealed`.
pub(super) fn clients(
    chrome: &Chrome<'_>,
    http: &ServerEntry,
    stdio: Option<&ServerEntry>,
    revealed: bool,
) -> String {
    let mut body = String::from(
        "<p>Paste one of these into your MCP client. Over HTTP, the client sends MCPist's bearer \
         token; anyone with it can call every tool this server allows, so keep it like a password \
         (<code>mcpist bearer rotate</code> replaces it).</p>",
    );
    if !revealed {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/clients\">{}\
             <label for=\"password\">Your web UI password (the bearer is shown only to it)</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <div class=\"actions\">\
             <button type=\"submit\">Show the configs with the bearer token</button></div></form>",
            csrf_field(chrome)
        );
    }
    for client in McpClient::ALL {
        let entry = if client.speaks_http() {
            Some(http)
        } else {
            stdio
        };
        let id = client.name().to_lowercase().replace(' ', "-");
        let _ = write!(
            body,
            "<section class=\"card\" aria-labelledby=\"c-{id}\"><h2 id=\"c-{id}\">{}</h2><p class=\"hint\">In {}</p>",
            e(client.name()),
            e(client.file())
        );
        match entry {
            Some(entry) => {
                let text =
                    serde_json::to_string_pretty(&client.document(entry)).unwrap_or_default();
                let _ = write!(
                    body,
                    "<label for=\"cfg-{id}\">Configuration</label>\
                     <textarea id=\"cfg-{id}\" rows=\"{}\" readonly spellcheck=\"false\">{}</textarea>",
                    text.lines().count().max(3),
                    e(&text)
                );
            }
            None => body.push_str(
                "<p>This client starts MCPist itself over stdio: run <code>mcpist client-config claude-desktop</code> \
                 on this machine for its entry.</p>",
            ),
        }
        body.push_str("</section>");
    }
    if let ServerEntry::Http { url, bearer } = http
        && revealed
    {
        let _ = write!(
            body,
            "<section class=\"card\"><h2>Claude Code, from a terminal</h2><pre>claude mcp add --transport http mcpist {} --header \"Authorization: Bearer {}\"</pre></section>",
            e(url),
            e(bearer.expose_secret())
        );
    }
    layout(chrome, "Connect a client", &body)
}

/// `text` with HTML's special characters escaped.
fn e(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
