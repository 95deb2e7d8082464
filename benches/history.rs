//! Scale of history: a sweep with 100,000 finished trials of 10 epoch reports
//! each (inserted here, in one transaction, into a real SQLite file or a
//! PostgreSQL database), read through a real server: `GET /v1/sweeps/<id>`,
//! `/best`, the first page of `/trials`. Also TPE's time to sample one
//! configuration at 1,000 and 10,000 finished trials.
//!
//! `cargo bench --bench history -- [--trials 100000] [--reps 20] [--database sqlite|postgres]`
//!
//! On PostgreSQL the database is a scratch one (`store::scratch`) on the
//! server `HYPERSWEEP_TEST_POSTGRES` names, else on one started for the
//! bench with fsync off; BENCHMARKS.md's figures name the server used.
use hypersweep::config::Config;
use hypersweep::search;
use hypersweep::spec::{DatasetShape, Format, Limits, SweepSpec, TrialParams};
use hypersweep::store::{NewSweep, NewTrial, Store, Sweeps as _};
use sqlx::Connection;
use std::time::{Duration, Instant};

/// The bench's search space: the lab's, as benches/search.rs has it.
const SPEC: &str = "
method: random
dataset: fashion-mnist
metric: {name: val_accuracy, goal: maximize}
parameters:
  learning_rate: {distribution: log_uniform_values, min: 0.0001, max: 0.1}
  batch_size: {values: [32, 64, 128, 256]}
  epochs: {value: 10}
  hidden_layers: {values: [[32], [64], [128], [256], [512], [128, 64], [256, 128], [512, 256]]}
  dropout: {distribution: uniform, min: 0.0, max: 0.5}
  weight_decay: {distribution: log_uniform_values, min: 0.000001, max: 0.01}
  optimizer: {values: [sgd, adam, adagrad]}
  momentum: {value: 0.9, when: {optimizer: sgd}}
";

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn spec(extra: &str, trials: u32) -> SweepSpec {
    let limits = Limits {
        max_parameters: 20_000_000,
        max_epochs: 200,
        max_trials: trials.max(10_000),
        max_trial_minutes: 60,
        ..Limits::default()
    };
    let shape = |_: &str| {
        Ok(DatasetShape {
            features: 784,
            classes: 10,
        })
    };
    // A method in `extra` takes the place of the space's own.
    let space = match extra.contains("method:") {
        true => SPEC.replace("method: random\n", ""),
        false => SPEC.to_string(),
    };
    let text = format!("{space}max_trials: {trials}\nseed: 1\n{extra}");
    SweepSpec::parse(&text, Format::Yaml, &limits, &shape, 1).expect("the bench's spec")
}

/// A made-up but smooth final accuracy: best near lr 0.01 and wide layers.
fn accuracy(params: &TrialParams, epoch: i64) -> f64 {
    let lr = (params.learning_rate.log10() + 2.0).abs();
    let width = params.hidden_layers.iter().sum::<u32>() as f64 / 1000.0;
    (0.9 - 0.1 * lr + 0.02 * width - 0.02 / epoch as f64).clamp(0.05, 0.99)
}

/// Creates the sweep through the store (as POST /v1/sweeps does), then marks
/// every trial completed with 10 epoch reports, in one transaction.
async fn fill(store: &Store, url: &str, spec: &SweepSpec) -> anyhow::Result<i64> {
    let configurations = search::configurations(spec);
    let trials = configurations
        .iter()
        .enumerate()
        .map(|(n, p)| {
            let p = p.as_ref().map(|p| serde_json::to_value(p).expect("params"));
            NewTrial::search(p, search::trial_seed(spec.seed(), n as u32))
        })
        .collect::<Vec<_>>();
    let started = Instant::now();
    let id = store
        .create_sweep(NewSweep {
            name: spec.name(),
            dataset: spec.dataset(),
            method: "random",
            metric: spec.metric(),
            max_parallel: None,
            seed: spec.seed(),
            spec: spec.document(),
            early_terminate: spec
                .early_terminate()
                .map(|r| serde_json::to_value(r).expect("rule")),
            max_minutes: None,
            stop_at_deadline: false,
            target: None,
            max_trials: trials.len() as i64,
            parent_id: None,
            exhausted: false,
            trials,
        })
        .await?;
    println!(
        "  sweep {id}: {} trials queued (the store's create_sweep, as POST /v1/sweeps) in {:.1} s",
        configurations.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    // Through sqlx's Any driver, as the store itself: one SQL for both
    // engines, rows in batches of multi-row statements.
    let postgres = url.starts_with("postgres");
    let mut db = sqlx::AnyConnection::connect(url).await?;
    let mut tx = db.begin().await?;
    // Fresh tables: the planner needs their statistics to join the batches
    // below to the trials by index (without them PostgreSQL scanned all
    // 100,000 trials for each row of a batch: 2 s a batch).
    if postgres {
        sqlx::query("ANALYZE trials").execute(&mut *tx).await?;
    }
    let ids: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, number FROM trials WHERE sweep_id = $1 ORDER BY number")
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
    const BATCH: usize = 10;
    for chunk in ids.chunks(BATCH) {
        let rows = |width: usize, n: usize| {
            (0..n)
                .map(|r| {
                    let cells: Vec<String> =
                        (1..=width).map(|c| format!("${}", r * width + c)).collect();
                    format!("({})", cells.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sql = format!(
            "INSERT INTO epoch_reports (trial_id, epoch, attempt, train_loss, val_loss, val_accuracy, seconds, created_at)
             SELECT column1, column2, 1, column3, column4, column5, 1.0, '2026-11-28T00:00:00.000Z'
             FROM (VALUES {}) AS v",
            rows(5, chunk.len() * 10)
        );
        let mut insert = sqlx::query(&sql);
        for (trial, number) in chunk {
            let params = configurations[*number as usize].as_ref().expect("random");
            for epoch in 1..=10i64 {
                let acc = accuracy(params, epoch);
                insert = insert
                    .bind(*trial)
                    .bind(epoch)
                    .bind(1.0 - acc)
                    .bind(1.1 - acc)
                    .bind(acc);
            }
        }
        insert.execute(&mut *tx).await?;
        // A batch joined by id on PostgreSQL (a round trip each); one
        // statement per trial on SQLite, in process, where each is cheap
        // and an UPDATE ... FROM VALUES would scan the trials.
        let set = "state = 'completed', attempt = 1, worker = 'bench',
            started_at = queued_at, finished_at = queued_at, epochs_done = 10";
        let metrics = |(trial, number): &(i64, i64)| {
            let params = configurations[*number as usize].as_ref().expect("random");
            let acc = accuracy(params, 10);
            (*trial, 1.0 - acc, 1.1 - acc, acc, acc - 0.01)
        };
        if postgres {
            let sql = format!(
                "UPDATE trials SET {set}, train_loss = v.column2, val_loss = v.column3,
                    val_accuracy = v.column4, test_loss = v.column3, test_accuracy = v.column5
                 FROM (VALUES {}) AS v WHERE trials.id = v.column1",
                rows(5, chunk.len())
            );
            let mut update = sqlx::query(&sql);
            for t in chunk {
                let (id, train, val, acc, test) = metrics(t);
                update = update.bind(id).bind(train).bind(val).bind(acc).bind(test);
            }
            update.execute(&mut *tx).await?;
        } else {
            let sql = format!(
                "UPDATE trials SET {set}, train_loss = $2, val_loss = $3, val_accuracy = $4,
                    test_loss = $3, test_accuracy = $5 WHERE id = $1"
            );
            for t in chunk {
                let (id, train, val, acc, test) = metrics(t);
                sqlx::query(&sql)
                    .bind(id)
                    .bind(train)
                    .bind(val)
                    .bind(acc)
                    .bind(test)
                    .execute(&mut *tx)
                    .await?;
            }
        }
    }
    sqlx::query("UPDATE sweeps SET state = 'completed', ended_by = 'max_trials', finished_at = created_at WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    // What autovacuum does a minute later, done now, so that the GETs below
    // are timed in the steady state rather than beside a running vacuum
    // (index-only scans need the visibility map it sets).
    if postgres {
        sqlx::query("VACUUM ANALYZE trials, epoch_reports")
            .execute(&mut db)
            .await?;
    }
    println!(
        "  sweep {id}: trials finished, epoch reports inserted in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(id)
}

/// Median and worst milliseconds of `reps` GETs of `path`, and the body's size.
async fn time_get(client: &reqwest::Client, url: &str, reps: usize) -> (f64, f64, usize) {
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..=reps {
        let started = Instant::now();
        let response = client.get(url).send().await.expect("GET");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        size = response.bytes().await.expect("body").len();
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.remove(0); // the first warms the page cache and the connection
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() - 1], size)
}

fn tpe_time(n: usize, reps: usize) -> f64 {
    let spec = spec("method: bayes\n", n as u32);
    let random = spec_random_history(n);
    let started = Instant::now();
    for seed in 0..reps as u64 {
        std::hint::black_box(search::suggest(&spec, &random, seed));
    }
    started.elapsed().as_secs_f64() * 1000.0 / reps as f64
}

fn spec_random_history(n: usize) -> Vec<(TrialParams, Option<f64>)> {
    search::configurations(&spec("", n as u32))
        .into_iter()
        .flatten()
        .map(|p| {
            let acc = accuracy(&p, 10);
            (p, Some(acc))
        })
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let trials: u32 = arg("--trials").map_or(Ok(100_000), |t| t.parse())?;
    let reps: usize = arg("--reps").map_or(Ok(20), |r| r.parse())?;
    let engine = arg("--database").unwrap_or_else(|| "sqlite".into());
    let dir = tempfile::tempdir()?;
    sqlx::any::install_default_drivers();
    let url = match engine.as_str() {
        "sqlite" => format!("sqlite://{}", dir.path().join("history.db").display()),
        "postgres" => hypersweep::store::scratch::database()
            .await
            .map_err(anyhow::Error::msg)?,
        other => anyhow::bail!("--database {other}: sqlite or postgres"),
    };
    println!("database: {engine}");
    let store = Store::open(&url, true).await?;

    let started = Instant::now();
    let plain = fill(&store, &url, &spec("", trials)).await?;
    let hyperband = fill(
        &store,
        &url,
        &spec(
            "early_terminate: {type: hyperband, min_iter: 1, eta: 3}\n",
            trials,
        ),
    )
    .await?;
    println!(
        "2 sweeps x {trials} finished trials x 10 epoch reports inserted in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );

    std::env::set_var("RUST_LOG", "warn");
    let config = Config {
        database: url.clone(),
        data_dir: None,
        workers: 1.into(),
        worker_program: Some(env!("CARGO_BIN_EXE_hypersweep").into()),
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hypersweep::server::serve(listener, config, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "{:<46} {:>10} {:>9} {:>10}",
        "GET", "median ms", "max ms", "bytes"
    );
    for (id, what) in [(plain, "random"), (hyperband, "random + hyperband rungs")] {
        for path in [
            format!("/v1/sweeps/{id}"),
            format!("/v1/sweeps/{id}/best"),
            format!("/v1/sweeps/{id}/trials"),
            format!("/v1/sweeps/{id}/trials?limit=1000&after=50000"),
        ] {
            let (median, max, size) = time_get(&client, &format!("{base}{path}"), reps).await;
            println!(
                "{:<46} {median:>10.1} {max:>9.1} {size:>10}",
                format!("{path} ({what})")
            );
        }
    }
    let _ = stop.send(());
    server.await??;

    println!("\nTPE, one configuration of the space above:");
    for n in [1_000, 10_000] {
        println!("  {n:>6} finished trials: {:.1} ms", tpe_time(n, 10));
    }
    Ok(())
}
