//! Properties of Notion's untrusted-input parsers: ids and URLs a model
//! passes, and Markdown it writes.

use proptest::prelude::*;
use serde_json::Value;

use super::{
    markdown::{block_to_md, md_to_blocks, md_to_rich_text, rich_text_to_md},
    tools::notion_id,
};

fn is_dashed_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && parts.iter().all(|p| {
            p.chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        })
}

/// Every text content in `blocks`, at any depth.
fn contents(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(c)) = map.get("content") {
                out.push(c.clone());
            }
            map.values().for_each(|v| contents(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| contents(v, out)),
        _ => {}
    }
}

fn to_md(blocks: &[Value]) -> String {
    let mut md = String::new();
    for b in blocks {
        block_to_md(b, &[], 0, &mut md);
    }
    md
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Whatever is passed, the id is either refused or a dashed lowercase
    // UUID: nothing else can reach the request path.
    #[test]
    fn any_input_is_refused_or_becomes_a_dashed_uuid(input in ".{0,120}") {
        if let Ok(id) = notion_id(&input) {
            prop_assert!(is_dashed_uuid(&id), "{id:?} from {input:?}");
        }
    }

    // The same id written in every accepted way names the same page.
    #[test]
    fn an_id_in_any_accepted_form_is_the_same_id(hex in "[0-9a-fA-F]{32}", title in "[A-Za-z0-9-]{0,20}") {
        let plain = notion_id(&hex).unwrap();
        let dashed = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
        prop_assert_eq!(&notion_id(&dashed).unwrap(), &plain);
        let url = format!("https://www.notion.so/acme/{title}-{hex}?pvs=4#frag");
        prop_assert_eq!(&notion_id(&url).unwrap(), &plain);
        prop_assert_eq!(&notion_id(&format!("  {hex}\n")).unwrap(), &plain);
        prop_assert_eq!(plain, hex.to_ascii_lowercase().chars().collect::<String>()
            .chars().enumerate().fold(String::new(), |mut s, (i, c)| {
                if [8, 12, 16, 20].contains(&i) { s.push('-'); }
                s.push(c);
                s
            }));
    }

    // Markdown -> blocks never panics and never exceeds Notion's 2,000-
    // character text limit, whatever the model writes.
    #[test]
    fn any_markdown_becomes_blocks_within_notions_limits(
        lines in prop::collection::vec(prop_oneof![
            ".{0,60}",
            "(#|##|###|-|1\\.|>|- \\[x\\]|- \\[ \\]) [a-z *_`~\\[\\]()]{0,40}",
            Just("```rust".to_owned()), Just("```".to_owned()), Just("---".to_owned()),
            Just("x".repeat(4100)),
        ], 0..12),
    ) {
        let blocks = md_to_blocks(&lines.join("\n"));
        let mut texts = Vec::new();
        contents(&Value::Array(blocks.clone()), &mut texts);
        prop_assert!(texts.iter().all(|t| t.chars().count() <= 2000));
        let _ = to_md(&blocks);
    }

    // Inline text of any markup round-trips: the runs read from what a
    // page's runs render as are those runs again, so a page read and written
    // back keeps its text and styling.
    #[test]
    fn inline_text_round_trips_stably(text in "[a-c _*`~\\[\\]()\\\\]{0,40}") {
        let once = md_to_rich_text(&rich_text_to_md(&Value::Array(md_to_rich_text(&text))));
        let twice = md_to_rich_text(&rich_text_to_md(&Value::Array(once.clone())));
        prop_assert_eq!(once, twice);
    }

    // The block structure round-trips: the blocks of the Markdown rendered
    // from blocks are those blocks again (text without inline markup; see
    // the ignored test below for what inline markup still does).
    #[test]
    fn block_structure_round_trips_stably(
        lines in prop::collection::vec(prop_oneof![
            "[A-Za-z0-9,.!? ]{0,60}",
            "(#|##|###|-|1\\.|>|- \\[x\\]|- \\[ \\]) [A-Za-z0-9 ]{1,40}",
            Just("```rust".to_owned()), Just("```".to_owned()), Just("---".to_owned()),
            Just("y".repeat(4100)),
        ], 0..12),
    ) {
        let once = md_to_blocks(&to_md(&md_to_blocks(&lines.join("\n"))));
        let twice = md_to_blocks(&to_md(&once));
        prop_assert_eq!(once, twice);
    }
}

// Found by the round-trip property with inline markup: adjacent runs
// rendered as `* *` + `*` + "` `" + `*`, and the touching `**` read back as
// bold, so a page read and written back changed its styling. Rendering now
// toggles only the styles that change between runs and escapes markup
// characters in plain text.
#[test]
fn inline_markup_round_trips_stably() {
    let once = md_to_blocks(&to_md(&md_to_blocks("# a~_ ` ")));
    let twice = md_to_blocks(&to_md(&once));
    assert_eq!(once, twice);
}
