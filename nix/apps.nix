# `nix run .#up` and `nix run .#down`: deploy a stack.toml on a Docker host with the
# stackc, images and Compose of this flake (see up.sh and down.sh for what they do).
{
  pkgs,
  stackc,
  images,
}:
let
  # "REF=IMAGE ..." for up.sh: the images this flake builds, loaded when the stack uses them
  imageList = builtins.concatStringsSep " " (
    map (i: "${i.ref}=${i.image}") (builtins.attrValues images)
  );
  script =
    name: body: description:
    pkgs.writeShellApplication {
      inherit name;
      runtimeInputs = [
        stackc
        pkgs.docker-client
        pkgs.docker-compose
        pkgs.coreutils
        pkgs.gnugrep
      ];
      runtimeEnv = {
        STACKC_NIX_IMAGES = imageList;
      };
      text = builtins.readFile ./stack-args.sh + builtins.readFile body;
      meta = {
        inherit description;
        mainProgram = name;
      };
    };
in
{
  up = script "stackc-up" ./up.sh "Build a stack.toml's generated tree, load the stackc images, docker compose up -d";
  down = script "stackc-down" ./down.sh "docker compose down for a tree that stackc-up started";
}
