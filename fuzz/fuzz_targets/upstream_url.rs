//! Upstream URLs built from arguments: each argument (the input split at
//! 0xFF bytes) is one path segment under the base, or the call is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcpist_core::upstream::{Auth, Upstream};
use url::Url;

/// One client for every input: building one per input is what a run would
/// measure otherwise.
fn upstream() -> &'static Upstream {
    static UPSTREAM: OnceLock<Upstream> = OnceLock::new();
    UPSTREAM.get_or_init(|| {
        Upstream::new(
            "svc",
            None,
            Url::parse("https://api.example.com/api/v3").unwrap(),
            reqwest::Client::new(),
            Auth::Bearer,
            None,
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let segments: Vec<String> = data
        .split(|b| *b == 0xFF)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    let upstream = upstream();
    let refs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if let Ok(url) = upstream.url(&refs) {
        assert_eq!(url.host_str(), Some("api.example.com"));
        assert!(url.query().is_none() && url.fragment().is_none(), "{url}");
        let got: Vec<String> = url
            .path_segments()
            .unwrap()
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(got.len(), 2 + segments.len(), "{url}");
        assert_eq!(&got[..2], ["api", "v3"]);
        assert_eq!(&got[2..], &segments[..], "{url}");
    }
});
