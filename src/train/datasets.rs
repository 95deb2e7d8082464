//! The datasets a training thread has read, kept as tensors between trials,
//! and training a trial on one of them by name.
use super::error::guard;
use super::{Job, Listener, Outcome, TestSet, TrainError};
use crate::data::catalog::Catalog;
use crate::data::tensors::{Dataset, Split};
use std::collections::HashMap;

/// Datasets read once per training thread, and the last validation split
/// made. Owns tensors: it stays on the thread that made it.
pub struct Datasets {
    catalog: Catalog,
    loaded: HashMap<String, Dataset>,
    split: Option<((String, u64), Split)>,
}

impl Datasets {
    /// Datasets kept in memory at once; more are read again when needed.
    const KEEP: usize = 2;

    /// None read yet; they are found in `catalog` when first trained on.
    pub fn new(catalog: Catalog) -> Datasets {
        Datasets {
            catalog,
            loaded: HashMap::new(),
            split: None,
        }
    }

    /// Trains `job` on the dataset `name`, split into train and validation
    /// sets by `sweep_seed` (the same split for every trial of a sweep),
    /// evaluating the test set at the end. See [`super::train`].
    pub fn train(
        &mut self,
        name: &str,
        sweep_seed: u64,
        validation_fraction: f64,
        job: &Job,
        listener: &mut impl Listener,
    ) -> Result<Outcome, TrainError> {
        let this = &mut *self;
        let (dataset, split) = guard(move || this.split(name, sweep_seed, validation_fraction))?;
        let test = TestSet {
            x: &dataset.test_x,
            y: &dataset.test_y,
        };
        let classes = dataset.info.classes as i64;
        super::train(job, split, &test, classes, listener)
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
                self.loaded.clear();
            }
            self.loaded.insert(name.to_string(), Dataset::from_raw(raw));
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
