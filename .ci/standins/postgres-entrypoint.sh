#!/bin/bash
# First start: initdb with POSTGRES_USER as superuser (password POSTGRES_PASSWORD, required;
# each also accepted as *_FILE), create POSTGRES_DB, listen on all interfaces with password
# auth for TCP, as the official image does. Later starts find PG_VERSION and just run.
set -euo pipefail

if [[ ${1:-} == -* ]]; then
    set -- postgres "$@"
fi

# VAR_FILE=/path (e.g. a compose secret) stands for VAR=<file content>.
for var in POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB; do
    file_var=${var}_FILE
    if [[ -n ${!file_var:-} ]]; then
        if [[ -n ${!var:-} ]]; then
            echo "error: both $var and $file_var are set" >&2
            exit 1
        fi
        export "$var"="$(<"${!file_var}")"
        unset "$file_var"
    fi
done

if [[ ${1:-} == postgres && $(id -u) == 0 ]]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown -R postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [[ ${1:-} == postgres && ! -s $PGDATA/PG_VERSION ]]; then
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    if [[ -z ${POSTGRES_PASSWORD:-} ]]; then
        echo "error: POSTGRES_PASSWORD must be set for the first start" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --pgdata="$PGDATA" --username="$user" --pwfile="$pwfile" --encoding=UTF8 \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf 'host all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    printf "listen_addresses = '*'\n" >>"$PGDATA/postgresql.conf"

    if [[ $db != postgres ]]; then
        # Socket-only server while setting up, so nothing sees a half-made database.
        pg_ctl --pgdata="$PGDATA" --wait --silent -o "-c listen_addresses=''" start
        psql --username="$user" --dbname=postgres --set=ON_ERROR_STOP=1 --no-psqlrc \
            --set=db="$db" <<<'CREATE DATABASE :"db";' >/dev/null
        pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
    fi
    echo "initialised $PGDATA (user $user, database $db)"
fi
exec "$@"
