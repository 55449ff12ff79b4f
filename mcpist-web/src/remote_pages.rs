//! The pages of MCPist's own authorization server: the consent page's frame
//! and "Remote clients".

use maud::{Markup, html};
use mcpist_core::auth_server::RegisteredClient;

use super::{Chrome, csrf_field, document, layout, time_or};

/// A page without the navigation (the consent page: one decision).
pub(crate) fn bare(title: &str, body: Markup) -> Markup {
    document(
        title,
        html! {
            main id="main" {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// The registered remote clients, with a revoke button each.
pub(crate) fn remote_clients(
    chrome: &Chrome<'_>,
    clients: &[RegisteredClient],
    resource: String,
) -> Markup {
    layout(
        chrome,
        "Remote clients",
        html! {
            p {
                "Remote MCP clients (Claude.ai, ChatGPT, a phone) connect with OAuth: paste "
                code { (resource) }
                " as the connector URL, log in here and allow it. Each gets a short-lived MCPist token for this endpoint, never an upstream token."
            }
            @if clients.is_empty() {
                p { "No remote client has registered yet." }
            } @else {
                table {
                    thead { tr { th { "Client" } th { "Client id" } th { "Scopes" } th { "Registered" } th { "Last used" } th { "" } } }
                    tbody {
                        @for c in clients {
                            tr {
                                td { (c.client_name.as_deref().unwrap_or("(no name)")) }
                                td { code { (c.client_id) } }
                                td { @if c.scopes.is_empty() { "no live grant" } @else { (c.scopes.join(" ")) } }
                                td { (time_or(Some(c.created_ms), "")) }
                                td { (time_or(c.last_used_ms, "never")) }
                                td {
                                    form.inline method="post" action=(format!("/remote-clients/{}/revoke", c.client_id)) {
                                        (csrf_field(chrome))
                                        button.secondary type="submit" { "Revoke" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
