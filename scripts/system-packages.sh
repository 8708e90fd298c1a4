#!/usr/bin/env bash
# Install the named Debian packages that are not installed yet.
#
# Usage: scripts/system-packages.sh PKG [PKG...]
#
# - Only touches apt when something is missing, so it is cheap to call from
#   other scripts (e.g. scripts/services.sh) on every run.
# - Runs `apt-get update` at most once per invocation, and only when needed.
# - Waits for the dpkg/apt lock instead of failing when another apt process
#   (unattended upgrades, a parallel setup step) is running.
# - Uses sudo when not root; fails clearly when that is impossible.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: $0 PKG [PKG...]" >&2
    exit 2
fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for pkg in "$@"; do
    is_installed "$pkg" || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages: all present ($*)"
    exit 0
fi

# Root can call apt directly; otherwise we need sudo (non-interactive use may
# still prompt for a password; that is the caller's environment to set up).
if [[ $(id -u) -eq 0 ]]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "system packages: missing ${missing[*]}, but not running as root and sudo is not available." >&2
    echo "system packages: install them as root: apt-get install ${missing[*]}" >&2
    exit 1
fi

# Never prompt (debconf, conffile questions); wait up to 10 min for the lock.
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive
     apt-get -o DPkg::Lock::Timeout=600 -y -q)

echo "system packages: installing ${missing[*]}"
# Package lists may be absent (slim images) or stale; refresh once.
"${APT[@]}" update
# --no-install-recommends keeps installs small. Checked on a fresh bookworm
# minbase: chromium installed this way runs `--headless --no-sandbox
# --disable-gpu` (dump-dom and screenshots; DejaVu fonts come in via
# fontconfig). List fonts-liberation explicitly if Arial-metric text matters.
"${APT[@]}" install --no-install-recommends "${missing[@]}"

# Double-check: apt can succeed while a virtual/misspelled name is left out.
still_missing=()
for pkg in "${missing[@]}"; do
    is_installed "$pkg" || still_missing+=("$pkg")
done
if [[ ${#still_missing[@]} -ne 0 ]]; then
    echo "system packages: still not installed after apt-get: ${still_missing[*]}" >&2
    exit 1
fi
echo "system packages: installed ${missing[*]}"
