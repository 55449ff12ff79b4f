//! Notion blocks to Markdown and back: the form a model reads and writes best.
//!
//! Supported both ways: paragraphs, headings 1–3, bulleted, numbered and to-do
//! list items, quotes, code blocks, dividers, and inline bold, italic, code,
//! strikethrough and links. Other blocks render as a short placeholder that
//! names their type, so nothing disappears silently. Markup characters in
//! plain text are escaped with a backslash (`\*`), both ways, so a page's text
//! read and written back keeps its text and styling.

use serde_json::{Value, json};

/// Notion's limit on the text of one rich-text object.
const MAX_TEXT: usize = 2000;

/// The characters that are markup in inline text; plain text escapes them
/// with a backslash, and [`md_to_rich_text`] reads `\c` as a plain `c`.
const ESCAPED: &[char] = &['\\', '*', '_', '`', '~', '['];

/// Renders `text` (a rich-text array) as inline Markdown.
///
/// The markers toggle styles, as [`md_to_rich_text`] reads them: between two
/// runs only the styles that change are toggled (so the markers of adjacent
/// runs never touch and read as another marker), and markup characters in
/// plain text are escaped. A page's text read and written back is the same.
pub(super) fn rich_text_to_md(text: &Value) -> String {
    let mut out = String::new();
    let mut open = [false; 3];
    for part in text.as_array().into_iter().flatten() {
        let plain = part
            .get("plain_text")
            .or_else(|| part.pointer("/text/content"))
            .and_then(Value::as_str)
            .unwrap_or("");
        if plain.is_empty() {
            continue;
        }
        let a = &part["annotations"];
        let on = |k: &str| a.get(k).and_then(Value::as_bool).unwrap_or(false);
        toggle_styles(
            &mut out,
            &mut open,
            [on("bold"), on("italic"), on("strikethrough")],
        );
        let link = part
            .get("href")
            .and_then(Value::as_str)
            .or_else(|| part.pointer("/text/link/url").and_then(Value::as_str));
        match link {
            // A link's label is read as it stands, without markup.
            Some(url) => {
                out.push('[');
                out.push_str(plain);
                out.push_str("](");
                out.push_str(url);
                out.push(')');
            }
            // Code cannot hold a backtick; such a run keeps its text, as plain.
            None if on("code") && !plain.contains('`') => {
                out.push('`');
                out.push_str(plain);
                out.push('`');
            }
            None => escape_into(&mut out, plain),
        }
    }
    toggle_styles(&mut out, &mut open, [false; 3]);
    out
}

/// Writes the markers that turn the `open` styles (bold, italic,
/// strikethrough) into `want`.
fn toggle_styles(out: &mut String, open: &mut [bool; 3], want: [bool; 3]) {
    for (i, marker) in ["**", "*", "~~"].into_iter().enumerate() {
        if open[i] != want[i] {
            out.push_str(marker);
            open[i] = want[i];
        }
    }
}

/// Writes `plain` with its markup characters escaped. An underscore inside
/// a word (`snake_case`) is not markup and stays as it is.
fn escape_into(out: &mut String, plain: &str) {
    let mut previous = None;
    for c in plain.chars() {
        let in_word = c == '_' && previous.is_some_and(char::is_alphanumeric);
        if ESCAPED.contains(&c) && !in_word {
            out.push('\\');
        }
        out.push(c);
        previous = Some(c);
    }
}

/// Renders one block (and, indented, its already-fetched `children`) as Markdown lines.
pub(super) fn block_to_md(block: &Value, children: &[Value], depth: usize, out: &mut String) {
    let kind = block
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("unsupported");
    let data = &block[kind];
    let text = rich_text_to_md(&data["rich_text"]);
    let indent = "  ".repeat(depth);
    let line = match kind {
        "paragraph" => text,
        "heading_1" => format!("# {text}"),
        "heading_2" => format!("## {text}"),
        "heading_3" => format!("### {text}"),
        "bulleted_list_item" => format!("- {text}"),
        "numbered_list_item" => format!("1. {text}"),
        "to_do" => {
            let done = data
                .get("checked")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            format!("- [{}] {text}", if done { "x" } else { " " })
        }
        "toggle" => format!("- {text}"),
        "quote" => format!("> {text}"),
        "callout" => format!("> {text}"),
        "divider" => "---".to_owned(),
        "code" => {
            let language = data.get("language").and_then(Value::as_str).unwrap_or("");
            let plain: String = data["rich_text"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("plain_text").or_else(|| p.pointer("/text/content")))
                .filter_map(Value::as_str)
                .collect();
            let body = plain.replace('\n', &format!("\n{indent}"));
            format!("```{language}\n{indent}{body}\n{indent}```")
        }
        "child_page" => format!(
            "[page: {}] (id {})",
            data.get("title").and_then(Value::as_str).unwrap_or(""),
            block.get("id").and_then(Value::as_str).unwrap_or("")
        ),
        "child_database" => format!(
            "[database: {}] (id {})",
            data.get("title").and_then(Value::as_str).unwrap_or(""),
            block.get("id").and_then(Value::as_str).unwrap_or("")
        ),
        "image" | "file" | "pdf" | "video" => {
            let url = data
                .pointer("/external/url")
                .or_else(|| data.pointer("/file/url"))
                .and_then(Value::as_str)
                .unwrap_or("");
            format!("![{kind}]({url})")
        }
        "bookmark" | "embed" | "link_preview" => {
            let url = data.get("url").and_then(Value::as_str).unwrap_or("");
            format!("<{url}>")
        }
        "equation" => format!(
            "$${}$$",
            data.get("expression").and_then(Value::as_str).unwrap_or("")
        ),
        other => format!("[{other} block]"),
    };
    out.push_str(&indent);
    out.push_str(&line);
    out.push('\n');
    for child in children {
        let grandchildren = child
            .get("children")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        block_to_md(child, &grandchildren, depth + 1, out);
    }
}

/// Inputs longer than this are converted on a blocking thread, off the
/// runtime's workers (a conversion is linear, but a megabyte is milliseconds).
const OFF_THREAD_BYTES: usize = 64 * 1024;

/// Runs `convert` on `text`: inline when it is short, on a blocking thread
/// when it is longer than [`OFF_THREAD_BYTES`].
pub(super) async fn convert<T: Send + 'static>(
    text: String,
    convert: fn(&str) -> T,
) -> mcpist_core::Result<T> {
    if text.len() <= OFF_THREAD_BYTES {
        return Ok(convert(&text));
    }
    tokio::task::spawn_blocking(move || convert(&text))
        .await
        .map_err(|e| mcpist_core::Error::other("notion markdown", e))
}

/// Splits inline Markdown into Notion rich-text objects.
pub(super) fn md_to_rich_text(text: &str) -> Vec<Value> {
    md_to_rich_text_counted(text).0
}

/// The next link's `](` and `)` from some position on, found once and reused
/// by every `[` before them, so that text of many `[` is read once, not once
/// per `[` (which was quadratic).
#[derive(Clone, Copy)]
enum NextLink {
    /// Not looked for beyond this byte yet.
    Unknown,
    /// `](` at `close`, then `)` at `end` (absolute byte offsets), and
    /// whether the URL between them has no whitespace.
    At {
        close: usize,
        end: usize,
        url_ok: bool,
    },
    /// No `](` followed by `)` from here to the end.
    None,
}

/// [`md_to_rich_text`], and how many bytes its link lookahead read (for tests
/// that it stays linear).
fn md_to_rich_text_counted(text: &str) -> (Vec<Value>, usize) {
    #[derive(Default, Clone, Copy)]
    struct Style {
        bold: bool,
        italic: bool,
        code: bool,
        strike: bool,
    }
    let mut parts: Vec<Value> = Vec::new();
    let push = |parts: &mut Vec<Value>, content: &str, style: Style, link: Option<&str>| {
        if content.is_empty() {
            return;
        }
        let chars: Vec<char> = content.chars().collect();
        for chunk in chars.chunks(MAX_TEXT) {
            let content: String = chunk.iter().collect();
            let mut text = json!({ "content": content });
            if let Some(url) = link {
                text["link"] = json!({ "url": url });
            }
            parts.push(json!({
                "type": "text",
                "text": text,
                "annotations": {
                    "bold": style.bold, "italic": style.italic, "code": style.code,
                    "strikethrough": style.strike, "underline": false, "color": "default"
                }
            }));
        }
    };
    let mut style = Style::default();
    let mut buf = String::new();
    let mut rest = text;
    let mut next_link = NextLink::Unknown;
    let mut scanned = 0;
    while let Some(c) = rest.chars().next() {
        let at = text.len() - rest.len();
        if style.code {
            if c == '`' {
                push(&mut parts, &buf, style, None);
                buf.clear();
                style.code = false;
                rest = &rest[1..];
            } else {
                buf.push(c);
                rest = &rest[c.len_utf8()..];
            }
            continue;
        }
        // An escaped markup character is plain text.
        if c == '\\'
            && let Some(next) = rest[1..].chars().next().filter(|n| ESCAPED.contains(n))
        {
            buf.push(next);
            rest = &rest[1 + next.len_utf8()..];
            continue;
        }
        // [label](url)
        if c == '[' {
            if matches!(next_link, NextLink::At { close, .. } if close < at) {
                next_link = NextLink::Unknown;
            }
            if let NextLink::Unknown = next_link {
                next_link = match rest.find("](") {
                    Some(close) => match rest[close + 2..].find(')') {
                        Some(end) => {
                            scanned += close + 2 + end + 1;
                            let (close, end) = (at + close, at + close + 2 + end);
                            NextLink::At {
                                close,
                                end,
                                url_ok: !text[close + 2..end].contains(char::is_whitespace),
                            }
                        }
                        None => {
                            scanned += rest.len();
                            NextLink::None
                        }
                    },
                    None => {
                        scanned += rest.len();
                        NextLink::None
                    }
                };
            }
            if let NextLink::At { close, end, url_ok } = next_link
                && url_ok
                && close > at + 1
            {
                let label = &text[at + 1..close];
                let url = &text[close + 2..end];
                push(&mut parts, &buf, style, None);
                buf.clear();
                push(&mut parts, label, style, Some(url));
                rest = &text[end + 1..];
                continue;
            }
        }
        let toggle = if rest.starts_with("**") {
            style.bold = !style.bold;
            2
        } else if rest.starts_with("~~") {
            style.strike = !style.strike;
            2
        } else if c == '`' {
            style.code = true;
            1
        } else if c == '*' || (c == '_' && !buf.ends_with(|p: char| p.is_alphanumeric())) {
            style.italic = !style.italic;
            1
        } else {
            0
        };
        if toggle > 0 {
            // Flush with the style the text before the marker had.
            let mut before = style;
            match toggle {
                2 if rest.starts_with("**") => before.bold = !before.bold,
                2 => before.strike = !before.strike,
                _ if c == '`' => before.code = false,
                _ => before.italic = !before.italic,
            }
            push(&mut parts, &buf, before, None);
            buf.clear();
            rest = &rest[toggle..];
        } else {
            buf.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    push(&mut parts, &buf, style, None);
    (parts, scanned)
}

fn text_block(kind: &str, text: &str) -> Value {
    json!({ "object": "block", "type": kind, kind: { "rich_text": md_to_rich_text(text) } })
}

/// Parses Markdown into Notion blocks (top level; nested lists are flattened).
pub(super) fn md_to_blocks(markdown: &str) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut lines = markdown.lines().peekable();
    let mut paragraph: Vec<&str> = Vec::new();
    let flush = |paragraph: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if !paragraph.is_empty() {
            blocks.push(text_block("paragraph", &paragraph.join(" ")));
            paragraph.clear();
        }
    };
    while let Some(raw) = lines.next() {
        let line = raw.trim_start();
        if let Some(language) = line.strip_prefix("```") {
            flush(&mut paragraph, &mut blocks);
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.trim_start().starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            let content = code.join("\n");
            let chars: Vec<char> = content.chars().collect();
            let rich_text: Vec<Value> = chars
                .chunks(MAX_TEXT)
                .map(|c| json!({"type": "text", "text": {"content": c.iter().collect::<String>()}}))
                .collect();
            let language = if language.trim().is_empty() {
                "plain text"
            } else {
                language.trim()
            };
            blocks.push(json!({"object": "block", "type": "code",
                "code": {"rich_text": rich_text, "language": language}}));
            continue;
        }
        if line.is_empty() {
            flush(&mut paragraph, &mut blocks);
            continue;
        }
        let block = if let Some(t) = line.strip_prefix("### ") {
            Some(text_block("heading_3", t))
        } else if let Some(t) = line.strip_prefix("## ") {
            Some(text_block("heading_2", t))
        } else if let Some(t) = line.strip_prefix("# ") {
            Some(text_block("heading_1", t))
        } else if let Some(t) = line
            .strip_prefix("- [ ] ")
            .or_else(|| line.strip_prefix("* [ ] "))
        {
            let mut b = text_block("to_do", t);
            b["to_do"]["checked"] = json!(false);
            Some(b)
        } else if let Some(t) = line
            .strip_prefix("- [x] ")
            .or_else(|| line.strip_prefix("- [X] "))
            .or_else(|| line.strip_prefix("* [x] "))
        {
            let mut b = text_block("to_do", t);
            b["to_do"]["checked"] = json!(true);
            Some(b)
        } else if let Some(t) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
            Some(text_block("bulleted_list_item", t))
        } else if let Some(t) = line.strip_prefix("> ") {
            Some(text_block("quote", t))
        } else if line == "---" || line == "***" {
            Some(json!({"object": "block", "type": "divider", "divider": {}}))
        } else if let Some((number, t)) = line.split_once(". ")
            && !number.is_empty()
            && number.chars().all(|c| c.is_ascii_digit())
        {
            Some(text_block("numbered_list_item", t))
        } else {
            None
        };
        match block {
            Some(block) => {
                flush(&mut paragraph, &mut blocks);
                blocks.push(block);
            }
            None => paragraph.push(line),
        }
    }
    flush(&mut paragraph, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_round_trips_through_blocks() {
        let md = "# Title\n\nSome **bold** and *italic* with `code` and a [link](https://example.com).\n\n- one\n- two\n1. first\n- [x] done\n- [ ] todo\n> quoted\n---\n```rust\nfn main() {}\n```\n";
        let blocks = md_to_blocks(md);
        let kinds: Vec<_> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "heading_1",
                "paragraph",
                "bulleted_list_item",
                "bulleted_list_item",
                "numbered_list_item",
                "to_do",
                "to_do",
                "quote",
                "divider",
                "code"
            ]
        );
        let mut back = String::new();
        for b in &blocks {
            block_to_md(b, &[], 0, &mut back);
        }
        assert!(back.contains("# Title"), "{back}");
        assert!(
            back.contains(
                "Some **bold** and *italic* with `code` and a [link](https://example.com)."
            ),
            "{back}"
        );
        assert!(
            back.contains("- [x] done") && back.contains("- [ ] todo"),
            "{back}"
        );
        assert!(back.contains("```rust\nfn main() {}\n```"), "{back}");
    }

    #[test]
    fn long_text_is_split_at_notions_limit() {
        let long = "a".repeat(4500);
        let parts = md_to_rich_text(&long);
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0]["text"]["content"].as_str().unwrap().len(), 2000);
    }

    #[test]
    fn links_are_found_as_before() {
        let parts = md_to_rich_text("[a] [b](x y) [c](https://c.example) [d](e");
        let links: Vec<_> = parts
            .iter()
            .filter_map(|p| {
                let url = p.pointer("/text/link/url")?.as_str()?;
                Some((p["text"]["content"].as_str()?.to_owned(), url.to_owned()))
            })
            .collect();
        assert_eq!(links, [("c".to_owned(), "https://c.example".to_owned())]);
        let text: String = parts
            .iter()
            .map(|p| p["text"]["content"].as_str().unwrap())
            .collect();
        assert_eq!(text, "[a] [b](x y) c [d](e");
    }

    #[test]
    fn a_megabyte_of_brackets_converts_and_the_lookahead_reads_each_byte_once() {
        let brackets = "[".repeat(1 << 20);
        let (parts, scanned) = md_to_rich_text_counted(&brackets);
        let content: usize = parts
            .iter()
            .map(|p| p["text"]["content"].as_str().unwrap().len())
            .sum();
        assert_eq!(content, 1 << 20);
        assert!(scanned <= brackets.len(), "{scanned} bytes read");
        // Linear in the input: ten times the text, at most ten times the work.
        for unit in ["[", "[x](", "[a](b c) [", "]( [ "] {
            let work = |n: usize| md_to_rich_text_counted(&unit.repeat(n)).1;
            let (small, large) = (work(2_000), work(20_000));
            assert!(
                large <= 10 * small.max(unit.len() * 2_000),
                "{unit:?}: {small} then {large} bytes read"
            );
        }
    }

    /// Plain text with markup characters, and runs whose markers would
    /// touch, read back as written.
    #[test]
    fn text_and_styles_read_back_as_written() {
        let run = |content: &str, bold: bool, italic: bool, code: bool| {
            json!({"type": "text", "text": {"content": content}, "annotations": {
                "bold": bold, "italic": italic, "code": code, "strikethrough": false,
                "underline": false, "color": "default"}})
        };
        let runs = json!([
            run(
                "5 * 3 = 15, ~x~ [not a link](y) a\\b _c_ `d` ",
                false,
                false,
                false
            ),
            run("it", false, true, false),
            run("both", true, true, false),
            run("code", false, false, true),
            run("end", true, false, false),
        ]);
        let back = md_to_rich_text(&rich_text_to_md(&runs));
        assert_eq!(Value::Array(back), runs);
    }

    #[test]
    fn snake_case_words_are_not_italic() {
        let parts = md_to_rich_text("use snake_case_names here");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0]["text"]["content"], "use snake_case_names here");
    }
}
