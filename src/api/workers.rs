//! `GET /v1/workers`: the workers that registered over the worker protocol,
//! what they have, what they train now and when they last called.
use super::{ApiError, AppState};
use crate::store::Workers as _;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// The registered workers.
#[derive(Serialize, ToSchema)]
pub struct WorkerList {
    pub workers: Vec<WorkerInfo>,
}

/// One registered worker.
#[derive(Serialize, ToSchema)]
pub struct WorkerInfo {
    /// Unique across hosts; `local.` for the server's own workers.
    pub id: String,
    pub host: String,
    /// `cpu`, or the CUDA devices it trains on (`cuda:0,cuda:1`).
    pub device: String,
    /// Trials it trains at once.
    pub slots: i64,
    /// libtorch threads per trial.
    pub threads: i64,
    /// Its host's memory in bytes (0: unknown).
    pub memory_bytes: i64,
    /// The protocol version it speaks.
    pub protocol: i64,
    /// When it registered (ms since the Unix epoch, the server's clock).
    pub registered_ms: i64,
    /// When it last called this server, if it has since the server started.
    pub last_seen_ms: Option<i64>,
    /// Trials it holds a lease on now.
    pub running: i64,
}

/// Lists the workers that registered, most recent first.
#[utoipa::path(get, path = "/v1/workers", tag = "workers",
    responses((status = 200, description = "The registered workers.", body = WorkerList)))]
pub async fn list(State(state): State<AppState>) -> Result<Json<WorkerList>, ApiError> {
    let rows = state.store.workers().await?;
    let workers = rows
        .into_iter()
        .map(|w| WorkerInfo {
            last_seen_ms: state.hub.last_seen(&w.id),
            id: w.id,
            host: w.host,
            device: w.device,
            slots: w.slots,
            threads: w.threads,
            memory_bytes: w.memory_bytes,
            protocol: w.protocol,
            registered_ms: w.registered_ms,
            running: w.running,
        })
        .collect();
    Ok(Json(WorkerList { workers }))
}
