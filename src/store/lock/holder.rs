//! Who holds the lock, and whether that holder is still there: a server
//! process's identity, the lock row as another left it, and the judgement.
/// Who a server process is, as the lock row records it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Identity {
    /// Unique per server start: two servers in one process differ.
    pub(super) owner: String,
    pub(super) host: String,
    pub(super) pid: i64,
    /// Boot id and pid namespace: a pid recorded with the same ones can be
    /// looked up in this `/proc`.
    pub(super) machine: Option<String>,
    /// Start time of the process (clock ticks after boot).
    pub(super) started: Option<String>,
}

impl Identity {
    pub(super) fn of_this_process() -> Identity {
        let pid = std::process::id() as i64;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "unknown".into());
        Identity {
            owner: format!("{host}/{pid}/{:016x}", rand::random::<u64>()),
            host,
            pid,
            machine: machine(),
            started: process_started(pid).flatten(),
        }
    }
}

/// The boot id and pid namespace of this process.
pub(super) fn machine() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.display()))
}

/// Whether process `pid` runs here: None if it does not (or is a zombie),
/// else its start time if `/proc` tells it.
pub(super) fn process_started(pid: i64) -> Option<Option<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold
    // spaces: state is field 3, starttime field 22.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z" | &"X")) {
        return None;
    }
    Some(fields.get(19).map(|s| s.to_string()))
}

/// The lock row as another server left it.
#[derive(Debug, Clone)]
pub(super) struct Holder {
    pub(super) identity: Identity,
    pub(super) since: String,
    pub(super) renewed_ms: i64,
    pub(super) expires_ms: i64,
}

impl Holder {
    pub(super) fn describe(&self, now: i64) -> String {
        format!(
            "pid {} on host {} (holding it since {}, last renewed {:.1} s ago)",
            self.identity.pid,
            self.identity.host,
            self.since,
            (now - self.renewed_ms) as f64 / 1000.0
        )
    }
}

/// What a holder of the lock is, to a server that wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Standing {
    /// Its process runs on this machine: refuse.
    Alive,
    /// Its process has ended (or its pid is another process's now).
    Gone,
    /// It went three periods without renewing.
    Lapsed,
    /// Elsewhere and not lapsed: alive as long as it renews.
    Unknown,
}

/// Judges a holder at `now`; `running(pid)` says whether a process runs
/// here (None: no) and its start time.
pub(super) fn standing(
    holder: &Holder,
    me: &Identity,
    now: i64,
    running: impl Fn(i64) -> Option<Option<String>>,
) -> Standing {
    if holder.expires_ms <= now {
        return Standing::Lapsed;
    }
    let them = &holder.identity;
    if them.machine.is_none() || them.machine != me.machine {
        return Standing::Unknown;
    }
    match running(them.pid) {
        None => Standing::Gone,
        // A process started at another time reuses the pid.
        Some(started) if them.started.is_some() && started != them.started => Standing::Gone,
        Some(_) => Standing::Alive,
    }
}
