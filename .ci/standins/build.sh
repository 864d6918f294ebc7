#!/usr/bin/env bash
# Builds one stand-in image for an official image that cannot be pulled:
#   build.sh python|redis|postgres TAG
# A debootstrap rootfs from the machine's own Debian mirror is imported as a base, then the
# matching <name>.Dockerfile adds the official image's entrypoint behaviour. The rootfs tarball
# is cached (STANDIN_CACHE_DIR), so rebuilding after an image prune takes seconds.
set -euo pipefail

name=${1:?usage: build.sh python|redis|postgres TAG}
tag=${2:?usage: build.sh python|redis|postgres TAG}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
suite=${STANDIN_SUITE:-bookworm}
cache_dir=${STANDIN_CACHE_DIR:-/var/cache/gemini-agent/standins}
docker=${DOCKER:-/usr/bin/docker}

case $name in
    python) packages=python3,python3-venv,ca-certificates,tini ;;
    redis) packages=redis-server ;;
    postgres) packages=postgresql ;;
    *) echo "unknown stand-in: $name" >&2; exit 2 ;;
esac

# The cache key covers everything that shapes the rootfs.
key=$(printf '%s\n' "$suite" "$packages" "$(sha256sum "$0" | cut -c1-16)" | sha256sum | cut -c1-12)
tarball=$cache_dir/$name-$suite-$key.tar
rootfs_image=gemini-agent-standin/$name-rootfs:$suite-$key

if ! "$docker" image inspect "$rootfs_image" >/dev/null 2>&1; then
    if [[ ! -s $tarball ]]; then
        mkdir -p "$cache_dir"
        mirror=$("$here/mirror.sh" "$suite")
        work=$(mktemp -d "$cache_dir/$name.XXXXXX")
        trap 'rm -rf "$work"' EXIT
        echo "debootstrap $suite ($packages) for the $name stand-in" >&2
        debootstrap --variant=minbase --include="$packages" "$suite" "$work/rootfs" "$mirror" \
            >"$work/debootstrap.log" 2>&1 || {
            tail -n 30 "$work/debootstrap.log" >&2
            exit 1
        }
        # Package caches and the cluster Debian creates at install time are dead weight here;
        # the postgres entrypoint initialises its own data directory.
        rm -rf "$work"/rootfs/var/lib/apt/lists/* "$work"/rootfs/var/cache/apt/*.bin \
            "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/log/* \
            "$work"/rootfs/var/lib/postgresql/*/main "$work"/rootfs/etc/postgresql/*/main
        tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
        mv "$work/rootfs.tar" "$tarball"
        rm -rf "$work"
        trap - EXIT
    fi
    "$docker" import "$tarball" "$rootfs_image" >/dev/null
fi

build_args=(--build-arg "ROOTFS_IMAGE=$rootfs_image")
if [[ $name == postgres ]]; then
    major=$("$docker" run --rm --entrypoint /bin/sh "$rootfs_image" -c 'ls /usr/lib/postgresql')
    build_args+=(--build-arg "PG_MAJOR=$major")
fi
DOCKER_BUILDKIT=1 "$docker" build --quiet "${build_args[@]}" -f "$here/$name.Dockerfile" \
    -t "$tag" "$here" >/dev/null
echo "$tag"
