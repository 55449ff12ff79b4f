//! How the user fixes an account problem, worded by the program that embeds
//! core: core's messages name a [`Remedy`], and a [`Guide`] says how to do it
//! (the `mcpist` binary names its commands; [`PlainGuide`] names none).

use std::fmt;

/// Something the user can do to fix an account problem. Core says *what*;
/// the program that embeds it says *how*, through its [`Guide`] (the
/// `mcpist` binary names its commands).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remedy<'a> {
    /// Store a token as `account` of `service` (a first account when `None`).
    AddToken {
        /// The service.
        service: &'a str,
        /// The account label, if one is meant.
        account: Option<&'a str>,
    },
    /// Log in to `service` with OAuth as `account` (a first account when `None`).
    Login {
        /// The service.
        service: &'a str,
        /// The account label, if one is meant.
        account: Option<&'a str>,
    },
    /// Make one of `service`'s accounts its default.
    SetDefault {
        /// The service.
        service: &'a str,
    },
    /// Store the user's OAuth app (client id and secret) for `service`.
    SetApp {
        /// The service.
        service: &'a str,
    },
}

/// Words a [`Remedy`] as the means to it, which core's messages put after a
/// verb ("add it with …", "reconnect it with …"). Install one with
/// [`crate::Exchanger::with_guide`]; the default is [`PlainGuide`].
pub trait Guide: Send + Sync + fmt::Debug {
    /// The means to `remedy`, such as a command in backticks.
    fn means(&self, remedy: Remedy<'_>) -> String;
}

/// A [`Guide`] that names no program: for embedders without their own.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainGuide;

impl Guide for PlainGuide {
    fn means(&self, remedy: Remedy<'_>) -> String {
        match remedy {
            Remedy::AddToken {
                service,
                account: Some(account),
            } => format!("a token stored for account '{account}' of {service}"),
            Remedy::AddToken { service, .. } => format!("a token stored for {service}"),
            Remedy::Login {
                service,
                account: Some(account),
            } => format!("an OAuth login to {service} as account '{account}'"),
            Remedy::Login { service, .. } => format!("an OAuth login to {service}"),
            Remedy::SetDefault { service } => format!("a default account for {service}"),
            Remedy::SetApp { service } => {
                format!("the client id and secret of an OAuth app for {service}")
            }
        }
    }
}

/// A [`Guide`] that names the `mcpist` binary's commands: the binary's own
/// wording, and for programs (and tests) that send their users to it.
#[derive(Debug, Clone, Copy, Default)]
pub struct McpistCli;

impl Guide for McpistCli {
    fn means(&self, remedy: Remedy<'_>) -> String {
        match remedy {
            Remedy::AddToken {
                service,
                account: Some(account),
            } => format!("`mcpist accounts add {service} --account {account} --token-stdin`"),
            Remedy::AddToken { service, .. } => {
                format!("`mcpist accounts add {service} --token-stdin`")
            }
            Remedy::Login {
                service,
                account: Some(account),
            } => format!("`mcpist login {service} --account {account}`"),
            Remedy::Login { service, .. } => format!("`mcpist login {service}`"),
            Remedy::SetDefault { service } => {
                format!("`mcpist accounts default {service} LABEL`")
            }
            Remedy::SetApp { service } => {
                format!("`mcpist apps set {service} --client-id ID --client-secret-stdin`")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each remedy, with and without an account.
    fn every_remedy() -> [Remedy<'static>; 6] {
        [
            Remedy::AddToken {
                service: "github",
                account: Some("work"),
            },
            Remedy::AddToken {
                service: "github",
                account: None,
            },
            Remedy::Login {
                service: "github",
                account: Some("work"),
            },
            Remedy::Login {
                service: "github",
                account: None,
            },
            Remedy::SetDefault { service: "github" },
            Remedy::SetApp { service: "github" },
        ]
    }

    #[test]
    fn the_plain_guide_names_no_program() {
        for remedy in every_remedy() {
            let means = PlainGuide.means(remedy);
            assert!(means.contains("github"), "{means}");
            assert!(!means.contains("mcpist") && !means.contains('`'), "{means}");
        }
    }

    #[test]
    fn the_mcpist_guide_names_a_command_for_every_remedy() {
        for remedy in every_remedy() {
            let means = McpistCli.means(remedy);
            assert!(
                means.starts_with("`mcpist ") && means.contains("github"),
                "{means}"
            );
        }
        let with_account = McpistCli.means(Remedy::Login {
            service: "github",
            account: Some("work"),
        });
        assert_eq!(with_account, "`mcpist login github --account work`");
    }
}
