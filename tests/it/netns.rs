//! Several "hosts" on this machine for the scale-out test (`hosts`): Linux
//! network namespaces (`ip netns`), each with one end of a veth pair whose
//! other end is on a bridge in the root namespace. The bridge has the
//! subnet's first address, so the test process (in the root namespace)
//! reaches every host, and the hosts reach each other over real TCP through
//! the bridge; nothing else is routed.
//!
//! Names are unique per run: namespaces are `reqflow-{pid}-{tag}-{role}`
//! (files under `/run/netns`), the bridge `rfb{tag}` carries the alias
//! `reqflow-{pid}-{tag}`, the subnet is a `10.x.y.0/24` no interface of the
//! machine uses. [`Net`]'s drop kills what runs inside the namespaces and
//! deletes them and the bridge, on panic too; a run killed before its drop
//! is swept by the next one (namespaces and bridges whose pid is gone).
//!
//! [`Postgres`] is a PostgreSQL instance of its own in one namespace: the
//! machine's binaries (`/usr/lib/postgresql/*/bin`), `initdb` into a temp
//! dir and `pg_ctl` as the `postgres` OS user (`runuser`: postgres refuses
//! root), listening on the host's address with trust auth for the subnet.
//! `fsync=off`: the database is never killed here, and the test's figures
//! are about the engine processes.
//!
//! Where this cannot run (not root, no `ip`, `ip netns add` refused, no
//! PostgreSQL binaries, no `postgres` user) [`Prereqs::check`] says so as a
//! SKIPPED line, or fails when `REQFLOW_REQUIRE_NETNS=1` (CI).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use crate::harness::{Launch, note_skipped};

/// Runs a command; its output, or a message naming it.
fn run(program: &str, args: &[&str]) -> Result<Output, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{program}` could not run: {e}"))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a command that must succeed (setting up or querying the hosts).
fn must(program: &str, args: &[&str]) -> Output {
    run(program, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Says the test cannot run here: a SKIPPED line, or a failure under `REQFLOW_REQUIRE_NETNS=1`.
fn skip(test: &str, reason: &str) {
    assert!(
        std::env::var("REQFLOW_REQUIRE_NETNS").as_deref() != Ok("1"),
        "{test}: REQFLOW_REQUIRE_NETNS=1 but {reason}"
    );
    note_skipped(&format!("SKIPPED: {test}: {reason}"));
}

/// What the multi-host test needs from the machine.
pub struct Prereqs {
    /// The newest `/usr/lib/postgresql/N/bin`.
    pub pg_bin: PathBuf,
}

impl Prereqs {
    /// The machine's tools, or `None` after saying what is missing.
    pub fn check(test: &str) -> Option<Prereqs> {
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
            .unwrap_or(false);
        let missing = if !root {
            Some("network namespaces need root (run the test as root, or in CI)".to_owned())
        } else if run("ip", &["-V"]).is_err() {
            Some("`ip` is not installed (apt-get install iproute2)".to_owned())
        } else if run("runuser", &["--version"]).is_err() {
            Some("`runuser` is not installed (util-linux)".to_owned())
        } else if run("id", &["-u", "postgres"]).is_err() {
            Some("there is no `postgres` OS user to run PostgreSQL as (apt-get install postgresql)".to_owned())
        } else if run("psql", &["--version"]).is_err() {
            Some("`psql` is not installed (apt-get install postgresql-client)".to_owned())
        } else {
            None
        };
        if let Some(reason) = missing {
            skip(test, &reason);
            return None;
        }
        let pg_bin = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists() && b.join("postgres").exists())
            .max_by_key(|b| {
                b.parent()
                    .and_then(|v| v.file_name())
                    .and_then(|v| v.to_str())
                    .and_then(|v| v.parse::<u32>().ok())
                    .unwrap_or(0)
            });
        let Some(pg_bin) = pg_bin else {
            skip(test, "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (apt-get install postgresql)");
            return None;
        };
        Some(Prereqs { pg_bin })
    }
}

/// A host: a network namespace with one address on the test's subnet.
#[derive(Clone, Debug)]
pub struct Host {
    /// The namespace's name (`ip netns exec NAME …`).
    pub name: String,
    pub ip: IpAddr,
}

impl Host {
    /// How a child process starts on this host: `ip netns exec NAME`, listening on its address.
    pub fn launch(&self) -> Launch {
        Launch { ip: self.ip, wrap: vec!["ip".into(), "netns".into(), "exec".into(), self.name.clone()] }
    }
}

/// The hosts of one test run and the bridge between them; all removed on drop.
pub struct Net {
    /// `reqflow-{pid}-{tag}`: the prefix of every name of this run.
    prefix: String,
    tag: String,
    bridge: String,
    subnet: [u8; 3],
    hosts: Vec<Host>,
}

impl Net {
    /// A bridge on a free `10.x.y.0/24` (the root namespace at `.1`), or
    /// `None` after saying why (e.g. `ip` refused: no privilege in this container).
    pub fn create(test: &str) -> Option<Net> {
        sweep_stale();
        let tag = format!("{:06x}", random_u64() & 0xff_ffff);
        let prefix = format!("reqflow-{}-{tag}", std::process::id());
        let Some(subnet) = free_subnet() else {
            skip(test, "no free 10.x.y.0/24 subnet for the test's bridge");
            return None;
        };
        let bridge = format!("rfb{tag}");
        let net = Net { prefix, tag, bridge, subnet, hosts: Vec::new() };
        let gw = format!("{}/24", net.ip(1));
        let setup = run("ip", &["link", "add", &net.bridge, "type", "bridge"])
            .and_then(|_| run("ip", &["link", "set", "dev", &net.bridge, "alias", &net.prefix]))
            .and_then(|_| run("ip", &["addr", "add", &gw, "dev", &net.bridge]))
            .and_then(|_| run("ip", &["link", "set", "dev", &net.bridge, "up"]));
        if let Err(e) = setup {
            drop(net);
            skip(test, &format!("cannot create a bridge for network namespaces: {e}"));
            return None;
        }
        // The first namespace says whether `ip netns add` is allowed here.
        let probe = format!("{}-probe", net.prefix);
        if let Err(e) = run("ip", &["netns", "add", &probe]) {
            drop(net);
            skip(test, &format!("cannot create network namespaces: {e}"));
            return None;
        }
        let _ = run("ip", &["netns", "del", &probe]);
        Some(net)
    }

    /// The address `.n` of the subnet.
    pub fn ip(&self, n: u8) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, n))
    }

    /// The subnet, `10.x.y.0/24`.
    pub fn cidr(&self) -> String {
        let [a, b, c] = self.subnet;
        format!("{a}.{b}.{c}.0/24")
    }

    /// A new host named `role` (a namespace with `lo` up and `eth0` on the bridge).
    pub fn host(&mut self, role: &str) -> Host {
        let n = self.hosts.len() + 1;
        let ip = self.ip(u8::try_from(n + 1).expect("fewer than 250 hosts"));
        let name = format!("{}-{role}", self.prefix);
        let (outer, inner) = (format!("rf{}{n}h", self.tag), format!("rf{}{n}n", self.tag));
        must("ip", &["netns", "add", &name]);
        self.hosts.push(Host { name: name.clone(), ip });
        must("ip", &["link", "add", &outer, "type", "veth", "peer", "name", &inner]);
        must("ip", &["link", "set", &outer, "master", &self.bridge, "up"]);
        must("ip", &["link", "set", &inner, "netns", &name]);
        let exec = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            must("ip", &all);
        };
        exec(&["link", "set", "lo", "up"]);
        exec(&["link", "set", &inner, "name", "eth0"]);
        exec(&["addr", "add", &format!("{ip}/24"), "dev", "eth0"]);
        exec(&["link", "set", "eth0", "up"]);
        Host { name, ip }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            remove_namespace(&h.name);
        }
        let _ = run("ip", &["link", "del", &self.bridge]);
    }
}

/// Kills what still runs in a namespace, then deletes it (and so its veth and the peer on the bridge).
fn remove_namespace(name: &str) {
    if let Ok(out) = run("ip", &["netns", "pids", name]) {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = run("kill", &["-9", pid]);
        }
    }
    let _ = run("ip", &["netns", "del", name]);
}

/// Namespaces and bridges left by a run whose process is gone (killed before its drop).
fn sweep_stale() {
    let dead = |name: &str| -> bool {
        name.strip_prefix("reqflow-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    };
    for e in std::fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if dead(&name) {
            remove_namespace(&name);
        }
    }
    if let Ok(out) = run("ip", &["-o", "link", "show", "type", "bridge"]) {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split(':').nth(1).map(str::trim).unwrap_or("");
            let alias = line.split("alias ").nth(1).map(str::trim).unwrap_or("");
            if name.starts_with("rfb") && dead(alias) {
                let _ = run("ip", &["link", "del", name]);
            }
        }
    }
}

/// A `10.x.y` prefix no address or route of the root namespace uses.
fn free_subnet() -> Option<[u8; 3]> {
    let used = |p: &str| -> bool {
        let addrs = run("ip", &["-4", "-o", "addr"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let routes = run("ip", &["-4", "route"]).map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        [addrs, routes].iter().flatten().any(|t| t.contains(p))
    };
    (0..50).find_map(|_| {
        let r = random_u64();
        let subnet = [10, 200 + (r % 50) as u8, ((r >> 8) % 256) as u8];
        (!used(&format!("{}.{}.{}.", subnet[0], subnet[1], subnet[2]))).then_some(subnet)
    })
}

fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.write_u32(std::process::id());
    h.finish()
}

/// A PostgreSQL instance of its own on a host; stopped (immediate) and removed on drop.
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    host: Host,
    /// `postgres://postgres@IP:5432/postgres`.
    pub url: String,
}

impl Postgres {
    /// `initdb` in a temp dir, then `pg_ctl start` in `host`'s namespace; trust auth for `cidr`.
    pub fn start(prereqs: &Prereqs, host: &Host, cidr: &str) -> Postgres {
        let dir = crate::harness::temp_dir("hosts-pg");
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let pg = Postgres {
            bin: prereqs.pg_bin.clone(),
            data: data.clone(),
            dir: dir.clone(),
            host: host.clone(),
            url: format!("postgres://postgres@{}:5432/postgres", host.ip),
        };
        must("chown", &["-R", "postgres:postgres", &dir.to_string_lossy()]);
        let as_postgres = |tool: &str| -> Vec<String> {
            vec!["-u".into(), "postgres".into(), "--".into(), pg.bin.join(tool).to_string_lossy().into_owned()]
        };
        let mut initdb = as_postgres("initdb");
        initdb.extend(
            ["-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]
                .map(String::from),
        );
        must("runuser", &initdb.iter().map(String::as_str).collect::<Vec<_>>());
        let hba = data.join("pg_hba.conf");
        let mut rules = std::fs::read_to_string(&hba).expect("pg_hba.conf");
        rules.push_str(&format!("host all all {cidr} trust\n"));
        std::fs::write(&hba, rules).expect("pg_hba.conf");
        let options = format!(
            "-c listen_addresses={} -c port=5432 -c unix_socket_directories={} -c max_connections=300 -c fsync=off",
            host.ip,
            data.display()
        );
        let mut args: Vec<String> = vec!["netns".into(), "exec".into(), host.name.clone(), "runuser".into()];
        args.extend(as_postgres("pg_ctl"));
        let log = dir.join("postgres.log");
        args.extend(
            ["-D", &data.to_string_lossy(), "-l", &log.to_string_lossy(), "-w", "-t", "60", "-o", &options, "start"]
                .map(String::from),
        );
        if let Err(e) = run("ip", &args.iter().map(String::as_str).collect::<Vec<_>>()) {
            panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        pg
    }

    /// `psql -At -c SQL` from the root namespace (over the bridge); the rows' text.
    pub fn query(&self, sql: &str) -> String {
        String::from_utf8_lossy(&must("psql", &[&self.url, "-v", "ON_ERROR_STOP=1", "-Atqc", sql]).stdout).into_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = run(
            "ip",
            &[
                "netns",
                "exec",
                &self.host.name,
                "runuser",
                "-u",
                "postgres",
                "--",
                &pg_ctl.to_string_lossy(),
                "-D",
                &self.data.to_string_lossy(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
