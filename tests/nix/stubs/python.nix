# nix/python.nix evaluated against the stand-in inputs: which interpreter it picks, how it
# builds the overlay, and which dependency specs its virtualenvs get.
let
  stub = import ./pkgs.nix { };
  py = import ../../../nix/python.nix {
    inherit (stub) pkgs lib pyproject-nix uv2nix pyproject-build-systems;
    workspaceRoot = ../../..;
  };
in
{
  pythonVersion = py.python.pythonVersion;
  overlays = py.pythonSet.overlay.composedOverlays;
  venv = {
    inherit (py.venv) name venvSpec;
  };
  testVenv = {
    inherit (py.testVenv) name venvSpec;
  };
}
