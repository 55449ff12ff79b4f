//! A configured service: a connector built from its config table, with the
//! keys every connector shares (policy, `oauth`, `route`, timeouts) taken out
//! first and applied by core.

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Map, Value};

use crate::{
    Error, Result,
    connector::{Connector, Registration},
    oauth::{ClientAuthMethod, OAuthOverrides, OAuthSpec},
    policy::ServicePolicy,
    upstream::UpstreamSettings,
};

/// Routing rules of one service: argument name → argument value → account.
///
/// ```toml
/// [connectors.github.route.owner]
/// acme = "work"          # github_* tools with owner = "acme" use account "work"
/// my-login = "personal"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Routing(BTreeMap<String, BTreeMap<String, String>>);

impl Routing {
    /// Takes the `route` table out of a connector's config table.
    pub fn take_from(service: &str, table: &mut Value) -> Result<Self> {
        let Some(raw) = table.as_object_mut().and_then(|t| t.remove("route")) else {
            return Ok(Self::default());
        };
        let routing: Self = serde_json::from_value(raw).map_err(|e| {
            Error::config(
                service.to_owned(),
                format!("route: {e}; expected tables like [connectors.{service}.route.owner] with value = \"account\""),
            )
        })?;
        for accounts in routing.0.values() {
            for account in accounts.values() {
                crate::names::check_label("route account", account)
                    .map_err(|e| Error::config(service.to_owned(), format!("route: {e}")))?;
            }
        }
        Ok(routing)
    }

    /// The account a rule assigns to these arguments (values compared
    /// case-insensitively), if any.
    pub fn account_for(&self, args: &Map<String, Value>) -> Option<&str> {
        self.0.iter().find_map(|(arg, rules)| {
            let value = args.get(arg)?.as_str()?;
            rules
                .iter()
                .find(|(v, _)| v.eq_ignore_ascii_case(value))
                .map(|(_, account)| account.as_str())
        })
    }
}

/// One connector and what its config table says around it.
#[derive(Debug, Clone)]
pub struct Service {
    /// The connector.
    pub connector: Arc<dyn Connector>,
    /// Which of its tools exist.
    pub policy: ServicePolicy,
    /// Its OAuth endpoints after overrides, if it supports login.
    pub oauth: Option<OAuthSpec>,
    /// Which account serves which arguments.
    pub routing: Routing,
    /// Timeouts and retries of its upstream requests.
    pub upstream: UpstreamSettings,
}

impl Service {
    /// Builds `registration`'s connector from `table` (its `[connectors.NAME]`
    /// table, or `Value::Null`): policy keys, `oauth`, `route`, `timeout_secs`,
    /// `max_retry_wait_secs` and `max_retries` are taken out and the rest is
    /// the connector's own. Errors name the connector and the key.
    pub fn from_config(registration: &Registration, table: Value) -> Result<Self> {
        Self::from_table(registration.service, table, registration.build)
    }

    /// Like [`Self::from_config`], for a connector that `build` makes from
    /// the rest of `table` (a connector defined in the config file itself).
    pub fn from_table(
        name: &str,
        mut table: Value,
        build: impl FnOnce(Value) -> Result<Arc<dyn Connector>>,
    ) -> Result<Self> {
        let name = name.to_owned();
        let name = name.as_str();
        let policy = ServicePolicy::take_from(name, &mut table)?;
        let oauth = OAuthOverrides::take_from(name, &mut table)?;
        let routing = Routing::take_from(name, &mut table)?;
        let upstream = UpstreamSettings::take_from(name, &mut table)?;
        let connector = build(table)?;
        let service = connector.service();
        let oauth = match connector.oauth() {
            Some(spec) => Some(oauth.apply(service, spec)?),
            // A connector without OAuth defaults (one defined in the config
            // file) gets them all from its `oauth` table.
            None if oauth.authorize_url.is_some() && oauth.token_url.is_some() => {
                let blank = OAuthSpec {
                    authorize_url: String::new(),
                    token_url: String::new(),
                    scopes: Vec::new(),
                    extra_authorize_params: Vec::new(),
                    client_auth: ClientAuthMethod::Body,
                };
                Some(oauth.apply(service, blank)?)
            }
            None if oauth != OAuthOverrides::default() => {
                return Err(Error::config(
                    service,
                    "oauth: this connector has no OAuth defaults; give authorize_url and token_url",
                ));
            }
            None => None,
        };
        Ok(Self {
            connector,
            policy,
            oauth,
            routing,
            upstream,
        })
    }
}
