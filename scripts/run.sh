#!/usr/bin/env bash
# `make run`: Daphne, then one scanner agent per cockpit-ready scanner (so the demo's cockpits
# are live at once), stopped together on Ctrl-C. HOST and PORT come from make.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

# No beat process in the embedded mode: the periodic jobs (escalating requests for help, expiring
# postings, reminders) run inside Daphne, which holds the sockets (wescan/embedded_beat.py).
# DEBUG is off, as people use the product (error pages, no tracebacks, static files from
# WhiteNoise); `make dev` turns it on for developers.
export DJANGO_DEBUG=${DJANGO_DEBUG:-0}
WESCAN_EMBEDDED_BEAT=1 "$BIN/daphne" -b "$HOST" -p "$PORT" wescan.asgi:application &
server=$!
agents=""
stop() {
    trap - EXIT INT TERM
    kill $agents "$server" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap stop EXIT INT TERM

for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; then break; fi
    kill -0 "$server" 2>/dev/null || { echo "Daphne did not start" >&2; exit 1; }
    sleep 0.2
done

# Each agent authenticates with a device token; issuing fresh ones replaces the demo scanners'
# tokens (a real site keeps its own and passes --token).
"$BIN/python" manage.py scanner_agent --all-cockpit-ready --issue-token --url "http://$HOST:$PORT" &
agents=$!
wait "$server"
