//! Optimizers by name: tch's own, plus Adagrad, which tch does not provide.
use crate::spec::TrialParams;
use tch::nn::{self, OptimizerConfig};
use tch::{TchError, Tensor};

/// An optimizer over every trainable variable of a `VarStore`.
pub enum Optimizer {
    Tch(nn::Optimizer),
    Adagrad(Adagrad),
}

impl Optimizer {
    /// The optimizer `params.optimizer` with its learning rate, L2 weight decay and momentum.
    pub fn new(vs: &nn::VarStore, params: &TrialParams) -> Result<Optimizer, TchError> {
        let (lr, wd, momentum) = (params.learning_rate, params.weight_decay, params.momentum);
        Ok(match params.optimizer.as_str() {
            "adam" => Optimizer::Tch(nn::adam(0.9, 0.999, wd).build(vs, lr)?),
            "adamw" => Optimizer::Tch(nn::adamw(0.9, 0.999, wd).build(vs, lr)?),
            "rmsprop" => {
                Optimizer::Tch(nn::rms_prop(0.99, 1e-8, wd, momentum, false).build(vs, lr)?)
            }
            "adagrad" => Optimizer::Adagrad(Adagrad::new(vs, lr, wd)),
            _ => Optimizer::Tch(nn::sgd(momentum, 0.0, wd, false).build(vs, lr)?),
        })
    }

    /// Zeroes the gradients, back-propagates `loss`, and takes one step.
    pub fn backward_step(&mut self, loss: &Tensor) {
        match self {
            Optimizer::Tch(opt) => opt.backward_step(loss),
            Optimizer::Adagrad(opt) => opt.backward_step(loss),
        }
    }
}

/// Adagrad as PyTorch defines it (no learning-rate decay, initial accumulator
/// 0, eps 1e-10): `sum += g^2; p -= lr * g / (sqrt(sum) + eps)`, with L2
/// weight decay added to the gradient.
pub struct Adagrad {
    variables: Vec<Tensor>,
    sums: Vec<Tensor>,
    lr: f64,
    weight_decay: f64,
}

impl Adagrad {
    fn new(vs: &nn::VarStore, lr: f64, weight_decay: f64) -> Adagrad {
        let variables = vs.trainable_variables();
        let sums = variables.iter().map(Tensor::zeros_like).collect();
        Adagrad {
            variables,
            sums,
            lr,
            weight_decay,
        }
    }

    fn backward_step(&mut self, loss: &Tensor) {
        for v in &mut self.variables {
            v.zero_grad();
        }
        loss.backward();
        tch::no_grad(|| {
            for (v, sum) in self.variables.iter_mut().zip(&mut self.sums) {
                let mut grad = v.grad();
                if self.weight_decay != 0.0 {
                    grad += &*v * self.weight_decay;
                }
                let _ = sum.addcmul_(&grad, &grad);
                let step = grad / (sum.sqrt() + 1e-10) * self.lr;
                let _ = v.f_sub_(&step);
            }
        });
    }
}
