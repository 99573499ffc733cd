//! Build faults: an output directory that is read-only (by permission, or on a read-only
//! mount), a disk that is full (before or in the middle of the new tree), a file-size
//! limit (`SIGXFSZ`), a foreign file stackc cannot copy, and symlinks planted in the tree.
//! Each time the build fails cleanly (exit 2, a message, no panic), the previous tree
//! stays byte-identical, no staging directory is left behind, and no foreign file is lost.
//!
//! Root ignores permission bits, so as root the build runs as `nobody` (`runuser`); the
//! read-only and full-disk mounts are made in a private mount namespace (`unshare -m`),
//! which needs root, and so does a file only root can read. Without root, `runuser` or
//! `unshare` a test skips, unless `STACKC_REQUIRE_TOOLS=1`, under which it fails; where
//! root is known to be missing (the Nix build sandbox), `STACKC_SKIP_ROOT_TESTS=1` skips
//! the tests that need it, and names them (`support::skip_root_only`). The file-size
//! limit is the shell's `ulimit -f`, which needs neither root nor util-linux.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::golden::tree;
use crate::support::skip_root_only;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Reports a test that cannot run here; fails it when tools are required.
fn skip(why: &str) {
    assert!(
        std::env::var("STACKC_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{why} (required: STACKC_REQUIRE_TOOLS=1)"
    );
    eprintln!("skipping: {why}");
}

/// Whether a test that needs root must return now: with `STACKC_SKIP_ROOT_TESTS=1` it is
/// skipped and listed, else it runs when `available` (else `skip`).
fn needs_root(test: &str, available: impl FnOnce() -> bool, why: &str) -> bool {
    if skip_root_only(test, why) {
        return true;
    }
    if available() {
        return false;
    }
    skip(why);
    true
}

/// Whether `unshare -m` (a private mount namespace, as root) works here.
fn mount_namespaces() -> bool {
    is_root()
        && Command::new("unshare")
            .args(["--mount", "--propagation", "private", "true"])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// The stack every fault test builds: small, with the usage database (more files).
const STACK: &str = "[apps.web]\nimage = \"nginx:1.27\"\nport = 80\nmetrics = false\n";

/// A directory (mode 0755, so that `nobody` can read it) holding `STACK`.
fn workdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(tmp.path().join("stack.toml"), STACK).unwrap();
    tmp
}

/// Changes the stack so that the next build rewrites the tree.
fn edit_stack(dir: &Path) {
    let path = dir.join("stack.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("nginx:1.27", "nginx:1.28");
    assert_ne!(text, edited);
    std::fs::write(path, edited).unwrap();
}

fn stackc(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackc"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

/// `stackc` as `nobody` when root (for whom permission bits mean nothing), else as is.
fn stackc_unprivileged(args: &[&str], cwd: &Path) -> Output {
    if is_root() {
        Command::new("runuser")
            .args(["-u", "nobody", "--", env!("CARGO_BIN_EXE_stackc")])
            .args(args)
            .current_dir(cwd)
            .output()
            .expect("runuser (util-linux) runs the build unprivileged")
    } else {
        stackc(args, cwd)
    }
}

/// A failed build: exit 2, the given words on stderr, no panic.
fn assert_clean_failure(code: Option<i32>, stderr: &str, words: &str) {
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(words), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Entries of `dir` that look like stackc's staging or previous-tree directories.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".stackc-"))
        .collect()
}

fn chown(args: &[&str], path: &Path) {
    let status = Command::new("chown").args(args).arg(path).status().unwrap();
    assert!(status.success());
}

#[test]
fn a_read_only_output_directory_keeps_the_previous_tree() {
    if is_root() && Command::new("runuser").arg("--help").output().is_err() {
        return skip("runuser is needed to build unprivileged as root");
    }
    // The parent is writable (the staging directory can be made), but the output
    // directory, or one directory inside it, is not: the old tree could not be removed.
    for read_only in ["generated", "generated/grafana"] {
        let tmp = workdir();
        let dir = tmp.path();
        assert!(stackc(&["build"], dir).status.success());
        std::fs::write(dir.join("generated/NOTES.md"), "mine\n").unwrap();
        let before = tree(&dir.join("generated"));
        edit_stack(dir);
        let locked = dir.join(read_only);
        if is_root() {
            // nobody's tree, but for the one directory that stays root's.
            chown(&["-R", "nobody"], dir);
            chown(&["root"], &locked);
        }
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let out = stackc_unprivileged(&["build"], dir);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_clean_failure(
            out.status.code(),
            &String::from_utf8_lossy(&out.stderr),
            "nothing was written",
        );
        assert_eq!(tree(&dir.join("generated")), before, "{read_only}");
        assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
    }
}

#[test]
fn an_unreadable_foreign_file_fails_cleanly_and_stays() {
    if needs_root(
        "faults::an_unreadable_foreign_file_fails_cleanly_and_stays",
        is_root,
        "needs root, to give the build a file it cannot read",
    ) {
        return;
    }
    let tmp = workdir();
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    // A root-only file among nobody's generated tree: it can be neither linked nor copied.
    let secret = dir.join("generated/private.key");
    std::fs::write(&secret, "root only\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    chown(&["-R", "nobody"], dir);
    chown(&["root"], &secret);
    let before = tree(&dir.join("generated"));
    edit_stack(dir);
    let out = stackc_unprivileged(&["build"], dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let protected =
        std::fs::read_to_string("/proc/sys/fs/protected_hardlinks").is_ok_and(|v| v.trim() != "0");
    if protected {
        // The kernel refuses nobody a hard link to root's file, and it cannot be read.
        assert_clean_failure(out.status.code(), &stderr, "nothing was written");
        assert_eq!(tree(&dir.join("generated")), before);
    } else {
        // Without that protection the file is linked into the new tree, unread.
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            tree(&dir.join("generated"))["private.key"],
            before["private.key"]
        );
    }
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

/// What a build did inside a private mount namespace, copied out before the mount went.
struct Mounted {
    code: Option<i32>,
    stderr: String,
    before: BTreeMap<String, Vec<u8>>,
    after: BTreeMap<String, Vec<u8>>,
    /// Entries next to the output directory, on the mount, after the failed build.
    listing: Vec<String>,
}

/// Runs `script` as root in a private mount namespace, with `$WORK` (holding
/// `stack.toml`), `$DISK` (an empty directory to mount on) and `$STACKC` set. The script
/// builds into `$DISK/generated`, copies it to `$WORK/before`, breaks something, edits the
/// stack and calls `rebuild`; the result is read back from `$WORK`.
fn in_mount_namespace(script: &str) -> Mounted {
    let tmp = workdir();
    let work = tmp.path();
    std::fs::create_dir(work.join("disk")).unwrap();
    let edited = std::fs::read_to_string(work.join("stack.toml"))
        .unwrap()
        .replace("nginx:1.27", "nginx:1.28");
    std::fs::write(work.join("stack.edited.toml"), edited).unwrap();
    let prelude = r#"
        set -eu
        rebuild() {
            cp "$WORK/stack.edited.toml" "$WORK/stack.toml"
            set +e
            "$STACKC" build "$WORK/stack.toml" -o "$DISK/generated" 2> "$WORK/stderr"
            echo $? > "$WORK/code"
            set -e
        }
        snapshot() { cp -a "$DISK/generated" "$WORK/$1"; }
    "#;
    let epilogue = r#"
        snapshot after
        ls -A "$DISK" > "$WORK/listing"
    "#;
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
        .arg(format!("{prelude}\n{script}\n{epilogue}"))
        .env("WORK", work)
        .env("DISK", work.join("disk"))
        .env("STACKC", env!("CARGO_BIN_EXE_stackc"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the fault script failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The namespace is gone, and the mount with it.
    assert_eq!(std::fs::read_dir(work.join("disk")).unwrap().count(), 0);
    let read = |name: &str| std::fs::read_to_string(work.join(name)).unwrap();
    Mounted {
        code: read("code").trim().parse().ok(),
        stderr: read("stderr"),
        before: tree(&work.join("before")),
        after: tree(&work.join("after")),
        listing: read("listing").lines().map(str::to_owned).collect(),
    }
}

fn assert_kept(result: &Mounted, words: &str) {
    assert_clean_failure(result.code, &result.stderr, words);
    assert!(
        result.before.contains_key("compose.yaml") && result.before.contains_key("NOTES.md"),
        "the first build or the foreign file is missing: {:?}",
        result.before.keys()
    );
    assert!(
        result.before == result.after,
        "the previous tree changed: {:?} -> {:?}",
        result.before.keys(),
        result.after.keys()
    );
    let leftovers: Vec<_> = result
        .listing
        .iter()
        .filter(|n| n.contains(".stackc-"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn a_full_disk_keeps_the_previous_tree() {
    if needs_root(
        "faults::a_full_disk_keeps_the_previous_tree",
        mount_namespaces,
        "needs root and `unshare -m` to mount a small tmpfs",
    ) {
        return;
    }
    // Full before the first byte, and full half-way through the new tree.
    for free_pages in [0, 4] {
        let result = in_mount_namespace(&format!(
            r#"
            mount -t tmpfs -o size=2m tmpfs "$DISK"
            "$STACKC" build "$WORK/stack.toml" -o "$DISK/generated" 2> /dev/null
            echo mine > "$DISK/generated/NOTES.md"
            mkdir "$DISK/generated/data"
            echo keep > "$DISK/generated/data/keep"
            snapshot before
            dd if=/dev/zero of="$DISK/filler" bs=4096 2> /dev/null || true
            truncate -s -{} "$DISK/filler"
            rebuild
            rm "$DISK/filler"
            "#,
            free_pages * 4096
        ));
        assert_kept(&result, "No space left on device");
        assert_eq!(result.after["data/keep"], b"keep\n");
    }
}

#[test]
fn a_read_only_mount_keeps_the_previous_tree() {
    if needs_root(
        "faults::a_read_only_mount_keeps_the_previous_tree",
        mount_namespaces,
        "needs root and `unshare -m` to mount a read-only file system",
    ) {
        return;
    }
    // The whole file system read-only: no staging directory can be made.
    let result = in_mount_namespace(
        r#"
        mount -t tmpfs -o size=2m tmpfs "$DISK"
        "$STACKC" build "$WORK/stack.toml" -o "$DISK/generated" 2> /dev/null
        echo mine > "$DISK/generated/NOTES.md"
        snapshot before
        mount -o remount,ro "$DISK"
        rebuild
        "#,
    );
    assert_kept(&result, "Read-only file system");
    // Only the output directory is a read-only mount, inside a writable parent.
    let result = in_mount_namespace(
        r#"
        mount -t tmpfs -o size=2m tmpfs "$DISK"
        "$STACKC" build "$WORK/stack.toml" -o "$DISK/generated" 2> /dev/null
        echo mine > "$DISK/generated/NOTES.md"
        snapshot before
        mount --bind "$DISK/generated" "$DISK/generated"
        mount -o remount,bind,ro "$DISK/generated"
        rebuild
        "#,
    );
    assert_kept(&result, "nothing was written");
}

#[test]
fn a_file_size_limit_keeps_the_previous_tree() {
    let tmp = workdir();
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    std::fs::write(dir.join("generated/NOTES.md"), "mine\n").unwrap();
    let before = tree(&dir.join("generated"));
    edit_stack(dir);
    // Files above 2 blocks (1 KiB in bash, which counts 1024-byte blocks; 2 KiB in dash and
    // busybox, 512 bytes) cannot be written: SIGXFSZ, then EFBIG if it is survived.
    let out = Command::new("sh")
        .args(["-c", "ulimit -f 2 && exec \"$0\" build"])
        .arg(env!("CARGO_BIN_EXE_stackc"))
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_clean_failure(out.status.code(), &stderr, "File too large");
    assert_eq!(tree(&dir.join("generated")), before);
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}

#[test]
fn symlinks_in_the_tree_are_never_written_through() {
    let tmp = workdir();
    let dir = tmp.path();
    assert!(stackc(&["build"], dir).status.success());
    let outside = dir.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious"), "precious\n").unwrap();
    std::fs::write(outside.join("victim.yaml"), "victim\n").unwrap();
    // A generated file replaced by a link out of the tree, and a foreign link to a directory.
    let generated = dir.join("generated");
    std::fs::remove_file(generated.join("compose.yaml")).unwrap();
    std::os::unix::fs::symlink(outside.join("victim.yaml"), generated.join("compose.yaml"))
        .unwrap();
    std::os::unix::fs::symlink(&outside, generated.join("elsewhere")).unwrap();
    edit_stack(dir);
    let out = stackc(&["build"], dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The link was replaced by a real file; what it pointed to is untouched.
    assert!(
        !std::fs::symlink_metadata(generated.join("compose.yaml"))
            .unwrap()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(generated.join("compose.yaml"))
            .unwrap()
            .contains("nginx:1.28")
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("victim.yaml")).unwrap(),
        "victim\n"
    );
    // The foreign link is carried over as a link, and the directory behind it is intact.
    let link = generated.join("elsewhere");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), outside);
    assert_eq!(
        std::fs::read_to_string(outside.join("precious")).unwrap(),
        "precious\n"
    );
    assert!(leftovers(dir).is_empty(), "{:?}", leftovers(dir));
}
