//! The server: opens the store, starts the worker processes, serves the API.
mod supervisor;

use supervisor::Local;

use crate::api::{self, AppState};
use crate::config::{ApiToken, Config};
use crate::data::catalog::Catalog;
use crate::store::{Engine, Recovery as _, ServerLock, Store};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves the API on `listener` until `shutdown` resolves. Then workers take
/// no new trial and hand running ones back at their next checkpoint (the API
/// answers meanwhile); once they have stopped, the API stops, giving open
/// connections (event streams) a few seconds.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    config.check_exposure(listener.local_addr()?)?;
    let store = Store::open(&config.database, true).await?;
    // On SQLite one server per database: its running trials are not
    // orphans. On PostgreSQL replicas share the database, and a stopped
    // replica's workers, like remote ones, are known gone by their leases.
    let lock = match store.engine() {
        Engine::Sqlite => {
            let period = Duration::from_secs(config.server_lock_seconds);
            Some(ServerLock::acquire(&store, &config.database, period).await?)
        }
        Engine::Postgres => None,
    };
    let shutdown: Pin<Box<dyn Future<Output = ()> + Send>> = match &lock {
        Some(lock) => Box::pin(lock.or_lost(shutdown)),
        None => Box::pin(shutdown),
    };
    if lock.is_some() {
        // The workers a stopped server started here died with it; remote
        // ones keep their trials while their leases hold.
        let orphans = store.take_back_local(config.max_attempts).await?;
        if orphans > 0 {
            tracing::warn!("took back {orphans} trial(s) of a stopped server's own workers");
        }
    }
    let catalog = Catalog::new(config.data_dir.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut state = AppState::new(store.clone(), catalog, &config);
    let local = local_workers(&config, listener.local_addr()?, &mut state);
    let mut tasks = supervisor::start(
        &config,
        store.clone(),
        local,
        stopped,
        state.metrics.clone(),
        &state.blobs,
    )?;
    let packing = config.packing();
    tracing::info!(
        addr = %listener.local_addr()?,
        workers = packing.workers,
        threads_per_trial = packing.threads_per_trial,
        "hypersweep serving"
    );
    let (api_stop, api_stopped) = tokio::sync::oneshot::channel::<()>();
    let api = api::run(listener, state, &config, async {
        let _ = api_stopped.await;
    })?;
    tokio::pin!(api);
    let drained = async move {
        shutdown.await;
        tracing::info!("shutting down: waiting for running trials to reach a checkpoint");
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
    };
    tokio::select! {
        _ = &mut api => {},
        _ = drained => {
            let _ = api_stop.send(());
            let _ = tokio::time::timeout(API_GRACE, api).await;
        }
    };
    let released = match lock {
        Some(lock) => lock.release().await,
        None => Ok(()),
    };
    store.close().await;
    released?;
    Ok(())
}

/// How the server's own workers reach it: its port on loopback, and a
/// token of their own (the worker role) when the server needs one.
fn local_workers(config: &Config, listen: SocketAddr, state: &mut AppState) -> Local {
    let ip = match listen.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    let url = format!("http://{}", SocketAddr::new(ip, listen.port()));
    let token = match (&config.api_token, &config.worker_token) {
        (_, Some(token)) => Some(token.expose().to_string()),
        (Some(_), None) => {
            let token = ApiToken::random();
            let text = token.expose().to_string();
            state.worker_tokens.push(token);
            Some(text)
        }
        (None, None) => None,
    };
    Local {
        url,
        token,
        work_dir: config.checkpoints().join("local-workers"),
    }
}

/// How long open connections get once the API stops.
const API_GRACE: Duration = Duration::from_secs(3);
