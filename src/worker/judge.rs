//! The scheduler's verdict on an epoch report, and whether it reaches the
//! sweep's target.
use crate::report::EpochReport;
use crate::schedule::Curve;
use crate::spec::SweepSpec;
use crate::store::{Claim, Queue, StoreError, Verdict};

/// The scheduler's decision on an epoch report and whether it reaches the
/// sweep's target. The last epoch is never pruned: the trial is done anyway.
pub(super) async fn judge<S: Queue>(
    store: &S,
    spec: &SweepSpec,
    claim: &Claim,
    curve: &[f64],
    report: &EpochReport,
    epochs: i64,
) -> Result<Verdict, StoreError> {
    let mut verdict = Verdict::default();
    if let Some(rule) = spec.early_terminate().filter(|_| report.epoch < epochs) {
        let curves = store
            .curves(claim.sweep_id, spec.metric().name, report.epoch)
            .await?;
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
            values: curve,
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
