#!/usr/bin/env bash
# Install the PACS side's system packages (Debian/Ubuntu) when they are missing:
#   orthanc, orthanc-dicomweb, orthanc-gdcm  the PACS used by the tests and the demo
#   dcmtk                                    getscu/storescu for benchmarks and debugging
# Idempotent: does nothing (not even apt-get update) when every package is installed.
# The Debian orthanc package does not start a service in containers; the project runs its own
# Orthanc with its own configuration (python -m demo.cli_pacs start).
set -euo pipefail

PACKAGES=(orthanc orthanc-dicomweb orthanc-gdcm dcmtk)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$pkg")
    fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "PACS packages already installed: ${PACKAGES[*]}"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get not found: install ${missing[*]} with this system's package manager" >&2
    exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "root or sudo is needed to install: ${missing[*]}" >&2
        exit 1
    fi
fi

echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"

# Debian's orthanc package may try to start its own service; the project never uses it.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet orthanc 2>/dev/null; then
    "${SUDO[@]}" systemctl disable --now orthanc || true
fi
echo "PACS packages installed: ${PACKAGES[*]}"
