# Every output of stackc's flake, forced (a derivation's drvPath evaluates everything its
# builder would read) and checked against what the flake promises. Nix 2.8's `flake check`
# does not evaluate apps or lib, so this is where those are checked. The result is a JSON
# report that scripts/check-flake.sh and tests/nix/test-apps.sh read.
flake:
let
  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
  ];
  isLinux = s: builtins.match ".*-linux" s != null;
  linuxOf = builtins.replaceStrings [ "-darwin" ] [ "-linux" ];
  version = (builtins.fromTOML (builtins.readFile "${flake}/Cargo.toml")).workspace.package.version;
  json = builtins.toJSON;
  sorted = builtins.sort builtins.lessThan;
  forAll = f: builtins.listToAttrs (map (s: {
    name = s;
    value = f s;
  }) systems);

  fail = msg: throw "check-flake: ${msg}";
  # `value`, once `ok` holds
  check = ok: msg: value: if ok then value else fail msg;
  names =
    what: attrs: expected:
    check (builtins.attrNames attrs == sorted expected)
      "${what} holds ${json (builtins.attrNames attrs)}, expected ${json (sorted expected)}"
      true;
  endsWith = suffix: s: builtins.match ".*${suffix}" s != null;

  drv =
    what: v:
    check (builtins.isAttrs v && (v.type or null) == "derivation") "${what} is not a derivation" {
      inherit (v) name system;
      drvPath = builtins.unsafeDiscardStringContext v.drvPath;
      outPath = builtins.unsafeDiscardStringContext v.outPath;
    };
  drvs = what: builtins.mapAttrs (n: drv "${what}.${n}");

  app =
    what: a:
    let
      program = a.program or (fail "${what} has no program");
      context = builtins.attrNames (builtins.getContext program);
    in
    check ((a.type or null) == "app") "${what}.type is not \"app\"" (
      check (builtins.match "/nix/store/[^/]+/bin/[^/]+" program != null)
        "${what}.program is not a store path's bin/ program: ${program}"
        (
          check (context != [ ]) "${what}.program does not depend on the derivation that provides it" {
            program = builtins.unsafeDiscardStringContext program;
            derivations = context;
            description = a.meta.description or (fail "${what} has no meta.description");
          }
        )
    );

  # the generated compose file names the images this flake must build
  goldenCompose = builtins.readFile "${flake}/golden/demo/compose.yaml";
  composeImages = builtins.concatMap (
    l:
    let
      m = builtins.match "[[:space:]]*image:[[:space:]]*\"?([^\"]*)\"?[[:space:]]*" l;
    in
    if builtins.isString l && m != null then m else [ ]
  ) (builtins.split "\n" goldenCompose);

  image =
    system: binary: v:
    let
      what = "packages.${system}.${binary}-image";
      ref = "${v.imageName}:${toString v.imageTag}";
      config = builtins.fromJSON (builtins.unsafeDiscardStringContext v.imageConfig);
      # the release's name of this image: <registry>/stackc-<binary>:<version>
      stackcRefs = builtins.filter (r: builtins.match ".*/stackc-${binary}:.*" r != null) composeImages;
    in
    check (v.system == linuxOf system) "${what} is built for ${v.system}, not Linux" (
      check (endsWith "/stackc-${binary}" v.imageName && v.imageTag == version)
        "${what} is ${ref}, expected <registry>/stackc-${binary}:${version} (the generated compose file's name)"
        (
          check (stackcRefs != [ ] && builtins.all (r: r == ref) stackcRefs)
            "golden/demo/compose.yaml uses ${json stackcRefs}, the flake builds ${ref}"
            (
              check (config.User or null == "10001:10001") "${what} does not run as 10001:10001" (
                check (endsWith "/bin/${binary}" (builtins.head config.Entrypoint))
                  "${what}'s entrypoint is not ${binary}"
                  {
                    inherit ref;
                    file = builtins.unsafeDiscardStringContext v.outPath;
                  }
              )
            )
        )
    );

  perSystem =
    system:
    let
      packages = flake.packages.${system};
      apps = flake.apps.${system};
      checks = flake.checks.${system};
      binaries = [
        "stackc"
        "usage-scraper"
        "demo-app"
      ];
      imageNames = [
        "usage-scraper-image"
        "demo-app-image"
      ];
      demo = flake.lib.${system}.mkStack { stack = "${flake}/examples/demo/stack.toml"; };
      # a stack that names files beside it (build contexts, root_cert) passes its folder
      team = flake.lib.${system}.mkStack {
        stack = "${flake}/examples/team/stack.toml";
        files = "${flake}/examples/team";
      };
    in
    assert names "packages.${system}" packages (binaries ++ imageNames ++ [ "default" ]);
    assert names "apps.${system}" apps [
      "default"
      "stackc"
      "up"
      "down"
    ];
    assert names "checks.${system}" checks (
      [
        "tests"
        "clippy"
        "rustfmt"
        "golden-demo"
      ]
      ++ binaries
      ++ (if isLinux system then imageNames else [ ])
    );
    assert names "devShells.${system}" flake.devShells.${system} [ "default" ];
    assert names "lib.${system}" flake.lib.${system} [ "mkStack" ];
    assert check (packages.default.drvPath == packages.stackc.drvPath) "packages.${system}.default is not stackc" true;
    # `stackc --version` names the flake's commit (build.rs reads STACKC_GIT_REV)
    assert check (packages.stackc ? STACKC_GIT_REV) "packages.${system}.stackc does not set STACKC_GIT_REV" true;
    # the sandbox is not root: the root-only tests skip by name, everything else must run
    assert check (
      (checks.tests.STACKC_REQUIRE_TOOLS or null) == "1" && (checks.tests.STACKC_SKIP_ROOT_TESTS or null) == "1"
    ) "checks.${system}.tests must set STACKC_REQUIRE_TOOLS=1 and STACKC_SKIP_ROOT_TESTS=1" true;
    assert builtins.all (
      b:
      check (packages.${b}.version or null == version && (packages.${b}.meta.mainProgram or null) == b)
        "packages.${system}.${b}: version ${packages.${b}.version or "?"} / mainProgram ${packages.${b}.meta.mainProgram or "?"}, expected ${version} / ${b}"
        true
    ) binaries;
    {
      packages = drvs "packages.${system}" packages;
      apps = builtins.mapAttrs (n: app "apps.${system}.${n}") apps;
      checks = drvs "checks.${system}" checks;
      devShells = drvs "devShells.${system}" flake.devShells.${system};
      formatter = drv "formatter.${system}" flake.formatter.${system};
      mkStackDemo = drv "lib.${system}.mkStack (examples/demo)" demo;
      mkStackTeam = drv "lib.${system}.mkStack (examples/team, files)" team;
      images = {
        usage-scraper = image system "usage-scraper" packages.usage-scraper-image;
        demo-app = image system "demo-app" packages.demo-app-image;
      };
      programs = {
        default = check (endsWith "/bin/stackc" apps.default.program) "apps.${system}.default does not run stackc" true;
        up = check (endsWith "/bin/stackc-up" apps.up.program) "apps.${system}.up does not run stackc-up" true;
        down = check (endsWith "/bin/stackc-down" apps.down.program) "apps.${system}.down does not run stackc-down" true;
      };
    };
in
assert names "flake outputs" (builtins.removeAttrs flake [
  "outPath"
  "inputs"
  "outputs"
  "sourceInfo"
  "_type"
  "lastModified"
  "lastModifiedDate"
  "narHash"
]) [
  "packages"
  "apps"
  "lib"
  "checks"
  "devShells"
  "formatter"
];
{
  inherit version composeImages;
  systems = forAll perSystem;
}
