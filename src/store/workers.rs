//! What the worker protocol keeps: registered workers, the checkpoints they
//! upload (a row per trial and attempt; the bytes are files), a claim read
//! back for a trial's attempt after a server restart, and the trials of a
//! stopped server's own workers taken back at start-up.
use super::queue::Claim;
use super::recovery::Found;
use super::{now_ms, Columns, Store, StoreError, WriteError};
use crate::protocol::{CheckpointRef, Register, LOCAL_PREFIX};
use crate::state::TrialState;

/// A registered worker as stored, with the trials it trains now.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerRow {
    pub id: String,
    pub host: String,
    pub device: String,
    pub slots: i64,
    pub threads: i64,
    pub memory_bytes: i64,
    pub protocol: i64,
    pub registered_ms: i64,
    pub running: i64,
}

impl Store {
    /// Records a worker, or updates one that registers again.
    pub(super) async fn register_worker(
        &self,
        id: &str,
        worker: &Register,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.write().await?;
        super::query(
            "INSERT INTO workers (id, host, device, slots, threads, memory_bytes, protocol,
                 registered_ms, seen_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET host = excluded.host, device = excluded.device,
                 slots = excluded.slots, threads = excluded.threads,
                 memory_bytes = excluded.memory_bytes, protocol = excluded.protocol,
                 seen_ms = excluded.seen_ms",
        )
        .bind(id)
        .bind(&worker.host)
        .bind(&worker.device)
        .bind(i64::from(worker.slots))
        .bind(i64::from(worker.threads))
        .bind(worker.memory_bytes.min(i64::MAX as u64) as i64)
        .bind(i64::from(worker.protocol))
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every registered worker, most recently registered first.
    pub(super) async fn workers(&self) -> Result<Vec<WorkerRow>, StoreError> {
        let rows = super::query(
            "SELECT id, host, device, slots, threads, memory_bytes, protocol, registered_ms,
                    (SELECT COUNT(*) FROM trials t WHERE t.worker = w.id AND t.state = ?) AS running
             FROM workers w ORDER BY registered_ms DESC, id",
        )
        .bind(TrialState::Running)
        .fetch_all(&self.pool)
        .await?;
        let mut workers = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let c = Columns {
                row,
                what: "worker",
                id: i as i64,
            };
            workers.push(WorkerRow {
                id: c.get("id")?,
                host: c.get("host")?,
                device: c.get("device")?,
                slots: c.get("slots")?,
                threads: c.get("threads")?,
                memory_bytes: c.get("memory_bytes")?,
                protocol: c.get("protocol")?,
                registered_ms: c.get("registered_ms")?,
                running: c.get("running")?,
            });
        }
        Ok(workers)
    }

    /// Whether a worker with this id has registered.
    pub(super) async fn worker_registered(&self, id: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = super::query_scalar("SELECT 1 FROM workers WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(found.is_some())
    }

    /// The claim that `worker` holds on `trial_id` in `attempt`, read back
    /// from the database (after a server restart); None when it holds none.
    pub(super) async fn held_claim(
        &self,
        trial_id: i64,
        attempt: i64,
        worker: &str,
    ) -> Result<Option<Claim>, StoreError> {
        let row = super::query(
            "SELECT t.id, t.sweep_id, t.number, t.attempt, t.params, t.seed, t.epochs_done,
                    s.dataset, s.seed AS sweep_seed, s.spec
             FROM trials t JOIN sweeps s ON s.id = t.sweep_id
             WHERE t.id = ? AND t.attempt = ? AND t.worker = ? AND t.state = ?",
        )
        .bind(trial_id)
        .bind(attempt)
        .bind(worker)
        .bind(TrialState::Running)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let c = Columns::of(&row, "trial", "id")?;
        let sweep_id: i64 = c.get("sweep_id")?;
        let sweep = Columns {
            row: &row,
            what: "sweep",
            id: sweep_id,
        };
        Ok(Some(Claim {
            trial_id,
            sweep_id,
            number: c.get("number")?,
            attempt,
            epochs_done: c.get("epochs_done")?,
            params: c.json("params")?,
            seed: c.get::<i64>("seed")? as u64,
            dataset: c.get("dataset")?,
            sweep_seed: c.get::<i64>("sweep_seed")? as u64,
            spec: sweep
                .json("spec")?
                .ok_or_else(|| sweep.bad("spec", &"NULL"))?,
        }))
    }
    /// Records the checkpoint `worker` uploaded for its attempt, if it
    /// still holds the lease (the caller has the file in place already).
    pub(super) async fn record_checkpoint(
        &self,
        claim: &Claim,
        worker: &str,
        sha256: &str,
        bytes: u64,
        blob: Option<(String, Vec<u8>)>,
    ) -> Result<(), WriteError> {
        let (trial, attempt, sweep) = (claim.trial_id, claim.attempt, claim.sweep_id);
        let sha256 = sha256.to_string();
        self.with_lease(claim, worker, move |mut tx| {
            Box::pin(async move {
                if let Some((key, data)) = blob {
                    super::blobs::put_in(&mut tx, &key, sweep, &sha256, data).await?;
                }
                super::query(
                    "INSERT INTO checkpoints (trial_id, attempt, sha256, bytes, uploaded_ms)
                     VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (trial_id, attempt) DO UPDATE SET sha256 = excluded.sha256,
                         bytes = excluded.bytes, uploaded_ms = excluded.uploaded_ms",
                )
                .bind(trial)
                .bind(attempt)
                .bind(sha256)
                .bind(bytes.min(i64::MAX as u64) as i64)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                Ok((tx, ()))
            })
        })
        .await
    }

    /// The newest checkpoint of a trial (the latest attempt's), if any.
    pub(super) async fn latest_checkpoint(
        &self,
        trial_id: i64,
    ) -> Result<Option<CheckpointRef>, StoreError> {
        let row: Option<(String, i64, i64)> = super::query_as(
            "SELECT sha256, bytes, attempt FROM checkpoints WHERE trial_id = ?
             ORDER BY attempt DESC LIMIT 1",
        )
        .bind(trial_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(sha256, bytes, attempt)| CheckpointRef {
            sha256,
            bytes: bytes.max(0) as u64,
            attempt,
        }))
    }

    /// Takes back the trials of the workers a stopped server had started on
    /// its own host: they died with it, whatever their leases say.
    pub(super) async fn take_back_local(&self, max_attempts: u32) -> Result<usize, StoreError> {
        let found = Found::Prefixed(LOCAL_PREFIX);
        self.take_back_found(found, max_attempts, "its server stopped")
            .await
    }
}
