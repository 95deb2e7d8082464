//! The server: opens the store, starts the worker processes, serves the API.
mod supervisor;

use crate::api::{self, AppState};
use crate::config::Config;
use crate::data::catalog::Catalog;
use crate::store::Store;
use std::future::Future;
use tokio::net::TcpListener;

/// Serves the API on `listener` until `shutdown` resolves, then stops the workers.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    config.validate()?;
    config.check_exposure(listener.local_addr()?)?;
    let store = Store::open(&config.database, true).await?;
    let catalog = Catalog::new(config.data_dir.clone());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut tasks = supervisor::start(&config, store.clone(), stopped)?;
    let state = AppState::new(store.clone(), catalog, &config);
    tracing::info!(addr = %listener.local_addr()?, workers = config.workers, "hypersweep serving");
    let served = axum::serve(listener, api::router(state, &config))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    store.close().await;
    Ok(served?)
}
