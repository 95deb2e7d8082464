//! Lease renewal and write retries on paused tokio time: the clock moves
//! only when every task waits, so cadences are exact and nothing sleeps.
use super::*;
use std::sync::Mutex;
use tokio::time::Instant as TokioInstant;

/// When each call came, since the stub was made.
type Calls = Arc<Mutex<Vec<Duration>>>;

/// A renewal stub recording when it was called; answers from `answers`,
/// then Ok.
fn stub(
    answers: Vec<Result<(), WriteError>>,
) -> (
    Calls,
    impl FnMut() -> std::future::Ready<Result<(), WriteError>>,
) {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let (seen, start) = (calls.clone(), TokioInstant::now());
    let mut answers = answers.into_iter();
    let renew_once = move || {
        seen.lock().unwrap().push(start.elapsed());
        std::future::ready(answers.next().unwrap_or(Ok(())))
    };
    (calls, renew_once)
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_every_third_of_its_length() {
    let (calls, renew_once) = stub(vec![]);
    let (stop, lost) = (Arc::default(), Arc::new(AtomicBool::new(false)));
    let task = tokio::spawn(renew(1, 30_000, renew_once, stop, lost.clone()));
    tokio::time::sleep(Duration::from_millis(35_000)).await;
    task.abort();
    let calls = calls.lock().unwrap().clone();
    let secs: Vec<u64> = calls.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [10, 20, 30], "{calls:?}");
    assert!(!lost.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_stops_training_and_renewal() {
    let (calls, renew_once) = stub(vec![Ok(()), Err(WriteError::LeaseLost)]);
    let (stop, lost) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let task = tokio::spawn(renew(1, 3_000, renew_once, stop.clone(), lost.clone()));
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("renewal ends once the lease is lost")
        .unwrap();
    assert!(stop.load(Ordering::Relaxed) && lost.load(Ordering::Relaxed));
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_does_not_lose_the_lease() {
    let failure = || WriteError::Store(StoreError::unavailable_for_tests());
    let (calls, renew_once) = stub(vec![Err(failure()), Err(failure()), Ok(())]);
    let (stop, lost) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let task = tokio::spawn(renew(1, 3_000, renew_once, stop.clone(), lost.clone()));
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    task.abort();
    assert_eq!(calls.lock().unwrap().len(), 10, "one try per tick");
    assert!(!stop.load(Ordering::Relaxed) && !lost.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn a_write_the_disk_cannot_take_is_retried_every_second_until_it_can() {
    let tries = Arc::new(Mutex::new(Vec::new()));
    let (seen, start) = (tries.clone(), TokioInstant::now());
    let written = persist(1, "a test write", move || {
        let mut seen = seen.lock().unwrap();
        seen.push(start.elapsed().as_secs());
        let answer = match seen.len() {
            1..=3 => Err(WriteError::Store(StoreError::unavailable_for_tests())),
            _ => Ok(seen.len()),
        };
        std::future::ready(answer)
    })
    .await;
    assert_eq!(written.unwrap(), 4);
    assert_eq!(*tries.lock().unwrap(), [0, 1, 2, 3]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_or_another_store_error_is_not_retried() {
    let lost = persist(1, "w", || {
        std::future::ready(Err::<(), _>(WriteError::LeaseLost))
    })
    .await;
    assert!(matches!(lost, Err(WriteError::LeaseLost)));
    assert_eq!(lease_held(lost).unwrap(), None);
    assert_eq!(lease_held(Ok(7)).unwrap(), Some(7));
}
