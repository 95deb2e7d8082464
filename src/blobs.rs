//! Where files that every server must reach live: checkpoints that workers
//! upload (and, later, datasets and kept models). One interface, two
//! places:
//!
//! - a folder (`blob_store = "folder"`, the default on SQLite): files under
//!   `checkpoint_dir`, renamed into place once whole. Several replicas share
//!   it as a volume mounted at the same path.
//! - the database (`blob_store = "database"`, the default on PostgreSQL):
//!   rows of the `blobs` table, so that replicas need nothing shared but
//!   the database, which is backed up with everything else. A file is
//!   held in memory while it is stored or sent, which suits checkpoints of
//!   the networks trained here (a few MB); a folder suits far larger ones.
//!
//! Keys are `<sweep>/<trial>/<attempt>.ckpt`, the folder's own layout.
use crate::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// Which place a server keeps its files in (config `blob_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobPlace {
    Folder,
    Database,
}

/// A trial attempt's checkpoint, as a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckpointKey {
    pub sweep_id: i64,
    pub trial_id: i64,
    pub attempt: i64,
}

impl CheckpointKey {
    fn trial_prefix(sweep_id: i64, trial_id: i64) -> String {
        format!("{sweep_id}/{trial_id}/")
    }

    fn key(&self) -> String {
        format!(
            "{}{}.ckpt",
            Self::trial_prefix(self.sweep_id, self.trial_id),
            self.attempt
        )
    }
}

/// The blob store of a server.
#[derive(Debug, Clone)]
pub enum Blobs {
    Folder(PathBuf),
    Database(Store),
}

/// A stored file, to send.
pub enum Blob {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Blobs {
    /// The store `place` names: files under `folder`, or rows of `store`.
    pub fn new(place: BlobPlace, folder: PathBuf, store: Store) -> Blobs {
        match place {
            BlobPlace::Folder => Blobs::Folder(folder),
            BlobPlace::Database => Blobs::Database(store),
        }
    }

    /// Where an upload of `key` is received before it is kept: beside its
    /// place in a folder (so that keeping it is a rename), else in `spool`.
    pub async fn staging(&self, key: &CheckpointKey, spool: &Path) -> std::io::Result<PathBuf> {
        let (folder, name) = match self {
            Blobs::Folder(root) => (
                root.join(key.sweep_id.to_string())
                    .join(key.trial_id.to_string()),
                format!("{}.ckpt.partial", key.attempt),
            ),
            Blobs::Database(_) => (
                spool.to_path_buf(),
                format!(
                    "{}-{}-{}.ckpt.partial",
                    key.sweep_id, key.trial_id, key.attempt
                ),
            ),
        };
        tokio::fs::create_dir_all(&folder).await?;
        Ok(folder.join(name))
    }

    /// Keeps the whole, checked upload at `staged` as `key`; `staged` is
    /// gone afterwards either way. A folder keeps it at once (renamed into
    /// place); for the database, what is returned (its key and bytes) goes
    /// into the write that records the checkpoint, so that the record and
    /// the file change together or not at all.
    pub async fn keep(
        &self,
        key: &CheckpointKey,
        staged: &Path,
    ) -> Result<Option<(String, Vec<u8>)>, String> {
        let kept = match self {
            Blobs::Folder(root) => {
                let file = root.join(key.key());
                tokio::fs::rename(staged, &file)
                    .await
                    .map(|()| None)
                    .map_err(|e| format!("checkpoint {}: {e}", file.display()))
            }
            Blobs::Database(_) => match tokio::fs::read(staged).await {
                Ok(data) => Ok(Some((key.key(), data))),
                Err(e) => Err(format!("checkpoint {}: {e}", staged.display())),
            },
        };
        let _ = tokio::fs::remove_file(staged).await;
        kept
    }

    /// The file `key`, if stored.
    pub async fn get(&self, key: &CheckpointKey) -> Result<Option<Blob>, StoreError> {
        match self {
            Blobs::Folder(root) => {
                let file = root.join(key.key());
                Ok(file.exists().then_some(Blob::File(file)))
            }
            Blobs::Database(store) => {
                Ok(store.blob(&key.key()).await?.map(|b| Blob::Bytes(b.data)))
            }
        }
    }

    /// Removes the file `key`; best effort.
    pub async fn remove(&self, key: &CheckpointKey) {
        match self {
            Blobs::Folder(root) => {
                let _ = tokio::fs::remove_file(root.join(key.key())).await;
            }
            Blobs::Database(store) => {
                let _ = store.remove_blobs(&key.key()).await;
            }
        }
    }

    /// Removes every file of a trial; best effort.
    pub async fn remove_trial(&self, sweep_id: i64, trial_id: i64) {
        match self {
            Blobs::Folder(root) => {
                let folder = root.join(sweep_id.to_string()).join(trial_id.to_string());
                let _ = tokio::fs::remove_dir_all(folder).await;
            }
            Blobs::Database(store) => {
                let _ = store
                    .remove_blobs(&CheckpointKey::trial_prefix(sweep_id, trial_id))
                    .await;
            }
        }
    }

    /// Removes the files of a deleted sweep (in the database they went with
    /// its rows); a failure is logged.
    pub async fn remove_sweep(&self, sweep_id: i64) {
        if let Blobs::Folder(root) = self {
            let folder = root.join(sweep_id.to_string());
            match tokio::fs::remove_dir_all(&folder).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    tracing::warn!("deleting {}: {e}", folder.display())
                }
                _ => {}
            }
        }
    }

    /// Removes the files of sweeps that are no longer running; best effort.
    pub async fn remove_ended(&self, store: &impl crate::store::Sweeps) {
        match self {
            Blobs::Folder(root) => remove_ended_folders(store, root).await,
            Blobs::Database(db) => {
                if let Err(e) = db.remove_ended_blobs().await {
                    tracing::debug!("removing ended sweeps' files: {e}");
                }
            }
        }
    }
}

/// Deletes the folders of sweeps that are no longer running.
async fn remove_ended_folders(store: &impl crate::store::Sweeps, root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        if let Ok(Some(state)) = store.sweep_state(id).await {
            if state.is_ended() {
                // Best effort: the next pass tries again.
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}
