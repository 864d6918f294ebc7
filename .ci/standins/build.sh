#!/usr/bin/env bash
# Builds one stand-in image for an official image that cannot be pulled:
#   build.sh python|redis|postgres TAG
# One debootstrap rootfs (minbase + python3, python3-venv, ca-certificates, tini) from the
# machine's own Debian mirror is imported as the common base; <name>.Dockerfile then adds the
# service's Debian packages and the official image's entrypoint behaviour. The rootfs tarball
# is cached (STANDIN_CACHE_DIR), so rebuilding after an image prune skips debootstrap.
set -euo pipefail

name=${1:?usage: build.sh python|redis|postgres TAG}
tag=${2:?usage: build.sh python|redis|postgres TAG}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suite=${STANDIN_SUITE:-bookworm}
cache_dir=${STANDIN_CACHE_DIR:-/var/cache/gemini-agent/standins}
docker=${DOCKER:-/usr/bin/docker}
packages=python3,python3-venv,ca-certificates,tini

case $name in
    python | redis | postgres) ;;
    *) echo "unknown stand-in: $name" >&2; exit 2 ;;
esac

# The cache key covers everything that shapes the rootfs.
key=$(printf '%s\n' "$suite" "$packages" "$(sha256sum "$0" | cut -c1-16)" | sha256sum | cut -c1-12)
tarball=$cache_dir/rootfs-$suite-$key.tar
rootfs_image=gemini-agent-standin/rootfs:$suite-$key

mkdir -p "$cache_dir"
# Stand-ins are built concurrently; the first one makes the shared rootfs, the rest wait.
exec {lock}>"$cache_dir/rootfs.lock"
flock "$lock"
if ! "$docker" image inspect "$rootfs_image" >/dev/null 2>&1; then
    if [[ ! -s $tarball ]]; then
        mirror=$("$here/mirror.sh" "$suite")
        work=$(mktemp -d "$cache_dir/rootfs.XXXXXX")
        trap 'rm -rf "$work"' EXIT
        echo "debootstrap $suite ($packages) for the stand-in images" >&2
        debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" \
            >"$work/debootstrap.log" 2>&1 || {
            tail -n 30 "$work/debootstrap.log" >&2
            exit 1
        }
        rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
            "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/log/*
        tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
        mv "$work/rootfs.tar" "$tarball"
        rm -rf "$work"
        trap - EXIT
    fi
    "$docker" import "$tarball" "$rootfs_image" >/dev/null
fi
flock --unlock "$lock"

DOCKER_BUILDKIT=1 "$docker" build --quiet --build-arg "ROOTFS_IMAGE=$rootfs_image" \
    -f "$here/$name.Dockerfile" -t "$tag" "$here" >/dev/null
echo "$tag"
