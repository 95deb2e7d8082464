//! How well a network does on a labelled set: mean loss and accuracy.
use super::{Mlp, TrainError};
use tch::{Kind, Tensor};

/// Mean loss and accuracy of `net` on `(x, y)`, in inference mode.
pub fn evaluate(net: &Mlp, x: &Tensor, y: &Tensor) -> Result<(f64, f64), TrainError> {
    const CHUNK: i64 = 8192;
    let n = x.size()[0];
    let (mut loss, mut correct) = (0.0, 0.0);
    tch::no_grad(|| -> Result<(), TrainError> {
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let out = net.f_forward_t(&x.narrow(0, start, len), false)?;
            let y = y.narrow(0, start, len);
            loss += out
                .f_nll_loss::<Tensor>(&y, None, tch::Reduction::Mean, -100)?
                .f_double_value(&[])?
                * len as f64;
            correct += out
                .f_argmax(-1, false)?
                .f_eq_tensor(&y)?
                .f_sum(Kind::Float)?
                .f_double_value(&[])?;
            start += len;
        }
        Ok(())
    })?;
    Ok((loss / n.max(1) as f64, correct / n.max(1) as f64))
}
