//! Keeps the configured number of worker processes alive (each the same
//! `hypersweep worker --server URL` a remote host runs, pointed at this
//! server's loopback address), takes back the
//! trials of workers that die or stop renewing their lease, and at shutdown
//! lets running trials reach their next checkpoint.
use crate::blobs::Blobs;
use crate::config::Config;
use crate::metrics::Registry;
use crate::protocol::LOCAL_PREFIX;
use crate::store::{Recovery, StoreError, Sweeps};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Starts the configured number of worker processes and the lease reaper; both stop
/// when `shutdown` turns true, killing the workers. `metrics` counts the
/// worker processes alive.
///
/// Generic over the store's traits rather than `Arc<dyn ...>`: their
/// methods return `impl Future`, which a trait object cannot, and the
/// server picks its one engine at start-up anyway.
pub fn start<S: Recovery + Sweeps>(
    config: &Config,
    store: S,
    local: Local,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<Registry>,
    blobs: &Blobs,
) -> std::io::Result<JoinSet<()>> {
    let program = match &config.worker_program {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let packing = config.packing();
    let mut tasks = JoinSet::new();
    for i in 0..packing.workers {
        let mut args: Vec<String> = vec![
            "worker".into(),
            "--server".into(),
            local.url.clone(),
            "--threads".into(),
            packing.threads_per_trial.to_string(),
            "--device".into(),
            "cpu".into(),
            "--slots".into(),
            "1".into(),
            "--work-dir".into(),
            local.work_dir.join(format!("w{i}")).display().to_string(),
        ];
        if let Some(data) = &config.data_dir {
            // The server's own data folder: used as it is, nothing downloaded.
            args.extend(["--data-dir".into(), data.display().to_string()]);
        }
        tasks.spawn(keep_alive(
            Worker {
                program: program.clone(),
                args,
                token: local.token.clone(),
                name: format!("w{i}"),
                store: store.clone(),
                max_attempts: config.max_attempts,
                grace: Duration::from_secs(config.shutdown_grace_seconds),
                memory: config.worker_memory_mb.map(|mb| mb << 20),
                metrics: metrics.clone(),
            },
            shutdown.clone(),
        ));
    }
    let every = Duration::from_millis((config.lease_seconds * 1000 / 4).clamp(500, 2000));
    let reaper = Reaper {
        store,
        max_attempts: config.max_attempts,
        blobs: blobs.clone(),
    };
    tasks.spawn(reap(reaper, every, shutdown));
    Ok(tasks)
}

/// How the server's own workers reach it.
pub struct Local {
    /// The server's URL on loopback.
    pub url: String,
    /// The token they present, if the server needs one.
    pub token: Option<String>,
    /// Their working folders are made in this one.
    pub work_dir: PathBuf,
}

/// One worker slot: how to start its process and what to do when it dies.
struct Worker<S> {
    program: PathBuf,
    /// `worker --server ...`: the same command a remote host runs.
    args: Vec<String>,
    /// The worker token, passed in the environment (never on the command line).
    token: Option<String>,
    name: String,
    store: S,
    max_attempts: u32,
    /// How long a running trial gets to reach its checkpoint at shutdown.
    grace: Duration,
    /// Bytes the process may allocate, if capped.
    memory: Option<u64>,
    /// Where the worker processes alive are counted.
    metrics: Arc<Registry>,
}

/// Runs one worker process, starting it again whenever it exits; the
/// trials it held are taken back at once. At shutdown the worker gets
/// SIGTERM and `grace` to hand its trial back at a checkpoint, then SIGKILL.
async fn keep_alive<S: Recovery>(w: Worker<S>, mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        // A fresh id per process: its trials are taken back by it when it exits.
        let id = format!("{LOCAL_PREFIX}{}.{:08x}", w.name, rand::random::<u32>());
        let mut command = Command::new(&w.program);
        command.args(&w.args).arg("--id").arg(&id);
        command.env_remove("HYPERSWEEP_TOKEN");
        match &w.token {
            Some(token) => command.env("HYPERSWEEP_WORKER_TOKEN", token),
            None => command.env_remove("HYPERSWEEP_WORKER_TOKEN"),
        };
        command.kill_on_drop(true);
        let memory = w.memory;
        // SAFETY: prctl and setrlimit are async-signal-safe. The first asks
        // the kernel to kill the worker if the server dies, so no worker
        // outlives its server; the second caps the worker's memory.
        unsafe {
            command.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(bytes) = memory {
                    let limit = libc::rlimit {
                        rlim_cur: bytes,
                        rlim_max: bytes,
                    };
                    if libc::setrlimit(libc::RLIMIT_DATA, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(worker = %w.name, "cannot start worker {}: {e}", w.program.display());
                wait_or_shutdown(&mut shutdown, Duration::from_secs(5)).await;
                continue;
            }
        };
        let alive = Alive::new(&w.metrics);
        tokio::select! {
            status = child.wait() => {
                drop(alive);
                tracing::warn!(worker = %id, ?status, "worker exited; starting it again");
                take_back(&w, &id, &mut shutdown).await;
                wait_or_shutdown(&mut shutdown, Duration::from_millis(500)).await;
            }
            _ = shutdown.changed() => {
                if let Some(pid) = child.id() {
                    // SAFETY: signals the worker process this task started.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
                if tokio::time::timeout(w.grace, child.wait()).await.is_err() {
                    tracing::warn!(worker = %id, "no checkpoint within the grace period; killing it");
                    let _ = child.kill().await;
                }
                drop(alive);
                take_back(&w, &id, &mut shutdown).await;
                return;
            }
        }
    }
}

/// A worker process counted alive in the metrics while this lives.
struct Alive<'a>(&'a Registry);

impl<'a> Alive<'a> {
    fn new(metrics: &'a Registry) -> Alive<'a> {
        metrics.worker_delta(1);
        Alive(metrics)
    }
}

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.worker_delta(-1);
    }
}

/// Takes back what the worker `id` held when it stopped; while the
/// database cannot be written (a full disk), again every second until
/// shutdown, so that its trials do not wait for their lease to run out.
async fn take_back<S: Recovery>(w: &Worker<S>, id: &str, shutdown: &mut watch::Receiver<bool>) {
    let mut warned = false;
    loop {
        match w.store.take_back_from(id, w.max_attempts).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(worker = %id, "took back {n} trial(s) of the stopped worker"),
            Err(e @ StoreError::Unavailable { .. }) if !*shutdown.borrow() => {
                if !std::mem::replace(&mut warned, true) {
                    tracing::warn!(worker = %id, "taking back its trials: {e}; trying again");
                }
                wait_or_shutdown(shutdown, Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => tracing::error!(worker = %id, "taking back its trials: {e}"),
        }
        return;
    }
}

/// What the periodic sweep over the store needs.
struct Reaper<S> {
    store: S,
    max_attempts: u32,
    blobs: Blobs,
}

/// Every `every`: re-queues (or fails) trials whose lease expired, fails
/// trials over their time limit, ends sweeps past their `max_minutes`, and
/// deletes the checkpoints of sweeps that have ended.
async fn reap<S: Recovery + Sweeps>(
    r: Reaper<S>,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    // Whether each job failed last time: a failure is logged when it starts.
    let mut failing = [false; 4];
    while !*shutdown.borrow() {
        // Another replica's turn (PostgreSQL): look again next time.
        if quiet(
            &mut failing[3],
            r.store.periodic_turn().await.map(usize::from),
            "taking the periodic work's lock",
        ) != Some(1)
        {
            wait_or_shutdown(&mut shutdown, every).await;
            continue;
        }
        let leases = r.store.reap_expired_leases(r.max_attempts).await;
        match quiet(&mut failing[0], leases, "reaping expired leases") {
            Some(0) | None => {}
            Some(n) => tracing::warn!("took back {n} trial(s) whose lease expired"),
        }
        let timeouts = r.store.enforce_trial_timeouts().await;
        match quiet(&mut failing[1], timeouts, "enforcing trial_timeout_minutes") {
            Some(0) | None => {}
            Some(n) => tracing::warn!("{n} trial(s) ran past trial_timeout_minutes"),
        }
        let deadlines = r.store.enforce_deadlines().await;
        match quiet(&mut failing[2], deadlines, "enforcing max_minutes") {
            Some(0) | None => {}
            Some(n) => tracing::info!("{n} sweep(s) reached max_minutes"),
        }
        r.blobs.remove_ended(&r.store).await;
        wait_or_shutdown(&mut shutdown, every).await;
    }
}

/// The count a job returned, or None when it failed: logged if it worked
/// last time, so that a lasting failure (a full disk) is said once.
fn quiet(failing: &mut bool, done: Result<usize, StoreError>, what: &str) -> Option<usize> {
    match done {
        Ok(n) => {
            if std::mem::take(failing) {
                tracing::info!("{what} works again");
            }
            Some(n)
        }
        Err(e) => {
            if !std::mem::replace(failing, true) {
                tracing::warn!("{what}: {e}");
            }
            None
        }
    }
}

async fn wait_or_shutdown(shutdown: &mut watch::Receiver<bool>, pause: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = shutdown.changed() => {}
    }
}

#[cfg(test)]
mod tests;
