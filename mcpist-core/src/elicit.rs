//! How a call that lacks an account reaches the client: a URL elicitation
//! when the client declared URL-mode elicitation (on 2025-11-25 the
//! `URLElicitationRequiredError`, -32042; on 2026-07-28 an
//! `InputRequiredResult` with a sealed `requestState`), else the `isError`
//! result naming the link and the commands.
//!
//! Only the rmcp shapes of [`crate::connect`]'s decision live here; the
//! server calls them.

use rmcp::{
    ErrorData, RoleServer,
    model::{
        CallToolResponse, CallToolResult, ElicitRequest, ElicitRequestParams, ErrorCode,
        InputRequest, InputRequests, InputRequiredResult, RequestStateCodec, SealOptions,
    },
    service::RequestContext,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Error, Result, connect::ConnectLink};

/// The JSON-RPC code of `URLElicitationRequiredError` (MCP 2025-11-25).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// What the client of one call can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Elicitation {
    /// Nothing: it gets the `isError` result.
    None,
    /// A 2025-11-25 client with URL elicitation: the -32042 error.
    UrlError,
    /// A 2026-07-28 client with URL elicitation: an input-required result.
    InputRequired,
}

impl Elicitation {
    /// What the client of this request declared (per request on 2026-07-28,
    /// at `initialize` before).
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Self {
        let url = context
            .client_capabilities()
            .and_then(|c| c.elicitation)
            .is_some_and(|e| e.url.is_some());
        if !url {
            return Self::None;
        }
        match context.protocol_version() {
            Some(v) if v.as_str() >= "2026-07-28" => Self::InputRequired,
            _ => Self::UrlError,
        }
    }
}

/// The `isError` text for an account error with the link that fixes it.
pub(crate) fn with_link(
    message: &str,
    link: Option<&ConnectLink>,
    exchanger: &crate::Exchanger,
) -> String {
    match link {
        None => message.to_owned(),
        Some(link) => format!(
            "{message}. To connect account '{}' of {}, open {} in a browser \
             (a one-time link, valid 10 minutes, behind the MCPist web UI login) \
             or use {}; then call the tool again",
            link.account,
            link.service,
            link.url,
            exchanger.connect_means(&link.service, &link.account)
        ),
    }
}

/// What a sealed `requestState` carries: which account the call waits for,
/// for which tool. Never a secret.
#[derive(Debug, Serialize, Deserialize)]
struct WaitingFor {
    service: String,
    account: String,
    tool: String,
}

/// Seals and opens the `requestState` of input-required results with a
/// per-process key (a restart voids pending states; the retry is refused
/// with a message saying to call again).
pub(crate) struct States(RequestStateCodec);

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("States")
    }
}

impl States {
    pub(crate) fn new() -> Result<Self> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| Error::other("request-state key", e))?;
        RequestStateCodec::try_new(key.to_vec())
            .map(Self)
            .map_err(|e| Error::other("request-state key", e))
    }

    /// Refuses a retry whose `requestState` this process did not seal for
    /// `tool` (or sealed more than 10 minutes ago). A call without one is
    /// a first call.
    pub(crate) fn check_retry(
        &self,
        tool: &str,
        state: Option<&str>,
    ) -> std::result::Result<(), ErrorData> {
        let Some(state) = state else {
            return Ok(());
        };
        self.0
            .open_json_with::<WaitingFor>(state, tool.as_bytes())
            .map(|_| ())
            .map_err(|_| {
                ErrorData::invalid_params(
                    format!(
                        "the requestState of this {tool} call was not issued by this MCPist for \
                         this tool, or is older than 10 minutes; call the tool again without it"
                    ),
                    None,
                )
            })
    }

    /// The answer to a call that lacks the account `link` connects.
    pub(crate) fn answer(
        &self,
        elicitation: Elicitation,
        link: &ConnectLink,
        tool: &str,
        result: CallToolResult,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let message = format!(
            "Connect account '{}' of {} to MCPist: open the link, log in to MCPist, then \
             authorize {} or paste a token. The call can be retried after.",
            link.account, link.service, link.service
        );
        match elicitation {
            Elicitation::None => Ok(result.into()),
            Elicitation::UrlError => Err(ErrorData::new(
                ErrorCode(URL_ELICITATION_REQUIRED),
                format!(
                    "account '{}' of {} must be connected first",
                    link.account, link.service
                ),
                Some(json!({"elicitations": [{
                    "mode": "url",
                    "elicitationId": elicitation_id(link),
                    "url": link.url,
                    "message": message,
                }]})),
            )),
            Elicitation::InputRequired => {
                let waiting = WaitingFor {
                    service: link.service.clone(),
                    account: link.account.clone(),
                    tool: tool.to_owned(),
                };
                let state = self
                    .0
                    .seal_json_with(
                        &waiting,
                        &SealOptions::new()
                            .associated_data(tool.as_bytes())
                            .ttl(crate::connect::LINK_TTL),
                    )
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                let mut requests = InputRequests::new();
                requests.insert(
                    format!("connect-{}", link.service),
                    InputRequest::Elicitation(ElicitRequest::new(
                        ElicitRequestParams::UrlElicitationParams {
                            meta: None,
                            message,
                            url: link.url.clone(),
                            elicitation_id: elicitation_id(link),
                        },
                    )),
                );
                Ok(InputRequiredResult::new(Some(requests), Some(state)).into())
            }
        }
    }
}

/// An id for the elicitation of `link` that does not repeat its token.
fn elicitation_id(link: &ConnectLink) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(link.url.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}
