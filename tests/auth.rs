//! The API token and the Origin rule, through a real server and the real binary.

use crate::common::ready::wait_until_answers;
use crate::common::spawn_app;
use hypersweep::config::ApiToken;
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789";

/// Every route of the API today, one request each.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/assets/app.js"),
    ("GET", "/v1/datasets"),
    ("GET", "/v1/sweeps"),
    ("POST", "/v1/sweeps"),
    ("GET", "/v1/sweeps/1"),
    ("GET", "/v1/sweeps/1/best"),
    ("POST", "/v1/sweeps/1/cancel"),
    ("GET", "/v1/sweeps/1/events"),
    ("GET", "/v1/sweeps/1/plot.svg"),
    ("GET", "/v1/sweeps/1/trials"),
    ("GET", "/v1/trials/1"),
    ("POST", "/v1/session"),
    ("GET", "/v1/openapi.json"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_needs_the_token() {
    let app = spawn_app(1, |c| c.api_token = Some(ApiToken::new(TOKEN).unwrap())).await;
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    // The OpenAPI document, where there is one, names every route.
    let (status, doc) = app.get("/v1/openapi.json").await;
    if status == 200 {
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if path == "/healthz" {
                    continue; // open by design, checked below
                }
                let path = path.replace("{id}", "1").replace("{file}", "app.js");
                routes.push((method.to_uppercase(), path));
            }
        }
    }
    let bare = reqwest::Client::new();
    for (method, path) in &routes {
        let url = format!("{}{path}", app.url);
        let method: reqwest::Method = method.parse().unwrap();
        let r = bare.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{method} {path} without a token");
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}");
        let r = bare
            .request(method.clone(), &url)
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{method} {path} with a wrong token");
    }
    let r = bare
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The dashboard's cookie names a session that signing in opened.
    let signed_in = bare
        .post(format!("{}/v1/session", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let session = signed_in.headers()["set-cookie"].to_str().unwrap();
    let session = session.split(';').next().unwrap().to_string();
    for path in ["/", "/assets/app.js", "/v1/datasets", "/v1/sweeps"] {
        let r = bare
            .get(format!("{}{path}", app.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with the token");
        let r = bare
            .get(format!("{}{path}", app.url))
            .header("cookie", &session)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path} with the cookie");
    }
    // A browser gets the sign-in page; signing in sets the cookie.
    let r = bare
        .get(format!("{}/", app.url))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("id=\"token\""));
    let r = bare
        .post(format!("{}/v1/session", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_from_another_site_is_refused_and_changes_nothing() {
    let app = spawn_app(1, |c| c.api_token = Some(ApiToken::new(TOKEN).unwrap())).await;
    let spec = "method: grid\nparameters:\n  epochs: {value: 1}\n  learning_rate: {value: 0.05}\n";
    let r = app
        .client
        .post(format!("{}/v1/sweeps", app.url))
        .header("content-type", "application/yaml")
        .header("origin", "http://evil.example")
        .body(spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden_origin");
    let (_, sweeps) = app.get("/v1/sweeps").await;
    assert_eq!(sweeps["sweeps"].as_array().unwrap().len(), 0, "{sweeps}");
    let r = app
        .client
        .post(format!("{}/v1/sweeps", app.url))
        .header("content-type", "application/yaml")
        .header("origin", app.url.clone())
        .body(spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "same origin");
    app.stop().await;
}

#[test]
fn the_binary_refuses_a_public_address_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .current_dir(dir.path())
        .env_remove("HYPERSWEEP_API_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without an API token"), "{stderr}");
}

/// With a token the binary serves on every address: /healthz is open, the
/// rest needs the token; and the CLI, given the same token, submits, lists
/// and reads the best trial, while without it it exits 2 saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_the_binary_serves_publicly_and_the_cli_gets_in() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"))
        .args([
            "serve",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--workers",
            "1",
        ])
        .args([
            "--database",
            &format!("sqlite://{}/t.db", dir.path().display()),
        ])
        .current_dir(dir.path())
        .env("HYPERSWEEP_API_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until_answers(&mut server, &url, std::time::Duration::from_secs(30)).await;
    let r = client.get(format!("{url}/v1/sweeps")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, "method: grid\nparameters:\n  epochs: {value: 1}\n").unwrap();
    let cli = |args: &[&str], token: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hypersweep"));
        command
            .args(args)
            .args(["--server", &url])
            .current_dir(dir.path())
            .env_remove("HYPERSWEEP_API_TOKEN");
        if let Some(token) = token {
            command.args(["--api-token", token]);
        }
        command.output().unwrap()
    };
    let spec = spec.to_str().unwrap();
    let refused = cli(&["submit", spec], None);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("token"), "{stderr}");
    let submitted = cli(&["submit", spec, "--watch"], Some(TOKEN));
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let best = cli(&["best", "1"], Some(TOKEN));
    assert!(
        best.status.success(),
        "{}",
        String::from_utf8_lossy(&best.stderr)
    );
    assert!(String::from_utf8_lossy(&best.stdout).contains("val_accuracy"));
    // SAFETY: signals the server this test started.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().unwrap().success());
}
