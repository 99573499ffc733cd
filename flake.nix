{
  description = "stackc: compile one stack.toml into a correlated observability stack, and deploy it";

  # A NixOS release branch; `nix flake lock` pins it to one commit in flake.lock.
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # those of the pinned nixpkgs: 26.05 is the last release with x86_64-darwin (it warns
      # when evaluating it), and a later pin without it drops it here instead of failing
      systems = builtins.filter (s: builtins.elem s lib.systems.flakeExposed) [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      forAllSystems = lib.genAttrs systems;
      isLinux = lib.hasSuffix "-linux";
      # images hold Linux binaries: on macOS they come from the Linux set of the same CPU
      linuxOf = builtins.replaceStrings [ "-darwin" ] [ "-linux" ];

      # `stackc --version`: the commit (and its date) of a clean git checkout or a pinned
      # input; a dirty tree's `dirtyRev` (Nix 2.17 and later) has no date
      gitRev = self.rev or self.dirtyRev or "unknown";
      gitDate =
        if self ? rev then
          let
            d = self.lastModifiedDate;
          in
          "${builtins.substring 0 4 d}-${builtins.substring 4 2 d}-${builtins.substring 6 2 d}"
        else
          null;

      # nix/default.nix: packages, images, mkStack, scripts, checks, shell of one system
      per = forAllSystems (
        system:
        import ./nix {
          pkgs = nixpkgs.legacyPackages.${system};
          imagesFrom = if isLinux system then null else per.${linuxOf system};
          inherit gitRev gitDate;
        }
      );

      app = drv: description: {
        type = "app";
        program = lib.getExe drv;
        meta = { inherit description; };
      };
    in
    {
      packages = forAllSystems (
        system:
        let
          p = per.${system};
        in
        {
          inherit (p) stackc usage-scraper demo-app;
          default = p.stackc;
          usage-scraper-image = p.images.usage-scraper.image;
          demo-app-image = p.images.demo-app.image;
        }
      );

      apps = forAllSystems (
        system:
        let
          p = per.${system};
        in
        {
          # nix run . -- build examples/demo/stack.toml
          default = app p.stackc "stackc, the stack.toml compiler";
          stackc = app p.stackc "stackc, the stack.toml compiler";
          # nix run .#up -- [STACK] [-o DIR]
          up = app p.up "Build a stack.toml's generated tree, load the stackc images, docker compose up -d";
          # nix run .#down -- [STACK] [-o DIR]
          down = app p.down "docker compose down for a tree that `nix run .#up` started";
        }
      );

      # lib.<system>.mkStack { stack = ./stack.toml; }: the generated tree as a store path
      lib = forAllSystems (system: {
        inherit (per.${system}) mkStack;
      });

      checks = forAllSystems (
        system:
        let
          p = per.${system};
        in
        p.checks
        // {
          inherit (p) stackc usage-scraper demo-app;
        }
        // lib.optionalAttrs (isLinux system) {
          usage-scraper-image = p.images.usage-scraper.image;
          demo-app-image = p.images.demo-app.image;
        }
      );

      devShells = forAllSystems (system: {
        default = per.${system}.devShell;
      });

      formatter = forAllSystems (system: nixpkgs.legacyPackages.${system}.nixfmt-tree);
    };
}
