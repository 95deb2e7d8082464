//! Rung statistics group a sweep's trials by how far they got and how far
//! they were configured to go. The configured epochs are a stored column kept
//! by triggers: set at insert, and when a model-based method samples a
//! queued trial's configuration later, on a real SQLite file.
use hypersweep::schedule::TrialGroup;
use hypersweep::spec::{Goal, Metric, TrialParams};
use hypersweep::store::{NewSweep, NewTrial, Queue as _, Store, Sweeps as _};
use serde_json::json;

#[tokio::test]
async fn planned_epochs_follow_params_written_at_insert_and_at_sampling() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("groups.db").display());
    let store = Store::open(&url, true).await.unwrap();
    let metric = Metric {
        name: hypersweep::metric::MetricName::ValAccuracy,
        goal: Goal::Maximize,
    };
    let params = |epochs: u32| {
        serde_json::to_value(TrialParams {
            epochs,
            ..TrialParams::default()
        })
        .unwrap()
    };
    let sweep = store
        .create_sweep(NewSweep {
            name: "groups",
            dataset: "mnist-10k",
            method: "bayes",
            metric: &metric,
            max_parallel: None,
            seed: 1,
            spec: &json!({}),
            early_terminate: None,
            max_minutes: None,
            stop_at_deadline: false,
            target: None,
            max_trials: 3,
            parent_id: None,
            exhausted: false,
            trials: vec![
                NewTrial::search(Some(params(4)), 1),
                NewTrial::search(Some(params(4)), 2),
                NewTrial::search(None, 3),
            ],
        })
        .await
        .unwrap();
    let group = |max_epochs, count| TrialGroup {
        epochs_done: 0,
        max_epochs,
        pruned: false,
        count,
    };
    // The trial without a configuration yet has no planned epochs: not counted.
    assert_eq!(
        store.progress_groups(sweep).await.unwrap(),
        vec![group(4, 2)]
    );

    // Claim all three; the third samples its configuration now.
    let mut claims = Vec::new();
    while let Some(claim) = store.claim("w", 60_000).await.unwrap() {
        claims.push(claim);
    }
    let sampled = claims.iter().find(|c| c.params.is_none()).unwrap();
    store
        .assign_params(
            sampled,
            "w",
            &TrialParams {
                epochs: 9,
                ..TrialParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        store.progress_groups(sweep).await.unwrap(),
        vec![group(4, 2), group(9, 1)]
    );
}
