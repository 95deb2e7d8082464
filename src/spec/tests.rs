use super::*;
use crate::schedule::EarlyTerminate;

const LIMITS: Limits = Limits {
    max_parameters: 2_000_000,
    max_epochs: 50,
    max_trials: 500,
    max_trial_minutes: 60,
    ..Limits::DEFAULT
};

fn shape(name: &str) -> Result<DatasetShape, String> {
    match name {
        "mnist-10k" => Ok(DatasetShape {
            features: 784,
            classes: 10,
        }),
        _ => Err(format!("unknown dataset `{name}`")),
    }
}

fn parse(yaml: &str) -> Result<SweepSpec, SpecError> {
    SweepSpec::parse(yaml, Format::Yaml, &LIMITS, &shape, 42)
}

fn rejected(yaml: &str) -> SpecError {
    parse(yaml).expect_err("spec should be rejected")
}

const LAB: &str = include_str!("../../examples/lab.yaml");

#[test]
fn the_lab_example_parses() {
    let spec = parse(LAB).unwrap();
    assert_eq!(spec.method, Method::Random);
    assert_eq!(spec.dataset, "mnist-10k");
    assert_eq!(spec.metric.goal, Goal::Maximize);
    assert!(spec.parameters.contains_key(&ParamName::HiddenLayers));
}

#[test]
fn json_and_yaml_give_the_same_spec() {
    let yaml = "method: grid\nparameters:\n  batch_size: {values: [32, 64]}\n";
    let json = r#"{"method": "grid", "parameters": {"batch_size": {"values": [32, 64]}}}"#;
    let a = parse(yaml).unwrap();
    let b = SweepSpec::parse(json, Format::Json, &LIMITS, &shape, 42).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.max_trials, 2);
    assert_eq!(a.seed, 42, "the fallback seed is used and stored");
    assert_eq!(a.document["seed"], 42);
}

#[test]
fn grid_size_is_capped_by_max_trials() {
    let spec = parse("method: grid\nmax_trials: 3\nparameters:\n  batch_size: {values: [32, 64]}\n  optimizer: {values: [sgd, adam]}\n").unwrap();
    assert_eq!(spec.max_trials, 3);
}

#[test]
fn distribution_is_inferred_from_bounds() {
    let spec = parse("method: random\nmax_trials: 2\nparameters:\n  epochs: {min: 1, max: 3}\n  dropout: {min: 0.0, max: 0.5}\n").unwrap();
    assert!(matches!(
        spec.parameters[&ParamName::Epochs],
        ParamSpec::Distribution {
            distribution: Distribution::IntUniform { min: 1, max: 3 },
            integer: true
        }
    ));
    assert!(matches!(
        spec.parameters[&ParamName::Dropout],
        ParamSpec::Distribution {
            distribution: Distribution::Uniform { .. },
            integer: false
        }
    ));
}

/// Each rejection names the field at fault.
#[test]
fn bad_specs_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("method: random\nmax_trials: 2\nfoo: 1\n", "foo"),
        ("method: random\nmax_trials: 2\nparameters:\n  lr: {value: 0.1}\n", "parameters.lr"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {value: fast}\n", "parameters.learning_rate.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {distribution: uniform, min: 0.5, max: 0.1}\n", "parameters.learning_rate.min"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0, max: 0.1}\n", "parameters.learning_rate.min"),
        ("method: random\nmax_trials: 2\nparameters:\n  weight_decay: {distribution: log_uniform_values, min: -1, max: 0.1}\n", "parameters.weight_decay.min"),
        ("method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: []}\n", "parameters.optimizer.values"),
        ("method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: [sgd, lion]}\n", "parameters.optimizer.values[1]"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {value: 0}\n", "parameters.batch_size.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {values: [64, 12.5]}\n", "parameters.batch_size.values[1]"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {value: 0}\n", "parameters.epochs.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {value: [128, 0]}\n", "parameters.hidden_layers.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {distribution: uniform, min: 1, max: 4}\n", "parameters.hidden_layers"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {distribution: uniform, min: 16, max: 64.5}\n", "parameters.batch_size.distribution"),
        ("method: random\nmax_trials: 2\nparameters:\n  dropout: {value: 1.0}\n", "parameters.dropout.value"),
        ("method: random\nmax_trials: 2\nparameters:\n  dropout: {values: [0.1], bogus: 3}\n", "parameters.dropout.bogus"),
        ("method: random\nmax_trials: 2\nparameters:\n  dropout: {distribution: normal, min: 0, max: 0.5}\n", "parameters.dropout.distribution"),
        ("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {distribution: q_uniform, min: 0.1, max: 0.5, q: 0}\n", "parameters.learning_rate.q"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {values: [32, 64], probabilities: [0.5]}\n", "parameters.batch_size.probabilities"),
        ("method: random\nmax_trials: 2\nparameters:\n  momentum: {value: 0.9, values: [0.5]}\n", "parameters.momentum.values"),
        ("method: random\nmax_trials: 2\nparameters: [1, 2]\n", "parameters"),
        ("method: random\nparameters: {}\n", "max_trials"),
        ("method: random\nmax_trials: 0\n", "max_trials"),
        ("method: random\nmax_trials: 501\n", "max_trials"),
        ("method: random\nmax_trials: 2\nmax_parallel: 0\n", "max_parallel"),
        ("max_trials: 2\n", "method"),
        ("method: random\nmax_trials: 2\ndataset: imagenet\n", "dataset"),
        ("method: random\nmax_trials: 2\nmetric: {name: f1, goal: maximize}\n", "metric.name"),
        ("method: random\nmax_trials: 2\nmetric: {name: val_loss, goal: up}\n", "metric.goal"),
        ("method: random\nmax_trials: 2\nseed: -1\n", "seed"),
        ("method: random\nmax_trials: 2\nname: 7\n", "name"),
        ("method: grid\nparameters:\n  learning_rate: {min: 0.1, max: 0.2}\n", "parameters.learning_rate"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {value: 51}\n", "parameters.epochs"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {min: 1, max: 1000}\n", "parameters.epochs"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {values: [[64], [4096, 4096]]}\n", "parameters.hidden_layers.values[1]"),
        ("- just\n- a list\n", "body"),
        ("method: [unclosed\n", "body"),
    ];
    for (yaml, field) in cases {
        let err = rejected(yaml);
        assert_eq!(&err.field, field, "for spec:\n{yaml}\ngot {err}");
        assert!(!err.message.is_empty());
    }
}

#[test]
fn a_grid_over_the_cap_needs_max_trials() {
    let values: Vec<String> = (1..=30).map(|i| i.to_string()).collect();
    let yaml = format!(
        "method: grid\nparameters:\n  batch_size: {{values: [{v}]}}\n  epochs: {{values: [{v}]}}\n",
        v = values.join(", ")
    );
    assert_eq!(rejected(&yaml).field, "parameters");
    let capped = parse(&format!("{yaml}max_trials: 10\n")).unwrap();
    assert_eq!(capped.max_trials, 10);
}

#[test]
fn budgets_early_stopping_and_conditions_parse() {
    let spec = parse(
        "method: bayes
max_trials: 20
n_startup_trials: 4
max_minutes: 2.5
at_max_minutes: stop
target: {val_accuracy: 0.9}
early_terminate: {type: hyperband, min_iter: 1, eta: 3}
parameters:
  optimizer: {values: [sgd, adam, rmsprop]}
  momentum: {distribution: uniform, min: 0.0, max: 0.95, when: {optimizer: [sgd, rmsprop]}}
",
    )
    .unwrap();
    assert_eq!(spec.method, Method::Bayes);
    assert_eq!(spec.n_startup_trials, 4);
    assert_eq!(spec.max_minutes, Some(2.5));
    assert_eq!(spec.at_max_minutes, AtDeadline::Stop);
    assert_eq!(
        spec.target,
        Some(Target {
            metric: "val_accuracy".into(),
            value: 0.9
        })
    );
    assert_eq!(
        spec.early_terminate,
        Some(EarlyTerminate::Hyperband {
            min_iter: 1,
            eta: 3
        })
    );
    assert_eq!(spec.order, vec![ParamName::Optimizer, ParamName::Momentum]);
    let condition = &spec.conditions[&ParamName::Momentum];
    assert_eq!(condition.parent, ParamName::Optimizer);
    let adam = BTreeMap::from([(ParamName::Optimizer, Value::from("adam"))]);
    let sgd = BTreeMap::from([(ParamName::Optimizer, Value::from("sgd"))]);
    assert!(!spec.applies(ParamName::Momentum, &adam));
    assert!(spec.applies(ParamName::Momentum, &sgd));
    // Stored and read back, the spec is the same.
    assert_eq!(SweepSpec::from_stored(&spec.document).unwrap(), spec);
    let median = parse("method: random\nmax_trials: 2\nearly_terminate: {type: median}\n").unwrap();
    assert_eq!(
        median.early_terminate,
        Some(EarlyTerminate::Median { min_iter: 1 })
    );
    assert!(Target {
        metric: "val_loss".into(),
        value: 0.3
    }
    .reached(0.29));
    assert!(!Target {
        metric: "val_accuracy".into(),
        value: 0.9
    }
    .reached(0.89));
}

#[test]
fn bad_budgets_and_conditions_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("method: random\nmax_trials: 2\nearly_terminate: {type: asha}\n", "early_terminate.type"),
        ("method: random\nmax_trials: 2\nearly_terminate: {type: hyperband, eta: 1}\n", "early_terminate.eta"),
        ("method: random\nmax_trials: 2\nearly_terminate: {type: median, eta: 3}\n", "early_terminate.eta"),
        ("method: random\nmax_trials: 2\nmax_minutes: 0\n", "max_minutes"),
        ("method: random\nmax_trials: 2\nat_max_minutes: stop\n", "at_max_minutes"),
        ("method: random\nmax_trials: 2\nmax_minutes: 1\nat_max_minutes: later\n", "at_max_minutes"),
        ("method: random\nmax_trials: 2\ntarget: {f1: 0.9}\n", "target.f1"),
        ("method: random\nmax_trials: 2\ntarget: {val_accuracy: 1.5}\n", "target.val_accuracy"),
        ("method: random\nmax_trials: 2\ntarget: 0.9\n", "target"),
        ("method: random\nmax_trials: 2\nn_startup_trials: 3\n", "n_startup_trials"),
        ("method: bayes\n", "max_trials"),
        ("method: random\nmax_trials: 2\nparameters:\n  momentum: {value: 0.5, when: {optimizer: sgd}}\n", "parameters.momentum.when.optimizer"),
        ("method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: [sgd, adam]}\n  momentum: {value: 0.5, when: {optimizer: [lion]}}\n", "parameters.momentum.when.optimizer[0]"),
        ("method: random\nmax_trials: 2\nparameters:\n  optimizer: {values: [sgd]}\n  momentum: {value: 0.5, when: {optimizer: [adam]}}\n", "parameters.momentum.when.optimizer"),
        ("method: random\nmax_trials: 2\nparameters:\n  momentum: {value: 0.5, when: {momentum: 0.5}}\n", "parameters.momentum.when.momentum"),
        ("method: random\nmax_trials: 2\nparameters:\n  momentum: {value: 0.5, when: sgd}\n", "parameters.momentum.when"),
        ("method: random\nmax_trials: 2\nparameters:\n  dropout: {values: [0.1, 0.2], when: {activation: relu}}\n  activation: {values: [relu, tanh], when: {dropout: 0.1}}\n", "parameters.dropout.when"),
    ];
    for (yaml, field) in cases {
        let err = rejected(yaml);
        assert_eq!(&err.field, field, "for spec:\n{yaml}\ngot {err}");
    }
}
