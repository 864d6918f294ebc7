#!/usr/bin/env bash
# Installs the Nix evaluator that the offline checks in tests/nix need (parse + eval only;
# no store, no binary cache). Safe to run repeatedly.
set -euo pipefail

if ! command -v nix-instantiate >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    # Other provisioning steps may hold the dpkg/apt locks: wait for them instead of failing.
    apt_opts=(-o DPkg::Lock::Timeout=600 -qq)
    for attempt in 1 2 3; do
        if apt-get "${apt_opts[@]}" update \
            && apt-get "${apt_opts[@]}" install -y --no-install-recommends nix-bin >/dev/null; then
            break
        fi
        if [ "$attempt" -eq 3 ]; then
            echo "provision-nix: could not install nix-bin" >&2
            exit 1
        fi
        sleep 10
    done
fi

nix-instantiate --version
