#!/bin/bash
# The official image's contract: flags alone mean redis-server, it drops to the redis user,
# and without a config file it does not refuse clients from other containers.
set -euo pipefail

if [[ ${1:-} == -* || ${1:-} == *.conf ]]; then
    set -- redis-server "$@"
fi

if [[ ${1:-} == redis-server ]]; then
    if [[ ${2:-} != *.conf ]]; then
        set -- redis-server --protected-mode no "${@:2}"
    fi
    if [[ $(id -u) == 0 ]]; then
        find . \! -user redis -exec chown redis:redis '{}' +
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
