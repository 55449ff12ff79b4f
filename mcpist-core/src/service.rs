//! A configured service: a connector built from its config table, with the
//! keys every connector shares (policy, `oauth`, `route`, timeouts) taken out
//! first and applied by core.

use std::sync::Arc;

use serde_json::Value;

use crate::{
    Result,
    connector::{Connector, Registration, UpstreamSettings},
    exchanger::Routing,
    oauth::{ClientAuthMethod, OAuthOverrides, OAuthSpec},
    policy::ServicePolicy,
};

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
                return Err(crate::Error::config(
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
