//! Finding datasets: the built-in one, embedded in the binary, and one per
//! folder of the data directory holding the four IDX files.

use std::fs;
use std::io;
use std::path::PathBuf;

use super::idx::{self, Images, Labels};
use super::DataError;

mod locate;
mod read;
use locate::{locate_in, valid_name, Absent};
use read::{describe, read_info};

/// The name of the dataset embedded in the binary.
pub const BUILTIN: &str = "mnist-10k";

/// The files of a dataset, in the order train images, train labels, test images, test labels.
const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The embedded bytes of one of the built-in dataset's files.
macro_rules! builtin_file {
    ($file:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/assets/mnist-10k/",
            $file,
            ".gz"
        ))
    };
}

/// The built-in dataset's gzipped files, in [`FILES`] order.
pub(crate) const BUILTIN_FILES: [&[u8]; 4] = [
    builtin_file!("train-images-idx3-ubyte"),
    builtin_file!("train-labels-idx1-ubyte"),
    builtin_file!("t10k-images-idx3-ubyte"),
    builtin_file!("t10k-labels-idx1-ubyte"),
];

/// What a client sees of a dataset: its name, origin and shape.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct DatasetInfo {
    /// The dataset's name: `mnist-10k` or its folder's name.
    pub name: String,
    /// `built-in`, or the path of the dataset's folder.
    pub source: String,
    /// Number of training images.
    pub train_size: usize,
    /// Number of test images.
    pub test_size: usize,
    /// Number of classes: the largest label plus one.
    pub classes: usize,
    /// Pixel rows per image.
    pub image_rows: usize,
    /// Pixel columns per image.
    pub image_cols: usize,
}

impl DatasetInfo {
    /// Inputs per image: rows times cols.
    pub fn features(&self) -> usize {
        self.image_rows * self.image_cols
    }
}

/// The raw, validated data of one dataset
pub struct RawDataset {
    /// The dataset's description, consistent with the data below.
    pub info: DatasetInfo,
    /// Training images.
    pub train_images: Images,
    /// One label per training image.
    pub train_labels: Labels,
    /// Test images, the same shape as the training images.
    pub test_images: Images,
    /// One label per test image.
    pub test_labels: Labels,
}

/// The datasets available: the built-in one and those in the data directory.
#[derive(Debug, Clone)]
pub struct Catalog {
    data_dir: Option<PathBuf>,
}

/// Where the bytes of one file of a dataset are.
enum Source {
    Embedded(&'static [u8]),
    Disk(PathBuf),
}

/// One file of a dataset, with the name its errors carry.
struct DataFile {
    name: String,
    source: Source,
}

/// A dataset found but not yet read.
struct Located {
    name: String,
    source: String,
    files: [DataFile; 4],
}

/// How many images of which size a file holds.
struct Shape {
    count: usize,
    rows: usize,
    cols: usize,
}

impl Catalog {
    /// A catalog of the built-in dataset and the folders of `data_dir`, if any.
    pub fn new(data_dir: Option<PathBuf>) -> Self {
        Catalog { data_dir }
    }

    /// Every dataset: the built-in one first, then each subfolder of data_dir (sorted by name) that holds the four files.
    ///
    /// Folders with some but not all files, or with a corrupt header, are
    /// skipped with a warning naming the file; so is a folder named like the
    /// built-in dataset. A missing data_dir means just the built-in.
    pub fn list(&self) -> Vec<DatasetInfo> {
        let mut all = Vec::new();
        match self.info(BUILTIN) {
            Ok(info) => all.push(info),
            Err(e) => tracing::warn!(error = %e, "built-in dataset skipped"),
        }
        let Some(dir) = &self.data_dir else {
            return all;
        };
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot read the data directory");
                }
                return all;
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| valid_name(name))
            .collect();
        names.sort();
        for name in names {
            if name == BUILTIN {
                tracing::warn!(folder = %dir.join(&name).display(), "skipped: its name is the built-in dataset's");
                continue;
            }
            let located = match locate_in(dir, &name) {
                Ok(located) => located,
                // Any folder may sit in the data directory; only a partial dataset is worth a warning.
                Err(Absent::Empty) => continue,
                Err(Absent::Partial(missing)) => {
                    tracing::warn!(dataset = %name, missing = ?missing, "skipped: dataset files missing");
                    continue;
                }
                Err(Absent::Outside(path)) => {
                    tracing::warn!(dataset = %name, path = %path, "skipped: resolves outside the data directory");
                    continue;
                }
            };
            match read_info(&located) {
                Ok(info) => all.push(info),
                Err(e) => {
                    tracing::warn!(dataset = %name, error = %e, "skipped: unreadable dataset")
                }
            }
        }
        all
    }

    /// Info for one dataset by name (headers + labels only, not pixels), Err(Unknown) if absent.
    pub fn info(&self, name: &str) -> Result<DatasetInfo, DataError> {
        read_info(&self.locate(name)?)
    }

    /// Fully read and validate a dataset: image and label counts match, train and test images share a shape.
    pub fn load(&self, name: &str) -> Result<RawDataset, DataError> {
        let located = self.locate(name)?;
        let [train_images, train_labels, test_images, test_labels] = &located.files;
        // Each decompressed buffer is dropped as soon as it is parsed.
        let train_images = idx::parse_images(&train_images.read()?, &train_images.name)?;
        let train_labels = idx::parse_labels(&train_labels.read()?, &train_labels.name)?;
        let test_images = idx::parse_images(&test_images.read()?, &test_images.name)?;
        let test_labels = idx::parse_labels(&test_labels.read()?, &test_labels.name)?;
        let shape = |images: &Images| Shape {
            count: images.count,
            rows: images.rows,
            cols: images.cols,
        };
        let info = describe(
            &located,
            shape(&train_images),
            &train_labels.labels,
            shape(&test_images),
            &test_labels.labels,
        )?;
        Ok(RawDataset {
            info,
            train_images,
            train_labels,
            test_images,
            test_labels,
        })
    }

    /// Where a dataset's files are: None for the built-in one (embedded in
    /// every build), else each file's name in its folder and its path
    /// (resolved inside the data directory), in train-images, train-labels,
    /// test-images, test-labels order. What a worker's manifest lists.
    pub fn files(&self, name: &str) -> Result<Option<Vec<(String, PathBuf)>>, DataError> {
        let located = self.locate(name)?;
        let mut files = Vec::new();
        for file in located.files {
            let Source::Disk(path) = file.source else {
                return Ok(None);
            };
            // `name/file`: the file's name within its folder is what follows.
            let base = file
                .name
                .rsplit('/')
                .next()
                .unwrap_or(&file.name)
                .to_string();
            files.push((base, path));
        }
        Ok(Some(files))
    }

    fn locate(&self, name: &str) -> Result<Located, DataError> {
        if name == BUILTIN {
            return Ok(builtin());
        }
        let unknown = || DataError::Unknown(name.to_string());
        // The name check is what keeps a name from leaving the data directory.
        if !valid_name(name) {
            return Err(unknown());
        }
        let dir = self.data_dir.as_deref().ok_or_else(unknown)?;
        locate_in(dir, name).map_err(|_| unknown())
    }
}

fn builtin() -> Located {
    let files = [0, 1, 2, 3].map(|i| DataFile {
        name: format!("{BUILTIN} (built-in)/{}.gz", FILES[i]),
        source: Source::Embedded(BUILTIN_FILES[i]),
    });
    Located {
        name: BUILTIN.to_string(),
        source: "built-in".to_string(),
        files,
    }
}

#[cfg(test)]
mod tests;
