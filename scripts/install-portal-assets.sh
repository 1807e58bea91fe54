#!/bin/sh
# Install the patient portal's front-end packages from npm, only when missing: NHS.UK frontend's
# compiled stylesheet and its licence (the portal serves them itself, never from a CDN), and
# axe-core's browser build (injected by the portal's accessibility test only), and the ALTCHA
# widget (its build without inline styles or workers, its PBKDF2 worker, its RO and PL words),
# which the gateway serves for the proof of work on its account and result-code forms.
# Usage: scripts/install-portal-assets.sh [DIR]   (default var/portal-assets)
set -eu
NHSUK_FRONTEND_VERSION="${NHSUK_FRONTEND_VERSION:-10.6.1}"
AXE_CORE_VERSION="${AXE_CORE_VERSION:-4.14.1}"
ALTCHA_VERSION="${ALTCHA_VERSION:-3.2.2}"
DIR="${1:-var/portal-assets}"
# "local-fonts": the stylesheet's @font-face rules are removed (they fetch Frutiger from
# assets.nhs.uk, a third party the pages' CSP refuses; the pages fall back to Arial)
WANT="nhsuk-frontend@$NHSUK_FRONTEND_VERSION axe-core@$AXE_CORE_VERSION altcha@$ALTCHA_VERSION local-fonts"
if [ -f "$DIR/nhsuk-frontend.min.css" ] && [ -f "$DIR/axe.min.js" ] \
    && [ -f "$DIR/altcha/altcha.min.js" ] \
    && [ "$(cat "$DIR/VERSION" 2>/dev/null)" = "$WANT" ]; then
    exit 0
fi
HERE="$(dirname "$0")"
(
    . "$HERE/npm-unpack.sh"
    npm_unpack "nhsuk-frontend@$NHSUK_FRONTEND_VERSION" "$DIR" dist/nhsuk/nhsuk-frontend.min.css package.json
    sed -E 's/@font-face\{[^}]*\}//g' "$TMP/package/dist/nhsuk/nhsuk-frontend.min.css" \
        > "$DIR/nhsuk-frontend.min.css"
    mv "$TMP/package/package.json" "$DIR/nhsuk-frontend-package.json"  # its licence (MIT) is named there
)
(
    . "$HERE/npm-unpack.sh"
    npm_unpack "axe-core@$AXE_CORE_VERSION" "$DIR" axe.min.js LICENSE
    mv "$TMP/package/axe.min.js" "$DIR/axe.min.js"
    mv "$TMP/package/LICENSE" "$DIR/LICENSE-axe-core"
)
(
    . "$HERE/npm-unpack.sh"
    npm_unpack "altcha@$ALTCHA_VERSION" "$DIR" dist/external/altcha.min.js \
        dist/external/altcha.css dist/workers/pbkdf2.js dist/i18n/ro.js dist/i18n/pl.js LICENSE.txt
    mkdir -p "$DIR/altcha"
    mv "$TMP/package/dist/external/altcha.min.js" "$TMP/package/dist/external/altcha.css" \
        "$TMP/package/dist/workers/pbkdf2.js" "$TMP/package/dist/i18n/ro.js" \
        "$TMP/package/dist/i18n/pl.js" "$DIR/altcha/"
    mv "$TMP/package/LICENSE.txt" "$DIR/altcha/LICENSE"
)
echo "$WANT" > "$DIR/VERSION"
test -s "$DIR/nhsuk-frontend.min.css" && test -s "$DIR/axe.min.js" && test -s "$DIR/altcha/altcha.min.js"
