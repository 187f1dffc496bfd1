#!/bin/sh
# The official postgres image's contract, with Debian's PostgreSQL: on an empty $PGDATA create the
# cluster with POSTGRES_USER (superuser) and POSTGRES_PASSWORD, and the database POSTGRES_DB;
# accept password logins over the network; run the server as user postgres in the foreground.
set -eu
: "${POSTGRES_USER:=postgres}"
: "${POSTGRES_DB:=$POSTGRES_USER}"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > "$pwfile"
    chown postgres "$pwfile"
    as_postgres initdb --pgdata="$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        # A private socket directory: pg_isready (the healthcheck) must not see this short-lived
        # server as ready, or a client could connect while it shuts down.
        init_socket=$(mktemp -d)
        chown postgres "$init_socket"
        as_postgres pg_ctl --pgdata="$PGDATA" --wait start \
            --options="-c listen_addresses='' -c unix_socket_directories=$init_socket" >/dev/null
        as_postgres createdb --host="$init_socket" --username="$POSTGRES_USER" "$POSTGRES_DB"
        as_postgres pg_ctl --pgdata="$PGDATA" --mode=fast --wait stop >/dev/null
        rm -rf "$init_socket"
    fi
    echo "stand-in postgres: created the cluster, user $POSTGRES_USER, database $POSTGRES_DB"
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA"
