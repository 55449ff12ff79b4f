//! A configured service: a connector built from its config table, with the
//! keys every connector shares (policy, `oauth`, `route`, timeouts) taken out
//! first and applied by core.

use std::sync::Arc;

use serde_json::Value;

use crate::{
    Result,
    connector::{Connector, Registration, UpstreamSettings},
    exchanger::Routing,
    oauth::{OAuthOverrides, OAuthSpec},
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
    pub fn from_config(registration: &Registration, mut table: Value) -> Result<Self> {
        let name = registration.service;
        let policy = ServicePolicy::take_from(name, &mut table)?;
        let oauth = OAuthOverrides::take_from(name, &mut table)?;
        let routing = Routing::take_from(name, &mut table)?;
        let upstream = UpstreamSettings::take_from(name, &mut table)?;
        let connector = (registration.build)(table)?;
        let oauth = connector
            .oauth()
            .map(|spec| oauth.apply(name, spec))
            .transpose()?;
        Ok(Self {
            connector,
            policy,
            oauth,
            routing,
            upstream,
        })
    }
}
