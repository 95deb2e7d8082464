//! The one SQL both engines run. Queries are written once, with `?`
//! placeholders as SQLite spells them, and reach sqlx's `Any` driver
//! numbered (`$1`, `$2`, ...), which PostgreSQL requires and SQLite
//! accepts. Where the two dialects differ, `Engine` names the difference.
//!
//! No statement binds a NULL real (`None::<f64>`): sqlx 0.8's `Any` driver
//! sends it to PostgreSQL as a NULL `float4` (its mapping of the null kinds
//! swaps `Real` and `Double`), PostgreSQL prepares the statement with that
//! type, and the connection's cached statement then refuses the next
//! non-null `f64` ("incorrect binary data format in bind parameter"). Where
//! a real may be missing, the statement says `NULL` itself.
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, AnyConnection, FromRow};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// One file; one writer at a time (`BEGIN IMMEDIATE`).
    Sqlite,
    /// A server; concurrent writers under READ COMMITTED, kept apart by
    /// row locks (`lock_sweep`, `FOR UPDATE SKIP LOCKED` in claims).
    Postgres,
}

impl Engine {
    /// The engine a database URL names: `postgres://` or `postgresql://`
    /// is PostgreSQL, anything else SQLite.
    pub fn of_url(url: &str) -> Engine {
        match url.starts_with("postgres://") || url.starts_with("postgresql://") {
            true => Engine::Postgres,
            false => Engine::Sqlite,
        }
    }

    /// The engine of an open connection.
    pub fn of(conn: &AnyConnection) -> Engine {
        match conn.backend_name() {
            "PostgreSQL" => Engine::Postgres,
            _ => Engine::Sqlite,
        }
    }

    /// The statement that opens a write transaction. SQLite's takes the
    /// write lock at once, so that two writers wait on the busy timeout
    /// instead of deadlocking on a read lock each wants to upgrade;
    /// PostgreSQL's writers lock the rows they change (`lock_sweep`).
    pub fn begin(self) -> &'static str {
        match self {
            Engine::Sqlite => "BEGIN IMMEDIATE",
            Engine::Postgres => "BEGIN",
        }
    }

    /// Now in Unix milliseconds by the database's clock, as SQL: on
    /// PostgreSQL the one clock every replica shares, which leases are set
    /// and judged by.
    pub const fn now_ms(self) -> &'static str {
        match self {
            Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
            Engine::Postgres => {
                "CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS BIGINT)"
            }
        }
    }

    /// The values of a JSON array given as text, as rows of a `value`
    /// column (bind the array's text at `?N`).
    pub fn json_array_values(self, param: &str) -> String {
        match self {
            Engine::Sqlite => format!("SELECT value FROM json_each({param})"),
            Engine::Postgres => format!("SELECT jsonb_array_elements_text(({param})::jsonb)"),
        }
    }

    /// A number at `path` (keys, outermost first; one or two) of a JSON
    /// object held as text in `column`, as a double; NULL when the column is
    /// not JSON or the path holds no number. CASE, not AND: SQLite may
    /// evaluate AND's terms in any order, and json_extract fails the whole
    /// statement on malformed JSON.
    pub fn json_number(self, column: &str, path: &[&str]) -> String {
        assert!(
            matches!(path.len(), 1 | 2),
            "json_number: a path of one or two keys"
        );
        match self {
            Engine::Sqlite => {
                let at = format!("'$.{}'", path.join("."));
                format!(
                    "CASE WHEN json_valid({column}) THEN
                        CASE WHEN json_type({column}, {at}) IN ('integer', 'real')
                            THEN CAST(json_extract({column}, {at}) AS REAL) END END"
                )
            }
            Engine::Postgres => {
                let keys: Vec<String> = path.iter().map(|k| format!("'{k}'")).collect();
                format!("hs_json_number({column}, {})", keys.join(", "))
            }
        }
    }
}

/// Takes the write lock on a sweep's row for the rest of the transaction,
/// on PostgreSQL; SQLite's `BEGIN IMMEDIATE` already holds the database's.
/// Every write to a sweep's trials or events takes it first, in one order
/// (the sweep, then its trials), so that concurrent writers of one sweep
/// take turns: a claim counts running trials no other claim is starting, a
/// completion check sees every trial another writer ended, and events of a
/// sweep commit in the order of their ids.
pub async fn lock_sweep(conn: &mut AnyConnection, sweep_id: i64) -> Result<(), sqlx::Error> {
    if Engine::of(conn) == Engine::Postgres {
        query("SELECT id FROM sweeps WHERE id = ? FOR UPDATE")
            .bind(sweep_id)
            .fetch_optional(&mut *conn)
            .await?;
    }
    Ok(())
}

/// `sqlx::query` of `sql` with numbered placeholders.
pub fn query<'q>(sql: &str) -> Query<'q, Any, AnyArguments<'q>> {
    sqlx::query(numbered(sql))
}

/// `sqlx::query_as` of `sql` with numbered placeholders.
pub fn query_as<'q, O>(sql: &str) -> QueryAs<'q, Any, O, AnyArguments<'q>>
where
    O: for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_as(numbered(sql))
}

/// `sqlx::query_scalar` of `sql` with numbered placeholders.
pub fn query_scalar<'q, O>(sql: &str) -> QueryScalar<'q, Any, O, AnyArguments<'q>>
where
    (O,): for<'r> FromRow<'r, AnyRow>,
{
    sqlx::query_scalar(numbered(sql))
}

/// `sql` with each `?` numbered in order (`$1`, `$2`, ...) and each `?N`
/// as `$N`; quoted text and identifiers are left alone. Kept for the life
/// of the process: the store's statements are constants, or built from a
/// fixed set of fragments (a metric's column, a sort order), so the set of
/// texts is bounded, and each is translated once.
pub fn numbered(sql: &str) -> &'static str {
    static SEEN: OnceLock<RwLock<HashMap<String, &'static str>>> = OnceLock::new();
    let seen = SEEN.get_or_init(RwLock::default);
    if let Some(done) = seen.read().unwrap_or_else(|e| e.into_inner()).get(sql) {
        return done;
    }
    let done: &'static str = Box::leak(renumber(sql).into_boxed_str());
    seen.write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(sql.to_owned(), done);
    done
}

/// The translation `numbered` keeps.
fn renumber(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut next = 1;
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                match digits.is_empty() {
                    true => {
                        out.push_str(&format!("${next}"));
                        next += 1;
                    }
                    false => out.push_str(&format!("${digits}")),
                }
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_outside_quotes() {
        assert_eq!(
            renumber("SELECT '?', \"a?\" FROM t WHERE a = ? AND b IN (?, ?)"),
            "SELECT '?', \"a?\" FROM t WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(
            renumber("WHERE s = ?1 AND (?2 = '[]' OR x = ?2) LIMIT ?4"),
            "WHERE s = $1 AND ($2 = '[]' OR x = $2) LIMIT $4"
        );
        assert_eq!(renumber("SELECT 'it''s ?' , ?"), "SELECT 'it''s ?' , $1");
    }

    #[test]
    fn a_text_is_translated_once() {
        let a = numbered("SELECT ? + ?");
        let b = numbered(&format!("SELECT {} + ?", "?"));
        assert!(std::ptr::eq(a, b));
        assert_eq!(a, "SELECT $1 + $2");
    }

    #[test]
    fn an_engine_is_known_by_its_url() {
        assert_eq!(Engine::of_url("postgres://u@h/db"), Engine::Postgres);
        assert_eq!(Engine::of_url("postgresql://h/db"), Engine::Postgres);
        assert_eq!(Engine::of_url("sqlite://x.db"), Engine::Sqlite);
        assert_eq!(Engine::of_url("sqlite::memory:"), Engine::Sqlite);
    }
}
