#!/usr/bin/env bash
# Installs the Postgres and Redis server binaries the integration and store tests start
# themselves (throwaway instances on free ports); no system service is started here.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
[[ -x /usr/bin/redis-server ]] || missing+=(redis-server)

if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tests run Postgres as this user when they are started as root (postgres refuses root).
getent passwd postgres >/dev/null || useradd --system --home-dir /var/lib/postgresql \
    --shell /usr/sbin/nologin postgres

for bin in /usr/lib/postgresql/*/bin/postgres; do
    "$bin" --version
done
/usr/bin/redis-server --version
