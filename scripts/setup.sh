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
# The aarch64 fixture (build-fixture-aarch64.sh) downloads arm64 packages (kernel,
# busybox-static, kmod, isomd5sum): their package lists come with the arm64 architecture.
added_arch=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
    added_arch=1
fi
# Fixture scripts `apt-get download` kernels and headers: they need package lists too.
if [ -n "$added_arch" ] || ! ls /var/lib/apt/lists/*Packages* >/dev/null 2>&1; then
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
