//! Least privilege in the generated stack (issue 9 §4).
//!
//! In a real PostgreSQL loaded with the generated `postgres/init/*.sql` (`pg::load`):
//! Grafana's role `usage_reader` can only read `usage_events` (every write and DDL is
//! refused by the grants, not only by its read-only default, which a session can turn
//! off); the scraper's role `usage_scraper` can write only its own two tables, the way it
//! needs to, and nothing else (no DDL, no temporary tables, no other schema, no catalog of
//! passwords, no server files, no other role); both are plain login roles that need their
//! password over TCP.
//!
//! In `compose.yaml`: the Docker socket and every host path are mounted read-only, every
//! published port binds to `[stack].bind` (long syntax, so never all interfaces by
//! accident), and no container gains a privilege beyond the two that need one.

use std::collections::BTreeSet;

use serde_json::Value;
use stackc::wiring::db::{CURSOR_TABLE, EVENTS_TABLE, READER_ROLE, WRITER_ROLE};

use crate::golden::build_example;
use crate::pg::{Database, SqlError};
use crate::support::{examples, repo};

/// A database loaded from the demo's generated tree, or `None` (PostgreSQL missing).
fn demo_database() -> Option<(tempfile::TempDir, Database)> {
    example_database("demo")
}

/// A database loaded from an example's generated tree; for the team example, whose usage
/// events go to an external database, set up as its SQL headers tell a user to.
fn example_database(case: &str) -> Option<(tempfile::TempDir, Database)> {
    let (tmp, tree) = build_example(&repo().join("examples").join(case));
    let db = crate::pg::load(&tree)?;
    Some((tmp, db))
}

/// The bundled database (demo) and an external one (team).
const DATABASE_CASES: [&str; 2] = ["demo", "team"];

fn refused(db: &Database, role: &str, sql: &str) -> SqlError {
    match db.query(role, sql) {
        Ok(rows) => panic!("`{role}` may run `{sql}` (rows: {rows:?})"),
        Err(e) => e,
    }
}

fn refused_by_grants(db: &Database, role: &str, sql: &str) {
    let error = refused(db, role, sql);
    assert!(
        error.is_permission_denied(),
        "`{role}`: `{sql}` failed, but not for lack of privilege: {error}"
    );
}

fn allowed(db: &Database, role: &str, sql: &str) -> Vec<crate::pg::Row> {
    db.query(role, sql)
        .unwrap_or_else(|e| panic!("`{role}` may not run `{sql}`: {e}"))
}

fn insert_event(id: &str) -> String {
    format!(
        "INSERT INTO {EVENTS_TABLE} (id, ts, ts_ns, app, event, line) \
         VALUES ('{id}', now(), 1, 'app', 'signup', '{{}}')"
    )
}

#[test]
fn grafanas_role_can_only_read_the_events() {
    for case in DATABASE_CASES {
        grafanas_role_can_only_read_the_events_in(case);
    }
}

fn grafanas_role_can_only_read_the_events_in(case: &str) {
    let Some((_tmp, db)) = example_database(case) else {
        return;
    };
    db.admin(&insert_event("00000000-0000-0000-0000-000000000001"));
    let rows = allowed(
        &db,
        READER_ROLE,
        &format!("SELECT count(*) FROM {EVENTS_TABLE}"),
    );
    assert_eq!(rows, vec![vec![Some("1".to_owned())]]);

    let writes = [
        insert_event("00000000-0000-0000-0000-000000000002"),
        format!("UPDATE {EVENTS_TABLE} SET event = 'x'"),
        format!("DELETE FROM {EVENTS_TABLE}"),
        format!("TRUNCATE {EVENTS_TABLE}"),
        format!("INSERT INTO {CURSOR_TABLE} (name, cursor_ns) VALUES ('x', 1)"),
        "CREATE TABLE mine (x int)".to_owned(),
        "CREATE TABLE public.mine (x int)".to_owned(),
        "CREATE TEMP TABLE mine (x int)".to_owned(),
        "CREATE SCHEMA mine".to_owned(),
        "CREATE VIEW mine AS SELECT 1".to_owned(),
        format!("DROP TABLE {EVENTS_TABLE}"),
        format!("ALTER TABLE {EVENTS_TABLE} ADD COLUMN x int"),
        format!("CREATE INDEX mine ON {EVENTS_TABLE} (app)"),
    ];
    for sql in &writes {
        // Refused as the role logs in (read-only by default) ...
        refused(&db, READER_ROLE, sql);
        // ... and by the grants themselves, once the session lifts that default.
        let mut session = db.connect(READER_ROLE).unwrap();
        session
            .batch_execute("SET default_transaction_read_only = off")
            .unwrap();
        let error = session.batch_execute(sql).err().map(|e| {
            e.as_db_error()
                .map_or(String::new(), |d| d.code().code().to_owned())
        });
        assert_eq!(
            error.as_deref(),
            Some("42501"),
            "`{READER_ROLE}` read-write: `{sql}` not refused for lack of privilege"
        );
    }
    // Reads beyond the events: the scraper's cursor, the password catalog, server files.
    for sql in [
        format!("SELECT * FROM {CURSOR_TABLE}"),
        "SELECT * FROM pg_authid".to_owned(),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
    ] {
        refused_by_grants(&db, READER_ROLE, &sql);
    }
    let settings = allowed(
        &db,
        READER_ROLE,
        "SELECT current_setting('default_transaction_read_only'), current_setting('statement_timeout')",
    );
    assert_eq!(
        settings,
        vec![vec![Some("on".to_owned()), Some("30s".to_owned())]]
    );
    // Nothing was written after all.
    assert_eq!(
        db.admin(&format!("SELECT count(*) FROM {EVENTS_TABLE}")),
        vec![vec![Some("1".to_owned())]]
    );
}

#[test]
fn the_scrapers_role_writes_only_its_own_tables() {
    for case in DATABASE_CASES {
        the_scrapers_role_writes_only_its_own_tables_in(case);
    }
}

fn the_scrapers_role_writes_only_its_own_tables_in(case: &str) {
    let Some((_tmp, db)) = example_database(case) else {
        return;
    };
    // What the scraper does: insert events (skipping duplicates), keep its cursor.
    allowed(
        &db,
        WRITER_ROLE,
        &format!(
            "{} ON CONFLICT (id) DO NOTHING",
            insert_event("00000000-0000-0000-0000-000000000003")
        ),
    );
    allowed(
        &db,
        WRITER_ROLE,
        &format!(
            "INSERT INTO {CURSOR_TABLE} (name, cursor_ns) VALUES ('demo', 1) \
             ON CONFLICT (name) DO UPDATE SET cursor_ns = EXCLUDED.cursor_ns, updated_at = now()"
        ),
    );
    allowed(
        &db,
        WRITER_ROLE,
        &format!("UPDATE {CURSOR_TABLE} SET cursor_ns = 2 WHERE name = 'demo'"),
    );
    let rows = allowed(
        &db,
        WRITER_ROLE,
        &format!(
            "SELECT (SELECT count(*) FROM {EVENTS_TABLE}), (SELECT cursor_ns FROM {CURSOR_TABLE})"
        ),
    );
    assert_eq!(rows, vec![vec![Some("1".to_owned()), Some("2".to_owned())]]);

    // Another schema, that the scraper has no business in.
    db.admin("CREATE SCHEMA other; CREATE TABLE other.t (x int); INSERT INTO other.t VALUES (1)");
    for sql in [
        // events are append-only for it; the cursor is never deleted
        format!("UPDATE {EVENTS_TABLE} SET event = 'x'"),
        format!("DELETE FROM {EVENTS_TABLE}"),
        format!("TRUNCATE {EVENTS_TABLE}"),
        format!("DELETE FROM {CURSOR_TABLE}"),
        format!("TRUNCATE {CURSOR_TABLE}"),
        // no DDL anywhere, no temporary tables
        "CREATE TABLE mine (x int)".to_owned(),
        "CREATE TABLE public.mine (x int)".to_owned(),
        "CREATE TEMP TABLE mine (x int)".to_owned(),
        "CREATE SCHEMA mine".to_owned(),
        "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS 'SELECT 1'".to_owned(),
        format!("DROP TABLE {EVENTS_TABLE}"),
        format!("ALTER TABLE {EVENTS_TABLE} ADD COLUMN x int"),
        format!("CREATE INDEX mine ON {EVENTS_TABLE} (app)"),
        // no other schema
        "SELECT * FROM other.t".to_owned(),
        "INSERT INTO other.t VALUES (2)".to_owned(),
        "CREATE TABLE other.mine (x int)".to_owned(),
        // no passwords, no server files, no programs
        "SELECT * FROM pg_authid".to_owned(),
        "SELECT pg_read_file('/etc/passwd')".to_owned(),
        format!("COPY {EVENTS_TABLE} TO '/tmp/stackc-events'"),
        format!("COPY {EVENTS_TABLE} TO PROGRAM 'true'"),
        // no other role, no new role
        "SET ROLE postgres".to_owned(),
        format!("SET ROLE {READER_ROLE}"),
        "CREATE ROLE mine".to_owned(),
        format!("ALTER ROLE {WRITER_ROLE} SUPERUSER"),
    ] {
        refused_by_grants(&db, WRITER_ROLE, &sql);
    }
    assert_eq!(
        db.admin("SELECT count(*) FROM other.t"),
        vec![vec![Some("1".to_owned())]]
    );
}

#[test]
fn both_roles_are_plain_and_need_their_password() {
    let Some((_tmp, db)) = demo_database() else {
        return;
    };
    let rows = db.admin(&format!(
        "SELECT rolname, rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls, \
         (SELECT count(*) FROM pg_auth_members m WHERE m.member = r.oid) \
         FROM pg_roles r WHERE rolname IN ('{READER_ROLE}', '{WRITER_ROLE}') ORDER BY rolname"
    ));
    let expected: Vec<Vec<Option<String>>> = [READER_ROLE, WRITER_ROLE]
        .iter()
        .map(|r| {
            vec![
                Some((*r).to_owned()),
                Some("f".to_owned()),
                Some("0".to_owned()),
            ]
        })
        .collect();
    assert_eq!(rows, expected, "attributes or memberships beyond LOGIN");
    // The database: no privilege for PUBLIC, CONNECT for the two roles (and the clone
    // this test runs in has exactly the privileges the generated SQL gave the original).
    let acl = |database: &str| {
        db.admin(&format!(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END, \
             a.privilege_type FROM pg_database d, aclexplode(d.datacl) a \
             WHERE d.datname = '{database}' ORDER BY 1, 2"
        ))
    };
    let original = acl("usage_stats");
    assert_eq!(acl(db.name()), original);
    let grants: Vec<(String, String)> = original
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .filter(|(grantee, _)| grantee != "postgres")
        .collect();
    assert_eq!(
        grants,
        [(READER_ROLE, "CONNECT"), (WRITER_ROLE, "CONNECT")]
            .map(|(r, p)| (r.to_owned(), p.to_owned()))
            .to_vec()
    );
    for role in [READER_ROLE, WRITER_ROLE] {
        let wrong = postgres::Config::new()
            .host("127.0.0.1")
            .port(db.port())
            .user(role)
            .password("not-the-password")
            .dbname(db.name())
            .connect(postgres::NoTls);
        let error = wrong.err().expect("a wrong password is refused");
        let code = error.as_db_error().map(|e| e.code().code().to_owned());
        assert_eq!(code.as_deref(), Some("28P01"), "{role}: {error}");
        assert!(db.connect(role).is_ok(), "{role} logs in with its password");
        // ... and only into the stack's database: not `postgres`, not `template1`.
        for other in ["postgres", "template1"] {
            let elsewhere = postgres::Config::new()
                .host("127.0.0.1")
                .port(db.port())
                .user(role)
                .password(db.password(role))
                .dbname(other)
                .connect(postgres::NoTls);
            let error = elsewhere.err().expect("no CONNECT on other databases");
            let code = error.as_db_error().map(|e| e.code().code().to_owned());
            assert_eq!(
                code.as_deref(),
                Some("42501"),
                "{role} into {other}: {error}"
            );
        }
    }
}

/// An external database (`[components.postgres]`, examples/team): the generated SQL runs
/// as a managed server's admin, which is no superuser, and touches nothing outside the
/// database it is given, since the server is not the stack's.
#[test]
fn the_external_database_setup_needs_no_superuser_and_leaves_the_server_alone() {
    let Some((_tmp, db)) = example_database("team") else {
        return;
    };
    let admin = crate::pg::EXTERNAL_ADMIN;
    // The files ran as the admin (it owns what they created), which is no superuser.
    assert_eq!(
        db.admin(&format!(
            "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = '{admin}'"
        )),
        vec![vec![Some("f".to_owned()), Some("t".to_owned())]]
    );
    assert_eq!(
        db.admin(&format!(
            "SELECT tableowner FROM pg_tables WHERE tablename IN ('{EVENTS_TABLE}', '{CURSOR_TABLE}') ORDER BY 1"
        )),
        vec![vec![Some(admin.to_owned())]; 2]
    );
    // The server's other databases keep their privileges: the bundled variant revokes
    // PUBLIC's CONNECT there, this one must not even try (run by a superuser, it would
    // lock every other user of the server out).
    let roles_sql =
        std::fs::read_to_string(repo().join("golden/team/postgres/init/02-roles.sql")).unwrap();
    assert!(
        !roles_sql.contains("template1") && !roles_sql.contains("DATABASE postgres"),
        "{roles_sql}"
    );
    for other in ["postgres", "template1"] {
        assert_eq!(
            db.admin(&format!(
                "SELECT has_database_privilege('public', '{other}', 'CONNECT')"
            )),
            vec![vec![Some("t".to_owned())]],
            "{other}"
        );
    }
    // Both roles still log in with their passwords, read-only for Grafana's.
    assert!(db.connect(WRITER_ROLE).is_ok());
    let settings = allowed(
        &db,
        READER_ROLE,
        "SELECT current_setting('default_transaction_read_only')",
    );
    assert_eq!(settings, vec![vec![Some("on".to_owned())]]);
}

fn compose(case: &str) -> Value {
    let (_tmp, out) = build_example(&repo().join("examples").join(case));
    serde_yaml_ng::from_str(&std::fs::read_to_string(out.join("compose.yaml")).unwrap()).unwrap()
}

fn all_composes() -> Vec<(String, Value)> {
    examples()
        .iter()
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let value = compose(&name);
            (name, value)
        })
        .collect()
}

fn services(compose: &Value) -> impl Iterator<Item = (&String, &Value)> {
    compose["services"].as_object().unwrap().iter()
}

#[test]
fn the_docker_socket_and_every_host_path_are_mounted_read_only() {
    for (case, compose) in all_composes() {
        let mut socket_readers = BTreeSet::new();
        for (name, service) in services(&compose) {
            for volume in service["volumes"].as_array().into_iter().flatten() {
                let volume = volume.as_str().expect("short volume syntax");
                let mut parts = volume.splitn(3, ':');
                let (source, _target, options) = (
                    parts.next().unwrap(),
                    parts.next().unwrap_or(""),
                    parts.next().unwrap_or(""),
                );
                // A host path (absolute, or relative to the generated tree) is never
                // writable from a container; named volumes are the containers' own.
                if source.starts_with('/') || source.starts_with('.') {
                    assert!(
                        options.split(',').any(|o| o == "ro"),
                        "{case}: {name} mounts `{volume}` writable"
                    );
                }
                let socket = "/var/run/docker.sock";
                if source == socket
                    || socket.starts_with(&format!("{}/", source.trim_end_matches('/')))
                {
                    socket_readers.insert(name.clone());
                }
            }
        }
        // Who can reach the socket at all: Alloy (container discovery) and the two that
        // see the whole host read-only for metrics, while `[components]` runs them.
        let stack: toml::Table = toml::from_str(
            &std::fs::read_to_string(repo().join("examples").join(&case).join("stack.toml"))
                .unwrap(),
        )
        .unwrap();
        let mut expected = BTreeSet::from(["alloy".to_owned()]);
        for (key, host_wide) in [("cadvisor", "cadvisor"), ("node_exporter", "node-exporter")] {
            let on = stack
                .get("components")
                .and_then(|c| c.get(key))
                .and_then(toml::Value::as_bool)
                .unwrap_or(true);
            if on {
                expected.insert(host_wide.to_owned());
            }
        }
        assert_eq!(socket_readers, expected, "{case}");
    }
}

fn published_ports(compose: &Value) -> Vec<(String, Value)> {
    services(compose)
        .flat_map(|(name, service)| {
            service["ports"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |p| (name.clone(), p))
        })
        .collect()
}

#[test]
fn every_published_port_binds_to_the_stack_bind() {
    // The examples: loopback by default, and `0.0.0.0` where one opts in.
    for (case, compose) in all_composes() {
        let stack: toml::Table = toml::from_str(
            &std::fs::read_to_string(repo().join("examples").join(&case).join("stack.toml"))
                .unwrap(),
        )
        .unwrap();
        let bind = stack
            .get("stack")
            .and_then(|s| s.get("bind"))
            .and_then(|b| b.as_str())
            .unwrap_or("127.0.0.1");
        let ports = published_ports(&compose);
        assert!(!ports.is_empty(), "{case}");
        for (name, port) in ports {
            // Long syntax only: a short "3000:3000" would bind every interface.
            assert!(port.is_object(), "{case}: {name}: {port}");
            assert_eq!(port["host_ip"], bind, "{case}: {name}: {port}");
        }
    }
    // A custom bind, IPv4 and IPv6, reaches every port of the demo.
    let demo = std::fs::read_to_string(repo().join("examples/demo/stack.toml")).unwrap();
    for bind in ["192.0.2.7", "::1"] {
        let text = demo.replace("bind = \"127.0.0.1\"", &format!("bind = \"{bind}\""));
        assert_ne!(text, demo);
        let source = stackc::diagnostic::SourceFile {
            name: "stack.toml".into(),
            text,
        };
        let stack = stackc::validate::check(&source).stack.unwrap();
        let files = stackc::targets::render(&stack, &Default::default()).unwrap();
        let compose: Value = serde_yaml_ng::from_str(
            &files
                .iter()
                .find(|f| f.path == "compose.yaml")
                .unwrap()
                .contents,
        )
        .unwrap();
        let ports = published_ports(&compose);
        assert!(ports.len() >= 10, "{bind}: {} ports", ports.len());
        for (name, port) in ports {
            assert_eq!(port["host_ip"], bind, "{name}: {port}");
        }
    }
}

#[test]
fn no_container_gains_privileges_beyond_the_two_that_need_them() {
    for (case, compose) in all_composes() {
        for (name, service) in services(&compose) {
            let expect_privileged = name == "cadvisor";
            assert_eq!(
                service.get("privileged") == Some(&Value::Bool(true)),
                expect_privileged,
                "{case}: {name} privileged"
            );
            assert_eq!(
                service.get("pid").and_then(Value::as_str) == Some("host"),
                name == "node-exporter",
                "{case}: {name} shares the host's pid namespace"
            );
            for key in [
                "cap_add",
                "network_mode",
                "ipc",
                "userns_mode",
                "security_opt",
                "cgroup_parent",
            ] {
                assert!(service.get(key).is_none(), "{case}: {name} sets `{key}`");
            }
            if let Some(user) = service.get("user") {
                let user = user.as_str().unwrap();
                let uid = user.split(':').next().unwrap();
                assert!(
                    uid != "0" && uid != "root" && !uid.is_empty(),
                    "{case}: {name} runs as `{user}`"
                );
            }
        }
    }
}
