use super::*;

const LIMITS: Limits = Limits {
    max_parameters: 2_000_000,
    max_epochs: 50,
    max_trials: 500,
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
        ("method: bayes\nmax_trials: 2\n", "method"),
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
