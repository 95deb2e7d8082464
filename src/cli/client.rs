//! The HTTP calls of the command-line client, and its one error type.
use super::{EXIT_REFUSED, EXIT_UNREACHABLE};
use crate::config::ApiToken;
use reqwest::{RequestBuilder, Response};
use serde_json::Value;
use std::time::Duration;

/// How long connecting may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Silence longer than this is a dead connection: the event stream sends a
/// keep-alive comment every 15 seconds.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or the connection broke.
    #[error("cannot reach the server at {url}: {reason}")]
    Connection { url: String, reason: String },
    /// The server answered with an error status and this message.
    #[error("{}", server_message(*.status, .code, .message))]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// The server's answer is not what this client understands.
    #[error("unexpected answer from {url}: {reason}")]
    BadResponse { url: String, reason: String },
    /// Standard output cannot be written, e.g. a closed pipe.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
    /// The spec file cannot be read.
    #[error("cannot read {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
}

/// The server's message; with the status too when the message alone may not
/// say what went wrong (a server failure, or a body that is not an API error).
fn server_message(status: u16, code: &str, message: &str) -> String {
    if status >= 500 || code.is_empty() {
        format!("{message} (HTTP {status})")
    } else {
        message.to_string()
    }
}

impl ClientError {
    /// The process exit code this error ends a command with.
    pub fn exit_code(&self) -> i32 {
        match self {
            ClientError::Connection { .. }
            | ClientError::BadResponse { .. }
            | ClientError::Output(_) => EXIT_UNREACHABLE,
            ClientError::Server { .. } | ClientError::File { .. } => EXIT_REFUSED,
        }
    }

    /// Whether the server answered 404 Not Found.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Server { status: 404, .. })
    }
}

/// A connection to one hypersweep server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    pub(super) http: reqwest::Client,
    /// Sent as `Authorization: Bearer` with every request.
    token: Option<ApiToken>,
}

impl Client {
    /// A client of the server at `base` (`http://` is assumed when no scheme is given).
    pub fn new(base: &str) -> Client {
        let base = base.trim().trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .unwrap_or_default();
        Client {
            base,
            http,
            token: None,
        }
    }

    /// The same client, sending `token` (if any) with every request.
    pub fn with_token(mut self, token: Option<ApiToken>) -> Client {
        self.token = token;
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `POST /v1/sweeps`: the created sweep.
    pub async fn submit(&self, spec: String, content_type: &str) -> Result<Value, ClientError> {
        let request = self
            .http
            .post(self.url("/v1/sweeps"))
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(spec);
        self.json(self.send(request).await?).await
    }

    /// `GET /v1/sweeps/{id}`: the sweep's state, counts and best so far.
    pub async fn sweep(&self, id: i64) -> Result<Value, ClientError> {
        self.get(&format!("/v1/sweeps/{id}")).await
    }

    /// `GET /v1/sweeps/{id}/best`: 404 while no trial has finished.
    pub async fn best(&self, id: i64) -> Result<Value, ClientError> {
        self.get(&format!("/v1/sweeps/{id}/best")).await
    }

    /// `GET /v1/sweeps/{id}/trials`: the sweep's trials.
    pub async fn trials(&self, id: i64) -> Result<Value, ClientError> {
        let mut trials = Vec::new();
        let mut after = -1;
        loop {
            let mut page = self
                .get(&format!("/v1/sweeps/{id}/trials?limit=1000&after={after}"))
                .await?;
            if let Some(list) = page["trials"].as_array_mut() {
                trials.append(list);
            }
            match page["next"].as_i64() {
                Some(next) => after = next,
                None => {
                    page["trials"] = Value::Array(trials);
                    return Ok(page);
                }
            }
        }
    }

    /// `POST /v1/sweeps/{id}/cancel`: the sweep after the request.
    pub async fn cancel(&self, id: i64) -> Result<Value, ClientError> {
        let request = self.http.post(self.url(&format!("/v1/sweeps/{id}/cancel")));
        self.json(self.send(request).await?).await
    }

    /// `GET /v1/sweeps/{id}/events`: the open event stream, resumed after
    /// event `after` when given.
    pub async fn events(&self, id: i64, after: Option<i64>) -> Result<Response, ClientError> {
        let mut request = self
            .http
            .get(self.url(&format!("/v1/sweeps/{id}/events")))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        if let Some(after) = after {
            request = request.header("last-event-id", after.to_string());
        }
        self.send(request).await
    }

    /// A connection error for this server.
    pub fn connection_error(&self, error: &reqwest::Error) -> ClientError {
        ClientError::Connection {
            url: self.base.clone(),
            reason: root_cause(error),
        }
    }

    /// A bad-response error for this server.
    pub fn bad_response(&self, reason: impl Into<String>) -> ClientError {
        ClientError::BadResponse {
            url: self.base.clone(),
            reason: reason.into(),
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(super) async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let response = self.send(self.http.get(self.url(path))).await?;
        self.json(response).await
    }

    /// Sends a request; an error status becomes [`ClientError::Server`].
    pub(super) async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|e| self.connection_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.text().await.unwrap_or_default();
        Err(server_error(status.as_u16(), &body))
    }

    pub(super) async fn json(&self, response: Response) -> Result<Value, ClientError> {
        let body = response
            .bytes()
            .await
            .map_err(|e| self.connection_error(&e))?;
        serde_json::from_slice(&body).map_err(|e| self.bad_response(format!("not JSON: {e}")))
    }
}

/// The error of an error response: `{"error": {"code", "message"}}`, or the
/// status and the start of the body when the body is anything else.
fn server_error(status: u16, body: &str) -> ClientError {
    let error = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("error").cloned());
    let message = error.as_ref().and_then(|e| e["message"].as_str());
    match message {
        Some(message) => ClientError::Server {
            status,
            code: error
                .as_ref()
                .and_then(|e| e["code"].as_str())
                .unwrap_or("")
                .to_string(),
            message: message.to_string(),
        },
        None => ClientError::Server {
            status,
            code: String::new(),
            message: match body.trim() {
                "" => "the server gave no reason".to_string(),
                body => body.chars().take(200).collect(),
            },
        },
    }
}

/// The innermost cause, e.g. `Connection refused (os error 111)` rather than
/// reqwest's `error sending request for url (...)`.
pub(super) fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_the_server_message() {
        let body = r#"{"error":{"code":"invalid_spec","field":"parameters.batch_size.values[1]","message":"parameters.batch_size.values[1]: must be an integer, got 12.5"}}"#;
        let e = server_error(422, body);
        assert_eq!(
            e.to_string(),
            "parameters.batch_size.values[1]: must be an integer, got 12.5"
        );
        assert_eq!(e.exit_code(), EXIT_REFUSED);
        assert!(
            matches!(e, ClientError::Server { status: 422, ref code, .. } if code == "invalid_spec")
        );

        let e = server_error(502, "<html>Bad Gateway</html>");
        assert_eq!(e.to_string(), "<html>Bad Gateway</html> (HTTP 502)");
        assert!(server_error(
            404,
            r#"{"error":{"code":"not_found","message":"no sweep `9`"}}"#
        )
        .is_not_found());
    }

    #[test]
    fn a_server_without_scheme_is_http() {
        assert_eq!(
            Client::new("127.0.0.1:8080/").base(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(Client::new("http://h:1").base(), "http://h:1");
    }
}
