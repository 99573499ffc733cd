//! A throwaway PostgreSQL cluster per test binary (initdb + pg_ctl, run as the `postgres`
//! system user because initdb refuses root), one fresh database per test, loaded with the real
//! stackc schema (golden/demo/postgres/init/01-schema.sql and 02-roles.sql via psql).
//! Tests that stop or restart the server, and the benchmark (with PostgreSQL's durable
//! defaults), start a [`standalone`] cluster of their own; the TLS tests start one with
//! `ssl = on` ([`standalone_tls`]).
//!
//! The schema files run verbatim once into the template database `usage_stats` (the name
//! 02-roles.sql grants CONNECT on); each test clones it (`CREATE DATABASE … TEMPLATE`) and
//! re-applies the file's database-level lines with the clone's name. Tests connect as the
//! `usage_scraper` role over TCP with its password, so missing privileges show up.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The scraper role's password in the test clusters.
pub(crate) const SCRAPER_PASSWORD: &str = "scraper-test-pw";
const READER_PASSWORD: &str = "reader-test-pw";

static CLUSTER: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static DB_SEQ: AtomicUsize = AtomicUsize::new(0);

/// A running cluster; stopped when the last test holding it drops it.
#[derive(Debug)]
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub(crate) port: u16,
    as_postgres: bool,
    /// The server options (`pg_ctl -o`).
    opts: String,
}

/// The repository root (crates/usage-scraper/../..).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_dir() -> PathBuf {
    repo_root().join("golden/demo/postgres/init")
}

fn find_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("initdb"))
                .collect()
        })
        .unwrap_or_default();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut vs: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin/initdb")).collect();
        vs.sort();
        vs.reverse();
        candidates.extend(vs);
    }
    candidates.into_iter().find_map(|c| {
        let real = std::fs::canonicalize(&c).ok()?;
        let dir = real.parent()?.to_path_buf();
        (dir.join("postgres").exists() && dir.join("pg_ctl").exists()).then_some(dir)
    })
}

fn find_psql() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("psql"))
                .find(|p| p.exists())
        })
        .or_else(|| find_bin().map(|d| d.join("psql")).filter(|p| p.exists()))
}

fn current_uid() -> u32 {
    let out = Command::new("id").arg("-u").output().expect("run id -u");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

fn postgres_ids() -> Option<(u32, u32)> {
    let uid = Command::new("id").args(["-u", "postgres"]).output().ok()?;
    let gid = Command::new("id").args(["-g", "postgres"]).output().ok()?;
    if !uid.status.success() {
        return None;
    }
    Some((
        String::from_utf8_lossy(&uid.stdout).trim().parse().ok()?,
        String::from_utf8_lossy(&gid.stdout).trim().parse().ok()?,
    ))
}

fn check(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A free 127.0.0.1 port (bound, then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// PostgreSQL's server binaries, or `None` (after a loud message) when they or psql are not
/// installed and `STACKC_REQUIRE_TOOLS` is not 1.
fn installed_bin() -> Option<PathBuf> {
    if let Some(bin) = find_bin().filter(|_| find_psql().is_some()) {
        return Some(bin);
    }
    let msg = "PostgreSQL (initdb, pg_ctl, postgres, psql) not found: this database test \
               did NOT run. Install postgresql; CI sets STACKC_REQUIRE_TOOLS=1.";
    if std::env::var("STACKC_REQUIRE_TOOLS").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    None
}

/// The shared cluster, or `None` (after a loud message) when PostgreSQL is not installed and
/// `STACKC_REQUIRE_TOOLS` is not 1.
pub(crate) fn cluster() -> Option<Arc<Cluster>> {
    let mut g = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = g.upgrade() {
        return Some(c);
    }
    let bin = installed_bin()?;
    let c = Arc::new(Cluster::start(bin, false, None));
    *g = Arc::downgrade(&c);
    Some(c)
}

/// A cluster of its own (not shared with other tests of the binary), for benchmarks and for
/// tests that restart the server. `durable` keeps PostgreSQL's defaults (fsync, synchronous
/// commit, full-page writes) instead of the fast test settings.
pub(crate) fn standalone(durable: bool) -> Option<Cluster> {
    let bin = installed_bin()?;
    Some(Cluster::start(bin, durable, None))
}

/// A cluster of its own with `ssl = on`, serving this certificate (chain) and key (PEM files;
/// copied into the cluster's directory, owned by the server's user, mode 0600).
pub(crate) fn standalone_tls(cert: &Path, key: &Path) -> Option<Cluster> {
    let bin = installed_bin()?;
    Some(Cluster::start(bin, false, Some((cert, key))))
}

impl Cluster {
    fn start(bin: PathBuf, durable: bool, tls: Option<(&Path, &Path)>) -> Self {
        let as_postgres = current_uid() == 0;
        let dir = tempfile::Builder::new()
            .prefix("pgt")
            .tempdir_in("/tmp")
            .expect("temp dir");
        if as_postgres {
            let (uid, gid) = postgres_ids().expect("running as root needs a `postgres` user");
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        }
        let port = free_port();
        let fast = if durable {
            ""
        } else {
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        };
        let mut ssl = String::new();
        if let Some((cert, key)) = tls {
            for (from, name) in [(cert, "server.crt"), (key, "server.key")] {
                let to = dir.path().join(name);
                std::fs::copy(from, &to).expect("copy the TLS files");
                std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .expect("chmod");
                if as_postgres {
                    let (uid, gid) = postgres_ids().expect("postgres user");
                    std::os::unix::fs::chown(&to, Some(uid), Some(gid)).expect("chown");
                }
            }
            ssl = format!(
                " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.path().join("server.crt").display(),
                dir.path().join("server.key").display()
            );
        }
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -k {}{fast}{ssl} -c max_connections=200",
            dir.path().display()
        );
        let c = Self {
            dir,
            bin,
            port,
            as_postgres,
            opts,
        };
        let data = c.dir.path().join("data");
        check(
            c.pg_cmd("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "--auth-host=scram-sha-256",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--no-instructions",
                ])
                .output()
                .expect("run initdb"),
            "initdb",
        );
        c.start_server();
        c.psql("postgres", "CREATE DATABASE usage_stats");
        let sd = schema_dir();
        check(
            c.psql_cmd("usage_stats")
                .arg("-f")
                .arg(sd.join("01-schema.sql"))
                .arg("-f")
                .arg(sd.join("02-roles.sql"))
                .env("USAGE_SCRAPER_DB_PASSWORD", SCRAPER_PASSWORD)
                .env("USAGE_READER_DB_PASSWORD", READER_PASSWORD)
                .output()
                .expect("run psql"),
            "psql -f 01-schema.sql -f 02-roles.sql",
        );
        c
    }

    /// Starts the server (after initdb, or after [`Self::stop`]).
    pub(crate) fn start_server(&self) {
        check(
            self.pg_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-w", "-t", "60", "-l"])
                .arg(self.dir.path().join("log"))
                .args(["-o", &self.opts, "start"])
                .output()
                .expect("run pg_ctl"),
            "pg_ctl start",
        );
    }

    /// Stops the server (`pg_ctl stop -m fast`).
    pub(crate) fn stop(&self) {
        check(
            self.pg_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-w", "-t", "60", "-m", "fast", "stop"])
                .output()
                .expect("run pg_ctl"),
            "pg_ctl stop",
        );
    }

    /// Restarts the server (`pg_ctl restart -m fast`: sessions are terminated, in-flight
    /// transactions roll back) on the same port, waiting until it accepts connections again.
    pub(crate) fn restart(&self) {
        check(
            self.pg_cmd("pg_ctl")
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-w", "-t", "60", "-m", "fast", "-l"])
                .arg(self.dir.path().join("log"))
                .arg("restart")
                .output()
                .expect("run pg_ctl"),
            "pg_ctl restart",
        );
    }

    /// The server's version string (`SHOW server_version`).
    pub(crate) fn version(&self) -> String {
        self.psql("postgres", "SHOW server_version")
            .trim()
            .to_owned()
    }

    /// psql connected like the scraper: as `usage_scraper`, over TCP, with its password.
    pub(crate) fn psql_as_scraper(&self, db: &str) -> Command {
        let mut cmd = Command::new(find_psql().expect("psql"));
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "usage_scraper", "-d", db])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .env("PGPASSWORD", SCRAPER_PASSWORD);
        cmd
    }

    fn pg_cmd(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn psql_cmd(&self, db: &str) -> Command {
        let mut cmd = Command::new(find_psql().expect("psql"));
        cmd.arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string(), "-U", "postgres", "-d", db])
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        cmd
    }

    /// Runs SQL as the superuser; returns psql's unaligned output.
    pub(crate) fn psql(&self, db: &str, sql: &str) -> String {
        let out = check(
            self.psql_cmd(db)
                .arg("-c")
                .arg(sql)
                .output()
                .expect("run psql"),
            &format!("psql {sql:?}"),
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A fresh database with the real schema and grants.
    pub(crate) fn new_db(&self, tag: &str) -> String {
        let name = self.db_name(tag);
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {name} TEMPLATE usage_stats"),
        );
        let roles = std::fs::read_to_string(schema_dir().join("02-roles.sql")).unwrap();
        let db_lines: Vec<String> = roles
            .lines()
            .filter(|l| l.contains("ON DATABASE usage_stats"))
            .map(|l| l.replace("ON DATABASE usage_stats", &format!("ON DATABASE {name}")))
            .collect();
        assert_eq!(db_lines.len(), 2, "02-roles.sql changed: {db_lines:?}");
        self.psql("postgres", &db_lines.join("\n"));
        name
    }

    /// A fresh database without the schema, that the scraper role may connect to.
    pub(crate) fn new_empty_db(&self, tag: &str) -> String {
        let name = self.db_name(tag);
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        self.psql(
            "postgres",
            &format!("GRANT CONNECT ON DATABASE {name} TO usage_scraper"),
        );
        name
    }

    fn db_name(&self, tag: &str) -> String {
        let n = DB_SEQ.fetch_add(1, Ordering::SeqCst);
        let tag: String = tag
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        format!("t{n}_{tag}")
    }

    /// A superuser client (unix socket) for assertions.
    pub(crate) async fn superuser(&self, db: &str) -> tokio_postgres::Client {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname(db);
        let (client, conn) = cfg.connect(tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(async move {
            let _ = conn.await;
        });
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .pg_cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
