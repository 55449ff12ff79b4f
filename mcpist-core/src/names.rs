//! Every name rule in one place: tool names, service names, account labels
//! and the header or query names a connector sends its credential under.
//!
//! Two character sets exist:
//!
//! - **Tool names** (MCP's `^[a-zA-Z0-9_-]{1,64}$`): a tool is exposed as
//!   `{service}_{tool}`, and the whole name must match. The part a connector
//!   declares ([`check_tool_part`]) uses the same characters.
//! - **Labels** (`[A-Za-z0-9_.-]{1,64}`, starting with a letter or digit):
//!   the two halves of an account key (service and account label), safe in
//!   file names, URLs, headers and log lines ([`check_label`]).
//!
//! A connector's service name is both: a label without `.`
//! ([`check_service`]), so that it can prefix tool names.
//!
//! Errors never echo a value that could hold control characters, except
//! tool names, which only come from code or the config file.

use crate::{Error, Result};

/// Longest tool name MCP clients accept, and longest label.
pub const MAX_LEN: usize = 64;

/// Whether `c` may appear in a tool name (and in a credential header or
/// query parameter name).
fn is_tool_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Whether `name` matches `^[a-zA-Z0-9_-]{1,64}$`, the rule for the full,
/// prefixed name of a tool.
pub fn is_tool_name(name: &str) -> bool {
    (1..=MAX_LEN).contains(&name.len()) && name.chars().all(is_tool_char)
}

/// The full, prefixed tool name `{service}_{tool}`.
pub fn tool_name(service: &str, tool: &str) -> String {
    format!("{service}_{tool}")
}

/// Checks the full, prefixed name of a tool against `^[a-zA-Z0-9_-]{1,64}$`.
pub fn check_tool_name(name: &str) -> Result<()> {
    if is_tool_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidArguments(format!(
            "tool name {name:?} must match ^[a-zA-Z0-9_-]{{1,64}}$"
        )))
    }
}

/// Checks the part of a tool name a connector declares (before the server
/// prefixes the service): the same characters as a full tool name, so that
/// `{service}_{tool}` passes [`check_tool_name`] when it is short enough.
pub fn check_tool_part(what: &str, name: &str) -> Result<()> {
    if is_tool_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidArguments(format!(
            "{what} must be 1-64 characters of letters, digits, '_' or '-'"
        )))
    }
}

/// Whether `name` is a non-empty run of letters, digits, `-` and `_`: the
/// rule for the header or query parameter name a credential is sent under.
pub fn is_token_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(is_tool_char)
}

/// Checks a service name or account label: 1–64 characters of
/// `[A-Za-z0-9_.-]` starting with a letter or digit. The error never echoes
/// the value, which could hold control characters.
pub fn check_label(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_LEN
        && value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArguments(format!(
            "{what} must be 1-64 characters of letters, digits, '_', '-' or '.', starting with a letter or digit"
        )))
    }
}

/// Checks the name of a service a connector serves: a label
/// ([`check_label`]) that is also safe as a tool-name prefix, so no `.`
/// (`{service}_{tool}` must pass [`check_tool_name`]).
pub fn check_service(what: &str, name: &str) -> Result<()> {
    check_label(what, name)?;
    if name.contains('.') {
        return Err(Error::InvalidArguments(format!(
            "{what} must be 1-64 characters of letters, digits, '_' or '-', starting with a letter or digit"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_part_passes_only_when_the_prefixed_name_can_pass() {
        // `get.task` is a fine label but no tool name: the one rule for the
        // part a connector declares must refuse it, as the server would.
        assert!(check_label("tool name", "get.task").is_ok());
        assert!(check_tool_part("tool name", "get.task").is_err());
        assert!(check_tool_name(&tool_name("todo", "get.task")).is_err());
        for good in ["get_task", "list-tasks", "A1"] {
            assert!(check_tool_part("tool name", good).is_ok(), "{good}");
            assert!(check_tool_name(&tool_name("todo", good)).is_ok(), "{good}");
        }
        for bad in ["", "a b", "é", "a/b", &"x".repeat(65)] {
            assert!(check_tool_part("tool name", bad).is_err(), "{bad:?}");
        }
        assert!(check_tool_name(&"x".repeat(64)).is_ok());
        assert!(check_tool_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_service_name_is_a_label_that_can_prefix_a_tool() {
        assert!(check_label("connector name", "to.do").is_ok());
        assert!(check_service("connector name", "to.do").is_err());
        assert!(check_service("connector name", "-todo").is_err());
        assert!(check_service("connector name", "my-todo_2").is_ok());
    }

    #[test]
    fn labels_start_with_a_letter_or_digit_and_never_echo_the_value() {
        for good in ["work", "a.b-c_d", "9", &"x".repeat(64)] {
            assert!(check_label("account label", good).is_ok(), "{good}");
        }
        for bad in ["", ".a", "-a", "a b", "a/b", "a\nb", &"x".repeat(65)] {
            let err = check_label("account label", bad).unwrap_err().to_string();
            assert!(err.contains("account label must be"), "{err}");
            assert!(bad.is_empty() || !err.contains(bad), "{err}");
        }
    }

    #[test]
    fn credential_header_names_are_letters_digits_dashes_and_underscores() {
        assert!(is_token_name("X-Api-Key"));
        assert!(is_token_name("api_key"));
        assert!(!is_token_name(""));
        assert!(!is_token_name("X Api"));
        assert!(!is_token_name("a:b"));
    }
}
