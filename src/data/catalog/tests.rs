//! Catalog tests on copies of the shared datasets.
use super::*;
use std::path::Path;

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

#[test]
fn symlinks_out_of_the_data_dir_name_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = copy_mnist(tmp.path(), "outside", &FILES);
    let data = tmp.path().join("data");
    copy_mnist(&data, "inside", &FILES);
    // A folder linking out, and a folder whose one file links out.
    std::os::unix::fs::symlink(&outside, data.join("escape")).unwrap();
    let half = copy_mnist(&data, "half", &FILES[1..]);
    let gz = format!("{}.gz", FILES[0]);
    std::os::unix::fs::symlink(outside.join(&gz), half.join(&gz)).unwrap();
    // A link that stays inside is fine.
    std::os::unix::fs::symlink(data.join("inside"), data.join("alias")).unwrap();

    let catalog = Catalog::new(Some(data.clone()));
    assert_eq!(names(&catalog.list()), ["mnist-10k", "alias", "inside"]);
    for name in ["escape", "half"] {
        assert!(
            matches!(catalog.info(name), Err(DataError::Unknown(_))),
            "{name}"
        );
        assert!(
            matches!(catalog.load(name), Err(DataError::Unknown(_))),
            "{name}"
        );
    }
    assert_eq!(catalog.info("alias").unwrap().train_size, 8000);
}
