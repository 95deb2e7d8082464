//! Damaged dataset files give errors naming the file; the server carries on.

use crate::common::{shared_data, spawn_app};
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const FILES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// A copy of the real mnist-10k files under `dir/name`.
fn copy_mnist(dir: &Path, name: &str) -> std::path::PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    for file in FILES {
        std::fs::copy(
            shared_data().join("mnist-10k").join(file),
            folder.join(file),
        )
        .unwrap();
    }
    folder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_truncated_files_are_named_and_nothing_crashes() {
    let data = tempfile::tempdir().unwrap();
    // Truncated: the header reads fine, the pixels stop half-way.
    let cut = copy_mnist(data.path(), "cut");
    let images = std::fs::read(cut.join(FILES[0])).unwrap();
    std::fs::write(cut.join(FILES[0]), &images[..images.len() / 2]).unwrap();
    // Bad magic number in a plain (not gzipped) file.
    let bad = copy_mnist(data.path(), "badmagic");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&std::fs::read(bad.join(FILES[2])).unwrap()[..])
        .read_to_end(&mut plain)
        .unwrap();
    plain[3] = 0x07;
    std::fs::remove_file(bad.join(FILES[2])).unwrap();
    std::fs::write(bad.join("t10k-images-idx3-ubyte"), plain).unwrap();

    let dir = data.path().to_path_buf();
    let app = spawn_app(1, move |c| c.data_dir = Some(dir)).await;
    let (status, body) = app.get("/v1/datasets").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["mnist-10k", "cut"],
        "the unreadable dataset is not offered"
    );

    let (status, body) = app
        .post(
            "/v1/sweeps",
            "application/yaml",
            "dataset: badmagic\nmethod: grid\n",
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("badmagic/t10k-images-idx3-ubyte"),
        "{message}"
    );

    let id = app
        .submit("dataset: cut\nmethod: grid\nparameters:\n  epochs: {value: 1}\n")
        .await;
    let sweep = app.wait_for_sweep(id, Duration::from_secs(120)).await;
    assert_eq!(sweep["trials"]["failed"], 1, "{sweep}");
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let error = trials["trials"][0]["error"].as_str().unwrap();
    assert!(error.contains("cut/train-images-idx3-ubyte.gz"), "{error}");

    // The server and its worker still train.
    let id = app
        .submit("method: grid\nparameters:\n  epochs: {value: 1}\n")
        .await;
    let sweep = app.wait_for_sweep(id, Duration::from_secs(120)).await;
    assert_eq!(sweep["trials"]["completed"], 1, "{sweep}");
    app.stop().await;
}
