# Checks run by `nix flake check`: the unit tests and the offline packaging checks, each in
# the build sandbox (no network, no services) against the test virtualenv from uv.lock.
{
  stdenvNoCC,
  nix,
  testVenv,
  src,
}:
let
  pytestCheck =
    {
      name,
      nativeBuildInputs ? [ ],
      pytestArgs,
    }:
    stdenvNoCC.mkDerivation {
      inherit name src;
      nativeBuildInputs = [ testVenv ] ++ nativeBuildInputs;
      dontConfigure = true;
      buildPhase = ''
        runHook preBuild
        export HOME="$TMPDIR"
        pytest -p no:cacheprovider -q ${pytestArgs}
        runHook postBuild
      '';
      installPhase = ''
        touch "$out"
      '';
    };
in
{
  # Tests that need Redis, Postgres or Docker are marked and left to CI.
  unit-tests = pytestCheck {
    name = "gemini-agent-unit-tests";
    pytestArgs = ''-m "not integration and not container" --ignore=tests/nix tests'';
  };

  # Parse, image contract, lock and wheel checks; nix-instantiate evaluates without a store.
  nix-offline = pytestCheck {
    name = "gemini-agent-nix-offline";
    nativeBuildInputs = [ nix ];
    pytestArgs = "tests/nix";
  };
}
