//! The routes of one trial attempt, each fenced by the lease: the store
//! checks, inside the write, that the worker named in the header still
//! holds the trial in this attempt, so a write from an attempt that lost
//! its lease is refused (409 `lease_lost`) and changes nothing.
use super::judge::judge;
use super::Held;
use crate::api::{parse_id, ApiError, ApiJson, ApiPath, AppState};
use crate::protocol::{self, Decided, Decision, Lose, Outcome, Report, Rewind, Rewound};
use crate::state::TrialState;
use crate::store::{Finish, Queue as _, Reported, Workers as _, WriteError};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use std::sync::Arc;

/// The attempt a request writes for: the held claim and the worker.
pub(super) struct Attempt {
    pub held: Arc<Held>,
    pub trial: i64,
    pub attempt: i64,
}

/// The attempt of `/v1/worker/trials/{trial}/attempts/{attempt}` held by the
/// worker of the header: from memory, or read back after a restart. 409
/// `lease_lost` when that worker holds no such attempt.
pub(super) async fn attempt(
    state: &AppState,
    (trial, attempt): (String, String),
    headers: &HeaderMap,
) -> Result<Attempt, ApiError> {
    let (trial, attempt) = (parse_id(&trial, "trial")?, parse_id(&attempt, "attempt")?);
    let worker = headers
        .get(protocol::WORKER_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::BadParameter {
            field: protocol::WORKER_HEADER,
            message: "the worker's id must be sent in this header".into(),
        })?;
    let lost = ApiError::LeaseLost { trial, attempt };
    if let Some(held) = state.hub.recall(trial, attempt) {
        if held.worker != worker {
            return Err(lost);
        }
        // It holds an attempt: it registered.
        state.hub.saw(worker);
        return Ok(Attempt {
            held,
            trial,
            attempt,
        });
    }
    let Some(claim) = state.store.held_claim(trial, attempt, worker).await? else {
        return Err(lost);
    };
    let spec = crate::spec::SweepSpec::from_stored(&claim.spec)
        .map_err(|e| ApiError::Internal(format!("trial {trial}: stored spec: {e}")))?;
    let Some(params) = claim.params.clone() else {
        // Claimed before a restart and never sampled: nothing to train.
        return Err(lost);
    };
    let held = state.hub.remember(Held {
        claim,
        worker: worker.to_string(),
        spec,
        params,
    });
    state.hub.saw(worker);
    Ok(Attempt {
        held,
        trial,
        attempt,
    })
}

impl Attempt {
    /// A fenced write's result as the API's: 409 when the lease was lost
    /// (the attempt is then forgotten).
    pub fn written<T>(
        &self,
        state: &AppState,
        written: Result<T, WriteError>,
    ) -> Result<T, ApiError> {
        match written {
            Ok(written) => Ok(written),
            Err(WriteError::LeaseLost) => {
                state.hub.forget(self.trial, self.attempt);
                Err(ApiError::LeaseLost {
                    trial: self.trial,
                    attempt: self.attempt,
                })
            }
            Err(WriteError::Store(e)) => Err(e.into()),
        }
    }

    fn worker(&self) -> &str {
        &self.held.worker
    }
}

/// `POST .../renew`: the lease runs `lease_ms` from now, by the server's clock.
pub(super) async fn renew(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let lease_ms = state.hub.lease_ms as i64;
    let renewed = state
        .store
        .renew_lease(&a.held.claim, a.worker(), lease_ms)
        .await;
    a.written(&state, renewed)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../rewind`: training starts after `epoch`; the reports kept.
pub(super) async fn rewind(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Rewind>,
) -> Result<Json<Rewound>, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    if body.epoch < 0 || body.epoch > a.held.claim.epochs_done.max(0) {
        return Err(ApiError::BadParameter {
            field: "epoch",
            message: format!(
                "must be 0 to the {} epochs the trial has reports of",
                a.held.claim.epochs_done
            ),
        });
    }
    let rewound = state
        .store
        .rewind(&a.held.claim, a.worker(), body.epoch)
        .await;
    let reports = a.written(&state, rewound)?;
    Ok(Json(Rewound { reports }))
}

/// `POST .../progress`: how far the attempt is within its epoch, for watchers.
pub(super) async fn progress(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(data): ApiJson<serde_json::Value>,
) -> Result<StatusCode, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    if !data.is_object() {
        return Err(ApiError::BadRequest("body: must be a JSON object".into()));
    }
    let written = state
        .store
        .report_progress(&a.held.claim, a.worker(), data)
        .await;
    a.written(&state, written)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../report`: stores an epoch's report with the scheduler's
/// verdict, taken here, and answers with what the worker does next. A
/// report delivered again (its answer was lost) is not stored twice.
pub(super) async fn report(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Report>,
) -> Result<Json<Decided>, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let (store, claim) = (&state.store, &a.held.claim);
    let report = &body.report;
    let epochs = i64::from(a.held.params.epochs);
    if report.epoch < 1 || report.epoch > epochs {
        return Err(ApiError::BadParameter {
            field: "report.epoch",
            message: format!("must be 1 to the trial's {epochs} epochs"),
        });
    }
    let lease_ms = state.hub.lease_ms as i64;
    let verdict = judge(store, &a.held, report).await?;
    let reported = store
        .report_epoch(claim, a.worker(), lease_ms, report, &body.samples, &verdict)
        .await;
    if a.written(&state, reported)? == Reported::DeliveredBefore {
        // Delivered before, its answer lost: nothing was stored again.
        return Ok(Json(Decided {
            decision: Decision::Continue,
        }));
    }
    let decision = match &verdict {
        v if matches!(v.decision, Some((true, _))) => Decision::Stop,
        v if v.target_reached => Decision::Finish,
        _ => Decision::Continue,
    };
    if decision == Decision::Stop {
        // Pruned: the trial has ended, and so has this attempt.
        trial_over(&state, &a).await;
    }
    Ok(Json(Decided { decision }))
}

/// `POST .../finish`: the trial ended completed or failed; completes the
/// sweep when it was its last.
pub(super) async fn finish(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(outcome): ApiJson<Outcome>,
) -> Result<StatusCode, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let finish = match outcome {
        Outcome::Completed {
            test_loss,
            test_accuracy,
        } => Finish::Completed {
            test_loss,
            test_accuracy,
        },
        Outcome::Failed { reason } => Finish::Failed { reason },
    };
    let finished = state.store.finish(&a.held.claim, a.worker(), &finish).await;
    a.written(&state, finished)?;
    trial_over(&state, &a).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../hand-back`: back to the queue at its checkpoint (the worker
/// shuts down), no attempt counted.
pub(super) async fn hand_back(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let handed = state.store.hand_back(&a.held.claim, a.worker()).await;
    a.written(&state, handed)?;
    state.hub.forget(a.trial, a.attempt);
    state.hub.wake();
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../lose`: the attempt is given up as a crash would (the worker
/// ran out of memory), counting one of the trial's attempts.
pub(super) async fn lose(
    State(state): State<AppState>,
    ApiPath(path): ApiPath<(String, String)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Lose>,
) -> Result<StatusCode, ApiError> {
    let a = attempt(&state, path, &headers).await?;
    let max = state.hub.max_attempts;
    let lost = state
        .store
        .lose_attempt(&a.held.claim, a.worker(), max, &body.reason)
        .await;
    a.written(&state, lost)?;
    // Queued again, unless that was its last attempt.
    match state.store.trial_state(a.trial).await? {
        Some(TrialState::Queued) => attempt_over(&state, &a),
        _ => trial_over(&state, &a).await,
    }
    Ok(StatusCode::NO_CONTENT)
}

/// After an attempt ended: forgotten, and waiting claims woken.
fn attempt_over(state: &AppState, a: &Attempt) {
    state.hub.forget(a.trial, a.attempt);
    state.hub.wake();
}

/// After the trial ended with its attempt: its checkpoint files go too, as
/// no attempt will resume from them (their rows go with the trial).
async fn trial_over(state: &AppState, a: &Attempt) {
    attempt_over(state, a);
    // Best effort: what is left goes with its sweep's files.
    let claim = &a.held.claim;
    state
        .blobs
        .remove_trial(claim.sweep_id, claim.trial_id)
        .await;
}
