//! The worker's side of the worker protocol: one HTTP client for every
//! call, with the server's answers sorted into what the worker does next:
//! go on, drop the trial (its lease was lost), or try again later (the
//! server cannot be reached now).
use crate::digest::hex;
use crate::protocol::{
    self, Assignment, ClaimRequest, Claimed, Decided, Decision, Lose, Outcome, Register,
    Registered, Report, Rewind, Rewound, SHA256_HEADER, WORKER_HEADER,
};
use crate::report::{BatchLoss, EpochReport};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Why a call did not do what it asked.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The server no longer counts this attempt as ours: nothing was written.
    #[error("the lease is no longer held")]
    LeaseLost,
    /// The server could not be reached, or cannot answer now (a restart, a
    /// full disk): the same call may be made again.
    #[error("the server cannot be reached: {0}")]
    Unreachable(String),
    /// The server refused the call; making it again will not help.
    #[error("the server refused: {status}: {message}")]
    Refused { status: u16, message: String },
}

/// A client of one server, or of replicas of one (several URLs): calls go
/// to one of them until it cannot be reached, then to the next, so a
/// worker carries on through any replica left.
#[derive(Clone)]
pub struct Remote {
    http: reqwest::Client,
    bases: Arc<[Arc<str>]>,
    /// Which of `bases` calls go to now.
    current: Arc<AtomicUsize>,
    token: Option<Arc<str>>,
    worker: Arc<str>,
    /// How long one fenced call may take.
    call_timeout: Duration,
}

impl Remote {
    /// A client of the server at `base` (`http://host:port`), or of the
    /// replicas at its comma-separated URLs.
    pub fn new(base: &str, token: Option<String>) -> Result<Remote, CallError> {
        let bases: Vec<Arc<str>> = base
            .split(',')
            .map(|b| b.trim().trim_end_matches('/'))
            .filter(|b| !b.is_empty())
            .map(Into::into)
            .collect();
        if bases.is_empty() {
            return Err(refused(0, "no server URL given"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| CallError::Unreachable(e.to_string()))?;
        Ok(Remote {
            http,
            bases: bases.into(),
            current: Arc::default(),
            token: token.map(Into::into),
            worker: "".into(),
            call_timeout: Duration::from_secs(10),
        })
    }

    /// The worker's id, once registered.
    pub fn worker(&self) -> &str {
        &self.worker
    }

    /// Registers, and becomes the client of the id the server gave; fenced
    /// calls then time out after a third of the lease.
    pub async fn register(&mut self, worker: &Register) -> Result<Registered, CallError> {
        let registered: Registered = self
            .call(Method::POST, "/v1/worker/register", Some(worker))
            .await?;
        self.worker = registered.worker_id.as_str().into();
        self.call_timeout = Duration::from_millis((registered.lease_ms / 3).max(1000));
        Ok(registered)
    }

    /// Claims up to `max` trials, the server waiting up to `wait` for one;
    /// `group`: trials of one fused group (see `ClaimRequest::group`).
    pub async fn claim(
        &self,
        max: u32,
        wait: Duration,
        group: bool,
    ) -> Result<Vec<Assignment>, CallError> {
        let body = ClaimRequest {
            worker_id: self.worker.to_string(),
            max,
            wait_ms: wait.as_millis().min(u128::from(protocol::MAX_WAIT_MS)) as u64,
            group,
            join: None,
        };
        let request = self
            .request(Method::POST, "/v1/worker/claim")
            .timeout(wait + Duration::from_secs(10))
            .json(&body);
        let claimed: Claimed = answer(self.send(request).await).await?;
        Ok(claimed.trials)
    }

    /// Claims up to `max` queued trials that fuse with trial `lead`'s
    /// group, to join it now; none when the sweep has none (no waiting).
    pub async fn claim_join(&self, max: u32, lead: i64) -> Result<Vec<Assignment>, CallError> {
        let body = ClaimRequest {
            worker_id: self.worker.to_string(),
            max,
            wait_ms: 0,
            group: true,
            join: Some(lead),
        };
        let request = self
            .request(Method::POST, "/v1/worker/claim")
            .timeout(Duration::from_secs(10))
            .json(&body);
        let claimed: Claimed = answer(self.send(request).await).await?;
        Ok(claimed.trials)
    }

    pub async fn renew(&self, a: &Assignment) -> Result<(), CallError> {
        self.fenced::<(), ()>(a, "renew", None).await
    }

    pub async fn rewind(&self, a: &Assignment, epoch: i64) -> Result<Vec<EpochReport>, CallError> {
        let rewound: Rewound = self.fenced(a, "rewind", Some(&Rewind { epoch })).await?;
        Ok(rewound.reports)
    }

    pub async fn progress(
        &self,
        a: &Assignment,
        data: &serde_json::Value,
    ) -> Result<(), CallError> {
        self.fenced::<_, ()>(a, "progress", Some(data)).await
    }

    pub async fn report(
        &self,
        a: &Assignment,
        report: &EpochReport,
        samples: &[BatchLoss],
    ) -> Result<Decision, CallError> {
        let body = Report {
            report: report.clone(),
            samples: samples.to_vec(),
        };
        let decided: Decided = self.fenced(a, "report", Some(&body)).await?;
        Ok(decided.decision)
    }

    pub async fn finish(&self, a: &Assignment, outcome: &Outcome) -> Result<(), CallError> {
        self.fenced::<_, ()>(a, "finish", Some(outcome)).await
    }

    pub async fn hand_back(&self, a: &Assignment) -> Result<(), CallError> {
        self.fenced::<(), ()>(a, "hand-back", None).await
    }

    pub async fn lose(&self, a: &Assignment, reason: &str) -> Result<(), CallError> {
        let body = Lose {
            reason: reason.to_string(),
        };
        self.fenced::<_, ()>(a, "lose", Some(&body)).await
    }

    /// Uploads the checkpoint file at `path` for the attempt.
    pub async fn upload_checkpoint(&self, a: &Assignment, bytes: Vec<u8>) -> Result<(), CallError> {
        let sha = crate::digest::sha256(&bytes);
        let path = format!("{}/checkpoint", protocol::trial_path(a.trial_id, a.attempt));
        let request = self
            .request(Method::PUT, &path)
            .timeout(self.call_timeout.max(Duration::from_secs(30)))
            .header(WORKER_HEADER, &*self.worker)
            .header(SHA256_HEADER, sha)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes);
        answer::<()>(self.send(request).await).await
    }

    /// Downloads the trial's stored checkpoint to `dest` (verified, then
    /// renamed into place); whether there was one.
    pub async fn download_checkpoint(
        &self,
        a: &Assignment,
        dest: &Path,
    ) -> Result<bool, CallError> {
        let path = format!("{}/checkpoint", protocol::trial_path(a.trial_id, a.attempt));
        let request = self
            .request(Method::GET, &path)
            .header(WORKER_HEADER, &*self.worker);
        let expected = a.checkpoint.as_ref().map(|c| c.sha256.as_str());
        match self.download(request, expected, dest).await {
            Ok(()) => Ok(true),
            Err(CallError::Refused { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Downloads the dataset file of digest `sha256` to `dest`, verified.
    pub async fn download_file(&self, sha256: &str, dest: &Path) -> Result<(), CallError> {
        let request = self.request(Method::GET, &format!("/v1/worker/files/{sha256}"));
        self.download(request, Some(sha256), dest).await
    }

    /// Streams an answer into a temporary file beside `dest`, checks its
    /// SHA-256 (`expected`, else the one the answer announces), renames it.
    async fn download(
        &self,
        request: reqwest::RequestBuilder,
        expected: Option<&str>,
        dest: &Path,
    ) -> Result<(), CallError> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let response = self.send(request.timeout(Duration::from_secs(600))).await;
        let response = checked(response).await?;
        let announced = response
            .headers()
            .get(SHA256_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let Some(expected) = expected.map(str::to_string).or(announced) else {
            return Err(refused(0, "the server sent no SHA-256 for the file"));
        };
        let partial = dest.with_extension(format!("partial-{}", std::process::id()));
        let local = |e: std::io::Error| refused(0, &format!("{}: {e}", partial.display()));
        if let Some(folder) = dest.parent() {
            tokio::fs::create_dir_all(folder).await.map_err(local)?;
        }
        let mut out = tokio::fs::File::create(&partial).await.map_err(local)?;
        let mut hasher = Sha256::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = tokio::fs::remove_file(&partial).await;
                    return Err(CallError::Unreachable(format!("downloading: {e}")));
                }
            };
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(local)?;
        }
        out.sync_all().await.map_err(local)?;
        drop(out);
        let got = hex(&hasher.finalize());
        if got != expected {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(refused(
                0,
                &format!("the file downloaded has SHA-256 {got}, not {expected}: refused"),
            ));
        }
        tokio::fs::rename(&partial, dest).await.map_err(local)?;
        Ok(())
    }

    /// A call on the attempt's routes.
    async fn fenced<B: Serialize, T: DeserializeOwned>(
        &self,
        a: &Assignment,
        what: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let path = format!("{}/{what}", protocol::trial_path(a.trial_id, a.attempt));
        let mut request = self
            .request(Method::POST, &path)
            .timeout(self.call_timeout)
            .header(WORKER_HEADER, &*self.worker);
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(self.send(request).await).await
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, CallError> {
        let mut request = self.request(method, path).timeout(self.call_timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        answer(self.send(request).await).await
    }

    /// The URL calls go to now.
    fn base(&self) -> &str {
        &self.bases[self.current.load(Ordering::Relaxed) % self.bases.len()]
    }

    /// Sends `request`; when the server cannot be reached (no connection,
    /// no answer in time), later calls go to the next URL, if there are
    /// several. The caller retries an unreachable call as it always does.
    async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
        let at = self.current.load(Ordering::Relaxed);
        let sent = request.send().await;
        if let Err(e) = &sent {
            if self.bases.len() > 1 && (e.is_connect() || e.is_timeout()) {
                let next = (at + 1) % self.bases.len();
                if self
                    .current
                    .compare_exchange(at, next, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                {
                    tracing::warn!(from = %self.bases[at % self.bases.len()], to = %self.bases[next],
                        "the server cannot be reached; going on with the next one");
                }
            }
        }
        sent
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base()));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// The value of an answer without a body (204): `()` for the calls that expect one.
fn unit<T: DeserializeOwned>() -> Result<T, CallError> {
    serde_json::from_str("null").map_err(|_| refused(204, "an answer without the body expected"))
}

/// The body of a successful answer; the error of any other.
async fn answer<T: DeserializeOwned>(
    sent: reqwest::Result<reqwest::Response>,
) -> Result<T, CallError> {
    let response = checked(sent).await?;
    // No content reads as `null`, which is what `()` is.
    let text = match response.status() {
        StatusCode::NO_CONTENT => return unit(),
        _ => response,
    };
    let text = text
        .text()
        .await
        .map_err(|e| CallError::Unreachable(format!("reading the answer: {e}")))?;
    serde_json::from_str(&text).map_err(|e| refused(200, &format!("an answer not understood: {e}")))
}

/// A response whose status says success; the error of any other.
async fn checked(sent: reqwest::Result<reqwest::Response>) -> Result<reqwest::Response, CallError> {
    let response = sent.map_err(|e| CallError::Unreachable(describe(&e)))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let code = body["error"]["code"].as_str().unwrap_or("");
    let message = body["error"]["message"]
        .as_str()
        .map_or_else(|| text.chars().take(200).collect(), str::to_string);
    match status {
        StatusCode::CONFLICT if code == "lease_lost" => Err(CallError::LeaseLost),
        StatusCode::BAD_GATEWAY | StatusCode::SERVICE_UNAVAILABLE | StatusCode::GATEWAY_TIMEOUT => {
            Err(CallError::Unreachable(format!("{status}: {message}")))
        }
        _ => Err(refused(status.as_u16(), &message)),
    }
}

fn refused(status: u16, message: &str) -> CallError {
    CallError::Refused {
        status,
        message: message.to_string(),
    }
}

/// A transport error with its causes, e.g. "connection refused".
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
