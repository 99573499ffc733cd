# A deployment repository that pins stackc (the README's example): its stack.toml becomes
# a store path of generated configs, and `nix run .#up` deploys it with the pinned tools.
# scripts/check-flake.sh evaluates it with --override-input stackc path:<this checkout>.
{
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    stackc.url = "github:stackc-dev/stackc"; # pinned to one commit in flake.lock
    stackc.inputs.nixpkgs.follows = "nixpkgs";
  };

  outputs =
    {
      self,
      nixpkgs,
      stackc,
    }:
    let
      forAllSystems = nixpkgs.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];
    in
    {
      # nix build .#stack: result/ holds compose.yaml, .env.example and every config
      packages = forAllSystems (system: {
        stack = stackc.lib.${system}.mkStack { stack = ./stack.toml; };
        default = self.packages.${system}.stack;
      });

      # nix run .#up / nix run .#down, with the stackc, images and Compose of the pin
      apps = forAllSystems (system: {
        inherit (stackc.apps.${system}) up down;
      });
    };
}
