#!/usr/bin/env bash
# Local PostgreSQL 15 + Redis for running the test suite against real servers.
#
# Usage: scripts/services.sh start|stop|status|env
#   start   install (if needed) and start both, create DB "wescan"; idempotent
#   stop    stop both (no error if they are not running)
#   status  report whether each server answers
#   env     print export lines:  eval "$(scripts/services.sh env)"
#
# Nothing here assumes a service was (or was not) started by hand: every step
# checks the current state first and only acts when needed.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PG_VERSION=15
PG_CLUSTER=main
PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_PASSWORD=postgres
PG_DB=wescan
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=30

DATABASE_URL="postgres://${PG_USER}:${PG_PASSWORD}@${PG_HOST}:${PG_PORT}/${PG_DB}"
REDIS_URL="redis://${REDIS_HOST}:${REDIS_PORT}/0"

log() { echo "services: $*"; }
die() { echo "services: ERROR: $*" >&2; exit 1; }

# Run a command as the postgres OS user (peer auth on the local socket) from
# any directory postgres may not be able to read (e.g. /root checkouts).
as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    elif command -v sudo >/dev/null 2>&1; then
        (cd / && sudo -u postgres -- "$@")
    else
        die "need root or sudo to administer PostgreSQL"
    fi
}

# Same for root-only actions (pg_ctlcluster for a root-owned setup, pg_hba edit).
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -- "$@"; fi
}

psql_admin() {
    as_postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"
}

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" >/dev/null 2>&1; }

redis_ready() {
    command -v redis-cli >/dev/null 2>&1 &&
        [[ $(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

# wait_for NAME CHECK_FUNCTION: bounded poll so a broken server fails loudly
# instead of hanging the test run.
wait_for() {
    local name=$1 check=$2 i
    for ((i = 0; i < WAIT_SECONDS * 2; i++)); do
        "$check" && return 0
        sleep 0.5
    done
    return 1
}

start_postgres() {
    # pg_ctlcluster/pg_createcluster come from postgresql-common (a dependency).
    "$SCRIPT_DIR/system-packages.sh" "postgresql-$PG_VERSION"

    # The package normally creates 15/main, but images built with
    # create_main_cluster=false (or a deleted cluster) have none.
    if ! pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" >/dev/null 2>&1; then
        log "creating cluster $PG_VERSION/$PG_CLUSTER"
        as_root pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT"
    fi

    # The cluster must listen on our port; another cluster may have taken it.
    local port
    port=$(pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" | awk '{print $3}')
    [[ $port == "$PG_PORT" ]] ||
        die "cluster $PG_VERSION/$PG_CLUSTER is configured for port $port, expected $PG_PORT"

    # Make sure password logins over TCP from 127.0.0.1 are allowed. Debian's
    # default pg_hba.conf has this line; add it only if someone removed it.
    local hba hba_changed=0
    hba=$(as_postgres psql -X -qAt -p "$PG_PORT" -c 'show hba_file' 2>/dev/null ||
        echo "/etc/postgresql/$PG_VERSION/$PG_CLUSTER/pg_hba.conf")
    if ! as_root grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+(scram-sha-256|md5)' "$hba"; then
        log "adding 127.0.0.1 password rule to $hba"
        # Prepend: pg_hba.conf is first-match, so a later reject rule must not win.
        as_root sed -i '1i host    all             all             127.0.0.1/32            scram-sha-256' "$hba"
        hba_changed=1
    fi

    local status
    status=$(pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" | awk '{print $4}')
    if [[ $status != online* ]]; then
        log "starting PostgreSQL $PG_VERSION/$PG_CLUSTER"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start
    elif [[ $hba_changed -eq 1 ]]; then
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" reload
    fi

    wait_for postgres pg_ready ||
        die "PostgreSQL did not accept connections on $PG_HOST:$PG_PORT within ${WAIT_SECONDS}s (see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log)"

    # Tests connect with a password over TCP; set it every time (cheap, and
    # fixes a role whose password was changed or never set). SQL goes via
    # stdin because psql only expands :'var' quoting there, not in -c.
    psql_admin -d postgres -v pw="$PG_PASSWORD" >/dev/null \
        <<<"ALTER ROLE \"$PG_USER\" WITH LOGIN PASSWORD :'pw';"
    # CREATE DATABASE has no IF NOT EXISTS; check first.
    if [[ $(psql_admin -d postgres -At -v db="$PG_DB" \
        <<<"SELECT 1 FROM pg_database WHERE datname = :'db';") != 1 ]]; then
        log "creating database $PG_DB"
        psql_admin -d postgres -c "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\""
    fi

    # Prove the URL the tests will use actually works (auth included).
    PGPASSWORD=$PG_PASSWORD psql -X -q -At -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" \
        -c 'SELECT 1' >/dev/null ||
        die "cannot log in with $DATABASE_URL"
    log "PostgreSQL ready"
}

start_redis() {
    "$SCRIPT_DIR/system-packages.sh" redis-server
    if ! redis_ready; then
        log "starting Redis on $REDIS_HOST:$REDIS_PORT"
        # Throwaway instance for tests: no persistence, loopback only.
        # (We do not rely on systemd, which is absent in containers.)
        redis-server --daemonize yes --bind "$REDIS_HOST" --port "$REDIS_PORT" \
            --save '' --appendonly no --dir /tmp \
            --logfile /tmp/wescan-redis.log --pidfile /tmp/wescan-redis.pid
    fi
    wait_for redis redis_ready ||
        die "Redis did not answer PING on $REDIS_HOST:$REDIS_PORT within ${WAIT_SECONDS}s (see /tmp/wescan-redis.log)"
    log "Redis ready"
}

stop_postgres() {
    command -v pg_lsclusters >/dev/null 2>&1 || return 0
    local status
    status=$(pg_lsclusters -h "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null | awk '{print $4}') || true
    if [[ $status == online* ]]; then
        log "stopping PostgreSQL $PG_VERSION/$PG_CLUSTER"
        as_root pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" stop || true
    fi
}

stop_redis() {
    if redis_ready; then
        log "stopping Redis"
        # SHUTDOWN NOSAVE: works regardless of who started the server.
        redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        local i
        for ((i = 0; i < 20; i++)); do redis_ready || break; sleep 0.5; done
    fi
}

case "${1:-}" in
start)
    start_postgres
    start_redis
    echo "DATABASE_URL=$DATABASE_URL"
    echo "REDIS_URL=$REDIS_URL"
    ;;
stop)
    stop_postgres
    stop_redis
    ;;
status)
    rc=0
    if pg_ready; then echo "postgres: up ($PG_HOST:$PG_PORT)"; else echo "postgres: down"; rc=1; fi
    if redis_ready; then echo "redis: up ($REDIS_HOST:$REDIS_PORT)"; else echo "redis: down"; rc=1; fi
    exit $rc
    ;;
env)
    echo "export DATABASE_URL=$DATABASE_URL"
    echo "export REDIS_URL=$REDIS_URL"
    ;;
*)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
