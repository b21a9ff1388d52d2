#!/usr/bin/env bash
# Benchmark: listing a ~100 MiB xz initrd (real module files; scripts/make-test-initrds.sh bench)
# with examples/initrd_list (--release) against `xz -dc > /dev/null` on the same file, in one run.
# Pass criteria (issue 4): our throughput >= 0.9 x xz's, peak RSS <= 64 MiB.
# Usage: scripts/bench-initrd.sh [IMAGE]     Prints the numbers; exits 1 if a criterion fails.
. "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

img=${1:-$(scripts/make-test-initrds.sh bench)}
cargo build --release --quiet --example initrd_list
bin=$REPO_ROOT/target/release/examples/initrd_list
size=$(stat -c %s "$img")
cat "$img" > /dev/null   # warm the page cache for both contenders

tv() { # tv OUTFILE CMD... : run under /usr/bin/time -v, print "elapsed_seconds max_rss_kib"
    local out=$1; shift
    /usr/bin/time -v "$@" > "$out" 2> "$out.time"
    local e r
    e=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$out.time" |
        awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
    r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$out.time")
    echo "$e $r"
}

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
best_xz=999999; best_us=999999; rss_us=0
for round in 1 2 3; do   # alternate, keep the best of each (the machine is shared)
    read -r e r < <(tv "$tmp/xz.out" sh -c "xz -dc '$img' > /dev/null")
    best_xz=$(awk -v a="$best_xz" -v b="$e" 'BEGIN{print (b<a)?b:a}')
    read -r e r < <(tv "$tmp/us.out" "$bin" "$img" --summary)
    best_us=$(awk -v a="$best_us" -v b="$e" 'BEGIN{print (b<a)?b:a}')
    [ "$r" -gt "$rss_us" ] && rss_us=$r
    log "round $round: xz ${best_xz}s, initrd_list ${best_us}s (peak RSS ${rss_us} KiB)"
done
summary=$(cat "$tmp/us.out")
awk -v size="$size" -v xz="$best_xz" -v us="$best_us" -v rss="$rss_us" -v s="$summary" 'BEGIN {
    mib = size / 1048576
    printf "image: %.1f MiB (%s)\n", mib, s
    printf "xz -dc:       %.2f s  %.1f MiB/s compressed input\n", xz, mib / xz
    printf "initrd_list:  %.2f s  %.1f MiB/s  peak RSS %.1f MiB\n", us, mib / us, rss / 1024
    ratio = xz / us
    printf "throughput ratio (ours / xz): %.2f (need >= 0.90); RSS limit 64 MiB\n", ratio
    exit !(ratio >= 0.9 && rss <= 65536)
}'
