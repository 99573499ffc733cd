//! A throwaway PostgreSQL for tests that need the generated SQL in a real server.
//!
//! `load(tree)` gives a fresh database set up from a generated tree exactly as the
//! `postgres` image's entrypoint would: a cluster made by `initdb` with the superuser
//! password and `scram-sha-256` over TCP, the database named by `POSTGRES_DB` in the
//! tree's `compose.yaml`, then every `postgres/init/*.sql` in name order through
//! `psql -v ON_ERROR_STOP=1` with the postgres service's environment (so that
//! `02-roles.sql`'s `\getenv` finds the passwords). `Database::query` then runs SQL as any
//! role over TCP with that role's password and returns rows as text, or the server's error.
//!
//! Roles are cluster-wide, so one cluster is started per distinct set of init files (in
//! practice one per test binary), shared by the tests alive at the same time and stopped
//! when the last one drops it. The files run verbatim once, into the database they name;
//! every `load` then clones it (`CREATE DATABASE … TEMPLATE`) and copies its database-level
//! privileges, so tests can write without seeing each other's rows.
//!
//! A tree whose usage events go to an external database (`[components.postgres]`, no
//! postgres service) is loaded the way its SQL files' headers tell a user to run them on a
//! managed server: the database is created owned by `EXTERNAL_ADMIN`, a role with
//! CREATEROLE but not superuser (as a managed database's admin user is), and the files run
//! as that role with the two role passwords in the environment.
//!
//! Without PostgreSQL (`initdb`, `pg_ctl`, `psql`) `load` returns `None` after a loud
//! message; with `STACKC_REQUIRE_TOOLS=1` it panics instead. As root, the server runs as
//! the `postgres` system user (initdb refuses root).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use stackc::wiring::{db, secret};

/// The superuser the image's entrypoint creates (`POSTGRES_USER`).
pub(crate) const SUPERUSER: &str = db::SUPERUSER;

/// The admin user of a "managed" server, for trees with an external database.
pub(crate) const EXTERNAL_ADMIN: &str = "usage_admin";

/// One row of text values (`None` for SQL NULL).
pub(crate) type Row = Vec<Option<String>>;

/// An error the server (or the connection) reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlError {
    /// The SQLSTATE, e.g. `42501` for "permission denied"; empty when not from the server.
    pub(crate) code: String,
    pub(crate) message: String,
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl SqlError {
    /// `42501`: the role lacks a privilege.
    pub(crate) fn is_permission_denied(&self) -> bool {
        self.code == "42501"
    }
}

/// A database set up from one generated tree; its own clone, dropped with the cluster.
pub(crate) struct Database {
    cluster: Arc<Cluster>,
    name: String,
}

impl Database {
    /// The database's name (a clone of the one `POSTGRES_DB` names).
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The TCP port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.cluster.port
    }

    /// The test password of a role: the superuser, or a role the init SQL creates from a
    /// password variable (`usage_scraper`, `usage_reader`).
    pub(crate) fn password(&self, role: &str) -> &str {
        self.cluster
            .passwords
            .get(role)
            .unwrap_or_else(|| panic!("no password known for role `{role}`"))
    }

    /// A client logged in as `role` over TCP, with its password.
    pub(crate) fn connect(&self, role: &str) -> Result<postgres::Client, SqlError> {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.cluster.port)
            .user(role)
            .password(self.password(role))
            .dbname(&self.name)
            .connect(postgres::NoTls)
            .map_err(sql_error)
    }

    /// Runs SQL (one or more statements, simple protocol) as `role` in a new session;
    /// returns the rows of every statement, in order, as text.
    pub(crate) fn query(&self, role: &str, sql: &str) -> Result<Vec<Row>, SqlError> {
        let mut client = self.connect(role)?;
        let messages = client.simple_query(sql).map_err(sql_error)?;
        Ok(messages
            .into_iter()
            .filter_map(|m| match m {
                postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// `query` as the superuser, panicking on error: for setup and assertions.
    pub(crate) fn admin(&self, sql: &str) -> Vec<Row> {
        self.query(SUPERUSER, sql)
            .unwrap_or_else(|e| panic!("superuser SQL failed: {e}\n{sql}"))
    }
}

fn sql_error(error: postgres::Error) -> SqlError {
    match error.as_db_error() {
        Some(db) => SqlError {
            code: db.code().code().to_owned(),
            message: db.message().to_owned(),
        },
        None => SqlError {
            code: String::new(),
            message: error.to_string(),
        },
    }
}

/// A fresh database loaded with the generated SQL of the tree at `tree` (a `stackc build`
/// output directory with usage on); `None` when PostgreSQL is missing and not required.
pub(crate) fn load(tree: &Path) -> Option<Database> {
    let setup = Setup::read(tree);
    let cluster = cluster_for(&setup)?;
    let name = cluster.clone_database();
    Some(Database { cluster, name })
}

/// What the postgres service of a generated tree starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Setup {
    /// `POSTGRES_DB`.
    database: String,
    /// `postgres/init/*.sql`, by name.
    files: Vec<(String, String)>,
    /// The service's environment, secrets replaced by test values.
    env: BTreeMap<String, String>,
    /// External database: the files run as this non-superuser admin, in a database it owns.
    admin: Option<&'static str>,
}

/// The test value of a secret variable.
fn test_password(var: &str) -> String {
    format!("test-{}", var.to_ascii_lowercase().replace('_', "-"))
}

impl Setup {
    fn read(tree: &Path) -> Self {
        let compose: serde_json::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(tree.join("compose.yaml"))
                .unwrap_or_else(|e| panic!("{}: no compose.yaml: {e}", tree.display())),
        )
        .expect("compose.yaml parses");
        let services = &compose["services"];
        let external = services.get("postgres").is_none();
        let environment: Vec<(&String, &serde_json::Value)> = if external {
            // The user runs the files with the role passwords of `.env`, as the scraper
            // and Grafana read them.
            assert!(
                services.get("usage-scraper").is_some(),
                "{}: no usage scraper (usage off?)",
                tree.display()
            );
            ["usage-scraper", "grafana"]
                .iter()
                .flat_map(|svc| services[*svc]["environment"].as_object().unwrap().iter())
                .filter(|(k, _)| k.starts_with("USAGE_"))
                .collect()
        } else {
            services["postgres"]["environment"]
                .as_object()
                .unwrap_or_else(|| panic!("{}: no postgres service (usage off?)", tree.display()))
                .iter()
                .collect()
        };
        let mut env: BTreeMap<String, String> = environment
            .into_iter()
            .map(|(k, v)| {
                let v = v.as_str().expect("environment values are strings");
                // `${VAR:?…}` comes from .env: a test value stands in.
                let value = match v.strip_prefix("${").and_then(|r| r.split_once(":?")) {
                    Some((var, _)) => test_password(var),
                    None => v.replace("$$", "$"),
                };
                (k.clone(), value)
            })
            .collect();
        let database = if external {
            let scraper: toml::Table = toml::from_str(
                &std::fs::read_to_string(tree.join("usage-scraper/scraper.toml")).unwrap(),
            )
            .unwrap();
            env.insert(
                "POSTGRES_PASSWORD".to_owned(),
                test_password(secret::POSTGRES_PASSWORD),
            );
            scraper["postgres"]["database"].as_str().unwrap().to_owned()
        } else {
            assert_eq!(
                env.get("POSTGRES_USER").map(String::as_str),
                Some(SUPERUSER),
                "the harness assumes the image's superuser"
            );
            env.get("POSTGRES_DB").expect("POSTGRES_DB is set").clone()
        };
        let mut files: Vec<(String, String)> = std::fs::read_dir(tree.join("postgres/init"))
            .expect("postgres/init exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no postgres/init/*.sql");
        Setup {
            database,
            files,
            env,
            admin: external.then_some(EXTERNAL_ADMIN),
        }
    }
}

/// Running clusters by the setup they were loaded with.
static CLUSTERS: Mutex<Vec<(Setup, Weak<Cluster>)>> = Mutex::new(Vec::new());
static SEQ: AtomicUsize = AtomicUsize::new(0);

fn cluster_for(setup: &Setup) -> Option<Arc<Cluster>> {
    let mut clusters = CLUSTERS.lock().unwrap_or_else(|e| e.into_inner());
    clusters.retain(|(_, weak)| weak.strong_count() > 0);
    if let Some(cluster) = clusters
        .iter()
        .find(|(s, _)| s == setup)
        .and_then(|(_, weak)| weak.upgrade())
    {
        return Some(cluster);
    }
    let bin = tools()?;
    let cluster = Arc::new(Cluster::start(bin, setup));
    clusters.push((setup.clone(), Arc::downgrade(&cluster)));
    Some(cluster)
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
fn tools() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(versions) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut found: Vec<PathBuf> = versions.flatten().map(|e| e.path().join("bin")).collect();
        found.sort();
        found.reverse();
        candidates.extend(found);
    }
    let found = candidates.into_iter().find(|dir| {
        ["initdb", "pg_ctl", "postgres", "psql"]
            .iter()
            .all(|tool| dir.join(tool).exists())
    });
    if found.is_none() {
        let message = "PostgreSQL (initdb, pg_ctl, postgres, psql) not found: this database \
                       test did NOT run. Install postgresql; CI sets STACKC_REQUIRE_TOOLS=1.";
        if std::env::var("STACKC_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("{message}");
        }
        eprintln!("\n!!!!!!!! {message} !!!!!!!!\n");
    }
    found
}

fn succeeded(output: Output, what: &str) -> Output {
    assert!(
        output.status.success(),
        "{what} failed: {}\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    /// The database the init files ran in; the template of every clone.
    template: String,
    /// Role → test password.
    passwords: BTreeMap<String, String>,
    /// `CREATE DATABASE … TEMPLATE` one at a time.
    cloning: Mutex<()>,
}

impl Cluster {
    fn start(bin: PathBuf, setup: &Setup) -> Self {
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("stackc-pg")
            .tempdir_in("/tmp")
            .expect("a temporary directory");
        let passwords = BTreeMap::from([
            (
                SUPERUSER.to_owned(),
                test_password(secret::POSTGRES_PASSWORD),
            ),
            (
                db::WRITER_ROLE.to_owned(),
                test_password(secret::SCRAPER_DB_PASSWORD),
            ),
            (
                db::READER_ROLE.to_owned(),
                test_password(secret::READER_DB_PASSWORD),
            ),
        ]);
        let cluster = Cluster {
            dir,
            bin,
            port: free_port(),
            as_postgres,
            template: setup.database.clone(),
            passwords,
            cloning: Mutex::new(()),
        };
        let root = cluster.dir.path();
        let pwfile = root.join("pwfile");
        std::fs::write(&pwfile, &setup.env["POSTGRES_PASSWORD"]).unwrap();
        if as_postgres {
            succeeded(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(root)
                    .output()
                    .expect("chown"),
                "chown postgres",
            );
        }
        let data = root.join("data");
        // As the image's entrypoint: superuser password, local trust, scram over TCP.
        succeeded(
            cluster
                .server_tool("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", SUPERUSER, "--pwfile"])
                .arg(&pwfile)
                .args([
                    "--auth-local=trust",
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
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=100",
            cluster.port,
            root.display()
        );
        succeeded(
            cluster
                .server_tool("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-l"])
                .arg(root.join("log"))
                .args(["-o", &options, "start"])
                .output()
                .expect("run pg_ctl"),
            "pg_ctl start",
        );
        let create = match setup.admin {
            // A managed server: its admin may create roles and owns the database, and is
            // no superuser.
            Some(admin) => format!(
                "CREATE ROLE {admin} LOGIN CREATEROLE NOSUPERUSER; \
                 CREATE DATABASE \"{}\" OWNER {admin}",
                setup.database
            ),
            None => format!("CREATE DATABASE \"{}\"", setup.database),
        };
        for statement in create.split("; ") {
            succeeded(
                cluster
                    .psql("postgres")
                    .arg("-c")
                    .arg(statement)
                    .output()
                    .expect("run psql"),
                "CREATE DATABASE",
            );
        }
        for (name, text) in &setup.files {
            let path = root.join(name);
            std::fs::write(&path, text).unwrap();
            let mut psql = cluster.psql(&setup.database);
            if let Some(admin) = setup.admin {
                psql.args(["--username", admin]);
            }
            succeeded(
                psql.arg("-f")
                    .arg(&path)
                    .envs(&setup.env)
                    .output()
                    .expect("run psql"),
                &format!("psql -f {name}"),
            );
        }
        cluster
    }

    /// `initdb`, `pg_ctl`: as the `postgres` user when running as root.
    fn server_tool(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// `psql` as the superuser over the socket, as the entrypoint runs it.
    fn psql(&self, database: &str) -> Command {
        let mut command = Command::new(self.bin.join("psql"));
        command
            .arg("-h")
            .arg(self.dir.path())
            .args(["-p", &self.port.to_string()])
            .args(["-v", "ON_ERROR_STOP=1", "--username", SUPERUSER])
            .args(["--no-password", "--no-psqlrc", "--dbname", database])
            .args(["-q"])
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE");
        command
    }

    /// A clone of the loaded database, with the same database-level privileges.
    fn clone_database(&self) -> String {
        let _one = self.cloning.lock().unwrap_or_else(|e| e.into_inner());
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let mut name = format!("t{n}_{}", self.template);
        name.truncate(63);
        let mut client = postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(SUPERUSER)
            .password(&self.passwords[SUPERUSER])
            .dbname("postgres")
            .connect(postgres::NoTls)
            .expect("superuser connects over TCP");
        client
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{}\"",
                self.template
            ))
            .expect("clone the loaded database");
        // pg_database's ACL is not copied with the template: replay it.
        let grants = client
            .query(
                "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(r.rolname) END, \
                 a.privilege_type \
                 FROM pg_database d, aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a \
                 LEFT JOIN pg_roles r ON r.oid = a.grantee \
                 WHERE d.datname = $1",
                &[&self.template],
            )
            .expect("read the template's privileges");
        let mut sql = format!("REVOKE ALL ON DATABASE \"{name}\" FROM PUBLIC;\n");
        for row in grants {
            let grantee: String = row.get(0);
            let privilege: String = row.get(1);
            sql.push_str(&format!(
                "GRANT {privilege} ON DATABASE \"{name}\" TO {grantee};\n"
            ));
        }
        client
            .batch_execute(&sql)
            .expect("copy the database privileges");
        name
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .server_tool("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}
