//! The datasets a training thread has read, kept as tensors on its device
//! between trials, and training a trial on one of them by name.
use super::error::guard;
use super::grouped::{GroupMember, Joiners};
use super::{device, Job, Listener, Outcome, TestSet, TrainError};
use crate::data::catalog::Catalog;
use crate::data::tensors::{Dataset, Split};
use std::collections::HashMap;
use tch::Device;

/// Datasets read once per training thread and moved to its device once,
/// and the last validation split made (there too). Owns tensors: it stays
/// on the thread that made it.
pub struct Datasets {
    catalog: Catalog,
    device: Device,
    /// On `device`, by name: a `Datasets` is of one device, so this is the
    /// cache per (dataset, device).
    loaded: HashMap<String, Dataset>,
    split: Option<((String, u64), Split)>,
}

impl Datasets {
    /// Datasets kept in memory at once; more are read again when needed.
    const KEEP: usize = 2;

    /// None read yet; they are found in `catalog` when first trained on,
    /// and trained on on the CPU.
    pub fn new(catalog: Catalog) -> Datasets {
        Datasets::on(catalog, Device::Cpu)
    }

    /// [`Datasets::new`] for training on `device`: each dataset is moved
    /// there once, when first read, and every trial trains there. Whether
    /// the device is there is checked by each `train`.
    pub fn on(catalog: Catalog, device: Device) -> Datasets {
        if device != Device::Cpu {
            // libtorch's CUDA library, loaded before anything trains (see
            // `cuda_devices`); what is missing is told by `train`.
            let _ = device::cuda_devices();
        }
        Datasets {
            catalog,
            device,
            loaded: HashMap::new(),
            split: None,
        }
    }

    /// The device these datasets are kept and trained on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Trains `job` on the dataset `name`, split into train and validation
    /// sets by `sweep_seed` (the same split for every trial of a sweep),
    /// evaluating the test set at the end, on this set's device. See
    /// [`super::train_on`].
    pub fn train(
        &mut self,
        name: &str,
        sweep_seed: u64,
        validation_fraction: f64,
        job: &Job,
        listener: &mut impl Listener,
    ) -> Result<Outcome, TrainError> {
        let device = self.device;
        // Before any dataset is moved to a device that is not there.
        device::check(device)?;
        let this = &mut *self;
        let (dataset, split) = guard(move || this.split(name, sweep_seed, validation_fraction))?;
        let test = TestSet {
            x: &dataset.test_x,
            y: &dataset.test_y,
        };
        let classes = dataset.info.classes as i64;
        super::train_on(device, job, split, &test, classes, listener)
    }

    /// Trains `members` as one fused group on the dataset `name` (split as
    /// for `train`), the group's batches shuffled by `order_seed`, members
    /// of `joiners` taken in at epoch boundaries. See
    /// [`super::grouped::train_group_on`]: each member hears of its end.
    pub fn train_group<'a>(
        &mut self,
        name: &str,
        sweep_seed: u64,
        validation_fraction: f64,
        order_seed: u64,
        members: Vec<GroupMember<'a>>,
        joiners: &mut dyn Joiners<'a>,
    ) {
        let device = self.device;
        let this = &mut *self;
        let found = super::device::check(device)
            .map_err(TrainError::from)
            .and_then(|()| guard(move || this.split(name, sweep_seed, validation_fraction)));
        let (dataset, split) = match found {
            Ok(found) => found,
            Err(e) => {
                for mut m in members {
                    m.listener.on_end(Err(super::grouped::duplicate(&e)));
                }
                return;
            }
        };
        let test = TestSet {
            x: &dataset.test_x,
            y: &dataset.test_y,
        };
        let classes = dataset.info.classes as i64;
        super::grouped::train_group_on(device, order_seed, members, joiners, split, &test, classes)
    }

    /// The dataset `name`, read if it is not in memory, and its split by `seed`.
    fn split(
        &mut self,
        name: &str,
        seed: u64,
        fraction: f64,
    ) -> Result<(&Dataset, &Split), TrainError> {
        if !self.loaded.contains_key(name) {
            let raw = self.catalog.load(name)?;
            if self.loaded.len() >= Self::KEEP {
                self.split = None; // it holds the images of one of them
                self.loaded.clear();
            }
            let dataset = Dataset::from_raw(raw).to_device(self.device);
            self.loaded.insert(name.to_string(), dataset);
        }
        let dataset = &self.loaded[name];
        let key = (name.to_string(), seed);
        if self.split.as_ref().map(|(k, _)| k) != Some(&key) {
            self.split = None; // free the old split before making the new one
            self.split = Some((key, dataset.split(seed, fraction)));
        }
        let split = &self.split.as_ref().expect("split was just made").1;
        Ok((dataset, split))
    }
}
