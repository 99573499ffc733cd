# Offline stand-in for nixpkgs, used by scripts/check-flake.sh through
#   nix flake check --no-build --override-input nixpkgs path:tests/nix/nixpkgs-stub
#
# Copied from ../shared/validators/nix-stubs/nixpkgs and extended for stackc's flake; every
# addition is listed in tests/nix/README.md with the nixpkgs name it stands for. Rules:
# - only attribute names that exist in real nixpkgs, with the same shape (same function
#   arguments; a name not listed here is an evaluation error, on purpose);
# - builders keep what they are given as derivation attributes, so that computing a
#   `drvPath` forces every package, script and string a real build would read (a typo
#   hidden in a build script or a runtime input fails evaluation here too);
# - where real nixpkgs checks something at evaluation or early build time (cargoLock vs
#   the Cargo.lock in src, workspace members present in src, lib.fileset paths that do not
#   exist, unknown writeShellApplication arguments), the stub checks it too.
# The derivations build nothing useful: this stub is only for `--no-build` evaluation.
{
  description = "Offline stand-in for nixpkgs (stackc's flake checks): lib, lib.fileset and the package names and builders stackc's flake uses";
  outputs =
    { self }:
    let
      genAttrs =
        names: f:
        builtins.listToAttrs (
          map (n: {
            name = n;
            value = f n;
          }) names
        );
      allSystems = [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];
      lib = self.lib;

      # What `derivation` accepts as environment: drop nulls, functions and plain attribute
      # sets (derivations and strings, lists, paths, numbers, booleans are kept).
      envOf =
        a:
        builtins.removeAttrs a (
          builtins.filter (
            n:
            let
              v = a.${n};
            in
            v == null || builtins.isFunction v || (builtins.isAttrs v && !(v ? outPath))
          ) (builtins.attrNames a)
        );
      mkDrv =
        system: name: env:
        derivation (
          envOf env
          // {
            inherit name system;
            builder = "/bin/sh";
            args = [
              "-c"
              "echo stub > $out"
            ];
          }
        );

      mkPkgs =
        system:
        let
          drv = name: mkDrv system name { };
          names = [
            # from the shared stub
            "prometheus"
            "prometheus-alertmanager"
            "grafana"
            "grafana-loki"
            "tempo"
            "grafana-alloy"
            "docker-compose"
            "yamllint"
            "jq"
            "yq-go"
            "curl"
            "git"
            "bash"
            "coreutils"
            "nixpkgs-fmt"
            "nixfmt-rfc-style"
            "alejandra"
            "taplo"
            "cargo"
            "rustc"
            "rustfmt"
            "clippy"
            "rust-analyzer"
            "pkg-config"
            "openssl"
            # added for stackc (tests/nix/README.md)
            "postgresql"
            "nix"
            "nixfmt"
            "nixfmt-tree"
            "nodejs"
            "docker-client"
            "shellcheck"
            "cacert"
            "diffutils"
            "gnugrep"
            "cmake"
          ];
          # python3.withPackages (ps: [ ... ]) with the python3Packages names stackc uses
          pythonPackages = genAttrs [ "pyyaml" "jsonschema" ] (n: drv "python3.12-${n}");
        in
        genAttrs names drv
        // {
          python3 = drv "python3" // {
            pkgs = pythonPackages;
            withPackages = f: mkDrv system "python3-env" { paths = f pythonPackages; };
          };

          # forward what a real mkShell reads, so that a missing package fails evaluation
          mkShell =
            a:
            mkDrv system (a.name or "nix-shell") (
              builtins.removeAttrs a [
                "name"
                "passthru"
                "meta"
              ]
            );

          # A derivation carrying its arguments, plus the checks real nixpkgs makes before
          # compiling anything: importCargoLock reads cargoLock.lockFile (git dependencies need
          # outputHashes), cargoSetupHook refuses a src whose Cargo.lock differs from it, and
          # cargo refuses a workspace whose members are missing or have no target, or `-p X`
          # for a package that is not a member.
          rustPlatform.rustLibSrc = drv "rust-lib-src";
          rustPlatform.buildRustPackage =
            a:
            let
              fail = msg: throw "buildRustPackage (${a.pname or "?"}): ${msg}";
              # What the builder would see in src, answered from the original files and the
              # filter (lib.fileset.toSource gives a cleanSourceWith set): `nix flake check
              # --no-build` evaluates read-only, so the filtered copy is never in the store.
              srcRoot = a.src.origSrc or a.src;
              keep = a.src.filter or (_: _: true);
              has =
                rel:
                let
                  comps = builtins.filter builtins.isString (builtins.split "/" rel);
                  n = builtins.length comps;
                  prefix = i: builtins.concatStringsSep "/" (builtins.genList (builtins.elemAt comps) i);
                  dirsKept = builtins.all (i: keep "${toString srcRoot}/${prefix i}" "directory") (
                    builtins.genList (i: i + 1) (n - 1)
                  );
                in
                builtins.pathExists (srcRoot + "/${rel}")
                && dirsKept
                && keep "${toString srcRoot}/${rel}" "regular";
              read = rel: builtins.readFile (srcRoot + "/${rel}");
              lockFile = a.cargoLock.lockFile;
              lock = builtins.fromTOML (builtins.readFile lockFile);
              hashes = a.cargoLock.outputHashes or { };
              gitDeps = builtins.filter (p: lib.hasPrefix "git+" (p.source or "")) (lock.package or [ ]);
              rootManifest = builtins.fromTOML (read "Cargo.toml");
              member =
                m:
                let
                  dir = if m == "." then "" else "${m}/";
                  t = builtins.fromTOML (read "${dir}Cargo.toml");
                  hasTarget = t ? lib || t ? bin || has "${dir}src/main.rs" || has "${dir}src/lib.rs";
                in
                if !has "${dir}Cargo.toml" then
                  fail "workspace member `${m}` has no Cargo.toml in src (is it in the source file set?)"
                else if t ? package && !hasTarget then
                  fail "workspace member `${m}` has no target in src (src/main.rs or src/lib.rs missing from the source file set?)"
                else
                  t.package.name or null;
              members = map member (rootManifest.workspace.members or [ "." ]);
              packageFlags =
                l:
                builtins.concatLists (
                  builtins.genList (
                    i:
                    if
                      builtins.elem (builtins.elemAt l i) [
                        "-p"
                        "--package"
                      ]
                      && i + 1 < builtins.length l
                    then
                      [ (builtins.elemAt l (i + 1)) ]
                    else
                      [ ]
                  ) (builtins.length l)
                );
              checked =
                if !(a ? pname && a ? version && a ? src) then
                  fail "pname, version and src are required"
                else if !(a ? cargoLock || a ? cargoHash) then
                  fail "cargoLock or cargoHash is required"
                else if !has "Cargo.toml" then
                  fail "src has no Cargo.toml (is it in the source file set?)"
                else if a ? cargoLock && !has "Cargo.lock" then
                  fail "src has no Cargo.lock (is it in the source file set?)"
                else if a ? cargoLock && read "Cargo.lock" != builtins.readFile lockFile then
                  fail "cargoLock.lockFile differs from the Cargo.lock in src"
                else if a ? cargoLock && !builtins.all (p: hashes ? "${p.name}-${p.version}") gitDeps then
                  fail "a git dependency has no cargoLock.outputHashes entry"
                else
                  builtins.foldl' (
                    ok: p:
                    if builtins.elem p members then
                      ok
                    else
                      fail "`-p ${p}`: no workspace member of src is called `${p}`"
                  ) true (packageFlags (a.cargoBuildFlags or [ ] ++ a.cargoTestFlags or [ ]));
            in
            assert checked;
            mkDrv system "${a.pname}-${a.version}" (
              builtins.removeAttrs a [
                "cargoLock"
                "meta"
                "passthru"
              ]
              // {
                cargoLockFile = lockFile;
              }
            )
            // (a.passthru or { })
            // {
              inherit (a) pname version;
              meta = a.meta or { };
            };

          stdenv.mkDerivation = a: drv (a.name or "${a.pname}-${a.version}");
          runCommand =
            name: env: buildCommand:
            mkDrv system name (
              builtins.removeAttrs env [
                "passthru"
                "meta"
              ]
              // {
                inherit buildCommand;
              }
            )
            // (env.passthru or { })
            // {
              meta = env.meta or { };
            };
          runCommandLocal = self.legacyPackages.${system}.runCommand;
          symlinkJoin = a: drv a.name;
          makeWrapper = drv "make-wrapper";

          # buildLayeredImage's arguments (streamLayeredImage's plus `compressor`); the image
          # config is checked against the keys of the OCI image config (real nixpkgs writes
          # unknown keys through silently: a misspelt `user` would give a root image).
          dockerTools.buildLayeredImage =
            {
              name,
              tag ? null,
              fromImage ? null,
              contents ? [ ],
              config ? { },
              architecture ? null,
              created ? "1970-01-01T00:00:01Z",
              uid ? 0,
              gid ? 0,
              uname ? "root",
              gname ? "root",
              maxLayers ? 100,
              extraCommands ? "",
              fakeRootCommands ? "",
              enableFakechroot ? false,
              includeStorePaths ? true,
              passthru ? { },
              compressor ? "gz",
            }:
            let
              ociKeys = [
                "User"
                "ExposedPorts"
                "Env"
                "Entrypoint"
                "Cmd"
                "Volumes"
                "WorkingDir"
                "Labels"
                "StopSignal"
                "ArgsEscaped"
                "Healthcheck"
              ];
              unknown = builtins.filter (k: !builtins.elem k ociKeys) (builtins.attrNames config);
            in
            if unknown != [ ] then
              throw "dockerTools.buildLayeredImage (${name}): unknown image config key(s) ${builtins.toJSON unknown}"
            else
              mkDrv system "${baseNameOf name}.tar.gz" {
                imageName = name;
                imageTag = if tag == null then "" else tag;
                imageConfig = builtins.toJSON config;
                contents = if builtins.isList contents then contents else [ contents ];
                inherit extraCommands fakeRootCommands;
              }
              // passthru
              // {
                imageName = name;
                imageTag = tag;
              };
          dockerTools.buildImage = a: drv "${baseNameOf a.name}.tar.gz";
          writeTextDir = path: text: drv "text-dir";
          writeShellScriptBin = name: text: mkDrv system name { inherit text; };
          # writeShellApplication's arguments, and the script text it writes
          writeShellApplication =
            {
              name,
              text,
              runtimeInputs ? [ ],
              runtimeEnv ? null,
              meta ? { },
              passthru ? { },
              checkPhase ? null,
              excludeShellChecks ? [ ],
              extraShellCheckFlags ? [ ],
              bashOptions ? [
                "errexit"
                "nounset"
                "pipefail"
              ],
              derivationArgs ? { },
            }:
            let
              script =
                ''
                  #!${drv "bash"}/bin/bash
                  ${lib.concatMapStringsSep "\n" (o: "set -o ${o}") bashOptions}
                ''
                + lib.optionalString (runtimeEnv != null) (
                  builtins.concatStringsSep "" (
                    lib.mapAttrsToList (n: v: ''
                      ${lib.toShellVar n v}
                      export ${n}
                    '') runtimeEnv
                  )
                )
                + lib.optionalString (runtimeInputs != [ ]) ''

                  export PATH="${lib.makeBinPath runtimeInputs}:$PATH"
                ''
                + ''

                  ${text}
                '';
            in
            mkDrv system name {
              text = script;
              executable = true;
              destination = "/bin/${name}";
            }
            // passthru
            // {
              meta = {
                mainProgram = name;
              }
              // meta;
            };
          writeText = name: text: mkDrv system name { inherit text; };
          lib = self.lib;
        };
    in
    {
      lib = rec {
        inherit genAttrs;
        systems.flakeExposed = allSystems;
        optional = c: x: if c then [ x ] else [ ];
        optionals = c: l: if c then l else [ ];
        optionalString = c: s: if c then s else "";
        optionalAttrs = c: a: if c then a else { };
        assertMsg = pred: msg: pred || builtins.throw msg;
        hasPrefix = p: s: builtins.substring 0 (builtins.stringLength p) s == p;
        hasSuffix =
          x: s:
          let
            ls = builtins.stringLength s;
            lx = builtins.stringLength x;
          in
          lx <= ls && builtins.substring (ls - lx) lx s == x;
        mapAttrsToList = f: a: map (n: f n a.${n}) (builtins.attrNames a);
        concatMapStringsSep = sep: f: l: builtins.concatStringsSep sep (map f l);
        makeBinPath = l: builtins.concatStringsSep ":" (map (p: "${p}/bin") l);
        escapeShellArg =
          arg:
          let
            s = toString arg;
          in
          if builtins.match "[[:alnum:],._+:@%/-]+" s == null then
            "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'"
          else
            s;
        toShellVar = name: value: "${name}=${escapeShellArg value}";
        getName = x: x.pname or (builtins.parseDrvName x.name).name;
        getExe = p: "${p}/bin/${p.meta.mainProgram or (getName p)}";
        getExe' = p: bin: "${p}/bin/${bin}";
        cleanSource = src: src;
        importTOML = path: builtins.fromTOML (builtins.readFile path);

        # lib.fileset with real filtering (builtins.path), so that the source a package gets
        # holds exactly the files the file set names. A set is its roots plus three
        # predicates on absolute paths: `file` (this file is in the set), `dir` (this
        # directory may hold files of the set) and `covers` (the whole directory is in it).
        fileset =
          let
            under = root: p: p == root || hasPrefix (root + "/") p;
            mkSet = roots: file: dir: covers: {
              _type = "fileset-stub";
              inherit
                roots
                file
                dir
                covers
                ;
            };
            empty = mkSet [ ] (_: _: false) (_: false) (_: false);
            coerce =
              fn: x:
              if builtins.isAttrs x && (x._type or null) == "fileset-stub" then
                x
              else if builtins.isPath x then
                let
                  r = toString x;
                in
                if !builtins.pathExists x then
                  throw "lib.fileset.${fn}: ${r} is a path that does not exist. To create a file set from a path that may not exist, use `lib.fileset.maybeMissing`."
                else
                  mkSet [ r ] (p: _: under r p) (p: under r p || under p r) (p: under r p)
              else
                throw "lib.fileset.${fn}: expected a file set or a path, not a ${builtins.typeOf x}";
            unions =
              l:
              let
                s = map (coerce "unions") l;
              in
              mkSet (builtins.concatMap (x: x.roots) s) (p: t: builtins.any (x: x.file p t) s) (
                p: builtins.any (x: x.dir p) s
              ) (p: builtins.any (x: x.covers p) s);
          in
          {
            inherit unions;
            union = a: b: unions [
              a
              b
            ];
            difference =
              a: b:
              let
                A = coerce "difference" a;
                B = coerce "difference" b;
              in
              mkSet A.roots (p: t: A.file p t && !(B.file p t)) (p: A.dir p && !(B.covers p)) (
                p: A.covers p && !(B.dir p)
              );
            intersection =
              a: b:
              let
                A = coerce "intersection" a;
                B = coerce "intersection" b;
              in
              mkSet A.roots (p: t: A.file p t && B.file p t) (p: A.dir p && B.dir p) (p: A.covers p && B.covers p);
            fileFilter =
              pred: path:
              if !builtins.isPath path then
                throw "lib.fileset.fileFilter: second argument must be a path"
              else
                let
                  r = toString path;
                in
                mkSet [ r ] (
                  p: t:
                  under r p
                  && pred {
                    name = baseNameOf p;
                    type = t;
                    hasExt = e: hasSuffix ".${e}" (baseNameOf p);
                  }
                ) (p: under r p || under p r) (_: false);
            maybeMissing = p: if builtins.pathExists p then coerce "maybeMissing" p else empty;
            gitTracked = p: coerce "gitTracked" p;
            toSource =
              { root, fileset }:
              let
                s = coerce "toSource" fileset;
                r = toString root;
              in
              if !builtins.isPath root then
                throw "lib.fileset.toSource: `root` must be a path"
              else if !builtins.all (under r) s.roots then
                throw "lib.fileset.toSource: `fileset` holds a path outside `root` (${r})"
              else
                # the shape of real toSource's result (lib.sources.cleanSourceWith)
                let
                  filter = p: t: if t == "directory" then s.dir p else s.file p t;
                in
                {
                  _isLibCleanSourceWith = true;
                  origSrc = root;
                  inherit filter;
                  name = "source";
                  outPath = builtins.path {
                    name = "source";
                    path = root;
                    inherit filter;
                  };
                };
          };
        licenses = {
          mit = { };
          asl20 = { };
          agpl3Only = { };
        };
        maintainers = { };
        platforms = {
          linux = builtins.filter (hasSuffix "-linux") allSystems;
          darwin = builtins.filter (hasSuffix "-darwin") allSystems;
          unix = allSystems;
          all = allSystems;
        };
      };
      legacyPackages = genAttrs allSystems mkPkgs;
    };
}
