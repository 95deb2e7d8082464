//! The network a trial trains: a multilayer perceptron ending in LogSoftmax.
use crate::spec::TrialParams;
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

/// An MLP `features -> hidden_layers... -> classes` with the trial's
/// activation and dropout after each hidden layer; outputs log-probabilities.
#[derive(Debug)]
pub struct Mlp {
    layers: nn::SequentialT,
}

impl Mlp {
    /// Creates the layers under `path` (`layer0`, `layer1`, ..., `output`).
    pub fn new(path: &nn::Path, params: &TrialParams, features: i64, classes: i64) -> Mlp {
        let mut layers = nn::seq_t();
        let mut width = features;
        for (i, &hidden) in params.hidden_layers.iter().enumerate() {
            let hidden = i64::from(hidden);
            layers = layers.add(nn::linear(
                path / format!("layer{i}"),
                width,
                hidden,
                Default::default(),
            ));
            layers = match params.activation.as_str() {
                "tanh" => layers.add_fn(Tensor::tanh),
                "sigmoid" => layers.add_fn(Tensor::sigmoid),
                "gelu" => layers.add_fn(|x| x.gelu("none")),
                _ => layers.add_fn(Tensor::relu),
            };
            if params.dropout > 0.0 {
                let p = params.dropout;
                layers = layers.add_fn_t(move |x, train| x.dropout(p, train));
            }
            width = hidden;
        }
        layers = layers.add(nn::linear(
            path / "output",
            width,
            classes,
            Default::default(),
        ));
        Mlp { layers }
    }
}

impl ModuleT for Mlp {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.layers
            .forward_t(xs, train)
            .log_softmax(-1, Kind::Float)
    }
}
