#!/usr/bin/env bash
# `make test-clock`: the whole suite with the machine's clock set to an hour that once broke it,
# through libfaketime (Debian's faketime). No test may depend on the wall clock; this shows it.
#
# Usage: scripts/test-at.sh HH:MM [PYTEST_ARGS...]   (Europe/Brussels, today's date)
set -euo pipefail
cd "$(dirname "$0")/.."
at=${1:?usage: scripts/test-at.sh HH:MM [PYTEST_ARGS...]}
shift

scripts/system-packages.sh faketime >/dev/null
library=$(dpkg -L libfaketime | grep '/libfaketime.so.1$')

# Today's date at HH:MM in Brussels, as UTC (the suite runs with TZ=UTC, as Django sets it).
start=$(.venv/bin/python - "$at" <<'PY'
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

hour, minute = map(int, sys.argv[1].split(":"))
brussels = datetime.now(ZoneInfo("Europe/Brussels")).replace(
    hour=hour, minute=minute, second=0, microsecond=0
)
print(brussels.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"))
PY
)
echo "=== suite at $at Europe/Brussels ($start UTC) under libfaketime"
# "@" starts the clock there and lets it run. The monotonic clock is shifted with it (libfaketime
# 0.9.10 answers EINVAL to Python's sleep when only the wall clock is faked).
TZ=UTC FAKETIME="@$start" LD_PRELOAD="$library" \
    .venv/bin/pytest "$@"
