//! Property tests of the sweep spec parser: random and mutated specs never
//! panic, and every spec it accepts round-trips through its stored document,
//! as JSON and as YAML. Any body up to the body limit, random or built to
//! be expensive, is answered within a bounded time and heap (issue 13).
//!
//! A test binary of its own (Cargo.toml), not a module of `tests/main.rs`:
//! it installs a counting global allocator, which is process-wide and
//! would count, and slow, every end-to-end test beside it.
use hypersweep::spec::{DatasetShape, Format, Limits, SpecError, SweepSpec, KEYS};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::{RngSeed, TestRunner};
use serde_json::{json, Map, Value};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

/// The system allocator, counting this thread's heap in use and its peak,
/// so that one parse's peak is measured while other tests run beside it.
struct Counting;

thread_local! {
    static IN_USE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // try_with: nothing to count once the thread's locals are gone.
    let _ = IN_USE.try_with(|used| {
        let now = used.get() + delta;
        used.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        count(-(layout.size() as isize));
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, size);
        if !q.is_null() {
            count(size as isize - layout.size() as isize);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f`; what it returns, how long it took and the most heap it held
/// beyond what this thread held before.
fn measured<T>(f: impl FnOnce() -> T) -> (T, Duration, usize) {
    let before = IN_USE.with(Cell::get);
    PEAK.with(|peak| peak.set(before));
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    let peak = PEAK.with(Cell::get) - before;
    (out, took, peak.max(0) as usize)
}

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
    let json = serde_json::to_string(spec.document()).unwrap();
    let again = parse(&json, Format::Json);
    prop_assert_eq!(again.as_ref(), Ok(spec), "as JSON: {}", json);
    let yaml = serde_yaml::to_string(spec.document()).unwrap();
    let again = parse(&yaml, Format::Yaml);
    prop_assert_eq!(again.as_ref(), Ok(spec), "as YAML: {}", yaml);
    let stored = SweepSpec::from_stored(spec.document());
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
    #![proptest_config(seeded(200))]

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
    #![proptest_config(seeded(16))]

    #[test]
    fn deep_nesting_is_rejected_without_overflow(depth in 1usize..20_000, flow in any::<bool>()) {
        let (open, close) = if flow { ("[", "]") } else { ("{a: ", "}") };
        let yaml = format!("method: grid\nparameters: {}1{}\n", open.repeat(depth), close.repeat(depth));
        prop_assert!(parse(&yaml, Format::Yaml).is_err());
        let json = format!("{{\"method\": \"grid\", \"seed\": {}1{}}}", "[".repeat(depth), "]".repeat(depth));
        prop_assert!(parse(&json, Format::Json).is_err());
    }
}

/// The largest body the API accepts (`max_body_bytes`).
const BODY_LIMIT: usize = 1 << 20;
/// Generous for this slow, shared machine: the attacks took 40 s and more.
const MAX_PARSE_TIME: Duration = Duration::from_secs(2);
const MAX_PARSE_HEAP: usize = 64 << 20;

/// Text of YAML's and JSON's significant characters, or any bytes, up to
/// the body limit; built from a seed so large bodies cost little to make.
fn any_body() -> impl Strategy<Value = (String, String)> {
    (any::<u64>(), 0u32..=20, any::<bool>()).prop_map(|(seed, scale, raw)| {
        let len = ((1usize << scale) + (seed as usize % (1 << scale))).min(BODY_LIMIT);
        let alphabet = b"[]{}:,-?#&*!|>'\"%@` \t\n\r\\aZ09.e+_";
        let mut state = seed | 1;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                // xorshift: cheap bytes.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if raw {
                    state as u8
                } else {
                    alphabet[(state % alphabet.len() as u64) as usize]
                }
            })
            .collect();
        let kind = if raw {
            "random bytes"
        } else {
            "random YAML characters"
        };
        // Invalid UTF-8 (which the API answers 400) becomes U+FFFD, 3 bytes
        // for 1: cut back to the limit.
        let mut text = String::from_utf8_lossy(&bytes).into_owned();
        let cut = (0..=BODY_LIMIT.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i));
        text.truncate(cut.unwrap_or(0));
        (kind.to_string(), text)
    })
}

/// Bodies built to be expensive, up to the body limit.
fn adversarial_body() -> impl Strategy<Value = (String, String)> {
    let fill = |unit: &str| BODY_LIMIT / unit.len() - 64;
    prop_oneof![
        // Deep flow nesting, closed or not, of mappings and lists.
        (1usize..=fill("{a: "), any::<bool>(), any::<bool>()).prop_map(|(n, map, closed)| {
            let (open, close) = if map { ("{a: ", "}") } else { ("[", "]") };
            let tail = if closed { close.repeat(n) } else { String::new() };
            ("deep flow nesting".into(), format!("method: grid\nparameters: {}1{tail}\n", open.repeat(n)))
        }),
        (1usize..=fill("[")).prop_map(|n| ("deep JSON".into(), format!("{{\"method\": {}1{}}}", "[".repeat(n), "]".repeat(n)))),
        // Deep block nesting.
        (1usize..=1400).prop_map(|n| ("deep block nesting".into(), (0..n).map(|d| format!("{}a:\n", " ".repeat(d))).collect())),
        (1usize..=fill("- ")).prop_map(|n| ("deep block lists".into(), format!("{}1\n", "- ".repeat(n)))),
        // Long lists and many keys.
        (1usize..=fill("1, ")).prop_map(|n| ("a long list".into(), format!("method: grid\nparameters:\n  batch_size: {{values: [{}]}}\n", vec!["1"; n].join(", ")))),
        (1usize..=fill("- 1\n")).prop_map(|n| ("a long block list".into(), format!("description:\n{}", "- 1\n".repeat(n)))),
        (1usize..=fill("k000000: 1\n")).prop_map(|n| ("many keys".into(), (0..n).map(|i| format!("k{i:06}: 1\n")).collect())),
        (1usize..=fill("\"k000000\": 1, ")).prop_map(|n| ("many JSON keys".into(), format!("{{{}}}", (0..n).map(|i| format!("\"k{i:06}\": 1")).collect::<Vec<_>>().join(", ")))),
        // Huge numbers.
        (1usize..=fill("9"), select(&["9", "-9", "0.9", "9e9999"][..])).prop_map(|(n, head)| ("a huge number".into(), format!("method: random\nmax_trials: 1\nparameters:\n  batch_size: {{value: {head}{}}}\n", "9".repeat(n)))),
        // A long string.
        (1usize..=fill("é")).prop_map(|n| ("a long name".into(), format!("method: grid\nname: {}\n", "é".repeat(n)))),
        // Anchors and aliases, nested: each level lists the one before `width` times.
        (1usize..=10, 1usize..=2000).prop_map(|(levels, width)| {
            let mut text = format!("a0: &a0 [{}]\n", vec!["1"; width].join(", "));
            for l in 1..levels {
                text += &format!("a{l}: &a{l} [{}]\n", vec![format!("*a{}", l - 1); width].join(", "));
            }
            text.truncate(BODY_LIMIT);
            ("anchors and aliases".into(), text)
        }),
    ]
}

/// The seed of a property test: PROPTEST_RNG_SEED, or a fresh random one.
fn rng_seed() -> u64 {
    std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>)
}

/// The config of a `proptest!` test of `cases` cases, with its seed said
/// before the first case (set PROPTEST_RNG_SEED to replay a failure).
fn seeded(cases: u32) -> ProptestConfig {
    let seed = rng_seed();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    println!("{test}: PROPTEST_RNG_SEED={seed} cases={cases}");
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Every body is answered, Ok or Err, within the time and heap bounds, in
/// both formats. Prints the seed first (set PROPTEST_RNG_SEED to replay),
/// and the slowest and heaviest cases at the end.
fn bodies_are_answered_within_bounds<S>(name: &str, cases: u32, strategy: S)
where
    S: Strategy<Value = (String, String)>,
{
    let seed = rng_seed();
    let config = ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    println!("{name}: PROPTEST_RNG_SEED={seed} cases={cases} (time cap {MAX_PARSE_TIME:?}, heap cap {} MiB)", MAX_PARSE_HEAP >> 20);
    let slowest = RefCell::new((Duration::ZERO, String::new()));
    let heaviest = RefCell::new((0usize, String::new()));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&strategy, |(kind, body)| {
        for format in [Format::Json, Format::Yaml] {
            let (outcome, took, heap) = measured(|| parse(&body, format).map(|_| ()));
            let case = format!(
                "{kind}, {} bytes, {format:?}: {:?}",
                body.len(),
                outcome.map_err(|e| e.to_string().chars().take(100).collect::<String>())
            );
            prop_assert!(took <= MAX_PARSE_TIME, "{} took {:?}", case, took);
            prop_assert!(heap <= MAX_PARSE_HEAP, "{} held {} MiB", case, heap >> 20);
            if took > slowest.borrow().0 {
                *slowest.borrow_mut() = (took, case.clone());
            }
            if heap > heaviest.borrow().0 {
                *heaviest.borrow_mut() = (heap, case);
            }
        }
        Ok(())
    });
    let (took, case) = slowest.into_inner();
    println!("{name}: slowest {took:?}: {case}");
    let (heap, case) = heaviest.into_inner();
    println!(
        "{name}: most heap {:.1} MiB: {case}",
        heap as f64 / (1 << 20) as f64
    );
    if let Err(e) = result {
        panic!("{name} (PROPTEST_RNG_SEED={seed}): {e}");
    }
}

#[test]
fn any_body_up_to_the_limit_is_answered_within_bounds() {
    bodies_are_answered_within_bounds("any body", 64, any_body());
}

#[test]
fn expensive_bodies_are_answered_within_bounds() {
    bodies_are_answered_within_bounds("expensive bodies", 64, adversarial_body());
}
