# Everything stackc's flake exports for one system, from one nixpkgs package set.
# `imagesFrom` is the set the images come from: itself on Linux, the Linux set of the same
# CPU on macOS (images hold Linux binaries; building them there needs a Linux builder).
# `gitRev` (and `gitDate`, YYYY-MM-DD) is the commit the flake was built from, for
# `stackc --version` (a Nix build sees no .git).
{
  pkgs,
  imagesFrom ? null,
  gitRev ? "unknown",
  gitDate ? null,
}:
let
  # [workspace.package] version: the binaries' version and the images' tag
  version = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).workspace.package.version;
  # the registry stackc's images are published under: the `REGISTRY` line of
  # src/images.rs, the one place it is named, so the images built here carry the names
  # generated compose files pull
  registry =
    let
      lines = builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile ../src/images.rs));
      found = builtins.concatMap (
        l:
        let
          m = builtins.match "pub const REGISTRY: &str = \"([^\"]+)\";" l;
        in
        if m == null then [ ] else m
      ) lines;
    in
    if builtins.length found == 1 then
      builtins.head found
    else
      throw "nix/default.nix: no single `pub const REGISTRY` line in src/images.rs";
  sources = import ./sources.nix { inherit (pkgs) lib; };
  crate = import ./crate.nix {
    inherit pkgs version;
    src = sources.binaries;
  };

  stackc = crate {
    name = "stackc";
    description = "Compile one stack.toml into a correlated observability stack (Alloy, Prometheus, Loki, Tempo, Grafana, PostgreSQL, compose)";
    # read by build.rs
    environment = {
      STACKC_GIT_REV = gitRev;
    }
    // pkgs.lib.optionalAttrs (gitDate != null) { STACKC_GIT_DATE = gitDate; };
  };
  usage-scraper = crate {
    name = "usage-scraper";
    description = "Exactly-once usage events from Loki into PostgreSQL";
  };
  demo-app = crate {
    name = "demo-app";
    description = "The demo stack's stand-in service: metrics with exemplars, JSON logs with trace ids, OTLP traces";
  };

  image = import ./image.nix { inherit pkgs registry; };
  ownImages = {
    usage-scraper = image {
      package = usage-scraper;
      tag = version;
      port = 9464;
      cmd = [
        "--config"
        "/etc/usage-scraper/scraper.toml"
      ];
    };
    demo-app = image {
      package = demo-app;
      tag = version;
      port = 8080;
    };
  };
  images = if imagesFrom == null then ownImages else imagesFrom.images;

  mkStack = import ./mk-stack.nix { inherit pkgs stackc; };
  scripts = import ./apps.nix { inherit pkgs stackc images; };
in
{
  inherit
    version
    registry
    stackc
    usage-scraper
    demo-app
    images
    mkStack
    ;
  inherit (scripts) up down;
  checks = import ./checks.nix {
    inherit
      pkgs
      version
      sources
      mkStack
      gitRev
      ;
  };
  devShell = import ./shell.nix { inherit pkgs; };
}
