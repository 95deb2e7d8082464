//! Property tests of the sweep spec parser: random and mutated specs never
//! panic, and every spec it accepts round-trips through its stored document,
//! as JSON and as YAML.
use hypersweep::spec::{DatasetShape, Format, Limits, SpecError, SweepSpec, KEYS};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Map, Value};

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

fn parse(text: &str, format: Format) -> Result<SweepSpec, SpecError> {
    SweepSpec::parse(text, format, &LIMITS, &shape, 7)
}

/// An accepted spec's document, written out as JSON and as YAML and parsed
/// again, gives the same spec; so does reading it back as a stored sweep.
fn assert_round_trips(spec: &SweepSpec) -> Result<(), TestCaseError> {
    let json = serde_json::to_string(&spec.document).unwrap();
    let again = parse(&json, Format::Json);
    prop_assert_eq!(again.as_ref(), Ok(spec), "as JSON: {}", json);
    let yaml = serde_yaml::to_string(&spec.document).unwrap();
    let again = parse(&yaml, Format::Yaml);
    prop_assert_eq!(again.as_ref(), Ok(spec), "as YAML: {}", yaml);
    let stored = SweepSpec::from_stored(&spec.document);
    prop_assert_eq!(stored.as_ref(), Ok(spec), "as stored");
    Ok(())
}

/// Parses a document written as JSON and as YAML; whatever is accepted round-trips.
fn check_document(document: &Value) -> Result<(), TestCaseError> {
    let json = serde_json::to_string(document).unwrap();
    let yaml = serde_yaml::to_string(document).unwrap();
    for (text, format) in [(json, Format::Json), (yaml, Format::Yaml)] {
        if let Ok(spec) = parse(&text, format) {
            assert_round_trips(&spec)?;
        }
    }
    Ok(())
}

/// Words the parser knows besides the spec's keys (`spec::KEYS`), so that
/// random documents reach past the first check.
const WORDS: &[&str] = &[
    "grid",
    "random",
    "bayes",
    "goal",
    "maximize",
    "minimize",
    "val_accuracy",
    "val_loss",
    "train_loss",
    "value",
    "values",
    "distribution",
    "min",
    "max",
    "q",
    "probabilities",
    "when",
    "uniform",
    "int_uniform",
    "log_uniform_values",
    "q_uniform",
    "q_log_uniform_values",
    "categorical",
    "type",
    "hyperband",
    "median",
    "min_iter",
    "eta",
    "learning_rate",
    "batch_size",
    "epochs",
    "hidden_layers",
    "dropout",
    "weight_decay",
    "optimizer",
    "momentum",
    "activation",
    "sgd",
    "adam",
    "adamw",
    "rmsprop",
    "adagrad",
    "relu",
    "tanh",
    "gelu",
    "finish",
    "stop",
    "mnist-10k",
    "../etc",
    "",
    "é",
    "\u{0}",
    "~",
    "yes",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select([KEYS, WORDS].concat()).prop_map(str::to_string),
        1 => proptest::collection::vec(any::<char>(), 0..24).prop_map(String::from_iter),
        1 => (1usize..100_000).prop_map(|n| "é".repeat(n)),
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| json!(x)),
        select(&[0.0, -1.0, 0.5, 1.0, 3.0, 1e-300, 1e300, f64::MAX, f64::MIN][..])
            .prop_map(|x| json!(x)),
        (-3i64..200).prop_map(Value::from),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        number(),
        text().prop_map(Value::from),
    ]
}

fn any_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A random spec the parser must accept.
fn valid_spec() -> impl Strategy<Value = Value> {
    let params = (
        proptest::option::of((1e-5f64..1e-3, 1e-2f64..0.5)),
        proptest::option::of(proptest::sample::subsequence(vec![16, 32, 64, 128], 1..4)),
        proptest::option::of(1u32..4),
        proptest::option::of(proptest::sample::subsequence(
            vec![json!([]), json!([32]), json!([64, 16])],
            1..3,
        )),
        proptest::option::of(0.0f64..0.9),
        proptest::option::of(proptest::sample::subsequence(
            vec!["sgd", "adam", "rmsprop"],
            1..3,
        )),
        proptest::option::of(0.0f64..0.99),
    );
    let top = (
        select(&["grid", "random", "bayes"][..]),
        1u32..40,
        proptest::option::of(0u64..1_000_000),
        proptest::option::of(select(&["val_accuracy", "val_loss", "train_loss"][..])),
        proptest::option::of(prop_oneof![
            Just(json!({"type": "hyperband", "min_iter": 1, "eta": 3})),
            Just(json!({"type": "median", "min_iter": 2})),
        ]),
        proptest::option::of(1usize..=200),
    );
    (top, params).prop_map(|((method, max_trials, seed, metric, early, name), p)| {
        let grid = method == "grid";
        let mut parameters = Map::new();
        if let Some((lo, hi)) = p.0 {
            let spec = if grid {
                json!({"values": [lo, hi]})
            } else {
                json!({"distribution": "log_uniform_values", "min": lo, "max": hi})
            };
            parameters.insert("learning_rate".into(), spec);
        }
        if let Some(sizes) = p.1 {
            parameters.insert("batch_size".into(), json!({ "values": sizes }));
        }
        if let Some(epochs) = p.2 {
            parameters.insert("epochs".into(), json!({ "value": epochs }));
        }
        if let Some(layers) = p.3 {
            parameters.insert("hidden_layers".into(), json!({ "values": layers }));
        }
        if let Some(dropout) = p.4 {
            let spec = if grid {
                json!({ "value": dropout })
            } else {
                json!({"distribution": "uniform", "min": 0.0, "max": dropout.max(0.01)})
            };
            parameters.insert("dropout".into(), spec);
        }
        if let Some(optimizers) = &p.5 {
            parameters.insert("optimizer".into(), json!({ "values": optimizers }));
        }
        if let Some(momentum) = p.6 {
            let mut spec = json!({ "value": momentum });
            if let Some(optimizers) = &p.5 {
                spec["when"] = json!({ "optimizer": [optimizers[0]] });
            }
            parameters.insert("momentum".into(), spec);
        }
        let mut spec = json!({"method": method, "parameters": parameters});
        if !grid || max_trials % 2 == 0 {
            spec["max_trials"] = json!(max_trials);
        }
        if let Some(seed) = seed {
            spec["seed"] = json!(seed);
        }
        if let Some(metric) = metric {
            spec["metric"] = json!({ "name": metric });
        }
        if let Some(early) = early {
            spec["early_terminate"] = early;
        }
        if let Some(n) = name {
            spec["name"] = json!("n".repeat(n));
        }
        spec
    })
}

/// One step of a path into a document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

fn paths(value: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(prefix.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                prefix.push(Step::Key(k.clone()));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(Step::Index(i));
                paths(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(value: &'a mut Value, path: &[Step]) -> &'a mut Value {
    path.iter().fold(value, |v, step| match step {
        Step::Key(k) => &mut v[k.as_str()],
        Step::Index(i) => &mut v[*i],
    })
}

/// What a mutation does at the chosen place.
#[derive(Debug, Clone)]
enum Mutation {
    Delete,
    Replace(Value),
    /// YAML only: a non-finite or overflowing number.
    NonFinite(&'static str),
    Nest(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Delete),
        any_value().prop_map(Mutation::Replace),
        number().prop_map(Mutation::Replace),
        select(
            &[
                ".nan",
                ".inf",
                "-.inf",
                "1e999",
                "-1e999",
                "0x7fffffffffffffffff"
            ][..]
        )
        .prop_map(Mutation::NonFinite),
        (1usize..200).prop_map(Mutation::Nest),
    ]
}

const MARK: &str = "MUTATION-MARK";

/// Applies mutations; the YAML text carries the non-finite numbers, if any.
fn mutate(mut document: Value, mutations: &[(Index, Mutation)]) -> (Value, String) {
    let mut non_finite = None;
    for (index, mutation) in mutations {
        let mut all = Vec::new();
        paths(&document, &mut Vec::new(), &mut all);
        let path = index.get(&all).clone();
        match mutation {
            Mutation::Delete => match path.split_last() {
                None => document = Value::Null,
                Some((last, parent)) => match (at(&mut document, parent), last) {
                    (Value::Object(map), Step::Key(k)) => {
                        map.remove(k);
                    }
                    (Value::Array(items), Step::Index(i)) => {
                        items.remove(*i);
                    }
                    _ => unreachable!("paths lead to what they name"),
                },
            },
            Mutation::Replace(value) => *at(&mut document, &path) = value.clone(),
            Mutation::NonFinite(number) => {
                *at(&mut document, &path) = json!(MARK);
                non_finite = Some(*number);
            }
            Mutation::Nest(depth) => {
                let place = at(&mut document, &path);
                for i in 0..*depth {
                    *place = if i % 2 == 0 {
                        json!([place.take()])
                    } else {
                        json!({ "value": place.take() })
                    };
                }
            }
        }
    }
    let mut yaml = serde_yaml::to_string(&document).unwrap();
    if let Some(number) = non_finite {
        yaml = yaml.replace(MARK, number);
    }
    (document, yaml)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn valid_specs_parse_and_round_trip(document in valid_spec()) {
        let spec = parse(&serde_json::to_string(&document).unwrap(), Format::Json);
        prop_assert!(spec.is_ok(), "{} -> {:?}", document, spec);
        let spec = spec.unwrap();
        assert_round_trips(&spec)?;
        let yaml = parse(&serde_yaml::to_string(&document).unwrap(), Format::Yaml);
        prop_assert_eq!(yaml.as_ref(), Ok(&spec));
    }

    #[test]
    fn mutated_specs_never_panic(
        document in valid_spec(),
        mutations in proptest::collection::vec((any::<Index>(), mutation()), 1..4),
    ) {
        let (document, yaml) = mutate(document, &mutations);
        check_document(&document)?;
        if let Ok(spec) = parse(&yaml, Format::Yaml) {
            assert_round_trips(&spec)?;
        }
    }

    #[test]
    fn random_documents_never_panic(document in any_value()) {
        check_document(&document)?;
    }

    #[test]
    fn random_text_never_panics(text in proptest::collection::vec(any::<char>(), 0..200)) {
        let text = String::from_iter(text);
        for format in [Format::Json, Format::Yaml] {
            if let Ok(spec) = parse(&text, format) {
                assert_round_trips(&spec)?;
            }
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn deep_nesting_is_rejected_without_overflow(depth in 1usize..20_000, flow in any::<bool>()) {
        let (open, close) = if flow { ("[", "]") } else { ("{a: ", "}") };
        let yaml = format!("method: grid\nparameters: {}1{}\n", open.repeat(depth), close.repeat(depth));
        prop_assert!(parse(&yaml, Format::Yaml).is_err());
        let json = format!("{{\"method\": \"grid\", \"seed\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
        prop_assert!(parse(&json, Format::Json).is_err());
    }
}
