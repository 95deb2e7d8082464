//! Server-Sent Events: turns the bytes of a `text/event-stream` body, in
//! whatever chunks they arrive, into events (the WHATWG parsing rules, minus
//! `retry`). Pure: no I/O.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `id:` field of this event, if it had one.
    pub id: Option<String>,
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines, joined with newlines.
    pub data: String,
}

/// Accumulates bytes and yields each event once its blank line has arrived.
#[derive(Debug, Default)]
pub struct SseParser {
    /// The start of a line whose end has not arrived yet.
    line: Vec<u8>,
    /// The previous byte was a CR, so a LF right after it ends nothing.
    after_cr: bool,
    id: Option<String>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Feeds the next chunk of the body; returns the events it completed.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    events.extend(self.line_ended(&String::from_utf8_lossy(&line)));
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    fn line_ended(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let id = self.id.take();
            let event = self.event.take();
            // An event without data is not dispatched.
            let data = self.data.take()?;
            return Some(SseEvent {
                id,
                event: event.unwrap_or_else(|| "message".into()),
                data,
            });
        }
        if line.starts_with(':') {
            return None; // a comment: keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = Some(value.to_string()),
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "id" if !value.contains('\0') => self.id = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, kind: &str, data: &str) -> SseEvent {
        SseEvent {
            id: Some(id.into()),
            event: kind.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_come_out_whole_and_once() {
        let body = b": keep-alive\n\nid: 1\nevent: sweep_created\ndata: {\"trials\":2}\n\n:ping\nid: 2\r\nevent: trial_queued\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n";
        let expected = vec![
            event("1", "sweep_created", "{\"trials\":2}"),
            event("2", "trial_queued", "{\"a\":\n1}"),
        ];
        for split in 0..body.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&body[..split]);
            events.extend(parser.push(&body[split..]));
            assert_eq!(events, expected, "split at {split}");
        }
        let mut parser = SseParser::default();
        let events: Vec<_> = body.iter().flat_map(|b| parser.push(&[*b])).collect();
        assert_eq!(events, expected, "byte by byte");
    }

    #[test]
    fn an_unfinished_event_is_not_dispatched() {
        let mut parser = SseParser::default();
        assert!(parser.push(b"id: 7\nevent: x\ndata: {}\n").is_empty());
        let mut parser = SseParser::default();
        assert!(
            parser.push(b"id: 8\nevent: x\n\n").is_empty(),
            "no data, no event"
        );
    }

    #[test]
    fn cr_line_ends_and_missing_fields() {
        let mut parser = SseParser::default();
        let events = parser.push(b"data:x\r\rdata\n\n");
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "x".into()
                },
                SseEvent {
                    id: None,
                    event: "message".into(),
                    data: "".into()
                },
            ]
        );
    }
}
