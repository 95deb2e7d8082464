//! Datasets on the worker's host, by manifest: a shared folder (`--data-dir`)
//! whose files have the manifest's digests is used as it is; otherwise each
//! file comes from the local cache, keyed by SHA-256 (downloaded to a
//! temporary file, verified, renamed), and a folder named by the
//! manifest's digest holds links to them, so that what a name means can
//! never change under a trainer that has read it.
use super::remote::{CallError, Remote};
use crate::digest::{hex, Digests};
use crate::protocol::Manifest;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Where a dataset can be read: the catalog folder and the dataset's name in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub root: PathBuf,
    pub name: String,
}

/// The datasets of one worker.
pub struct DataCache {
    /// Folders of links, one per manifest: the catalog of cached datasets.
    root: PathBuf,
    /// The files themselves, named by their SHA-256.
    blobs: PathBuf,
    /// A folder of datasets shared with the server (a mount), if any.
    shared: Option<PathBuf>,
    /// Digests of the files looked at, hashed once per change.
    digests: Digests,
}

impl DataCache {
    /// A cache in `work_dir`, preferring the files of `shared`.
    pub fn new(work_dir: &Path, shared: Option<PathBuf>) -> DataCache {
        DataCache {
            root: work_dir.join("data"),
            blobs: work_dir.join("blobs"),
            shared,
            digests: Digests::default(),
        }
    }

    /// Makes the dataset of `manifest` readable here; where it is.
    pub async fn prepare(
        &self,
        remote: &Remote,
        manifest: &Manifest,
    ) -> Result<Located, CallError> {
        if manifest.builtin {
            return Ok(Located {
                root: self.root.clone(),
                name: manifest.name.clone(),
            });
        }
        if let Some(shared) = &self.shared {
            let folder = shared.join(&manifest.name);
            let all_match = manifest
                .files
                .iter()
                .all(|f| self.has(&folder.join(&f.name), &f.sha256));
            if all_match {
                return Ok(Located {
                    root: shared.clone(),
                    name: manifest.name.clone(),
                });
            }
        }
        let name = format!("{}.{}", manifest.name, &digest(manifest)[..16]);
        let folder = self.root.join(&name);
        let local = |e: std::io::Error| CallError::Refused {
            status: 0,
            message: format!("{}: {e}", folder.display()),
        };
        std::fs::create_dir_all(&folder).map_err(local)?;
        std::fs::create_dir_all(&self.blobs).map_err(local)?;
        for file in &manifest.files {
            let dest = folder.join(&file.name);
            if self.has(&dest, &file.sha256) {
                continue;
            }
            let blob = self.blobs.join(&file.sha256);
            if !self.has(&blob, &file.sha256) {
                if blob.exists() {
                    tracing::warn!(file = %blob.display(), "a cached file does not match its SHA-256; downloading it again");
                }
                let _ = std::fs::remove_file(&blob);
                tracing::info!(dataset = %manifest.name, file = %file.name, bytes = file.bytes, "downloading");
                remote.download_file(&file.sha256, &blob).await?;
            }
            let _ = std::fs::remove_file(&dest);
            std::fs::hard_link(&blob, &dest)
                .or_else(|_| std::fs::copy(&blob, &dest).map(|_| ()))
                .map_err(local)?;
        }
        Ok(Located {
            root: self.root.clone(),
            name,
        })
    }

    /// Whether the file at `path` exists and has digest `sha256`.
    fn has(&self, path: &Path, sha256: &str) -> bool {
        self.digests.of(path).is_ok_and(|(sha, _)| sha == sha256)
    }
}

/// A digest of the manifest's files: names and digests, in order.
fn digest(manifest: &Manifest) -> String {
    let mut hasher = Sha256::new();
    for f in &manifest.files {
        hasher.update(f.name.as_bytes());
        hasher.update([0]);
        hasher.update(f.sha256.as_bytes());
        hasher.update([0]);
    }
    hex(&hasher.finalize())
}
