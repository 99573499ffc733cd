{
  description = "Test harness for stackc's flake (scripts/check-flake.sh): forces every output and checks its shape";

  # Always replaced: --override-input stackc path:<copy of the repository>
  #                  --override-input stackc/nixpkgs path:<tests/nix/nixpkgs-stub>
  inputs.stackc.url = "path:/nonexistent/stackc";

  outputs =
    { self, stackc }:
    {
      report = import ./report.nix stackc;
    };
}
