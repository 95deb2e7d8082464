//! A dataset as normalized tensors (read onto the CPU, then moved to a
//! training device if asked), and its seeded train/validation split.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use super::catalog::{DatasetInfo, RawDataset};
use super::idx::{Images, Labels};

/// A dataset in memory as tensors, read once per worker process and shared by its trials.
pub struct Dataset {
    /// The dataset's description.
    pub info: DatasetInfo,
    /// Training images, `[N, features]` f32, normalized.
    pub train_x: Tensor,
    /// Training labels, `[N]` i64.
    pub train_y: Tensor,
    /// Test images, `[M, features]` f32, normalized like the training images.
    pub test_x: Tensor,
    /// Test labels, `[M]` i64.
    pub test_y: Tensor,
    /// Mean of the training pixels scaled to [0, 1].
    pub mean: f64,
    /// Standard deviation of the training pixels scaled to [0, 1] (1 if they are all equal).
    pub std: f64,
}

/// A training set cut in two: what a trial trains on and what it is scored on.
///
/// The training rows are not copied: they are indices into the dataset's
/// own images, gathered batch by batch, so a worker holds its dataset once
/// however it is split. The validation rows, a small share, are copied.
pub struct Split {
    /// The images the training rows index, `[N, features]` (shared storage).
    pub images: Tensor,
    /// Labels of `images`, `[N]`.
    pub labels: Tensor,
    /// Rows of `images` to train on, `[N - V]` i64, ascending.
    pub train_rows: Tensor,
    /// Validation images, `[V, features]`.
    pub val_x: Tensor,
    /// Validation labels, `[V]`.
    pub val_y: Tensor,
}

impl Split {
    /// Trains on every row of `images`, validates on `val_x` and `val_y`.
    pub fn whole(images: &Tensor, labels: &Tensor, val_x: Tensor, val_y: Tensor) -> Split {
        Split {
            train_rows: Tensor::arange(images.size()[0], (Kind::Int64, images.device())),
            images: images.shallow_clone(),
            labels: labels.shallow_clone(),
            val_x,
            val_y,
        }
    }

    /// Training rows.
    pub fn train_len(&self) -> i64 {
        self.train_rows.size()[0]
    }

    /// Inputs per image.
    pub fn features(&self) -> i64 {
        self.images.size()[1]
    }

    /// Images and labels of `rows` (indices into `images`).
    pub fn gather(&self, rows: &Tensor) -> (Tensor, Tensor) {
        (
            self.images.index_select(0, rows),
            self.labels.index_select(0, rows),
        )
    }

    /// The split on `device`: the same tensors (no copy) where they are
    /// there already, else copies.
    pub fn to_device(&self, device: Device) -> Split {
        Split {
            images: self.images.to_device(device),
            labels: self.labels.to_device(device),
            train_rows: self.train_rows.to_device(device),
            val_x: self.val_x.to_device(device),
            val_y: self.val_y.to_device(device),
        }
    }
}

impl Dataset {
    /// The dataset moved to `device` (its tensors as they are on the CPU
    /// when it is the CPU); its splits are then made there too.
    pub fn to_device(self, device: Device) -> Dataset {
        if device == Device::Cpu && self.train_x.device() == Device::Cpu {
            return self;
        }
        Dataset {
            train_x: self.train_x.to_device(device),
            train_y: self.train_y.to_device(device),
            test_x: self.test_x.to_device(device),
            test_y: self.test_y.to_device(device),
            ..self
        }
    }

    /// Pixels scaled to [0,1], then normalized with the mean and std of the training pixels (the same mean/std applied to test).
    pub fn from_raw(raw: RawDataset) -> Dataset {
        let RawDataset {
            info,
            train_images,
            train_labels,
            test_images,
            test_labels,
        } = raw;
        let (mean, std) = pixel_stats(&train_images.pixels);
        Dataset {
            train_x: normalized(train_images, mean, std),
            train_y: labels(train_labels),
            test_x: normalized(test_images, mean, std),
            test_y: labels(test_labels),
            info,
            mean,
            std,
        }
    }

    /// A seeded train/validation split: `val_fraction` of the training images, at least 1 and at most N - 1, go to validation.
    ///
    /// The permutation is a Fisher–Yates shuffle driven by
    /// `ChaCha8Rng::seed_from_u64(seed)`, so the same seed gives the same
    /// split on every machine and with any libtorch.
    ///
    /// # Panics
    /// If `val_fraction` is not strictly between 0 and 1, or there are fewer
    /// than 2 training images (the catalog never loads such a dataset).
    pub fn split(&self, seed: u64, val_fraction: f64) -> Split {
        assert!(
            val_fraction > 0.0 && val_fraction < 1.0,
            "val_fraction must be strictly between 0 and 1, got {val_fraction}"
        );
        let n = self.train_y.size()[0] as usize;
        assert!(n >= 2, "cannot split {n} training images");
        let val_size = ((n as f64 * val_fraction).round() as usize).clamp(1, n - 1);

        let mut order: Vec<i64> = (0..n as i64).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in (1..n).rev() {
            let j = below(&mut rng, i as u64 + 1) as usize;
            order.swap(i, j);
        }
        let (val, train) = order.split_at_mut(val_size);
        // Sorted, so that rows are gathered in memory order.
        val.sort_unstable();
        train.sort_unstable();
        // On the dataset's device, which gathers its rows there.
        let device = self.train_x.device();
        let val = Tensor::from_slice(val).to_device(device);
        Split {
            images: self.train_x.shallow_clone(),
            labels: self.train_y.shallow_clone(),
            train_rows: Tensor::from_slice(train).to_device(device),
            val_x: self.train_x.index_select(0, &val),
            val_y: self.train_y.index_select(0, &val),
        }
    }
}

/// A uniform integer in `0..bound` (bound > 0), by Lemire's method.
///
/// Hand-written rather than `Rng::random_range` so that a change of rand's
/// sampling algorithm can never change a sweep's splits.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(bound);
        if product as u64 >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Mean and standard deviation of the pixels scaled to [0, 1].
fn pixel_stats(pixels: &[u8]) -> (f64, f64) {
    // A histogram makes the statistics exact, whatever the summation order would do.
    let mut histogram = [0u64; 256];
    for &p in pixels {
        histogram[usize::from(p)] += 1;
    }
    let n = pixels.len().max(1) as f64;
    let values = || {
        histogram
            .iter()
            .enumerate()
            .map(|(v, &c)| (v as f64 / 255.0, c as f64))
    };
    let mean = values().map(|(v, c)| v * c).sum::<f64>() / n;
    let var = values().map(|(v, c)| c * (v - mean).powi(2)).sum::<f64>() / n;
    // All pixels equal: dividing by zero would turn every input into NaN.
    let std = if var > 0.0 { var.sqrt() } else { 1.0 };
    (mean, std)
}

/// `[count, rows * cols]` f32 of `(pixel / 255 - mean) / std`.
fn normalized(images: Images, mean: f64, std: f64) -> Tensor {
    let shape = [images.count as i64, (images.rows * images.cols) as i64];
    let bytes = Tensor::from_slice(&images.pixels);
    drop(images);
    let mut x = bytes.to_kind(Kind::Float);
    drop(bytes);
    // In place, so that only one f32 copy of the set ever exists.
    let _ = x.g_mul_scalar_(1.0 / (255.0 * std));
    let _ = x.g_sub_scalar_(mean / std);
    x.view(shape)
}

fn labels(labels: Labels) -> Tensor {
    Tensor::from_slice(&labels.labels).to_kind(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::catalog::{Catalog, BUILTIN};

    fn builtin() -> Dataset {
        Dataset::from_raw(Catalog::new(None).load(BUILTIN).unwrap())
    }

    fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn training_pixels_are_normalized_to_mean_0_std_1() {
        let data = builtin();
        assert_eq!(data.train_x.size(), [8000, 784]);
        assert_eq!(data.test_x.size(), [2000, 784]);
        assert_eq!(
            (data.train_x.kind(), data.train_y.kind()),
            (Kind::Float, Kind::Int64)
        );
        assert!(scalar(&data.train_x.mean(Kind::Double)).abs() < 1e-4);
        assert!((scalar(&data.train_x.to_kind(Kind::Double).std(false)) - 1.0).abs() < 1e-4);
        // Test images share the training statistics, so theirs are close, not exact.
        assert!(scalar(&data.test_x.mean(Kind::Double)).abs() < 0.05);
        // A blank pixel maps to -mean/std; MNIST is mostly blank.
        let blank = -data.mean / data.std;
        assert!((scalar(&data.train_x.min()) - blank).abs() < 1e-5);
        assert!(data.mean > 0.1 && data.mean < 0.15, "mean {}", data.mean);
        assert_eq!(scalar(&data.train_y.max()), 9.0);
    }

    #[test]
    fn splits_are_seeded_and_sized() {
        let mut data = builtin();
        let labels = data.train_y.shallow_clone();
        // Row ids as labels make the split's membership visible.
        data.train_y = Tensor::arange(8000, (Kind::Int64, tch::Device::Cpu));
        let split = data.split(7, 0.1);
        assert_eq!(split.train_len(), 7200);
        assert_eq!(split.val_x.size(), [800, 784]);
        let (train_x, train_y) = split.gather(&split.train_rows);
        assert_eq!(train_x.size(), [7200, 784]);
        assert!(
            split.images.data_ptr() == data.train_x.data_ptr(),
            "the training rows index the dataset's images, not a copy"
        );

        let ids = Tensor::cat(&[&train_y, &split.val_y], 0).sort(0, false).0;
        assert!(
            ids.equal(&data.train_y),
            "the two sides must partition the training set"
        );
        assert!(split
            .val_x
            .equal(&data.train_x.index_select(0, &split.val_y)));

        let again = data.split(7, 0.1);
        assert!(again.val_y.equal(&split.val_y) && again.train_rows.equal(&split.train_rows));
        assert!(!data.split(8, 0.1).val_y.equal(&split.val_y));
        // Pinned: a split must never change under a sweep that is being resumed.
        let first: Vec<i64> = Vec::try_from(split.val_y.narrow(0, 0, 5)).unwrap();
        assert_eq!(first, [33, 38, 53, 65, 67]);

        data.train_y = labels;
        let tiny = data.split(1, 1e-9);
        assert_eq!((tiny.train_len(), tiny.val_y.size()[0]), (7999, 1));
        let huge = data.split(1, 1.0 - 1e-9);
        assert_eq!((huge.train_len(), huge.val_y.size()[0]), (1, 7999));
    }

    #[test]
    #[should_panic(expected = "val_fraction")]
    fn a_fraction_outside_0_1_is_a_bug() {
        builtin().split(0, 1.0);
    }

    #[test]
    fn lemire_sampling_is_uniform_enough() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[below(&mut rng, 3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}
