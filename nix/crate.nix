# One binary of the Cargo workspace, built by nixpkgs' rustPlatform from the committed
# Cargo.lock (no cargoHash to update: every crate's checksum is in the lock file).
{
  pkgs,
  version,
  src,
}:
{
  name,
  description,
  # variables of the build's environment (stackc's build.rs reads STACKC_GIT_REV)
  environment ? { },
}:
pkgs.rustPlatform.buildRustPackage (
  {
    pname = name;
    inherit version src;
    cargoLock.lockFile = ../Cargo.lock;
    cargoBuildFlags = [
      "-p"
      name
    ];
    # aws-lc-sys (rustls' crypto, in usage-scraper's tree) compiles its C code with `cc`;
    # CMake is its fallback builder. The hook must not treat the workspace as a CMake project.
    nativeBuildInputs = [ pkgs.cmake ];
    dontUseCmakeConfigure = true;
    # The test suite reads golden/ and tests/ and needs PostgreSQL and promtool:
    # checks.<system>.tests runs it once for the whole workspace.
    doCheck = false;
    meta = {
      inherit description;
      mainProgram = name;
      license = with pkgs.lib.licenses; [
        mit
        asl20
      ];
      platforms = pkgs.lib.platforms.unix;
    };
  }
  // environment
)
