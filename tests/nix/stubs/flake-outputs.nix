# flake.nix's outputs function applied to stand-in inputs, summarised as JSON: which outputs
# exist for which systems and what they are wired to.
let
  flake = import ../../../flake.nix;
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];
  stubFor = system: import ./pkgs.nix { inherit system; };
  stub = stubFor "x86_64-linux";
  nixpkgs = {
    inherit (stub) lib;
    legacyPackages = stub.lib.genAttrs systems (system: (stubFor system).pkgs);
  };
  self = flake.outputs {
    inherit self nixpkgs;
    inherit (stub) pyproject-nix uv2nix pyproject-build-systems;
  };
  mapAttrs = builtins.mapAttrs;
in
{
  inputs = builtins.attrNames flake.inputs;
  outputsArgs = builtins.attrNames (builtins.functionArgs flake.outputs);
  outputs = builtins.attrNames self;
  packages = mapAttrs (
    system: p: {
      names = builtins.attrNames p;
      defaultName = p.default.name;
      defaultSpec = p.default.venvSpec;
      defaultSystem = p.default.system;
      image = {
        inherit (p.image) name config system;
      };
    }
  ) self.packages;
  apps = mapAttrs (system: a: {
    names = builtins.attrNames a;
    inherit (a.default) type program;
  }) self.apps;
  devShells = mapAttrs (system: d: {
    names = builtins.attrNames d;
    packages = map (x: x.name) d.default.mkShellArgs.packages;
    inherit (d.default.mkShellArgs) env;
  }) self.devShells;
  checks = mapAttrs (
    system: c:
    mapAttrs (
      name: check:
      {
        inherit (check) name system;
      }
      // (
        if check ? mkDerivationArgs then
          {
            inherit (check.mkDerivationArgs) buildPhase;
            tools = map (x: x.name) check.mkDerivationArgs.nativeBuildInputs;
          }
        else
          { }
      )
    ) c
  ) self.checks;
}
