//! A trial's state after an epoch: the network's weights, the optimizer's
//! buffers, and how far it got. Written atomically (temporary file, fsync,
//! rename, fsync of the folder), so a crash leaves the previous checkpoint
//! or the new one, never a torn file.
use super::Optimizer;
use std::fs::File;
use std::path::Path;
use tch::nn::VarStore;
use tch::Tensor;

/// Where training stood after an epoch, as read back from a checkpoint.
pub struct Checkpoint {
    /// The last epoch trained.
    pub epoch: i64,
    /// Optimizer steps taken, which numbers the training-loss samples.
    pub step: i64,
    tensors: Vec<(String, Tensor)>,
}

const MODEL: &str = "model.";
const OPTIMIZER: &str = "optimizer.";

/// Saves the state after `epoch` to `path`, replacing what was there.
pub fn save(
    path: &Path,
    epoch: i64,
    step: i64,
    vs: &VarStore,
    optimizer: &Optimizer,
) -> Result<(), String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        format!("checkpoint {}: {what}: {e}", path.display())
    };
    let mut tensors = vec![
        ("meta.epoch".to_string(), Tensor::from(epoch)),
        ("meta.step".to_string(), Tensor::from(step)),
    ];
    for (name, t) in vs.variables() {
        tensors.push((format!("{MODEL}{name}"), t));
    }
    for (name, t) in optimizer.state() {
        tensors.push((format!("{OPTIMIZER}{name}"), t));
    }
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|e| fail("creating its folder", &e))?;
    let partial = path.with_extension(format!("partial-{}", std::process::id()));
    Tensor::save_multi(&tensors, &partial).map_err(|e| fail("writing", &e))?;
    File::open(&partial)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("syncing", &e))?;
    std::fs::rename(&partial, path).map_err(|e| fail("renaming", &e))?;
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("syncing its folder", &e))?;
    Ok(())
}

/// Reads the checkpoint at `path`; None when there is none, an error when
/// it cannot be read or lacks its header.
pub fn load(path: &Path) -> Result<Option<Checkpoint>, String> {
    if !path.exists() {
        return Ok(None);
    }
    let tensors =
        Tensor::load_multi(path).map_err(|e| format!("checkpoint {}: {e}", path.display()))?;
    let scalar = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.int64_value(&[]))
            .ok_or_else(|| format!("checkpoint {}: `{name}` is missing", path.display()))
    };
    Ok(Some(Checkpoint {
        epoch: scalar("meta.epoch")?,
        step: scalar("meta.step")?,
        tensors,
    }))
}

impl Checkpoint {
    /// Copies the saved weights into `vs` and the saved buffers into
    /// `optimizer`. Everything is checked first: on an error (the checkpoint
    /// is of another network) nothing was changed.
    pub fn restore(&self, vs: &mut VarStore, optimizer: &mut Optimizer) -> Result<(), String> {
        let saved = |prefix: &str, name: &str| {
            self.tensors
                .iter()
                .find(|(n, _)| n.strip_prefix(prefix) == Some(name))
                .map(|(_, t)| t)
        };
        let mut pairs = Vec::new();
        for (name, var) in vs.variables() {
            pairs.push((saved(MODEL, &name), var, name));
        }
        for (name, buffer) in optimizer.state() {
            pairs.push((saved(OPTIMIZER, &name), buffer, name));
        }
        let count = |prefix: &str| {
            self.tensors
                .iter()
                .filter(|(n, _)| n.starts_with(prefix))
                .count()
        };
        if count(MODEL) + count(OPTIMIZER) != pairs.len() {
            return Err("the checkpoint is of another network or optimizer".into());
        }
        for (from, to, name) in &pairs {
            if from.map(|t| t.size()) != Some(to.size()) {
                return Err(format!("the checkpoint has no `{name}` of its shape"));
            }
        }
        tch::no_grad(|| {
            for (from, mut to, _) in pairs {
                to.copy_(from.expect("checked above"));
            }
        });
        optimizer.reload();
        Ok(())
    }
}
