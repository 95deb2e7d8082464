//! From a dataset name to its files, never outside the data directory: a name
//! is one plain folder name, and the folder and each file, symlinks followed,
//! must resolve inside the data directory, so that a link pointing out of it
//! names nothing and nothing outside is ever opened.
use std::path::Path;

use super::{DataFile, Located, Source, FILES};

/// Why a folder of the data directory is not a dataset.
pub(super) enum Absent {
    /// It holds none of the files (or is not there): not a dataset at all.
    Empty,
    /// It holds some of the files; these are missing.
    Partial(Vec<String>),
    /// It, or one of its files, resolves outside the data directory.
    Outside(String),
}

/// `[A-Za-z0-9][A-Za-z0-9._-]*`: a plain folder name, never `..`, a path or a hidden folder.
pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The four files of `dir/name`, plain preferred over `.gz`, each resolved
/// (symlinks followed) to a path inside `dir`.
pub(super) fn locate_in(dir: &Path, name: &str) -> Result<Located, Absent> {
    if !valid_name(name) {
        return Err(Absent::Empty);
    }
    let root = dir.canonicalize().map_err(|_| Absent::Empty)?;
    let folder = dir.join(name);
    let real_folder = folder.canonicalize().map_err(|_| Absent::Empty)?;
    let inside = |path: &Path| path.starts_with(&root) && path != root;
    if !inside(&real_folder) {
        return Err(Absent::Outside(folder.display().to_string()));
    }
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for file in FILES {
        let gz = format!("{file}.gz");
        let Some(f) = [file, gz.as_str()]
            .into_iter()
            .find(|f| folder.join(f).is_file())
        else {
            missing.push(format!("{name}/{file}[.gz]"));
            continue;
        };
        let path = folder.join(f);
        let real = path.canonicalize().map_err(|_| Absent::Empty)?;
        if !inside(&real) {
            return Err(Absent::Outside(path.display().to_string()));
        }
        found.push(DataFile {
            name: format!("{name}/{f}"),
            source: Source::Disk(real),
        });
    }
    if found.is_empty() {
        return Err(Absent::Empty);
    }
    let files = found.try_into().map_err(|_| Absent::Partial(missing))?;
    Ok(Located {
        name: name.to_string(),
        source: folder.display().to_string(),
        files,
    })
}
