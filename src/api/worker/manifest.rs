//! Datasets as manifests: each file with its SHA-256, hashed once per change
//! of the file (its length and modification time), and the files a worker
//! may then download by digest.
use crate::data::catalog::Catalog;
use crate::data::DataError;
use crate::digest::Digests;
use crate::protocol::{FileRef, Manifest};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// What is known of the dataset files hashed so far.
#[derive(Default, Clone)]
pub struct Manifests {
    known: Arc<Known>,
}

#[derive(Default)]
struct Known {
    /// Each file's digest, hashed once per change.
    digests: Digests,
    /// Where the file of a digest is.
    by_sha: Mutex<HashMap<String, PathBuf>>,
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
        let by_sha = self.known.by_sha.lock().unwrap_or_else(|e| e.into_inner());
        by_sha.get(sha256).cloned()
    }
}

fn manifest(known: &Known, catalog: &Catalog, name: &str) -> Result<Manifest, DataError> {
    let Some(files) = catalog.files(name)? else {
        return Ok(Manifest {
            name: name.to_string(),
            builtin: true,
            files: Vec::new(),
        });
    };
    let mut listed = Vec::new();
    for (file, path) in files {
        let (sha256, bytes) = known.digests.of(&path).map_err(|source| DataError::Io {
            file: format!("{name}/{file}"),
            source,
        })?;
        known
            .by_sha
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(sha256.clone(), path);
        listed.push(FileRef {
            name: file,
            sha256,
            bytes,
        });
    }
    Ok(Manifest {
        name: name.to_string(),
        builtin: false,
        files: listed,
    })
}
