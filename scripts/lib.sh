# Shared helpers for the fixture and test scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
# Fixtures are built on demand into $REMASTER_FIXTURES (default: <repo>/fixtures/build),
# cached there, and never committed.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export REMASTER_FIXTURES=${REMASTER_FIXTURES:-$REPO_ROOT/fixtures/build}
DEBS_DIR=$REMASTER_FIXTURES/debs
mkdir -p "$DEBS_DIR"

# The Debian kernel that plays the part of the ISO's kernel, and a second build with
# another ABI (its modules must be refused).
FIXTURE_KVER=${FIXTURE_KVER:-6.1.0-50-amd64}
OTHER_KVER=${OTHER_KVER:-6.1.0-47-amd64}
# The 6.12 kernel that plays the part of an EL10 (6.12-based) kernel, from bookworm-security
# (Debian's signed linux-image-6.12.*: modules signed with an ECDSA P-384 build key), and a
# second 6.12 build with another ABI.
EL10_KVER=${EL10_KVER:-6.12.118+deb12-amd64}
EL10_OTHER_KVER=${EL10_OTHER_KVER:-6.12.117+deb12-amd64}

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

# fetch_deb PACKAGE: download a .deb into the shared cache once; print its path.
fetch_deb() {
    local pkg=$1 f
    f=$(ls "$DEBS_DIR/${pkg}"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$f" ]; then
        (cd "$DEBS_DIR" && apt-get download "$pkg" >/dev/null 2>&1) || {
            log "apt-get download $pkg failed (run apt-get update first?)"; return 1; }
        f=$(ls "$DEBS_DIR/${pkg}"_*.deb | head -n1)
    fi
    printf '%s\n' "$f"
}

# extract_deb PACKAGE DIR: unpack a cached .deb into DIR (once).
extract_deb() {
    local pkg=$1 dir=$2
    if [ ! -e "$dir/.extracted-$pkg" ]; then
        mkdir -p "$dir"
        dpkg-deb -x "$(fetch_deb "$pkg")" "$dir"
        touch "$dir/.extracted-$pkg"
    fi
}

# bench_measure LABEL CMD...: runs CMD $REPEAT times (default 3) and prints
# "LABEL best_wall_seconds max_rss_kib". For the benchmark scripts; timings are printed,
# never asserted.
bench_measure() {
    local label=$1; shift
    local best="" maxrss=0 i wall rss t
    t=$(mktemp)
    for ((i = 0; i < ${REPEAT:-3}; i++)); do
        /usr/bin/time -v "$@" >/dev/null 2>"$t" || { cat "$t" >&2; rm -f "$t"; return 1; }
        wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$t")
        rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$t")
        if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN {exit !(a < b)}'; then best=$wall; fi
        [ "$rss" -gt "$maxrss" ] && maxrss=$rss
    done
    rm -f "$t"
    printf '%s %s %s\n' "$label" "$best" "$maxrss"
}
