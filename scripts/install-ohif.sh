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
. "$(dirname "$0")/npm-unpack.sh"
npm_unpack "@ohif/app@$OHIF_VERSION" "$DIR" dist
rm -rf "$DIR/dist"
mv "$TMP/package/dist" "$DIR/dist"
echo "$OHIF_VERSION" > "$DIR/VERSION"
test -f "$DIR/dist/index.html"
