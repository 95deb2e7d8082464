//! Importance on synthetic sweeps whose truth is known, and best so far.
use super::*;
use crate::spec::{DatasetShape, Format, Limits, ParamName, SweepSpec};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

const SPACE: &str = "method: random\nmax_trials: 200\nseed: 11\nparameters:
  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  dropout: {distribution: uniform, min: 0.0, max: 0.9}
  batch_size: {values: [32, 64, 128]}
  optimizer: {values: [sgd, adam]}
  momentum: {distribution: uniform, min: 0.0, max: 0.9, when: {optimizer: sgd}}
  epochs: {value: 2}
";

fn spec(yaml: &str) -> SweepSpec {
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    SweepSpec::parse(yaml, Format::Yaml, &Limits::DEFAULT, &shape, 1).unwrap()
}

/// `n` random trials of `SPACE` as stored params (momentum null for adam),
/// with the metric `f` of them.
fn trials(n: usize, seed: u64, f: impl Fn(&Value) -> f64) -> Vec<(Value, f64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let sgd = rng.random_bool(0.5);
            let batch = [32, 64, 128][rng.random_range(0..3)];
            let params = json!({
                "learning_rate": 10f64.powf(rng.random_range(-4.0..-1.0)),
                "dropout": rng.random_range(0.0..0.9),
                "batch_size": batch,
                "optimizer": if sgd { "sgd" } else { "adam" },
                "momentum": if sgd { json!(rng.random_range(0.0..0.9)) } else { Value::Null },
                "epochs": 2,
            });
            let y = f(&params);
            (params, y)
        })
        .collect()
}

fn run(trials: &[(Value, f64)], goal: Goal) -> Vec<(ParamName, f64)> {
    let s = spec(SPACE);
    let axes = axes(&s);
    let observations: Vec<Observation> = trials
        .iter()
        .map(|(p, y)| Observation {
            position: positions(&s, &axes, p),
            value: *y,
        })
        .collect();
    importance(&axes, &observations, goal, s.seed())
}

fn share(result: &[(ParamName, f64)], name: ParamName) -> f64 {
    result.iter().find(|(n, _)| *n == name).unwrap().1
}

fn lr(p: &Value) -> f64 {
    p["learning_rate"].as_f64().unwrap()
}

#[test]
fn the_swept_parameters_are_the_axes() {
    let names: Vec<ParamName> = axes(&spec(SPACE)).iter().map(|a| a.name).collect();
    use ParamName::*;
    assert_eq!(
        names,
        [LearningRate, BatchSize, Dropout, Optimizer, Momentum],
        "epochs is fixed"
    );
}

#[test]
fn a_metric_of_one_parameter_gives_it_almost_all_importance_for_both_goals() {
    // Accuracy peaks at lr = 10^-2.5; loss is its mirror image.
    let acc = trials(120, 1, |p| 0.95 - 0.1 * (lr(p).log10() + 2.5).powi(2));
    let loss: Vec<(Value, f64)> = acc.iter().map(|(p, y)| (p.clone(), 1.0 - y)).collect();
    let max = run(&acc, Goal::Maximize);
    let min = run(&loss, Goal::Minimize);
    for result in [&max, &min] {
        assert_eq!(result[0].0, ParamName::LearningRate, "{result:?}");
        assert!(result[0].1 > 0.9, "{result:?}");
        let sum: f64 = result.iter().map(|r| r.1).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        assert!(result.windows(2).all(|w| w[0].1 >= w[1].1), "sorted");
    }
    // The goal flips nothing: the same shares either way (up to rounding
    // in near ties between splits on parameters that do not matter).
    for (name, x) in &max {
        assert!((x - share(&min, *name)).abs() < 1e-3, "{max:?} {min:?}");
    }
    // And the same again for the same seed.
    assert_eq!(run(&acc, Goal::Maximize), max);
}

#[test]
fn variance_contributions_of_four_to_one_come_out_near_that_ratio() {
    // Var(2·dropout) : Var(lr's exponent / 3.333·0.9) = 4 : 1 over the space.
    let data = trials(300, 2, |p| {
        let d = p["dropout"].as_f64().unwrap() / 0.9;
        let l = (lr(p).log10() + 4.0) / 3.0;
        2.0 * d + l
    });
    let result = run(&data, Goal::Minimize);
    let (d, l) = (
        share(&result, ParamName::Dropout),
        share(&result, ParamName::LearningRate),
    );
    assert!(d + l > 0.9, "{result:?}");
    let ratio = d / l;
    assert!((2.5..6.5).contains(&ratio), "ratio {ratio}: {result:?}");
}

#[test]
fn a_categorical_parameter_is_found() {
    let data = trials(80, 3, |p| match p["batch_size"].as_u64().unwrap() {
        32 => 0.9,
        64 => 0.7,
        _ => 0.95,
    });
    let result = run(&data, Goal::Maximize);
    assert_eq!(result[0].0, ParamName::BatchSize, "{result:?}");
    assert!(result[0].1 > 0.9, "{result:?}");
}

#[test]
fn a_parameter_that_applies_to_some_trials_only_is_measured_where_it_applies() {
    // Momentum matters for sgd; adam trials (momentum n/a) sit in between:
    // momentum and the optimizer that switches it on explain it all.
    let data = trials(200, 4, |p| p["momentum"].as_f64().unwrap_or(0.45));
    let result = run(&data, Goal::Maximize);
    assert_eq!(result[0].0, ParamName::Momentum, "{result:?}");
    let both = share(&result, ParamName::Momentum) + share(&result, ParamName::Optimizer);
    assert!(both > 0.95, "{result:?}");
    assert!(result.iter().all(|r| r.1.is_finite() && r.1 >= 0.0));
}

#[test]
fn a_constant_metric_or_too_few_trials_answer_zeros_or_nothing() {
    let flat = trials(30, 5, |_| 0.5);
    let result = run(&flat, Goal::Maximize);
    assert_eq!(result.len(), 5);
    assert!(result.iter().all(|r| r.1 == 0.0), "{result:?}");
    assert!(run(&flat[..1], Goal::Maximize).is_empty());
    assert!(run(&[], Goal::Minimize).is_empty());
    let mut diverged = trials(3, 6, lr);
    diverged[0].1 = f64::NAN;
    diverged[1].1 = f64::INFINITY;
    assert!(
        run(&diverged, Goal::Minimize).is_empty(),
        "one finite value"
    );
}

#[test]
fn not_applicable_and_unknown_values_have_no_position() {
    let s = spec(SPACE);
    let axes = axes(&s);
    let p = json!({"learning_rate": 0.01, "dropout": 0, "batch_size": 64.0,
                   "optimizer": "adam", "momentum": 0.9});
    let at = positions(&s, &axes, &p);
    assert_eq!(at, [Some(-2.0), Some(1.0), Some(0.0), Some(1.0), None]);
    let p = json!({"learning_rate": null, "batch_size": 48, "optimizer": "sgd", "momentum": 0.5});
    let at = positions(&s, &axes, &p);
    assert_eq!(at, [None, None, None, Some(0.0), Some(0.5)]);
    assert_eq!(label(&json!([128, 64])), "[128, 64]");
    assert_eq!(label(&json!("sgd")), "sgd");
}

#[test]
fn best_so_far_is_a_step_per_improvement_in_time_order() {
    let points = vec![
        (5.0, 0.7),
        (1.0, 0.5),
        (3.0, 0.4),
        (9.0, 0.9),
        (7.0, f64::NAN),
    ];
    assert_eq!(
        best_so_far(Goal::Maximize, points.clone()),
        [(1.0, 0.5), (5.0, 0.7), (9.0, 0.9)]
    );
    assert_eq!(
        best_so_far(Goal::Minimize, points),
        [(1.0, 0.5), (3.0, 0.4)]
    );
}
