//! The `hypersweep` command: parses the command line and calls the library.
use clap::{Args, Parser, Subcommand};
use hypersweep::config::{ApiToken, Config, Count};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hypersweep",
    version,
    about = "Self-hosted hyperparameter search: sweeps over HTTP, trials trained with libtorch"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The server client commands talk to, before or after the command
    /// [default: http:// + `listen` of ./config.toml, else http://127.0.0.1:8080].
    /// A worker takes the comma-separated URLs of several replicas too.
    #[arg(long, global = true, env = "HYPERSWEEP_SERVER", value_name = "URL")]
    server: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API and run trials in worker processes.
    Serve(ServeArgs),
    #[command(flatten)]
    Client(hypersweep::cli::Command),
    /// Train trials of a server over the worker protocol, on this host or any other.
    Worker(WorkerArgs),
}

#[derive(Args)]
struct WorkerArgs {
    /// Worker token (or the API token) [env: HYPERSWEEP_WORKER_TOKEN, then HYPERSWEEP_TOKEN].
    #[arg(long, value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The id to register under (letters, digits, `.`, `_`, `-`) [default: the server's choice].
    #[arg(long, env = "HYPERSWEEP_WORKER_ID")]
    id: Option<String>,
    /// Device to train on: cpu, cuda:N, or auto (every GPU it sees, else the CPU).
    #[arg(long, env = "HYPERSWEEP_DEVICE", default_value = "auto")]
    device: hypersweep::train::DeviceChoice,
    /// Trials trained at once [default: one per GPU, else the cores divided by --threads].
    #[arg(long, env = "HYPERSWEEP_SLOTS")]
    slots: Option<u32>,
    /// libtorch threads per trial [default: the cores divided by the slots].
    #[arg(long, env = "HYPERSWEEP_THREADS")]
    threads: Option<u32>,
    /// Folder for checkpoints and downloaded datasets.
    #[arg(long, env = "HYPERSWEEP_WORK_DIR", default_value = "hypersweep-worker")]
    work_dir: PathBuf,
    /// A folder of datasets shared with the server (a mount), used where its files match.
    #[arg(long, env = "HYPERSWEEP_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file [default: config.toml if present].
    #[arg(long, env = "HYPERSWEEP_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "HYPERSWEEP_LISTEN")]
    listen: Option<SocketAddr>,
    /// SQLite database URL, e.g. sqlite://hypersweep.db.
    #[arg(long, env = "HYPERSWEEP_DATABASE")]
    database: Option<String>,
    /// Folder of datasets (one subfolder of IDX files each).
    #[arg(long, env = "HYPERSWEEP_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Worker processes training at once, or `auto` (fills the cores).
    #[arg(long, env = "HYPERSWEEP_WORKERS")]
    workers: Option<Count>,
    /// libtorch threads per trial, or `auto` (fills the cores).
    #[arg(long, env = "HYPERSWEEP_THREADS_PER_TRIAL")]
    threads_per_trial: Option<Count>,
    /// Host names the API answers to, besides its listen address (comma-separated; `*` for any).
    #[arg(
        long,
        env = "HYPERSWEEP_ALLOWED_HOSTS",
        value_delimiter = ',',
        value_name = "HOSTS"
    )]
    allowed_hosts: Option<Vec<String>>,
    /// Token every request but GET /healthz must carry (needed to listen beyond loopback).
    #[arg(
        long,
        env = "HYPERSWEEP_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = ApiToken::parse
    )]
    api_token: Option<ApiToken>,
    /// Token that may speak only the worker protocol, for remote workers.
    #[arg(
        long,
        env = "HYPERSWEEP_WORKER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = ApiToken::parse
    )]
    worker_token: Option<ApiToken>,
}

impl ServeArgs {
    fn into_config(self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(v) = self.listen {
            config.listen = v;
        }
        if let Some(v) = self.database {
            config.database = v;
        }
        if let Some(v) = self.data_dir {
            config.data_dir = Some(v);
        }
        if let Some(v) = self.workers {
            config.workers = v;
        }
        if let Some(v) = self.threads_per_trial {
            config.threads_per_trial = v;
        }
        if let Some(v) = self.api_token {
            config.api_token = Some(v);
        }
        if let Some(v) = self.worker_token {
            config.worker_token = Some(v);
        }
        if let Some(v) = self.allowed_hosts {
            config.allowed_hosts = v.into_iter().filter(|h| !h.trim().is_empty()).collect();
        }
        config.validate()?;
        config.check_exposure(config.listen)?;
        Ok(config)
    }
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Runtime::new()?;
    match cli.command {
        Command::Serve(args) => {
            let config = args.into_config()?;
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.listen).await?;
                hypersweep::server::serve(listener, config, shutdown_signal()).await
            })
        }
        Command::Client(command) => {
            let url = cli.server.as_deref();
            std::process::exit(runtime.block_on(hypersweep::cli::run(command, url)))
        }
        Command::Worker(args) => {
            let token = args.token.or_else(|| {
                ["HYPERSWEEP_WORKER_TOKEN", "HYPERSWEEP_TOKEN"]
                    .iter()
                    .find_map(|v| std::env::var(v).ok().filter(|t| !t.is_empty()))
            });
            if args.slots == Some(0) || args.threads == Some(0) {
                anyhow::bail!("--slots and --threads must be at least 1");
            }
            // The global --server: the one URL a worker needs.
            let server = cli.server.unwrap_or_else(|| "http://127.0.0.1:8080".into());
            let options = hypersweep::worker::Options {
                server,
                token,
                id: args.id,
                device: args.device,
                slots: args.slots,
                threads: args.threads,
                work_dir: args.work_dir,
                data_dir: args.data_dir,
            };
            runtime.block_on(hypersweep::worker::run(options))
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
