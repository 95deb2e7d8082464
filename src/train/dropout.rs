//! Dropout masks drawn per trial and batch, so that a member of a fused
//! group and the same trial alone drop the same units.
//!
//! A lone trial once drew its masks from the epoch's random stream, after
//! its shuffle. In a group, members share the batches but not a stream:
//! each member's masks are drawn from a seed of its own, its trial's seed,
//! epoch and batch, on the CPU whatever the device (as the shuffle is),
//! and a lone trial draws them the same way. The masks hold 0 or
//! `1 / (1 - p)`, as `dropout` scales them, so a layer's output is
//! multiplied by its mask and nothing else.
use super::TrainError;
use tch::{Device, Kind, Tensor};

/// The seed of one batch's masks of a trial.
fn seed(trial_seed: u64, epoch: i64, batch: i64) -> i64 {
    let mut x = trial_seed
        ^ (epoch as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93)
        ^ (batch as u64).wrapping_mul(0xA076_1D64_78BD_642F);
    // splitmix64's finaliser: nearby inputs give unrelated seeds.
    x ^= x >> 30;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    x as i64
}

/// The masks of one batch of `rows` rows for a trial with dropout `p`
/// after hidden layers of the given widths: one `[rows, width]` per layer,
/// on `device`. Empty when `p` is 0 (nothing is dropped).
pub fn masks(
    trial_seed: u64,
    epoch: i64,
    batch: i64,
    p: f64,
    rows: i64,
    widths: &[u32],
    device: Device,
) -> Result<Vec<Tensor>, TrainError> {
    if p <= 0.0 {
        return Ok(Vec::new());
    }
    tch::manual_seed(seed(trial_seed, epoch, batch));
    let keep = 1.0 - p;
    widths
        .iter()
        .map(|&w| {
            let mut m = Tensor::f_empty([rows, i64::from(w)], (Kind::Float, Device::Cpu))?;
            let _ = m.f_bernoulli_float_(keep)?;
            let _ = m.f_div_scalar_(keep)?;
            Ok(m.f_to_device(device)?)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_depend_on_the_trial_epoch_and_batch_only_and_keep_the_expected_share() {
        let _rng = super::super::tests::RNG
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let a = masks(7, 2, 3, 0.25, 256, &[128, 64], Device::Cpu).unwrap();
        tch::manual_seed(12345); // another stream in between changes nothing
        let b = masks(7, 2, 3, 0.25, 256, &[128, 64], Device::Cpu).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].size(), [256, 128]);
        assert!(a.iter().zip(&b).all(|(x, y)| x.equal(y)));
        let other = masks(7, 2, 4, 0.25, 256, &[128, 64], Device::Cpu).unwrap();
        assert!(!a[0].equal(&other[0]));
        // Values 0 or 1/0.75, about three quarters kept.
        let kept = a[0].ne(0.0).to_kind(Kind::Double).mean(Kind::Double);
        let kept = kept.double_value(&[]);
        assert!((kept - 0.75).abs() < 0.02, "kept {kept}");
        let max = a[0].max().double_value(&[]);
        assert!((max - 1.0 / 0.75).abs() < 1e-6);
        assert!(masks(7, 2, 3, 0.0, 256, &[128], Device::Cpu)
            .unwrap()
            .is_empty());
    }
}
