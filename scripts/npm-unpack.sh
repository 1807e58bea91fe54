#!/bin/sh
# Sourced by the install scripts: npm_unpack SPEC DIR PATH... fetches the npm package SPEC
# (name@version) with `npm pack`, without its dependencies, and extracts the package's PATHs
# (relative to the package root) into $TMP/package, a scratch folder inside DIR that is removed
# when the calling script exits. npm itself is installed from Debian when missing.
npm_unpack() {
    spec="$1"
    dir="$2"
    shift 2
    if ! command -v npm >/dev/null 2>&1; then
        # Debian's nodejs comes without npm (NodeSource's nodejs includes it).
        "$(dirname "$0")/install-debian-deps.sh" npm
    fi
    mkdir -p "$dir"
    TMP="$(mktemp -d "$dir/.pack.XXXXXX")"
    trap 'rm -rf "$TMP"' EXIT
    npm pack --silent --pack-destination "$TMP" "$spec" >/dev/null
    for path in "$@"; do
        set -- "$@" "package/$path"
        shift
    done
    tar -xzf "$TMP"/*.tgz -C "$TMP" "$@"
}
