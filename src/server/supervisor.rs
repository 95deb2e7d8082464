//! Keeps the configured number of worker processes alive, and takes back
//! trials whose worker stopped renewing its lease.
use crate::config::Config;
use crate::store::Store;
use std::path::PathBuf;
use std::time::Duration;
use tokio::process::Command;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Starts `config.workers` worker processes and the lease reaper; both stop
/// when `shutdown` turns true, killing the workers.
pub fn start(
    config: &Config,
    store: Store,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<JoinSet<()>> {
    let program = match &config.worker_program {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    let settings = serde_json::to_string(config).expect("config serializes");
    let mut tasks = JoinSet::new();
    for i in 0..config.workers {
        let name = format!("w{i}");
        tasks.spawn(keep_alive(
            program.clone(),
            settings.clone(),
            name,
            shutdown.clone(),
        ));
    }
    let every = Duration::from_millis((config.lease_seconds * 1000 / 4).clamp(500, 2000));
    tasks.spawn(reap(store, config.max_attempts, every, shutdown));
    Ok(tasks)
}

/// Runs one worker process, starting it again whenever it exits.
async fn keep_alive(
    program: PathBuf,
    settings: String,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let mut command = Command::new(&program);
        command
            .arg("worker")
            .arg("--name")
            .arg(&name)
            .arg("--settings")
            .arg(&settings);
        command.kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe; it asks the kernel to kill the
        // worker if the server dies, so no worker outlives its server.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                tracing::error!(worker = %name, "cannot start worker {}: {e}", program.display());
                wait_or_shutdown(&mut shutdown, Duration::from_secs(5)).await;
                continue;
            }
        };
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(worker = %name, ?status, "worker exited; starting it again");
                wait_or_shutdown(&mut shutdown, Duration::from_secs(1)).await;
            }
            _ = shutdown.changed() => {
                let _ = child.kill().await;
                return;
            }
        }
    }
}

/// Re-queues (or fails) trials whose lease expired and ends sweeps past
/// their `max_minutes`, every `every`.
async fn reap(
    store: Store,
    max_attempts: u32,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        match store.reap_expired_leases(max_attempts).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!("took back {n} trial(s) whose lease expired"),
            Err(e) => tracing::warn!("reaping expired leases: {e}"),
        }
        match store.enforce_deadlines().await {
            Ok(0) => {}
            Ok(n) => tracing::info!("{n} sweep(s) reached max_minutes"),
            Err(e) => tracing::warn!("enforcing max_minutes: {e}"),
        }
        wait_or_shutdown(&mut shutdown, every).await;
    }
}

async fn wait_or_shutdown(shutdown: &mut watch::Receiver<bool>, pause: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = shutdown.changed() => {}
    }
}
