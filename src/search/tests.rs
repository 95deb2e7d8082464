use super::*;
use crate::spec::{DatasetShape, Format, Limits, SweepSpec, TrialParams};

fn spec(yaml: &str) -> SweepSpec {
    let limits = Limits {
        max_parameters: 10_000_000,
        max_epochs: 100,
        max_trials: 1000,
        max_trial_minutes: 60,
        ..Limits::DEFAULT
    };
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    SweepSpec::parse(yaml, Format::Yaml, &limits, &shape, 1).unwrap()
}

fn configs(spec: &SweepSpec) -> Vec<TrialParams> {
    configurations(spec)
        .into_iter()
        .map(|c| c.expect("fixed at submission"))
        .collect()
}

#[test]
fn grid_runs_every_combination_once() {
    let s = spec("method: grid\nparameters:\n  batch_size: {values: [32, 64, 128]}\n  optimizer: {values: [sgd, adam]}\n  epochs: {value: 2}\n");
    let configs = configs(&s);
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
    let a = configs(&spec(yaml));
    assert_eq!(a, configs(&spec(yaml)));
    let b = configs(&spec(&yaml.replace("seed: 7", "seed: 8")));
    assert_ne!(a, b);
}

#[test]
fn draws_stay_in_their_bounds_and_scales() {
    let s = spec("method: random\nmax_trials: 500\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  batch_size: {distribution: q_log_uniform_values, min: 32, max: 256, q: 32}\n  epochs: {distribution: int_uniform, min: 1, max: 3}\n  dropout: {distribution: q_uniform, min: 0.0, max: 0.95, q: 0.1}\n  momentum: {distribution: uniform, min: 0.5, max: 0.9}\n");
    let configs = configs(&s);
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
    let sgd = configs(&s).iter().filter(|c| c.optimizer == "sgd").count();
    assert!((850..=950).contains(&sgd), "{sgd}");
}

#[test]
fn trial_seeds_differ() {
    let seeds: std::collections::HashSet<_> = (0..1000).map(|n| trial_seed(7, n)).collect();
    assert_eq!(seeds.len(), 1000);
    assert!(seeds.iter().all(|s| *s <= i64::MAX as u64));
}

const CONDITIONAL: &str = "parameters:
  optimizer: {values: [sgd, adam, rmsprop]}
  momentum: {distribution: uniform, min: 0.1, max: 0.5, when: {optimizer: [sgd, rmsprop]}}
  learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.1}
";

#[test]
fn a_conditional_parameter_is_never_sampled_when_it_does_not_apply() {
    let s = spec(&format!("method: random\nmax_trials: 300\n{CONDITIONAL}"));
    for c in configs(&s) {
        let default = TrialParams::default().momentum;
        if c.optimizer == "adam" {
            assert_eq!(c.momentum, default, "momentum sampled for adam: {c:?}");
        } else {
            assert!((0.1..=0.5).contains(&c.momentum), "{c:?}");
        }
    }
    // Bayes too, with a history and past its random start-up trials.
    let s = spec(&format!(
        "method: bayes\nmax_trials: 300\nn_startup_trials: 2\n{CONDITIONAL}"
    ));
    let mut history: Vec<(TrialParams, Option<f64>)> = Vec::new();
    for seed in 0..40 {
        let c = suggest(&s, &history, seed);
        if c.optimizer == "adam" {
            assert_eq!(c.momentum, TrialParams::default().momentum, "{c:?}");
        } else {
            assert!((0.1..=0.5).contains(&c.momentum), "{c:?}");
        }
        let value = c.learning_rate.log10().abs();
        history.push((c, Some(value)));
    }
}

#[test]
fn a_grid_skips_combinations_that_differ_only_in_inactive_parameters() {
    let s = spec("method: grid\nparameters:\n  optimizer: {values: [sgd, adam]}\n  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n");
    let got: Vec<(String, f64)> = configs(&s)
        .into_iter()
        .map(|c| (c.optimizer, c.momentum))
        .collect();
    let default = TrialParams::default().momentum;
    assert_eq!(
        got,
        vec![
            ("sgd".into(), 0.5),
            ("sgd".into(), 0.9),
            ("adam".into(), default)
        ]
    );
}

#[test]
fn bayes_is_deterministic_for_a_history_and_seed() {
    let s = spec("method: bayes\nmax_trials: 50\nn_startup_trials: 3\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  batch_size: {values: [32, 64, 128]}\n  hidden_layers: {values: [[64], [128, 64]]}\n");
    let history: Vec<(TrialParams, Option<f64>)> = (0..10)
        .map(|i| {
            let c = suggest(&s, &[], i);
            let v = -(c.learning_rate.log10() + 2.0).powi(2);
            (c, Some(v))
        })
        .collect();
    assert_eq!(suggest(&s, &history, 99), suggest(&s, &history, 99));
    assert!(configurations(&s).iter().all(Option::is_none));
}

/// The grid as it was walked before issue 13: an odometer over every
/// combination of values, keeping those whose applying parameters are new.
/// It walks the whole product, so it serves small grids only, as an oracle.
fn odometer_grid(spec: &SweepSpec) -> Vec<TrialParams> {
    let axes: Vec<(ParamName, Vec<Value>)> = spec
        .parameters
        .iter()
        .map(|(name, p)| (*name, p.discrete_values().unwrap_or_default()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut index = vec![0usize; axes.len()];
    while out.len() < spec.max_trials as usize {
        let all: BTreeMap<ParamName, Value> = axes
            .iter()
            .zip(&index)
            .map(|((n, v), &i)| (*n, v[i].clone()))
            .collect();
        let mut chosen = BTreeMap::new();
        for name in &spec.order {
            if spec.applies(*name, &chosen) {
                chosen.insert(*name, all[name].clone());
            }
        }
        if seen.insert(
            serde_json::to_string(
                &chosen
                    .iter()
                    .map(|(n, v)| (n.as_str(), v))
                    .collect::<Vec<_>>(),
            )
            .expect("values serialize"),
        ) {
            out.push(params_of(&chosen));
        }
        // Advance the odometer; stop once it wraps around.
        let mut axis = axes.len();
        loop {
            if axis == 0 {
                return out;
            }
            axis -= 1;
            index[axis] += 1;
            if index[axis] < axes[axis].1.len() {
                break;
            }
            index[axis] = 0;
        }
    }
    out
}
