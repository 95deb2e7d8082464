use super::*;
use crate::spec::{DatasetShape, Format, Limits, SweepSpec};

fn spec(yaml: &str) -> SweepSpec {
    let limits = Limits {
        max_parameters: 10_000_000,
        max_epochs: 100,
        max_trials: 1000,
    };
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    SweepSpec::parse(yaml, Format::Yaml, &limits, &shape, 1).unwrap()
}

#[test]
fn grid_runs_every_combination_once() {
    let s = spec("method: grid\nparameters:\n  batch_size: {values: [32, 64, 128]}\n  optimizer: {values: [sgd, adam]}\n  epochs: {value: 2}\n");
    let configs = configurations(&s);
    assert_eq!(configs.len(), 6);
    let mut pairs: Vec<_> = configs
        .iter()
        .map(|c| (c.batch_size, c.optimizer.clone(), c.epochs))
        .collect();
    pairs.sort();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
    assert!(configs
        .iter()
        .all(|c| c.epochs == 2 && c.learning_rate == 0.003));
}

#[test]
fn random_is_deterministic_for_a_seed_and_differs_across_seeds() {
    let yaml = "method: random\nmax_trials: 20\nseed: 7\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  batch_size: {values: [32, 64, 128, 256]}\n  dropout: {distribution: uniform, min: 0.0, max: 0.5}\n";
    let a = configurations(&spec(yaml));
    assert_eq!(a, configurations(&spec(yaml)));
    let b = configurations(&spec(&yaml.replace("seed: 7", "seed: 8")));
    assert_ne!(a, b);
}

#[test]
fn draws_stay_in_their_bounds_and_scales() {
    let s = spec("method: random\nmax_trials: 500\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  batch_size: {distribution: q_log_uniform_values, min: 32, max: 256, q: 32}\n  epochs: {distribution: int_uniform, min: 1, max: 3}\n  dropout: {distribution: q_uniform, min: 0.0, max: 0.95, q: 0.1}\n  momentum: {distribution: uniform, min: 0.5, max: 0.9}\n");
    let configs = configurations(&s);
    let mut below_1e3 = 0;
    for c in &configs {
        assert!((0.0001..=0.1).contains(&c.learning_rate));
        below_1e3 += usize::from(c.learning_rate < 0.001);
        assert!(
            c.batch_size % 32 == 0 && (32..=256).contains(&c.batch_size),
            "{}",
            c.batch_size
        );
        assert!((1..=3).contains(&c.epochs));
        assert!((0.0..=0.95).contains(&c.dropout));
        assert!((0.5..=0.9).contains(&c.momentum));
    }
    // Log-uniform: a third of the decades lie below 1e-3, so about a third of draws.
    assert!(
        (120..=220).contains(&below_1e3),
        "{below_1e3} of 500 below 1e-3"
    );
    let epochs: std::collections::BTreeSet<_> = configs.iter().map(|c| c.epochs).collect();
    assert_eq!(epochs.len(), 3, "int_uniform reaches both ends");
}

#[test]
fn probabilities_weight_the_choice() {
    let s = spec("method: random\nmax_trials: 1000\nparameters:\n  optimizer: {values: [sgd, adam], probabilities: [0.9, 0.1]}\n");
    let sgd = configurations(&s)
        .iter()
        .filter(|c| c.optimizer == "sgd")
        .count();
    assert!((850..=950).contains(&sgd), "{sgd}");
}

#[test]
fn trial_seeds_differ() {
    let seeds: std::collections::HashSet<_> = (0..1000).map(|n| trial_seed(7, n)).collect();
    assert_eq!(seeds.len(), 1000);
    assert!(seeds.iter().all(|s| *s <= i64::MAX as u64));
}
