//! `mcpist tools --cost`: what the tool definitions cost a model's context,
//! in bytes and in tokens (o200k_base, the tokenizer of current OpenAI
//! models, counted with `tiktoken-rs`), per tool and in total, for flat and
//! discover mode.

use std::io::Write;

use anyhow::Result;
use mcpist_core::McpServer;
use serde_json::Value;

/// The tokenizer's name, printed with the figures.
const TOKENIZER: &str = "o200k_base";

/// Bytes and tokens of `text`.
fn measure(text: &str) -> (usize, usize) {
    let tokens = tiktoken_rs::o200k_base_singleton()
        .encode_ordinary(text)
        .len();
    (text.len(), tokens)
}

/// Bytes and tokens of a list of tools as `tools/list` sends it (compact JSON).
fn listing(tools: &[Value]) -> Result<(usize, usize)> {
    Ok(measure(&serde_json::to_string(tools)?))
}

/// Prints one line per tool a client sees in flat mode, then the flat and
/// discover totals.
pub(crate) fn print(out: &mut impl Write, server: &McpServer) -> Result<()> {
    let Value::Array(flat) = server.listed_tools_json() else {
        anyhow::bail!("tools/list is not a list");
    };
    writeln!(out, "{:<36} {:>7} {:>7}", "tool", "bytes", "tokens")?;
    for tool in &flat {
        let (bytes, tokens) = measure(&serde_json::to_string(tool)?);
        let name = tool["name"].as_str().unwrap_or("?");
        writeln!(out, "{name:<36} {bytes:>7} {tokens:>7}")?;
    }
    let (bytes, tokens) = listing(&flat)?;
    writeln!(
        out,
        "{:<36} {bytes:>7} {tokens:>7}",
        format!("flat total ({} tools)", flat.len())
    )?;
    let Value::Array(meta) = serde_json::to_value(mcpist_core::discover::meta_tools())? else {
        anyhow::bail!("the meta-tools are not a list");
    };
    let (bytes, tokens) = listing(&meta)?;
    writeln!(
        out,
        "{:<36} {bytes:>7} {tokens:>7}",
        format!("discover total ({} meta-tools)", meta.len())
    )?;
    writeln!(
        out,
        "tokens: {TOKENIZER} (tiktoken); discover's instructions add the services and account labels"
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_counted_by_the_tokenizer_not_guessed_from_bytes() {
        // o200k_base: "hello world" is two tokens; a long run of one
        // character is far fewer tokens than bytes / 4.
        assert_eq!(measure("hello world"), (11, 2));
        let (bytes, tokens) = measure(&"a".repeat(400));
        assert_eq!(bytes, 400);
        assert!(tokens < 100, "{tokens}");
    }
}
