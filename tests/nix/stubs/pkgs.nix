# A stand-in for the nixpkgs and flake-input attributes the project's Nix files use, so that
# nix-instantiate can evaluate them offline: no nixpkgs, no store, nothing is built.
# Packages are sets with an outPath, so "${pkg}/bin/x" interpolates like a real derivation.
{ system ? "x86_64-linux" }:
let
  storePath = name: "/nix/store/00000000000000000000000000000000-${name}";
  packageFor =
    system: name: attrs:
    attrs
    // {
      type = "derivation";
      inherit name system;
      outPath = storePath name;
    };
  package = packageFor system;

  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);

  lib = {
    inherit genAttrs;
    # Kept as a list so a test can read the overlay order.
    composeManyExtensions = overlays: { composedOverlays = overlays; };
    importTOML = file: builtins.fromTOML (builtins.readFile file);
  };

  interpreter =
    version:
    package "python3-${version}" {
      pythonVersion = version;
      interpreter = "${storePath "python3-${version}"}/bin/python${version}";
    };

  pkgs = {
    inherit lib;
    stdenv.hostPlatform.system = system;
    python311 = interpreter "3.11";
    python312 = interpreter "3.12";
    python313 = interpreter "3.13";
    python314 = interpreter "3.14";

    callPackage =
      fn: args:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);

    dockerTools = {
      # The arguments themselves, so a test can read the image config.
      streamLayeredImage = args: args // { inherit system; };
      caCertificates = package "ca-certificates" { };
    };
    fakeNss.override = args: { fakeNssOverride = args; };
    cacert = package "nss-cacert" { };
    tzdata = package "tzdata" { };
    tini = package "tini" { };
    uv = package "uv" { };
    redis = package "redis" { };
    postgresql = package "postgresql" { };
    nix = package "nix" { };

    writeShellScript = name: text: package name { inherit text; };
    mkShell = args: package "nix-shell" { mkShellArgs = args; };
    stdenvNoCC.mkDerivation = args: package args.name { mkDerivationArgs = args; };
  };

  # Built for the interpreter's system, as the real package set is.
  pythonSet = python: overlay: {
    inherit python overlay;
    mkVirtualEnv = name: spec: packageFor python.system name { venvSpec = spec; };
  };
in
{
  inherit pkgs lib storePath;

  pyproject-nix.build.packages =
    { python }:
    {
      overrideScope = overlay: pythonSet python overlay;
    };

  uv2nix.lib.workspace.loadWorkspace =
    { workspaceRoot }:
    {
      mkPyprojectOverlay = args: { mkPyprojectOverlayArgs = args; };
    };

  pyproject-build-systems.overlays.wheel = "pyproject-build-systems.overlays.wheel";
}
