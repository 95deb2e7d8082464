//! The worker protocol's server side (`/v1/worker/...`, see
//! [`crate::protocol`]): the only place where workers reach the store, and
//! where the server decides for them.
//!
//! - this file: the routes, what they share (`Hub`), register and claim.
//! - `assign`: a claimed trial made an assignment: its configuration
//!   sampled now (so that bayes sees every finished result), its dataset's
//!   manifest, the checkpoint to resume from.
//! - `judge`: the scheduler's decision on an epoch report, and the target.
//! - `trial`: the fenced routes of one attempt: renew, rewind, progress,
//!   report, finish, hand back, lose.
//! - `files`: checkpoints up and down, dataset files by SHA-256.
//! - `manifest`: datasets as files with their digests, hashed once per change.
mod assign;
mod files;
mod judge;
mod manifest;
mod trial;

use super::{ApiError, ApiJson, AppState};
use crate::config::Config;
use crate::protocol::{self, Assignment, Claimed, Register, Registered};
use crate::spec::{SweepSpec, TrialParams};
use crate::store::{Claim, Like, Queue as _, Sweeps as _, Workers as _};
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub use manifest::Manifests;

/// Most attempts kept in memory (a few kilobytes each).
const MAX_HELD: usize = 8192;

/// How often a waiting claim looks at the queue again when nothing woke it.
const POLL: Duration = Duration::from_millis(250);

/// What the worker routes share: the settings workers follow, the claims
/// held (so that a report needs no read to know its trial), and a wake-up
/// for waiting claims.
pub struct Hub {
    pub lease_ms: u64,
    pub batch_loss_every: u32,
    pub validation_fraction: f64,
    pub max_attempts: u32,
    /// Group size for sweeps whose spec sets no `fuse`.
    pub fuse: u32,
    /// Most bytes of one uploaded checkpoint.
    pub max_checkpoint_bytes: u64,
    /// The attempts this server handed out or read back, by (trial, attempt).
    held: Mutex<HashMap<(i64, i64), Arc<Held>>>,
    /// When each worker known to have registered last called, by the
    /// server's clock (ms since the epoch), since this server started.
    seen: Mutex<HashMap<String, i64>>,
    /// Wakes waiting claims: a trial was handed back, ended, or queued.
    wake: Notify,
    /// When a claim last found nothing to take, if nothing woke claims
    /// since: until `POLL` later, waiting claims do not look again (each
    /// look is a write transaction, and a thousand idle workers would
    /// otherwise make thousands a second).
    dry: Mutex<Option<Instant>>,
    pub manifests: Manifests,
}

/// One attempt of a trial, as the server handed it out.
pub(super) struct Held {
    pub claim: Claim,
    pub worker: String,
    pub spec: SweepSpec,
    pub params: TrialParams,
}

impl Hub {
    /// The hub of a server configured by `config`.
    pub fn new(config: &Config) -> Hub {
        Hub {
            lease_ms: config.lease_seconds * 1000,
            batch_loss_every: config.batch_loss_every,
            validation_fraction: config.validation_fraction,
            max_attempts: config.max_attempts,
            fuse: config.fuse,
            max_checkpoint_bytes: config.max_checkpoint_bytes,
            held: Mutex::default(),
            seen: Mutex::default(),
            wake: Notify::new(),
            dry: Mutex::new(None),
            manifests: Manifests::default(),
        }
    }

    /// How many trials of the sweep with this stored spec one group
    /// holds: its `fuse`, else the server's.
    fn group_size(&self, spec: &serde_json::Value) -> usize {
        let fuse = spec.get("fuse").and_then(serde_json::Value::as_u64);
        fuse.map_or(self.fuse as usize, |f| f as usize).max(1)
    }

    /// Wakes every waiting claim: there may be a trial to take.
    pub fn wake(&self) {
        *self.dry.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.wake.notify_waiters();
    }

    /// Whether a claim found nothing less than `POLL` ago, with nothing
    /// woken since: looking again now would find nothing either.
    fn dry(&self) -> bool {
        let dry = self.dry.lock().unwrap_or_else(|e| e.into_inner());
        dry.is_some_and(|at| at.elapsed() < POLL)
    }

    fn found_nothing(&self) {
        *self.dry.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// The worker, known to have registered, called now.
    fn saw(&self, worker: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        match seen.get_mut(worker) {
            Some(at) => *at = crate::store::now_ms(),
            None => {
                seen.insert(worker.to_string(), crate::store::now_ms());
            }
        }
    }

    /// When the worker last called this server, if it has.
    pub fn last_seen(&self, worker: &str) -> Option<i64> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(worker).copied()
    }

    fn remember(&self, held: Held) -> Arc<Held> {
        let held = Arc::new(held);
        let key = (held.claim.trial_id, held.claim.attempt);
        let mut all = self.lock();
        // Attempts taken back by the reaper are never told: past a bound the
        // memory is dropped, and live attempts are read back at their next call.
        if all.len() >= MAX_HELD {
            all.clear();
        }
        all.insert(key, held.clone());
        held
    }

    fn forget(&self, trial_id: i64, attempt: i64) {
        self.lock().remove(&(trial_id, attempt));
    }

    fn recall(&self, trial_id: i64, attempt: i64) -> Option<Arc<Held>> {
        self.lock().get(&(trial_id, attempt)).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, i64), Arc<Held>>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The worker protocol's routes. Checkpoints may be far larger than an API
/// request, so these carry their own body limits.
pub fn router(max_body_bytes: usize) -> Router<AppState> {
    let prefix = "/v1/worker/trials/{trial}/attempts/{attempt}";
    let fenced = Router::new()
        .route(&format!("{prefix}/renew"), post(trial::renew))
        .route(&format!("{prefix}/rewind"), post(trial::rewind))
        .route(&format!("{prefix}/progress"), post(trial::progress))
        .route(&format!("{prefix}/report"), post(trial::report))
        .route(&format!("{prefix}/finish"), post(trial::finish))
        .route(&format!("{prefix}/hand-back"), post(trial::hand_back))
        .route(&format!("{prefix}/lose"), post(trial::lose))
        .route("/v1/worker/register", post(register))
        .route("/v1/worker/claim", post(claim))
        .layer(DefaultBodyLimit::max(max_body_bytes));
    let files = Router::new()
        .route(
            &format!("{prefix}/checkpoint"),
            get(files::download).put(files::upload),
        )
        .route("/v1/worker/files/{sha256}", get(files::dataset_file))
        // Streamed to disk with the limit `max_checkpoint_bytes` instead.
        .layer(DefaultBodyLimit::disable());
    fenced.merge(files)
}

/// `POST /v1/worker/register`: records the worker and answers with its id
/// and the settings its training follows.
async fn register(
    State(state): State<AppState>,
    ApiJson(worker): ApiJson<Register>,
) -> Result<Json<Registered>, ApiError> {
    let hub = &state.hub;
    if worker.protocol != protocol::VERSION {
        return Err(ApiError::BadRequest(format!(
            "protocol: this server speaks version {}, the worker {}",
            protocol::VERSION,
            worker.protocol
        )));
    }
    let id = match &worker.id {
        Some(id) => checked_id(id)?,
        None => format!("{}-{}", worker.host, random_suffix()),
    };
    checked_id(&worker.host).map_err(|_| ApiError::BadParameter {
        field: "host",
        message: "must be 1 to 128 characters of letters, digits, `.`, `_` or `-`".into(),
    })?;
    if worker.slots == 0 || worker.threads == 0 {
        return Err(ApiError::BadRequest(
            "slots and threads must be at least 1".into(),
        ));
    }
    state.store.register_worker(&id, &worker).await?;
    hub.saw(&id);
    tracing::info!(worker = %id, host = %worker.host, device = %worker.device,
        slots = worker.slots, threads = worker.threads, "worker registered");
    Ok(Json(Registered {
        worker_id: id,
        protocol: protocol::VERSION,
        lease_ms: hub.lease_ms,
        batch_loss_every: hub.batch_loss_every,
        validation_fraction: hub.validation_fraction,
        max_attempts: hub.max_attempts,
    }))
}

/// A worker id: 1 to 128 letters, digits, `.`, `_`, `-`.
fn checked_id(id: &str) -> Result<String, ApiError> {
    let fine = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match fine {
        true => Ok(id.to_string()),
        false => Err(ApiError::BadParameter {
            field: "id",
            message: "must be 1 to 128 characters of letters, digits, `.`, `_` or `-`".into(),
        }),
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    format!("{:08x}", rand::rng().random::<u32>())
}

/// `POST /v1/worker/claim`: up to `max` trials, each under a lease of its
/// own, waiting up to `wait_ms` for one when none can run now.
async fn claim(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<protocol::ClaimRequest>,
) -> Result<Json<Claimed>, ApiError> {
    if !(1..=protocol::MAX_CLAIM).contains(&request.max) {
        return Err(ApiError::BadParameter {
            field: "max",
            message: format!("must be 1 to {}", protocol::MAX_CLAIM),
        });
    }
    if request.wait_ms > protocol::MAX_WAIT_MS {
        return Err(ApiError::BadParameter {
            field: "wait_ms",
            message: format!("must be at most {}", protocol::MAX_WAIT_MS),
        });
    }
    let worker = request.worker_id.as_str();
    ensure_registered(&state, worker).await?;
    if let Some(lead) = request.join {
        return join(&state, worker, lead, request.max).await.map(Json);
    }
    let deadline = Instant::now() + Duration::from_millis(request.wait_ms);
    loop {
        // Registered before the look, so that a wake-up meanwhile is not missed.
        let woken = state.hub.wake.notified();
        let mut trials: Vec<Assignment> = Vec::new();
        let mut room = request.max as usize;
        while trials.len() < room && !state.hub.dry() {
            let lease_ms = state.hub.lease_ms as i64;
            // A group's further members fuse with its first.
            let like = match trials.first() {
                Some(first) if request.group => Some(Like {
                    sweep_id: first.sweep_id,
                    params: first.params.clone(),
                }),
                _ => None,
            };
            let claim = match &like {
                Some(like) => state.store.claim_like(worker, lease_ms, like).await?,
                None => state.store.claim(worker, lease_ms).await?,
            };
            let Some(claim) = claim else {
                if like.is_none() {
                    state.hub.found_nothing();
                }
                break;
            };
            let shape = like.as_ref().map(|l| &l.params);
            if let Some(assignment) = assign::assign(&state, claim, worker, shape).await? {
                if request.group && trials.is_empty() {
                    room = room.min(state.hub.group_size(&assignment.spec));
                }
                trials.push(assignment);
            }
        }
        if trials.len() > 1 && request.group {
            note_group(&state, worker, &trials, None).await;
        }
        let now = Instant::now();
        if !trials.is_empty() || now >= deadline {
            return Ok(Json(Claimed { trials }));
        }
        let _ = tokio::time::timeout((deadline - now).min(POLL), woken).await;
    }
}

/// Up to `max` queued trials that fuse with trial `lead`, to join the
/// fused group it trains in now (no waiting: none when there are none).
/// Each joiner is recorded with the joiners and `lead` as its group.
async fn join(state: &AppState, worker: &str, lead: i64, max: u32) -> Result<Claimed, ApiError> {
    let trial = state.store.trial(lead).await?;
    let like = trial.and_then(|t| {
        let params = serde_json::from_value::<TrialParams>(t.params).ok()?;
        Some(Like {
            sweep_id: t.sweep_id,
            params,
        })
    });
    let Some(like) = like else {
        return Err(ApiError::BadParameter {
            field: "join",
            message: format!("names no trial with a configuration: {lead}"),
        });
    };
    let lease_ms = state.hub.lease_ms as i64;
    let mut trials = Vec::new();
    while trials.len() < max as usize {
        let Some(claim) = state.store.claim_like(worker, lease_ms, &like).await? else {
            break;
        };
        if let Some(a) = assign::assign(state, claim, worker, Some(&like.params)).await? {
            trials.push(a);
        }
    }
    if !trials.is_empty() {
        note_group(state, worker, &trials, Some(lead)).await;
    }
    Ok(Claimed { trials })
}

/// Records on each of `these` (an event `trial_grouped`, and its
/// `group_members`) the group it trains in: `these` themselves, a group
/// just formed; or, when they join the running group of trial `joined`,
/// that trial and `these`. A write that fails is logged: the group trains
/// all the same.
async fn note_group(state: &AppState, worker: &str, these: &[Assignment], joined: Option<i64>) {
    let members: Vec<i64> = joined
        .into_iter()
        .chain(these.iter().map(|a| a.trial_id))
        .collect();
    for a in these {
        let claim = Claim {
            trial_id: a.trial_id,
            sweep_id: a.sweep_id,
            number: a.number,
            attempt: a.attempt,
            epochs_done: a.epochs_done,
            params: Some(a.params.clone()),
            seed: a.seed,
            dataset: a.dataset.name.clone(),
            sweep_seed: a.sweep_seed,
            spec: a.spec.clone(),
        };
        let mut data = serde_json::json!({
            "number": a.number, "attempt": a.attempt, "worker": worker,
            "size": members.len(), "members": members,
        });
        if let Some(lead) = joined {
            data["joined"] = lead.into();
        }
        if let Err(e) = state.store.note_group(&claim, worker, &members, data).await {
            tracing::warn!(trial = a.trial_id, "recording its fused group: {e}");
        }
    }
}

/// Refuses a worker id that never registered (409: register first); a
/// registered one is seen calling now.
async fn ensure_registered(state: &AppState, worker: &str) -> Result<(), ApiError> {
    let hub = &state.hub;
    if hub.last_seen(worker).is_some() || state.store.worker_registered(worker).await? {
        hub.saw(worker);
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "worker `{}` has not registered: POST /v1/worker/register first",
        worker.escape_debug()
    )))
}
