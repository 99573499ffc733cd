# `nix develop` (or direnv's `use flake`): the toolchain, and every tool the tests,
# scripts/test.sh and the validators of ../shared/validators call.
{ pkgs }:
pkgs.mkShell {
  name = "stackc-dev";
  packages = [
    # Rust
    pkgs.cargo
    pkgs.rustc
    pkgs.clippy
    pkgs.rustfmt
    pkgs.rust-analyzer
    pkgs.cmake # aws-lc-sys' fallback builder
    # the tests' external tools: promtool and the Prometheus server, amtool, PostgreSQL's
    # initdb/pg_ctl/postgres/psql
    pkgs.prometheus
    pkgs.prometheus-alertmanager
    pkgs.postgresql
    # validators (check_generated.sh): YAML/JSON schemas, Grafana type checks, compose,
    # TOML, shell scripts
    (pkgs.python3.withPackages (ps: [
      ps.pyyaml
      ps.jsonschema
    ]))
    pkgs.nodejs
    pkgs.docker-compose
    pkgs.yamllint
    pkgs.taplo
    pkgs.shellcheck
    pkgs.jq
    pkgs.git
    # Nix: flake evaluation (scripts/check-flake.sh) and `nix fmt`
    pkgs.nix
    pkgs.nixfmt
  ];
  # rust-analyzer finds the standard library's sources here
  RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
  # every tool a test needs is on PATH: a missing one is a failure, not a skip
  STACKC_REQUIRE_TOOLS = "1";
}
