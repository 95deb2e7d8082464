//! Reading a located dataset: its headers for the info, or every byte.
use std::fs;
use std::io;

use super::idx;
use super::{DataError, DataFile, DatasetInfo, Located, Shape, Source};

impl DataFile {
    /// Only the header: the start of the file, decompressed no further than needed.
    pub(super) fn shape(&self) -> Result<Shape, DataError> {
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
    pub(super) fn read(&self) -> Result<Vec<u8>, DataError> {
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
pub(super) fn read_info(located: &Located) -> Result<DatasetInfo, DataError> {
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
pub(super) fn describe(
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
