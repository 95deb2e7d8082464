//! The worker process: registers with a server over the worker protocol,
//! claims trials, trains them on its training threads (one per slot),
//! reports each epoch and keeps each lease alive meanwhile. It opens no
//! database and decides nothing: the server samples, judges and keeps the
//! leases by its clock. The same process runs on the server's host
//! (started by it) and on any other.
//!
//! - `remote`: the protocol's HTTP client, and what its errors mean.
//! - `data`: datasets by manifest: a shared folder, or the local cache.
//! - `trial`: one claimed trial, from its configuration to its last report.
//! - `ending`: telling the server how a trial ended.
//! - `lease`: renewing the lease, calls tried again, stopping by itself.
//! - `trainer`: the training thread.
mod data;
mod ending;
mod lease;
mod remote;
mod trainer;
mod trial;

pub use remote::{CallError, Remote};

use crate::protocol::{self, Assignment, Register};
use crate::train::{device_name, DeviceChoice};
use data::DataCache;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use trainer::{Settings, Trainer};
use trial::TrialRun;

/// How long a claim waits on the server for a trial to come up.
const CLAIM_WAIT: Duration = Duration::from_secs(10);

/// How long a worker waits before trying a server it cannot reach again.
const RETRY: Duration = Duration::from_secs(1);

/// What a worker is started with (`hypersweep worker ...`).
#[derive(Debug, Clone)]
pub struct Options {
    /// The server's base URL, e.g. `http://10.0.0.1:8080`, or the
    /// comma-separated URLs of replicas of one server (PostgreSQL), tried
    /// in turn when one cannot be reached.
    pub server: String,
    /// The worker token (or the API token); None for an open server.
    pub token: Option<String>,
    /// The id to register under; None lets the server choose.
    pub id: Option<String>,
    /// `cpu`, `cuda:N` or `auto` (every GPU it sees, else the CPU).
    pub device: DeviceChoice,
    /// Trials trained at once; None: one per GPU, or on the CPU one per
    /// core (divided by `threads`), as the server packs its own.
    pub slots: Option<u32>,
    /// libtorch threads per trial; None: the cores divided by the slots.
    pub threads: Option<u32>,
    /// Where checkpoints and downloaded datasets are kept.
    pub work_dir: PathBuf,
    /// A folder of datasets shared with the server, used where its files match.
    pub data_dir: Option<PathBuf>,
}

/// Runs a worker until the process is killed, or until SIGTERM or SIGINT:
/// then it takes no new trial, lets the running ones reach their next
/// checkpoint, hands them back and returns.
pub async fn run(options: Options) -> anyhow::Result<()> {
    // Training yields the CPU to the API server when both want it.
    // SAFETY: nice() only changes this process's scheduling priority.
    unsafe {
        libc::nice(5);
    }
    let draining = Arc::new(AtomicBool::new(false));
    let drain = drain_on_signal(draining.clone())?;
    // Before anything trains: libtorch decides once whether it has CUDA.
    let devices = options.device.resolve()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let on_gpu = devices.iter().any(|d| *d != tch::Device::Cpu);
    let slots = match (options.slots, options.threads) {
        (Some(slots), _) => slots.max(1),
        (None, _) if on_gpu => devices.len() as u32,
        (None, Some(threads)) => (cores / threads.max(1)).max(1),
        (None, None) => cores.max(1),
    };
    let threads = options.threads.unwrap_or((cores / slots).max(1));
    let device_names: Vec<String> = devices.iter().map(|d| device_name(*d)).collect();
    let mut remote = Remote::new(&options.server, options.token.clone())?;
    let registration = Register {
        id: options.id.clone(),
        host: host_name(),
        device: device_names.join(","),
        slots,
        threads,
        memory_bytes: memory_bytes(),
        protocol: protocol::VERSION,
    };
    let registered = loop {
        match remote.register(&registration).await {
            Ok(registered) => break registered,
            Err(e @ CallError::Unreachable(_)) => {
                tracing::warn!(server = %options.server, "registering: {e}; trying again");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => anyhow::bail!("registering with {}: {e}", options.server),
        }
        if draining.load(Ordering::Relaxed) {
            return Ok(());
        }
    };
    let worker = registered.worker_id.clone();
    tracing::info!(%worker, server = %options.server, slots, threads,
        devices = %device_names.join(","), "worker ready");
    let cache = Arc::new(DataCache::new(&options.work_dir, options.data_dir.clone()));
    let mut slots_running = tokio::task::JoinSet::new();
    for slot in 0..slots as usize {
        let settings = Settings {
            threads: threads as usize,
            validation_fraction: registered.validation_fraction,
            batch_loss_every: registered.batch_loss_every,
            // The devices in turn, one slot after another.
            device: devices[slot % devices.len()],
        };
        let trainer = Trainer::spawn(settings)?;
        let slot = Slot {
            remote: remote.clone(),
            trainer,
            cache: cache.clone(),
            checkpoints: options.work_dir.join("checkpoints"),
            draining: draining.clone(),
            drain: drain.clone(),
        };
        slots_running.spawn(async move { slot.run().await });
    }
    while slots_running.join_next().await.is_some() {}
    tracing::info!(%worker, "worker stopped");
    Ok(())
}

/// One slot: claims a trial, trains it, and again, until draining.
struct Slot {
    remote: Remote,
    trainer: Trainer,
    cache: Arc<DataCache>,
    checkpoints: PathBuf,
    draining: Arc<AtomicBool>,
    drain: watch::Receiver<bool>,
}

impl Slot {
    async fn run(mut self) {
        let worker = self.remote.worker().to_string();
        // Claims fail while the server cannot be reached: said once, not every try.
        let mut claims_fail = false;
        while !self.draining.load(Ordering::Relaxed) {
            let claimed = tokio::select! {
                claimed = self.remote.claim(protocol::MAX_CLAIM, CLAIM_WAIT, true) => claimed,
                _ = self.drain.changed() => continue,
            };
            if claimed.is_ok() && std::mem::take(&mut claims_fail) {
                tracing::info!(%worker, "claiming trials works again");
            }
            match claimed {
                // One trial, or one fused group (the sweep's `fuse`).
                Ok(trials) if trials.len() > 1 => self.train_group(trials).await,
                Ok(trials) => {
                    for a in trials {
                        self.train(a).await;
                    }
                }
                Err(e) => {
                    if !std::mem::replace(&mut claims_fail, true) {
                        tracing::warn!(%worker, "claiming a trial: {e}; trying again every {RETRY:?}");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY) => {}
                        _ = self.drain.changed() => {}
                    }
                }
            }
        }
    }

    /// Trains one claimed trial: its dataset and checkpoint made local first.
    async fn train(&self, a: Assignment) {
        let trial = a.trial_id;
        tracing::info!(trial, attempt = a.attempt, "training");
        for run in self.prepare(vec![a]).await {
            run.run().await;
        }
        tracing::debug!(trial, "trial ended");
    }

    /// Trains claimed trials that fuse as one group, each member's
    /// checkpoint and dataset made local first as for one trial alone;
    /// while it trains, trials that fuse with it join as members leave, up
    /// to its first size or the sweep's `fuse`.
    async fn train_group(&self, group: Vec<Assignment>) {
        let capacity = group
            .first()
            .and_then(|a| a.spec.get("fuse"))
            .and_then(serde_json::Value::as_u64)
            .map_or(group.len(), |f| f as usize)
            .max(group.len());
        let trials: Vec<i64> = group.iter().map(|a| a.trial_id).collect();
        let seed = order_seed(&group);
        let sweep = group[0].sweep_id;
        let runs = self.prepare(group).await;
        tracing::info!(?trials, "training a fused group");
        let more = |room: usize, with: i64| self.joiners(sweep, with, room);
        TrialRun::run_group(runs, seed, capacity, more).await;
        tracing::debug!(?trials, "fused group ended");
    }

    /// Trials that fuse with trial `with` (in the running group), claimed
    /// to fill `room` places of the group; none while draining.
    async fn joiners(&self, sweep: i64, with: i64, room: usize) -> Vec<TrialRun<'_>> {
        if self.draining.load(Ordering::Relaxed) {
            return Vec::new();
        }
        let max = u32::try_from(room).unwrap_or(protocol::MAX_CLAIM);
        match self.remote.claim_join(max, with).await {
            Ok(joining) => {
                let trials: Vec<i64> = joining.iter().map(|a| a.trial_id).collect();
                if !trials.is_empty() {
                    tracing::info!(sweep, ?trials, "joining the fused group");
                }
                self.prepare(joining).await
            }
            Err(e) => {
                tracing::debug!(sweep, "claiming trials to join the group: {e}");
                Vec::new()
            }
        }
    }

    /// Each claimed trial made ready to train: its checkpoint and dataset
    /// local. One whose dataset cannot be made local is given up (its lease
    /// runs out and another worker tries again).
    async fn prepare(&self, claimed: Vec<Assignment>) -> Vec<TrialRun<'_>> {
        // Their leases are renewed meanwhile: a download can take longer
        // than a short lease on a busy host.
        let _renewing: Vec<lease::AbortOnDrop> = claimed
            .iter()
            .map(|a| self.renew_while_preparing(a))
            .collect();
        let mut runs = Vec::with_capacity(claimed.len());
        for a in claimed {
            let checkpoint = checkpoint_path(&self.checkpoints, &a);
            if let Err(e) = self.resume_point(&a, &checkpoint).await {
                let trial = a.trial_id;
                tracing::warn!(
                    trial,
                    "the checkpoint could not be fetched: {e}; starting afresh"
                );
                let _ = std::fs::remove_file(&checkpoint);
            }
            let data = match self.cache.prepare(&self.remote, &a.dataset).await {
                Ok(data) => data,
                Err(e) => {
                    tracing::error!(trial = a.trial_id, dataset = %a.dataset.name, "the dataset could not be made local: {e}; giving the trial up");
                    continue;
                }
            };
            runs.push(TrialRun {
                remote: &self.remote,
                trainer: &self.trainer,
                a,
                data,
                checkpoint,
                draining: &self.draining,
            });
        }
        runs
    }

    /// Renews `a`'s lease until the guard drops (training then renews it).
    fn renew_while_preparing(&self, a: &Assignment) -> lease::AbortOnDrop {
        let (remote, held) = (self.remote.clone(), Arc::new(a.clone()));
        let renew_once = move || {
            let (remote, held) = (remote.clone(), held.clone());
            async move { remote.renew(&held).await }
        };
        let contact = Arc::new(lease::Contact::new(Duration::from_millis(a.lease_ms)));
        lease::AbortOnDrop(tokio::spawn(lease::renew(
            a.trial_id,
            contact,
            renew_once,
            Arc::default(),
            Arc::default(),
        )))
    }

    /// Puts the checkpoint the assignment names at `path` (kept from an
    /// earlier attempt on this host when it is that one, else downloaded);
    /// removes a stale one when it names none.
    async fn resume_point(&self, a: &Assignment, path: &Path) -> Result<(), CallError> {
        let Some(stored) = &a.checkpoint else {
            let _ = std::fs::remove_file(path);
            return Ok(());
        };
        let here = crate::digest::sha256_of(path).ok();
        if here.as_deref() == Some(stored.sha256.as_str()) {
            return Ok(());
        }
        tracing::info!(
            trial = a.trial_id,
            bytes = stored.bytes,
            "downloading the checkpoint"
        );
        match self.remote.download_checkpoint(a, path).await? {
            true => Ok(()),
            false => {
                let _ = std::fs::remove_file(path);
                Ok(())
            }
        }
    }
}

/// The seed of a fused group's batch order: of its sweep's seed and its
/// members, so that the same group trains on the same batches.
fn order_seed(group: &[Assignment]) -> u64 {
    let mut seed = group.first().map_or(0, |a| a.sweep_seed);
    for a in group {
        seed = (seed ^ a.seed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }
    seed
}

/// Sets `draining` on SIGTERM or SIGINT; the receivers hear of it.
fn drain_on_signal(draining: Arc<AtomicBool>) -> std::io::Result<watch::Receiver<bool>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!(
            "shutting down: no new trials; the running ones stop at their next checkpoint"
        );
        draining.store(true, Ordering::Relaxed);
        // No receiver: the claim loops have ended already, nothing to wake.
        let _ = tx.send(true);
    });
    Ok(rx)
}

/// Where this host keeps a trial's checkpoint.
fn checkpoint_path(checkpoints: &Path, a: &Assignment) -> PathBuf {
    checkpoints
        .join(a.sweep_id.to_string())
        .join(format!("{}.ckpt", a.trial_id))
}

/// This host's name, as the kernel has it.
fn host_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    match name.is_empty() {
        true => "host".into(),
        false => name,
    }
}

/// This host's memory in bytes, from /proc/meminfo (0 when unknown).
fn memory_bytes() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}
