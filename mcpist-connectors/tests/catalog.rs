//! Every catalog tool checked against its vendor's API description
//! (`vendor/SERVICE/` and `vendor/tools.json`, see `vendor/README.md`): the
//! tool calls the operation `tools.json` names, with that method and path
//! under the vendor's server URL; every argument is a parameter of that
//! operation (path, query or JSON body) of a compatible type; every
//! parameter the vendor requires is required by the tool (or sent as a fixed
//! value). The checker's own tests feed it deliberately wrong definitions.

use std::path::{Path, PathBuf};

use mcpist_connectors::catalog;
use serde_json::{Value, json};

fn vendor_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum In {
    Path,
    Query,
    Body,
}

/// One parameter of an upstream operation, as its description gives it.
#[derive(Debug, Clone)]
struct Param {
    name: String,
    at: In,
    /// The JSON Schema type (`string`, `integer`, `array`, …), if given.
    kind: Option<String>,
    /// For arrays: the items' type.
    items: Option<String>,
    required: bool,
    /// Output only: the vendor ignores or refuses it in a request.
    read_only: bool,
}

/// An upstream operation: the server URL its path hangs under, and its parameters.
#[derive(Debug)]
struct Operation {
    server: String,
    method: String,
    path: String,
    params: Vec<Param>,
}

/// `schema` with a local `$ref` followed.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .map(|s| resolve(doc, s))
            .unwrap_or(&Value::Null),
        None => schema,
    }
}

fn type_of(schema: &Value) -> Option<String> {
    schema
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The operation `op` ("METHOD /path") of an OpenAPI 3 document.
fn openapi_operation(doc: &Value, op: &str, wrap: Option<&str>) -> Option<Operation> {
    let (method, path) = op.split_once(' ')?;
    let item = doc["paths"].get(path)?;
    let operation = item.get(method.to_ascii_lowercase())?;
    let mut params = Vec::new();
    let declared = item
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(
            operation
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten(),
        );
    for p in declared {
        let p = resolve(doc, p);
        let at = match p["in"].as_str() {
            Some("path") => In::Path,
            Some("query") => In::Query,
            _ => continue,
        };
        let schema = resolve(doc, &p["schema"]);
        params.push(Param {
            name: p["name"].as_str().unwrap_or_default().to_owned(),
            at,
            kind: type_of(schema),
            items: type_of(resolve(doc, &schema["items"])),
            required: p["required"] == true,
            read_only: false,
        });
    }
    let mut body = operation
        .pointer("/requestBody/content/application~1json/schema")
        .map(|s| resolve(doc, s));
    // A body wrapped in an envelope (Asana's {"data": ...}): its fields are inside.
    if let (Some(key), Some(outer)) = (wrap, body) {
        body = outer["properties"].get(key).map(|s| resolve(doc, s));
    }
    if let Some(body) = body {
        let mut required: Vec<&str> = Vec::new();
        let mut properties: Vec<(&String, &Value)> = Vec::new();
        // allOf parts add their properties and requirements.
        let mut parts = vec![body];
        while let Some(part) = parts.pop() {
            required.extend(
                part["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
            properties.extend(part["properties"].as_object().into_iter().flatten());
            parts.extend(
                part["allOf"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| resolve(doc, p)),
            );
        }
        for (name, schema) in properties {
            let schema = resolve(doc, schema);
            params.push(Param {
                name: name.clone(),
                at: In::Body,
                kind: type_of(schema),
                items: type_of(resolve(doc, &schema["items"])),
                required: required.contains(&name.as_str()),
                read_only: schema["readOnly"] == true,
            });
        }
    }
    Some(Operation {
        server: doc["servers"][0]["url"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        method: method.to_owned(),
        path: path.to_owned(),
        params,
    })
}

/// The method `op` (a method id such as `tasks.tasks.list`) of a Google
/// discovery document; its path is relative to `rootUrl` + `servicePath`.
fn discovery_operation(doc: &Value, op: &str) -> Option<Operation> {
    fn find<'a>(resources: &'a Value, id: &str) -> Option<&'a Value> {
        for resource in resources.as_object()?.values() {
            if let Some(m) = resource["methods"]
                .as_object()
                .and_then(|ms| ms.values().find(|m| m["id"] == id))
            {
                return Some(m);
            }
            if let Some(m) = find(&resource["resources"], id) {
                return Some(m);
            }
        }
        None
    }
    let method = find(&doc["resources"], op)?;
    let schema_of = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(name) => doc["schemas"][name].clone(),
            None => v.clone(),
        }
    };
    let mut params = Vec::new();
    for (name, p) in method["parameters"].as_object().into_iter().flatten() {
        let at = match p["location"].as_str() {
            Some("path") => In::Path,
            Some("query") => In::Query,
            _ => continue,
        };
        params.push(Param {
            name: name.clone(),
            at,
            kind: type_of(p),
            items: None,
            required: p["required"] == true,
            read_only: false,
        });
    }
    if let Some(request) = method.get("request") {
        let body = schema_of(request);
        for (name, p) in body["properties"].as_object().into_iter().flatten() {
            let p = schema_of(p);
            params.push(Param {
                name: name.clone(),
                at: In::Body,
                kind: type_of(&p),
                items: type_of(&schema_of(&p["items"])),
                required: false,
                read_only: p["readOnly"] == true,
            });
        }
    }
    Some(Operation {
        server: format!(
            "{}{}",
            doc["rootUrl"].as_str().unwrap_or_default(),
            doc["servicePath"].as_str().unwrap_or_default()
        ),
        method: method["httpMethod"].as_str().unwrap_or_default().to_owned(),
        path: format!("/{}", method["path"].as_str().unwrap_or_default()),
        params,
    })
}

/// The JSON Schema type of a CSDL type name.
fn csdl_type(types: &Value, name: &str) -> (Option<String>, Option<String>) {
    if let Some(inner) = name
        .strip_prefix("Collection(")
        .and_then(|n| n.strip_suffix(')'))
    {
        return (Some("array".into()), csdl_type(types, inner).0);
    }
    let kind = match name {
        "Edm.String" | "Edm.DateTimeOffset" | "Edm.Date" | "Edm.Guid" => "string",
        "Edm.Boolean" => "boolean",
        "Edm.Int32" | "Edm.Int64" => "integer",
        "Edm.Double" => "number",
        other => match types[other.trim_start_matches("graph.")]["kind"].as_str() {
            Some("EnumType") => "string",
            Some(_) => "object",
            None => return (None, None),
        },
    };
    (Some(kind.into()), None)
}

/// A Microsoft Graph operation ("METHOD /me/..."): a row of `paths.md`
/// (its query options in the notes), its path walked through the CSDL
/// navigation properties to the entity type whose properties make the body.
fn graph_operation(folder: &Path, op: &str) -> Option<Operation> {
    let (method, path) = op.split_once(' ')?;
    let md = std::fs::read_to_string(folder.join("paths.md")).ok()?;
    let server = md
        .lines()
        .find_map(|l| l.strip_prefix("Base `"))
        .and_then(|l| l.split('`').next())?
        .to_owned();
    let row = md.lines().find(|l| {
        let cells: Vec<&str> = l.split('|').map(str::trim).collect();
        cells.len() > 3
            && cells[1].split('/').any(|m| m == method)
            && cells[2] == format!("`{path}`")
    })?;
    let notes = row.split('|').nth(3).unwrap_or_default();
    let csdl = read_json(&folder.join("csdl-types.json"));
    let types = &csdl["types"];
    // Walk /me/nav/{key}/nav... to the addressed type.
    let mut segments = path.trim_start_matches('/').split('/');
    if segments.next() != Some("me") {
        return None;
    }
    let mut navs = csdl["navigationRoots"]["user"].clone();
    let mut target = String::new();
    let mut params = Vec::new();
    for segment in segments {
        if let Some(key) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            target = target
                .trim_start_matches("Collection(")
                .trim_end_matches(')')
                .to_owned();
            params.push(Param {
                name: key.into(),
                at: In::Path,
                kind: Some("string".into()),
                items: None,
                required: true,
                read_only: false,
            });
            continue;
        }
        target = navs[segment]["Type"].as_str()?.to_owned();
        let name = target
            .trim_start_matches("Collection(")
            .trim_end_matches(')')
            .trim_start_matches("graph.");
        navs = types[name]["navigationProperties"].clone();
    }
    let entity = target
        .trim_start_matches("Collection(")
        .trim_end_matches(')')
        .trim_start_matches("graph.")
        .to_owned();
    for word in notes.split('`').skip(1).step_by(2) {
        if let Some(option) = word.strip_prefix('$') {
            let kind = if matches!(option, "top" | "skip") {
                "integer"
            } else {
                "string"
            };
            params.push(Param {
                name: word.into(),
                at: In::Query,
                kind: Some(kind.into()),
                items: None,
                required: false,
                read_only: false,
            });
        }
    }
    if matches!(method, "POST" | "PATCH") {
        let required: Vec<&str> = notes
            .split('`')
            .collect::<Vec<_>>()
            .windows(2)
            .filter(|w| w[1].trim_start().starts_with("required"))
            .map(|w| w[0])
            .collect();
        let mut ty = Some(entity.as_str());
        while let Some(name) = ty {
            for (prop, spec) in types[name]["properties"].as_object().into_iter().flatten() {
                let (kind, items) = csdl_type(types, spec["Type"].as_str().unwrap_or_default());
                params.push(Param {
                    name: prop.clone(),
                    at: In::Body,
                    kind,
                    items,
                    required: method == "POST" && required.contains(&prop.as_str()),
                    // Keys and timestamps the service sets.
                    read_only: prop == "id"
                        || prop.ends_with("DateTime") && spec["Nullable"] == "false",
                });
            }
            ty = types[name]["BaseType"]
                .as_str()
                .map(|b| b.trim_start_matches("graph."));
        }
    }
    Some(Operation {
        server,
        method: method.to_owned(),
        path: path.to_owned(),
        params,
    })
}

/// The operation `op` of `service`'s vendored description, read from `vendor`.
fn operation(vendor: &Path, service: &str, op: &str, wrap: Option<&str>) -> Option<Operation> {
    let folder = vendor.join(service);
    if folder.join("openapi.json").exists() {
        let mut operation = openapi_operation(&read_json(&folder.join("openapi.json")), op, wrap)?;
        // A document without `servers` (Supabase's): its SOURCE.md names the base URL.
        if operation.server.is_empty() {
            let source = std::fs::read_to_string(folder.join("SOURCE.md")).unwrap_or_default();
            operation.server = source
                .split("the base URL is `")
                .nth(1)
                .and_then(|rest| rest.split('`').next())
                .unwrap_or_default()
                .to_owned();
        }
        return Some(operation);
    }
    if folder.join("paths.md").exists() {
        return graph_operation(&folder, op);
    }
    if folder.join("discovery.json").exists() {
        return discovery_operation(&read_json(&folder.join("discovery.json")), op);
    }
    None
}

/// Whether a tool argument of `tool` type can carry a parameter of `vendor` type.
fn compatible(tool: Option<&str>, vendor: Option<&str>) -> bool {
    match (tool, vendor) {
        (_, None) => true,
        (Some(t), Some(v)) => t == v || (t == "integer" && v == "number"),
        (None, Some(_)) => false,
    }
}

/// The problems of catalog definition `definition` of `service` against
/// `tools` (the service's entry of `tools.json`) and the description in `vendor`.
fn problems(vendor: &Path, service: &str, definition: &Value, tools: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let base = definition["base_url"].as_str().unwrap_or_default();
    let empty = Vec::new();
    for tool in definition["tools"].as_array().unwrap_or(&empty) {
        let name = tool["name"].as_str().unwrap_or_default();
        let at = format!("{service}.{name}");
        let Some(op) = tools.get(name).and_then(|t| t["op"].as_str()) else {
            out.push(format!("{at}: not in vendor/tools.json"));
            continue;
        };
        let wrap = definition["body_wrap"].as_str();
        let Some(operation) = operation(vendor, service, op, wrap) else {
            out.push(format!("{at}: {op} is not in the vendored description"));
            continue;
        };
        let method = tool["method"]
            .as_str()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let path = format!(
            "/{}",
            tool["path"].as_str().unwrap_or_default().trim_matches('/')
        );
        // A literal segment where the vendor has `{param}` sends that parameter fixed.
        let mut fixed_path: Vec<String> = Vec::new();
        let same_path = {
            let ours: Vec<&str> = path.split('/').collect();
            let theirs: Vec<&str> = operation.path.split('/').collect();
            ours.len() == theirs.len()
                && ours.iter().zip(&theirs).all(|(a, b)| {
                    let param = b.strip_prefix('{').and_then(|p| p.strip_suffix('}'));
                    match param {
                        Some(p) if !a.starts_with('{') => {
                            fixed_path.push(p.to_owned());
                            true
                        }
                        _ => a == b,
                    }
                })
        };
        if method != operation.method || !same_path {
            out.push(format!(
                "{at}: calls {method} {path}, tools.json names {} {}",
                operation.method, operation.path
            ));
        }
        if base.trim_end_matches('/') != operation.server.trim_end_matches('/') {
            out.push(format!(
                "{at}: base_url {base} is not the vendor's server {}",
                operation.server
            ));
        }
        let schema = &tool["input_schema"];
        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let mut required: Vec<String> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let list = |key: &str| -> Vec<String> {
            tool[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        };
        let mut sent: Vec<(String, In)> = Vec::new();
        for part in path.split('/') {
            if let Some(arg) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                sent.push((arg.to_owned(), In::Path));
                // The engine makes path arguments required.
                required.push(arg.to_owned());
            }
        }
        // `field=arg`: the parameter takes another argument's value.
        let mut renamed: Vec<(String, In, String)> = Vec::new();
        for (key, place) in [("query", In::Query), ("body", In::Body)] {
            for entry in list(key) {
                match entry.split_once('=') {
                    Some((field, arg)) => {
                        renamed.push((field.to_owned(), place, arg.to_owned()));
                        sent.push((field.to_owned(), place));
                    }
                    None => sent.push((entry, place)),
                }
            }
        }
        let arg_of = |field: &str, place: In| -> String {
            renamed
                .iter()
                .find(|(f, p, _)| *p == place && f == field)
                .map(|(_, _, a)| a.clone())
                .unwrap_or_else(|| field.to_owned())
        };
        // A link-style cursor is a whole next-page URL, not a parameter.
        let link_cursor = (tool["paged"] == true && definition["pagination"]["style"] == "link")
            .then(|| definition["pagination"]["cursor"].as_str())
            .flatten();
        let fixed_query: Vec<String> = tool["fixed_query"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for key in &fixed_query {
            if !operation
                .params
                .iter()
                .any(|p| &p.name == key && p.at == In::Query)
            {
                out.push(format!(
                    "{at}: fixed {key} is not a Query parameter of {op}"
                ));
            }
        }
        let fixed: Vec<String> = tool["fixed_body"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for (arg, place) in &sent {
            let Some(param) = operation
                .params
                .iter()
                .find(|p| &p.name == arg && p.at == *place)
            else {
                out.push(format!("{at}: {arg} is not a {place:?} parameter of {op}"));
                continue;
            };
            if param.read_only {
                out.push(format!("{at}: {arg} is output only in {op}"));
            }
            let prop = properties
                .get(&arg_of(arg, *place))
                .cloned()
                .unwrap_or(Value::Null);
            let kind = type_of(&prop);
            if !compatible(kind.as_deref(), param.kind.as_deref()) {
                out.push(format!(
                    "{at}: {arg} is {kind:?} here, {:?} in {op}",
                    param.kind
                ));
            } else if param.kind.as_deref() == Some("array")
                && !compatible(type_of(&prop["items"]).as_deref(), param.items.as_deref())
            {
                out.push(format!(
                    "{at}: {arg} has items of {:?} here, {:?} in {op}",
                    type_of(&prop["items"]),
                    param.items
                ));
            }
        }
        for key in &fixed {
            match operation
                .params
                .iter()
                .find(|p| &p.name == key && p.at == In::Body)
            {
                None => out.push(format!("{at}: fixed {key} is not a Body parameter of {op}")),
                Some(p) if p.read_only => {
                    out.push(format!("{at}: fixed {key} is output only in {op}"))
                }
                Some(_) => {}
            }
        }
        for prop in properties.keys() {
            if Some(prop.as_str()) != link_cursor
                && !sent.iter().any(|(a, place)| &arg_of(a, *place) == prop)
            {
                out.push(format!("{at}: argument {prop} is sent nowhere"));
            }
        }
        for param in operation.params.iter().filter(|p| p.required) {
            let by_tool = sent
                .iter()
                .any(|(a, place)| a == &param.name && *place == param.at)
                && required.contains(&arg_of(&param.name, param.at));
            let fixed_here = param.at == In::Body && fixed.contains(&param.name)
                || param.at == In::Query && fixed_query.contains(&param.name)
                || param.at == In::Path && fixed_path.contains(&param.name);
            if !(by_tool || fixed_here) {
                out.push(format!(
                    "{at}: {} ({:?}) is required by {op} but not by the tool",
                    param.name, param.at
                ));
            }
        }
    }
    out
}

#[test]
fn every_catalog_tool_matches_its_vendor_description() {
    let vendor = vendor_dir();
    let tools = read_json(&vendor.join("tools.json"));
    let mut all = Vec::new();
    let mut checked = 0;
    for (service, text) in catalog::SERVICES {
        let definition = catalog::parse(service, text).unwrap();
        checked += definition["tools"].as_array().map_or(0, Vec::len);
        all.extend(problems(&vendor, service, &definition, &tools[*service]));
        // Every tool the research proposed for the service is served.
        let served: Vec<&str> = definition["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for (proposed, spec) in tools[*service].as_object().unwrap() {
            // "none": computed without an upstream call, so not a declarative tool.
            if !served.contains(&proposed.as_str()) && spec["op"] != "none" {
                all.push(format!(
                    "{service}.{proposed}: proposed in tools.json, not served"
                ));
            }
        }
        // Reads are reads: the access tools.json gives matches the method's hint.
        for tool in definition["tools"].as_array().unwrap() {
            let name = tool["name"].as_str().unwrap();
            let method = tool["method"].as_str().unwrap_or("GET");
            let read = tool["read_only"].as_bool().unwrap_or(method == "GET");
            let access = tools[*service][name]["access"].as_str().unwrap_or("");
            if read != (access == "read") {
                all.push(format!(
                    "{service}.{name}: read_only {read}, tools.json says {access}"
                ));
            }
        }
    }
    assert!(checked > 0, "the catalog is empty");
    for (service, text) in catalog::SERVICES {
        let definition = catalog::parse(service, text).unwrap();
        if let Some(path) = definition["identity"]["path"].as_str()
            && !identity_is_described(&vendor, service, path)
        {
            all.push(format!(
                "{service}: identity GET /{path} is not in the vendored description"
            ));
        }
    }
    assert!(
        all.is_empty(),
        "{} problems:\n{}",
        all.len(),
        all.join("\n")
    );
}

/// Whether `GET /path` (literal segments, where the description may have a
/// `{param}`) is an operation of `service`'s OpenAPI description.
fn identity_is_described(vendor: &Path, service: &str, path: &str) -> bool {
    let file = vendor.join(service).join("openapi.json");
    if !file.exists() {
        return false;
    }
    let doc = read_json(&file);
    let ours: Vec<&str> = path.trim_matches('/').split('/').collect();
    doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .any(|(p, item)| {
            let theirs: Vec<&str> = p.trim_matches('/').split('/').collect();
            item.get("get").is_some()
                && theirs.len() == ours.len()
                && theirs
                    .iter()
                    .zip(&ours)
                    .all(|(t, o)| t == o || t.starts_with('{'))
        })
}

/// A small description and a definition that matches it, for the checker's own tests.
fn fixture() -> (tempfile::TempDir, Value, Value) {
    let dir = tempfile::tempdir().unwrap();
    let doc = json!({
        "openapi": "3.0.0",
        "servers": [{"url": "https://api.example.com/v1"}],
        "paths": {
            "/items/{item_id}": {"post": {
                "parameters": [
                    {"in": "path", "name": "item_id", "required": true, "schema": {"type": "string"}},
                    {"in": "query", "name": "lang", "schema": {"type": "string"}}
                ],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}}
            }}
        },
        "components": {"schemas": {"Body": {
            "type": "object", "required": ["title"],
            "properties": {"title": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                           "size": {"type": "integer"}, "state": {"type": "string"}}
        }}}
    });
    std::fs::create_dir(dir.path().join("svc")).unwrap();
    std::fs::write(dir.path().join("svc/openapi.json"), doc.to_string()).unwrap();
    let definition = json!({
        "base_url": "https://api.example.com/v1",
        "tools": [{
            "name": "update_item", "method": "POST", "path": "items/{item_id}",
            "query": ["lang"], "body": ["title", "tags", "size"],
            "fixed_body": {"state": "done"},
            "input_schema": {"type": "object", "properties": {
                "item_id": {"type": "string"}, "lang": {"type": "string"}, "title": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}}, "size": {"type": "integer"}
            }, "required": ["title"]}
        }]
    });
    let tools = json!({"update_item": {"access": "write", "op": "POST /items/{item_id}"}});
    (dir, definition, tools)
}

#[test]
fn the_checker_passes_a_matching_definition() {
    let (dir, definition, tools) = fixture();
    assert_eq!(
        problems(dir.path(), "svc", &definition, &tools),
        Vec::<String>::new()
    );
}

/// A deliberate change to a good definition.
type Change = Box<dyn Fn(&mut Value)>;

#[test]
fn the_checker_fails_each_kind_of_mismatch() {
    let (dir, good, tools) = fixture();
    let tool = "/tools/0";
    let cases: Vec<(&str, Change)> = vec![
        (
            "calls PUT",
            Box::new(|d| d.pointer_mut(tool).unwrap()["method"] = json!("PUT")),
        ),
        ("is not in the vendored description", Box::new(|_| {})),
        (
            "base_url",
            Box::new(|d| d["base_url"] = json!("https://api.example.com/v2")),
        ),
        (
            "tittle is not a Body parameter",
            Box::new(|d| {
                let t = d.pointer_mut(tool).unwrap();
                t["body"] = json!(["tittle", "tags", "size"]);
                t["input_schema"]["properties"]["tittle"] = json!({"type": "string"});
                t["input_schema"]["required"] = json!(["tittle"]);
                t["input_schema"]["properties"]
                    .as_object_mut()
                    .unwrap()
                    .remove("title");
            }),
        ),
        (
            "size is Some(\"string\") here",
            Box::new(|d| {
                d.pointer_mut(tool).unwrap()["input_schema"]["properties"]["size"] =
                    json!({"type": "string"});
            }),
        ),
        (
            "tags has items of Some(\"integer\")",
            Box::new(|d| {
                d.pointer_mut(tool).unwrap()["input_schema"]["properties"]["tags"]["items"] =
                    json!({"type": "integer"});
            }),
        ),
        (
            "title (Body) is required",
            Box::new(|d| {
                d.pointer_mut(tool).unwrap()["input_schema"]["required"] = json!([]);
            }),
        ),
        (
            "lang is not a Body parameter",
            Box::new(|d| {
                let t = d.pointer_mut(tool).unwrap();
                t["query"] = json!([]);
                t["body"] = json!(["title", "tags", "size", "lang"]);
            }),
        ),
        (
            "argument extra is sent nowhere",
            Box::new(|d| {
                d.pointer_mut(tool).unwrap()["input_schema"]["properties"]["extra"] =
                    json!({"type": "string"});
            }),
        ),
        (
            "fixed colour is not a Body parameter",
            Box::new(|d| {
                d.pointer_mut(tool).unwrap()["fixed_body"]["colour"] = json!("red");
            }),
        ),
        (
            "not in vendor/tools.json",
            Box::new(|d| d.pointer_mut(tool).unwrap()["name"] = json!("other")),
        ),
        (
            "title (Body) is required",
            // title=name: the required field is sent from an optional argument.
            Box::new(|d| {
                let t = d.pointer_mut(tool).unwrap();
                t["body"] = json!(["title=name", "tags", "size"]);
                let props = t["input_schema"]["properties"].as_object_mut().unwrap();
                props.remove("title");
                props.insert("name".into(), json!({"type": "string"}));
            }),
        ),
        (
            "title is Some(\"integer\") here",
            Box::new(|d| {
                let t = d.pointer_mut(tool).unwrap();
                t["body"] = json!(["title=name", "tags", "size"]);
                let props = t["input_schema"]["properties"].as_object_mut().unwrap();
                props.remove("title");
                props.insert("name".into(), json!({"type": "integer"}));
                t["input_schema"]["required"] = json!(["name"]);
            }),
        ),
    ];
    for (expected, change) in cases {
        let mut definition = good.clone();
        change(&mut definition);
        let tools = if expected.starts_with("is not in the vendored") {
            json!({"update_item": {"access": "write", "op": "POST /nowhere"}})
        } else {
            tools.clone()
        };
        let found = problems(dir.path(), "svc", &definition, &tools);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "expected a problem containing {expected:?}, got {found:?}"
        );
    }
}

#[test]
fn an_identity_path_must_be_a_get_of_the_description() {
    let vendor = vendor_dir();
    assert!(identity_is_described(&vendor, "asana", "users/me"));
    assert!(identity_is_described(&vendor, "airtable", "meta/whoami"));
    // No GET route of that shape (a literal may fill a `{param}`, so the
    // shape is what counts).
    assert!(!identity_is_described(
        &vendor,
        "airtable",
        "meta/whoami/a/b/c"
    ));
    // A route that is only a POST.
    assert!(!identity_is_described(&vendor, "todoist", "tasks/x/close"));
    // No OpenAPI document to check against.
    assert!(!identity_is_described(
        &vendor,
        "google_tasks",
        "users/@me/lists"
    ));
}
