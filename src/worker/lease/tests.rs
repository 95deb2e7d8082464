//! Lease renewal and call retries on paused tokio time: the clock moves
//! only when every task waits, so cadences are exact and nothing sleeps.
use super::*;
use std::sync::Mutex;
use tokio::time::Instant as TokioInstant;

/// When each call came, since the stub was made.
type Calls = Arc<Mutex<Vec<Duration>>>;

fn unreachable() -> CallError {
    CallError::Unreachable("connection refused".into())
}

/// A renewal stub recording when it was called; answers from `answers`,
/// then Ok.
fn stub(
    answers: Vec<Result<(), CallError>>,
) -> (
    Calls,
    impl FnMut() -> std::future::Ready<Result<(), CallError>>,
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

fn flags() -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    (Arc::default(), Arc::default())
}

#[tokio::test(start_paused = true)]
async fn the_lease_is_renewed_every_third_of_its_length() {
    let (calls, renew_once) = stub(vec![]);
    let (stop, lost) = flags();
    let contact = Arc::new(Contact::new(Duration::from_secs(30)));
    let task = tokio::spawn(renew(1, contact, renew_once, stop, lost.clone()));
    tokio::time::sleep(Duration::from_millis(35_000)).await;
    task.abort();
    let calls = calls.lock().unwrap().clone();
    let secs: Vec<u64> = calls.iter().map(|d| d.as_secs()).collect();
    assert_eq!(secs, [10, 20, 30], "{calls:?}");
    assert!(!lost.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_stops_training_and_renewal() {
    let (calls, renew_once) = stub(vec![Ok(()), Err(CallError::LeaseLost)]);
    let (stop, lost) = flags();
    let contact = Arc::new(Contact::new(Duration::from_secs(3)));
    let task = tokio::spawn(renew(1, contact, renew_once, stop.clone(), lost.clone()));
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("renewal ends once the lease is lost")
        .unwrap();
    assert!(stop.load(Ordering::Relaxed) && lost.load(Ordering::Relaxed));
    assert_eq!(calls.lock().unwrap().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_server_out_of_reach_for_less_than_two_thirds_of_the_lease_loses_nothing() {
    // Renewals every 20 s: at 20 s it fails, at 40 s it works; 40 s without
    // an answer would have been two thirds of the 60 s lease.
    let (calls, renew_once) = stub(vec![Err(unreachable())]);
    let (stop, lost) = flags();
    let contact = Arc::new(Contact::new(Duration::from_secs(60)));
    let task = tokio::spawn(renew(1, contact.clone(), renew_once, stop.clone(), lost));
    tokio::time::sleep(Duration::from_millis(65_000)).await;
    task.abort();
    assert_eq!(calls.lock().unwrap().len(), 3, "one try per tick");
    assert!(!stop.load(Ordering::Relaxed));
    assert!(!contact.out_of_touch());
}

#[tokio::test(start_paused = true)]
async fn a_worker_cut_off_for_two_thirds_of_its_lease_stops_by_itself() {
    let answers = (0..10).map(|_| Err(unreachable())).collect();
    let (calls, renew_once) = stub(answers);
    let (stop, lost) = flags();
    let contact = Arc::new(Contact::new(Duration::from_secs(30)));
    let task = tokio::spawn(renew(1, contact, renew_once, stop.clone(), lost.clone()));
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("renewal gives up")
        .unwrap();
    // Tries at 10 s and 20 s: at 20 s two thirds of 30 s have passed.
    assert_eq!(calls.lock().unwrap().len(), 2);
    assert!(stop.load(Ordering::Relaxed) && lost.load(Ordering::Relaxed));
}

#[tokio::test(start_paused = true)]
async fn a_call_the_server_did_not_get_is_tried_again_with_backoff() {
    let tries = Arc::new(Mutex::new(Vec::new()));
    let (seen, start) = (tries.clone(), TokioInstant::now());
    let contact = Contact::new(Duration::from_secs(30));
    let written = persist(1, "a test call", &contact, move || {
        let mut seen = seen.lock().unwrap();
        seen.push(start.elapsed().as_millis());
        let answer = match seen.len() {
            1..=4 => Err(unreachable()),
            _ => Ok(seen.len()),
        };
        std::future::ready(answer)
    })
    .await;
    assert_eq!(written.unwrap(), 5);
    assert_eq!(*tries.lock().unwrap(), [0, 100, 300, 700, 1500]);
}

#[tokio::test(start_paused = true)]
async fn a_call_gives_up_when_the_lease_must_be_taken_for_lost() {
    let contact = Contact::new(Duration::from_secs(3));
    let started = TokioInstant::now();
    let given_up = persist(1, "w", &contact, || {
        std::future::ready(Err::<(), _>(unreachable()))
    })
    .await;
    assert!(matches!(given_up, Err(CallError::Unreachable(_))));
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_lease_or_a_refusal_is_not_retried() {
    let contact = Contact::new(Duration::from_secs(30));
    let lost = persist(1, "w", &contact, || {
        std::future::ready(Err::<(), _>(CallError::LeaseLost))
    })
    .await;
    assert!(matches!(lost, Err(CallError::LeaseLost)));
    let refused = persist(1, "w", &contact, || {
        std::future::ready(Err::<(), _>(CallError::Refused {
            status: 400,
            message: "no".into(),
        }))
    })
    .await;
    assert!(matches!(
        refused,
        Err(CallError::Refused { status: 400, .. })
    ));
}
