# mkStack { stack = ./stack.toml; }: the tree `stackc build` writes for that stack file,
# as a store path (compose.yaml, .env.example, alloy/, prometheus/, ...). The build runs
# stackc from this flake, so a pinned flake input gives byte-identical configs anywhere.
#
# The file is built as `stack.toml` with the default output directory `generated/` next
# to it, exactly like `stackc build stack.toml`: a relative `build = "apps/x"` becomes the
# compose build context `../apps/x`, which resolves when the tree is copied to
# `generated/` next to the stack file. `stackc build` checks the files a stack names
# beside it (apps' build contexts and Dockerfiles, `[components.postgres] root_cert`):
# such a stack passes its folder as `files = ./.;`, copied beside stack.toml first.
{ pkgs, stackc }:
{
  stack,
  files ? null,
  name ? "stackc-generated",
}:
assert pkgs.lib.assertMsg (builtins.isPath stack || builtins.isString stack || stack ? outPath)
  "mkStack: `stack` must be a path to a stack.toml (for example ./stack.toml)";
pkgs.runCommand name
  {
    nativeBuildInputs = [ stackc ];
    stackFile = stack;
    filesDir = if files == null then "" else files;
    preferLocalBuild = true;
    allowSubstitutes = false;
  }
  ''
    mkdir work
    if [ -n "$filesDir" ]; then
      cp -R "$filesDir"/. work/
      chmod -R u+w work
      rm -rf work/generated
    fi
    cp "$stackFile" work/stack.toml
    stackc build work/stack.toml -o work/generated
    cp -R work/generated "$out"
  ''
