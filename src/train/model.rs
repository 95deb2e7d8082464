//! The network a trial trains: a multilayer perceptron ending in LogSoftmax.
use crate::spec::{Activation, TrialParams};
use tch::nn::{self, Init, ModuleT};
use tch::{Kind, TchError, Tensor};

/// An MLP `features -> hidden_layers... -> classes` with the trial's
/// activation and dropout after each hidden layer; outputs log-probabilities.
#[derive(Debug)]
pub struct Mlp {
    hidden: Vec<nn::Linear>,
    output: nn::Linear,
    activation: Activation,
    dropout: f64,
}

impl Mlp {
    /// Creates the layers under `path` (`layer0`, `layer1`, ..., `output`),
    /// initialised as `nn::linear` does; an error when libtorch cannot
    /// allocate them.
    pub fn new(
        path: &nn::Path,
        params: &TrialParams,
        features: i64,
        classes: i64,
    ) -> Result<Mlp, TchError> {
        let mut hidden = Vec::new();
        let mut width = features;
        for (i, &w) in params.hidden_layers.iter().enumerate() {
            let w = i64::from(w);
            hidden.push(linear(&(path / format!("layer{i}")), width, w)?);
            width = w;
        }
        Ok(Mlp {
            hidden,
            output: linear(&(path / "output"), width, classes)?,
            activation: params.activation,
            dropout: params.dropout,
        })
    }

    /// Log-probabilities of `xs`, with dropout when `train`; an error when
    /// libtorch fails (out of memory for the activations, among others).
    pub fn f_forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor, TchError> {
        let mut x = xs.shallow_clone();
        for layer in &self.hidden {
            x = activate(self.activation, &x.f_linear(&layer.ws, layer.bs.as_ref())?)?;
            if self.dropout > 0.0 {
                x = x.f_dropout(self.dropout, train)?;
            }
        }
        x.f_linear(&self.output.ws, self.output.bs.as_ref())?
            .f_log_softmax(-1, Kind::Float)
    }

    /// Log-probabilities of `xs` in training: each hidden layer's output
    /// multiplied by its mask (`dropout::masks`, one per hidden layer), or
    /// no dropout when `masks` is empty.
    pub fn f_forward_masked(&self, xs: &Tensor, masks: &[Tensor]) -> Result<Tensor, TchError> {
        let mut x = xs.shallow_clone();
        for (i, layer) in self.hidden.iter().enumerate() {
            x = activate(self.activation, &x.f_linear(&layer.ws, layer.bs.as_ref())?)?;
            if let Some(mask) = masks.get(i) {
                x = x.f_mul(mask)?;
            }
        }
        x.f_linear(&self.output.ws, self.output.bs.as_ref())?
            .f_log_softmax(-1, Kind::Float)
    }
}

/// `x` through the activation.
pub(super) fn activate(activation: Activation, x: &Tensor) -> Result<Tensor, TchError> {
    match activation {
        Activation::Relu => x.f_relu(),
        Activation::Tanh => x.f_tanh(),
        Activation::Sigmoid => x.f_sigmoid(),
        Activation::Gelu => x.f_gelu("none"),
    }
}

/// A linear layer `inputs -> outputs` under `path`, with `nn::linear`'s
/// default initialisation (bias first, so the random draws come in its order).
fn linear(path: &nn::Path, inputs: i64, outputs: i64) -> Result<nn::Linear, TchError> {
    let config = nn::LinearConfig::default();
    let bound = 1.0 / (inputs as f64).sqrt();
    let bs = path.f_var(
        "bias",
        &[outputs],
        Init::Uniform {
            lo: -bound,
            up: bound,
        },
    )?;
    let ws = path.f_var("weight", &[outputs, inputs], config.ws_init)?;
    Ok(nn::Linear { ws, bs: Some(bs) })
}

impl ModuleT for Mlp {
    /// Panics where `f_forward_t` fails; training calls that instead.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.f_forward_t(xs, train)
            .unwrap_or_else(|e| panic!("forward pass: {e}"))
    }
}
