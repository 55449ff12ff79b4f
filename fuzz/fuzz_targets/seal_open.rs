//! The sealed envelope: opening any bytes never panics and never succeeds
//! (only a sealed value opens), and sealing the input opens back to it,
//! while a flipped bit is refused.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcpist_core::seal::{MasterKey, Sealer};

fn sealer() -> &'static Sealer {
    static SEALER: OnceLock<Sealer> = OnceLock::new();
    SEALER.get_or_init(|| Sealer::new(MasterKey::generate().expect("a key")))
}

fuzz_target!(|data: &[u8]| {
    let s = sealer();
    let (aad, body) = data.split_at(data.len().min(8));
    assert!(s.open(aad, body, "fuzz").is_err(), "forged envelope opened");
    let sealed = s.seal(aad, body).expect("seal");
    assert_eq!(&s.open(aad, &sealed, "fuzz").expect("round trip")[..], body);
    let mut flipped = sealed.clone();
    let at = data.first().map_or(0, |b| *b as usize) % flipped.len();
    flipped[at] ^= 0x01;
    assert!(
        s.open(aad, &flipped, "fuzz").is_err(),
        "flipped byte {at} opened"
    );
});
