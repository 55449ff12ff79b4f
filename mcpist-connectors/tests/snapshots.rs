//! Golden `tools/list` output of every registered connector that is on by
//! default, in `src/<service>/snapshot.json` beside the connector, and of
//! every catalog service, in `catalog/<service>.snapshot.json`, so that
//! every change to a name, description or schema (each byte is paid in the
//! model's context) is deliberate. The list comes from the registry: a new
//! connector is checked without naming it here. Regenerate with
//! `UPDATE_SNAPSHOTS=1 cargo test -p mcpist-connectors --test snapshots` and
//! review the diff.

use std::sync::Arc;

use mcpist_core::{Exchanger, McpServer, MemoryStore, Registration, Service};

#[test]
fn tools_list_matches_the_golden_snapshot_of_each_connector() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut checked = 0;
    for registration in Registration::all() {
        let name = registration.service;
        let in_catalog = mcpist_connectors::catalog::definition(name).is_some();
        if !registration.enabled_by_default && !in_catalog {
            continue;
        }
        checked += 1;
        let service = Service::from_config(registration, serde_json::Value::Null).unwrap();
        let store = Arc::new(MemoryStore::new());
        let server =
            McpServer::builder(Exchanger::new(store.clone(), store.clone()).unwrap(), store)
                .connector(service.connector, service.policy)
                .build()
                .unwrap();
        let tools = server.tools_json();
        let compact = serde_json::to_string(&tools).unwrap();
        let count = tools.as_array().unwrap().len();
        println!(
            "{name}: {count} tools, {} bytes, {} bytes per tool",
            compact.len(),
            compact.len() / count
        );
        let pretty = serde_json::to_string_pretty(&tools).unwrap() + "\n";
        let path = if in_catalog {
            dir.join("../catalog").join(format!("{name}.snapshot.json"))
        } else {
            dir.join(name).join("snapshot.json")
        };
        if update {
            std::fs::write(&path, &pretty).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            golden == pretty,
            "tools/list of {name} differs from {}; if the change is deliberate, run \
             `UPDATE_SNAPSHOTS=1 cargo test -p mcpist-connectors --test snapshots` and commit the file",
            path.display()
        );
    }
    // The default features register GitHub: nothing checked means the linker
    // dropped the registrations, not that there is nothing to check.
    assert!(
        checked > 0 || !cfg!(feature = "github"),
        "no connector is registered: is the crate linked?"
    );
}
