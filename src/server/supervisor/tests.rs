//! The reaper's cadence and the take-back retries on paused tokio time,
//! against a store stub that records when it was called.
use super::*;
use crate::schedule::TrialGroup;
use crate::state::SweepState;
use crate::store::{Cancel, NewSweep, Sweep, Trial, TrialDetail};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// Records each call (name, seconds since the stub was made); `take_back_from`
/// fails with an unavailable store its first `failing` times.
#[derive(Clone)]
struct Stub {
    start: Instant,
    calls: Arc<Mutex<Vec<(&'static str, u64)>>>,
    failing: Arc<Mutex<usize>>,
}

impl Stub {
    fn new(failing: usize) -> Stub {
        Stub {
            start: Instant::now(),
            calls: Arc::default(),
            failing: Arc::new(Mutex::new(failing)),
        }
    }

    fn called(&self, name: &'static str) {
        let at = self.start.elapsed().as_secs();
        self.calls.lock().unwrap().push((name, at));
    }

    /// When `name` was called, in seconds.
    fn times(&self, name: &str) -> Vec<u64> {
        let calls = self.calls.lock().unwrap();
        calls.iter().filter(|c| c.0 == name).map(|c| c.1).collect()
    }
}

impl Recovery for Stub {
    async fn periodic_turn(&self) -> Result<bool, StoreError> {
        Ok(true)
    }
    async fn reap_expired_leases(&self, _: u32) -> Result<usize, StoreError> {
        self.called("reap");
        Ok(0)
    }
    async fn take_back_from(&self, _: &str, _: u32) -> Result<usize, StoreError> {
        self.called("take_back_from");
        let mut failing = self.failing.lock().unwrap();
        if *failing > 0 {
            *failing -= 1;
            return Err(StoreError::unavailable_for_tests());
        }
        Ok(1)
    }
    async fn take_back_local(&self, _: u32) -> Result<usize, StoreError> {
        unreachable!("the supervisor takes back no orphans")
    }
    async fn enforce_trial_timeouts(&self) -> Result<usize, StoreError> {
        self.called("timeouts");
        Ok(0)
    }
    async fn enforce_deadlines(&self) -> Result<usize, StoreError> {
        self.called("deadlines");
        Ok(0)
    }
}

impl Sweeps for Stub {
    async fn create_sweep(&self, _: NewSweep<'_>) -> Result<i64, StoreError> {
        unreachable!()
    }
    async fn sweep(&self, _: i64) -> Result<Option<Sweep>, StoreError> {
        unreachable!()
    }
    async fn sweep_state(&self, id: i64) -> Result<Option<SweepState>, StoreError> {
        // Sweep 1 has ended; sweep 2 runs.
        Ok(Some(match id {
            1 => SweepState::Completed,
            _ => SweepState::Running,
        }))
    }
    async fn sweeps_page(&self, _: Option<i64>, _: i64) -> Result<Vec<Sweep>, StoreError> {
        unreachable!()
    }
    async fn best_trial(&self, _: &Sweep) -> Result<Option<Trial>, StoreError> {
        unreachable!()
    }
    async fn cancel_sweep(&self, _: i64) -> Result<Cancel, StoreError> {
        unreachable!()
    }
    async fn trials(&self, _: i64) -> Result<Vec<Trial>, StoreError> {
        unreachable!()
    }
    async fn trials_page(&self, _: i64, _: i64, _: i64) -> Result<Vec<Trial>, StoreError> {
        unreachable!()
    }
    async fn trial(&self, _: i64) -> Result<Option<Trial>, StoreError> {
        unreachable!()
    }
    async fn trial_detail(&self, _: i64) -> Result<Option<TrialDetail>, StoreError> {
        unreachable!()
    }
    async fn progress_groups(&self, _: i64) -> Result<Vec<TrialGroup>, StoreError> {
        unreachable!()
    }
}

fn worker(store: Stub) -> Worker<Stub> {
    Worker {
        program: PathBuf::from("/nonexistent"),
        args: Vec::new(),
        token: None,
        name: "w0".into(),
        store,
        max_attempts: 3,
        grace: Duration::from_secs(1),
        memory: None,
        metrics: Default::default(),
    }
}

#[tokio::test(start_paused = true)]
async fn the_reaper_runs_every_job_each_period_until_shutdown() {
    let store = Stub::new(0);
    let checkpoints = tempfile::tempdir().unwrap();
    for sweep in ["1", "2"] {
        std::fs::create_dir(checkpoints.path().join(sweep)).unwrap();
    }
    let (stop, shutdown) = watch::channel(false);
    let reaper = Reaper {
        store: store.clone(),
        max_attempts: 3,
        blobs: crate::blobs::Blobs::Folder(checkpoints.path().to_path_buf()),
    };
    let task = tokio::spawn(reap(reaper, Duration::from_secs(2), shutdown));
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_millis(10), task)
        .await
        .expect("the reaper stops at shutdown, not at its next period")
        .unwrap();
    for job in ["reap", "timeouts", "deadlines"] {
        assert_eq!(store.times(job), [0, 2, 4], "{job}");
    }
    assert!(
        !checkpoints.path().join("1").exists(),
        "an ended sweep's checkpoints go"
    );
    assert!(
        checkpoints.path().join("2").exists(),
        "a running sweep's stay"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_workers_trials_are_taken_back_once_the_store_can_write() {
    let store = Stub::new(3);
    let (_stop, mut shutdown) = watch::channel(false);
    take_back(&worker(store.clone()), "w0-1", &mut shutdown).await;
    assert_eq!(store.times("take_back_from"), [0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn taking_back_stops_trying_at_shutdown() {
    let store = Stub::new(usize::MAX);
    let (stop, mut shutdown) = watch::channel(false);
    let w = worker(store.clone());
    let trying = async { take_back(&w, "w0-1", &mut shutdown).await };
    let stopping = async {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        stop.send(true).unwrap();
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(trying, stopping)
    })
    .await
    .expect("take_back returns at shutdown");
    // Tries at 0, 1 and 2 s, then once more when shutdown wakes it at 2.5 s.
    assert_eq!(store.times("take_back_from"), [0, 1, 2, 2]);
}
