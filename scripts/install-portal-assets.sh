#!/bin/sh
# Install the patient portal's front-end packages from npm, only when missing: NHS.UK frontend's
# compiled stylesheet and its licence (the portal serves them itself, never from a CDN), and
# axe-core's browser build (injected by the portal's accessibility test only).
# Usage: scripts/install-portal-assets.sh [DIR]   (default var/portal-assets)
set -eu
NHSUK_FRONTEND_VERSION="${NHSUK_FRONTEND_VERSION:-10.6.1}"
AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"
DIR="${1:-var/portal-assets}"
WANT="nhsuk-frontend@$NHSUK_FRONTEND_VERSION axe-core@$AXE_CORE_VERSION"
if [ -f "$DIR/nhsuk-frontend.min.css" ] && [ -f "$DIR/axe.min.js" ] \
    && [ "$(cat "$DIR/VERSION" 2>/dev/null)" = "$WANT" ]; then
    exit 0
fi
HERE="$(dirname "$0")"
(
    . "$HERE/npm-unpack.sh"
    npm_unpack "nhsuk-frontend@$NHSUK_FRONTEND_VERSION" "$DIR" dist/nhsuk/nhsuk-frontend.min.css package.json
    mv "$TMP/package/dist/nhsuk/nhsuk-frontend.min.css" "$DIR/nhsuk-frontend.min.css"
    mv "$TMP/package/package.json" "$DIR/nhsuk-frontend-package.json"  # its licence (MIT) is named there
)
(
    . "$HERE/npm-unpack.sh"
    npm_unpack "axe-core@$AXE_CORE_VERSION" "$DIR" axe.min.js LICENSE
    mv "$TMP/package/axe.min.js" "$DIR/axe.min.js"
    mv "$TMP/package/LICENSE" "$DIR/LICENSE-axe-core"
)
echo "$WANT" > "$DIR/VERSION"
test -s "$DIR/nhsuk-frontend.min.css" && test -s "$DIR/axe.min.js"
