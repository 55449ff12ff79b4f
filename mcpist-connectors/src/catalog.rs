//! The catalog: REST services described as data (the format of
//! [`declarative`](crate::declarative)) and shipped inside the binary, one
//! TOML file each in `mcpist-connectors/catalog/`.
//!
//! A catalog service registers like a built-in connector, off by default:
//! `[connectors.todoist]` in the config enables it, with the same policy,
//! audit, accounts, routing, OAuth login (`mcpist apps set`, `mcpist login`)
//! and `mcpist tools` as GitHub or Notion. Its table takes `base_url` (to
//! point it elsewhere: a fake in tests, a regional host) besides the keys
//! every connector takes (policy, `oauth` overrides, `route`, timeouts).
//!
//! Every catalog tool is checked against its vendor's API description
//! (`mcpist-connectors/vendor/`) by `tests/catalog.rs`.

#[cfg(feature = "fake")]
pub mod fake;

use std::sync::Arc;

use mcpist_core::{Connector, Error, Registration, Result};
use serde_json::Value;

/// Declares the catalog: each service's name, its one-line summary, and its
/// definition `catalog/NAME.toml`, registered off by default.
macro_rules! catalog {
    ($($service:literal => $summary:literal),* $(,)?) => {
        /// Every catalog service: its name and its definition (TOML text).
        pub const SERVICES: &[(&str, &str)] = &[
            $(($service, include_str!(concat!("../catalog/", $service, ".toml")))),*
        ];
        $(
            mcpist_core::inventory::submit! {
                Registration {
                    service: $service,
                    summary: $summary,
                    enabled_by_default: false,
                    build: |raw| build($service, raw),
                }
            }
        )*
    };
}

catalog! {
    "airtable" => "Airtable: bases, tables, fields, views and records",
    "asana" => "Asana: workspaces, projects, sections, tasks, comments and tags",
    "google_calendar" => "Google Calendar: calendars, events, free/busy",
    "google_tasks" => "Google Tasks: task lists and tasks",
    "microsoft_todo" => "Microsoft To Do: lists, tasks and checklists (Graph)",
    "supabase" => "Supabase: projects, SQL, migrations, Edge Functions, logs, storage",
    "ticktick" => "TickTick: projects and tasks (Open API)",
    "todoist" => "Todoist: projects, sections, labels and tasks (API v1)",
}

/// The definition of catalog service `service`, if there is one.
pub fn definition(service: &str) -> Option<&'static str> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, text)| *text)
}

/// Builds catalog service `service` from its definition and the user's
/// table (core keys already taken out): only `base_url` may be set there.
pub fn build(service: &str, user: Value) -> Result<Arc<dyn Connector>> {
    let text = definition(service)
        .ok_or_else(|| Error::config(service.to_owned(), "not in the catalog"))?;
    let mut table = parse(service, text)?;
    if let Value::Object(user) = user {
        for (key, value) in user {
            if key != "base_url" {
                return Err(Error::config(
                    service.to_owned(),
                    format!(
                        "unknown key `{key}`: a catalog service takes base_url besides the policy, \
                         oauth, route and timeout keys"
                    ),
                ));
            }
            table[key] = value;
        }
    }
    table["kind"] = Value::String(crate::declarative::KIND.to_owned());
    crate::declarative::build(service, table)
}

/// A catalog definition as the JSON value the declarative engine reads.
pub fn parse(service: &str, text: &str) -> Result<Value> {
    let value: toml::Value = toml::from_str(text)
        .map_err(|e| Error::config(service.to_owned(), format!("catalog definition: {e}")))?;
    serde_json::to_value(value)
        .map_err(|e| Error::config(service.to_owned(), format!("catalog definition: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_service_builds_and_takes_only_base_url() {
        for (service, _) in SERVICES {
            let connector = build(service, Value::Null).unwrap();
            assert_eq!(connector.service(), *service);
            let moved = build(
                service,
                serde_json::json!({"base_url": "http://127.0.0.1:9/x"}),
            )
            .unwrap();
            assert_eq!(moved.base_url().as_str(), "http://127.0.0.1:9/x/");
            let err = build(service, serde_json::json!({"tools": []})).unwrap_err();
            assert!(err.to_string().contains("unknown key `tools`"), "{err}");
        }
    }
}
