use super::*;

const ASHA: EarlyTerminate = EarlyTerminate::Hyperband {
    min_iter: 1,
    eta: 3,
};

fn curve(trial: i64, values: &[f64]) -> Curve<'_> {
    Curve { trial, values }
}

/// Feeds trials to a rung one at a time, in the given order, each judged
/// against those that arrived before; returns the ids that continued.
fn arrivals(rule: &EarlyTerminate, goal: Goal, curves: &[(i64, Vec<f64>)]) -> Vec<i64> {
    let mut kept = Vec::new();
    for (i, (id, values)) in curves.iter().enumerate() {
        let others: Vec<Curve> = curves[..i].iter().map(|(t, v)| curve(*t, v)).collect();
        let decision = rule.decide(goal, &curve(*id, values), &others);
        if !decision.stop {
            kept.push(*id);
        }
    }
    kept
}

#[test]
fn rungs_are_min_iter_times_powers_of_eta() {
    assert_eq!(ASHA.rungs(10), vec![1, 3, 9]);
    assert_eq!(ASHA.rungs(9), vec![1, 3, 9]);
    assert_eq!(ASHA.rungs(0), Vec::<u32>::new());
    let hb = EarlyTerminate::Hyperband {
        min_iter: 2,
        eta: 2,
    };
    assert_eq!(hb.rungs(20), vec![2, 4, 8, 16]);
    assert!(EarlyTerminate::Median { min_iter: 1 }.rungs(100).is_empty());
}

#[test]
fn serde_uses_the_spec_keys() {
    let rule: EarlyTerminate =
        serde_json::from_str(r#"{"type":"hyperband","min_iter":1,"eta":3}"#).unwrap();
    assert_eq!(rule, ASHA);
    let json = serde_json::to_value(EarlyTerminate::Median { min_iter: 2 }).unwrap();
    assert_eq!(json, serde_json::json!({"type": "median", "min_iter": 2}));
}

#[test]
fn promotes_exactly_the_top_third_at_each_rung() {
    // Nine trials; trial k scores 10 - k, so trial 1 is best. They reach rung 1
    // in an order that mixes good and bad arrivals.
    let order = [1, 9, 8, 2, 7, 6, 3, 5, 4];
    let rung1: Vec<(i64, Vec<f64>)> = order.iter().map(|&k| (k, vec![10.0 - k as f64])).collect();
    assert_eq!(arrivals(&ASHA, Goal::Maximize, &rung1), vec![1, 2, 3]);

    // Trials 1-3 go on to rung 3 (epoch 3), best first; the stopped six stay
    // at one epoch and do not count there. Only the best of the three is promoted.
    let mut all: Vec<(i64, Vec<f64>)> = rung1.iter().filter(|(k, _)| *k > 3).cloned().collect();
    for (k, last) in [(1, 0.9), (2, 0.8), (3, 0.7)] {
        all.push((k, vec![10.0 - k as f64, 0.5, last]));
    }
    let others: Vec<Curve> = all.iter().map(|(t, v)| curve(*t, v)).collect();
    let judged: Vec<bool> = (6..9)
        .map(|i| ASHA.decide(Goal::Maximize, &others[i], &others[..i]).stop)
        .collect();
    assert_eq!(judged, vec![false, true, true]);
    let d = ASHA.decide(Goal::Maximize, &others[7], &others[..7]);
    assert_eq!(d.rung, Some(3));
    assert!(
        d.reason.contains("rung 3") && d.reason.contains("top-1/3"),
        "{}",
        d.reason
    );
}

#[test]
fn the_first_trial_at_a_rung_continues_and_non_rungs_never_stop() {
    let d = ASHA.decide(Goal::Maximize, &curve(1, &[0.1]), &[]);
    assert!(!d.stop);
    assert_eq!(d.rung, Some(1));
    // Far worse than everyone, but epoch 2 is not a rung.
    let good = [0.9, 0.95, 0.97];
    let others = [curve(2, &good), curve(3, &good)];
    let d = ASHA.decide(Goal::Maximize, &curve(1, &[0.1, 0.1]), &others);
    assert!(!d.stop);
    assert_eq!(d.rung, None);
    // At rung 3 it stops.
    let d = ASHA.decide(Goal::Maximize, &curve(1, &[0.1, 0.1, 0.1]), &others);
    assert!(d.stop, "{}", d.reason);
}

#[test]
fn ties_with_the_cutoff_continue() {
    let others = [curve(2, &[0.5]), curve(3, &[0.5])];
    assert!(!ASHA.decide(Goal::Maximize, &curve(1, &[0.5]), &others).stop);
}

#[test]
fn minimize_mirrors_maximize() {
    let order = [1, 9, 8, 2, 7, 6, 3, 5, 4];
    let losses: Vec<(i64, Vec<f64>)> = order.iter().map(|&k| (k, vec![k as f64 / 10.0])).collect();
    assert_eq!(arrivals(&ASHA, Goal::Minimize, &losses), vec![1, 2, 3]);
    let median = EarlyTerminate::Median { min_iter: 1 };
    let others = [curve(2, &[0.3]), curve(3, &[0.5])];
    assert!(
        median
            .decide(Goal::Minimize, &curve(1, &[0.6]), &others)
            .stop
    );
    assert!(
        !median
            .decide(Goal::Minimize, &curve(1, &[0.4]), &others)
            .stop
    );
}

#[test]
fn nan_is_the_worst_value() {
    let others = [curve(2, &[0.1]), curve(3, &[0.2])];
    for goal in [Goal::Maximize, Goal::Minimize] {
        let d = ASHA.decide(goal, &curve(1, &[f64::NAN]), &others);
        assert!(d.stop, "{goal:?}: {}", d.reason);
        assert!(d.reason.contains("NaN"), "{}", d.reason);
        let median = EarlyTerminate::Median { min_iter: 1 };
        assert!(median.decide(goal, &curve(1, &[f64::NAN]), &others).stop);
    }
    // A NaN among the others does not drag the cutoff into NaN.
    let others = [curve(2, &[f64::NAN]), curve(3, &[f64::NAN])];
    let d = ASHA.decide(Goal::Maximize, &curve(1, &[0.1]), &others);
    assert!(!d.stop, "{}", d.reason);
}

#[test]
fn median_compares_best_so_far_with_the_others_median() {
    let rule = EarlyTerminate::Median { min_iter: 2 };
    let others = [
        curve(2, &[0.70, 0.80, 0.82]),
        curve(3, &[0.60, 0.84]),
        curve(4, &[0.90, 0.85, 0.95]),
        curve(5, &[0.50]),
    ];
    // Before min_iter nothing stops.
    assert!(!rule.decide(Goal::Maximize, &curve(1, &[0.1]), &others).stop);
    // Epoch 2: the others' bests are 0.80, 0.84, 0.90 (trial 5 never got there).
    let d = rule.decide(Goal::Maximize, &curve(1, &[0.83, 0.75]), &others);
    assert!(d.stop, "{}", d.reason);
    assert_eq!(
        d.reason,
        "epoch 2: best 0.83 is worse than the median 0.84 of 3 trials"
    );
    assert!(
        !rule
            .decide(Goal::Maximize, &curve(1, &[0.84, 0.75]), &others)
            .stop
    );
    // An even count takes the mean of the middle two: epoch 1 over 0.5..0.9.
    let rule = EarlyTerminate::Median { min_iter: 1 };
    assert!(
        rule.decide(Goal::Maximize, &curve(1, &[0.64]), &others)
            .stop
    );
    assert!(
        !rule
            .decide(Goal::Maximize, &curve(1, &[0.66]), &others)
            .stop
    );
    // Nobody else at this epoch: continue.
    assert!(
        !rule
            .decide(Goal::Maximize, &curve(1, &[0.0; 4]), &others)
            .stop
    );
}

#[test]
fn rung_stats_count_judged_and_promoted_trials() {
    let values = [[0.9, 0.9, 0.9, 0.9], [0.5, 0.5, 0.5, 0.5]];
    let progress = |trial: i64, n: usize, max_epochs: u32, pruned: bool| TrialProgress {
        curve: curve(trial, &values[(trial % 2) as usize][..n]),
        max_epochs,
        pruned,
    };
    let trials = [
        progress(1, 4, 4, false), // finished: promoted at 1 and 3
        progress(2, 1, 4, true),  // pruned at rung 1
        progress(3, 3, 4, true),  // pruned at rung 3
        progress(4, 1, 4, false), // running, just passed rung 1
        progress(5, 1, 1, false), // configured for one epoch: never judged
    ];
    let stats = rung_stats(&ASHA, &trials);
    let expect = |epoch, reached, promoted| RungStats {
        epoch,
        reached,
        promoted,
    };
    assert_eq!(stats, vec![expect(1, 4, 3), expect(3, 2, 1)]);
    assert!(rung_stats(&EarlyTerminate::Median { min_iter: 1 }, &trials).is_empty());
}
