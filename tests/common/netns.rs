//! Several hosts on one machine: a network namespace per host (the server,
//! workers, the test's own client), each with one veth into a bridge that
//! lives in a namespace of its own, on a private /24. Nothing is created in
//! the machine's own namespace, and each host's routes are checked before
//! any traffic, so no test packet can leave the machine.
//!
//! A host is cut off by taking its bridge port down or with an nftables
//! rule that drops what it receives; both heal. Everything is deleted by
//! name when the fixture drops, and what a crashed run left behind is swept
//! up by prefix when the next fixture starts.
//!
//! Needs root (`ip netns add`). Without it the tests fail saying so, unless
//! `HYPERSWEEP_SKIP_NETNS=1` is set: then they print why and pass.
use std::future::Future;
use std::net::Ipv4Addr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// What every name this fixture creates starts with (namespaces and interfaces).
const PREFIX: &str = "hs";
/// The private /16 the fixtures' /24s come from (each fixture's network is
/// its own island, so two fixtures may even use the same /24).
const NET: [u8; 2] = [10, 231];
/// The nftables table a firewall cut adds in the host's namespace.
const CUT_TABLE: &str = "hypersweep_cut";

static FIXTURES: AtomicU32 = AtomicU32::new(0);

/// How a host is cut off from the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Its port on the bridge goes down (as an unplugged cable).
    Port,
    /// An nftables rule in its namespace drops every packet it receives
    /// from the bridge (as a firewall; its own packets still leave).
    Firewall,
}

/// One host: a namespace, its interface into the bridge, its address.
#[derive(Clone, Debug)]
pub struct Host {
    /// The name the test gives it ("server", "w1").
    pub name: String,
    /// Its network namespace.
    pub ns: String,
    /// Its address on the bridge.
    pub addr: Ipv4Addr,
    /// Its interface (in `ns`).
    pub ifname: String,
    /// The bridge's end of its veth pair (in the bridge's namespace).
    pub port: String,
}

/// The namespaces, bridge and veth pairs of one test, deleted when dropped.
pub struct Hosts {
    /// The namespace holding the bridge.
    pub bridge_ns: String,
    hosts: Vec<Host>,
}

/// Runs `ip` (or another program) with `args`; its output, panicking with
/// what it said if it failed.
fn run(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "{program} {} failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    out
}

/// Runs a command, ignoring whether it worked (cleanup of what may be gone).
fn try_run(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the tests that need namespaces are to be skipped here; panics
/// (saying how to skip) when they cannot run and no one asked to skip.
/// Probed once per process.
fn unavailable() -> Option<String> {
    static PROBED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let why = PROBED.get_or_init(probe).clone()?;
    if std::env::var("HYPERSWEEP_SKIP_NETNS").as_deref() == Ok("1") {
        eprintln!("skipped (HYPERSWEEP_SKIP_NETNS=1): {why}");
        Some(why)
    } else {
        panic!(
            "the several-hosts tests need network namespaces: {why}. \
             Run them as root (after scripts/hosts-setup.sh), or set HYPERSWEEP_SKIP_NETNS=1 to skip them"
        );
    }
}

/// Why network namespaces cannot be made here, if they cannot.
fn probe() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        Some("not root: network namespaces need root".to_string())
    } else {
        let probe = format!("{PREFIX}{:x}n-probe", std::process::id());
        match Command::new("ip")
            .args(["netns", "add", &probe])
            .stderr(Stdio::piped())
            .output()
        {
            Err(e) => Some(format!(
                "`ip` cannot run ({e}); scripts/hosts-setup.sh installs it"
            )),
            Ok(out) if !out.status.success() => Some(format!(
                "`ip netns add` refused: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(_) => {
                try_run("ip", &["netns", "del", &probe]);
                None
            }
        }
    }
}

/// The pid in a name this fixture made (`hs<pid hex>n<counter hex>...`).
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let hex: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    if hex.is_empty() || !rest[hex.len()..].starts_with('n') {
        return None;
    }
    u32::from_str_radix(&hex, 16).ok()
}

/// Whether the process `pid` still exists.
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes the namespace `ns` and ends the processes in it (started by a
/// fixture, by pid).
fn delete_ns(ns: &str) {
    if let Some(pids) = try_run("ip", &["netns", "pids", ns]) {
        for pid in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: a process in a namespace a fixture created and named.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    try_run("ip", &["netns", "del", ns]);
}

/// Deletes what fixtures of processes that no longer run left behind
/// (namespaces, and interfaces in this namespace should any be there).
fn sweep_leftovers() {
    let me = std::process::id();
    let stale = |name: &str| owner_pid(name).is_some_and(|pid| pid != me && !alive(pid));
    if let Some(list) = try_run("ip", &["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()) {
            if stale(ns) {
                delete_ns(ns);
            }
        }
    }
    if let Some(links) = try_run("ip", &["-o", "link", "show"]) {
        for link in links.lines() {
            // "7: name@peer: <...>"
            let Some(name) = link.split(": ").nth(1) else {
                continue;
            };
            let name = name.split('@').next().unwrap_or(name);
            if stale(name) {
                try_run("ip", &["link", "del", name]);
            }
        }
    }
}

impl Hosts {
    /// Creates the bridge and one host per name, addresses .1, .2, ... in
    /// order, and checks every route between them; None (after printing
    /// why) when namespaces are unavailable and HYPERSWEEP_SKIP_NETNS=1.
    pub fn new(names: &[&str]) -> Option<Hosts> {
        assert!(names.len() < 16, "at most 15 hosts");
        if unavailable().is_some() {
            return None;
        }
        sweep_leftovers();
        let n = FIXTURES.fetch_add(1, Ordering::Relaxed);
        // hs<pid hex, at most 6>n<counter hex>: names stay within 15 bytes.
        let stem = format!("{PREFIX}{:x}n{:x}", std::process::id(), n % 256);
        let subnet = (n % 250) as u8 + 1;
        let bridge_ns = format!("{stem}-bridge");
        let mut hosts = Hosts {
            bridge_ns: bridge_ns.clone(),
            hosts: Vec::new(),
        };
        // From here on, a failure drops `hosts`, which deletes what exists.
        run("ip", &["netns", "add", &bridge_ns]);
        run("ip", &["-n", &bridge_ns, "link", "set", "lo", "up"]);
        run(
            "ip",
            &["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"],
        );
        run("ip", &["-n", &bridge_ns, "link", "set", "br0", "up"]);
        for (i, name) in names.iter().enumerate() {
            let host = Host {
                name: name.to_string(),
                ns: format!("{stem}-{name}"),
                addr: Ipv4Addr::new(NET[0], NET[1], subnet, i as u8 + 1),
                ifname: format!("{stem}h{i:x}"),
                port: format!("{stem}p{i:x}"),
            };
            assert!(host.ifname.len() <= 15 && host.port.len() <= 15);
            run("ip", &["netns", "add", &host.ns]);
            hosts.hosts.push(host.clone());
            // Both ends are made inside their namespaces, never in this one.
            run(
                "ip",
                &[
                    "-n",
                    &bridge_ns,
                    "link",
                    "add",
                    &host.port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    &host.ifname,
                    "netns",
                    &host.ns,
                ],
            );
            run(
                "ip",
                &["-n", &bridge_ns, "link", "set", &host.port, "master", "br0"],
            );
            run("ip", &["-n", &bridge_ns, "link", "set", &host.port, "up"]);
            run("ip", &["-n", &host.ns, "link", "set", "lo", "up"]);
            let cidr = format!("{}/24", host.addr);
            run(
                "ip",
                &["-n", &host.ns, "addr", "add", &cidr, "dev", &host.ifname],
            );
            run("ip", &["-n", &host.ns, "link", "set", &host.ifname, "up"]);
        }
        hosts.check_routes();
        Some(hosts)
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// Every host.
    pub fn all(&self) -> &[Host] {
        &self.hosts
    }

    /// Asserts that from every host the route to every other host's
    /// address goes out through that host's own veth, directly (no gateway),
    /// and that no host has any other route (no default route): a packet
    /// can only reach the bridge.
    pub fn check_routes(&self) {
        for from in &self.hosts {
            for to in self.hosts.iter().filter(|h| h.name != from.name) {
                let out = run(
                    "ip",
                    &["-n", &from.ns, "route", "get", &to.addr.to_string()],
                );
                let route = String::from_utf8_lossy(&out.stdout);
                let first = route.lines().next().unwrap_or("");
                let words: Vec<&str> = first.split_whitespace().collect();
                let dev = words
                    .iter()
                    .position(|w| *w == "dev")
                    .and_then(|i| words.get(i + 1));
                assert_eq!(
                    dev,
                    Some(&from.ifname.as_str()),
                    "{} -> {}: {first}",
                    from.name,
                    to.name
                );
                assert!(
                    !words.contains(&"via"),
                    "{} -> {} goes through a gateway: {first}",
                    from.name,
                    to.name
                );
            }
            let routes = run("ip", &["-n", &from.ns, "route", "show", "table", "all"]);
            let routes = String::from_utf8_lossy(&routes.stdout);
            for line in routes.lines() {
                let dev_ok = line.contains(&format!("dev {} ", from.ifname))
                    || line.ends_with(&format!("dev {}", from.ifname))
                    || line.contains("dev lo");
                assert!(
                    dev_ok && !line.starts_with("default"),
                    "host {} has a route off the bridge: {line}",
                    from.name
                );
            }
        }
    }

    /// Asserts that no interface of this fixture is in the namespace of
    /// the calling thread (this machine's own, outside `block_on_in`).
    pub fn check_nothing_outside(&self) {
        let links = run("ip", &["-o", "link", "show"]);
        let links = String::from_utf8_lossy(&links.stdout);
        for host in &self.hosts {
            for name in [&host.ifname, &host.port] {
                assert!(
                    !links.contains(&format!(" {name}:")) && !links.contains(&format!(" {name}@")),
                    "{name} is in this machine's namespace"
                );
            }
        }
    }

    /// `command` to be run inside host `name`'s namespace, as
    /// `ip netns exec NS program args...`, with its environment, folder and
    /// (set on the result) stdio. `ip` execs the program: the child's pid
    /// is the program's.
    pub fn run_in(&self, name: &str, command: &Command) -> Command {
        let host = self.host(name);
        let mut wrapped = Command::new("ip");
        wrapped
            .args(["netns", "exec", &host.ns])
            .arg(command.get_program())
            .args(command.get_args());
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => wrapped.env(key, value),
                None => wrapped.env_remove(key),
            };
        }
        if let Some(dir) = command.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }

    /// Runs `body` on a thread of its own that has entered host `name`'s
    /// namespace, in a tokio runtime started there (its threads are in the
    /// namespace too): the sockets it opens are that host's. Panics in
    /// `body` reach the caller.
    pub fn block_on_in<F, Fut>(&self, name: &str, body: F) -> Fut::Output
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        let ns = self.host(name).ns.clone();
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                enter(&ns);
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(body())
            });
            match thread.join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Cuts host `name` off from the bridge.
    pub fn cut(&self, name: &str, how: Cut) {
        let host = self.host(name);
        match how {
            Cut::Port => {
                run(
                    "ip",
                    &["-n", &self.bridge_ns, "link", "set", &host.port, "down"],
                );
            }
            Cut::Firewall => {
                let rules = format!(
                    "table inet {CUT_TABLE} {{\n  chain input {{\n    type filter hook input priority 0; policy accept;\n    iifname \"{}\" drop\n  }}\n}}\n",
                    host.ifname
                );
                let path = std::env::temp_dir().join(format!("{}.nft", host.ns));
                std::fs::write(&path, rules).unwrap();
                run(
                    "ip",
                    &[
                        "netns",
                        "exec",
                        &host.ns,
                        "nft",
                        "-f",
                        path.to_str().unwrap(),
                    ],
                );
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// Undoes a cut of host `name` made `how`.
    pub fn heal(&self, name: &str, how: Cut) {
        let host = self.host(name);
        match how {
            Cut::Port => {
                run(
                    "ip",
                    &["-n", &self.bridge_ns, "link", "set", &host.port, "up"],
                );
            }
            Cut::Firewall => {
                run(
                    "ip",
                    &[
                        "netns", "exec", &host.ns, "nft", "delete", "table", "inet", CUT_TABLE,
                    ],
                );
            }
        }
    }
}

/// Moves the calling thread into the namespace `ns`. Threads it starts
/// afterwards are in `ns` too.
fn enter(ns: &str) {
    let file = std::fs::File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("namespace {ns}: {e}"));
    use std::os::fd::AsRawFd;
    // SAFETY: setns on a namespace file this fixture created; it changes
    // only this thread's network namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in &self.hosts {
            delete_ns(&host.ns);
        }
        delete_ns(&self.bridge_ns);
    }
}
