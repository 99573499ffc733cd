# `nix flake check`: the workspace's test suite, clippy, rustfmt and the golden
# comparison of mkStack (the packages and images are added in flake.nix).
{
  pkgs,
  version,
  sources,
  mkStack,
  gitRev,
}:
let
  # A cargo command over the whole workspace, with the vendored dependencies of Cargo.lock
  # and the tests' source; its output is an empty file (the check passed).
  cargoCheck =
    args:
    pkgs.rustPlatform.buildRustPackage (
      {
        inherit version;
        src = sources.tests;
        cargoLock.lockFile = ../Cargo.lock;
        nativeBuildInputs = [ pkgs.cmake ];
        dontUseCmakeConfigure = true;
        doCheck = false;
        installPhase = ''
          runHook preInstall
          touch "$out"
          runHook postInstall
        '';
      }
      // args
    );
in
{
  # `cargo test --workspace`, as scripts/test.sh runs it: promtool (the prometheus package),
  # amtool (prometheus-alertmanager) and the PostgreSQL server binaries on PATH, and
  # STACKC_REQUIRE_TOOLS=1 so that a test needing one of them fails instead of skipping. The sandbox builds as an unprivileged
  # user without util-linux, so the tests that need root (private mount namespaces, a file
  # only root can read) cannot run: STACKC_SKIP_ROOT_TESTS=1 skips exactly those, and each
  # appends its name to $STACKC_SKIPPED_LOG. The check's output (`nix build
  # .#checks.<system>.tests`, then `cat result`) and its log say how many tests passed,
  # which were skipped, and every test that ran.
  tests = cargoCheck {
    pname = "stackc-tests";
    dontCargoBuild = true;
    doCheck = true;
    nativeCheckInputs = [
      pkgs.postgresql
      pkgs.prometheus
      pkgs.prometheus-alertmanager
    ];
    STACKC_REQUIRE_TOOLS = "1";
    STACKC_SKIP_ROOT_TESTS = "1";
    STACKC_GIT_REV = gitRev;
    checkPhase = ''
      runHook preCheck
      set -o pipefail
      export HOME="$TMPDIR" STACKC_SKIPPED_LOG="$TMPDIR/skipped.txt"
      : > "$STACKC_SKIPPED_LOG"
      cargo test --workspace --frozen 2>&1 | tee "$TMPDIR/cargo-test.log"
      grep -E '^test .* \.\.\. ok$' "$TMPDIR/cargo-test.log" | sed -E 's/^test (.*) \.\.\. ok$/\1/' | sort > "$TMPDIR/passed.txt"
      sort -o "$STACKC_SKIPPED_LOG" "$STACKC_SKIPPED_LOG"
      # a skipped test is one that passed (it returned early), never a stray name
      stray=$(comm -13 "$TMPDIR/passed.txt" "$STACKC_SKIPPED_LOG")
      if [ -n "$stray" ]; then
        echo "checks.tests: logged as skipped, but no such test passed: $stray" >&2
        exit 1
      fi
      {
        echo "checks.tests: cargo test --workspace in the Nix sandbox (STACKC_REQUIRE_TOOLS=1)"
        echo "$(wc -l < "$TMPDIR/passed.txt") tests passed, $(wc -l < "$STACKC_SKIPPED_LOG") of them skipped for want of root (STACKC_SKIP_ROOT_TESTS=1):"
        sed 's/^/  skipped: /' "$STACKC_SKIPPED_LOG"
        echo "ran:"
        comm -23 "$TMPDIR/passed.txt" "$STACKC_SKIPPED_LOG" | sed 's/^/  /'
      } > "$TMPDIR/report.txt"
      head -n "$(( $(wc -l < "$STACKC_SKIPPED_LOG") + 2 ))" "$TMPDIR/report.txt"
      runHook postCheck
    '';
    installPhase = ''
      runHook preInstall
      cp "$TMPDIR/report.txt" "$out"
      runHook postInstall
    '';
  };

  clippy = cargoCheck {
    pname = "stackc-clippy";
    nativeBuildInputs = [
      pkgs.cmake
      pkgs.clippy
    ];
    buildPhase = ''
      runHook preBuild
      cargo clippy --workspace --all-targets --frozen -- -D warnings
      runHook postBuild
    '';
  };

  rustfmt =
    pkgs.runCommand "stackc-rustfmt"
      {
        nativeBuildInputs = [
          pkgs.cargo
          pkgs.rustfmt
        ];
      }
      ''
        export CARGO_HOME="$TMPDIR/cargo"
        cd ${sources.tests}
        cargo fmt --all --check
        touch "$out"
      '';

  # mkStack on the demo stack gives exactly the committed golden tree.
  golden-demo =
    pkgs.runCommand "stackc-golden-demo"
      {
        nativeBuildInputs = [ pkgs.diffutils ];
        expected = ../golden/demo;
        actual = mkStack {
          name = "stackc-demo";
          stack = ../examples/demo/stack.toml;
        };
      }
      ''
        diff -r "$expected" "$actual"
        touch "$out"
      '';
}
