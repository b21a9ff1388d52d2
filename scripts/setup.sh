#!/usr/bin/env bash
# Install every Debian package the fixture scripts and tests need (scripts/test-deps.txt), then
# build the cached fixture ISO. Idempotent: packages already installed are not fetched again.
# Usage (as root, or with sudo available): scripts/setup.sh [--no-fixture]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t pkgs < <(grep -vE '^\s*(#|$)' "$here/test-deps.txt")
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Fixture scripts `apt-get download` kernels and headers: they need package lists too. The
# arm64 fixtures (scripts/build-kmod-fixtures-arm64.sh) download arm64 packages: their lists
# come with the arm64 architecture.
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    $sudo apt-get update -qq
fi
if ! ls /var/lib/apt/lists/*Packages* >/dev/null 2>&1; then
    $sudo apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
    echo "[setup.sh] installing: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "[setup.sh] all ${#pkgs[@]} packages from test-deps.txt already installed" >&2
fi
if [ "${1:-}" != "--no-fixture" ]; then
    "$here/build-fixture-iso.sh"
fi
