//! The scheduler's verdict on an epoch report, and whether it reaches the
//! sweep's target: decided on the server, over every trial's curve.
use super::Held;
use crate::report::EpochReport;
use crate::schedule::Curve;
use crate::store::{Queue, StoreError, Verdict};

/// The scheduler's decision on `report` of the trial `held` and whether it
/// reaches the sweep's target. The last epoch is never pruned: the trial
/// is done anyway.
pub(super) async fn judge<S: Queue>(
    store: &S,
    held: &Held,
    report: &EpochReport,
) -> Result<Verdict, StoreError> {
    let (spec, claim) = (&held.spec, &held.claim);
    let epochs = i64::from(held.params.epochs);
    let metric = spec.metric().name;
    let mut verdict = Verdict::default();
    if let Some(rule) = spec.early_terminate().filter(|_| report.epoch < epochs) {
        let curves = store.curves(claim.sweep_id, metric, report.epoch).await?;
        // This trial's curve: its stored reports before this one, then this one.
        let mut own: Vec<f64> = curves
            .iter()
            .find(|(trial, _)| *trial == claim.trial_id)
            .map(|(_, values)| values.clone())
            .unwrap_or_default();
        own.truncate((report.epoch - 1).max(0) as usize);
        own.push(report.metric(metric));
        let others: Vec<Curve> = curves
            .iter()
            .filter(|(trial, _)| *trial != claim.trial_id)
            .map(|(trial, values)| Curve {
                trial: *trial,
                values,
            })
            .collect();
        let this = Curve {
            trial: claim.trial_id,
            values: &own,
        };
        let decision = rule.decide(spec.metric().goal, &this, &others);
        verdict.decision = Some((decision.stop, decision.reason));
        verdict.rung = decision.rung;
    }
    let pruned = matches!(verdict.decision, Some((true, _)));
    if let Some(target) = spec.target().filter(|_| !pruned) {
        verdict.target_reached = target.reached(report.metric(target.metric));
    }
    Ok(verdict)
}
