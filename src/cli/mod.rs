//! The command-line client: `submit`, `watch`, `list`, `best`, `trials`,
//! `cancel`, `extend`, `enqueue`, `fork` and `delete` talk to a running
//! server through its HTTP API, as a user would with curl.
//!
//! - [`client`]: the HTTP calls and the client's one error type.
//! - [`sse`]: splits a Server-Sent Events byte stream into events (pure).
//! - `watch`: follows a sweep's event stream, reconnecting where it broke.
//! - `bars`: a progress bar per running trial and one for the sweep (indicatif).
//! - `show`: the human-readable text: best configuration, trials table (pure).
//! - `commands`, `manage`: one function per subcommand.
mod bars;
mod calls;
pub mod client;
mod commands;
mod manage;
mod show;
pub mod sse;
mod watch;

pub use client::{Client, ClientError};

use crate::config::ApiToken;
use clap::{Args, Subcommand};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// The command did what it was asked; for `watch`, the sweep completed.
pub const EXIT_OK: i32 = 0;
/// The server could not be reached, or answered something this client does not understand.
pub const EXIT_UNREACHABLE: i32 = 1;
/// The server refused the request (4xx/5xx), or the spec file cannot be read.
pub const EXIT_REFUSED: i32 = 2;
/// The watched sweep was cancelled.
pub const EXIT_CANCELLED: i32 = 3;
/// Watching stopped on Ctrl-C (the sweep goes on), as shells count SIGINT.
pub const EXIT_INTERRUPTED: i32 = 130;

const EXIT_CODES: &str = "Exit codes:
  0  done
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the request (its message is printed to stderr)";
const SUBMIT_EXIT_CODES: &str = "Exit codes:
  0  the sweep was submitted (with --watch: and it completed)
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the spec (its message is printed to stderr), or FILE cannot be read
  3  with --watch: the sweep was cancelled
  130  with --watch: Ctrl-C stopped watching (the sweep goes on in the server)";
const WATCH_EXIT_CODES: &str = "Exit codes:
  0  the sweep completed
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the request (its message is printed to stderr)
  3  the sweep was cancelled
  130  Ctrl-C stopped watching (the sweep goes on in the server)";

/// The client's subcommands, flattened into the binary's own.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit a sweep spec and print the new sweep's id.
    ///
    /// FILE is YAML, or JSON if its name ends in .json. A spec the server
    /// rejects prints its message, naming the field, and stores nothing.
    #[command(after_help = SUBMIT_EXIT_CODES)]
    Submit {
        /// The sweep spec file.
        file: PathBuf,
        /// Then follow the sweep like `watch` until it ends, and print the best configuration.
        #[arg(long)]
        watch: bool,
        /// Print the server's JSON; with --watch, then each event as one JSON line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Follow a sweep live until it ends.
    ///
    /// Shows a progress bar per running trial and one for the sweep (on
    /// stderr, when it is a terminal), prints a line whenever the best trial
    /// changes, then the sweep's final state and its best configuration. A
    /// dropped connection is resumed where it broke.
    #[command(after_help = WATCH_EXIT_CODES)]
    Watch {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// No bars: print each event as one JSON line on stdout (the summary goes to stderr).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List the sweeps, newest first: state, trials, best value so far.
    #[command(after_help = EXIT_CODES)]
    List {
        /// Show at most this many sweeps.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
        limit: i64,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Show a sweep's best configuration, its metric and its test accuracy.
    #[command(after_help = EXIT_CODES)]
    Best {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// List a sweep's trials: state, epochs, latest metrics, parameters.
    #[command(after_help = EXIT_CODES)]
    Trials {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// Print the server's JSON.
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// Print the server's CSV: one row per trial (GET /v1/sweeps/ID/trials.csv).
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Cancel a running sweep: its queued and running trials end `cancelled`.
    #[command(after_help = EXIT_CODES)]
    Cancel {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Raise a sweep's budget (or set its target); an ended sweep runs again.
    ///
    /// A budget below what the sweep has already run is refused.
    #[command(after_help = EXIT_CODES)]
    Extend {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        #[command(flatten)]
        budget: manage::Budget,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Queue a trial with the parameters you choose; it trains next.
    ///
    /// Each PARAM is NAME=VALUE; VALUE is read as JSON when it is JSON
    /// (`0.01`, `[128,64]`, `true`), else as text (`adam`). It takes the place
    /// of the last queued trial of the search, so the budget stays the same.
    #[command(after_help = EXIT_CODES)]
    Enqueue {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// NAME=VALUE, one per parameter: `learning_rate=0.01 optimizer=adam`.
        #[arg(required = true, value_name = "PARAM", value_parser = manage::parse_param)]
        params: Vec<(String, serde_json::Value)>,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Start a new sweep from an existing one, with changes.
    ///
    /// FILE is a partial spec (YAML, or JSON if it ends in .json): its keys
    /// replace the parent's, except `parameters`, merged per parameter (a
    /// parameter set to null is removed). The new sweep records its parent.
    #[command(after_help = EXIT_CODES)]
    Fork {
        /// The parent sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        /// The changes, as a partial spec file.
        file: PathBuf,
        #[command(flatten)]
        server: ServerArg,
    },
    /// Delete an ended sweep with its trials, reports, events and files.
    #[command(after_help = EXIT_CODES)]
    Delete {
        /// The sweep's id.
        #[arg(value_parser = clap::value_parser!(i64).range(1..))]
        id: i64,
        #[command(flatten)]
        server: ServerArg,
    },
}

/// The token a client command sends (the server's URL is the global `--server`).
#[derive(Debug, Args)]
pub struct ServerArg {
    /// The server's API token, sent as `Authorization: Bearer` [default: `api_token` of ./config.toml].
    #[arg(
        long,
        env = "HYPERSWEEP_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = ApiToken::parse
    )]
    pub api_token: Option<ApiToken>,
}

impl ServerArg {
    /// A client of the server at `url` (None: the one `hypersweep serve`
    /// would listen on from here), with the token given or the one of ./config.toml.
    pub fn client(&self, url: Option<&str>) -> Client {
        let token = self.api_token.clone().or_else(|| local_config().api_token);
        let url = url.map_or_else(default_server, str::to_string);
        Client::new(&url).with_token(token)
    }
}

/// ./config.toml, or the defaults when it is missing or unreadable.
fn local_config() -> crate::config::Config {
    crate::config::Config::load(None).unwrap_or_else(|e| {
        eprintln!("warning: ignoring config.toml: {e}");
        crate::config::Config::default()
    })
}

/// `http://` + the `listen` address of ./config.toml (a wildcard address
/// becoming loopback), or `http://127.0.0.1:8080` without one.
pub fn default_server() -> String {
    let mut listen = local_config().listen;
    if listen.ip().is_unspecified() {
        listen.set_ip(match listen.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    format!("http://{listen}")
}

/// Runs one client command against the server at `url` (None: the default
/// server), printing any error to stderr; returns the exit code.
pub async fn run(command: Command, url: Option<&str>) -> i32 {
    let outcome = match command {
        Command::Submit {
            file,
            watch,
            json,
            server,
        } => commands::submit(&server.client(url), &file, watch, json).await,
        Command::Watch { id, json, server } => commands::watch(&server.client(url), id, json).await,
        Command::List {
            limit,
            json,
            server,
        } => manage::list(&server.client(url), limit, json).await,
        Command::Best { id, json, server } => commands::best(&server.client(url), id, json).await,
        Command::Trials {
            id,
            json,
            csv,
            server,
        } => match csv {
            true => manage::trials_csv(&server.client(url), id).await,
            false => commands::trials(&server.client(url), id, json).await,
        },
        Command::Cancel { id, server } => commands::cancel(&server.client(url), id).await,
        Command::Extend { id, budget, server } => {
            manage::extend(&server.client(url), id, &budget).await
        }
        Command::Enqueue { id, params, server } => {
            manage::enqueue(&server.client(url), id, &params).await
        }
        Command::Fork { id, file, server } => manage::fork(&server.client(url), id, &file).await,
        Command::Delete { id, server } => manage::delete(&server.client(url), id).await,
    };
    match outcome {
        Ok(code) => code,
        // Whoever read stdout has stopped (`| head`): nothing left to tell.
        Err(ClientError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
