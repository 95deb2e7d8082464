//! SHA-256 digests as the worker protocol writes them: lowercase hex.
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// The SHA-256 of a file, read in chunks.
pub fn sha256_of(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            return Ok(hex(&hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// A file's length and modification time: whether it changed.
type Stamp = (u64, Option<SystemTime>);

/// Files' digests, each hashed again only when its length or modification
/// time changed: dataset files are tens of megabytes, and are looked at at
/// every claim (on the server) and every trial (on a worker).
#[derive(Default)]
pub struct Digests {
    known: Mutex<HashMap<PathBuf, (Stamp, String)>>,
}

impl Digests {
    /// The file's SHA-256 and length.
    pub fn of(&self, path: &Path) -> std::io::Result<(String, u64)> {
        let meta = std::fs::metadata(path)?;
        let stamp = (meta.len(), meta.modified().ok());
        let cached = self.lock().get(path).filter(|(s, _)| *s == stamp).cloned();
        if let Some((_, sha)) = cached {
            return Ok((sha, stamp.0));
        }
        let sha = sha256_of(path)?;
        self.lock().insert(path.to_path_buf(), (stamp, sha.clone()));
        Ok((sha, stamp.0))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, (Stamp, String)>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether `text` is a SHA-256 as written here: 64 lowercase hex digits.
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_digest_of_abc_is_the_published_one() {
        // FIPS 180-2, appendix B.1.
        let abc = super::sha256(b"abc");
        assert_eq!(
            abc,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(super::is_sha256(&abc));
        assert!(!super::is_sha256(&abc.to_uppercase()));
    }

    #[test]
    fn a_file_is_hashed_again_once_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"abc").unwrap();
        let digests = super::Digests::default();
        let (first, bytes) = digests.of(&file).unwrap();
        assert_eq!((first.as_str(), bytes), (super::sha256(b"abc").as_str(), 3));
        assert_eq!(digests.of(&file).unwrap().0, first);
        std::fs::write(&file, b"abcd").unwrap();
        assert_eq!(digests.of(&file).unwrap().0, super::sha256(b"abcd"));
    }
}
