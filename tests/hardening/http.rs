//! Hardening tests: the HTTP edge. Pages of the sweep list, the `Host`
//! check, slow and oversized requests, canonical ids, every `Origin`,
//! revocable dashboard sessions, and plots of names with control characters.
use crate::common::spawn_app;
use hypersweep::config::ApiToken;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TINY: &str = "method: grid\nparameters:\n  epochs: {value: 1}\n";

/// The address part (`127.0.0.1:PORT`) of a server URL.
fn addr(url: &str) -> &str {
    url.trim_start_matches("http://")
}

/// Reads until the server closes the connection or `limit` passes; what
/// was read, and whether it was closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into(), true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), false),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_list_comes_in_pages_newest_first() {
    let app = spawn_app(1, |_| {}).await;
    let mut ids = Vec::new();
    for _ in 0..105 {
        let id = app.submit(TINY).await;
        // Nothing here needs training: the one worker stays idle.
        app.post(&format!("/v1/sweeps/{id}/cancel"), "application/json", "")
            .await;
        ids.push(id);
    }
    ids.reverse();
    // The default page is 100, not everything.
    let (status, first) = app.get("/v1/sweeps").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["sweeps"].as_array().unwrap().len(), 100);
    assert_eq!(first["next"], ids[99]);
    // Walking 7 at a time by `next` sees every sweep once, newest first.
    let (mut seen, mut path) = (Vec::new(), "/v1/sweeps?limit=7".to_string());
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        let sweeps = page["sweeps"].as_array().unwrap();
        assert!(!sweeps.is_empty() && sweeps.len() <= 7, "{page}");
        seen.extend(sweeps.iter().map(|s| s["id"].as_i64().unwrap()));
        match page["next"].as_i64() {
            Some(next) => path = format!("/v1/sweeps?limit=7&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    // The query string is percent-decoded: `%33` is 3.
    let (_, page) = app.get("/v1/sweeps?limit=%33").await;
    assert_eq!(page["sweeps"].as_array().unwrap().len(), 3, "{page}");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("limit=1&limit=2", "limit"),
        ("before=0", "before"),
        ("before=-5", "before"),
        ("before=abc", "before"),
    ] {
        let (status, body) = app.get(&format!("/v1/sweeps?{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    // A sweep's trials: the same decoding.
    let grid =
        "method: grid\nparameters:\n  batch_size: {values: [16, 32, 64]}\n  epochs: {value: 1}\n";
    let id = app.submit(grid).await;
    let (_, trials) = app.get(&format!("/v1/sweeps/{id}/trials?limit=%32")).await;
    assert_eq!(trials["trials"].as_array().unwrap().len(), 2, "{trials}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_host_is_refused_even_with_a_matching_origin() {
    let app = spawn_app(1, |_| {}).await;
    let port = app.url.rsplit(':').next().unwrap().to_string();
    let foreign = format!("attacker.example:{port}");
    // DNS rebinding: the page's origin and the Host agree, both foreign.
    let r = app
        .client
        .post(format!("{}/v1/sweeps", app.url))
        .header("host", &foreign)
        .header("origin", format!("http://{foreign}"))
        .header("content-type", "application/yaml")
        .body(TINY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "misdirected_host", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allowed_hosts"),
        "{body}"
    );
    let r = app
        .client
        .get(format!("{}/v1/sweeps", app.url))
        .header("host", &foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 421, "reading is refused too");
    let (_, list) = app.get("/v1/sweeps").await;
    assert_eq!(list["sweeps"], serde_json::json!([]), "nothing was created");
    // The names a loopback server answers to, and health checks from anywhere.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = app
            .client
            .get(format!("{}/v1/sweeps", app.url))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{host}");
    }
    let r = app
        .client
        .get(format!("{}/healthz", app.url))
        .header("host", &foreign)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;

    // A configured name is answered to.
    let app = spawn_app(1, |c| c.allowed_hosts = vec!["sweeps.example".into()]).await;
    let r = app
        .client
        .get(format!("{}/v1/sweeps", app.url))
        .header("host", "sweeps.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_cannot_crowd_others_out() {
    let app = spawn_app(1, |c| {
        c.header_read_timeout_seconds = 1;
        c.max_connections = 16;
    })
    .await;
    // Twice as many connections as the server serves at once, each sending
    // half a request and then nothing.
    let mut slow = Vec::new();
    for _ in 0..32 {
        let mut stream = TcpStream::connect(addr(&app.url)).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    // And some that send nothing at all.
    for _ in 0..8 {
        slow.push(TcpStream::connect(addr(&app.url)).await.unwrap());
    }
    // A normal request on a new connection (not one the harness's client
    // keeps from before) still gets in: those holding a place are cut off.
    let started = Instant::now();
    let fresh = reqwest::Client::new();
    let r = tokio::time::timeout(
        Duration::from_secs(30),
        fresh.get(format!("{}/v1/datasets", app.url)).send(),
    )
    .await
    .expect("a request got no answer while slow clients held connections")
    .unwrap();
    assert_eq!(r.status(), 200);
    println!(
        "answered after {:?} behind 32 slow clients",
        started.elapsed()
    );
    // Every slow connection is closed by the server.
    for (i, stream) in slow.iter_mut().enumerate() {
        let (_, closed) = read_until_closed(stream, Duration::from_secs(30)).await;
        assert!(closed, "slow connection {i} is still open");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_content_length_is_refused_at_once() {
    let app = spawn_app(1, |_| {}).await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.unwrap();
    let request = format!(
        "POST /v1/sweeps HTTP/1.1\r\nHost: {}\r\nContent-Type: application/yaml\r\nContent-Length: 99999999999\r\n\r\nmethod: grid\n",
        addr(&app.url)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("too_large"), "{answer}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_resource_has_one_id() {
    let app = spawn_app(1, |_| {}).await;
    let id = app.submit(TINY).await;
    assert_eq!(id, 1);
    for path in [
        "/v1/sweeps/+1",
        "/v1/sweeps/01",
        "/v1/sweeps/1.0",
        "/v1/sweeps/%2B1",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
    // Percent-encoding an unreserved character changes nothing (RFC 3986).
    let (status, body) = app.get("/v1/sweeps/%31").await;
    assert_eq!((status, body["id"].as_i64()), (200, Some(1)));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_origin_header_is_checked() {
    let app = spawn_app(1, |_| {}).await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.unwrap();
    let own = format!("http://{}", addr(&app.url));
    let request = format!(
        "POST /v1/sweeps HTTP/1.1\r\nHost: {}\r\nOrigin: {own}\r\nOrigin: http://evil.example\r\nContent-Type: application/yaml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TINY}",
        addr(&app.url),
        TINY.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(20)).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    let (_, list) = app.get("/v1/sweeps").await;
    assert_eq!(list["sweeps"], serde_json::json!([]), "nothing was created");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_hold_no_token_and_can_be_ended() {
    const TOKEN: &str = "session-test-token-0123";
    let app = spawn_app(1, |c| c.api_token = Some(ApiToken::new(TOKEN).unwrap())).await;
    let bare = reqwest::Client::new();
    let sign_in = || async {
        let r = bare
            .post(format!("{}/v1/session", app.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
        assert!(
            !cookie.contains(TOKEN),
            "the cookie carries the token: {cookie}"
        );
        cookie.split(';').next().unwrap().to_string()
    };
    let status_with = |cookie: String| {
        let bare = bare.clone();
        let url = format!("{}/v1/sweeps", app.url);
        async move {
            let r = bare.get(url).header("cookie", cookie).send().await.unwrap();
            r.status().as_u16()
        }
    };
    let (laptop, phone) = (sign_in().await, sign_in().await);
    assert_ne!(laptop, phone);
    assert_eq!(status_with(laptop.clone()).await, 200);
    assert_eq!(status_with(phone.clone()).await, 200);
    // The token itself is no cookie.
    assert_eq!(status_with(format!("hypersweep_token={TOKEN}")).await, 401);
    // Signing out ends that session only, and clears its cookie.
    let r = bare
        .delete(format!("{}/v1/session", app.url))
        .header("cookie", &laptop)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(status_with(laptop).await, 401);
    assert_eq!(status_with(phone.clone()).await, 200);
    // Signing everyone out ends the rest.
    let r = bare
        .delete(format!("{}/v1/sessions", app.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let closed: Value = r.json().await.unwrap();
    assert_eq!(closed["closed"], 1, "{closed}");
    assert_eq!(status_with(phone).await, 401);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_with_control_characters_still_plots_as_valid_xml() {
    // PostgreSQL cannot store the NUL such an old row holds.
    if !crate::common::sqlite_only("a_name_with_control_characters_still_plots_as_valid_xml") {
        return;
    }
    let app = spawn_app(1, |_| {}).await;
    let id = app.submit(TINY).await;
    // A name stored before names with control characters were refused.
    let url = app.config.database.clone();
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    sqlx::query("UPDATE sweeps SET name = ? WHERE id = ?")
        .bind("lab\u{0}1\u{1b}[31m\u{7} <&>\"'")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    for kind in ["val_accuracy", "val_loss", "train_loss"] {
        let r = app
            .client
            .get(format!("{}/v1/sweeps/{id}/plot.svg?kind={kind}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let svg = r.text().await.unwrap();
        if let Err(e) = roxmltree::Document::parse(&svg) {
            panic!("{kind}: the SVG is not XML: {e}\n{svg}");
        }
        assert!(
            svg.contains("&lt;&amp;&gt;"),
            "the name is escaped, not dropped"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_event_stream_outlives_the_idle_cut() {
    let mut app = spawn_app(1, |c| c.header_read_timeout_seconds = 1).await;
    // Every request on a connection of its own: the server cuts an idle
    // kept-alive connection after a second, and a pooled one it cut just
    // as the client reused it would fail the request (a CI run saw that
    // as an IncompleteMessage on the cancel below).
    app.client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // The one worker trains a long sweep; the second waits, and its stream
    // says nothing for longer than the server lets an idle connection live.
    let busy = app
        .submit("method: grid\nparameters:\n  epochs: {value: 200}\n  hidden_layers: {value: [1024, 1024]}\n")
        .await;
    let quiet = app.submit(TINY).await;
    let mut stream = TcpStream::connect(addr(&app.url)).await.unwrap();
    let request = format!(
        "GET /v1/sweeps/{quiet}/events HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
        addr(&app.url)
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    // An idle connection opened after the stream's request, which says
    // nothing: once the server has cut it, the stream too has been quiet
    // for longer than the idle cut.
    let mut idle = TcpStream::connect(addr(&app.url)).await.unwrap();
    let (_, cut) = read_until_closed(&mut idle, Duration::from_secs(30)).await;
    assert!(cut, "an idle connection is never cut");
    app.post(
        &format!("/v1/sweeps/{quiet}/cancel"),
        "application/json",
        "",
    )
    .await;
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(30)).await;
    assert!(text.contains("sweep_cancelled"), "{closed} {text}");
    app.post(&format!("/v1/sweeps/{busy}/cancel"), "application/json", "")
        .await;
    app.stop().await;
}
