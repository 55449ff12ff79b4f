//! Properties of the path templates GitHub's reads and declarative
//! connectors share: whatever the arguments hold, each `{arg}` fills exactly
//! its own segment, and literals stay where the template put them.

use std::sync::Arc;

use mcpist_core::upstream::{Auth, StaticToken, TokenSource, Upstream};
use proptest::prelude::*;
use serde_json::{Map, Value};
use url::Url;

use crate::rest::{Segment, check, fill, segments};

/// A template segment: a literal name or an `{arg}`.
fn template_part() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9_-]{0,8}",
        "[a-z]{1,6}".prop_map(|a| format!("{{{a}}}")),
    ]
}

/// An argument value: anything, and the classic escapes.
fn argument() -> impl Strategy<Value = Value> {
    prop_oneof![
        ".{1,30}".prop_map(Value::String),
        any::<i64>().prop_map(Value::from),
        Just(Value::String("../../users/me".into())),
        Just(Value::String("..%2F..%2Fadmin".into())),
        Just(Value::String("a?x=1#frag".into())),
        Just(Value::String("\u{ff0e}\u{ff0e}/x".into())),
        Just(Value::String("@evil.example:444".into())),
        Just(Value::String("x".repeat(10_000))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_argument_fills_exactly_its_own_segment(
        parts in prop::collection::vec(template_part(), 1..6),
        values in prop::collection::vec(argument(), 6),
    ) {
        let template = parts.join("/");
        prop_assert!(check(&template, |_| Ok(())).is_ok());
        let names: Vec<&str> = segments(&template)
            .filter_map(|s| match s { Segment::Arg(a) => Some(a), Segment::Literal(_) => None })
            .collect();
        let args: Map<String, Value> = names
            .iter()
            .zip(values.iter().cycle())
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect();
        let filled = fill(&template, &args).unwrap();
        let base = Url::parse("https://api.example.com/api/v3").unwrap();
        let upstream = Upstream::new(
            "svc", None, base, reqwest::Client::new(), Auth::Bearer,
            Some(Arc::new(StaticToken("t".to_owned().into())) as Arc<dyn TokenSource>),
        );
        let refs: Vec<&str> = filled.iter().map(String::as_str).collect();
        let Ok(url) = upstream.url(&refs) else {
            // Refused only for a segment that would be dropped or resolved.
            prop_assert!(filled.iter().any(|s| s.is_empty() || s.contains(char::is_control)
                || matches!(s.to_ascii_lowercase().replace("%2e", ".").as_str(), "." | "..")));
            return Ok(());
        };
        prop_assert_eq!(url.host_str(), Some("api.example.com"));
        prop_assert!(url.query().is_none() && url.fragment().is_none());
        let got: Vec<String> = url.path_segments().unwrap()
            .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
            .collect();
        prop_assert_eq!(&got[..2], &["api".to_owned(), "v3".to_owned()][..]);
        prop_assert_eq!(got.len(), 2 + filled.len());
        for (segment, (got, part)) in segments(&template).zip(got[2..].iter().zip(&filled)) {
            match segment {
                Segment::Literal(l) => prop_assert_eq!(got, l),
                Segment::Arg(_) => prop_assert_eq!(got, part),
            }
        }
    }

    // A template a user writes with a `.`/`..` or a partial `{arg}` is refused.
    #[test]
    fn templates_with_dot_or_partial_arg_segments_are_refused(
        good in prop::collection::vec(template_part(), 0..3),
        bad in prop_oneof![Just(".".to_owned()), Just("..".to_owned()), "[a-z]{1,4}\\{[a-z]{1,4}\\}",
                           "\\{[a-z]{1,4}\\}[a-z]{1,4}", "[a-z]{1,3}\\}"],
    ) {
        let mut parts = good.clone();
        parts.push(bad);
        prop_assert!(check(&parts.join("/"), |_| Ok(())).is_err());
    }
}
