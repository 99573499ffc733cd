# `nix flake check`: the workspace's test suite, clippy, rustfmt and the golden
# comparison of mkStack (the packages and images are added in flake.nix).
{
  pkgs,
  version,
  sources,
  mkStack,
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
  # `cargo test --workspace`, as scripts/test.sh runs it: promtool (the prometheus package)
  # and the PostgreSQL server binaries on PATH, and STACKC_REQUIRE_TOOLS=1 so that a test
  # needing one of them fails instead of skipping.
  tests = cargoCheck {
    pname = "stackc-tests";
    dontCargoBuild = true;
    doCheck = true;
    checkType = "debug";
    cargoTestFlags = [ "--workspace" ];
    nativeCheckInputs = [
      pkgs.postgresql
      pkgs.prometheus
    ];
    STACKC_REQUIRE_TOOLS = "1";
    preCheck = ''
      export HOME="$TMPDIR"
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
