//! Submitted forms, whose values may be secrets.

use axum::body::Bytes;
use zeroize::{Zeroize, Zeroizing};

/// A submitted form's fields, in order (a name may repeat). Values may be
/// secrets (passwords, pasted tokens): they are wiped when the form drops.
pub(crate) struct Form(Vec<(String, Zeroizing<String>)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                .collect(),
        )
    }

    /// The form in `body`, which is wiped once parsed.
    pub(crate) fn parse_wiping(body: &mut [u8]) -> Self {
        let form = Self::parse(body);
        body.zeroize();
        form
    }

    /// The form of a request body that carries a password: the body's
    /// buffer is wiped after parsing when this handler holds the only
    /// reference to it (hyper may hold another, which it reuses).
    pub(crate) fn parse_secret(body: Bytes) -> Self {
        match body.try_into_mut() {
            Ok(mut bytes) => Self::parse_wiping(&mut bytes),
            Err(shared) => Self::parse(&shared),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").trim().to_owned()
    }

    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.to_string())
            .collect()
    }

    pub(crate) fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_forms_wipe_their_body() {
        let mut body = b"csrf=ab&password=hunter2-hunter2".to_vec();
        let form = Form::parse_wiping(&mut body);
        assert_eq!(form.get("password"), Some("hunter2-hunter2"));
        assert!(body.iter().all(|b| *b == 0), "{body:?}");
        let shared = Bytes::from_static(b"password=p");
        let again = Form::parse_secret(shared.clone());
        assert_eq!(again.get("password"), Some("p"), "a shared body is parsed");
    }

    #[test]
    fn forms_keep_repeated_fields() {
        let form = Form::parse(b"tool=a&tool=b&csrf=x%20y&empty=");
        assert_eq!(form.all("tool"), ["a", "b"]);
        assert_eq!(form.get("csrf"), Some("x y"));
        assert!(form.checked("empty"));
        assert!(!form.checked("missing"));
    }
}
