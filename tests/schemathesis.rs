//! schemathesis (installed by scripts/test.sh) fuzzes every operation of
//! `/v1/openapi.json` against a real server: no response may be a 5xx, and
//! every response must match the schema the document gives it.

use crate::common::spawn_app;
use std::path::PathBuf;

/// The pinned schemathesis CLI of the project's venv.
fn st() -> PathBuf {
    let st = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/st");
    assert!(
        st.is_file(),
        "schemathesis is not installed at {}: `bash scripts/test.sh` installs \
         it before the tests, or run `.venv/bin/pip install schemathesis==4.32.5` \
         (the version scripts/test.sh pins)",
        st.display()
    );
    st
}

/// Runs `st run` on the app's document with extra arguments; panics with its
/// report unless it found nothing.
async fn schemathesis(url: &str, dir: &std::path::Path, extra: &[&str]) {
    let output = tokio::process::Command::new(st())
        // Its cache goes beside the test's database, not into the repository.
        .current_dir(dir)
        .arg("run")
        .arg(format!("{url}/v1/openapi.json"))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "40",
            "--phases",
            "examples,coverage,fuzzing",
            "--request-timeout",
            "20",
            "--seed",
            "1",
            "--no-color",
        ])
        .args(extra)
        .output()
        .await
        .expect("running schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "schemathesis {extra:?} failed:\n{report}"
    );
    assert!(
        report.contains("passed"),
        "no operation was tested:\n{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_errors_and_no_schema_violations() {
    // The one worker is a program that exits at once: sweeps schemathesis
    // submits stay queued and cost nothing.
    let app = spawn_app(1, |c| {
        c.worker_program = Some("/bin/true".into());
        c.limits.max_trials = 8;
        c.limits.max_epochs = 2;
    })
    .await;
    // An ended sweep, so that routes of sweep 1 answer 200 and its event stream ends.
    let id = app
        .submit(
            "method: grid\nparameters:\n  epochs: {value: 1}\n  batch_size: {values: [32, 64]}\n",
        )
        .await;
    let (status, body) = app
        .post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
        .await;
    assert_eq!(status, 200, "{body}");

    // Every operation but submitting; then submitting alone, since the event
    // stream of a sweep left running would not end.
    schemathesis(
        &app.url,
        app.dir.path(),
        &["--exclude-name", "POST /v1/sweeps"],
    )
    .await;
    schemathesis(
        &app.url,
        app.dir.path(),
        &["--include-name", "POST /v1/sweeps"],
    )
    .await;
    app.stop().await;
}
