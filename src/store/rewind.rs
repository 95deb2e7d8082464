//! A resumed attempt's rewind to the checkpoint it resumes from.
use super::queue::{Claim, WriteError};
use super::trials::report_from;
use super::{events, Columns, EpochReport, Store};
use serde_json::json;

impl Store {
    /// Rewinds a claimed trial to `epoch`, the checkpoint its new attempt
    /// resumes from (0: from scratch): reports and samples after it go, its
    /// latest metrics are those of `epoch`. Returns the reports kept.
    pub(super) async fn rewind(
        &self,
        claim: &Claim,
        worker: &str,
        epoch: i64,
    ) -> Result<Vec<EpochReport>, WriteError> {
        self.with_lease(claim, worker, |mut tx| {
            Box::pin(async move {
            // Two statements with their table names spelt out, not one
            // built per table.
            super::query("DELETE FROM epoch_reports WHERE trial_id = ? AND epoch > ?")
                .bind(claim.trial_id)
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
            super::query("DELETE FROM batch_losses WHERE trial_id = ? AND epoch > ?")
                .bind(claim.trial_id)
                .bind(epoch)
                .execute(&mut *tx)
                .await?;
            let rows = super::query(
                "SELECT epoch, train_loss, val_loss, val_accuracy, seconds FROM epoch_reports
                 WHERE trial_id = ? ORDER BY epoch",
            )
            .bind(claim.trial_id)
            .fetch_all(&mut *tx)
            .await?;
            let kept = rows
                .iter()
                .map(|row| {
                    report_from(&Columns {
                        row,
                        what: "epoch report of trial",
                        id: claim.trial_id,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let last = kept.last();
            // No NULL real is bound (see `sql.rs`).
            let update = match last {
                Some(r) => super::query(
                    "UPDATE trials SET epochs_done = ?, train_loss = ?, val_loss = ?, val_accuracy = ? WHERE id = ?",
                )
                .bind(epoch)
                .bind(r.train_loss)
                .bind(r.val_loss)
                .bind(r.val_accuracy),
                None => super::query(
                    "UPDATE trials SET epochs_done = ?, train_loss = NULL, val_loss = NULL, val_accuracy = NULL WHERE id = ?",
                )
                .bind(epoch),
            };
            update.bind(claim.trial_id).execute(&mut *tx).await?;
            if epoch > 0 {
                let data =
                    json!({"number": claim.number, "attempt": claim.attempt, "epoch": epoch});
                events::append(&mut tx, claim.sweep_id, Some(claim.trial_id), "trial_resumed", data)
                    .await?;
            }
            Ok((tx, kept))
            })
        })
        .await
    }
}
