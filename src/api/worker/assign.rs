//! A claimed trial made an assignment: its configuration (the stored one,
//! or sampled now by TPE over the sweep's finished trials and those of the
//! sweeps it warm-starts from, never one the sweep already has on a
//! discrete space), the manifest of its dataset, and the checkpoint an
//! earlier attempt uploaded.
use super::Held;
use crate::api::{ApiError, AppState};
use crate::protocol::Assignment;
use crate::search::{self, tpe::Observation};
use crate::spec::{SweepSpec, TrialParams};
use crate::store::{Claim, Finish, Queue as _, StoreError, Workers as _, WriteError};
use std::collections::HashSet;

/// The assignment of a claimed trial; None when the trial ended instead:
/// its space is exhausted, its stored spec or dataset cannot be used (the
/// trial fails with the reason), or the lease was lost meanwhile.
///
/// `group`: the configuration of the fused group the trial joins; one
/// sampled now takes its shape, optimizer and batch size.
pub(super) async fn assign(
    state: &AppState,
    claim: Claim,
    worker: &str,
    group: Option<&TrialParams>,
) -> Result<Option<Assignment>, ApiError> {
    let store = &state.store;
    let spec = match SweepSpec::from_stored(&claim.spec) {
        Ok(spec) => spec,
        Err(e) => {
            fail(
                state,
                &claim,
                worker,
                format!("the stored spec is invalid: {e}"),
            )
            .await?;
            return Ok(None);
        }
    };
    let params = match &claim.params {
        Some(params) => params.clone(),
        None => match sample(state, &spec, &claim, worker, group).await? {
            Some(params) => params,
            None => return Ok(None),
        },
    };
    let catalog = state.catalog.clone();
    let manifest = state.hub.manifests.of(catalog, &claim.dataset).await;
    let dataset = match manifest {
        Ok(manifest) => manifest,
        Err(e) => {
            fail(state, &claim, worker, e.to_string()).await?;
            return Ok(None);
        }
    };
    let checkpoint = match claim.epochs_done {
        0 => None,
        _ => store.latest_checkpoint(claim.trial_id).await?,
    };
    let assignment = Assignment {
        trial_id: claim.trial_id,
        sweep_id: claim.sweep_id,
        number: claim.number,
        attempt: claim.attempt,
        seed: claim.seed,
        sweep_seed: claim.sweep_seed,
        epochs_done: claim.epochs_done,
        params: params.clone(),
        spec: claim.spec.clone(),
        lease_ms: state.hub.lease_ms,
        dataset,
        checkpoint,
    };
    tracing::info!(
        worker,
        trial = claim.trial_id,
        attempt = claim.attempt,
        "claimed"
    );
    state.hub.remember(Held {
        claim,
        worker: worker.to_string(),
        spec,
        params,
    });
    Ok(Some(assignment))
}

/// Ends a claimed trial failed: it cannot be trained by anyone.
async fn fail(
    state: &AppState,
    claim: &Claim,
    worker: &str,
    reason: String,
) -> Result<(), ApiError> {
    tracing::warn!(trial = claim.trial_id, "failing the trial: {reason}");
    let finish = Finish::Failed { reason };
    match state.store.finish(claim, worker, &finish).await {
        Ok(()) | Err(WriteError::LeaseLost) => Ok(()),
        Err(WriteError::Store(e)) => Err(e.into()),
    }
}

/// Samples, records and returns a trial's configuration; None when the
/// lease was lost meanwhile, or when the discrete space has no untried
/// configuration left (the trial and the sweep then end `exhausted`).
async fn sample(
    state: &AppState,
    spec: &SweepSpec,
    claim: &Claim,
    worker: &str,
    group: Option<&TrialParams>,
) -> Result<Option<TrialParams>, ApiError> {
    let store = &state.store;
    let metric = spec.metric().name;
    let finished: Vec<_> = store
        .history(claim.sweep_id, metric)
        .await?
        .into_iter()
        .map(|f| (f.params, f.value))
        .collect();
    let warm = warm_history(state, spec).await?;
    let taken: HashSet<String> = match spec.space_size() {
        Some(_) => store
            .taken_configurations(claim.sweep_id)
            .await?
            .iter()
            .map(|p| spec.config_key(p))
            .collect(),
        None => HashSet::new(),
    };
    // TPE over a long history is CPU work (46 ms at 10k trials): off the
    // async threads, which serve other requests meanwhile.
    let (owned, seed) = (spec.clone(), claim.seed);
    let params = tokio::task::spawn_blocking(move || {
        search::suggest_untried(&owned, &finished, &warm, &taken, seed)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("sampling a configuration: {e}")))?;
    let Some(params) = params else {
        tracing::info!(trial = claim.trial_id, "the space is exhausted");
        return match store.exhaust(claim, worker).await {
            Ok(()) | Err(WriteError::LeaseLost) => Ok(None),
            Err(WriteError::Store(e)) => Err(e.into()),
        };
    };
    // In a group, the shape drawn for its first member is the group's.
    let params = match group {
        Some(group) => group.with_group_shape(params),
        None => params,
    };
    match store.assign_params(claim, worker, &params).await {
        Ok(()) => Ok(Some(params)),
        Err(WriteError::LeaseLost) => Ok(None),
        Err(WriteError::Store(e)) => Err(e.into()),
    }
}

/// The finished trials of the sweeps `warm_start.sweeps` names, as TPE
/// observations of this sweep's space. A sweep deleted since, or whose
/// stored spec cannot be read, adds nothing.
async fn warm_history(state: &AppState, spec: &SweepSpec) -> Result<Vec<Observation>, StoreError> {
    let mut warm = Vec::new();
    for &id in &spec.warm_start().sweeps {
        let Some((document, _)) = state.store.stored_spec(id).await? else {
            continue;
        };
        let Ok(source) = SweepSpec::from_stored(&document) else {
            continue;
        };
        let finished: Vec<_> = state
            .store
            .history(id, spec.metric().name)
            .await?
            .into_iter()
            .map(|f| (f.params, f.value))
            .collect();
        warm.extend(search::warm_observations(spec, &source, &finished));
    }
    Ok(warm)
}
