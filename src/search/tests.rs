use super::*;
use crate::spec::{Activation, DatasetShape, Format, Limits, Optimizer, SweepSpec, TrialParams};
use proptest::prelude::*;
use serde_json::json;

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
        .map(|c| (c.batch_size, c.optimizer, c.epochs))
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

/// With `fuse: 4`, random's trials come in blocks of four of one shape,
/// optimizer and batch size (drawn by the block's first), the rest drawn per
/// trial; without it, the same stream as ever.
#[test]
fn a_fused_random_sweep_draws_one_shape_per_block() {
    let yaml = "method: random\nmax_trials: 40\nseed: 3\nparameters:\n  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}\n  batch_size: {values: [32, 64, 128, 256]}\n  hidden_layers: {values: [[32], [64], [128, 64], [256, 128]]}\n  optimizer: {values: [sgd, adam, adagrad]}\n";
    let alone = configs(&spec(yaml));
    let fused = configs(&spec(&format!("fuse: 4\n{yaml}")));
    assert_eq!(fused.len(), 40);
    for block in fused.chunks(4) {
        assert!(block.iter().all(|p| p.fuses_with(&block[0])), "{block:?}");
    }
    // Each block's first is the unfused stream's draw; the others keep
    // their own learning rates.
    for (i, (f, a)) in fused.iter().zip(&alone).enumerate() {
        if i % 4 == 0 {
            assert_eq!(f, a);
        }
        assert_eq!(f.learning_rate, a.learning_rate);
    }
    let shapes: std::collections::HashSet<_> = fused
        .iter()
        .map(|p| (p.hidden_layers.clone(), p.batch_size))
        .collect();
    assert!(shapes.len() > 3, "blocks still explore: {shapes:?}");
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
    // A continuous learning rate: on a space of two configurations random
    // would train each once (no repeats), not weight them.
    let s = spec("method: random\nmax_trials: 1000\nparameters:\n  optimizer: {values: [sgd, adam], probabilities: [0.9, 0.1]}\n  learning_rate: {min: 0.01, max: 0.1}\n");
    let sgd = configs(&s)
        .iter()
        .filter(|c| c.optimizer == Optimizer::Sgd)
        .count();
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
        if c.optimizer == Optimizer::Adam {
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
        if c.optimizer == Optimizer::Adam {
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
    let got: Vec<(Optimizer, f64)> = configs(&s)
        .into_iter()
        .map(|c| (c.optimizer, c.momentum))
        .collect();
    let default = TrialParams::default().momentum;
    assert_eq!(
        got,
        vec![
            (Optimizer::Sgd, 0.5),
            (Optimizer::Sgd, 0.9),
            (Optimizer::Adam, default)
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
        .parameters()
        .iter()
        .map(|(name, p)| (*name, p.discrete_values().unwrap_or_default()))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut index = vec![0usize; axes.len()];
    while out.len() < spec.max_trials() as usize {
        let all: BTreeMap<ParamName, Value> = axes
            .iter()
            .zip(&index)
            .map(|((n, v), &i)| (*n, v[i].clone()))
            .collect();
        let mut chosen = BTreeMap::new();
        for name in spec.order() {
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

/// Issue 13, item 2: a grid whose combinations are nearly all equal (all
/// but the first parameter apply only under its second value) used to be
/// walked to its end, 2e9 combinations, before the second configuration.
#[test]
fn a_grid_walk_skips_equal_combinations_without_visiting_them() {
    let forty = |scale: f64| {
        (1..=40)
            .map(|i| (f64::from(i) * scale).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let when = "when: {learning_rate: 0.2}";
    let s = spec(&format!(
        "method: grid\nmax_trials: 3\nparameters:\n  learning_rate: {{values: [0.1, 0.2]}}\n  batch_size: {{values: [{}], {when}}}\n  epochs: {{values: [{}], {when}}}\n  dropout: {{values: [{}], {when}}}\n  weight_decay: {{values: [{}], {when}}}\n  momentum: {{values: [{}], {when}}}\n  optimizer: {{values: [sgd, adam, adamw, adagrad, rmsprop], {when}}}\n  activation: {{values: [relu, tanh, sigmoid, gelu], {when}}}\n",
        forty(8.0),
        forty(1.0),
        forty(0.02),
        forty(0.01),
        forty(0.02)
    ));
    let got: Vec<_> = configs(&s)
        .into_iter()
        .map(|c| (c.learning_rate, c.batch_size, c.activation))
        .collect();
    let default = TrialParams::default();
    assert_eq!(
        got,
        vec![
            (0.1, default.batch_size, default.activation),
            (0.2, 8, Activation::Relu),
            (0.2, 8, Activation::Tanh),
        ]
    );
}

/// A spec for the grid oracle: each parameter chosen, with 1 to 3 values,
/// and a `when` on a parameter before it in a random order (so a parent
/// may come before or after its child in key order).
fn conditional_grid() -> impl Strategy<Value = Value> {
    let pools: [(&str, Value); 9] = [
        ("learning_rate", json!([0.001, 0.01, 0.1])),
        ("batch_size", json!([16, 32, 64])),
        ("epochs", json!([1, 2, 3])),
        ("hidden_layers", json!([[], [32], [64, 16]])),
        ("dropout", json!([0.0, 0.2, 0.5])),
        ("weight_decay", json!([0.0, 0.01, 0.1])),
        ("optimizer", json!(["sgd", "adam", "rmsprop"])),
        ("momentum", json!([0.5, 0.9, 0.95])),
        ("activation", json!(["relu", "tanh", "gelu"])),
    ];
    let param = (
        any::<bool>(),
        1usize..=3,
        any::<bool>(),
        any::<prop::sample::Index>(),
        1u8..8,
    );
    (
        Just((0..9).collect::<Vec<usize>>()).prop_shuffle(),
        prop::collection::vec(param, 9),
        prop::option::of(1u32..40),
    )
        .prop_map(move |(rank, params, max_trials)| {
            let included: Vec<usize> = (0..9).filter(|&i| params[i].0).collect();
            let values = |i: usize| pools[i].1.as_array().unwrap()[..params[i].1].to_vec();
            let mut parameters = serde_json::Map::new();
            for &i in &included {
                let (_, _, conditional, parent, mask) = &params[i];
                let mut spec = json!({ "values": values(i) });
                let earlier: Vec<usize> = included
                    .iter()
                    .copied()
                    .filter(|&p| rank[p] < rank[i])
                    .collect();
                if *conditional && !earlier.is_empty() {
                    let p = *parent.get(&earlier);
                    let parent_values = values(p);
                    let mut chosen: Vec<Value> = parent_values
                        .iter()
                        .enumerate()
                        .filter(|(k, _)| mask & (1 << k) != 0)
                        .map(|(_, v)| v.clone())
                        .collect();
                    if chosen.is_empty() {
                        chosen.push(parent_values[0].clone());
                    }
                    spec["when"] = json!({ pools[p].0: chosen });
                }
                parameters.insert(pools[i].0.to_string(), spec);
            }
            let mut spec = json!({"method": "grid", "parameters": parameters});
            if let Some(n) = max_trials {
                spec["max_trials"] = json!(n);
            }
            spec
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    /// The grid walk gives the odometer's configurations in the odometer's
    /// order, and the spec's grid size is the number of them.
    #[test]
    fn the_grid_walk_matches_the_odometer(document in conditional_grid()) {
        let text = document.to_string();
        let limits = Limits { max_trials: 20_000, ..Limits::DEFAULT };
        let shape = |_: &str| Ok(DatasetShape { features: 784, classes: 10 });
        let s = SweepSpec::parse(&text, Format::Json, &limits, &shape, 1).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(configs(&s), odometer_grid(&s), "{}", text);
        // Capped only by the server (above any grid these documents make).
        let mut uncapped = document.clone();
        uncapped["max_trials"] = limits.max_trials.into();
        let all = SweepSpec::parse(&uncapped.to_string(), Format::Json, &limits, &shape, 1).map_err(|e| TestCaseError::fail(format!("{uncapped}: {e}")))?;
        let every = odometer_grid(&all);
        prop_assert_eq!(configs(&all), every.clone(), "{}", text);
        if document.get("max_trials").is_none() {
            prop_assert_eq!(s.max_trials() as usize, every.len(), "grid size of {}", text);
        }
    }
}

/// Integers drawn from a distribution stay within its bounds, even at the
/// top of the range a raised cap allows.
#[test]
fn integer_draws_stay_within_their_bounds() {
    let limits = Limits {
        max_batch_size: u32::MAX,
        max_epochs: u32::MAX,
        ..Limits::DEFAULT
    };
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    let text = "method: random\nmax_trials: 300\nparameters:\n  batch_size: {distribution: int_uniform, min: 4294967000, max: 4294967295}\n  epochs: {distribution: q_log_uniform_values, min: 4294967200, max: 4294967295, q: 7}\n";
    let s = SweepSpec::parse(text, Format::Yaml, &limits, &shape, 1).unwrap();
    for c in configs(&s) {
        assert!(c.batch_size >= 4_294_967_000, "{c:?}");
        assert!(
            c.epochs >= 4_294_967_200 && c.epochs % 7 == 0 || c.epochs == u32::MAX,
            "{c:?}"
        );
    }
}

/// A child before its parent in key order, both with 1000 values: the walk
/// checks once per visit whether the child may apply, not once per value
/// (which took 10^10 steps for 10,000 trials).
#[test]
fn a_wide_parent_after_its_child_costs_one_check_per_visit() {
    let values = |scale: f64| {
        (1..=1000)
            .map(|i| (f64::from(i) * scale).to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let limits = Limits {
        max_trials: 10_000,
        ..Limits::DEFAULT
    };
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    let text = format!(
        "method: grid\nmax_trials: 10000\nparameters:\n  learning_rate: {{values: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]}}\n  dropout: {{values: [{}], when: {{momentum: 0.0009}}}}\n  momentum: {{values: [{}]}}\n",
        values(0.0009),
        values(0.0009)
    );
    let s = SweepSpec::parse(&text, Format::Yaml, &limits, &shape, 1).unwrap();
    let got = configs(&s);
    assert_eq!(got.len(), 10_000);
    // learning_rate 0.1, dropout at its first value: every momentum, in
    // order; dropout applies with the first only.
    assert!(got[..1000].iter().all(|c| c.learning_rate == 0.1));
    assert_eq!((got[0].dropout, got[0].momentum), (0.0009, 0.0009));
    let default = TrialParams::default().dropout;
    assert_eq!((got[1].dropout, got[1].momentum), (default, 0.0018));
    // Then dropout moves on, which needs momentum 0.0009.
    assert_eq!((got[1000].dropout, got[1000].momentum), (0.0018, 0.0009));
    assert_eq!((got[1998].dropout, got[1999].learning_rate), (0.9, 0.2));
}

/// A sweep's plan is its configurations, each with its trial's seed; bayes
/// trials are planned without a configuration.
#[test]
fn a_plan_pairs_configurations_with_trial_seeds() {
    let s = spec("method: grid\nseed: 5\nparameters:\n  batch_size: {values: [32, 64]}\n");
    let grid = plan(&s);
    let expected: Vec<_> = configs(&s)
        .into_iter()
        .zip(0..)
        .map(|(c, n)| PlannedTrial {
            params: Some(c),
            seed: trial_seed(5, n),
            source: Source::Search,
        })
        .collect();
    assert_eq!(grid, expected);
    let s = spec(
        "method: bayes\nmax_trials: 3\nseed: 5\nparameters:\n  batch_size: {values: [32, 64]}\n",
    );
    let bayes = plan(&s);
    assert_eq!(bayes.len(), 3);
    assert!(bayes.iter().all(|t| t.params.is_none()));
    assert_eq!(bayes[2].seed, trial_seed(5, 2));
}

fn keys(s: &SweepSpec, configs: &[TrialParams]) -> std::collections::HashSet<String> {
    configs.iter().map(|c| s.config_key(c)).collect()
}

/// Four configurations (two optimizers, and int_uniform batch sizes 1-2
/// quantized... here two lists), six trials asked: four, none twice.
#[test]
fn random_never_repeats_a_configuration_of_a_discrete_space() {
    let s = spec("method: random\nmax_trials: 6\nseed: 3\nparameters:\n  optimizer: {values: [sgd, adam]}\n  batch_size: {distribution: int_uniform, min: 31, max: 32}\n");
    assert_eq!(s.space_size(), Some(4));
    let planned = configs(&s);
    assert_eq!(planned.len(), 4, "{planned:?}");
    assert_eq!(keys(&s, &planned).len(), 4);
    // Extended, nothing is left.
    let taken = keys(&s, &planned);
    let more = extend(
        &s,
        &Extension {
            taken: &taken,
            position: 4,
            first_number: 4,
            count: 2,
        },
    );
    assert!(more.is_empty(), "{more:?}");
    // Conditional parameters count once where they do not apply.
    let s = spec("method: random\nmax_trials: 10\nparameters:\n  optimizer: {values: [sgd, adam]}\n  momentum: {values: [0.5, 0.9], when: {optimizer: sgd}}\n");
    assert_eq!(s.space_size(), Some(3));
    assert_eq!(configs(&s).len(), 3);
}

#[test]
fn extending_a_random_sweep_continues_its_stream() {
    let long = spec("method: random\nmax_trials: 8\nseed: 9\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n");
    let short = spec("method: random\nmax_trials: 5\nseed: 9\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n");
    let taken = std::collections::HashSet::new();
    let more = extend(
        &short,
        &Extension {
            taken: &taken,
            position: 5,
            first_number: 5,
            count: 3,
        },
    );
    let all = plan(&long);
    assert_eq!(more, all[5..].to_vec(), "as if max_trials had been 8");
    // On a discrete space, the extension skips what the sweep has.
    let s = spec("method: random\nmax_trials: 2\nseed: 9\nparameters:\n  batch_size: {values: [16, 32, 64, 128, 256]}\n");
    let first = configs(&s);
    let taken = keys(&s, &first);
    let more: Vec<TrialParams> = extend(
        &s,
        &Extension {
            taken: &taken,
            position: 2,
            first_number: 2,
            count: 3,
        },
    )
    .into_iter()
    .map(|t| t.params.unwrap())
    .collect();
    assert_eq!(more.len(), 3);
    let mut all = first.clone();
    all.extend(more);
    assert_eq!(keys(&s, &all).len(), 5, "every configuration once");
    // A grid's next points.
    let g =
        spec("method: grid\nmax_trials: 2\nparameters:\n  batch_size: {values: [16, 32, 64]}\n");
    let first = configs(&g);
    let taken = keys(&g, &first);
    let next = extend(
        &g,
        &Extension {
            taken: &taken,
            position: 2,
            first_number: 2,
            count: 5,
        },
    );
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].params.as_ref().unwrap().batch_size, 64);
    assert_eq!(next[0].seed, trial_seed(g.seed(), 2));
}

#[test]
fn bayes_samples_untried_configurations_until_the_space_is_exhausted() {
    let s = spec("method: bayes\nmax_trials: 6\nn_startup_trials: 1\nparameters:\n  optimizer: {values: [sgd, adam]}\n  batch_size: {values: [32, 64]}\n");
    let mut history: Vec<(TrialParams, Option<f64>)> = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for seed in 0..4 {
        let c = suggest_untried(&s, &history, &[], &taken, seed).expect("one is untried");
        assert!(taken.insert(s.config_key(&c)), "a repeat: {c:?}");
        history.push((c, Some(0.5)));
    }
    assert_eq!(suggest_untried(&s, &history, &[], &taken, 9), None);
}

#[test]
fn warm_start_trials_come_first_and_warm_history_keeps_shared_parameters() {
    let s = spec("method: random\nmax_trials: 4\nseed: 2\nwarm_start:\n  trials:\n    - {learning_rate: 0.05}\n    - {learning_rate: 0.02, batch_size: 64}\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n  batch_size: {values: [32, 64]}\n");
    let planned = plan(&s);
    assert_eq!(planned.len(), 4);
    assert_eq!(planned[0].source, Source::WarmStart);
    assert_eq!(planned[1].params.as_ref().unwrap().batch_size, 64);
    assert_eq!(planned[1].params.as_ref().unwrap().learning_rate, 0.02);
    assert_eq!(planned[0].params.as_ref().unwrap().learning_rate, 0.05);
    assert_eq!(planned[2].source, Source::Search);
    // The search's stream is that of the sweep without a warm start.
    let plain = spec("method: random\nmax_trials: 2\nseed: 2\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n  batch_size: {values: [32, 64]}\n");
    assert_eq!(planned[2].params, plan(&plain)[0].params);

    let bayes = spec("method: bayes\nmax_trials: 2\nparameters:\n  learning_rate: {min: 0.01, max: 0.1}\n  dropout: {min: 0.0, max: 0.5}\n");
    let source = spec("method: random\nmax_trials: 2\nparameters:\n  learning_rate: {min: 0.001, max: 0.1}\n  optimizer: {values: [sgd, adam]}\n");
    let inside = TrialParams {
        learning_rate: 0.05,
        ..TrialParams::default()
    };
    let outside = TrialParams {
        learning_rate: 0.002,
        ..TrialParams::default()
    };
    let observed = warm_observations(&bayes, &source, &[(inside, Some(0.9)), (outside, None)]);
    assert_eq!(observed.len(), 2);
    assert_eq!(
        observed[0].params,
        BTreeMap::from([(ParamName::LearningRate, json!(0.05))]),
        "only what both spaces search, inside this one"
    );
    assert!(observed[1].params.is_empty());
    assert!(observed[1].value.is_nan());
}
