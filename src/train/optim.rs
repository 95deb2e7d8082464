//! The optimizers, written out so that their state can be checkpointed and
//! restored (tch's own keep theirs out of reach). Each follows PyTorch's
//! update rule for the same settings, with L2 weight decay added to the
//! gradient (AdamW: decoupled, applied to the weights).
use crate::spec::{self, TrialParams};
use tch::nn;
use tch::{TchError, Tensor};

/// How the update is computed from a gradient and the per-variable buffers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    /// `buf = momentum * buf + g; p -= lr * buf` (plain SGD without momentum).
    Sgd { momentum: f64 },
    /// Adam with bias correction; `decoupled` is AdamW.
    Adam { decoupled: bool },
    /// `sq = alpha * sq + (1 - alpha) g^2; p -= lr * g / (sqrt(sq) + eps)`, with momentum.
    RmsProp { momentum: f64 },
    /// `sum += g^2; p -= lr * g / (sqrt(sum) + eps)`.
    Adagrad,
}

pub(super) const BETA1: f64 = 0.9;
pub(super) const BETA2: f64 = 0.999;
pub(super) const ADAM_EPS: f64 = 1e-8;
pub(super) const RMS_ALPHA: f64 = 0.99;
pub(super) const RMS_EPS: f64 = 1e-8;
pub(super) const ADAGRAD_EPS: f64 = 1e-10;

impl Rule {
    /// Buffers each variable needs.
    fn buffers(self) -> usize {
        match self {
            Rule::Sgd { momentum } => usize::from(momentum != 0.0),
            Rule::Adam { .. } => 2,
            Rule::RmsProp { momentum } => 1 + usize::from(momentum != 0.0),
            Rule::Adagrad => 1,
        }
    }
}

/// An optimizer over every trainable variable of a `VarStore`, with its
/// state (buffers and step count) open to checkpoints.
pub struct Optimizer {
    rule: Rule,
    lr: f64,
    weight_decay: f64,
    variables: Vec<Tensor>,
    /// `buffers[i]` belong to `variables[i]`, all zeros at first.
    buffers: Vec<Vec<Tensor>>,
    steps: i64,
    /// `steps` as a tensor, for checkpoints; filled in by `state`.
    steps_tensor: Tensor,
}

impl Optimizer {
    /// The optimizer `params.optimizer` with its learning rate, L2 weight
    /// decay and momentum; an error when libtorch cannot allocate its buffers.
    pub fn new(vs: &nn::VarStore, params: &TrialParams) -> Result<Optimizer, TchError> {
        let momentum = params.momentum;
        let rule = match params.optimizer {
            spec::Optimizer::Sgd => Rule::Sgd { momentum },
            spec::Optimizer::Adam => Rule::Adam { decoupled: false },
            spec::Optimizer::AdamW => Rule::Adam { decoupled: true },
            spec::Optimizer::RmsProp => Rule::RmsProp { momentum },
            spec::Optimizer::Adagrad => Rule::Adagrad,
        };
        let variables = vs.trainable_variables();
        let buffers = variables
            .iter()
            .map(|v| (0..rule.buffers()).map(|_| v.f_zeros_like()).collect())
            .collect::<Result<_, _>>()?;
        Ok(Optimizer {
            rule,
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            variables,
            buffers,
            steps: 0,
            steps_tensor: Tensor::f_zeros([1], (tch::Kind::Int64, tch::Device::Cpu))?,
        })
    }

    /// Zeroes the gradients, back-propagates `loss`, and takes one step; an
    /// error when libtorch cannot back-propagate (no memory for gradients).
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<(), TchError> {
        for v in &mut self.variables {
            v.zero_grad();
        }
        loss.f_backward()?;
        self.steps += 1;
        let (rule, lr, wd, steps) = (self.rule, self.lr, self.weight_decay, self.steps);
        tch::no_grad(|| {
            for (v, buffers) in self.variables.iter_mut().zip(&mut self.buffers) {
                let g = if wd != 0.0 && rule != (Rule::Adam { decoupled: true }) {
                    v.grad() + &*v * wd
                } else {
                    v.grad()
                };
                step(rule, lr, wd, steps, v, &g, buffers);
            }
        });
        Ok(())
    }

    /// The state to checkpoint, named: the step count (as a one-element
    /// tensor) and each buffer. The tensors share storage with the
    /// optimizer's, so copying into them restores it (see `reload`).
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut steps = self.steps_tensor.shallow_clone();
        let _ = steps.fill_(self.steps);
        let mut state = vec![("steps".to_string(), steps)];
        for (i, buffers) in self.buffers.iter().enumerate() {
            for (k, b) in buffers.iter().enumerate() {
                state.push((format!("{i}.{k}"), b.shallow_clone()));
            }
        }
        state
    }

    /// Takes the step count back from the state after it was copied into.
    pub fn reload(&mut self) {
        self.steps = self.steps_tensor.int64_value(&[0]);
    }
}

/// One update of variable `p` with gradient `g` (weight decay already added,
/// except AdamW's), as PyTorch computes it.
fn step(rule: Rule, lr: f64, wd: f64, steps: i64, p: &mut Tensor, g: &Tensor, b: &mut [Tensor]) {
    match rule {
        Rule::Sgd { momentum } if momentum != 0.0 => {
            b[0] *= momentum;
            b[0] += g;
            *p -= &b[0] * lr;
        }
        Rule::Sgd { .. } => *p -= g * lr,
        Rule::Adam { decoupled } => {
            if decoupled && wd != 0.0 {
                *p *= 1.0 - lr * wd;
            }
            let (m, v) = b.split_at_mut(1);
            m[0] *= BETA1;
            m[0] += g * (1.0 - BETA1);
            v[0] *= BETA2;
            v[0] += g * g * (1.0 - BETA2);
            let correction1 = 1.0 - BETA1.powi(steps as i32);
            let correction2 = (1.0 - BETA2.powi(steps as i32)).sqrt();
            let denom = v[0].sqrt() / correction2 + ADAM_EPS;
            *p -= &m[0] / denom * (lr / correction1);
        }
        Rule::RmsProp { momentum } => {
            b[0] *= RMS_ALPHA;
            b[0] += g * g * (1.0 - RMS_ALPHA);
            let scaled = g / (b[0].sqrt() + RMS_EPS);
            if momentum != 0.0 {
                b[1] *= momentum;
                b[1] += &scaled;
                *p -= &b[1] * lr;
            } else {
                *p -= scaled * lr;
            }
        }
        Rule::Adagrad => {
            b[0] += g * g;
            *p -= g / (b[0].sqrt() + ADAGRAD_EPS) * lr;
        }
    }
}
