#!/bin/sh
# Install SMART client-js (npm package fhirclient): only its prebuilt browser bundle
# build/fhir-client.js (UMD, exposes window.FHIR) and the licence, into var/fhirclient-js,
# only when missing. The SMART App Launch browser test serves it to a test app.
# Usage: scripts/install-fhirclient-js.sh [DIR]   (default var/fhirclient-js)
set -eu
FHIRCLIENT_VERSION="${FHIRCLIENT_VERSION:-2.6.3}"
DIR="${1:-var/fhirclient-js}"
if [ -f "$DIR/fhir-client.js" ] && [ "$(cat "$DIR/VERSION" 2>/dev/null)" = "$FHIRCLIENT_VERSION" ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    # Debian's nodejs comes without npm (NodeSource's nodejs includes it).
    "$(dirname "$0")/install-debian-deps.sh" npm
fi
mkdir -p "$DIR"
TMP="$(mktemp -d "$DIR/.pack.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
npm pack --silent --pack-destination "$TMP" "fhirclient@$FHIRCLIENT_VERSION" >/dev/null
tar -xzf "$TMP"/fhirclient-*.tgz -C "$TMP" package/build/fhir-client.js package/LICENSE
mv "$TMP/package/build/fhir-client.js" "$DIR/fhir-client.js"
mv "$TMP/package/LICENSE" "$DIR/LICENSE"
echo "$FHIRCLIENT_VERSION" > "$DIR/VERSION"
test -s "$DIR/fhir-client.js"
