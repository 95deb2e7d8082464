//! Datasets as manifests: each file with its SHA-256, hashed once per change
//! of the file (its length and modification time), and the files a worker
//! may then download by digest.
use crate::data::catalog::Catalog;
use crate::data::DataError;
use crate::digest::sha256_of;
use crate::protocol::{FileRef, Manifest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// What is known of the dataset files hashed so far.
#[derive(Default, Clone)]
pub struct Manifests {
    known: Arc<Mutex<Known>>,
}

#[derive(Default)]
struct Known {
    /// A file's digest, while its length and modification time stay.
    hashed: HashMap<PathBuf, (u64, Option<SystemTime>, String)>,
    /// Where the file of a digest is.
    by_sha: HashMap<String, PathBuf>,
}

impl Manifests {
    /// The manifest of dataset `name` in `catalog`.
    pub async fn of(&self, catalog: Catalog, name: &str) -> Result<Manifest, DataError> {
        let (known, name) = (self.known.clone(), name.to_string());
        tokio::task::spawn_blocking(move || manifest(&known, &catalog, &name))
            .await
            .unwrap_or_else(|e| {
                Err(DataError::Io {
                    file: "dataset manifest".into(),
                    source: std::io::Error::other(e.to_string()),
                })
            })
    }

    /// The file whose digest is `sha256`, if a manifest listed it.
    pub fn path_of(&self, sha256: &str) -> Option<PathBuf> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.by_sha.get(sha256).cloned()
    }
}

fn manifest(known: &Mutex<Known>, catalog: &Catalog, name: &str) -> Result<Manifest, DataError> {
    let Some(files) = catalog.files(name)? else {
        return Ok(Manifest {
            name: name.to_string(),
            builtin: true,
            files: Vec::new(),
        });
    };
    let mut listed = Vec::new();
    for (file, path) in files {
        let io = |source| DataError::Io {
            file: format!("{name}/{file}"),
            source,
        };
        let meta = std::fs::metadata(&path).map_err(io)?;
        let stamp = (meta.len(), meta.modified().ok());
        let cached = {
            let known = known.lock().unwrap_or_else(|e| e.into_inner());
            known
                .hashed
                .get(&path)
                .filter(|(len, modified, _)| (*len, *modified) == stamp)
                .map(|(_, _, sha)| sha.clone())
        };
        let sha256 = match cached {
            Some(sha) => sha,
            None => {
                let sha = sha256_of(&path).map_err(io)?;
                let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
                known
                    .hashed
                    .insert(path.clone(), (stamp.0, stamp.1, sha.clone()));
                sha
            }
        };
        known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .by_sha
            .insert(sha256.clone(), path.clone());
        listed.push(FileRef {
            name: file,
            sha256,
            bytes: stamp.0,
        });
    }
    Ok(Manifest {
        name: name.to_string(),
        builtin: false,
        files: listed,
    })
}
