#!/usr/bin/env bash
# The main job on an embedded default, on a fresh Debian machine: installs what it needs,
# builds the Rocky-9.2-like fixture ISO and a vendor-style driver update disk around a real
# kernel module (megaraid_sas, which the fixture's installer lacks), remasters, verifies.
# Usage: scripts/demo.sh [OUT.iso]   (default: fixtures/build/demo/rocky-9.2-megaraid.iso)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"
bash scripts/setup.sh --no-fixture
iso=$(bash scripts/build-fixture-iso.sh)
rpm_dir=$(bash scripts/build-rpm-fixtures.sh)
dud=$rpm_dir/dd-good.iso
out=${1:-$REMASTER_FIXTURES/demo/rocky-9.2-megaraid.iso}
mkdir -p "$(dirname "$out")"
cargo build --release --quiet
bin=target/release/remaster
log "boot ISO: $iso"
log "driver update disk: $dud"
set -x
"$bin" check "$iso" "$dud"
"$bin" "$iso" --add-dud "$dud" -o "$out" --force
"$bin" verify "$out"
set +x
log "done: $out — boot it with: scripts/boot.sh $out bios-cd (or uefi-cd, bios-usb, uefi-usb, uefi-usb-esp, usb-cd)"
