//! The training parameters a trial can be given, and their allowed values.
pub use super::choices::{Activation, Optimizer};
use crate::names::UnknownName;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One fully resolved training configuration: what a trial trains with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialParams {
    pub learning_rate: f64,
    pub batch_size: u32,
    pub epochs: u32,
    pub hidden_layers: Vec<u32>,
    pub dropout: f64,
    pub weight_decay: f64,
    pub optimizer: Optimizer,
    pub momentum: f64,
    pub activation: Activation,
}

impl Default for TrialParams {
    /// The PyTorch lab's network and optimizer: 784-128-64-10, ReLU, SGD.
    fn default() -> Self {
        TrialParams {
            learning_rate: 0.003,
            batch_size: 64,
            epochs: 5,
            hidden_layers: vec![128, 64],
            dropout: 0.0,
            weight_decay: 0.0,
            optimizer: Optimizer::Sgd,
            momentum: 0.9,
            activation: Activation::Relu,
        }
    }
}

impl TrialParams {
    /// Whether a trial with `other` may be trained in one fused group with
    /// this one: the same layer widths, activation, optimizer kind and
    /// batch size (the rest may differ per member).
    pub fn fuses_with(&self, other: &TrialParams) -> bool {
        self.hidden_layers == other.hidden_layers
            && self.activation == other.activation
            && self.optimizer == other.optimizer
            && self.batch_size == other.batch_size
    }

    /// `sampled` made a member of a group with this one: its shape,
    /// optimizer and batch size taken from this, the rest its own.
    pub fn with_group_shape(&self, sampled: TrialParams) -> TrialParams {
        TrialParams {
            hidden_layers: self.hidden_layers.clone(),
            activation: self.activation,
            optimizer: self.optimizer,
            batch_size: self.batch_size,
            ..sampled
        }
    }

    /// Learnable weights of the MLP for inputs of `features` and `classes` outputs.
    pub fn parameter_count(hidden_layers: &[u32], features: usize, classes: usize) -> u64 {
        let mut widths = vec![features as u64];
        widths.extend(hidden_layers.iter().map(|&w| w as u64));
        widths.push(classes as u64);
        widths
            .windows(2)
            .map(|w| w[0].saturating_add(1).saturating_mul(w[1]))
            .fold(0u64, u64::saturating_add)
    }

    /// One parameter's value, as a spec would write it.
    pub fn get(&self, name: ParamName) -> Value {
        match name {
            ParamName::LearningRate => self.learning_rate.into(),
            ParamName::BatchSize => self.batch_size.into(),
            ParamName::Epochs => self.epochs.into(),
            ParamName::HiddenLayers => self.hidden_layers.clone().into(),
            ParamName::Dropout => self.dropout.into(),
            ParamName::WeightDecay => self.weight_decay.into(),
            ParamName::Optimizer => self.optimizer.as_str().into(),
            ParamName::Momentum => self.momentum.into(),
            ParamName::Activation => self.activation.as_str().into(),
        }
    }

    /// Sets one parameter from a value that `ParamName::check` accepted;
    /// `Err` for a value of the wrong type or out of its type's range
    /// (never a truncated or default value).
    pub fn set(&mut self, name: ParamName, value: &Value) -> Result<(), String> {
        let int = || {
            value
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("{} does not fit {}", value, name.as_str()))
        };
        let float = || {
            value
                .as_f64()
                .ok_or_else(|| format!("{value} is not a number"))
        };
        let text = || {
            value
                .as_str()
                .ok_or_else(|| format!("{value} is not a string"))
        };
        match name {
            ParamName::LearningRate => self.learning_rate = float()?,
            ParamName::BatchSize => self.batch_size = int()?,
            ParamName::Epochs => self.epochs = int()?,
            ParamName::HiddenLayers => {
                let widths = value.as_array().map(Vec::as_slice).unwrap_or_default();
                self.hidden_layers = widths
                    .iter()
                    .map(|w| w.as_u64().and_then(|w| u32::try_from(w).ok()))
                    .collect::<Option<_>>()
                    .ok_or_else(|| format!("{value} are not layer widths"))?;
            }
            ParamName::Dropout => self.dropout = float()?,
            ParamName::WeightDecay => self.weight_decay = float()?,
            ParamName::Optimizer => {
                self.optimizer = text()?.parse().map_err(|e: UnknownName| e.to_string())?
            }
            ParamName::Momentum => self.momentum = float()?,
            ParamName::Activation => {
                self.activation = text()?.parse().map_err(|e: UnknownName| e.to_string())?
            }
        }
        Ok(())
    }
}

/// The name of a training parameter a sweep may search over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ParamName {
    LearningRate,
    BatchSize,
    Epochs,
    HiddenLayers,
    Dropout,
    WeightDecay,
    Optimizer,
    Momentum,
    Activation,
}

/// What kind of values a parameter takes, which decides the distributions allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Float,
    Int,
    List,
    Choice,
}

impl ParamName {
    /// Every parameter, in the order the spec's error messages list them.
    pub const ALL: [ParamName; 9] = [
        ParamName::LearningRate,
        ParamName::BatchSize,
        ParamName::Epochs,
        ParamName::HiddenLayers,
        ParamName::Dropout,
        ParamName::WeightDecay,
        ParamName::Optimizer,
        ParamName::Momentum,
        ParamName::Activation,
    ];

    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamName::LearningRate => "learning_rate",
            ParamName::BatchSize => "batch_size",
            ParamName::Epochs => "epochs",
            ParamName::HiddenLayers => "hidden_layers",
            ParamName::Dropout => "dropout",
            ParamName::WeightDecay => "weight_decay",
            ParamName::Optimizer => "optimizer",
            ParamName::Momentum => "momentum",
            ParamName::Activation => "activation",
        }
    }

    /// Looks a name up as written in a spec.
    pub fn from_name(name: &str) -> Option<ParamName> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }

    /// The kind of values the parameter takes.
    pub fn kind(self) -> ValueKind {
        match self {
            ParamName::BatchSize | ParamName::Epochs => ValueKind::Int,
            ParamName::HiddenLayers => ValueKind::List,
            ParamName::Optimizer | ParamName::Activation => ValueKind::Choice,
            _ => ValueKind::Float,
        }
    }

    /// Whether `x` lies in the parameter's numeric domain; `Err` says why not.
    pub fn check_number(self, x: f64) -> Result<(), String> {
        if !x.is_finite() {
            return Err("must be a finite number".into());
        }
        let ok = match self {
            ParamName::LearningRate => x > 0.0,
            ParamName::BatchSize | ParamName::Epochs => x >= 1.0,
            ParamName::Dropout | ParamName::Momentum => (0.0..1.0).contains(&x),
            ParamName::WeightDecay => x >= 0.0,
            _ => true,
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            ParamName::LearningRate => "must be greater than 0".into(),
            ParamName::BatchSize | ParamName::Epochs => "must be at least 1".into(),
            ParamName::Dropout | ParamName::Momentum => "must be in [0, 1)".into(),
            _ => "must be at least 0".into(),
        })
    }

    /// Checks one concrete value of this parameter; `Err` says what is wrong.
    pub fn check(self, value: &Value) -> Result<(), String> {
        match self.kind() {
            ValueKind::Float => match value.as_f64() {
                Some(x) => self.check_number(x),
                None => Err(format!("must be a number, got {}", describe(value))),
            },
            ValueKind::Int => match value.as_i64() {
                Some(x) if x > i64::from(u32::MAX) => Err(format!("must be at most {}", u32::MAX)),
                Some(x) => self.check_number(x as f64),
                None if value.is_u64() => Err(format!("must be at most {}", u32::MAX)),
                None => Err(format!("must be an integer, got {}", describe(value))),
            },
            ValueKind::List => {
                let Some(widths) = value.as_array() else {
                    return Err(format!(
                        "must be a list of layer widths, got {}",
                        describe(value)
                    ));
                };
                for (i, w) in widths.iter().enumerate() {
                    match w.as_i64() {
                        Some(w) if w >= 1 && w <= i64::from(u32::MAX) => {}
                        Some(w) if w >= 1 => {
                            return Err(format!("width [{i}] must be at most {}", u32::MAX))
                        }
                        Some(_) => return Err(format!("width [{i}] must be at least 1")),
                        None if w.is_u64() => {
                            return Err(format!("width [{i}] must be at most {}", u32::MAX))
                        }
                        None => {
                            return Err(format!(
                                "width [{i}] must be an integer, got {}",
                                describe(w)
                            ))
                        }
                    }
                }
                Ok(())
            }
            ValueKind::Choice => {
                let (known, allowed) = if self == ParamName::Optimizer {
                    let known = value
                        .as_str()
                        .is_some_and(|s| s.parse::<Optimizer>().is_ok());
                    (known, Optimizer::ALL.map(Optimizer::as_str).join(", "))
                } else {
                    let known = value
                        .as_str()
                        .is_some_and(|s| s.parse::<Activation>().is_ok());
                    (known, Activation::ALL.map(Activation::as_str).join(", "))
                };
                if known {
                    return Ok(());
                }
                Err(format!("must be one of {allowed}, got {}", describe(value)))
            }
        }
    }
}

/// A short description of a JSON value for error messages.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("{b}"),
        Value::Number(n) => format!("{n}"),
        Value::String(s) if s.len() <= 40 => format!("\"{s}\""),
        Value::String(_) => "a long string".into(),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}
