//! Behaviour every [`AuditSink`] must have. Each check uses a fresh service
//! name, so a sink with earlier records can run the suite repeatedly.

use crate::{
    audit::{AuditEvent, AuditFilter, AuditKind, AuditOutcome, AuditSink, Outcome},
    testkit::token_store::fresh_key,
};

/// Runs every check in this module against `sink`.
pub async fn run_all<A: AuditSink>(sink: &A) {
    a_pending_record_is_finished_once(sink).await;
    an_outcome_written_soon_is_seen_at_once(sink).await;
    queries_filter_and_page_newest_first(sink).await;
    sink_verifies_intact(sink).await;
}

/// `begin` leaves the record pending; `finish` fills its outcome.
pub async fn a_pending_record_is_finished_once<A: AuditSink>(sink: &A) {
    let service = fresh_key("audit").account().to_owned();
    let event = AuditEvent::now(AuditKind::ToolCall).service(&service);
    let seq = sink.begin(event).await.expect("begin");
    let filter = AuditFilter {
        service: Some(service.clone()),
        ..AuditFilter::default()
    };
    let pending = sink.query(&filter).await.expect("query");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].outcome.outcome, Outcome::Pending);
    let mut outcome = AuditOutcome::of(Outcome::Ok);
    outcome.latency_ms = 7;
    sink.finish(seq, outcome).await.expect("finish");
    let done = sink.query(&filter).await.expect("query");
    assert_eq!(done[0].seq, seq);
    assert_eq!(done[0].outcome.outcome, Outcome::Ok);
    assert_eq!(done[0].outcome.latency_ms, 7);
}

/// An outcome written with `finish_soon` is in the next `query` and
/// `verify`, even if the sink has not committed it yet.
pub async fn an_outcome_written_soon_is_seen_at_once<A: AuditSink>(sink: &A) {
    let service = fresh_key("audit").account().to_owned();
    let seq = sink
        .begin(AuditEvent::now(AuditKind::ToolCall).service(&service))
        .await
        .expect("begin");
    let mut outcome = AuditOutcome::of(Outcome::ToolError);
    outcome.is_error = Some(true);
    sink.finish_soon(seq, outcome).await.expect("finish_soon");
    let filter = AuditFilter {
        service: Some(service),
        ..AuditFilter::default()
    };
    let done = sink.query(&filter).await.expect("query");
    assert_eq!(done[0].seq, seq);
    assert_eq!(done[0].outcome.outcome, Outcome::ToolError);
    assert_eq!(done[0].outcome.is_error, Some(true));
    let report = sink.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
}

/// Service, account, outcome, `before_seq` and `limit` all narrow a query,
/// and records come newest first.
pub async fn queries_filter_and_page_newest_first<A: AuditSink>(sink: &A) {
    let service = fresh_key("audit").account().to_owned();
    let mut seqs = Vec::new();
    for (account, outcome) in [
        ("work", Outcome::Ok),
        ("home", Outcome::Denied),
        ("work", Outcome::ToolError),
        ("work", Outcome::Ok),
    ] {
        let event = AuditEvent::now(AuditKind::ToolCall)
            .service(&service)
            .account(account);
        seqs.push(
            sink.record(event, AuditOutcome::of(outcome))
                .await
                .expect("record"),
        );
    }
    let seqs_of = |filter: AuditFilter| async move {
        sink.query(&filter)
            .await
            .expect("query")
            .into_iter()
            .map(|e| e.seq)
            .collect::<Vec<_>>()
    };
    let all = AuditFilter {
        service: Some(service.clone()),
        ..AuditFilter::default()
    };
    assert_eq!(
        seqs_of(all.clone()).await,
        [seqs[3], seqs[2], seqs[1], seqs[0]],
        "newest first"
    );
    let work = AuditFilter {
        account: Some("work".into()),
        ..all.clone()
    };
    assert_eq!(seqs_of(work.clone()).await, [seqs[3], seqs[2], seqs[0]]);
    let ok = AuditFilter {
        outcome: Some(Outcome::Ok),
        ..work.clone()
    };
    assert_eq!(seqs_of(ok).await, [seqs[3], seqs[0]]);
    let page = AuditFilter {
        before_seq: Some(seqs[3]),
        limit: Some(1),
        ..work
    };
    assert_eq!(seqs_of(page).await, [seqs[2]], "the page before the newest");
}

/// Records written through the API verify as an intact chain.
pub async fn sink_verifies_intact<A: AuditSink>(sink: &A) {
    let report = sink.verify().await.expect("verify");
    assert!(report.is_intact(), "{:?}", report.problems);
}
