use super::*;
use crate::schedule::EarlyTerminate;
use serde_json::Value;
use std::collections::BTreeMap;

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
            metric: crate::metric::MetricName::ValAccuracy,
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
        metric: crate::metric::MetricName::ValLoss,
        value: 0.3
    }
    .reached(0.29));
    assert!(!Target {
        metric: crate::metric::MetricName::ValAccuracy,
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

fn json(text: &str) -> Result<SweepSpec, SpecError> {
    SweepSpec::parse(text, Format::Json, &LIMITS, &shape, 42)
}

/// Issue 13: each cost of a spec has a cap, and going over it names the
/// field and the cap.
#[test]
fn every_cost_has_a_cap_naming_the_field() {
    let ones = |n: usize| vec!["1"; n].join(", ");
    let distinct = |n: usize| {
        (1..=n)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // The attacker's 60 KB spec: 20,000 layers, 10,000 trials.
        (format!("method: random\nmax_trials: 500\nparameters:\n  hidden_layers: {{value: [{}]}}\n", ones(20_000)), "parameters.hidden_layers", "max_hidden_layers"),
        (format!("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {{values: [[8], [{}]]}}\n", ones(33)), "parameters.hidden_layers.values[1]", "max_hidden_layers"),
        ("method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {value: [65537]}\n".into(), "parameters.hidden_layers", "max_layer_width"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {value: 65537}\n".into(), "parameters.batch_size", "max_batch_size"),
        ("method: grid\nparameters:\n  batch_size: {values: [32, 70000]}\n".into(), "parameters.batch_size.values[1]", "max_batch_size"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {min: 1, max: 100000}\n".into(), "parameters.batch_size", "max_batch_size"),
        ("method: random\nmax_trials: 2\nparameters:\n  batch_size: {distribution: q_uniform, min: 16, max: 64, q: 100000}\n".into(), "parameters.batch_size", "max_batch_size"),
        ("method: random\nmax_trials: 2\nparameters:\n  epochs: {values: [1, 2, 51]}\n".into(), "parameters.epochs.values[2]", "max_epochs"),
        (format!("method: random\nmax_trials: 2\nparameters:\n  batch_size: {{values: [{}]}}\n", distinct(1001)), "parameters.batch_size.values", "max_values"),
        (format!("method: random\nmax_trials: 2\nparameters:\n  dropout: {{values: [0.1], probabilities: [{}]}}\n", ones(1001)), "parameters.dropout.probabilities", "max_values"),
        (format!("method: random\nmax_trials: 2\nparameters:\n  batch_size: {{values: [1]}}\n  momentum: {{value: 0.5, when: {{batch_size: [{}]}}}}\n", ones(1001)), "parameters.momentum.when.batch_size", "max_values"),
        // Nesting, refused by the pre-scan before libyaml's quadratic path.
        (format!("method: grid\nparameters: {}1{}\n", "{a: ".repeat(50_000), "}".repeat(50_000)), "body", "max_nesting"),
        (format!("method: grid\nseed: {}1{}\n", "[".repeat(33), "]".repeat(33)), "body", "max_nesting"),
        ((0..40).map(|d| format!("{}a{d}:\n", "  ".repeat(d))).collect(), "body", "max_nesting"),
        (format!("method: grid\ndescription: [{}]\n", ones(100_001)), "body", "max_spec_nodes"),
        // 4,000 aliases of a 1,000-entry list: 20 KB that expands to 4 million nodes.
        (format!("method: grid\ndescription: [&a [{}], {}]\n", ones(1000), vec!["*a"; 4000].join(", ")), "body", "max_spec_nodes"),
    ];
    for (text, field, limit) in &cases {
        let err = rejected(text);
        let short: String = text.chars().take(120).collect();
        assert_eq!(&err.field, field, "for spec:\n{short}\ngot {err}");
        assert!(err.message.contains(limit), "{short}: {err} names {limit}");
    }
    let deep_json = format!(
        "{{\"method\": \"grid\", \"seed\": {}1{}}}",
        "[".repeat(33),
        "]".repeat(33)
    );
    let err = json(&deep_json).unwrap_err();
    assert_eq!(
        (err.field.as_str(), err.message.contains("max_nesting")),
        ("body", true),
        "{err}"
    );
    let aliases = format!(
        "a: &a [{}]\nb: [{}]\n",
        ones(1000),
        vec!["*a"; 200].join(", ")
    );
    let err = rejected(&format!(
        "method: grid\ndescription: {{{}}}\n",
        aliases.replace('\n', ", ")
    ));
    assert!(err.message.contains("max_spec_nodes"), "{err}");
}

#[test]
fn caps_leave_room_for_real_specs() {
    let widths = vec!["64"; 32].join(", ");
    let values = (1..=1000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let spec = parse(&format!(
        "method: random\nmax_trials: 2\nparameters:\n  hidden_layers: {{values: [[{widths}], [128, 64]]}}\n  batch_size: {{values: [{values}]}}\n  epochs: {{distribution: q_uniform, min: 1, max: 50, q: 5}}\ndescription: &d 'a sweep'\nname: *d\n"
    ))
    .unwrap();
    assert_eq!(spec.name, "a sweep", "a few aliases are fine");
    let nested = format!(
        "method: random\nmax_trials: 2\nseed: 7\ndescription: {}1{}\n",
        "[".repeat(31),
        "]".repeat(31)
    );
    assert!(
        parse(&nested).is_err_and(|e| e.field == "description"),
        "31 levels pass the scan"
    );
}

/// Item 5: 2^32 was accepted and truncated (to 0, which divides by zero
/// in training, and to 1): integers are range-checked, even with the caps
/// raised as far as they go.
#[test]
fn integers_are_range_checked_never_truncated() {
    let raised = Limits {
        max_batch_size: u32::MAX,
        max_epochs: u32::MAX,
        max_layer_width: u32::MAX,
        ..LIMITS
    };
    let parse_raised = |yaml: &str| SweepSpec::parse(yaml, Format::Yaml, &raised, &shape, 1);
    let cases: &[(&str, &str)] = &[
        ("method: random\nmax_trials: 1\nparameters:\n  batch_size: {value: 4294967296}\n", "parameters.batch_size.value"),
        ("method: random\nmax_trials: 1\nparameters:\n  batch_size: {value: 4294967297}\n", "parameters.batch_size.value"),
        ("method: random\nmax_trials: 1\nparameters:\n  batch_size: {value: 18446744073709551615}\n", "parameters.batch_size.value"),
        ("method: grid\nparameters:\n  epochs: {values: [1, 4294967296]}\n", "parameters.epochs.values[1]"),
        ("method: random\nmax_trials: 1\nparameters:\n  batch_size: {min: 1, max: 4294967296}\n", "parameters.batch_size"),
        ("method: random\nmax_trials: 1\nparameters:\n  hidden_layers: {value: [4294967296]}\n", "parameters.hidden_layers.value"),
        // No integer lies between these bounds: a draw could only leave them.
        ("method: random\nmax_trials: 1\nparameters:\n  batch_size: {distribution: q_uniform, min: 1.2, max: 1.8, q: 1}\n", "parameters.batch_size.min"),
        ("method: random\nmax_trials: 1\nparameters:\n  epochs: {distribution: q_log_uniform_values, min: 1, max: 9.5, q: 1}\n", "parameters.epochs.max"),
    ];
    for (yaml, field) in cases {
        let err = parse_raised(yaml).expect_err(yaml);
        assert_eq!(&err.field, field, "for spec:\n{yaml}\ngot {err}");
    }
    let mut params = TrialParams::default();
    assert!(params
        .set(ParamName::BatchSize, &Value::from(1u64 << 32))
        .is_err());
    assert!(params.set(ParamName::Epochs, &Value::from(-1)).is_err());
    assert!(params
        .set(ParamName::HiddenLayers, &serde_json::json!([1, 1u64 << 32]))
        .is_err());
    assert_eq!(
        params,
        TrialParams::default(),
        "a refused value changes nothing"
    );
    params
        .set(ParamName::BatchSize, &Value::from(4096))
        .unwrap();
    assert_eq!(params.batch_size, 4096);
}

/// Item 12 and the name limit: characters are counted, not bytes, and a
/// name holds no control character (plot.svg must stay well-formed XML).
#[test]
fn names_count_characters_and_hold_no_control_characters() {
    // JSON, which carries any character escaped (YAML refuses some raw).
    let named = |name: &str| {
        json(&serde_json::json!({"method": "random", "max_trials": 1, "name": name}).to_string())
    };
    assert_eq!(named(&"é".repeat(200)).unwrap().name, "é".repeat(200));
    assert_eq!(named(&"日".repeat(200)).unwrap().name.chars().count(), 200);
    for bad in [
        "é".repeat(201),
        String::new(),
        "a\u{0}b".into(),
        "tab\there".into(),
        "line\nbreak".into(),
        "\u{7f}".into(),
        "c1\u{85}".into(),
        "\u{1b}[31m".into(),
        "\u{fffe}".into(),
    ] {
        let err = named(&bad).expect_err(&bad);
        assert_eq!(err.field, "name", "{bad:?}: {err}");
    }
    // A sweep stored before the rule still reads back.
    let mut stored = named("ok").unwrap().document;
    stored["name"] = Value::from("old\u{1}name");
    assert_eq!(
        SweepSpec::from_stored(&stored).unwrap().name,
        "old\u{1}name"
    );
}

/// Duplicate keys used to pass silently (the last won): they are refused,
/// naming the key's dotted path, in YAML and JSON.
#[test]
fn duplicate_keys_are_refused_with_their_path() {
    let cases: &[(&str, Format, &str)] = &[
        ("method: grid\nmethod: random\n", Format::Yaml, "method"),
        (
            "method: grid\nparameters:\n  batch_size: {values: [1], values: [2]}\n",
            Format::Yaml,
            "parameters.batch_size.values",
        ),
        (
            "method: grid\nparameters:\n  batch_size: {value: 1}\n  batch_size: {value: 2}\n",
            Format::Yaml,
            "parameters.batch_size",
        ),
        (
            "method: grid\ndescription: [{a: 1}, {b: 1, b: 2}]\n",
            Format::Yaml,
            "description[1].b",
        ),
        (
            r#"{"method": "grid", "method": "grid"}"#,
            Format::Json,
            "method",
        ),
        (
            r#"{"method": "random", "max_trials": 2, "metric": {"name": "val_loss", "name": "val_loss"}}"#,
            Format::Json,
            "metric.name",
        ),
    ];
    for (text, format, field) in cases {
        let err = SweepSpec::parse(text, *format, &LIMITS, &shape, 42).expect_err(text);
        assert_eq!(&err.field, field, "for spec:\n{text}\ngot {err}");
        assert!(err.message.contains("twice"), "{err}");
    }
}

/// Item 2's grid repeated one value 40 times per parameter: repeats are
/// refused, naming the repeat and the entry it repeats.
#[test]
fn repeated_values_are_refused_naming_both_entries() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "batch_size: {values: [32, 64, 128, 64]}",
            "parameters.batch_size.values[3]",
            "values[1]",
        ),
        (
            "learning_rate: {values: [0.1, 0.10]}",
            "parameters.learning_rate.values[1]",
            "values[0]",
        ),
        (
            "learning_rate: {values: [1, 2, 1.0]}",
            "parameters.learning_rate.values[2]",
            "values[0]",
        ),
        (
            "weight_decay: {values: [0.0, -0.0]}",
            "parameters.weight_decay.values[1]",
            "values[0]",
        ),
        (
            "optimizer: {values: [sgd, adam, sgd]}",
            "parameters.optimizer.values[2]",
            "values[0]",
        ),
        (
            "hidden_layers: {values: [[64], [64, 32], [64]]}",
            "parameters.hidden_layers.values[2]",
            "values[0]",
        ),
    ];
    for (param, field, first) in cases {
        for method in ["method: grid", "method: random\nmax_trials: 3"] {
            let yaml = format!("{method}\nparameters:\n  {param}\n");
            let err = rejected(&yaml);
            assert_eq!(&err.field, field, "for spec:\n{yaml}\ngot {err}");
            assert!(err.message.contains(first), "{err}");
        }
    }
    let attacker: String = [
        "learning_rate: 0.1",
        "batch_size: 32",
        "epochs: 1",
        "dropout: 0.1",
        "weight_decay: 0.1",
        "optimizer: sgd",
        "momentum: 0.5",
        "activation: relu",
    ]
    .iter()
    .map(|p| {
        let (name, v) = p.split_once(": ").unwrap();
        format!("  {name}: {{values: [{}]}}\n", vec![v; 40].join(", "))
    })
    .collect();
    let err = rejected(&format!(
        "method: grid\nmax_trials: 2\nparameters:\n{attacker}"
    ));
    assert_eq!(
        err.field, "parameters.activation.values[1]",
        "the first in key order"
    );
}

/// The grid's size counts what `when` makes equal once, so a default or
/// refused `max_trials` follows the grid's true size.
#[test]
fn grid_size_counts_conditions_exactly() {
    let spec = parse("method: grid\nparameters:\n  optimizer: {values: [sgd, adam, rmsprop]}\n  momentum: {values: [0.5, 0.9], when: {optimizer: [sgd, rmsprop]}}\n  batch_size: {values: [32, 64]}\n").unwrap();
    // 2 batch sizes x (sgd x 2 momenta + adam + rmsprop x 2 momenta).
    assert_eq!(spec.max_trials, 10);
    assert_eq!(spec.document["max_trials"], 10);
    // 2 x 30 x 30 = 1800 combinations over the cap of 500, but 60 configurations.
    let thirty = |scale: f64| {
        (1..=30)
            .map(|i| (f64::from(i) * scale).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let spec = parse(&format!(
        "method: grid\nparameters:\n  activation: {{values: [relu, tanh]}}\n  dropout: {{values: [{}], when: {{activation: tanh}}}}\n  momentum: {{values: [{}], when: {{activation: relu}}}}\n",
        thirty(0.01),
        thirty(0.02)
    ))
    .unwrap();
    assert_eq!(spec.max_trials, 60);
    // Nested conditions: weight decay under momentum under optimizer.
    let spec = parse("method: grid\nparameters:\n  optimizer: {values: [sgd, adam]}\n  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n  weight_decay: {values: [0.0, 0.1, 0.2], when: {momentum: 0.9}}\n").unwrap();
    // adam; sgd with 0.5; sgd with 0.9 and 3 decays.
    assert_eq!(spec.max_trials, 5);
}

/// `from_stored` reads back what an older server stored (repeated values
/// included) without enumerating anything, however large the grid.
#[test]
fn stored_specs_read_back_without_new_rules_or_caps() {
    let values = |v: &str| vec![v; 40].join(", ");
    let document = serde_json::json!({
        "name": "old", "dataset": "mnist-10k", "method": "grid", "max_trials": 2, "seed": 1,
        "trial_timeout_minutes": 60.0,
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {
            "learning_rate": {"values": serde_json::from_str::<Value>(&format!("[{}]", values("0.1"))).unwrap()},
            "batch_size": {"values": serde_json::from_str::<Value>(&format!("[{}]", values("32"))).unwrap()},
            "hidden_layers": {"value": vec![1; 20_000]},
        }
    });
    let spec = SweepSpec::from_stored(&document).unwrap();
    assert_eq!(spec.max_trials, 2);
}

/// A chain of conditions, each parameter under the one before with 1000
/// values: the grid's size is counted once per parameter, not once per
/// value of every ancestor (1000^8 steps).
#[test]
fn a_chain_of_conditions_is_counted_in_linear_time() {
    let values = |scale: f64| {
        (1..=1000)
            .map(|i| (f64::from(i) * scale).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chain = [
        ("learning_rate", values(1e-4), None),
        ("weight_decay", values(1e-4), Some("learning_rate: 0.0001")),
        ("dropout", values(1e-4), Some("weight_decay: 0.0001")),
        ("momentum", values(1e-4), Some("dropout: 0.0001")),
        (
            "batch_size",
            (1..=1000)
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Some("momentum: 0.0001"),
        ),
    ];
    let mut yaml = String::from("method: grid\nmax_trials: 3\nparameters:\n");
    for (name, values, when) in chain {
        let when = when.map(|w| format!(", when: {{{w}}}")).unwrap_or_default();
        yaml += &format!("  {name}: {{values: [{values}]{when}}}\n");
    }
    let spec = parse(&yaml).unwrap();
    assert_eq!(spec.max_trials, 3);
    // 999 + (999 + (999 + (999 + 1000))) configurations.
    let limits = Limits {
        max_trials: u32::MAX,
        ..LIMITS
    };
    let all = SweepSpec::parse(
        &yaml.replace("max_trials: 3\n", ""),
        Format::Yaml,
        &limits,
        &shape,
        1,
    )
    .unwrap();
    assert_eq!(all.max_trials, 4996);
}

/// A stored configuration with an optimizer or activation no version knows
/// does not decode: it is an error, never the default.
#[test]
fn stored_params_with_an_unknown_choice_do_not_decode() {
    let stored = serde_json::to_value(TrialParams::default()).unwrap();
    assert_eq!(stored["optimizer"], "sgd");
    assert_eq!(stored["activation"], "relu");
    assert_eq!(
        serde_json::from_value::<TrialParams>(stored.clone()).unwrap(),
        TrialParams::default()
    );
    for (key, value) in [("optimizer", "lion"), ("activation", "swish")] {
        let mut row = stored.clone();
        row[key] = value.into();
        let e = serde_json::from_value::<TrialParams>(row).unwrap_err();
        assert!(e.to_string().contains(value), "{e}");
    }
}

#[test]
fn a_given_configuration_is_checked_against_the_space() {
    let s = parse("method: random\nmax_trials: 4\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n  optimizer: {values: [sgd, adam]}\n  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n  batch_size: {distribution: q_uniform, min: 32, max: 128, q: 32}\n").unwrap();
    let ok = s
        .check_given(&serde_json::json!({"learning_rate": 0.05, "optimizer": "sgd", "momentum": 0.9, "batch_size": 64}), "params")
        .unwrap();
    assert_eq!(ok.len(), 4);
    for (given, field, says) in [
        (
            serde_json::json!({"lr": 0.05}),
            "params.lr",
            "not a parameter",
        ),
        (
            serde_json::json!({"dropout": 0.1}),
            "params.dropout",
            "not a parameter",
        ),
        (
            serde_json::json!({"learning_rate": 0.5}),
            "params.learning_rate",
            "outside",
        ),
        (
            serde_json::json!({"learning_rate": "fast"}),
            "params.learning_rate",
            "number",
        ),
        (
            serde_json::json!({"optimizer": "rmsprop"}),
            "params.optimizer",
            "not in this sweep's space",
        ),
        (
            serde_json::json!({"batch_size": 40}),
            "params.batch_size",
            "multiple",
        ),
        (
            serde_json::json!({"optimizer": "adam", "momentum": 0.9}),
            "params.momentum",
            "does not apply",
        ),
        (
            serde_json::json!({"momentum": 0.9}),
            "params.momentum",
            "give optimizer too",
        ),
    ] {
        let e = s.check_given(&given, "params").unwrap_err();
        assert_eq!(e.field, field, "{given}: {e}");
        assert!(e.message.contains(says), "{given}: {e}");
    }
}

#[test]
fn warm_start_is_validated() {
    let base = "max_trials: 2\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n";
    let ok = parse(&format!(
        "method: bayes\n{base}warm_start: {{sweeps: [3], trials: [{{learning_rate: 0.02}}]}}\n"
    ))
    .unwrap();
    assert_eq!(ok.warm_start().sweeps, [3]);
    assert_eq!(ok.warm_start().trials.len(), 1);
    for (yaml, field) in [
        (format!("method: bayes\n{base}warm_start: {{trials: [{{learning_rate: 0.02}}, {{lr: 0.1}}]}}\n"), "warm_start.trials[1].lr"),
        (format!("method: bayes\n{base}warm_start: {{trials: [{{}}, {{learning_rate: 2}}]}}\n"), "warm_start.trials[1].learning_rate"),
        (format!("method: bayes\n{base}warm_start: {{sweeps: [0]}}\n"), "warm_start.sweeps[0]"),
        (format!("method: bayes\n{base}warm_start: {{runs: [1]}}\n"), "warm_start.runs"),
        (format!("method: random\n{base}warm_start: {{sweeps: [1]}}\n"), "warm_start.sweeps"),
        (format!("method: bayes\n{base}warm_start: {{trials: [{{}}, {{}}, {{}}]}}\n"), "warm_start.trials"),
        ("method: grid\nparameters:\n  batch_size: {values: [32]}\nwarm_start: {trials: [{}]}\n".to_string(), "warm_start.trials"),
    ] {
        assert_eq!(rejected(&yaml).field, field, "{yaml}");
    }
}

#[test]
fn a_loss_maximized_is_accepted_with_a_warning() {
    let s =
        parse("method: random\nmax_trials: 1\nmetric: {name: val_loss, goal: maximize}\n").unwrap();
    assert_eq!(s.warnings().len(), 1);
    assert!(
        s.warnings()[0].contains("worst val_loss"),
        "{:?}",
        s.warnings()
    );
    let s = parse("method: random\nmax_trials: 1\nmetric: {name: val_accuracy, goal: minimize}\n")
        .unwrap();
    assert_eq!(s.warnings().len(), 1);
    for fine in ["val_loss, goal: minimize", "train_loss", "val_accuracy"] {
        let s = parse(&format!(
            "method: random\nmax_trials: 1\nmetric: {{name: {fine}}}\n"
        ))
        .unwrap();
        assert!(s.warnings().is_empty(), "{fine}");
    }
}
