//! The IDX file format (the format of the MNIST files): parsing and validation.
//!
//! A file is a big-endian header (magic, count, and for images rows and cols)
//! followed by exactly `count` labels or `count * rows * cols` pixels, one byte
//! each. Every check happens before anything is allocated from a header value,
//! so hostile bytes can cost at most the memory they already occupy.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::DataError;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const IMAGES_HEADER_LEN: usize = 16;
const LABELS_HEADER_LEN: usize = 8;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The images of an IDX images file: `count` images of `rows x cols` pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Pixel rows per image.
    pub rows: usize,
    /// Pixel columns per image.
    pub cols: usize,
    /// `count * rows * cols` pixels, image after image.
    pub pixels: Vec<u8>,
}

/// The labels of an IDX labels file, one class index per image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// One label per image.
    pub labels: Vec<u8>,
}

/// The header of an IDX file: rows and cols are `Some` for images, `None` for labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Number of images or labels.
    pub count: usize,
    /// Pixel rows per image (images files only).
    pub rows: Option<usize>,
    /// Pixel columns per image (images files only).
    pub cols: Option<usize>,
}

/// Parses and validates an (uncompressed) IDX images file.
pub fn parse_images(bytes: &[u8], file: &str) -> Result<Images, DataError> {
    let header = parse_header(bytes, file)?;
    let (Some(rows), Some(cols)) = (header.rows, header.cols) else {
        return Err(DataError::corrupt(
            file,
            "this is an IDX labels file (magic 0x00000801), expected images (0x00000803)",
        ));
    };
    let count = header.count;
    let what = format!("{count} images of {rows}x{cols}");
    let len = count.checked_mul(rows).and_then(|n| n.checked_mul(cols));
    let pixels = payload(bytes, IMAGES_HEADER_LEN, len, &what, "pixels", file)?;
    Ok(Images {
        count,
        rows,
        cols,
        pixels: pixels.to_vec(),
    })
}

/// Parses and validates an (uncompressed) IDX labels file.
pub fn parse_labels(bytes: &[u8], file: &str) -> Result<Labels, DataError> {
    let header = parse_header(bytes, file)?;
    if header.rows.is_some() {
        return Err(DataError::corrupt(
            file,
            "this is an IDX images file (magic 0x00000803), expected labels (0x00000801)",
        ));
    }
    let what = format!("{} labels", header.count);
    let labels = payload(
        bytes,
        LABELS_HEADER_LEN,
        Some(header.count),
        &what,
        "labels",
        file,
    )?;
    Ok(Labels {
        labels: labels.to_vec(),
    })
}

/// gunzip if the bytes start with the gzip magic, else return as is
pub fn decompress(bytes: &[u8], file: &str) -> Result<Vec<u8>, DataError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    // Multi-member, like `gunzip`: concatenated .gz files are still one file.
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| DataError::corrupt(file, format!("gzip: {e}")))?;
    Ok(out)
}

/// Like [`decompress`], but hands back a plain file's buffer without copying it.
pub(crate) fn decompress_vec(bytes: Vec<u8>, file: &str) -> Result<Vec<u8>, DataError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        decompress(&bytes, file)
    } else {
        Ok(bytes)
    }
}

/// Reads only the header (decompressing only the first bytes of a .gz): (magic-checked) count and, for images, rows/cols.
pub fn read_header(path: &Path) -> Result<Header, DataError> {
    let file = display_name(path);
    let reader = File::open(path).map_err(|source| DataError::Io {
        file: file.clone(),
        source,
    })?;
    header_from_reader(reader, &file)
}

/// Reads the header from the start of a plain or gzipped stream.
pub(crate) fn header_from_reader(mut reader: impl Read, file: &str) -> Result<Header, DataError> {
    let mut start = Vec::with_capacity(GZIP_MAGIC.len());
    (&mut reader)
        .take(GZIP_MAGIC.len() as u64)
        .read_to_end(&mut start)
        .map_err(|e| read_error(e, false, file))?;
    let gzipped = start.starts_with(&GZIP_MAGIC);
    let stream = Cursor::new(start).chain(reader);
    let mut head = Vec::with_capacity(IMAGES_HEADER_LEN);
    let read = if gzipped {
        MultiGzDecoder::new(stream)
            .take(IMAGES_HEADER_LEN as u64)
            .read_to_end(&mut head)
    } else {
        stream.take(IMAGES_HEADER_LEN as u64).read_to_end(&mut head)
    };
    read.map_err(|e| read_error(e, gzipped, file))?;
    parse_header(&head, file)
}

/// A file's name for messages: its folder and file name, e.g. `fashion-mnist/train-images-idx3-ubyte.gz`.
fn display_name(path: &Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    match path.parent().and_then(Path::file_name) {
        Some(dir) => format!("{}/{name}", dir.to_string_lossy()),
        None => name.into_owned(),
    }
}

/// Decoder errors mean bad bytes; anything else is the disk's fault.
fn read_error(e: io::Error, gzipped: bool, file: &str) -> DataError {
    let bad_data = matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    );
    if gzipped && bad_data {
        DataError::corrupt(file, format!("gzip: {e}"))
    } else {
        DataError::Io {
            file: file.to_string(),
            source: e,
        }
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at + 4)?;
    Some(u32::from_be_bytes(word.try_into().ok()?))
}

fn parse_header(bytes: &[u8], file: &str) -> Result<Header, DataError> {
    let magic = be_u32(bytes, 0).ok_or_else(|| {
        DataError::corrupt(
            file,
            format!("{} bytes are too short for an IDX header", bytes.len()),
        )
    })?;
    let needed = match magic {
        IMAGES_MAGIC => IMAGES_HEADER_LEN,
        LABELS_MAGIC => LABELS_HEADER_LEN,
        other => {
            return Err(DataError::corrupt(
                file,
                format!(
                    "bad magic 0x{other:08x}: not an IDX images (0x00000803) or labels (0x00000801) file"
                ),
            ))
        }
    };
    if bytes.len() < needed {
        return Err(DataError::corrupt(
            file,
            format!("truncated header: {} of {needed} bytes", bytes.len()),
        ));
    }
    // In range after the length check; the default is never used.
    let field = |at| be_u32(bytes, at).unwrap_or_default() as usize;
    let count = field(4);
    if magic == LABELS_MAGIC {
        return Ok(Header {
            count,
            rows: None,
            cols: None,
        });
    }
    let (rows, cols) = (field(8), field(12));
    if rows == 0 || cols == 0 {
        return Err(DataError::corrupt(
            file,
            format!("image size {rows}x{cols} has no pixels"),
        ));
    }
    Ok(Header {
        count,
        rows: Some(rows),
        cols: Some(cols),
    })
}

/// The payload after the header, which must be exactly `len` bytes (`None`: the size overflowed).
fn payload<'a>(
    bytes: &'a [u8],
    header_len: usize,
    len: Option<usize>,
    what: &str,
    unit: &str,
    file: &str,
) -> Result<&'a [u8], DataError> {
    let Some(len) = len else {
        return Err(DataError::corrupt(
            file,
            format!("header says {what}: too large"),
        ));
    };
    let found = bytes.len().saturating_sub(header_len);
    if found < len {
        return Err(DataError::corrupt(
            file,
            format!("truncated: header says {what} but only {found} bytes of {unit} follow"),
        ));
    }
    if found > len {
        return Err(DataError::corrupt(
            file,
            format!("{} extra bytes after the data", found - len),
        ));
    }
    Ok(&bytes[header_len..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::catalog::BUILTIN_FILES;

    /// The built-in file `i` (train images, train labels, test images, test labels), gunzipped.
    fn builtin(i: usize) -> Vec<u8> {
        decompress(BUILTIN_FILES[i], "builtin").unwrap()
    }

    fn corrupt_reason(result: Result<impl std::fmt::Debug, DataError>) -> String {
        match result {
            Err(e @ DataError::Corrupt { .. }) => e.to_string(),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_builtin_files() {
        let train = parse_images(&builtin(0), "x").unwrap();
        assert_eq!((train.count, train.rows, train.cols), (8000, 28, 28));
        assert_eq!(train.pixels.len(), 8000 * 28 * 28);
        let labels = parse_labels(&builtin(1), "x").unwrap();
        assert_eq!(labels.labels.len(), 8000);
        assert_eq!(labels.labels.iter().max(), Some(&9));
        assert_eq!(parse_images(&builtin(2), "x").unwrap().count, 2000);
        assert_eq!(parse_labels(&builtin(3), "x").unwrap().labels.len(), 2000);
    }

    #[test]
    fn truncated_and_padded_files_are_corrupt() {
        let mut bytes = builtin(2);
        bytes.truncate(bytes.len() - 1000);
        let reason = corrupt_reason(parse_images(&bytes, "d/t10k-images-idx3-ubyte"));
        let expected = format!(
            "d/t10k-images-idx3-ubyte: truncated: header says 2000 images of 28x28 but only {} bytes of pixels follow",
            2000 * 784 - 1000
        );
        assert_eq!(reason, expected);

        let mut bytes = builtin(3);
        bytes.extend_from_slice(&[0, 0, 0]);
        let reason = corrupt_reason(parse_labels(&bytes, "d/labels"));
        assert_eq!(reason, "d/labels: 3 extra bytes after the data");
    }

    #[test]
    fn bad_magic_and_wrong_kind_are_corrupt() {
        let mut bytes = builtin(3);
        bytes[3] = 0x02;
        assert!(corrupt_reason(parse_labels(&bytes, "f")).contains("bad magic 0x00000802"));
        assert!(corrupt_reason(parse_labels(&builtin(2), "f")).contains("expected labels"));
        assert!(corrupt_reason(parse_images(&builtin(3), "f")).contains("expected images"));
    }

    #[test]
    fn empty_or_overflowing_image_sizes_are_corrupt() {
        let mut bytes = builtin(2);
        bytes[8..12].copy_from_slice(&0u32.to_be_bytes());
        assert!(corrupt_reason(parse_images(&bytes, "f")).contains("0x28 has no pixels"));
        // 2^96 pixels: the product overflows and must not reach an allocation.
        bytes[4..16].copy_from_slice(&[0xff; 12]);
        assert!(corrupt_reason(parse_images(&bytes, "f")).contains("too large"));
    }

    #[test]
    fn no_prefix_of_a_file_parses_or_panics() {
        // Three test images, so every prefix can be tried quickly.
        let mut images = builtin(2)[..IMAGES_HEADER_LEN + 3 * 784].to_vec();
        images[4..8].copy_from_slice(&3u32.to_be_bytes());
        for len in 0..images.len() {
            assert!(parse_images(&images[..len], "f").is_err(), "prefix {len}");
            assert!(parse_labels(&images[..len], "f").is_err(), "prefix {len}");
        }
        assert_eq!(parse_images(&images, "f").unwrap().count, 3);
        let labels = builtin(3);
        for len in 0..labels.len() {
            assert!(parse_labels(&labels[..len], "f").is_err(), "prefix {len}");
        }
    }

    #[test]
    fn damaged_gzip_is_corrupt_and_never_panics() {
        let gz = BUILTIN_FILES[3];
        let reason = corrupt_reason(decompress(&gz[..gz.len() / 2], "f.gz"));
        assert!(reason.starts_with("f.gz: gzip: "), "{reason}");
        for at in (0..gz.len()).step_by(7) {
            let mut damaged = gz.to_vec();
            damaged[at] ^= 0x55;
            if let Ok(bytes) = decompress(&damaged, "f.gz") {
                let _ = parse_labels(&bytes, "f.gz");
            }
            let _ = header_from_reader(&damaged[..], "f.gz");
        }
    }

    #[test]
    fn read_header_reads_plain_and_gzipped_files() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("train-images-idx3-ubyte.gz");
        std::fs::write(&gz, BUILTIN_FILES[0]).unwrap();
        let header = read_header(&gz).unwrap();
        assert_eq!(
            header,
            Header {
                count: 8000,
                rows: Some(28),
                cols: Some(28)
            }
        );

        let plain = dir.path().join("t10k-labels-idx1-ubyte");
        std::fs::write(&plain, builtin(3)).unwrap();
        let header = read_header(&plain).unwrap();
        assert_eq!(
            header,
            Header {
                count: 2000,
                rows: None,
                cols: None
            }
        );

        std::fs::write(&plain, &builtin(2)[..10]).unwrap();
        let folder = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let reason = corrupt_reason(read_header(&plain));
        assert_eq!(
            reason,
            format!("{folder}/t10k-labels-idx1-ubyte: truncated header: 10 of 16 bytes")
        );

        let missing = read_header(&dir.path().join("nothing"));
        assert!(
            matches!(missing, Err(DataError::Io { file, .. }) if file == format!("{folder}/nothing"))
        );
    }
}
