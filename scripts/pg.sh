#!/usr/bin/env bash
# A throw-away PostgreSQL for tests, `make tfb` and the arena, from Debian's
# postgresql package: initdb into DIR, listen on DIR (unix socket) and on
# 127.0.0.1:PORT, database hello_world with the TechEmpower schema.
#
#   scripts/pg.sh start DIR [PORT]   prints the conninfo on its last line (PORT:
#                                    the one it had before, else a free one)
#   scripts/pg.sh stop DIR
#   scripts/pg.sh restart DIR        fast stop + start (fault tests)
#   scripts/pg.sh psql DIR [args]    psql on that cluster
#
# PostgreSQL refuses to run as root; as root the cluster belongs to the
# `postgres` user the package creates (runuser), DIR is chowned to it.
#
# Works from any checkout location: the postgres user need not be able to
# enter the checkout (a clone under /root, mode 0700), as the schema goes to
# psql on stdin, read by this shell. DIR itself must be reachable by that user
# (e.g. under /tmp); pg.sh says so when it is not.
#
# A cluster is complete once initdb, the settings, the role, the database and
# the schema all succeeded: only then is DIR/complete written. A start that
# finds a cluster without it (a failed or interrupted earlier start) stops
# it, removes DIR/data and builds it again.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|restart|kill|psql DIR [PORT]}
dir=${2:?DIR missing}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: no PostgreSQL server (apt install postgresql)" >&2; exit 1; }
schema="$(cd "$(dirname "$0")/.." && pwd)/apps/tfb/schema.sql"
as_pg() {
    # from / : the postgres user may not be allowed into the caller's directory
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
port_of() { cat "$dir/port"; }
conninfo() { echo "host=$dir port=$(port_of) dbname=hello_world user=benchmarkdbuser"; }

case $cmd in
start)
    port=${3:-0}
    [ -r "$schema" ] || { echo "pg.sh: $schema missing" >&2; exit 1; }
    # a cluster started before keeps its port (clients hold its conninfo)
    [ "$port" = 0 ] && [ -f "$dir/port" ] && port=$(cat "$dir/port")
    if [ "$port" = 0 ]; then # a free high port
        port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo $((20000 + RANDOM % 20000)))
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd) # absolute: the socket directory goes into postgresql.conf
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir"
    as_pg test -w "$dir" -a -x "$dir" || {
        echo "pg.sh: the postgres user cannot write to $dir (a parent directory is closed to it?); use a directory under /tmp" >&2
        exit 1
    }
    if [ -f "$dir/data/PG_VERSION" ] && [ ! -f "$dir/complete" ]; then
        echo "pg.sh: $dir holds a half-made cluster (no $dir/complete); building it again" >&2
        as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
        rm -rf "$dir/data"
    fi
    if [ -f "$dir/port" ] && [ -f "$dir/complete" ] &&
        as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        conninfo # already running (on the port it was started with)
        exit 0
    fi
    echo "$port" >"$dir/port"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        rm -f "$dir/complete"
        as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
            >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
        # the same settings for every server the arena drives: no fsync
        # (a throw-away cluster), room for the peers' pools
        cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 300
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
jit = off
log_min_messages = warning
log_min_duration_statement = -1
CONF
        fresh=1
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $port" -w -t 60 start >/dev/null ||
        { tail -20 "$dir/server.log" >&2; exit 1; }
    if [ -n "${fresh:-}" ]; then
        psql_() { PGOPTIONS="-c client_min_messages=warning" as_pg psql -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres "$@"; }
        psql_ -d postgres -c "CREATE USER benchmarkdbuser PASSWORD 'benchmarkdbpass'" \
            -c "CREATE DATABASE hello_world OWNER benchmarkdbuser" >/dev/null
        # on stdin: read by this shell, which can enter the checkout
        psql_ -d hello_world -U benchmarkdbuser -f - <"$schema" >/dev/null
        touch "$dir/complete"
    fi
    conninfo
    ;;
stop)
    [ -f "$dir/data/PG_VERSION" ] || exit 0
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    ;;
restart)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -o "-p $(port_of)" -m fast -w -t 60 restart >/dev/null
    ;;
kill) # the postmaster dies without cleanup (fault tests); start again with start
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -9 "$pid"
    ;;
psql)
    shift 2
    as_pg psql -X -h "$dir" -p "$(port_of)" -U benchmarkdbuser -d hello_world "$@"
    ;;
*) echo "pg.sh: unknown command $cmd" >&2; exit 2 ;;
esac
