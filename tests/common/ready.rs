//! The one wait for a server that was just started, in this process
//! (`spawn_app`) or as the `hypersweep` binary (`Site::start`, and the tests
//! that run the binary with flags of their own): poll `/healthz` until it
//! answers, and fail at once, saying why, if the server stops first.
use futures_util::FutureExt;
use std::fmt::Debug;
use std::process::Child;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// A server being started, which may stop before it ever answers.
pub trait Starting {
    /// How it stopped, if it has; None while it runs.
    fn stopped(&mut self) -> Option<String>;
}

impl Starting for Child {
    fn stopped(&mut self) -> Option<String> {
        let status = self.try_wait().expect("the server's exit status");
        status.map(|status| format!("the server exited: {status}"))
    }
}

/// The task of an in-process server; what it returned once it has ended.
impl<T: Debug> Starting for JoinHandle<T> {
    fn stopped(&mut self) -> Option<String> {
        if !self.is_finished() {
            return None;
        }
        // A finished task's outcome is ready: one poll takes it (unless
        // tokio's cooperative budget defers it; then the outcome is unsaid).
        Some(match self.now_or_never() {
            Some(outcome) => format!("the server stopped: {outcome:?}"),
            None => "the server stopped".to_string(),
        })
    }
}

/// Waits until the server at `url` answers `GET /healthz` with 200. Panics
/// when the server stops first, when it answers anything else, or after
/// `timeout`; the deadline only fails, the answer decides.
pub async fn wait_until_answers(server: &mut impl Starting, url: &str, timeout: Duration) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + timeout;
    loop {
        let answer = client
            .get(format!("{url}/healthz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(r) = answer {
            assert_eq!(r.status(), 200, "GET {url}/healthz");
            return;
        }
        if let Some(how) = server.stopped() {
            panic!("{how}, before it answered at {url}");
        }
        assert!(
            Instant::now() < deadline,
            "the server did not answer at {url} within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
