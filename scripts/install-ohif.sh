#!/bin/sh
# Install the OHIF viewer's prebuilt release (npm package @ohif/app, its dist/ folder) into
# var/ohif, only when missing. The gateway serves var/ohif/dist under /viewer.
# The package's dependencies are not installed: dist/ is the complete, bundled web app.
# Usage: scripts/install-ohif.sh [DIR]   (default var/ohif)
set -eu
OHIF_VERSION="${OHIF_VERSION:-3.13.2}"
DIR="${1:-var/ohif}"
if [ -f "$DIR/dist/index.html" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    # Debian's nodejs comes without npm (NodeSource's nodejs includes it).
    "$(dirname "$0")/install-debian-deps.sh" npm
fi
mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.pack.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
npm pack --silent --pack-destination "$TMP" "@ohif/app@$OHIF_VERSION" >/dev/null
tar -xzf "$TMP"/ohif-app-*.tgz -C "$TMP" package/dist
rm -rf "$DIR/dist"
mv "$TMP/package/dist" "$DIR/dist"
echo "$OHIF_VERSION" > "$DIR/VERSION"
test -f "$DIR/dist/index.html"
