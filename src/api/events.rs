//! `GET /v1/sweeps/{id}/events`: the sweep's event log as Server-Sent Events.
//! The stream is a tail of the events table, so a client that reconnects
//! with `Last-Event-ID` gets every event it missed and none twice.
use super::error::ErrorBody;
use super::{parse_id, ApiError, ApiPath, AppState};
use crate::store::{Ear, Events as _, Store, StoreError, Sweeps as _};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::ToSchema;

/// How often the table is looked at while nothing new is there.
const POLL: Duration = Duration::from_millis(200);
/// Rows read at a time.
const PAGE: i64 = 500;

/// One Server-Sent Event of the stream, as the OpenAPI document describes it.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(super) struct StreamedEvent {
    /// The event's row in the events table.
    id: String,
    /// Its kind: `sweep_created`, `trial_queued`, `epoch_report`, ...
    event: String,
    /// The event row as JSON: id, sweep_id, trial_id, kind, data, created_at.
    data: String,
}

/// Streams the sweep's events after `Last-Event-ID` (or from the start), and
/// ends once the sweep has ended and every event is sent. An event row that
/// cannot be read ends the stream with an `error` event naming it (data:
/// `{"error": {"code": "bad_row", "message", "id"}}`, no `id:` field): the
/// client may go on past it with `Last-Event-ID` set to that id.
#[utoipa::path(get, path = "/v1/sweeps/{id}/events", tag = "sweeps",
    params(
        ("id" = i64, Path, description = "The sweep's id."),
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this event id (a non-negative integer)."),
    ),
    responses(
        (status = 200, description = "Server-Sent Events: each event's `id` is its row in the \
            events table, its `event` the kind, its `data` the event as JSON. A row that cannot \
            be read ends the stream with an `error` event, whose data names the row.",
            content_type = "text/event-stream", body = StreamedEvent),
        (status = 400, description = "Last-Event-ID is not an event id.", body = ErrorBody),
        (status = 404, description = "No such sweep.", body = ErrorBody),
    ))]
pub async fn stream(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id(&id, "sweep")?;
    if state.store.sweep_state(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("no sweep `{id}`")));
    }
    let after = match headers.get("last-event-id") {
        None => 0,
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                ApiError::BadRequest("Last-Event-ID must be an event id (an integer)".into())
            })?,
    };
    let ear = match state.store.bell() {
        Some(bell) => Some(bell.ear(id).await),
        None => None,
    };
    let tail = Tail {
        ear,
        store: state.store.clone(),
        sweep_id: id,
        after,
        pending: VecDeque::new(),
        ended: false,
        failing: false,
    };
    let events = stream::unfold(tail, |mut tail| async move {
        let event = tail.next().await?;
        Some((Ok(event), tail))
    });
    Ok(Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    ))
}

/// Where a stream stands in the event log.
struct Tail {
    /// On PostgreSQL, rung when the sweep's events are written by any
    /// replica; else the stream polls every `POLL`.
    ear: Option<Ear>,
    store: Store,
    sweep_id: i64,
    after: i64,
    pending: VecDeque<crate::store::Event>,
    /// Nothing more is sent once `pending` is: the sweep had ended and no
    /// event was left, or a row could not be read.
    ended: bool,
    /// Reading fails (a database error other than a bad row), logged once
    /// until it works again.
    failing: bool,
}

impl Tail {
    /// The next event, waiting for one; None when the stream is over.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                self.after = event.id;
                return Some(
                    Event::default()
                        .id(event.id.to_string())
                        .event(event.kind.clone())
                        .json_data(super::wire::Event::from(event))
                        .unwrap_or_else(|_| Event::default().comment("unserializable event")),
                );
            }
            if self.ended {
                return None;
            }
            // Read whether the sweep has ended before reading the page, so
            // that an event written as it ended is still sent.
            let ended = match self.store.sweep_state(self.sweep_id).await {
                Ok(Some(state)) => state.is_ended(),
                Ok(None) => true,
                Err(e) => {
                    self.failed(&e);
                    false
                }
            };
            match self.store.events(self.sweep_id, self.after, PAGE).await {
                Ok(page) => {
                    self.failing = false;
                    self.ended = ended && page.is_empty();
                    self.pending.extend(page);
                }
                Err(e @ StoreError::BadRow { id, .. }) => {
                    tracing::warn!(sweep = self.sweep_id, "event stream ends: {e}");
                    self.ended = true;
                    return Some(bad_row(&e, id));
                }
                Err(e) => self.failed(&e),
            }
            if self.pending.is_empty() && !self.ended {
                match &mut self.ear {
                    Some(ear) => ear.wait().await,
                    None => tokio::time::sleep(POLL).await,
                }
            }
        }
    }

    /// Logs a failed read, once until reading works again.
    fn failed(&mut self, e: &StoreError) {
        if !std::mem::replace(&mut self.failing, true) {
            tracing::warn!(sweep = self.sweep_id, "event stream: {e}; retrying");
        }
    }
}

/// The `error` event that ends a stream at a row it cannot read; it has no
/// `id:`, so a reconnecting client resumes before the row unless it says
/// `Last-Event-ID: <id>`.
fn bad_row(e: &StoreError, id: i64) -> Event {
    let message = format!("{e}; reconnect with Last-Event-ID: {id} to go on past it");
    Event::default()
        .event("error")
        .json_data(serde_json::json!({
            "error": {"code": "bad_row", "message": message, "id": id}
        }))
        .unwrap_or_else(|_| Event::default().event("error").data(message))
}
