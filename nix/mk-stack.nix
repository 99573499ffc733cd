# mkStack { stack = ./stack.toml; }: the tree `stackc build` writes for that stack file,
# as a store path (compose.yaml, .env.example, alloy/, prometheus/, ...). The build runs
# stackc from this flake, so a pinned flake input gives byte-identical configs anywhere.
#
# The file is built as `stack.toml` with the default output directory `generated/` next
# to it, exactly like `stackc build stack.toml`: a relative `build = "apps/x"` becomes the
# compose build context `../apps/x`, which resolves when the tree is copied to
# `generated/` next to the stack file (mkStack copies only the stack file, not apps/).
{ pkgs, stackc }:
{
  stack,
  name ? "stackc-generated",
}:
assert pkgs.lib.assertMsg (builtins.isPath stack || builtins.isString stack || stack ? outPath)
  "mkStack: `stack` must be a path to a stack.toml (for example ./stack.toml)";
pkgs.runCommand name
  {
    nativeBuildInputs = [ stackc ];
    stackFile = stack;
    preferLocalBuild = true;
    allowSubstitutes = false;
  }
  ''
    mkdir work
    cp "$stackFile" work/stack.toml
    stackc build work/stack.toml -o work/generated
    cp -R work/generated "$out"
  ''
