# nix/image.nix (or a copy given as imageModule) evaluated against the stand-in packages;
# the result is the set of arguments it passes to dockerTools.streamLayeredImage.
{
  imageModule ? ../../../nix/image.nix,
}:
let
  stub = import ./pkgs.nix { };
in
stub.pkgs.callPackage imageModule {
  venv = stub.pkgs.stdenvNoCC.mkDerivation { name = "gemini-agent-env"; };
  version = "0.0.0-stub";
}
