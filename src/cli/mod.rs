//! The command-line client: `submit`, `watch`, `best`, `trials` and `cancel`
//! talk to a running server through its HTTP API, as a user would with curl.
//!
//! - [`client`]: the HTTP calls and the client's one error type.
//! - [`sse`]: splits a Server-Sent Events byte stream into events (pure).
//! - `watch`: follows a sweep's event stream, reconnecting where it broke.
//! - `bars`: a progress bar per running trial and one for the sweep (indicatif).
//! - `show`: the human-readable text: best configuration, trials table (pure).
//! - `commands`: one function per subcommand.
mod bars;
pub mod client;
mod commands;
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

const EXIT_CODES: &str = "Exit codes:
  0  done
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the request (its message is printed to stderr)";
const SUBMIT_EXIT_CODES: &str = "Exit codes:
  0  the sweep was submitted (with --watch: and it completed)
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the spec (its message is printed to stderr), or FILE cannot be read
  3  with --watch: the sweep was cancelled";
const WATCH_EXIT_CODES: &str = "Exit codes:
  0  the sweep completed
  1  the server could not be reached, or gave an answer this client does not understand
  2  the server refused the request (its message is printed to stderr)
  3  the sweep was cancelled";

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
        #[arg(long)]
        json: bool,
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
}

/// Which server a client command talks to, and the token it sends.
#[derive(Debug, Args)]
pub struct ServerArg {
    /// The server's URL [default: http:// + `listen` of ./config.toml, else http://127.0.0.1:8080].
    #[arg(long, env = "HYPERSWEEP_SERVER", value_name = "URL")]
    pub server: Option<String>,
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
    /// The URL given, or the one `hypersweep serve` would listen on from here.
    pub fn url(&self) -> String {
        match &self.server {
            Some(url) => url.clone(),
            None => default_server(),
        }
    }

    /// A client of that server, with the token given or the one of ./config.toml.
    pub fn client(&self) -> Client {
        let token = self.api_token.clone().or_else(|| local_config().api_token);
        Client::new(&self.url()).with_token(token)
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

/// Runs one client command, printing any error to stderr; returns the exit code.
pub async fn run(command: Command) -> i32 {
    let outcome = match command {
        Command::Submit {
            file,
            watch,
            json,
            server,
        } => commands::submit(&server.client(), &file, watch, json).await,
        Command::Watch { id, json, server } => commands::watch(&server.client(), id, json).await,
        Command::Best { id, json, server } => commands::best(&server.client(), id, json).await,
        Command::Trials { id, json, server } => commands::trials(&server.client(), id, json).await,
        Command::Cancel { id, server } => commands::cancel(&server.client(), id).await,
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
