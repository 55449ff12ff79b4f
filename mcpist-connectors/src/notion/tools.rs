//! The Notion tools: their schemas, and what each returns.

use mcpist_core::{
    Error, Result, ToolHints, ToolSpec,
    mcp::{CallToolResult, ContentBlock, JsonObject},
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    client::Notion,
    markdown::{block_to_md, convert, md_to_blocks, md_to_rich_text, rich_text_to_md},
};

/// Longest text a tool returns; more is cut with a visible marker.
const MAX_RESULT: usize = 60_000;
/// Most blocks `get_page_content` reads, over all levels.
const MAX_BLOCKS: usize = 1_000;
/// Notion accepts at most 100 blocks per append.
const APPEND_CHUNK: usize = 100;

pub(super) fn all() -> Vec<ToolSpec> {
    let id = |what: &str| {
        json!({"type": "string", "minLength": 1, "maxLength": 300,
        "description": format!("{what} id or URL")})
    };
    let page_size = json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20});
    let cursor = json!({"type": "string", "description": "next_cursor of the previous page"});
    let format = json!({"type": "string", "enum": ["compact", "json"], "default": "compact",
        "description": "json: Notion's raw objects"});
    let object = |properties: Value, required: &[&str]| {
        json!({"type": "object", "properties": properties, "required": required,
            "additionalProperties": false})
    };
    vec![
        ToolSpec::new(
            "search",
            "Search pages and databases shared with the integration, by title.",
            object(
                json!({"query": {"type": "string", "maxLength": 500},
                "filter": {"type": "string", "enum": ["page", "database"]},
                "page_size": page_size, "start_cursor": cursor, "format": format}),
                &[],
            ),
            ToolHints::READ,
            "search",
        ),
        ToolSpec::new(
            "get_page",
            "A page's title, properties and parent (not its content).",
            object(
                json!({"page_id": id("Page"), "format": format}),
                &["page_id"],
            ),
            ToolHints::READ,
            "pages",
        ),
        ToolSpec::new(
            "get_page_content",
            "A page's (or block's) content as Markdown, nested blocks included.",
            object(
                json!({"page_id": id("Page or block"),
                "max_depth": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3}}),
                &["page_id"],
            ),
            ToolHints::READ,
            "pages",
        ),
        ToolSpec::new(
            "create_page",
            "Create a page under a page or in a database, with Markdown content.",
            object(
                json!({"parent_page_id": id("Parent page"),
                "parent_database_id": id("Parent database"),
                "title": {"type": "string", "minLength": 1, "maxLength": 2000},
                "markdown": {"type": "string", "maxLength": 200000},
                "properties": {"type": "object", "description": "Extra Notion properties (database parents)"}}),
                &["title"],
            ),
            ToolHints::CREATE,
            "pages",
        ),
        ToolSpec::new(
            "update_page",
            "Change a page's title or properties, or archive / restore it.",
            object(
                json!({"page_id": id("Page"),
                "title": {"type": "string", "minLength": 1, "maxLength": 2000},
                "properties": {"type": "object", "description": "Notion property values to set"},
                "archived": {"type": "boolean"}}),
                &["page_id"],
            ),
            ToolHints::DESTRUCTIVE,
            "pages",
        ),
        ToolSpec::new(
            "append_blocks",
            "Append Markdown to the end of a page or block.",
            object(
                json!({"block_id": id("Page or block"),
                "markdown": {"type": "string", "minLength": 1, "maxLength": 200000}}),
                &["block_id", "markdown"],
            ),
            ToolHints::CREATE,
            "pages",
        ),
        ToolSpec::new(
            "archive_block",
            "Move a block to the trash (it can be restored in Notion).",
            object(json!({"block_id": id("Block")}), &["block_id"]),
            ToolHints::DESTRUCTIVE,
            "pages",
        ),
        ToolSpec::new(
            "get_database",
            "A database's title and property schema (names, types, options).",
            object(
                json!({"database_id": id("Database"), "format": format}),
                &["database_id"],
            ),
            ToolHints::READ,
            "databases",
        ),
        ToolSpec::new(
            "query_database",
            "Query a database's pages with Notion filter and sorts objects.",
            object(
                json!({"database_id": id("Database"),
                "filter": {"type": "object", "description": "A Notion filter object"},
                "sorts": {"type": "array", "items": {"type": "object"}, "maxItems": 10},
                "page_size": page_size, "start_cursor": cursor, "format": format}),
                &["database_id"],
            ),
            ToolHints::READ,
            "databases",
        ),
        ToolSpec::new(
            "list_comments",
            "Open comments on a page or block.",
            object(
                json!({"block_id": id("Page or block"), "page_size": page_size,
                "start_cursor": cursor}),
                &["block_id"],
            ),
            ToolHints::READ,
            "comments",
        ),
        ToolSpec::new(
            "add_comment",
            "Comment on a page (inline Markdown).",
            object(
                json!({"page_id": id("Page"),
                "text": {"type": "string", "minLength": 1, "maxLength": 10000}}),
                &["page_id", "text"],
            ),
            ToolHints::CREATE,
            "comments",
        ),
        ToolSpec::new(
            "list_users",
            "The workspace's people and bots.",
            object(json!({"page_size": page_size, "start_cursor": cursor}), &[]),
            ToolHints::READ,
            "users",
        ),
        ToolSpec::new(
            "get_user",
            "One user.",
            object(json!({"user_id": id("User")}), &["user_id"]),
            ToolHints::READ,
            "users",
        ),
        ToolSpec::new(
            "get_self",
            "The integration (bot) this account is, and its workspace.",
            object(json!({}), &[]),
            ToolHints::READ,
            "users",
        ),
    ]
}

pub(super) async fn call(
    notion: &Notion<'_>,
    tool: &str,
    args: JsonObject,
) -> Result<CallToolResult> {
    let args = Value::Object(args);
    match tool {
        "search" => search(notion, parse(args)?).await,
        "get_page" => get_page(notion, parse(args)?).await,
        "get_page_content" => get_page_content(notion, parse(args)?).await,
        "create_page" => create_page(notion, parse(args)?).await,
        "update_page" => update_page(notion, parse(args)?).await,
        "append_blocks" => append_blocks(notion, parse(args)?).await,
        "archive_block" => {
            let args: BlockId = parse(args)?;
            let id = notion_id(&args.block_id)?;
            let block = notion.delete(&["v1", "blocks", &id]).await?;
            json_result(&json!({"id": block["id"], "archived": true}))
        }
        "get_database" => get_database(notion, parse(args)?).await,
        "query_database" => query_database(notion, parse(args)?).await,
        "list_comments" => list_comments(notion, parse(args)?).await,
        "add_comment" => {
            let args: AddComment = parse(args)?;
            let page = notion_id(&args.page_id)?;
            let rich_text = convert(args.text, md_to_rich_text).await?;
            let body = json!({"parent": {"page_id": page}, "rich_text": rich_text});
            let comment = notion.post(&["v1", "comments"], body).await?;
            json_result(&json!({"id": comment["id"], "created_time": comment["created_time"]}))
        }
        "list_users" => {
            let args: Paging = parse(args)?;
            let page = notion.get(&["v1", "users"], &args.query()).await?;
            let users: Vec<Value> = results(&page).iter().map(user).collect();
            json_result(&paged(users, &page))
        }
        "get_user" => {
            let args: UserId = parse(args)?;
            let id = notion_id(&args.user_id)?;
            json_result(&user(&notion.get(&["v1", "users", &id], &[]).await?))
        }
        "get_self" => {
            let me = notion.get(&["v1", "users", "me"], &[]).await?;
            let mut out = user(&me);
            if let Some(workspace) = me.pointer("/bot/workspace_name") {
                out["workspace"] = workspace.clone();
            }
            json_result(&out)
        }
        other => Err(Error::InvalidArguments(format!(
            "notion has no tool {other:?}"
        ))),
    }
}

fn parse<T: serde::de::DeserializeOwned>(args: Value) -> Result<T> {
    serde_json::from_value(args).map_err(|e| Error::InvalidArguments(e.to_string()))
}

/// A Notion id from an id (with or without dashes) or a Notion URL, as a
/// dashed UUID. Anything else is refused, so an argument can never change the
/// request's route.
pub(super) fn notion_id(input: &str) -> Result<String> {
    let trimmed = input.trim();
    // A URL is only parsed to find the id at the end of its last path segment.
    let candidate = match url::Url::parse(trimmed) {
        Ok(url) => url
            .path_segments()
            .and_then(|mut s| s.next_back().map(str::to_owned))
            .unwrap_or_default(),
        Err(_) => trimmed.to_owned(),
    };
    // Characters, not bytes: a byte index could fall inside a multi-byte one.
    let hex: Vec<char> = candidate.chars().filter(|c| *c != '-').collect();
    let tail: String = if hex.len() > 32 && candidate.contains('-') {
        hex[hex.len() - 32..].iter().collect()
    } else {
        hex.into_iter().collect()
    };
    if tail.len() != 32 || !tail.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::InvalidArguments(format!(
            "{:?} is not a Notion id (32 hex digits, dashes optional) or a Notion URL",
            input.chars().take(80).collect::<String>()
        )));
    }
    let t = tail.to_ascii_lowercase();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &t[..8],
        &t[8..12],
        &t[12..16],
        &t[16..20],
        &t[20..]
    ))
}

/// Text, cut to [`MAX_RESULT`] with a marker that says so.
fn text_result(mut text: String) -> Result<CallToolResult> {
    let total = text.len();
    let marker =
        format!("\n… [truncated: {total} bytes in all; narrow the request or page through it]");
    mcpist_core::output::cut(&mut text, MAX_RESULT, &marker);
    Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
}

fn json_result(value: &Value) -> Result<CallToolResult> {
    text_result(value.to_string())
}

fn results(page: &Value) -> &[Value] {
    page.get("results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// A listing, with `next_cursor` when Notion has more.
fn paged(items: Vec<Value>, page: &Value) -> Value {
    let mut out = json!({ "items": items });
    if page.get("has_more").and_then(Value::as_bool) == Some(true) {
        out["next_cursor"] = page["next_cursor"].clone();
    }
    out
}

#[derive(Deserialize)]
struct Paging {
    page_size: Option<u32>,
    start_cursor: Option<String>,
}

impl Paging {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("page_size", self.page_size.unwrap_or(20).to_string())];
        if let Some(cursor) = &self.start_cursor {
            q.push(("start_cursor", cursor.clone()));
        }
        q
    }
}

fn raw_format(format: &Option<String>) -> bool {
    format.as_deref() == Some("json")
}

/// A user or bot, compact.
fn user(u: &Value) -> Value {
    let mut out = json!({"id": u["id"], "type": u["type"], "name": u["name"]});
    if let Some(email) = u.pointer("/person/email") {
        out["email"] = email.clone();
    }
    out
}

/// How `accounts list` names a Notion account: the bot's workspace, else its name.
pub(super) fn user_label(me: &Value) -> Option<String> {
    me.pointer("/bot/workspace_name")
        .or_else(|| me.get("name"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// A page's title, from whichever property has type `title`.
fn page_title(page: &Value) -> String {
    if let Some(title) = page.get("title") {
        // Databases carry their title at the top level.
        return rich_text_to_md(title);
    }
    page.get("properties")
        .and_then(Value::as_object)
        .and_then(|p| p.values().find(|v| v["type"] == "title"))
        .map(|t| rich_text_to_md(&t["title"]))
        .unwrap_or_default()
}

/// A property value as plain JSON.
fn property_value(p: &Value) -> Value {
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let v = &p[kind];
    let names = |list: &Value| -> Value {
        list.as_array()
            .map(|a| a.iter().map(|x| x["name"].clone()).collect::<Vec<_>>())
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    match kind {
        "title" | "rich_text" => json!(rich_text_to_md(v)),
        "select" | "status" => v.get("name").cloned().unwrap_or(Value::Null),
        "multi_select" | "people" => names(v),
        "date" => match v.get("end").filter(|e| !e.is_null()) {
            Some(end) => json!({"start": v["start"], "end": end}),
            None => v.get("start").cloned().unwrap_or(Value::Null),
        },
        "relation" => v
            .as_array()
            .map(|a| a.iter().map(|r| r["id"].clone()).collect::<Vec<_>>())
            .map(Value::from)
            .unwrap_or(Value::Null),
        "formula" => {
            let inner = v.get("type").and_then(Value::as_str).unwrap_or("");
            v.get(inner).cloned().unwrap_or(Value::Null)
        }
        "rollup" => {
            let inner = v.get("type").and_then(Value::as_str).unwrap_or("");
            v.get(inner).cloned().unwrap_or(Value::Null)
        }
        "files" => v
            .as_array()
            .map(|a| a.iter().map(|f| f["name"].clone()).collect::<Vec<_>>())
            .map(Value::from)
            .unwrap_or(Value::Null),
        "unique_id" => match v.get("prefix").and_then(Value::as_str) {
            Some(prefix) => json!(format!("{prefix}-{}", v["number"])),
            None => v.get("number").cloned().unwrap_or(Value::Null),
        },
        "created_by" | "last_edited_by" => v.get("name").cloned().unwrap_or(v["id"].clone()),
        _ => v.clone(),
    }
}

fn compact_page(page: &Value) -> Value {
    let mut properties = Map::new();
    for (name, p) in page
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if p["type"] != "title" {
            properties.insert(name.clone(), property_value(p));
        }
    }
    let mut out = json!({
        "id": page["id"], "title": page_title(page), "url": page["url"],
        "last_edited_time": page["last_edited_time"],
    });
    if !properties.is_empty() {
        out["properties"] = Value::Object(properties);
    }
    if page.get("archived").and_then(Value::as_bool) == Some(true) {
        out["archived"] = json!(true);
    }
    out
}

#[derive(Deserialize)]
struct Search {
    query: Option<String>,
    filter: Option<String>,
    page_size: Option<u32>,
    start_cursor: Option<String>,
    format: Option<String>,
}

async fn search(notion: &Notion<'_>, args: Search) -> Result<CallToolResult> {
    let mut body = json!({"page_size": args.page_size.unwrap_or(20)});
    if let Some(query) = &args.query {
        body["query"] = json!(query);
    }
    if let Some(kind) = &args.filter {
        body["filter"] = json!({"property": "object", "value": kind});
    }
    if let Some(cursor) = &args.start_cursor {
        body["start_cursor"] = json!(cursor);
    }
    let page = notion.post(&["v1", "search"], body).await?;
    if raw_format(&args.format) {
        return json_result(&page);
    }
    let items = results(&page)
        .iter()
        .map(|r| {
            json!({"id": r["id"], "object": r["object"], "title": page_title(r), "url": r["url"],
                "last_edited_time": r["last_edited_time"]})
        })
        .collect();
    json_result(&paged(items, &page))
}

#[derive(Deserialize)]
struct PageId {
    page_id: String,
    format: Option<String>,
}

async fn get_page(notion: &Notion<'_>, args: PageId) -> Result<CallToolResult> {
    let id = notion_id(&args.page_id)?;
    let page = notion.get(&["v1", "pages", &id], &[]).await?;
    if raw_format(&args.format) {
        return json_result(&page);
    }
    let mut out = compact_page(&page);
    out["parent"] = page["parent"].clone();
    json_result(&out)
}

#[derive(Deserialize)]
struct Content {
    page_id: String,
    max_depth: Option<usize>,
}

/// Every child of `block_id`, following Notion's pagination, and their
/// children up to `depth` levels, at most `budget` blocks in all.
async fn children(
    notion: &Notion<'_>,
    block_id: &str,
    depth: usize,
    budget: &mut usize,
) -> Result<Vec<Value>> {
    let mut blocks = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("page_size", "100".to_owned())];
        if let Some(c) = &cursor {
            query.push(("start_cursor", c.clone()));
        }
        let page = notion
            .get(&["v1", "blocks", block_id, "children"], &query)
            .await?;
        for block in results(&page) {
            if *budget == 0 {
                return Ok(blocks);
            }
            *budget -= 1;
            blocks.push(block.clone());
        }
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(next) if page["has_more"] == true => cursor = Some(next.to_owned()),
            _ => break,
        }
    }
    if depth > 1 {
        for block in &mut blocks {
            // Child pages and databases are their own documents: link, don't inline.
            let nested = block["has_children"] == true
                && !matches!(
                    block["type"].as_str(),
                    Some("child_page" | "child_database")
                );
            if nested && *budget > 0 {
                let id = block["id"].as_str().unwrap_or("").to_owned();
                let id = notion_id(&id)?;
                let kids = Box::pin(children(notion, &id, depth - 1, budget)).await?;
                block["children"] = Value::Array(kids);
            }
        }
    }
    Ok(blocks)
}

async fn get_page_content(notion: &Notion<'_>, args: Content) -> Result<CallToolResult> {
    text_result(page_markdown(notion, &args.page_id, args.max_depth.unwrap_or(3)).await?)
}

/// A page's content as Markdown, nested blocks up to `depth` levels, at
/// most [`MAX_BLOCKS`] blocks (a marker says when it stopped).
pub(super) async fn page_markdown(
    notion: &Notion<'_>,
    page_id: &str,
    depth: usize,
) -> Result<String> {
    let id = notion_id(page_id)?;
    let mut budget = MAX_BLOCKS;
    let blocks = children(notion, &id, depth, &mut budget).await?;
    let mut md = String::new();
    for block in &blocks {
        let kids = block
            .get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        block_to_md(block, &kids, 0, &mut md);
    }
    if budget == 0 {
        md.push_str(&format!("\n… [stopped after {MAX_BLOCKS} blocks]\n"));
    }
    if md.is_empty() {
        md.push_str("(empty page)");
    }
    Ok(md)
}

#[derive(Deserialize)]
struct CreatePage {
    parent_page_id: Option<String>,
    parent_database_id: Option<String>,
    title: String,
    markdown: Option<String>,
    properties: Option<Map<String, Value>>,
}

fn title_property(title: &str) -> Value {
    json!({"title": md_to_rich_text(title)})
}

async fn create_page(notion: &Notion<'_>, args: CreatePage) -> Result<CallToolResult> {
    let (parent, title_key) = match (&args.parent_page_id, &args.parent_database_id) {
        (Some(page), None) => (json!({"page_id": notion_id(page)?}), "title".to_owned()),
        (None, Some(db)) => {
            let id = notion_id(db)?;
            // The title property of a database can have any name.
            let database = notion.get(&["v1", "databases", &id], &[]).await?;
            let key = database
                .get("properties")
                .and_then(Value::as_object)
                .and_then(|p| p.iter().find(|(_, v)| v["type"] == "title"))
                .map(|(k, _)| k.clone())
                .unwrap_or_else(|| "Name".into());
            (json!({"database_id": id}), key)
        }
        _ => {
            return Err(Error::InvalidArguments(
                "give exactly one of parent_page_id and parent_database_id".into(),
            ));
        }
    };
    let mut properties = args.properties.unwrap_or_default();
    properties.insert(title_key, title_property(&args.title));
    let blocks = match args.markdown {
        Some(markdown) => convert(markdown, md_to_blocks).await?,
        None => Vec::new(),
    };
    let (first, rest) = blocks.split_at(blocks.len().min(APPEND_CHUNK));
    let body = json!({"parent": parent, "properties": properties, "children": first});
    let page = notion.post(&["v1", "pages"], body).await?;
    let id = notion_id(page["id"].as_str().unwrap_or(""))?;
    for chunk in rest.chunks(APPEND_CHUNK) {
        notion
            .patch(
                &["v1", "blocks", &id, "children"],
                json!({"children": chunk}),
            )
            .await?;
    }
    json_result(&json!({"id": page["id"], "url": page["url"], "blocks": blocks.len()}))
}

#[derive(Deserialize)]
struct UpdatePage {
    page_id: String,
    title: Option<String>,
    properties: Option<Map<String, Value>>,
    archived: Option<bool>,
}

async fn update_page(notion: &Notion<'_>, args: UpdatePage) -> Result<CallToolResult> {
    let id = notion_id(&args.page_id)?;
    let mut properties = args.properties.unwrap_or_default();
    let mut body = json!({});
    if let Some(title) = &args.title {
        let page = notion.get(&["v1", "pages", &id], &[]).await?;
        let key = page
            .get("properties")
            .and_then(Value::as_object)
            .and_then(|p| p.iter().find(|(_, v)| v["type"] == "title"))
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| "title".into());
        properties.insert(key, title_property(title));
    }
    if !properties.is_empty() {
        body["properties"] = Value::Object(properties);
    }
    if let Some(archived) = args.archived {
        body["archived"] = json!(archived);
    }
    if body.as_object().is_some_and(Map::is_empty) {
        return Err(Error::InvalidArguments(
            "nothing to change: give title, properties or archived".into(),
        ));
    }
    let page = notion.patch(&["v1", "pages", &id], body).await?;
    json_result(&compact_page(&page))
}

#[derive(Deserialize)]
struct Append {
    block_id: String,
    markdown: String,
}

async fn append_blocks(notion: &Notion<'_>, args: Append) -> Result<CallToolResult> {
    let id = notion_id(&args.block_id)?;
    let blocks = convert(args.markdown, md_to_blocks).await?;
    if blocks.is_empty() {
        return Err(Error::InvalidArguments(
            "the Markdown has no content".into(),
        ));
    }
    for chunk in blocks.chunks(APPEND_CHUNK) {
        notion
            .patch(
                &["v1", "blocks", &id, "children"],
                json!({"children": chunk}),
            )
            .await?;
    }
    json_result(&json!({"appended": blocks.len()}))
}

#[derive(Deserialize)]
struct BlockId {
    block_id: String,
}

#[derive(Deserialize)]
struct DatabaseId {
    database_id: String,
    format: Option<String>,
}

async fn get_database(notion: &Notion<'_>, args: DatabaseId) -> Result<CallToolResult> {
    let id = notion_id(&args.database_id)?;
    let db = notion.get(&["v1", "databases", &id], &[]).await?;
    if raw_format(&args.format) {
        return json_result(&db);
    }
    let mut schema = Map::new();
    for (name, p) in db
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let kind = p["type"].as_str().unwrap_or("");
        let mut field = json!({"type": kind});
        if let Some(options) = p[kind].get("options").and_then(Value::as_array) {
            field["options"] = options.iter().map(|o| o["name"].clone()).collect();
        }
        schema.insert(name.clone(), field);
    }
    json_result(
        &json!({"id": db["id"], "title": page_title(&db), "url": db["url"],
        "properties": schema}),
    )
}

#[derive(Deserialize)]
struct Query {
    database_id: String,
    filter: Option<Value>,
    sorts: Option<Vec<Value>>,
    page_size: Option<u32>,
    start_cursor: Option<String>,
    format: Option<String>,
}

async fn query_database(notion: &Notion<'_>, args: Query) -> Result<CallToolResult> {
    let id = notion_id(&args.database_id)?;
    let mut body = json!({"page_size": args.page_size.unwrap_or(20)});
    if let Some(filter) = args.filter {
        body["filter"] = filter;
    }
    if let Some(sorts) = args.sorts {
        body["sorts"] = json!(sorts);
    }
    if let Some(cursor) = args.start_cursor {
        body["start_cursor"] = json!(cursor);
    }
    let page = notion
        .post(&["v1", "databases", &id, "query"], body)
        .await?;
    if raw_format(&args.format) {
        return json_result(&page);
    }
    let items = results(&page).iter().map(compact_page).collect();
    json_result(&paged(items, &page))
}

#[derive(Deserialize)]
struct Comments {
    block_id: String,
    page_size: Option<u32>,
    start_cursor: Option<String>,
}

async fn list_comments(notion: &Notion<'_>, args: Comments) -> Result<CallToolResult> {
    let id = notion_id(&args.block_id)?;
    let paging = Paging {
        page_size: args.page_size,
        start_cursor: args.start_cursor,
    };
    let mut query = paging.query();
    query.push(("block_id", id));
    let page = notion.get(&["v1", "comments"], &query).await?;
    let items = results(&page)
        .iter()
        .map(|c| {
            json!({"id": c["id"], "text": rich_text_to_md(&c["rich_text"]),
                "created_time": c["created_time"], "author": c.pointer("/created_by/id")})
        })
        .collect();
    json_result(&paged(items, &page))
}

#[derive(Deserialize)]
struct AddComment {
    page_id: String,
    text: String,
}

#[derive(Deserialize)]
struct UserId {
    user_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_ids_or_urls_and_nothing_else() {
        let want = "1429989f-e8ac-4eff-bc8f-57f56486db54";
        for input in [
            "1429989fe8ac4effbc8f57f56486db54",
            "1429989f-e8ac-4eff-bc8f-57f56486db54",
            "https://www.notion.so/acme/Meeting-notes-1429989fe8ac4effbc8f57f56486db54",
            "https://www.notion.so/1429989fe8ac4effbc8f57f56486db54?pvs=4#frag",
        ] {
            assert_eq!(notion_id(input).unwrap(), want, "{input}");
        }
        for bad in [
            "../../users/me",
            "me",
            "1429989fe8ac4effbc8f57f56486db5",
            "",
            "a/b",
            "https://evil.example/x",
            "-€€€€€€€€€€€",
            "€-1429989fe8ac4effbc8f57f56486db54€",
        ] {
            assert!(notion_id(bad).is_err(), "{bad} accepted");
        }
    }
}
