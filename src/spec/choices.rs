//! The named choices a trial trains with: its optimizer and its activation.
//! Each enum's text (`as_str`, serde) is the spec's and the stored row's.
use crate::names;
use serde::{Deserialize, Serialize};

/// An optimizer a trial can train with. The serde text is the spec's (and
/// the stored row's): an unknown name does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    Sgd,
    Adam,
    AdamW,
    Adagrad,
    RmsProp,
}

impl Optimizer {
    /// Every optimizer, in the order the spec's error messages list them.
    pub const ALL: [Optimizer; 5] = [
        Optimizer::Sgd,
        Optimizer::Adam,
        Optimizer::AdamW,
        Optimizer::Adagrad,
        Optimizer::RmsProp,
    ];

    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Optimizer::Sgd => "sgd",
            Optimizer::Adam => "adam",
            Optimizer::AdamW => "adamw",
            Optimizer::Adagrad => "adagrad",
            Optimizer::RmsProp => "rmsprop",
        }
    }
}

/// An activation function between hidden layers; serde text as `Optimizer`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
}

impl Activation {
    /// Every activation, in the order the spec's error messages list them.
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
    ];

    /// The name as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Gelu => "gelu",
        }
    }
}

names::text_enum!(Optimizer, "optimizer");
names::text_enum!(Activation, "activation");
