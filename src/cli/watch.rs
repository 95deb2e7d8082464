//! Follows a sweep's event stream to its end. A dropped connection is
//! resumed with `Last-Event-ID` set to the last event seen, and an event
//! that arrives twice anyway is skipped, so each event is shown exactly once.
use super::client::{root_cause, Client, ClientError};
use super::sse::{SseEvent, SseParser};
use futures_util::StreamExt;
use serde_json::Value;
use std::io::Write;
use std::time::Duration;

/// Reconnection attempts in a row, without an event in between, before giving up.
const MAX_RETRIES: u32 = 8;

/// One row of the sweep's event log, as the stream sends it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: i64,
    pub kind: String,
    /// What happened; its keys depend on `kind`.
    pub data: Value,
    /// The whole event as the server sent it.
    pub json: Value,
}

impl Event {
    fn parse(sse: &SseEvent) -> Result<Event, String> {
        let json: Value =
            serde_json::from_str(&sse.data).map_err(|e| format!("event data is not JSON: {e}"))?;
        let id = json["id"]
            .as_i64()
            .or_else(|| sse.id.as_deref()?.trim().parse().ok())
            .ok_or("an event without an id")?;
        let kind = json["kind"].as_str().unwrap_or(&sse.event).to_string();
        Ok(Event {
            id,
            kind,
            data: json["data"].clone(),
            json,
        })
    }

    /// Whether this is the sweep's last event.
    pub fn ends_sweep(&self) -> bool {
        matches!(self.kind.as_str(), "sweep_completed" | "sweep_cancelled")
    }
}

/// Where followed events go: progress bars, or JSON lines.
pub trait Output {
    /// One new event; an error when it cannot be written.
    fn event(&mut self, event: &Event) -> std::io::Result<()>;
    /// Something about the connection the user should know.
    fn note(&mut self, message: &str);
}

/// Prints each event as one JSON line on stdout.
pub struct JsonLines;

impl Output for JsonLines {
    fn event(&mut self, event: &Event) -> std::io::Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", event.json)?;
        // A script reading the lines sees each event as it happens.
        stdout.flush()
    }

    fn note(&mut self, message: &str) {
        eprintln!("{message}");
    }
}

/// Where a follower stands in the stream.
#[derive(Debug, Default)]
struct Cursor {
    last: Option<i64>,
    ended: bool,
    /// Connection failures since the last event received.
    failures: u32,
}

/// How one connection's stream ended.
enum End {
    /// The server closed it: everything up to now was sent.
    Closed,
    /// It broke, for this reason.
    Broken(String),
    /// The server could not read the next event and ended the stream there.
    Skipped,
}

/// Shows every event of sweep `id` on `display`, from the first, until the
/// sweep has ended and the server has sent its last event.
pub async fn follow(client: &Client, id: i64, display: &mut dyn Output) -> Result<(), ClientError> {
    let mut cursor = Cursor::default();
    loop {
        let reason = match client.events(id, cursor.last).await {
            Ok(response) => match read(client, response, &mut cursor, display).await? {
                End::Closed if cursor.ended => return Ok(()),
                End::Closed => {
                    // No last event, yet closed: ended (nothing left to send) or a restarting server.
                    let sweep = client.sweep(id).await?;
                    if sweep["state"] != "running" {
                        return Ok(());
                    }
                    "the server closed the stream".to_string()
                }
                End::Broken(reason) => reason,
                // The server ended the stream at an event it cannot read: on past it.
                End::Skipped => continue,
            },
            Err(ClientError::Connection { reason, .. }) => reason,
            Err(e) => return Err(e),
        };
        cursor.failures += 1;
        if cursor.failures > MAX_RETRIES {
            return Err(ClientError::Connection {
                url: client.base().to_string(),
                reason,
            });
        }
        let wait = backoff(cursor.failures);
        let after = match cursor.last {
            Some(last) => format!("after event {last}"),
            None => "from the start".to_string(),
        };
        display.note(&format!(
            "connection lost ({reason}); reconnecting {after} in {:.1}s",
            wait.as_secs_f64()
        ));
        tokio::time::sleep(wait).await;
    }
}

/// Reads one connection's stream to its end.
async fn read(
    client: &Client,
    response: reqwest::Response,
    cursor: &mut Cursor,
    display: &mut dyn Output,
) -> Result<End, ClientError> {
    let mut parser = SseParser::default();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => return Ok(End::Broken(root_cause(&e))),
        };
        for sse in parser.push(&chunk) {
            if sse.event == "error" {
                skip_unreadable(client, &sse, cursor)?;
                return Ok(End::Skipped);
            }
            let event = Event::parse(&sse).map_err(|reason| client.bad_response(reason))?;
            if cursor.last.is_some_and(|last| event.id <= last) {
                continue;
            }
            cursor.last = Some(event.id);
            cursor.ended |= event.ends_sweep();
            cursor.failures = 0;
            display.event(&event).map_err(ClientError::Output)?;
        }
    }
    Ok(End::Closed)
}

/// The server could not read an event of the log (it names it) and ended
/// the stream there: say so, and resume after it, so one bad row costs that
/// event only.
fn skip_unreadable(
    client: &Client,
    sse: &SseEvent,
    cursor: &mut Cursor,
) -> Result<(), ClientError> {
    let error: Value = serde_json::from_str(&sse.data).unwrap_or(Value::Null);
    let message = error["error"]["message"]
        .as_str()
        .unwrap_or(&sse.data)
        .to_string();
    match error["error"]["id"].as_i64() {
        Some(id) => {
            eprintln!("hypersweep: skipping an event the server cannot read: {message}");
            cursor.last = Some(cursor.last.map_or(id, |last| last.max(id)));
            Ok(())
        }
        None => Err(client.bad_response(format!("the event stream failed: {message}"))),
    }
}

/// 0.25 s, doubling, at most 5 s.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.clamp(1, 6) - 1;
    Duration::from_millis(250 << doublings).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_from_the_stream_data() {
        let sse = SseEvent {
            id: Some("12".into()),
            event: "trial_started".into(),
            data: r#"{"id":12,"sweep_id":1,"trial_id":3,"kind":"trial_started","data":{"number":2,"attempt":1,"worker":"w1"},"created_at":"t"}"#.into(),
        };
        let event = Event::parse(&sse).unwrap();
        assert_eq!(event.id, 12);
        assert_eq!(event.kind, "trial_started");
        assert_eq!(event.data["number"], 2);
        assert!(!event.ends_sweep());
        assert!(Event::parse(&SseEvent {
            data: "nope".into(),
            ..sse
        })
        .is_err());
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let waits: Vec<u64> = (1..=8).map(|n| backoff(n).as_millis() as u64).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
    }
}
