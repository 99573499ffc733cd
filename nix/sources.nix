# What each derivation sees of the repository (lib.fileset), so that a change a
# derivation does not read does not rebuild it: editing README.md, golden/ or tests/
# leaves the binaries' source, and so their store paths, unchanged.
{ lib }:
let
  fs = lib.fileset;
  crates = builtins.filter (c: (builtins.readDir ../crates).${c} == "directory") (
    builtins.attrNames (builtins.readDir ../crates)
  );
  # a sub-folder of every crate (tests/, examples/, ...), where one exists
  inCrates = sub: map (c: fs.maybeMissing (../crates + "/${c}/${sub}")) crates;

  # cargo reads every workspace member's manifest and targets, so all crates are here
  # (one source for the three binaries); their docs, Dockerfiles and test code are not.
  binaries = fs.unions [
    ../Cargo.toml
    ../Cargo.lock
    ../build.rs # `stackc --version`'s revision
    ../src
    ../templates # embedded by include_dir!
    ../examples/demo/stack.toml # `stackc init` embeds it
    (fs.difference ../crates (
      fs.unions (
        [
          (fs.fileFilter (f: f.hasExt "md" || f.name == "Dockerfile" || f.name == ".dockerignore") ../crates)
        ]
        ++ inCrates "tests"
        ++ inCrates "examples"
        ++ inCrates "benches"
      )
    ))
  ];
in
{
  # `cargo build -p <binary>`
  binaries = fs.toSource {
    root = ../.;
    fileset = binaries;
  };

  # `cargo test --workspace`, clippy --all-targets, rustfmt: everything the tests read
  # (golden trees, examples, CLI cases, schema; the README, docs and workflows that
  # tests/integration/release.rs holds to the code), but not the Nix files.
  tests = fs.toSource {
    root = ../.;
    fileset = fs.difference (fs.unions [
      binaries
      ../crates
      ../tests
      ../golden
      ../examples
      ../schema
      ../README.md
      ../.github/workflows
      (fs.maybeMissing ../docs)
      (fs.maybeMissing ../.clippy.toml)
      (fs.maybeMissing ../rustfmt.toml)
      (fs.maybeMissing ../.rustfmt.toml)
    ]) ../tests/nix;
  };
}
