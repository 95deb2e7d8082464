//! Files that travel: checkpoints, uploaded after each epoch (streamed to a
//! temporary file, SHA-256 checked, renamed into place per trial and
//! attempt, recorded only while the lease holds) and downloaded by a
//! resuming attempt; dataset files, by their SHA-256.
use super::trial::attempt;
use crate::api::{ApiError, ApiPath, AppState};
use crate::blobs::{Blob, CheckpointKey};
use crate::digest::{hex, is_sha256};
use crate::protocol::SHA256_HEADER;
use crate::state::TrialState;
use crate::store::{Claim, Queue as _, Workers as _};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// The blob store's key of an attempt's checkpoint.
fn checkpoint_key(claim: &Claim, attempt: i64) -> CheckpointKey {
    CheckpointKey {
        sweep_id: claim.sweep_id,
        trial_id: claim.trial_id,
        attempt,
    }
}

/// `PUT .../checkpoint`: stores the attempt's checkpoint.
pub(super) async fn upload(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    let headers = request.headers().clone();
    let a = attempt(&state, path, &headers).await?;
    let expected = sha256_header(&headers)?;
    let limit = state.hub.max_checkpoint_bytes;
    let key = checkpoint_key(&a.held.claim, a.attempt);
    let partial = match state.blobs.staging(&key, &state.spool).await {
        Ok(partial) => partial,
        Err(e) => {
            let why = format!("checkpoint folder: {e}");
            return Err(gone_or(&state, &a, why).await);
        }
    };
    let received = receive(request.into_body(), &partial, limit).await;
    let (digest, bytes) = match received {
        Ok(got) => got,
        Err(ApiError::Internal(why)) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(gone_or(&state, &a, why).await);
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    if digest != expected {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ApiError::BadParameter {
            field: SHA256_HEADER,
            message: format!("the body's SHA-256 is {digest}, not {expected}; nothing was kept"),
        });
    }
    let blob = match state.blobs.keep(&key, &partial).await {
        Ok(blob) => blob,
        Err(why) => return Err(gone_or(&state, &a, why).await),
    };
    // Kept in a folder already, unless it goes into the record's write.
    let in_folder = blob.is_none();
    let recorded = state
        .store
        .record_checkpoint(&a.held.claim, &a.held.worker, &digest, bytes, blob)
        .await;
    if let Err(e) = a.written(&state, recorded) {
        if in_folder {
            state.blobs.remove(&key).await;
        }
        return Err(e);
    }
    // Earlier attempts' checkpoints are superseded.
    for earlier in 1..a.attempt {
        state
            .blobs
            .remove(&checkpoint_key(&a.held.claim, earlier))
            .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The error of an upload whose file could not be kept: the lease is lost
/// when the trial ended meanwhile (its folder goes with it), else `why`.
async fn gone_or(state: &AppState, a: &super::trial::Attempt, why: String) -> ApiError {
    let running = state.store.trial_state(a.trial).await;
    match running {
        Ok(Some(TrialState::Running)) => ApiError::Internal(why),
        _ => ApiError::LeaseLost {
            trial: a.trial,
            attempt: a.attempt,
        },
    }
}

/// Streams `body` into `partial`, at most `limit` bytes; its SHA-256 and length.
async fn receive(body: Body, partial: &Path, limit: u64) -> Result<(String, u64), ApiError> {
    let io =
        |e: std::io::Error| ApiError::Internal(format!("checkpoint {}: {e}", partial.display()));
    let mut out = tokio::fs::File::create(partial).await.map_err(io)?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading the body: {e}")))?;
        bytes += chunk.len() as u64;
        if bytes > limit {
            return Err(ApiError::TooLarge(limit.min(usize::MAX as u64) as usize));
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(io)?;
    }
    out.sync_all().await.map_err(io)?;
    Ok((hex(&hasher.finalize()), bytes))
}

/// `GET .../checkpoint`: the trial's newest stored checkpoint.
pub(super) async fn download(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let Some(stored) = state.store.latest_checkpoint(a.trial).await? else {
        return Err(ApiError::NotFound(format!(
            "trial {} has no checkpoint",
            a.trial
        )));
    };
    let key = checkpoint_key(&a.held.claim, stored.attempt);
    match state.blobs.get(&key).await? {
        Some(Blob::File(file)) => send(&file, &stored.sha256).await,
        Some(Blob::Bytes(data)) => Ok(with_digest(
            (StatusCode::OK, Body::from(data)).into_response(),
            &stored.sha256,
        )),
        None => Err(ApiError::NotFound(format!(
            "trial {}'s checkpoint of attempt {} is recorded but its file is gone",
            a.trial, stored.attempt
        ))),
    }
}

/// `GET /v1/worker/files/{sha256}`: a file of a dataset some manifest listed.
pub(super) async fn dataset_file(
    State(state): State<AppState>,
    ApiPath(sha256): ApiPath<String>,
) -> Result<Response, ApiError> {
    let Some(path) = state.hub.manifests.path_of(&sha256) else {
        return Err(ApiError::NotFound(format!(
            "no dataset file has SHA-256 `{}`",
            sha256.escape_debug()
        )));
    };
    send(&path, &sha256).await
}

/// Streams a file with its digest in the header.
async fn send(path: &Path, sha256: &str) -> Result<Response, ApiError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| ApiError::NotFound(format!("{}: {e}", path.display())))?;
    let length = file.metadata().await.map(|m| m.len()).ok();
    let body = Body::from_stream(tokio_util_stream(file));
    let mut response = (StatusCode::OK, body).into_response();
    if let Some(length) = length {
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Ok(with_digest(response, sha256))
}

/// A file's response with its type and digest in the headers.
fn with_digest(mut response: Response, sha256: &str) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(value) = HeaderValue::from_str(sha256) {
        headers.insert(SHA256_HEADER, value);
    }
    response
}

/// A file as a stream of chunks.
fn tokio_util_stream(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = std::io::Result<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    futures_util::stream::unfold(file, |mut file| async move {
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(buffer), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    })
}

/// The lowercase-hex SHA-256 a request announces.
fn sha256_header(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_ascii_lowercase)
        .filter(|v| is_sha256(v))
        .ok_or_else(|| ApiError::BadParameter {
            field: SHA256_HEADER,
            message: "the checkpoint's SHA-256 must be sent as 64 hex digits".into(),
        })
}
