//! The dashboard in a real browser: headless Chromium, driven over the W3C
//! WebDriver protocol by chromedriver (`scripts/browser.sh` installs both),
//! watches a real sweep train and cancels it.

use crate::common::spawn_app;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The key under which WebDriver names an element.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_sweep_training_live_and_cancels_it() {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "this test drives {CHROMIUM} through {CHROMEDRIVER}, and one is missing: \
         `bash scripts/browser.sh` (as root) installs chromium and chromium-driver; \
         `bash scripts/test.sh` runs it before the tests"
    );
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "name: dashboard\ndataset: mnist-10k\nmethod: grid\nmax_parallel: 2\nparameters:\n  \
             learning_rate: {values: [0.1, 0.05, 0.02, 0.01, 0.005, 0.002]}\n  epochs: {value: 30}\n",
        )
        .await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#/sweeps/{id}", app.url)).await;

    let minute = Duration::from_secs(60);
    browser
        .wait_for(
            "return document.querySelectorAll('#trials tbody tr').length === 6 \
             && document.querySelector('#trials tbody tr.state-running') !== null",
            minute,
            "six trial rows, one of them running",
        )
        .await;
    // A line needs two epochs: "M x,y L x,y".
    browser
        .wait_for(
            "return [...document.querySelectorAll('svg#accuracy-chart path')].some(p => p.getAttribute('d').includes('L'))",
            2 * minute,
            "a validation accuracy line on the chart",
        )
        .await;

    // Clicking a running trial plots its training loss every 100 batches.
    let row = browser
        .find("#trials tbody tr.state-running")
        .await
        .expect("a running row");
    let trial = browser.attribute(&row, "data-trial-id").await;
    browser.click(&row).await;
    browser
        .wait_for(
            &format!(
                "return document.querySelector('#trials tbody tr.selected')?.dataset.trialId === '{trial}' \
                 && [...document.querySelectorAll('svg#batch-loss-chart path')].some(p => p.getAttribute('d').includes('L'))"
            ),
            minute,
            "the training-loss line of the clicked trial",
        )
        .await;
    // Clicking a header sorts by it, best accuracy first.
    let header = browser
        .find("#trials th[data-key=val_accuracy]")
        .await
        .unwrap();
    browser.click(&header).await;
    assert_eq!(browser.script("return document.querySelector('#trials th[data-key=val_accuracy]').getAttribute('aria-sort')").await, "descending");
    assert_eq!(
        browser
            .script("return document.querySelector('#error').textContent")
            .await,
        "",
        "the page shows an error"
    );

    // Once a trial has completed, the best one is marked, in the table and on the charts.
    browser
        .wait_for(
            "return document.querySelector('#trials tbody tr.best') !== null \
             && document.querySelector('#best').textContent.includes('best: trial #') \
             && document.querySelector('svg#accuracy-chart .series.best path') !== null",
            2 * minute,
            "the best trial marked",
        )
        .await;
    let artifacts = artifacts_dir();
    // Tall enough for the whole page: a screenshot holds only the viewport.
    browser.resize(1400, 1300).await;
    std::fs::write(artifacts.join("dashboard.png"), browser.screenshot().await).unwrap();

    // Cancel asks first: keeping the sweep leaves it running.
    let cancel = browser.find("#cancel").await.expect("a cancel button");
    browser.click(&cancel).await;
    browser
        .wait_for(
            "return document.querySelector('#confirm').open",
            minute,
            "the confirmation",
        )
        .await;
    browser
        .click(&browser.find("#confirm-no").await.unwrap())
        .await;
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(sweep["state"], "running", "kept, yet {sweep}");
    browser.click(&cancel).await;
    browser
        .wait_for(
            "return document.querySelector('#confirm').open",
            minute,
            "the confirmation again",
        )
        .await;
    browser
        .click(&browser.find("#confirm-yes").await.unwrap())
        .await;
    let sweep = app.wait_for_sweep(id, minute).await;
    assert_eq!(sweep["state"], "cancelled", "{sweep}");
    let deadline = Instant::now() + minute;
    loop {
        let state = browser
            .text(&browser.find("#sweep-state").await.unwrap())
            .await;
        if state.contains("cancelled") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page still says the sweep is `{state}`"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser
        .wait_for(
            "return document.querySelector('#trials tbody tr.state-running') === null \
             && document.querySelector('#cancel').disabled \
             && document.querySelector('#live').textContent === 'ended'",
            minute,
            "no running trial, a disabled cancel button and the live stream ended",
        )
        .await;
    std::fs::write(
        artifacts.join("dashboard-cancelled.png"),
        browser.screenshot().await,
    )
    .unwrap();

    browser.quit().await;
    app.stop().await;
}

/// The trials' column of table header `key`, top to bottom, as shown.
async fn column(browser: &Browser, key: &str) -> Vec<String> {
    let script = format!(
        "const i = [...document.querySelectorAll('#trials thead th')].findIndex(th => th.dataset.key === '{key}'); \
         return [...document.querySelectorAll('#trials tbody tr')].map(tr => tr.children[i].textContent)"
    );
    let values = browser.script(&script).await;
    serde_json::from_value(values).unwrap()
}

/// Drags along axis `axis` of the parallel coordinates, from `from` to `to`
/// (shares of its brush area's height, 0 at its top), with pointer events.
fn drag_script(axis: &str, from: f64, to: f64) -> String {
    format!(
        "const area = document.querySelector('#parallel-chart .brush-area[data-axis=\"{axis}\"]'); \
         const r = area.getBoundingClientRect(); const x = r.left + r.width / 2; \
         const fire = (type, target, share) => target.dispatchEvent(new PointerEvent(type, \
           {{bubbles: true, clientX: x, clientY: r.top + share * r.height, pointerId: 1, isPrimary: true}})); \
         fire('pointerdown', area, {from}); fire('pointermove', window, {to}); fire('pointerup', window, {to}); \
         return true"
    )
}

/// An ended sweep of 8 trials in the browser: a trial link opens that
/// trial; its curves show (not "no data yet"); the table has a column per
/// swept parameter, sorts by one and filters by state and text; dragging
/// on a parallel-coordinates axis filters the table; dark mode follows the
/// system setting; the page fits 800 px; the home page shows its address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_sweep_opens_by_trial_link_sorts_filters_brushes_and_goes_dark() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "name: ended\nmethod: grid\nparameters:\n  epochs: {value: 1}\n  \
             learning_rate: {values: [0.1, 0.05, 0.02, 0.01]}\n  batch_size: {values: [64, 128]}\n",
        )
        .await;
    let minute = Duration::from_secs(60);
    let sweep = app.wait_for_sweep(id, 4 * minute).await;
    assert_eq!(sweep["state"], "completed", "{sweep}");
    let (_, page) = app.get(&format!("/v1/sweeps/{id}/trials")).await;
    let fifth = page["trials"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["number"] == 5)
        .expect("trial 5")["id"]
        .as_i64()
        .unwrap();

    let browser = Browser::start().await;
    browser
        .goto(&format!("{}/#/sweeps/{id}/trials/5", app.url))
        .await;
    browser
        .wait_for(
            &format!(
                "const card = document.querySelector('#trial-detail'); \
                 return !card.hidden && card.dataset.trialNumber === '5' \
                 && card.textContent.includes('Trial #5') && card.textContent.includes('id {fifth}') \
                 && card.querySelectorAll('table.epochs tbody tr').length === 1 \
                 && document.querySelector('#trials tbody tr.selected')?.dataset.trialNumber === '5'"
            ),
            minute,
            "trial 5 opened by its link, with its one epoch",
        )
        .await;
    // An ended sweep shows its data: a point per trial's epoch.
    browser
        .wait_for(
            "return document.querySelectorAll('svg#accuracy-chart .series circle').length === 8 \
             && document.querySelectorAll('#accuracy-chart + .legend .legend-item').length === 8",
            minute,
            "every trial's epoch on the accuracy chart, with a legend",
        )
        .await;
    let keys = browser
        .script(
            "return [...document.querySelectorAll('#trials thead th')].map(th => th.dataset.key)",
        )
        .await;
    let keys: Vec<String> = serde_json::from_value(keys).unwrap();
    for key in ["p.learning_rate", "p.batch_size", "duration", "error"] {
        assert!(keys.contains(&key.to_string()), "no column {key}: {keys:?}");
    }
    assert!(
        !keys.contains(&"p.epochs".to_string()),
        "a fixed parameter as a column: {keys:?}"
    );
    // Trial colours do not repeat within the sweep.
    let colours = browser
        .script("return new Set([...document.querySelectorAll('#trials tbody .swatch')].map(s => s.style.background)).size")
        .await;
    assert_eq!(colours, 8);

    // Sorting by a parameter's column, ascending then descending.
    let header = browser
        .find("#trials th[data-key='p.learning_rate']")
        .await
        .unwrap();
    browser.click(&header).await;
    assert_eq!(
        column(&browser, "p.learning_rate").await,
        ["0.01", "0.01", "0.02", "0.02", "0.05", "0.05", "0.1", "0.1"]
    );
    browser.click(&header).await;
    let header = "#trials th[data-key='p.learning_rate']";
    assert_eq!(
        browser
            .script(&format!(
                "return document.querySelector(\"{header}\").getAttribute('aria-sort')"
            ))
            .await,
        "descending"
    );
    assert_eq!(column(&browser, "p.learning_rate").await[0], "0.1");

    // Filters: by state, and by text in any column.
    let rows = "return document.querySelectorAll('#trials tbody tr').length";
    let state = |s: &str| {
        format!(
            "const f = document.querySelector('#state-filter'); f.value = '{s}'; \
                 f.dispatchEvent(new Event('input')); return true"
        )
    };
    browser.script(&state("pruned")).await;
    assert_eq!(browser.script(rows).await, 0);
    browser.script(&state("completed")).await;
    assert_eq!(browser.script(rows).await, 8);
    browser.script(&state("")).await;
    let field = browser.find("#text-filter").await.unwrap();
    browser.type_text(&field, "0.05").await;
    let shown = browser
        .script("return [...document.querySelectorAll('#trials tbody tr')].map(tr => [...tr.children].some(td => td.textContent.includes('0.05')))")
        .await;
    let shown: Vec<bool> = serde_json::from_value(shown).unwrap();
    assert!(
        shown.len() >= 2 && shown.len() < 8 && shown.iter().all(|s| *s),
        "{shown:?}"
    );
    browser
        .script("const f = document.querySelector('#text-filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true")
        .await;
    assert_eq!(browser.script(rows).await, 8);

    // Dragging over the upper part of the learning-rate axis (0.05 and 0.1)
    // leaves their four trials in the table; a click on the axis clears it.
    browser
        .script(&drag_script("learning_rate", 0.0, 0.35))
        .await;
    browser
        .wait_for(
            "return document.querySelectorAll('#trials tbody tr').length === 4 \
             && document.querySelector('#parallel-chart .brush') !== null",
            minute,
            "four trials left by the brush",
        )
        .await;
    let mut rates = column(&browser, "p.learning_rate").await;
    rates.sort();
    assert_eq!(rates, ["0.05", "0.05", "0.1", "0.1"]);
    assert_eq!(
        browser
            .script("return document.querySelector('#filter-count').textContent")
            .await,
        "4 of 8 shown"
    );
    let artifacts = artifacts_dir();
    std::fs::write(
        artifacts.join("dashboard-brushed.png"),
        browser.screenshot().await,
    )
    .unwrap();
    browser
        .script(&drag_script("learning_rate", 0.5, 0.5))
        .await;
    browser
        .wait_for(&format!("{rows} === 8"), minute, "every trial again")
        .await;

    // Dark mode follows the system setting (emulated), and the page fits 800 px.
    browser
        .cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": "dark"}]}),
        )
        .await;
    assert_eq!(
        browser
            .script("return getComputedStyle(document.body).backgroundColor")
            .await,
        "rgb(18, 21, 28)"
    );
    browser.resize(800, 1400).await;
    browser
        .wait_for(
            "return document.documentElement.scrollWidth <= window.innerWidth",
            minute,
            "no sideways scrolling at 800 px",
        )
        .await;
    std::fs::write(
        artifacts.join("dashboard-dark-800.png"),
        browser.screenshot().await,
    )
    .unwrap();

    // The home page gives this server's own address.
    browser.goto(&format!("{}/", app.url)).await;
    browser
        .wait_for(
            &format!("return [...document.querySelectorAll('.origin')].every(o => o.textContent === '{}')", app.url),
            minute,
            "the server's address on the home page",
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

/// The importance chart draws the bars `GET /v1/sweeps/{id}/importance`
/// answers, and says so when there are too few trials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_importance_chart_draws_the_answer() {
    let app = spawn_app(2, |_| {}).await;
    let id = app
        .submit(
            "name: importance\nmethod: random\nmax_trials: 6\nparameters:\n  epochs: {value: 1}\n  \
             learning_rate: {distribution: log_uniform_values, min: 0.001, max: 0.3}\n  \
             batch_size: {values: [32, 256]}\n",
        )
        .await;
    let lonely = app
        .submit("name: lonely\nmethod: grid\nparameters:\n  epochs: {value: 1}\n  learning_rate: {values: [0.05]}\n")
        .await;
    let minute = Duration::from_secs(60);
    app.wait_for_sweep(id, 4 * minute).await;
    app.wait_for_sweep(lonely, 2 * minute).await;
    let (status, answer) = app.get(&format!("/v1/sweeps/{id}/importance")).await;
    assert_eq!(status, 200, "{answer}");
    let params: Vec<String> = answer["importance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["param"].as_str().unwrap().to_string())
        .collect();
    assert!(!params.is_empty(), "{answer}");
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#/sweeps/{id}", app.url)).await;
    browser
        .wait_for(
            &format!(
                "return JSON.stringify([...document.querySelectorAll('#importance-chart .bar-row')]\
                 .map(b => b.dataset.param)) === '{}'",
                serde_json::to_string(&params).unwrap()
            ),
            minute,
            "a bar per parameter, in the answer's order",
        )
        .await;
    browser.resize(1400, 2600).await;
    std::fs::write(
        artifacts_dir().join("dashboard-importance.png"),
        browser.screenshot().await,
    )
    .unwrap();
    browser
        .goto(&format!("{}/#/sweeps/{lonely}", app.url))
        .await;
    browser
        .wait_for(
            "return document.querySelector('#importance-chart').textContent.includes('not enough trials yet')",
            minute,
            "that one trial is not enough",
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

/// The sweep controls on the page, through the lifecycle routes: Extend
/// runs an ended sweep again, Enqueue shows the server's refusals naming the
/// field, Fork opens the child sweep, which records its parent, and Delete
/// (after its confirmation) removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_controls_extend_enqueue_fork_and_delete() {
    let app = spawn_app(1, |_| {}).await;
    let id = app
        .submit(
            "name: controls\nmethod: random\nmax_trials: 2\nparameters:\n  epochs: {value: 1}\n  \
             learning_rate: {values: [0.1, 0.05, 0.02, 0.01]}\n",
        )
        .await;
    let minute = Duration::from_secs(60);
    app.wait_for_sweep(id, 2 * minute).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/#/sweeps/{id}", app.url)).await;
    browser
        .wait_for(
            "return document.querySelectorAll('#trials tbody tr').length === 2 \
             && document.querySelector('#enqueue-fields input[name=learning_rate]') !== null",
            minute,
            "the ended sweep and its enqueue form",
        )
        .await;
    browser
        .script("document.querySelectorAll('.controls details').forEach(d => d.open = true); return true")
        .await;

    // Enqueue on a spent budget: the server's 409 says to raise max_trials.
    let rate = browser
        .find("#enqueue-fields input[name=learning_rate]")
        .await
        .unwrap();
    browser.type_text(&rate, "0.5").await;
    browser
        .click(&browser.find("#enqueue-form button").await.unwrap())
        .await;
    browser
        .wait_for(
            "return document.querySelector('#enqueue-said').textContent.includes('params.learning_rate')",
            minute,
            "a value outside the space refused, naming the field",
        )
        .await;
    browser
        .script("document.querySelector('#enqueue-fields input[name=learning_rate]').value = ''; return true")
        .await;
    browser.type_text(&rate, "0.02").await;
    browser
        .click(&browser.find("#enqueue-form button").await.unwrap())
        .await;
    browser
        .wait_for(
            "return document.querySelector('#enqueue-said').textContent.includes('max_trials')",
            minute,
            "the advice to raise max_trials first",
        )
        .await;

    // Extend: the ended sweep runs two more trials.
    let trials = browser.find("#extend-trials").await.unwrap();
    browser.type_text(&trials, "4").await;
    browser
        .click(&browser.find("#extend-form button").await.unwrap())
        .await;
    browser
        .wait_for(
            "return document.querySelector('#extend-said').textContent === 'extended'",
            minute,
            "the sweep extended",
        )
        .await;
    let (_, sweep) = app.get(&format!("/v1/sweeps/{id}")).await;
    assert_eq!(sweep["max_trials"], 4, "{sweep}");
    let sweep = app.wait_for_sweep(id, 2 * minute).await;
    assert_eq!(sweep["trials"]["completed"], 4, "{sweep}");
    browser
        .wait_for(
            "return document.querySelectorAll('#trials tbody tr').length === 4",
            minute,
            "four trials on the page",
        )
        .await;

    // Fork with a change: the page moves to the child, which names its parent.
    let spec = browser.find("#fork-spec").await.unwrap();
    browser.type_text(&spec, "max_trials: 1").await;
    browser
        .click(&browser.find("#fork-form button").await.unwrap())
        .await;
    browser
        .wait_for(
            &format!("return location.hash !== '#/sweeps/{id}' && /^#\\/sweeps\\/\\d+$/.test(location.hash)"),
            minute,
            "the forked sweep's page",
        )
        .await;
    let hash = browser.script("return location.hash").await;
    let child: i64 = hash
        .as_str()
        .unwrap()
        .trim_start_matches("#/sweeps/")
        .parse()
        .unwrap();
    let (_, forked) = app.get(&format!("/v1/sweeps/{child}")).await;
    assert_eq!(forked["parent_id"], id, "{forked}");
    browser
        .wait_for(
            &format!(
                "return document.querySelector('#sweep-meta a[href=\"#/sweeps/{id}\"]') !== null"
            ),
            minute,
            "a link to the parent",
        )
        .await;
    app.wait_for_sweep(child, 2 * minute).await;

    // Delete asks first; confirmed, the sweep is gone and the page goes home.
    browser
        .wait_for(
            "return !document.querySelector('#delete').disabled",
            minute,
            "Delete enabled once ended",
        )
        .await;
    browser.click(&browser.find("#delete").await.unwrap()).await;
    browser
        .wait_for(
            "return document.querySelector('#confirm').open",
            minute,
            "the confirmation",
        )
        .await;
    browser
        .click(&browser.find("#confirm-yes").await.unwrap())
        .await;
    browser
        .wait_for(
            "return location.hash === '#/' && !document.querySelector('#home').hidden",
            minute,
            "the home page",
        )
        .await;
    assert_eq!(app.get(&format!("/v1/sweeps/{child}")).await.0, 404);
    browser.quit().await;
    app.stop().await;
}

/// `target/test-artifacts`, where the screenshots go for people to look at.
/// With an API token, the dashboard asks for it once: a wrong one is
/// refused on the page, the right one loads the sweeps, and a reload keeps
/// working from the cookie without asking again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_asks_for_the_token_once_and_keeps_it() {
    const TOKEN: &str = "dashboard-token-0123456789";
    let app = spawn_app(1, |c| {
        c.api_token = Some(hypersweep::config::ApiToken::new(TOKEN).unwrap())
    })
    .await;
    let id = app
        .submit(
            "name: guarded
method: grid
parameters:
  epochs: {value: 1}
",
        )
        .await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", app.url)).await;
    let minute = Duration::from_secs(60);
    browser
        .wait_for(
            "return document.getElementById('token') !== null",
            minute,
            "the sign-in form",
        )
        .await;
    let field = browser.find("#token").await.expect("a token field");
    browser.type_text(&field, "not-the-token-0123456789").await;
    browser.click(&browser.find("#submit").await.unwrap()).await;
    browser
        .wait_for(
            "return !document.getElementById('problem').hidden",
            minute,
            "that the token is wrong",
        )
        .await;
    browser
        .script("document.getElementById('token').value = ''")
        .await;
    browser.type_text(&field, TOKEN).await;
    browser.click(&browser.find("#submit").await.unwrap()).await;
    let listed =
        format!("return document.querySelector('#sweeps [data-sweep-id=\"{id}\"]') !== null");
    browser.wait_for(&listed, minute, "the sweep list").await;
    std::fs::write(
        artifacts_dir().join("dashboard-signed-in.png"),
        browser.screenshot().await,
    )
    .unwrap();
    browser.goto(&format!("{}/#/sweeps/{id}", app.url)).await;
    browser
        .wait_for(&listed, minute, "the sweep list again, from the cookie")
        .await;
    // Signing out ends the session: the page asks for the token again.
    browser
        .click(&browser.find("#sign-out").await.unwrap())
        .await;
    browser
        .wait_for(
            "return document.getElementById('token') !== null",
            minute,
            "the sign-in form after signing out",
        )
        .await;
    browser.goto(&format!("{}/", app.url)).await;
    browser
        .wait_for(
            "return document.getElementById('token') !== null",
            minute,
            "the sign-in form still, the session being over",
        )
        .await;
    browser.quit().await;
    app.stop().await;
}

fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/target/test-artifacts"
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver and one headless Chromium session; both end when dropped.
struct Browser {
    client: reqwest::Client,
    port: u16,
    /// `http://127.0.0.1:PORT/session/ID`, until the session is deleted.
    session: Option<String>,
    driver: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver does not start");
        let mut browser = Browser {
            client: reqwest::Client::new(),
            port,
            session: None,
            driver,
            profile: tempfile::tempdir().unwrap(),
        };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = match browser.client.get(format!("{base}/status")).send().await {
                Ok(response) => response
                    .json::<Value>()
                    .await
                    .ok()
                    .is_some_and(|s| s["value"]["ready"] == true),
                Err(_) => false,
            };
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver is not ready after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = format!("--user-data-dir={}", browser.profile.path().display());
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            profile.as_str(),
            "--window-size=1400,1000",
        ];
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}});
        let created = browser
            .call(
                reqwest::Method::POST,
                &format!("{base}/session"),
                Some(capabilities),
            )
            .await;
        let id = created["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        browser.session = Some(format!("{base}/session/{id}"));
        browser
    }

    /// One WebDriver command; its `value`. A WebDriver error fails the test.
    async fn call(&self, method: reqwest::Method, url: &str, body: Option<Value>) -> Value {
        let mut request = self.client.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("chromedriver answers");
        let status = response.status();
        let body: Value = response.json().await.expect("chromedriver answers JSON");
        assert!(
            status.is_success(),
            "WebDriver {url}: {status} {}",
            body["value"]
        );
        body["value"].clone()
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let session = self.session.as_ref().expect("a live session");
        self.call(method, &format!("{session}{path}"), body).await
    }

    async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The first element matching a CSS selector, if any.
    async fn find(&self, css: &str) -> Option<String> {
        let session = self.session.as_ref().expect("a live session");
        let response = self
            .client
            .post(format!("{session}/element"))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .expect("chromedriver answers");
        let found = response.status().is_success();
        let body: Value = response.json().await.unwrap();
        match body["value"][ELEMENT].as_str() {
            Some(id) if found => Some(id.to_string()),
            _ if body["value"]["error"] == "no such element" => None,
            _ => panic!("WebDriver find `{css}`: {}", body["value"]),
        }
    }

    async fn attribute(&self, element: &str, name: &str) -> String {
        let value = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/attribute/{name}"),
                None,
            )
            .await;
        value.as_str().expect("the attribute is set").to_string()
    }

    async fn text(&self, element: &str) -> String {
        let text = self
            .command(
                reqwest::Method::GET,
                &format!("/element/{element}/text"),
                None,
            )
            .await;
        text.as_str().unwrap_or_default().trim().to_string()
    }

    async fn click(&self, element: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn type_text(&self, element: &str, text: &str) {
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    /// Polls a script until it returns true; fails the test after `timeout`.
    async fn wait_for(&self, script: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        while self.script(script).await != true {
            if Instant::now() > deadline {
                // What the page showed instead, as a screenshot and as text.
                let shot = artifacts_dir().join("dashboard-failure.png");
                std::fs::write(&shot, self.screenshot().await).unwrap();
                let text = self
                    .script("return document.querySelector('main').innerText")
                    .await;
                panic!(
                    "the page did not show {what} within {timeout:?} (see {}); it showed:\n{}",
                    shot.display(),
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A Chrome DevTools Protocol command, through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        let body = json!({"cmd": cmd, "params": params});
        self.command(reqwest::Method::POST, "/goog/cdp/execute", Some(body))
            .await
    }

    async fn resize(&self, width: u32, height: u32) {
        let rect = json!({"width": width, "height": height});
        self.command(reqwest::Method::POST, "/window/rect", Some(rect))
            .await;
    }

    /// The viewport as PNG.
    async fn screenshot(&self) -> Vec<u8> {
        let encoded = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let png = base64_decode(encoded.as_str().expect("base64 text"));
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        png
    }

    /// Ends the session (Chromium exits) and chromedriver.
    async fn quit(mut self) {
        if let Some(session) = self.session.take() {
            self.call(reqwest::Method::DELETE, &session, None).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that failed still ends Chromium: Drop cannot await, so this
        // DELETE is plain blocking HTTP.
        if let Some(session) = self.session.take() {
            let path = session
                .split_once(&format!(":{}", self.port))
                .map_or("", |(_, p)| p)
                .to_string();
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let request = format!(
                    "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    self.port
                );
                if stream.write_all(request.as_bytes()).is_ok() {
                    let _ = stream.read_to_end(&mut Vec::new());
                }
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (WebDriver screenshots) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let digit = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {:?}", c as char),
        }
    };
    let digits: Vec<u32> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(digit)
        .collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, d)| n | (d << (18 - 6 * i)));
            // Four digits carry three bytes, three carry two, two carry one.
            n.to_be_bytes()[1..chunk.len()].to_vec()
        })
        .collect()
}
