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
use serde_json::{Value, json};

use crate::{
    Error, Result,
    connect::{ConnectLink, Offer},
};

/// The JSON-RPC code of `URLElicitationRequiredError` (MCP 2025-11-25).
pub const URL_ELICITATION_REQUIRED: i32 = -32042;

/// What the client of one call can be asked, and at which protocol.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Asks {
    /// It declared URL-mode elicitation.
    pub(crate) url: bool,
    /// It declared form-mode elicitation.
    pub(crate) form: bool,
    /// It speaks 2026-07-28 or newer: questions go in an input-required
    /// result, not in a request of the server's own.
    pub(crate) modern: bool,
}

impl Asks {
    /// What the client of this request declared (per request on 2026-07-28,
    /// at `initialize` before).
    pub(crate) fn of(context: &RequestContext<RoleServer>) -> Self {
        let elicitation = context.client_capabilities().and_then(|c| c.elicitation);
        let (url, form) = match &elicitation {
            None => (false, false),
            // A bare `elicitation: {}` means form (2025-06-18).
            Some(e) if e.url.is_none() && e.form.is_none() => (false, true),
            Some(e) => (e.url.is_some(), e.form.is_some()),
        };
        let modern = context
            .protocol_version()
            .is_some_and(|v| v.as_str() >= "2026-07-28");
        Self { url, form, modern }
    }
}

/// The `isError` text for an account error, with what connecting on
/// demand can offer. The error already names the commands that fix it (for
/// setups without the web UI, such as stdio); the link is the other way.
pub(crate) fn with_link(message: &str, offer: &Offer) -> String {
    match offer {
        Offer::NoPage => message.to_owned(),
        Offer::Refused(why) => format!("{message}; no connect link was offered: {why}"),
        Offer::Link(link) => format!(
            "{message}; or, to connect account '{}' of {}, open {} in a browser \
             (a one-time link, valid 10 minutes, behind the MCPist web UI login); \
             then call the tool again",
            link.account, link.service, link.url,
        ),
    }
}

/// What tells a 2025-11-25 client, once `link` has connected its account,
/// that the URL elicitation it was given is complete
/// (`notifications/elicitation/complete` with its `elicitationId`).
pub(crate) fn completion(
    peer: rmcp::Peer<RoleServer>,
    link: &ConnectLink,
) -> impl FnOnce() + Send + 'static {
    let id = elicitation_id(link);
    move || {
        let notification = rmcp::model::ServerNotification::CustomNotification(
            rmcp::model::CustomNotification::new(
                "notifications/elicitation/complete",
                Some(json!({"elicitationId": id})),
            ),
        );
        tokio::spawn(async move {
            // A client that went away has nothing to be told.
            let _ = peer.send_notification(notification).await;
        });
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

/// What the sealed `requestState` of a connector's questions carries: the
/// answers of the rounds before, so that the call, run again, finds them all.
#[derive(Debug, Serialize, Deserialize)]
struct Asked {
    tool: String,
    answers: std::collections::BTreeMap<String, Value>,
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
        // Any state this process sealed for `tool`: a connect or
        // which-account question, or a connector's questions.
        self.0
            .open_json_with::<Value>(state, tool.as_bytes())
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

    /// The answers a connector's earlier rounds of this call of `tool` got,
    /// from its sealed `state` (none for a first call or another kind of
    /// state; a state not sealed for `tool` was refused before), with this
    /// retry's `responses` over them.
    pub(crate) fn answers(
        &self,
        tool: &str,
        state: Option<&str>,
        responses: Option<&rmcp::model::InputResponses>,
    ) -> std::collections::BTreeMap<String, Value> {
        // A first round may be answered without a state (the client
        // answers are untrusted input either way; the connector's `ask`
        // checks their shape).
        let mut answers = state
            .and_then(|state| self.0.open_json_with::<Asked>(state, tool.as_bytes()).ok())
            .map(|asked| asked.answers)
            .unwrap_or_default();
        for (key, value) in responses.into_iter().flatten() {
            answers.insert(key.clone(), value.clone());
        }
        answers
    }

    /// The input-required result that asks a 2026-07-28 client a
    /// connector's `requests`, with `answers` so far sealed in its state.
    pub(crate) fn ask_input(
        &self,
        tool: &str,
        answers: std::collections::BTreeMap<String, Value>,
        requests: InputRequests,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let asked = Asked {
            tool: tool.to_owned(),
            answers,
        };
        let state = self
            .0
            .seal_json_with(
                &asked,
                &SealOptions::new()
                    .associated_data(tool.as_bytes())
                    .ttl(crate::connect::LINK_TTL),
            )
            .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        Ok(InputRequiredResult::new(Some(requests), Some(state)).into())
    }

    /// The answer to a call that lacks the account `link` connects.
    pub(crate) fn answer(
        &self,
        asks: Asks,
        link: &ConnectLink,
        tool: &str,
        result: CallToolResult,
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let message = format!(
            "Connect account '{}' of {} to MCPist: open the link, log in to MCPist, then \
             authorize {} or paste a token. The call can be retried after.",
            link.account, link.service, link.service
        );
        match asks {
            Asks { url: false, .. } => Ok(result.into()),
            Asks { modern: false, .. } => Err(ErrorData::new(
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
            Asks { modern: true, .. } => {
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

/// The key of the "which account?" question in an input-required result.
const WHICH: &str = "which-account";

/// The "which account?" form: one required `account`, one of `choices`
/// (label and upstream identity), titled with the identity. Never a secret.
fn which_form(service: &str, choices: &[(String, Option<String>)]) -> ElicitRequestParams {
    let one_of: Vec<_> = choices
        .iter()
        .map(|(label, identity)| {
            let title = match identity {
                Some(identity) => format!("{label} ({identity})"),
                None => label.clone(),
            };
            json!({"const": label, "title": title})
        })
        .collect();
    let schema = json!({
        "type": "object",
        "properties": {"account": {
            "type": "string",
            "title": format!("{service} account"),
            "oneOf": one_of,
        }},
        "required": ["account"],
    });
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!(
            "{service} has several accounts and no default. Which one should this call use? \
             (For this call only.)"
        ),
        requested_schema: serde_json::from_value::<rmcp::model::ElicitationSchema>(schema)
            .expect("the which-account form is a valid elicitation schema"),
    }
}

/// The label an accepted answer picked, if it is one of `choices`.
fn picked(answer: &Value, choices: Option<&[(String, Option<String>)]>) -> Option<String> {
    if answer.get("action")? != "accept" {
        return None;
    }
    let label = answer.get("content")?.get("account")?.as_str()?;
    match choices {
        Some(choices) if !choices.iter().any(|(l, _)| l == label) => None,
        _ => Some(label.to_owned()),
    }
}

/// Asks a 2025-11-25 client which of `choices` this call should use, with
/// an `elicitation/create` request of its own; `None` if it declines,
/// cancels, fails or picks no offered label.
pub(crate) async fn ask_which(
    peer: &rmcp::Peer<RoleServer>,
    service: &str,
    choices: &[(String, Option<String>)],
) -> Option<String> {
    let answer = peer
        .create_elicitation_with_timeout(
            which_form(service, choices),
            Some(crate::connect::LINK_TTL),
        )
        .await
        .ok()?;
    picked(&serde_json::to_value(answer).ok()?, Some(choices))
}

/// Whether a 2026-07-28 retry answers the "which account?" question (so
/// it is not asked again, whatever the answer).
pub(crate) fn was_asked_which(responses: Option<&rmcp::model::InputResponses>) -> bool {
    responses.is_some_and(|r| r.contains_key(WHICH))
}

/// The account a 2026-07-28 retry's answer to the "which account?"
/// question picked (the retry's `requestState` is checked separately).
pub(crate) fn answered_which(responses: Option<&rmcp::model::InputResponses>) -> Option<String> {
    picked(responses?.get(WHICH)?, None)
}

impl States {
    /// The input-required result that asks a 2026-07-28 client which of
    /// `choices` the call of `tool` should use.
    pub(crate) fn ask_which(
        &self,
        service: &str,
        tool: &str,
        choices: &[(String, Option<String>)],
    ) -> std::result::Result<CallToolResponse, ErrorData> {
        let waiting = WaitingFor {
            service: service.to_owned(),
            account: String::new(),
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
            WHICH.to_owned(),
            InputRequest::Elicitation(ElicitRequest::new(which_form(service, choices))),
        );
        Ok(InputRequiredResult::new(Some(requests), Some(state)).into())
    }
}

/// An id for the elicitation of `link` that does not repeat its token.
fn elicitation_id(link: &ConnectLink) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(link.url.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}
