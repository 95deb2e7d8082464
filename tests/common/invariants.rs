//! The invariants every crash and fault scenario ends with, over what the
//! API returned: the sweep's trials numbered 0..n, every epoch reported
//! once, every trial completed once, and no (trial, attempt) started twice.
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};

/// `listed` (the sweep's trials in number order) are numbered 0..n, and each
/// of `details` (their `GET /v1/trials/<id>`) has epochs 1..=`epochs`, once each.
pub fn every_epoch_once(listed: &[Value], details: &[Value], epochs: i64) {
    let numbers: Vec<i64> = listed
        .iter()
        .map(|t| t["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (0..listed.len() as i64).collect::<Vec<_>>());
    for detail in details {
        let reported: Vec<i64> = detail["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["epoch"].as_i64().unwrap())
            .collect();
        assert_eq!(
            reported,
            (1..=epochs).collect::<Vec<_>>(),
            "trial {}: every epoch once",
            detail["number"]
        );
    }
}

/// In a sweep's `events`: no (trial, attempt) started twice, and each of
/// `trials` trials completed exactly once.
pub fn every_trial_once(events: &[Value], trials: usize) {
    let mut started = HashSet::new();
    let mut completed: BTreeMap<i64, usize> = BTreeMap::new();
    for e in events {
        match e["kind"].as_str().unwrap_or("") {
            "trial_started" => {
                let key = (
                    e["trial_id"].as_i64().unwrap(),
                    e["data"]["attempt"].as_i64().unwrap(),
                );
                assert!(
                    started.insert(key),
                    "trial {} attempt {} started twice",
                    key.0,
                    key.1
                );
            }
            "trial_completed" => {
                *completed
                    .entry(e["trial_id"].as_i64().unwrap())
                    .or_default() += 1;
            }
            _ => {}
        }
    }
    assert_eq!(completed.len(), trials, "{completed:?}");
    assert!(
        completed.values().all(|n| *n == 1),
        "a trial completed twice: {completed:?}"
    );
}
