//! A trial's state after an epoch: the network's weights, the optimizer's
//! buffers, and how far it got. Written atomically (temporary file, fsync,
//! rename, fsync of the folder), so a crash leaves the previous checkpoint
//! or the new one, never a torn file. The tensors are written from the CPU
//! whatever the training device, and read onto the device that resumes.
use super::{Optimizer, TrainError};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use tch::nn::VarStore;
use tch::{Device, Tensor};

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

/// Writes checkpoints on a thread of its own, so that training goes on while
/// one is written and synced (milliseconds, mostly fsync). One at a time: a
/// new one first waits for the previous, so a crash loses at most the one
/// being written. A failed write is logged. Dropping the saver waits for
/// the last one.
pub struct Saver {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Result<(), TrainError>>,
    /// Checkpoints handed over and not yet written.
    in_flight: usize,
    thread: Option<JoinHandle<()>>,
}

/// A checkpoint to write: where, and the named tensors.
type Job = (PathBuf, Vec<(String, Tensor)>);

impl Saver {
    pub fn new() -> Saver {
        let (jobs, inbox) = mpsc::channel::<Job>();
        let (finished, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("checkpoints".into())
            .spawn(move || {
                for (path, tensors) in inbox {
                    let _ = finished.send(write_logged(&path, &tensors));
                }
            })
            .ok();
        Saver {
            jobs: thread.is_some().then_some(jobs),
            done,
            in_flight: 0,
            thread,
        }
    }

    /// Copies the state after `epoch` now and writes it to `path` in the
    /// background, once the previous checkpoint is written. Without a
    /// thread, writes it here.
    pub fn save(
        &mut self,
        path: &Path,
        epoch: i64,
        step: i64,
        vs: &VarStore,
        optimizer: &Optimizer,
    ) {
        // A failed write was logged where it happened; the next one may work.
        let _ = self.wait();
        // Deep copies: training changes the weights in place meanwhile.
        let tensors = tch::no_grad(|| state(epoch, step, vs, optimizer));
        self.save_state(path, tensors);
    }

    /// Writes `tensors` (copies, such as `Group::member_state` makes) to
    /// `path` in the background, after those handed over before; without
    /// waiting for them, so that a group's members are written together.
    pub fn save_state(&mut self, path: &Path, tensors: Vec<(String, Tensor)>) {
        let unsent = match &self.jobs {
            Some(jobs) => jobs.send((path.to_path_buf(), tensors)).err().map(|e| e.0),
            None => Some((path.to_path_buf(), tensors)),
        };
        match unsent {
            Some((path, tensors)) => {
                // Logged there; training goes on without it.
                let _ = write_logged(&path, &tensors);
            }
            None => self.in_flight += 1,
        }
    }

    /// Waits until every checkpoint handed over is on disk; the first
    /// error, if one failed.
    pub fn wait(&mut self) -> Result<(), TrainError> {
        let mut result = Ok(());
        for _ in 0..std::mem::take(&mut self.in_flight) {
            let written = self.done.recv().unwrap_or_else(|_| {
                let stopped = "the checkpoint thread stopped";
                Err(TrainError::CheckpointNotWritten(stopped.into()))
            });
            if result.is_ok() {
                result = written;
            }
        }
        result
    }
}

impl Default for Saver {
    fn default() -> Saver {
        Saver::new()
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the last write.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The named tensors of a checkpoint, copied to the CPU.
fn state(epoch: i64, step: i64, vs: &VarStore, optimizer: &Optimizer) -> Vec<(String, Tensor)> {
    let mut tensors = vec![
        ("meta.epoch".to_string(), Tensor::from(epoch)),
        ("meta.step".to_string(), Tensor::from(step)),
    ];
    for (name, t) in vs.variables() {
        tensors.push((format!("{MODEL}{name}"), cpu_copy(&t)));
    }
    for (name, t) in optimizer.state() {
        tensors.push((format!("{OPTIMIZER}{name}"), cpu_copy(&t)));
    }
    tensors
}

/// A copy of `t` on the CPU: a file any worker reads, whatever its device.
fn cpu_copy(t: &Tensor) -> Tensor {
    match t.device() {
        // `to_device` would hand back `t` itself, which training changes.
        Device::Cpu => t.copy(),
        _ => t.to_device(Device::Cpu),
    }
}

/// Writes `tensors` to `path` atomically, logging how long it took or why
/// it failed.
fn write_logged(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), TrainError> {
    let started = std::time::Instant::now();
    let written = write(path, tensors);
    match &written {
        Ok(()) => {
            let micros = started.elapsed().as_micros() as u64;
            tracing::debug!(micros, "checkpoint written");
        }
        Err(e) => tracing::warn!("{e}"),
    }
    written
}

/// Writes `tensors` to `path` atomically.
fn write(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), TrainError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        TrainError::CheckpointNotWritten(format!("checkpoint {}: {what}: {e}", path.display()))
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder).map_err(|e| fail("creating its folder", &e))?;
    let partial = partial_path(path);
    // Serialised in memory, then written by Rust: libtorch's own file writer
    // throws from a destructor when the disk is full, which aborts the worker.
    let mut bytes = Vec::new();
    Tensor::save_multi_to_stream(tensors, &mut bytes).map_err(|e| fail("serialising", &e))?;
    File::create(&partial)
        .and_then(|mut f| {
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .map_err(|e| fail("writing", &e))?;
    std::fs::rename(&partial, path).map_err(|e| fail("renaming", &e))?;
    File::open(folder)
        .and_then(|f| f.sync_all())
        .map_err(|e| fail("syncing its folder", &e))?;
    Ok(())
}

/// Writes named tensors (a fused member's state, `Group::member_state`) to
/// `path` atomically, as a checkpoint of a lone trial is written.
pub fn write_state(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), TrainError> {
    write_logged(path, tensors)
}

/// Where the checkpoint for `path` is written before it is renamed there.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    path.with_extension(format!("partial-{}", std::process::id()))
}

/// Reads the checkpoint at `path` onto the CPU; None when there is none,
/// `BadCheckpoint` when it cannot be read (torn, garbage) or lacks its header.
pub fn load(path: &Path) -> Result<Option<Checkpoint>, TrainError> {
    load_on(path, Device::Cpu)
}

/// [`load`] onto `device`, wherever the checkpoint was written.
pub fn load_on(path: &Path, device: Device) -> Result<Option<Checkpoint>, TrainError> {
    if !path.exists() {
        return Ok(None);
    }
    let bad = |e: &dyn std::fmt::Display| {
        TrainError::BadCheckpoint(format!("checkpoint {}: {e}", path.display()))
    };
    let tensors =
        Tensor::load_multi_with_device(path, device).map_err(|e| match TrainError::from(e) {
            oom @ TrainError::OutOfMemory(_) => oom,
            e => bad(&e),
        })?;
    let scalar = |name: &str| {
        tensors
            .iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| bad(&format_args!("`{name}` is missing")))
            .and_then(|(_, t)| t.f_int64_value(&[]).map_err(|e| bad(&e)))
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
    pub fn restore(&self, vs: &mut VarStore, optimizer: &mut Optimizer) -> Result<(), TrainError> {
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
            let other = "the checkpoint is of another network or optimizer";
            return Err(TrainError::BadCheckpoint(other.into()));
        }
        for (from, to, name) in &pairs {
            if from.map(|t| t.size()) != Some(to.size()) {
                let missing = format!("the checkpoint has no `{name}` of its shape");
                return Err(TrainError::BadCheckpoint(missing));
            }
        }
        tch::no_grad(|| {
            for (from, mut to, _) in pairs {
                to.f_copy_(from.expect("checked above"))?;
            }
            Ok::<_, TrainError>(())
        })?;
        optimizer.reload();
        Ok(())
    }
}
