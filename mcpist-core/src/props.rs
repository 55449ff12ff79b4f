//! Properties of the code that handles untrusted input, checked on random
//! inputs with proptest: the sealed envelope, upstream URLs built from
//! arguments, redaction, labels and tool-argument validation. Each runs a
//! few hundred cases, so the suite stays fast; the fuzz targets in `fuzz/`
//! run the same code for as long as one likes.

use std::sync::Arc;

use proptest::prelude::*;
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};
use url::Url;

use crate::{
    names::check_label,
    redact,
    seal::{MasterKey, Sealer},
    upstream::{Auth, StaticToken, TokenSource, Upstream},
};

/// The segments `Upstream::url` refuses: empty, and `.` or `..` also when
/// written with `%2e` (which a server could decode before routing).
fn refused(segment: &str) -> bool {
    let decoded = segment.to_ascii_lowercase().replace("%2e", ".");
    segment.is_empty() || decoded == "." || decoded == ".." || segment.contains(char::is_control)
}

fn sealer() -> Sealer {
    Sealer::new(MasterKey::generate().expect("a key"))
}

/// Any JSON value, nested a few levels, strings of any characters.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    // Arbitrary bytes never open (and never panic): only a sealed envelope does.
    #[test]
    fn arbitrary_bytes_never_open(envelope in prop::collection::vec(any::<u8>(), 0..200),
                                  aad in prop::collection::vec(any::<u8>(), 0..40)) {
        prop_assert!(sealer().open(&aad, &envelope, "fuzz").is_err());
        prop_assert!(Sealer::envelope_key_id(&envelope).is_none() || envelope.len() >= 29);
    }

    // Seal then open returns exactly the input; any flipped bit, a cut, or
    // another record's AAD is refused.
    #[test]
    fn sealed_values_round_trip_and_every_tamper_is_refused(
        plaintext in prop::collection::vec(any::<u8>(), 0..300),
        aad in prop::collection::vec(any::<u8>(), 0..40),
        other_aad in prop::collection::vec(any::<u8>(), 0..40),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
        cut in any::<prop::sample::Index>(),
    ) {
        let s = sealer();
        let sealed = s.seal(&aad, &plaintext).unwrap();
        prop_assert_eq!(&s.open(&aad, &sealed, "r").unwrap()[..], &plaintext[..]);
        let mut flipped = sealed.clone();
        let at = flip.index(flipped.len());
        flipped[at] ^= 1 << bit;
        prop_assert!(s.open(&aad, &flipped, "r").is_err(), "bit {bit} of byte {at}");
        let short = &sealed[..cut.index(sealed.len())];
        prop_assert!(s.open(&aad, short, "r").is_err());
        if other_aad != aad {
            prop_assert!(s.open(&other_aad, &sealed, "r").is_err());
        }
        // Another key never opens it either.
        prop_assert!(sealer().open(&aad, &sealed, "r").is_err());
    }

    // No argument ever escapes its path segment: the URL keeps the base's
    // scheme, host, port and path prefix, has exactly one segment per
    // argument, and each decodes back to the argument.
    #[test]
    fn each_argument_stays_one_segment_under_the_base(
        segments in prop::collection::vec(
            prop_oneof![
                ".{0,24}",
                Just("..".to_owned()), Just(".".to_owned()), Just("%2e%2e".to_owned()),
                Just("../../users/me".to_owned()), Just("a?x=1#f".to_owned()),
                Just("\\..\\".to_owned()), Just("\u{ff0e}\u{ff0e}".to_owned()),
                Just("a\r\nb\0".to_owned()), Just("@evil.example".to_owned()),
            ],
            1..5,
        ),
        base in prop_oneof![
            Just("https://api.example.com/v1"),
            Just("https://api.example.com/v1/"),
            Just("http://127.0.0.1:8080/api/v3"),
            Just("https://api.example.com"),
        ],
    ) {
        let base_url = Url::parse(base).unwrap();
        let upstream = Upstream::new(
            "svc",
            None,
            base_url.clone(),
            reqwest::Client::new(),
            Auth::Bearer,
            Some(Arc::new(StaticToken("t".to_owned().into())) as Arc<dyn TokenSource>),
        );
        let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match upstream.url(&refs) {
            Ok(url) => {
                prop_assert!(!segments.iter().any(|s| refused(s)));
                prop_assert_eq!(url.scheme(), base_url.scheme());
                prop_assert_eq!(url.host_str(), base_url.host_str());
                prop_assert_eq!(url.port(), base_url.port());
                prop_assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
                let prefix: Vec<&str> = base_url.path_segments().unwrap().filter(|s| !s.is_empty()).collect();
                let got: Vec<String> = url
                    .path_segments()
                    .unwrap()
                    .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
                    .collect();
                prop_assert_eq!(got.len(), prefix.len() + segments.len(), "{}", url);
                prop_assert_eq!(&got[..prefix.len()], &prefix.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]);
                prop_assert_eq!(&got[prefix.len()..], &segments[..]);
            }
            Err(_) => prop_assert!(segments.iter().any(|s| refused(s))),
        }
    }

    // Redaction leaves no form of a secret (as is, JSON-escaped, Debug-escaped,
    // percent- or form-encoded) anywhere in the text, whatever surrounds it.
    #[test]
    fn redaction_leaves_no_form_of_the_secret(
        secret in ".{8,24}",
        before in ".{0,20}",
        after in ".{0,20}",
        form in any::<prop::sample::Index>(),
    ) {
        let forms = redact::forms(&secret);
        let planted = &forms[form.index(forms.len())];
        let mut text = format!("{before}{planted}{after}{secret}");
        redact::secret(&mut text, &secret);
        for f in &forms {
            prop_assert!(!text.contains(f.as_str()), "{f:?} left in {text:?}");
        }
        let mut value = json!({ "a": [format!("{before}{planted}{after}")], planted.clone(): 1 });
        redact::secret_in_json(&mut value, &secret);
        let mut strings: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        strings.push(value["a"][0].as_str().unwrap().to_owned());
        for s in &strings {
            prop_assert!(!forms.iter().any(|f| s.contains(f.as_str())), "{s:?}");
        }
    }

    // Accepted labels are exactly the documented grammar; the error never
    // echoes the value.
    #[test]
    fn labels_follow_the_grammar_and_errors_never_echo(label in ".{0,80}") {
        match check_label("account", &label) {
            Ok(()) => {
                prop_assert!(!label.is_empty() && label.len() <= 64);
                prop_assert!(label.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)));
            }
            Err(e) => {
                if label.len() >= 3 {
                    prop_assert!(!e.to_string().contains(label.as_str()));
                }
            }
        }
    }

    // Tool arguments of any shape against a schema of every type: the
    // validator never panics, agrees with the schema, and its message stays
    // short even for a 1 MB string.
    #[test]
    fn argument_validation_accepts_what_the_schema_accepts_and_stays_short(
        args in prop::collection::btree_map(
            prop_oneof![Just("state".to_owned()), Just("draft".to_owned()), Just("labels".to_owned()),
                        Just("body".to_owned()), Just("page_size".to_owned()), Just("meta".to_owned()), ".{0,8}"],
            any_json(),
            0..7,
        ),
        huge in any::<bool>(),
    ) {
        let schema = json!({
            "type": "object",
            "properties": {
                "state": {"type": "string", "enum": ["open", "closed", "all"]},
                "draft": {"type": "boolean"},
                "labels": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                "body": {"type": "string", "maxLength": 65536},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 100},
                "meta": {"type": "object", "properties": {"k": {"type": "string"}}, "additionalProperties": false},
            },
            "required": ["state"],
            "additionalProperties": false,
        });
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut args: Map<String, Value> = args.into_iter().collect();
        if huge {
            args.insert("body".into(), Value::String("x".repeat(1 << 20)));
        }
        let verdict = crate::server::validate_for_props(&validator, &args);
        prop_assert_eq!(verdict.is_ok(), validator.is_valid(&Value::Object(args.clone())));
        if let Err(message) = verdict {
            prop_assert!(!message.is_empty());
            prop_assert!(message.len() <= 5 * 400, "{} bytes", message.len());
            prop_assert!(!message.contains(&"x".repeat(300)));
        }
    }
}

// Found by the property above: `url` pushed "a\r\nb" and the URL parser
// dropped the line break, so the upstream was asked for "ab", another id.
#[test]
fn an_argument_with_a_line_break_is_refused_not_changed() {
    let upstream = Upstream::new(
        "svc",
        None,
        Url::parse("https://api.example.com/v1").unwrap(),
        reqwest::Client::new(),
        Auth::Bearer,
        None,
    );
    for bad in ["octo\ncat", "octo\r\ncat", "octo\tcat", "a\0b"] {
        let err = upstream.url(&["users", bad]).unwrap_err();
        assert!(err.to_string().contains("not a valid name or id"), "{err}");
    }
    assert_eq!(
        upstream.url(&["users", "octocat"]).unwrap().as_str(),
        "https://api.example.com/v1/users/octocat"
    );
}

// Found by `fuzz/redact`: a secret that begins where the marker ends
// ("REDACTED]…") was replaced, and the marker with the text after it spelled
// the secret again.
#[test]
fn a_secret_the_marker_would_complete_is_still_removed() {
    let secret = "REDACTED]\u{fffd}";
    let mut text = "\u{fffd}\u{fffd}\u{fffd}REDACTED]\u{fffd}\u{fffd}\u{fffd}\u{fffd}".to_owned();
    assert!(redact::secret(&mut text, secret));
    assert!(!text.contains(secret), "{text:?}");
    let mut value = json!(["xxREDACTED]\u{fffd}\u{fffd}"]);
    assert!(redact::secret_in_json(&mut value, secret));
    assert!(!value.to_string().contains(secret), "{value}");
    // Found next: a secret inside the marker itself.
    let mut text = "say [REDACTED here".to_owned();
    assert!(redact::secret(&mut text, "[REDACTED"));
    assert!(!text.contains("[REDACTED"), "{text:?}");
}

#[test]
fn a_static_token_source_hands_out_its_token() {
    // The URL property above builds its upstream with one; keep it honest.
    let source = StaticToken("t0k3n".to_owned().into());
    assert_eq!(source.current().expose_secret(), "t0k3n");
}
