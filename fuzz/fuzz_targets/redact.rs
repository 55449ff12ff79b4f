//! Redaction: after a secret is redacted from text (the input split at the
//! first 0xFF: secret, then text), no form of it is left.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcpist_core::redact;

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|b| *b == 0xFF) else {
        return;
    };
    let secret = String::from_utf8_lossy(&data[..split]).into_owned();
    let rest = String::from_utf8_lossy(&data[split + 1..]).into_owned();
    if secret.len() < 8 {
        return;
    }
    let forms = redact::forms(&secret);
    let mut text = format!("{rest}{}{rest}", forms[data.len() % forms.len()]);
    assert!(redact::secret(&mut text, &secret));
    for form in &forms {
        assert!(!text.contains(form.as_str()), "{form:?} left in {text:?}");
    }
});
