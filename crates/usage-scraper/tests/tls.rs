//! TLS to PostgreSQL (`[postgres] sslmode` / `root_cert`) against real servers: a cluster
//! with `ssl = on` serving a certificate for `localhost` signed by a CA made here with the
//! `openssl` command, a second CA that signed nothing, and the shared cluster with `ssl = off`.
//!
//! Every case goes through [`Settings::parse`] with environment overrides (as the container
//! gets them) and [`Db::connect`]; whether a session really is encrypted is read on the server
//! (`pg_stat_ssl`). The last test runs the binary with `--once` over `verify-full`.
//!
//! Without `openssl` or PostgreSQL the tests say so loudly and pass, unless `CI=true` or
//! `STACKC_REQUIRE_TOOLS=1`: then they fail.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use support::fake_loki::FakeLoki;
use support::pg::{self, Cluster};
use support::{Row, SEC, assert_rows, golden_query, golden_settings_text, sorted, stream};
use usage_scraper::Settings;
use usage_scraper::clock::system_now_ns;
use usage_scraper::db::Db;

/// Whether a missing tool must fail the test instead of skipping it.
fn tools_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("STACKC_REQUIRE_TOOLS").as_deref() == Ok("1")
}

fn run_openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test certificates (PEM files in a temp dir).
struct Pki {
    _dir: tempfile::TempDir,
    /// The CA that signed the server's certificate.
    ca: PathBuf,
    /// A CA that signed nothing the server has.
    other_ca: PathBuf,
    /// The server's certificate: CN and only SAN `DNS:localhost`.
    cert: PathBuf,
    key: PathBuf,
}

const OPENSSL_CNF: &str = "\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// Makes two CAs and a server certificate for `localhost` with the `openssl` command, or
/// `None` (after a loud message) when it is missing and not required.
fn pki() -> Option<Pki> {
    let found = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let msg = "the openssl command is not installed: this TLS test did NOT run. \
                   Install openssl; with CI=true or STACKC_REQUIRE_TOOLS=1 this fails.";
        if tools_required() {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("openssl.cnf"), OPENSSL_CNF).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for (name, cn) in [
        ("ca", "usage-scraper test CA"),
        ("other-ca", "some other CA"),
    ] {
        let (key, pem, subj) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("/CN={cn}"),
        );
        let mut args = vec!["req", "-x509", "-config", "openssl.cnf"];
        args.extend(["-extensions", "ca_ext", "-days", "2", "-subj", &subj]);
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &pem]);
        run_openssl(d, &args);
    }
    let mut args = vec![
        "req",
        "-new",
        "-config",
        "openssl.cnf",
        "-subj",
        "/CN=localhost",
    ];
    args.extend(ec);
    args.extend(["-keyout", "server.key", "-out", "server.csr"]);
    run_openssl(d, &args);
    run_openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "1001",
            "-days",
            "2",
            "-extfile",
            "openssl.cnf",
            "-extensions",
            "server_ext",
            "-out",
            "server.pem",
        ],
    );
    Some(Pki {
        ca: d.join("ca.pem"),
        other_ca: d.join("other-ca.pem"),
        cert: d.join("server.pem"),
        key: d.join("server.key"),
        _dir: dir,
    })
}

/// The certificates and the `ssl = on` cluster serving them.
struct TlsCluster {
    pki: Pki,
    cluster: Cluster,
}

static TLS_CLUSTER: Mutex<Weak<TlsCluster>> = Mutex::new(Weak::new());

/// The TLS cluster shared by the tests of this binary (stopped when the last one drops it).
fn tls_cluster() -> Option<Arc<TlsCluster>> {
    let mut g = TLS_CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(c) = g.upgrade() {
        return Some(c);
    }
    let pki = pki()?;
    let cluster = pg::standalone_tls(&pki.cert, &pki.key)?;
    let c = Arc::new(TlsCluster { pki, cluster });
    *g = Arc::downgrade(&c);
    Some(c)
}

/// The golden settings pointed at `db` on `cluster` via `host`, plus `env` overrides.
fn settings(cluster: &Cluster, db: &str, host: &str, env: &[(&str, &str)]) -> Settings {
    let port = cluster.port.to_string();
    let base = [
        ("USAGE_SCRAPER_POSTGRES_HOST", host),
        ("USAGE_SCRAPER_POSTGRES_PORT", port.as_str()),
        ("USAGE_SCRAPER_POSTGRES_DATABASE", db),
    ];
    Settings::parse(&golden_settings_text(), |k| {
        base.iter()
            .chain(env)
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

async fn connect(s: &Settings) -> anyhow::Result<Db> {
    Db::connect(&s.postgres, pg::SCRAPER_PASSWORD, Duration::from_secs(10)).await
}

/// Whether the scraper's session in `db` is encrypted, and with which protocol version, as
/// the server sees it.
async fn server_side_ssl(cluster: &Cluster, db: &str) -> (bool, Option<String>) {
    let su = cluster.superuser("postgres").await;
    let row = su
        .query_one(
            "SELECT s.ssl, s.version FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1 AND a.application_name = 'usage-scraper'",
            &[&db],
        )
        .await
        .expect("exactly one scraper session");
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_without_checking_the_certificate() {
    let Some(t) = tls_cluster() else { return };
    for host in ["127.0.0.1", "localhost"] {
        let db = t.cluster.new_db("tls_require");
        // Neither the host name (127.0.0.1 is not in the certificate) nor the issuer (no
        // root_cert, and the test CA is in no system store) is checked.
        let s = settings(
            &t.cluster,
            &db,
            host,
            &[("USAGE_SCRAPER_POSTGRES_SSLMODE", "require")],
        );
        let conn = connect(&s)
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:#}"));
        let (ssl, version) = server_side_ssl(&t.cluster, &db).await;
        assert!(ssl, "{host}: the session is not encrypted");
        assert!(version.is_some_and(|v| v.starts_with("TLSv1.")), "{host}");
        // The connection works (the scraper's lock and cursor queries).
        assert!(conn.try_lock().await.unwrap());
        assert_eq!(conn.cursor().await.unwrap(), None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_with_root_cert_checks_the_chain_but_not_the_host_name() {
    let Some(t) = tls_cluster() else { return };
    let db = t.cluster.new_db("tls_require_ca");
    let s = settings(
        &t.cluster,
        &db,
        "127.0.0.1",
        &[
            ("USAGE_SCRAPER_POSTGRES_SSLMODE", "require"),
            ("USAGE_SCRAPER_POSTGRES_ROOT_CERT", path(&t.pki.ca)),
        ],
    );
    let _conn = connect(&s).await.unwrap_or_else(|e| panic!("{e:#}"));
    assert!(server_side_ssl(&t.cluster, &db).await.0);
    let s = settings(
        &t.cluster,
        &db,
        "127.0.0.1",
        &[
            ("USAGE_SCRAPER_POSTGRES_SSLMODE", "require"),
            ("USAGE_SCRAPER_POSTGRES_ROOT_CERT", path(&t.pki.other_ca)),
        ],
    );
    let err = format!("{:#}", connect(&s).await.unwrap_err());
    assert!(
        err.contains("certificate verification failed for host 127.0.0.1 (sslmode=require:"),
        "{err}"
    );
    assert!(err.contains(path(&t.pki.other_ca)), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_checks_the_chain_and_the_host_name() {
    let Some(t) = tls_cluster() else { return };
    let db = t.cluster.new_db("tls_verify_full");
    fn full(root: &Path) -> [(&'static str, &str); 2] {
        [
            ("USAGE_SCRAPER_POSTGRES_SSLMODE", "verify-full"),
            ("USAGE_SCRAPER_POSTGRES_ROOT_CERT", path(root)),
        ]
    }
    // The right CA and a name the certificate carries.
    let s = settings(&t.cluster, &db, "localhost", &full(&t.pki.ca));
    let conn = connect(&s).await.unwrap_or_else(|e| panic!("{e:#}"));
    let (ssl, _) = server_side_ssl(&t.cluster, &db).await;
    assert!(ssl, "the session is not encrypted");
    drop(conn);

    // Another CA.
    let s = settings(&t.cluster, &db, "localhost", &full(&t.pki.other_ca));
    let err = format!("{:#}", connect(&s).await.unwrap_err());
    assert!(
        err.contains("certificate verification failed for host localhost (sslmode=verify-full:"),
        "{err}"
    );
    assert!(err.contains("UnknownIssuer"), "{err}");

    // The right CA, but the certificate names only localhost.
    let s = settings(&t.cluster, &db, "127.0.0.1", &full(&t.pki.ca));
    let err = format!("{:#}", connect(&s).await.unwrap_err());
    assert!(
        err.contains("certificate verification failed for host 127.0.0.1 (sslmode=verify-full:"),
        "{err}"
    );
    assert!(err.contains("not valid for name"), "{err}");

    // No root_cert: the system's roots, which do not hold the test CA.
    let s = settings(
        &t.cluster,
        &db,
        "localhost",
        &[("USAGE_SCRAPER_POSTGRES_SSLMODE", "verify-full")],
    );
    let err = format!("{:#}", connect(&s).await.unwrap_err());
    assert!(
        err.contains("the system's CA certificates"),
        "verify-full without root_cert: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_against_a_server_without_tls_fails_clearly() {
    let Some(cluster) = pg::cluster() else { return };
    let db = cluster.new_db("tls_off");
    for mode in ["require", "verify-full"] {
        let s = settings(
            &cluster,
            &db,
            "127.0.0.1",
            &[("USAGE_SCRAPER_POSTGRES_SSLMODE", mode)],
        );
        let err = format!("{:#}", connect(&s).await.unwrap_err());
        assert!(
            err.contains(&format!(
                "TLS required (sslmode={mode}) but the server does not support it"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "cannot connect to PostgreSQL 127.0.0.1:{}",
                cluster.port
            )),
            "{err}"
        );
    }
    // Today's behaviour is unchanged there.
    let s = settings(&cluster, &db, "127.0.0.1", &[]);
    let _conn = connect(&s).await.unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!server_side_ssl(&cluster, &db).await.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_and_absent_connect_without_tls_even_to_a_tls_server() {
    let Some(t) = tls_cluster() else { return };
    for env in [
        &[][..],
        &[("USAGE_SCRAPER_POSTGRES_SSLMODE", "disable")][..],
    ] {
        let db = t.cluster.new_db("tls_disable");
        let s = settings(&t.cluster, &db, "127.0.0.1", env);
        let _conn = connect(&s)
            .await
            .unwrap_or_else(|e| panic!("{env:?}: {e:#}"));
        assert_eq!(
            server_side_ssl(&t.cluster, &db).await,
            (false, None),
            "{env:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stores_events_over_verify_full() {
    let Some(t) = tls_cluster() else { return };
    let db = t.cluster.new_db("tls_bin_once");
    let loki = FakeLoki::start(system_now_ns).await;
    loki.expect_query(&golden_query());
    let now = system_now_ns();
    let labels = stream("dice");
    let want: Vec<Row> = (0..50)
        .map(|i| {
            let ts = now - 20 * 60 * SEC + i as i64 * SEC;
            let line = support::usage_line(i);
            loki.push(&labels, ts, &line);
            (ts, "dice".to_owned(), line)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("scraper.toml");
    std::fs::write(&config, golden_settings_text()).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_usage-scraper"));
    cmd.arg("--config")
        .arg(&config)
        .arg("--once")
        .env("USAGE_SCRAPER_DB_PASSWORD", pg::SCRAPER_PASSWORD)
        .env_remove("USAGE_SCRAPER_DB_PASSWORD_FILE")
        .env("USAGE_SCRAPER_LOKI_URL", loki.url())
        .env("USAGE_SCRAPER_POSTGRES_HOST", "localhost")
        .env("USAGE_SCRAPER_POSTGRES_PORT", t.cluster.port.to_string())
        .env("USAGE_SCRAPER_POSTGRES_DATABASE", &db)
        .env("USAGE_SCRAPER_POSTGRES_SSLMODE", "verify-full")
        .env("USAGE_SCRAPER_POSTGRES_ROOT_CERT", &t.pki.ca)
        .env(
            "USAGE_SCRAPER_SERVER_LISTEN",
            format!("127.0.0.1:{}", pg::free_port()),
        )
        .stdin(Stdio::null());
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let su = t.cluster.superuser(&db).await;
    let mut got: Vec<Row> = su
        .query("SELECT ts_ns, app, line FROM usage_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    got.sort();
    assert_rows(got, sorted(want));
}
