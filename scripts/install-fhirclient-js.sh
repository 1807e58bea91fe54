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
. "$(dirname "$0")/npm-unpack.sh"
npm_unpack "fhirclient@$FHIRCLIENT_VERSION" "$DIR" build/fhir-client.js LICENSE
mv "$TMP/package/build/fhir-client.js" "$DIR/fhir-client.js"
mv "$TMP/package/LICENSE" "$DIR/LICENSE"
echo "$FHIRCLIENT_VERSION" > "$DIR/VERSION"
test -s "$DIR/fhir-client.js"
