//! Completion of Notion page ids by title: Notion's search, kept briefly
//! per account and query.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use mcpist_core::Result;
use serde_json::{Value, json};

use super::client::Notion;

/// How long a search's answer is reused.
const TTL: Duration = Duration::from_secs(30);

/// How many pages one completion offers.
const PAGES: u32 = 20;

/// An account label and what was typed.
type Query = (String, String);

/// When a search ran, and the page ids it found.
type Found = (Instant, Vec<String>);

/// Recent searches, keyed by account label and query.
#[derive(Debug, Default)]
pub(super) struct Titles {
    recent: Mutex<HashMap<Query, Found>>,
}

impl Titles {
    /// The ids of the pages whose title matches `typed`, best match first
    /// (Notion's order).
    pub(super) async fn complete(&self, notion: &Notion<'_>, typed: &str) -> Result<Vec<String>> {
        let key = (
            notion
                .ctx
                .upstream()
                .account()
                .unwrap_or_default()
                .to_owned(),
            typed.to_owned(),
        );
        if let Some((at, ids)) = self
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && at.elapsed() < TTL
        {
            return Ok(ids.clone());
        }
        let page = notion
            .post(
                &["v1", "search"],
                json!({"query": typed, "page_size": PAGES,
                    "filter": {"property": "object", "value": "page"}}),
            )
            .await?;
        let ids: Vec<String> = page["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|_, (at, _)| at.elapsed() < TTL);
        recent.insert(key, (Instant::now(), ids.clone()));
        Ok(ids)
    }
}
