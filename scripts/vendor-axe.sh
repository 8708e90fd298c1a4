#!/usr/bin/env bash
# Vendor axe-core (the accessibility engine the browser tests run in each page) into
# tests/browser/vendor/axe-core/: its minified script, its licence (MPL-2.0) and a VERSION note.
# The tests read these files and never the network; run this again to move to another version
# (`scripts/vendor-axe.sh 4.x.y`), and commit what it leaves.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION="${1:-4.14.1}"
TARGET=tests/browser/vendor/axe-core
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "axe-core@$VERSION" >/dev/null)
tar -xzf "$work/axe-core-$VERSION.tgz" -C "$work"
package="$work/package"
test "$(node -p "require('$package/package.json').version")" = "$VERSION"

mkdir -p "$TARGET"
cp "$package/axe.min.js" "$TARGET/axe.min.js"
cp "$package/LICENSE" "$TARGET/LICENSE"
sha256=$(sha256sum "$TARGET/axe.min.js" | cut -d' ' -f1)
cat > "$TARGET/VERSION" <<NOTE
axe-core $VERSION (https://www.npmjs.com/package/axe-core), by Deque Systems, under the Mozilla
Public License 2.0 (LICENSE): axe.min.js unchanged, as npm's package holds it.
Fetched by scripts/vendor-axe.sh ($(date -u +%Y-%m-%d)) with npm pack axe-core@$VERSION.
sha256 of axe.min.js: $sha256
NOTE
echo "axe-core $VERSION in $TARGET"
