//! Sampling a claimed bayes trial's configuration: TPE over the sweep's
//! finished trials and those of the sweeps it warm-starts from, never a
//! configuration the sweep already has on a discrete space.
use super::lease::lease_held;
use super::trial::TrialRun;
use crate::search::{self, tpe::Observation};
use crate::spec::{SweepSpec, TrialParams};
use crate::store::{Queue, StoreError};
use std::collections::HashSet;

impl<S: Queue> TrialRun<'_, S> {
    /// Samples, records and returns the trial's configuration; None when the
    /// lease was lost meanwhile, or when the discrete space has no untried
    /// configuration left (the trial and the sweep then end `exhausted`).
    pub(super) async fn sample(&self, spec: &SweepSpec) -> Result<Option<TrialParams>, StoreError> {
        let metric = spec.metric().name;
        let finished: Vec<_> = self
            .store
            .history(self.claim.sweep_id, metric)
            .await?
            .into_iter()
            .map(|f| (f.params, f.value))
            .collect();
        let warm = self.warm_history(spec).await?;
        let taken: HashSet<String> = match spec.space_size() {
            Some(_) => self
                .store
                .taken_configurations(self.claim.sweep_id)
                .await?
                .iter()
                .map(|p| spec.config_key(p))
                .collect(),
            None => HashSet::new(),
        };
        // TPE over a long history is CPU work (46 ms at 10k trials): off the
        // async threads, which renew the lease meanwhile.
        let (owned, seed) = (spec.clone(), self.claim.seed);
        let params = tokio::task::spawn_blocking(move || {
            search::suggest_untried(&owned, &finished, &warm, &taken, seed)
        })
        .await
        .expect("sampling a configuration panicked");
        let Some(params) = params else {
            tracing::info!(trial = self.claim.trial_id, "the space is exhausted");
            let ended = self
                .write("ending an exhausted sweep", || {
                    self.store.exhaust(self.claim, self.worker)
                })
                .await;
            lease_held(ended)?;
            return Ok(None);
        };
        let assigned = self
            .write("recording the sampled configuration", || {
                self.store.assign_params(self.claim, self.worker, &params)
            })
            .await;
        // None (the lease was lost): the caller drops the trial untrained.
        Ok(lease_held(assigned)?.map(|()| params))
    }

    /// The finished trials of the sweeps `warm_start.sweeps` names, as TPE
    /// observations of this sweep's space. A sweep deleted since, or whose
    /// stored spec cannot be read, adds nothing.
    async fn warm_history(&self, spec: &SweepSpec) -> Result<Vec<Observation>, StoreError> {
        let mut warm = Vec::new();
        for &id in &spec.warm_start().sweeps {
            let Some((document, _)) = self.store.stored_spec(id).await? else {
                continue;
            };
            let Ok(source) = SweepSpec::from_stored(&document) else {
                continue;
            };
            let finished: Vec<_> = self
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
}
