//! Google Calendar, a catalog service, through the real MCP server and an
//! rmcp client, against a fake built from the vendored discovery document
//! (`mcpist-connectors/vendor/google_calendar/discovery.json`).

use mcpist_connectors::catalog::fake::google_calendar::{FakeGoogleCalendar, PRIMARY, STANDUP};
use mcpist_core::Registration;
use mcpist_tests::{canary, json_of, text};
use rmcp::{RoleClient, model::CallToolResult, service::RunningService};
use serde_json::{Value, json};

struct Setup {
    fake: FakeGoogleCalendar,
    client: RunningService<RoleClient, ()>,
    token: String,
}

async fn setup() -> Setup {
    let fake = FakeGoogleCalendar::start().await;
    let token = canary("gcal");
    fake.accept_token(&token);
    let client = mcpist_tests::serve_with_token(
        "google_calendar",
        json!({"base_url": fake.base_url()}),
        &token,
    )
    .await;
    Setup {
        fake,
        client,
        token,
    }
}

async fn call(s: &Setup, tool: &str, args: Value) -> CallToolResult {
    mcpist_tests::call_hiding(&s.client, &s.token, tool, args).await
}

fn summaries(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["summary"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn google_calendar_lists_its_ten_tools_and_free_busy_is_a_read() {
    let s = setup().await;
    let tools = mcpist_tests::listed_tools_of(&s.client, "google_calendar").await;
    assert_eq!(tools.len(), 10);
    let freebusy = tools
        .iter()
        .find(|t| t.name == "google_calendar_query_freebusy")
        .unwrap();
    assert_eq!(
        freebusy.annotations.as_ref().unwrap().read_only_hint,
        Some(true),
        "a POST that only reads"
    );
}

#[tokio::test]
async fn events_of_a_window_come_single_and_in_start_order() {
    let s = setup().await;
    let calendars = json_of(&call(&s, "google_calendar_list_calendars", json!({})).await);
    assert_eq!(calendars["items"][0]["primary"], true);
    let cal = json_of(
        &call(
            &s,
            "google_calendar_get_calendar",
            json!({"calendarId": "primary"}),
        )
        .await,
    );
    assert_eq!(cal["timeZone"], "Europe/London");
    let week = json_of(
        &call(
            &s,
            "google_calendar_list_events",
            json!({"calendarId": "primary", "timeMin": "2026-12-04T00:00:00Z",
                   "timeMax": "2026-12-09T00:00:00Z"}),
        )
        .await,
    );
    assert_eq!(
        summaries(&week),
        [
            "Design review",
            "Lunch with Bo",
            "Stand-up",
            "Board meeting"
        ]
    );
    assert_eq!(week["items"][0]["start"], "2026-12-04T10:00:00Z");
    let sent = s.fake.requests().last().unwrap().query.clone();
    assert_eq!(sent["singleEvents"], "true");
    assert_eq!(sent["orderBy"], "startTime");
    let paged = json_of(
        &call(
            &s,
            "google_calendar_list_events",
            json!({"calendarId": "primary", "maxResults": 2}),
        )
        .await,
    );
    let token = paged["next_cursor"].as_str().unwrap().to_owned();
    let next = json_of(
        &call(
            &s,
            "google_calendar_list_events",
            json!({"calendarId": "primary", "maxResults": 2, "pageToken": token}),
        )
        .await,
    );
    assert_eq!(next["items"].as_array().unwrap().len(), 2);
    let found = json_of(
        &call(
            &s,
            "google_calendar_list_events",
            json!({"calendarId": "primary", "q": "lunch"}),
        )
        .await,
    );
    assert_eq!(summaries(&found), ["Lunch with Bo"]);
    let holidays = json_of(
        &call(
            &s,
            "google_calendar_list_events",
            json!({"calendarId": "en.uk#holiday@group.v.calendar.google.com"}),
        )
        .await,
    );
    assert_eq!(holidays["items"][0]["startDate"], "2026-12-25");
    let instances = json_of(
        &call(
            &s,
            "google_calendar_list_instances",
            json!({"calendarId": "primary", "eventId": STANDUP}),
        )
        .await,
    );
    assert_eq!(instances["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_event_is_created_with_attendees_updated_and_deleted() {
    let s = setup().await;
    let made = json_of(
        &call(
            &s,
            "google_calendar_create_event",
            json!({"calendarId": "primary", "summary": "1:1 with Bo",
                   "start": {"dateTime": "2026-12-07T14:00:00Z"},
                   "end": {"dateTime": "2026-12-07T14:30:00Z"},
                   "attendees": [{"email": "bo@example.com"}], "sendUpdates": "none"}),
        )
        .await,
    );
    let id = made["id"].as_str().unwrap().to_owned();
    let seen = s.fake.requests();
    let insert = seen.last().unwrap();
    assert_eq!(insert.query["sendUpdates"], "none");
    assert!(insert.body.as_ref().unwrap().get("sendUpdates").is_none());
    let got = json_of(
        &call(
            &s,
            "google_calendar_get_event",
            json!({"calendarId": PRIMARY, "eventId": id}),
        )
        .await,
    );
    assert_eq!(got["attendees"][0]["email"], "bo@example.com");
    assert_eq!(got["organizer"], PRIMARY);
    let moved = json_of(
        &call(
            &s,
            "google_calendar_update_event",
            json!({"calendarId": "primary", "eventId": id, "location": "Room 4"}),
        )
        .await,
    );
    assert_eq!(moved["summary"], "1:1 with Bo");
    assert_eq!(s.fake.event(&id).unwrap()["location"], "Room 4");
    let empty = call(
        &s,
        "google_calendar_create_event",
        json!({"calendarId": "primary", "summary": "Backwards",
               "start": {"dateTime": "2026-12-07T15:00:00Z"},
               "end": {"dateTime": "2026-12-07T14:00:00Z"}}),
    )
    .await;
    assert!(
        text(&empty).contains("The specified time range is empty."),
        "{}",
        text(&empty)
    );
    json_of(
        &call(
            &s,
            "google_calendar_delete_event",
            json!({"calendarId": "primary", "eventId": id}),
        )
        .await,
    );
    assert!(s.fake.event(&id).is_none());
}

#[tokio::test]
async fn quick_add_and_free_busy() {
    let s = setup().await;
    let quick = json_of(
        &call(
            &s,
            "google_calendar_quick_add",
            json!({"calendarId": "primary", "text": "Coffee with Cy tomorrow 3pm"}),
        )
        .await,
    );
    assert_eq!(quick["summary"], "Coffee with Cy");
    assert_eq!(quick["start"]["dateTime"], "2026-12-05T15:00:00Z");
    assert_eq!(
        s.fake.requests().last().unwrap().query["text"],
        "Coffee with Cy tomorrow 3pm"
    );
    let busy = json_of(
        &call(
            &s,
            "google_calendar_query_freebusy",
            json!({"timeMin": "2026-12-04T00:00:00Z", "timeMax": "2026-12-05T00:00:00Z",
                   "items": [{"id": "primary"}, {"id": "nobody@example.com"}]}),
        )
        .await,
    );
    assert_eq!(
        busy["calendars"]["primary"]["busy"],
        json!([{"start": "2026-12-04T10:00:00Z", "end": "2026-12-04T11:00:00Z"},
               {"start": "2026-12-04T12:30:00Z", "end": "2026-12-04T13:30:00Z"}])
    );
    assert_eq!(
        busy["calendars"]["nobody@example.com"]["errors"][0]["reason"],
        "notFound"
    );
    let none = call(
        &s,
        "google_calendar_query_freebusy",
        json!({"timeMin": "x", "timeMax": "y", "items": []}),
    )
    .await;
    assert_eq!(none.is_error, Some(true), "at least one calendar");
}

#[tokio::test]
async fn google_calendar_maps_upstream_errors_as_the_exchanger_expects() {
    let connector = (Registration::find("google_calendar").unwrap().build)(Value::Null).unwrap();
    let event = json!({"calendarId": "primary", "eventId": "e1"});
    let window = json!({"start": {"date": "2026-12-04"}, "end": {"date": "2026-12-05"}});
    for (tool, args) in [
        ("list_calendars", json!({})),
        ("get_calendar", json!({"calendarId": "primary"})),
        ("list_events", json!({"calendarId": "primary"})),
        ("get_event", event.clone()),
        (
            "create_event",
            json!({"calendarId": "primary", "summary": "x", "start": window["start"], "end": window["end"]}),
        ),
        (
            "update_event",
            json!({"calendarId": "primary", "eventId": "e1", "summary": "y"}),
        ),
        ("delete_event", event.clone()),
        ("quick_add", json!({"calendarId": "primary", "text": "x"})),
        ("list_instances", event.clone()),
        (
            "query_freebusy",
            json!({"timeMin": "2026-12-04T00:00:00Z", "timeMax": "2026-12-05T00:00:00Z", "items": [{"id": "primary"}]}),
        ),
    ] {
        mcpist_core::testkit::connector::maps_upstream_errors(
            connector.as_ref(),
            tool,
            args.as_object().unwrap().clone(),
        )
        .await;
    }
}
