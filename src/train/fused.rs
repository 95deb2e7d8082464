//! Fused trials (issue 18): the networks of several trials of one shape
//! trained as one network whose layers are theirs side by side.
//!
//! A group of G members shares the layer widths, the activation and the
//! batches. Each layer's weights are one tensor `[G, out, in]` and its
//! biases `[G, out]`: the first layer is one matrix product of the shared
//! batch against every member's weights at once (`[B, in] x [in, G*out]`),
//! each later layer one batched product (`baddbmm`) over the members'
//! activations `[G, B, in]`. The loss is the sum of the members' mean
//! losses; members share no parameter, so one backward pass gives each
//! exactly the gradient it would get alone. The optimizer updates every
//! member at once, its per-member settings (learning rate, weight decay,
//! momentum) tensors that broadcast over the member's slice.
//!
//! Inside a group the optimizer's kind is one (the same update rule, so the
//! same kernels); its settings may differ per member. A member that leaves
//! takes its slices with it ([`Group::remove`]): the others' tensors are
//! rebuilt without it, not masked.
//!
//! Numbers: a member's forward and backward are the same operations on the
//! same values as alone, but in larger products, whose blocking can sum a
//! dot product in another order; and scalar coefficients become tensors.
//! So a member agrees with its lone run within float32 rounding (see the
//! tests for the bound that holds), not bit for bit.
use super::checkpoint::Checkpoint;
use super::model::{activate, Mlp};
use super::optim::{ADAGRAD_EPS, ADAM_EPS, BETA1, BETA2, RMS_ALPHA, RMS_EPS};
use super::{Optimizer, TrainError};
use crate::spec::{self, Activation, TrialParams};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// A member as a lone trial would hold it, before the group stacks it.
struct Lone {
    /// In `Mlp::new`'s order: per layer, bias then weight.
    variables: Vec<Tensor>,
    /// The lone optimizer's state, as `Optimizer::state` names it.
    state: Vec<(String, Tensor)>,
}

/// The members' networks as one: per layer, weights `[G, out, in]` and
/// biases `[G, out]`, leaves that require gradients.
pub struct Group {
    layers: Vec<(Tensor, Tensor)>,
    activation: Activation,
    optimizer: GroupOptimizer,
}

/// What makes a trial a member of a group: one network shape and
/// activation, and one optimizer kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub hidden_layers: Vec<u32>,
    pub activation: Activation,
    pub optimizer: spec::Optimizer,
}

impl Shape {
    pub fn of(params: &TrialParams) -> Shape {
        Shape {
            hidden_layers: params.hidden_layers.clone(),
            activation: params.activation,
            optimizer: params.optimizer,
        }
    }
}

/// A member's settings and initial weights: `seed` seeds them as it seeds a
/// lone trial's (`tch::manual_seed(seed)`, then `Mlp::new`); `resume`, a
/// lone trial's checkpoint (or another member's, `member_state`) to start
/// from instead.
pub struct Member<'a> {
    pub params: &'a TrialParams,
    pub seed: u64,
    pub resume: Option<&'a Checkpoint>,
}

impl Group {
    /// The members' networks, each initialised as it would be alone (or
    /// restored from its checkpoint), on `device`, and per member the epoch
    /// and step it starts after: (0, 0) when fresh, also when its
    /// checkpoint is of another network (told in the log, as alone). An
    /// error when their shapes differ or libtorch fails.
    pub fn new(
        members: &[Member],
        features: i64,
        classes: i64,
        device: Device,
    ) -> Result<(Group, Vec<(i64, i64)>), TrainError> {
        let Some(first) = members.first() else {
            return Err(TrainError::InvalidConfiguration {
                field: "group".into(),
                problem: "has no members".into(),
            });
        };
        let shape = Shape::of(first.params);
        if let Some(other) = members.iter().find(|m| Shape::of(m.params) != shape) {
            return Err(TrainError::InvalidConfiguration {
                field: "group".into(),
                problem: format!(
                    "members differ in shape or optimizer: {:?} and {:?}",
                    shape,
                    Shape::of(other.params)
                ),
            });
        }
        // Each member as a lone trial: its variables in `Mlp::new`'s order
        // (bias, then weight, per layer), drawn on the CPU, and its lone
        // optimizer's state (restored, or zeros).
        let mut lone: Vec<Lone> = Vec::with_capacity(members.len());
        let mut starts = Vec::with_capacity(members.len());
        for m in members {
            tch::manual_seed(m.seed as i64);
            let mut vs = nn::VarStore::new(Device::Cpu);
            let _net = Mlp::new(&vs.root(), m.params, features, classes)?;
            let mut optimizer = Optimizer::new(&vs, m.params)?;
            let mut start = (0, 0);
            if let Some(c) = m.resume {
                // `restore` checks before it copies: on an error the fresh
                // state is intact.
                match c.restore(&mut vs, &mut optimizer) {
                    Ok(()) => start = (c.epoch, c.step),
                    Err(e @ TrainError::BadCheckpoint(_)) => {
                        tracing::warn!("not resuming: {e}")
                    }
                    Err(e) => return Err(e),
                }
            }
            starts.push(start);
            lone.push(Lone {
                variables: vs.trainable_variables(),
                state: optimizer.state(),
            });
        }
        let layer_count = shape.hidden_layers.len() + 1;
        let mut layers = Vec::with_capacity(layer_count);
        for l in 0..layer_count {
            let stack = |k: usize| -> Result<Tensor, TrainError> {
                let parts: Vec<&Tensor> = lone.iter().map(|v| &v.variables[2 * l + k]).collect();
                let stacked = Tensor::f_stack(&parts, 0)?.f_to_device(device)?;
                Ok(stacked.f_detach()?.f_set_requires_grad(true)?)
            };
            let (bias, weight) = (stack(0)?, stack(1)?);
            layers.push((weight, bias));
        }
        let optimizer = GroupOptimizer::new(&layers, members, &lone, device)?;
        let group = Group {
            layers,
            activation: shape.activation,
            optimizer,
        };
        Ok((group, starts))
    }

    /// How many members the group has.
    pub fn members(&self) -> i64 {
        self.layers[0].0.size()[0]
    }

    /// Every member's log-probabilities of the shared batch `x` (`[B, in]`):
    /// `[G, B, classes]`. `masks`: per hidden layer the members' dropout
    /// masks `[G, B, width]` (see `dropout_masks`), or none.
    pub fn f_forward(&self, x: &Tensor, masks: &[Tensor]) -> Result<Tensor, TrainError> {
        let g = self.members();
        let batch = x.size()[0];
        let (w0, b0) = &self.layers[0];
        let (out0, inputs) = (w0.size()[1], w0.size()[2]);
        // The first layer: one product of the batch against every member's
        // weights side by side, then the members split out: [G, B, out0].
        let mut h = x
            .f_linear(
                &w0.f_reshape([g * out0, inputs])?,
                Some(&b0.f_reshape([g * out0])?),
            )?
            .f_reshape([batch, g, out0])?
            .f_transpose(0, 1)?;
        for (i, (w, b)) in self.layers.iter().skip(1).enumerate() {
            h = activate(self.activation, &h)?;
            if let Some(mask) = masks.get(i) {
                h = h.f_mul(mask)?;
            }
            // [G, B, in] x [G, in, out] + [G, 1, out]
            h = b
                .f_unsqueeze(1)?
                .f_baddbmm(&h, &w.f_transpose(1, 2)?, 1, 1)?;
        }
        Ok(h.f_log_softmax(-1, Kind::Float)?)
    }

    /// The dropout masks of one batch for members given as (trial seed,
    /// the epoch it trains, dropout), in the group's order: per hidden layer
    /// `[G, rows, width]`, each member's slice what it draws alone
    /// (`dropout::masks`), ones for a member without dropout. Empty when no
    /// member has dropout.
    pub fn dropout_masks(
        &self,
        members: &[(u64, i64, f64)],
        batch: i64,
        rows: i64,
    ) -> Result<Vec<Tensor>, TrainError> {
        if members.iter().all(|m| m.2 <= 0.0) {
            return Ok(Vec::new());
        }
        let device = self.layers[0].0.device();
        let widths: Vec<u32> = self.layers[..self.layers.len() - 1]
            .iter()
            .map(|(w, _)| w.size()[1] as u32)
            .collect();
        let mut each = Vec::with_capacity(members.len());
        for &(seed, epoch, p) in members {
            each.push(if p > 0.0 {
                super::dropout::masks(seed, epoch, batch, p, rows, &widths, device)?
            } else {
                widths
                    .iter()
                    .map(|&w| Tensor::f_ones([rows, i64::from(w)], (Kind::Float, device)))
                    .collect::<Result<_, _>>()?
            });
        }
        (0..widths.len())
            .map(|l| {
                let parts: Vec<&Tensor> = each.iter().map(|m| &m[l]).collect();
                Ok(Tensor::f_stack(&parts, 0)?)
            })
            .collect()
    }

    /// Each member's mean negative log-likelihood of the labels `y` (`[B]`)
    /// under `out` (`[G, B, classes]`): `[G]`.
    pub fn f_losses(out: &Tensor, y: &Tensor) -> Result<Tensor, TrainError> {
        let (g, batch) = (out.size()[0], out.size()[1]);
        let picked = out.f_gather(
            2,
            &y.f_reshape([1, batch, 1])?.f_expand([g, batch, 1], false)?,
            false,
        )?;
        Ok(picked
            .f_squeeze_dim(2)?
            .f_mean_dim([1i64].as_slice(), false, Kind::Float)?
            .f_neg()?)
    }

    /// Trains every member on the batch `(x, y)`: one forward pass, one
    /// backward pass of the summed losses, one update. Each member's loss on
    /// the batch, before the update.
    pub fn train_batch(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        masks: &[Tensor],
    ) -> Result<Vec<f64>, TrainError> {
        let losses = Group::f_losses(&self.f_forward(x, masks)?, y)?;
        self.optimizer
            .backward_step(&mut self.layers, &losses.f_sum(Kind::Float)?)?;
        Ok(Vec::<f64>::try_from(&losses.f_to_kind(Kind::Double)?)?)
    }

    /// Each member's mean loss and accuracy on `(x, y)`, in inference mode.
    pub fn evaluate(&self, x: &Tensor, y: &Tensor) -> Result<Vec<(f64, f64)>, TrainError> {
        const CHUNK: i64 = 8192;
        let n = x.size()[0];
        let g = self.members();
        let mut loss = Tensor::f_zeros([g], (Kind::Double, Device::Cpu))?;
        let mut correct = Tensor::f_zeros([g], (Kind::Double, Device::Cpu))?;
        tch::no_grad(|| -> Result<(), TrainError> {
            let mut start = 0;
            while start < n {
                let len = CHUNK.min(n - start);
                let out = self.f_forward(&x.narrow(0, start, len), &[])?;
                let y = y.narrow(0, start, len);
                let l = Group::f_losses(&out, &y)?
                    .f_to_kind(Kind::Double)?
                    .f_to_device(Device::Cpu)?;
                loss = loss.f_add(&l.f_mul_scalar(len as f64)?)?;
                let hits = out
                    .f_argmax(-1, false)?
                    .f_eq_tensor(&y.f_unsqueeze(0)?)?
                    .f_sum_dim_intlist([1i64].as_slice(), false, Kind::Double)?
                    .f_to_device(Device::Cpu)?;
                correct = correct.f_add(&hits)?;
                start += len;
            }
            Ok(())
        })?;
        let n = n.max(1) as f64;
        let loss = Vec::<f64>::try_from(&loss)?;
        let correct = Vec::<f64>::try_from(&correct)?;
        Ok(loss
            .iter()
            .zip(&correct)
            .map(|(l, c)| (l / n, c / n))
            .collect())
    }

    /// Takes member `index` out of the group: every tensor of the others
    /// (weights, biases, optimizer buffers, settings) rebuilt without its
    /// slice.
    pub fn remove(&mut self, index: i64) -> Result<(), TrainError> {
        let g = self.members();
        if !(0..g).contains(&index) || g == 1 {
            return Err(TrainError::InvalidConfiguration {
                field: "group".into(),
                problem: format!("cannot remove member {index} of {g}"),
            });
        }
        let device = self.layers[0].0.device();
        let keep: Vec<i64> = (0..g).filter(|&i| i != index).collect();
        let keep = Tensor::from_slice(&keep).f_to_device(device)?;
        let without = |t: &Tensor| -> Result<Tensor, TrainError> {
            Ok(t.f_index_select(0, &keep)?.f_detach()?)
        };
        for (w, b) in &mut self.layers {
            *w = without(w)?.f_set_requires_grad(true)?;
            *b = without(b)?.f_set_requires_grad(true)?;
        }
        self.optimizer.remove(index as usize, &without)?;
        Ok(())
    }

    /// Takes `other`'s members in after this group's own (they join at an
    /// epoch boundary): every tensor is this one's and `other`'s side by
    /// side. An error when their shapes or optimizers differ.
    pub fn absorb(&mut self, other: Group) -> Result<(), TrainError> {
        let same = self.layers.len() == other.layers.len()
            && self.activation == other.activation
            && self.optimizer.rule == other.optimizer.rule
            && self
                .layers
                .iter()
                .zip(&other.layers)
                .all(|((a, _), (b, _))| a.size()[1..] == b.size()[1..]);
        if !same {
            return Err(TrainError::InvalidConfiguration {
                field: "group".into(),
                problem: "a joining member differs in shape or optimizer".into(),
            });
        }
        let side_by_side = |a: &Tensor, b: &Tensor| -> Result<Tensor, TrainError> {
            Ok(Tensor::f_cat(&[a, b], 0)?.f_detach()?)
        };
        for ((w, b), (ow, ob)) in self.layers.iter_mut().zip(&other.layers) {
            *w = side_by_side(w, ow)?.f_set_requires_grad(true)?;
            *b = side_by_side(b, ob)?.f_set_requires_grad(true)?;
        }
        let (o, theirs) = (&mut self.optimizer, other.optimizer);
        o.lr.extend(theirs.lr);
        o.weight_decay.extend(theirs.weight_decay);
        o.momentum.extend(theirs.momentum);
        o.steps.extend(theirs.steps);
        o.settings = None;
        for (mine, theirs) in o.buffers.iter_mut().zip(&theirs.buffers) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m = side_by_side(m, t)?;
            }
        }
        Ok(())
    }

    /// Member `index`'s state after `epoch` (and `step` optimizer steps) in
    /// the lone trial's checkpoint format (`checkpoint.rs`): its slice of
    /// every weight and buffer, named as a lone trial names them, on the
    /// CPU. So a member's checkpoint resumes alone, or in another group.
    pub fn member_state(
        &self,
        index: i64,
        epoch: i64,
        step: i64,
    ) -> Result<Vec<(String, Tensor)>, TrainError> {
        // Copies: training changes the group's tensors in place meanwhile.
        let slice = |t: &Tensor| -> Result<Tensor, TrainError> {
            Ok(t.f_get(index)?.f_detach()?.f_to_device(Device::Cpu)?.copy())
        };
        let mut named = vec![
            ("meta.epoch".to_string(), Tensor::from(epoch)),
            ("meta.step".to_string(), Tensor::from(step)),
        ];
        for (name, w) in self.member_weights(index)? {
            named.push((format!("model.{name}"), w));
        }
        let member = usize::try_from(index).map_err(|_| TrainError::InvalidConfiguration {
            field: "group".into(),
            problem: format!("no member {index}"),
        })?;
        let o = &self.optimizer;
        named.push((
            "optimizer.steps".to_string(),
            Tensor::from_slice(&[o.steps[member]]),
        ));
        // A lone trial's optimizer numbers its variables in `Mlp::new`'s
        // order (per layer: bias, then weight) and keeps the buffers its
        // rule needs at its settings: none for SGD without momentum, no
        // momentum buffer for RMSprop without it.
        let momentum = o.momentum[member] != 0.0;
        let kept = |k: usize| match o.rule {
            Rule::Sgd => momentum,
            Rule::RmsProp => k == 0 || momentum,
            Rule::Adam { .. } | Rule::Adagrad => true,
        };
        let mut lone_index = 0;
        for layer in 0..self.layers.len() {
            // Ours: weight (2 * layer), then bias (2 * layer + 1).
            for v in [2 * layer + 1, 2 * layer] {
                for (k, b) in o.buffers[v].iter().enumerate() {
                    if kept(k) {
                        named.push((format!("optimizer.{lone_index}.{k}"), slice(b)?));
                    }
                }
                lone_index += 1;
            }
        }
        Ok(named)
    }

    /// Member `index`'s weights as a lone trial's `VarStore` names them
    /// (`layer0.weight`, ..., `output.bias`), copies on the CPU.
    fn member_weights(&self, index: i64) -> Result<Vec<(String, Tensor)>, TrainError> {
        let mut named = Vec::new();
        let last = self.layers.len() - 1;
        for (l, (w, b)) in self.layers.iter().enumerate() {
            let name = if l == last {
                "output".to_string()
            } else {
                format!("layer{l}")
            };
            named.push((
                format!("{name}.weight"),
                w.f_get(index)?.f_detach()?.f_to_device(Device::Cpu)?.copy(),
            ));
            named.push((
                format!("{name}.bias"),
                b.f_get(index)?.f_detach()?.f_to_device(Device::Cpu)?.copy(),
            ));
        }
        Ok(named)
    }
}

/// How the update is computed; one for the whole group (see `optim.rs` for
/// the lone trial's, which these follow operation for operation).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rule {
    Sgd,
    Adam { decoupled: bool },
    RmsProp,
    Adagrad,
}

/// The group's optimizer: per variable its buffers (`[G, ...]` like the
/// variable), per member its settings and step count.
struct GroupOptimizer {
    rule: Rule,
    lr: Vec<f64>,
    weight_decay: Vec<f64>,
    momentum: Vec<f64>,
    steps: Vec<i64>,
    /// `buffers[v]` belong to variable `v` (layer `v / 2`, weight then bias).
    buffers: Vec<Vec<Tensor>>,
    /// The settings as tensors; None until the first step after a change.
    settings: Option<Settings>,
}

/// Per-member settings as tensors that broadcast (`GroupOptimizer::per_rank`).
struct Settings {
    lr: [Tensor; 2],
    /// `-lr`, for updates made in place (`p += buffer * -lr`).
    neg_lr: [Tensor; 2],
    weight_decay: [Tensor; 2],
    momentum: [Tensor; 2],
    /// AdamW's decoupled decay: `1 - lr * weight_decay`.
    shrink: [Tensor; 2],
    any_weight_decay: bool,
}

impl GroupOptimizer {
    /// The optimizer of `layers`, whose members' lone optimizers hold
    /// `lone[m].state`: their buffers stacked (zeros where a lone rule keeps
    /// none at its settings), their step counts kept.
    fn new(
        layers: &[(Tensor, Tensor)],
        members: &[Member],
        lone: &[Lone],
        device: Device,
    ) -> Result<GroupOptimizer, TrainError> {
        let rule = match members[0].params.optimizer {
            spec::Optimizer::Sgd => Rule::Sgd,
            spec::Optimizer::Adam => Rule::Adam { decoupled: false },
            spec::Optimizer::AdamW => Rule::Adam { decoupled: true },
            spec::Optimizer::RmsProp => Rule::RmsProp,
            spec::Optimizer::Adagrad => Rule::Adagrad,
        };
        let buffers_each = match rule {
            Rule::Sgd | Rule::Adagrad => 1,
            Rule::Adam { .. } | Rule::RmsProp => 2,
        };
        let named = |m: &Lone, name: &str| -> Option<Tensor> {
            m.state
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.shallow_clone())
        };
        let mut buffers = Vec::new();
        for layer in 0..layers.len() {
            // Ours: weight, then bias; a lone optimizer's: bias (2 * layer),
            // then weight (2 * layer + 1).
            for lone_index in [2 * layer + 1, 2 * layer] {
                let mut these = Vec::with_capacity(buffers_each);
                for k in 0..buffers_each {
                    let parts = lone
                        .iter()
                        .map(|m| match named(m, &format!("{lone_index}.{k}")) {
                            Some(t) => Ok(t),
                            None => m.variables[lone_index].f_zeros_like(),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    these.push(Tensor::f_stack(&parts, 0)?.f_to_device(device)?);
                }
                buffers.push(these);
            }
        }
        let steps = lone
            .iter()
            .map(|m| match named(m, "steps") {
                Some(t) => t.f_int64_value(&[0]),
                None => Ok(0),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GroupOptimizer {
            rule,
            lr: members.iter().map(|m| m.params.learning_rate).collect(),
            weight_decay: members.iter().map(|m| m.params.weight_decay).collect(),
            momentum: members.iter().map(|m| m.params.momentum).collect(),
            steps,
            buffers,
            settings: None,
        })
    }

    /// A per-member coefficient as a float tensor shaped to broadcast over
    /// `like` (`[G, 1]` or `[G, 1, 1]`). Computed in f64, then rounded to
    /// float once, as a lone trial's scalar is.
    fn coefficient(values: &[f64], like: &Tensor) -> Result<Tensor, TrainError> {
        let mut shape = vec![values.len() as i64];
        shape.extend(std::iter::repeat_n(1, like.dim() - 1));
        Ok(Tensor::from_slice(values)
            .f_to_kind(like.kind())?
            .f_to_device(like.device())?
            .f_reshape(shape)?)
    }

    /// A per-member coefficient for both kinds of variable: `[0]` shaped
    /// to broadcast over a bias (`[G, 1]`), `[1]` over a weight (`[G, 1, 1]`);
    /// `like` is a weight.
    fn per_rank(values: &[f64], like: &Tensor) -> Result<[Tensor; 2], TrainError> {
        let bias = like.f_select(2, 0)?;
        Ok([
            Self::coefficient(values, &bias)?,
            Self::coefficient(values, like)?,
        ])
    }

    /// The per-member settings as tensors, for weights like `like`.
    fn make_settings(&self, like: &Tensor) -> Result<Settings, TrainError> {
        let shrink: Vec<f64> = self
            .lr
            .iter()
            .zip(&self.weight_decay)
            .map(|(lr, wd)| 1.0 - lr * wd)
            .collect();
        let neg_lr: Vec<f64> = self.lr.iter().map(|lr| -lr).collect();
        Ok(Settings {
            lr: Self::per_rank(&self.lr, like)?,
            neg_lr: Self::per_rank(&neg_lr, like)?,
            weight_decay: Self::per_rank(&self.weight_decay, like)?,
            momentum: Self::per_rank(&self.momentum, like)?,
            shrink: Self::per_rank(&shrink, like)?,
            any_weight_decay: self.weight_decay.iter().any(|&w| w != 0.0),
        })
    }

    fn backward_step(
        &mut self,
        layers: &mut [(Tensor, Tensor)],
        loss: &Tensor,
    ) -> Result<(), TrainError> {
        // The gradients handed back, not accumulated into each variable's
        // `.grad` (which would first be zeroed, then added to: two passes
        // over every member's parameters that a profile put at a quarter
        // of a step at 32 members).
        let variables: Vec<&Tensor> = layers.iter().flat_map(|(w, b)| [w, b]).collect();
        let mut grads = Tensor::f_run_backward(&[loss], &variables, false, false)?.into_iter();
        for s in &mut self.steps {
            *s += 1;
        }
        let rule = self.rule;
        let like = layers[0].0.shallow_clone();
        // Adam's bias corrections change every step: per rank, once a step.
        let adam = if let Rule::Adam { .. } = rule {
            let correction2: Vec<f64> = self
                .steps
                .iter()
                .map(|&s| (1.0 - BETA2.powi(s as i32)).sqrt())
                .collect();
            let step: Vec<f64> = self
                .steps
                .iter()
                .zip(&self.lr)
                .map(|(&s, lr)| lr / (1.0 - BETA1.powi(s as i32)))
                .collect();
            Some((
                Self::per_rank(&correction2, &like)?,
                Self::per_rank(&step, &like)?,
            ))
        } else {
            None
        };
        // Made once per membership, and out of `self` while the buffers
        // change (an error on the way leaves None: made again next step).
        let settings = match self.settings.take() {
            Some(settings) => settings,
            None => self.make_settings(&like)?,
        };
        tch::no_grad(|| -> Result<(), TrainError> {
            let mut v = 0;
            for (w, b) in layers.iter_mut() {
                for p in [w, b] {
                    let buffers = &mut self.buffers[v];
                    v += 1;
                    // Biases are [G, out], weights [G, out, in].
                    let r = usize::from(p.dim() == 3);
                    let lr = &settings.lr[r];
                    // Ours alone: weight decay is added to it in place.
                    let mut g = grads.next().expect("one gradient per variable");
                    if settings.any_weight_decay && rule != (Rule::Adam { decoupled: true }) {
                        let _ = g.f_addcmul_(&*p, &settings.weight_decay[r])?;
                    }
                    match rule {
                        Rule::Sgd => {
                            let _ = buffers[0].f_mul_(&settings.momentum[r])?.f_add_(&g)?;
                            let _ = p.f_addcmul_(&buffers[0], &settings.neg_lr[r])?;
                        }
                        Rule::Adam { decoupled } => {
                            if decoupled && settings.any_weight_decay {
                                *p *= &settings.shrink[r];
                            }
                            let (correction2, step) = adam.as_ref().expect("made for Adam");
                            let (m, sq) = buffers.split_at_mut(1);
                            m[0] *= BETA1;
                            m[0] += &g * (1.0 - BETA1);
                            sq[0] *= BETA2;
                            sq[0] += &g * &g * (1.0 - BETA2);
                            let denom = sq[0].sqrt() / &correction2[r] + ADAM_EPS;
                            *p -= &m[0] / denom * &step[r];
                        }
                        Rule::RmsProp => {
                            let (sq, buf) = buffers.split_at_mut(1);
                            sq[0] *= RMS_ALPHA;
                            sq[0] += &g * &g * (1.0 - RMS_ALPHA);
                            let scaled = &g / (sq[0].sqrt() + RMS_EPS);
                            buf[0] *= &settings.momentum[r];
                            buf[0] += &scaled;
                            *p -= &buf[0] * lr;
                        }
                        Rule::Adagrad => {
                            buffers[0] += &g * &g;
                            *p -= &g / (buffers[0].sqrt() + ADAGRAD_EPS) * lr;
                        }
                    }
                }
            }
            Ok(())
        })?;
        self.settings = Some(settings);
        Ok(())
    }

    /// Drops member `index`'s settings and buffer slices.
    fn remove(
        &mut self,
        index: usize,
        without: &dyn Fn(&Tensor) -> Result<Tensor, TrainError>,
    ) -> Result<(), TrainError> {
        for values in [&mut self.lr, &mut self.weight_decay, &mut self.momentum] {
            values.remove(index);
        }
        self.steps.remove(index);
        self.settings = None;
        for buffers in &mut self.buffers {
            for b in buffers.iter_mut() {
                *b = without(b)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "fused_tests.rs"]
mod tests;
