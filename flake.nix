{
  description = "gemini-agent: a Gemini agent behind a FastAPI API, packaged from uv.lock";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

    pyproject-nix = {
      url = "github:pyproject-nix/pyproject.nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };

    uv2nix = {
      url = "github:pyproject-nix/uv2nix";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };

    pyproject-build-systems = {
      url = "github:pyproject-nix/build-system-pkgs";
      inputs.pyproject-nix.follows = "pyproject-nix";
      inputs.uv2nix.follows = "uv2nix";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  # Wiring only: what each output is lives in nix/.
  outputs =
    {
      self,
      nixpkgs,
      pyproject-nix,
      uv2nix,
      pyproject-build-systems,
    }:
    let
      inherit (nixpkgs) lib;

      # The image is a Linux image; both architectures build from the same lock.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      pythonFor =
        pkgs:
        import ./nix/python.nix {
          inherit
            pkgs
            lib
            pyproject-nix
            uv2nix
            pyproject-build-systems
            ;
          workspaceRoot = ./.;
        };

      version = (lib.importTOML ./pyproject.toml).project.version;
    in
    {
      packages = forAllSystems (
        pkgs:
        let
          py = pythonFor pkgs;
        in
        {
          default = py.venv;
          image = pkgs.callPackage ./nix/image.nix {
            inherit (py) venv;
            inherit version;
          };
        }
      );

      apps = forAllSystems (
        pkgs:
        let
          serve = pkgs.writeShellScript "gemini-agent-serve" ''
            exec ${(pythonFor pkgs).venv}/bin/agent serve "$@"
          '';
        in
        {
          default = {
            type = "app";
            program = "${serve}";
            meta.description = "Run the gemini-agent API server (agent serve)";
          };
        }
      );

      devShells = forAllSystems (
        pkgs:
        let
          py = pythonFor pkgs;
        in
        {
          # uv manages .venv from uv.lock as on any other machine; Nix supplies the
          # interpreter, the services the integration tests start, and nix-instantiate.
          default = pkgs.mkShell {
            packages = [
              py.python
              pkgs.uv
              pkgs.redis
              pkgs.postgresql
              pkgs.nix
            ];
            env = {
              UV_PYTHON = py.python.interpreter;
              UV_PYTHON_DOWNLOADS = "never";
            };
            shellHook = ''
              unset PYTHONPATH
            '';
          };
        }
      );

      checks = forAllSystems (
        pkgs:
        let
          py = pythonFor pkgs;
        in
        # Imported, not callPackage'd: the result must hold derivations only.
        import ./nix/checks.nix {
          inherit (pkgs) stdenvNoCC nix;
          inherit (py) testVenv;
          src = ./.;
        }
        // {
          inherit (self.packages.${pkgs.stdenv.hostPlatform.system}) default image;
        }
      );
    };
}
