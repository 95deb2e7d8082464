//! Scratch PostgreSQL databases for tests and benchmarks: each call gives a
//! database of its own on one server per process. The server is the one
//! `HYPERSWEEP_TEST_POSTGRES` names (a URL; `scripts/test.sh` starts one for
//! the whole test run), or else one that `scripts/postgres.sh` starts in a
//! temporary folder for this process and stops when the process ends.
use sqlx::{Connection, Executor, PgConnection};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// The environment variable naming a running server's URL.
pub const SERVER_ENV: &str = "HYPERSWEEP_TEST_POSTGRES";

/// The URL of a new, empty database; `Err` says why there is none (the
/// server did not start, or refused the database).
pub async fn database() -> Result<String, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let server = server()?;
    let name = format!(
        "hs_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let mut conn = PgConnection::connect(&server)
        .await
        .map_err(|e| format!("connecting to the test server {server}: {e}"))?;
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .map_err(|e| format!("creating database {name}: {e}"))?;
    conn.close().await.ok();
    Ok(with_database(&server, &name))
}

/// `database`, for callers outside a runtime or inside one that must not
/// block (it runs on a thread of its own).
pub fn database_now() -> Result<String, String> {
    std::thread::spawn(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(database())
    })
    .join()
    .map_err(|_| "creating a scratch database panicked".to_string())?
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let rest = base.split_once("://").map_or(base, |(_, rest)| rest);
    let host = rest.split_once('/').map_or(rest, |(host, _)| host);
    let scheme = base.split_once("://").map_or("postgres", |(s, _)| s);
    match query {
        Some(q) => format!("{scheme}://{host}/{name}?{q}"),
        None => format!("{scheme}://{host}/{name}"),
    }
}

/// The server's URL, started on first use.
fn server() -> Result<String, String> {
    static SERVER: OnceLock<Result<String, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var(SERVER_ENV) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => start(),
        })
        .clone()
}

/// Starts a server for this process with `scripts/postgres.sh`.
fn start() -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/postgres.sh");
    let dir = std::env::temp_dir().join(format!("hypersweep-pg-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .arg(&dir)
        .args(["--fast", "--temporary", "--owner"])
        .arg(std::process::id().to_string())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match (out.status.success(), stdout.lines().last()) {
        (true, Some(url)) if url.starts_with("postgres://") => Ok(url.to_string()),
        _ => Err(format!(
            "{} start {} failed: {}{}",
            script.display(),
            dir.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/hypersweep", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "t2"),
            "postgresql://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:1", "t3"), "postgres://h:1/t3");
    }
}
