//! Finding datasets: the built-in one, embedded in the binary, and one per
//! folder of the data directory holding the four IDX files.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::idx::{self, Images, Labels};
use super::DataError;

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
                Err(missing) if missing.len() == FILES.len() => continue,
                Err(missing) => {
                    tracing::warn!(dataset = %name, missing = ?missing, "skipped: dataset files missing");
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

/// `[A-Za-z0-9][A-Za-z0-9._-]*`: a plain folder name, never `..`, a path or a hidden folder.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
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

/// The four files of `dir/name`, plain preferred over `.gz`, or the names of those missing.
fn locate_in(dir: &Path, name: &str) -> Result<Located, Vec<String>> {
    let folder = dir.join(name);
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for file in FILES {
        let gz = format!("{file}.gz");
        match [file, gz.as_str()]
            .iter()
            .find(|f| folder.join(f).is_file())
        {
            Some(f) => found.push(DataFile {
                name: format!("{name}/{f}"),
                source: Source::Disk(folder.join(f)),
            }),
            None => missing.push(format!("{name}/{file}[.gz]")),
        }
    }
    let files = found.try_into().map_err(|_| missing)?;
    Ok(Located {
        name: name.to_string(),
        source: folder.display().to_string(),
        files,
    })
}

impl DataFile {
    /// Only the header: the start of the file, decompressed no further than needed.
    fn shape(&self) -> Result<Shape, DataError> {
        let header = match &self.source {
            Source::Embedded(bytes) => idx::header_from_reader(*bytes, &self.name)?,
            Source::Disk(path) => {
                let file = fs::File::open(path).map_err(|e| self.io(e))?;
                idx::header_from_reader(file, &self.name)?
            }
        };
        match (header.rows, header.cols) {
            (Some(rows), Some(cols)) => Ok(Shape {
                count: header.count,
                rows,
                cols,
            }),
            _ => Err(DataError::corrupt(
                &self.name,
                "this is an IDX labels file, expected images",
            )),
        }
    }

    /// The whole file, decompressed.
    fn read(&self) -> Result<Vec<u8>, DataError> {
        match &self.source {
            Source::Embedded(bytes) => idx::decompress(bytes, &self.name),
            Source::Disk(path) => {
                let bytes = fs::read(path).map_err(|e| self.io(e))?;
                idx::decompress_vec(bytes, &self.name)
            }
        }
    }

    fn io(&self, source: io::Error) -> DataError {
        DataError::Io {
            file: self.name.clone(),
            source,
        }
    }
}

/// The info of a dataset from its image headers and its labels.
fn read_info(located: &Located) -> Result<DatasetInfo, DataError> {
    let [train_images, train_labels, test_images, test_labels] = &located.files;
    let train = train_images.shape()?;
    let test = test_images.shape()?;
    // Test labels too, so that `classes` agrees with what `load` finds.
    let train_labels = idx::parse_labels(&train_labels.read()?, &train_labels.name)?;
    let test_labels = idx::parse_labels(&test_labels.read()?, &test_labels.name)?;
    describe(
        located,
        train,
        &train_labels.labels,
        test,
        &test_labels.labels,
    )
}

/// Checks that the parts of a dataset fit together and describes it.
fn describe(
    located: &Located,
    train: Shape,
    train_labels: &[u8],
    test: Shape,
    test_labels: &[u8],
) -> Result<DatasetInfo, DataError> {
    let [train_images_file, train_labels_file, test_images_file, test_labels_file] = &located.files;
    for (shape, labels, file) in [
        (&train, train_labels, train_labels_file),
        (&test, test_labels, test_labels_file),
    ] {
        if labels.len() != shape.count {
            return Err(DataError::corrupt(
                &file.name,
                format!("{} labels for {} images", labels.len(), shape.count),
            ));
        }
    }
    // A validation split needs an image on each side, and evaluation a test image.
    if train.count < 2 {
        let reason = format!("{} training images, at least 2 are needed", train.count);
        return Err(DataError::corrupt(&train_images_file.name, reason));
    }
    if test.count == 0 {
        return Err(DataError::corrupt(&test_images_file.name, "no test images"));
    }
    if (test.rows, test.cols) != (train.rows, train.cols) {
        return Err(DataError::corrupt(
            &test_images_file.name,
            format!(
                "images are {}x{} but the training images are {}x{}",
                test.rows, test.cols, train.rows, train.cols
            ),
        ));
    }
    let max_label = train_labels
        .iter()
        .chain(test_labels)
        .max()
        .copied()
        .unwrap_or(0);
    Ok(DatasetInfo {
        name: located.name.clone(),
        source: located.source.clone(),
        train_size: train.count,
        test_size: test.count,
        classes: usize::from(max_label) + 1,
        image_rows: train.rows,
        image_cols: train.cols,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared_data() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data")
    }

    /// Copies the named `.gz` files of the shared mnist-10k into `dir/folder`.
    fn copy_mnist(dir: &Path, folder: &str, files: &[&str]) -> PathBuf {
        let to = dir.join(folder);
        fs::create_dir_all(&to).unwrap();
        for file in files {
            let gz = format!("{file}.gz");
            fs::copy(shared_data().join("mnist-10k").join(&gz), to.join(&gz)).unwrap();
        }
        to
    }

    fn names(infos: &[DatasetInfo]) -> Vec<&str> {
        infos.iter().map(|info| info.name.as_str()).collect()
    }

    fn corrupt_message<T>(result: Result<T, DataError>) -> String {
        match result {
            Err(e @ DataError::Corrupt { .. }) => e.to_string(),
            Err(e) => panic!("expected Corrupt, got {e:?}"),
            Ok(_) => panic!("expected Corrupt, got Ok"),
        }
    }

    #[test]
    fn without_a_data_dir_there_is_the_builtin_only() {
        let builtin = DatasetInfo {
            name: "mnist-10k".into(),
            source: "built-in".into(),
            train_size: 8000,
            test_size: 2000,
            classes: 10,
            image_rows: 28,
            image_cols: 28,
        };
        assert_eq!(Catalog::new(None).list(), vec![builtin.clone()]);
        let missing = Catalog::new(Some("/nonexistent/hypersweep-data".into()));
        assert_eq!(missing.list(), vec![builtin.clone()]);
        assert_eq!(builtin.features(), 784);
    }

    #[test]
    fn lists_the_builtin_then_the_shared_folders() {
        let all = Catalog::new(Some(shared_data())).list();
        // The shared `mnist-10k` folder is skipped: the name is the built-in's.
        assert_eq!(names(&all), ["mnist-10k", "fashion-mnist"]);
        assert_eq!(all[0].source, "built-in");
        let fashion = &all[1];
        assert_eq!(
            (fashion.train_size, fashion.test_size, fashion.classes),
            (60000, 10000, 10)
        );
        assert_eq!((fashion.image_rows, fashion.image_cols), (28, 28));
        assert_eq!(
            fashion.source,
            shared_data().join("fashion-mnist").display().to_string()
        );
    }

    #[test]
    fn loads_agree_with_info() {
        let catalog = Catalog::new(Some(shared_data()));
        for name in [BUILTIN, "fashion-mnist"] {
            let raw = catalog.load(name).unwrap();
            assert_eq!(raw.info, catalog.info(name).unwrap());
            assert_eq!(raw.train_images.pixels.len(), raw.info.train_size * 784);
            assert_eq!(raw.test_labels.labels.len(), raw.info.test_size);
        }
    }

    #[test]
    fn incomplete_mismatched_and_corrupt_folders_are_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        copy_mnist(dir, "complete", &FILES);
        copy_mnist(dir, ".hidden", &FILES);
        copy_mnist(dir, "unrelated", &[]);
        copy_mnist(dir, "partial", &FILES[..3]);
        let mixed = copy_mnist(dir, "mixed", &[FILES[0], FILES[2], FILES[3]]);
        let fashion_labels = shared_data().join("fashion-mnist/train-labels-idx1-ubyte.gz");
        fs::copy(fashion_labels, mixed.join("train-labels-idx1-ubyte.gz")).unwrap();
        let bad_magic = copy_mnist(dir, "bad-magic", &FILES[1..]);
        let mut images = idx::decompress(BUILTIN_FILES[0], "").unwrap();
        images[2] = 0x09;
        fs::write(bad_magic.join(FILES[0]), images).unwrap();

        let catalog = Catalog::new(Some(dir.to_path_buf()));
        assert_eq!(names(&catalog.list()), ["mnist-10k", "complete"]);
        assert_eq!(catalog.info("complete").unwrap().train_size, 8000);
        assert!(matches!(
            catalog.info("partial"),
            Err(DataError::Unknown(_))
        ));
        assert_eq!(
            corrupt_message(catalog.load("mixed")),
            "mixed/train-labels-idx1-ubyte.gz: 60000 labels for 8000 images"
        );
        assert!(corrupt_message(catalog.info("bad-magic"))
            .starts_with("bad-magic/train-images-idx3-ubyte: bad magic 0x00000903"));
    }

    #[test]
    fn truncated_pixels_fail_the_load_naming_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        // The plain file wins over the intact .gz next to it.
        let folder = copy_mnist(tmp.path(), "cut", &FILES);
        let mut images = idx::decompress(BUILTIN_FILES[0], "").unwrap();
        images.truncate(images.len() - 100);
        fs::write(folder.join(FILES[0]), images).unwrap();

        let catalog = Catalog::new(Some(tmp.path().to_path_buf()));
        // Only the header is read for the info; the load reads every pixel.
        assert_eq!(catalog.info("cut").unwrap().train_size, 8000);
        assert_eq!(
            corrupt_message(catalog.load("cut")),
            format!(
                "cut/train-images-idx3-ubyte: truncated: header says 8000 images of 28x28 \
                 but only {} bytes of pixels follow",
                8000 * 784 - 100
            )
        );
    }

    #[test]
    fn names_outside_the_data_dir_are_unknown() {
        let tmp = tempfile::tempdir().unwrap();
        copy_mnist(tmp.path(), "outside", &FILES);
        copy_mnist(tmp.path(), "data/.inside", &FILES);
        let catalog = Catalog::new(Some(tmp.path().join("data")));
        for name in [
            "",
            "..",
            "../outside",
            ".inside",
            "data/../outside",
            "/tmp",
            "outside/",
            "-x",
            "a b",
            "nope",
        ] {
            assert!(
                matches!(catalog.info(name), Err(DataError::Unknown(n)) if n == name),
                "{name}"
            );
            assert!(
                matches!(catalog.load(name), Err(DataError::Unknown(_))),
                "{name}"
            );
        }
        let unknown = Catalog::new(None).info("fashion-mnist").unwrap_err();
        assert_eq!(unknown.to_string(), "unknown dataset `fashion-mnist`");
    }
}
