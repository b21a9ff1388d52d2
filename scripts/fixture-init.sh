#!/bin/sh
# /init of the fixture ISO's initrd (busybox ash). It stands in for dracut + systemd just far
# enough to show what a remastered initrd gives the installer, then prints a parsable report on
# the console (ttyS0 in the tests) and powers off. Format: docs/fixtures.md.
#
# Order mirrors RHEL 9's initrd:
#   1. rd.driver.pre=a,b       (dracut-pre-udev.service, before udev)
#   2. modules-load.d/*.conf   (systemd-modules-load.service)
#   3. coldplug by modalias    (systemd-udevd + udevadm trigger)
# Modules are always loaded with kmod's /usr/sbin/modprobe by absolute path: busybox ash would
# otherwise run its own simplified modprobe applet, which hides what kmod (RHEL's) would do.
export PATH=/usr/bin:/usr/sbin
MODPROBE=/usr/sbin/modprobe
MODINFO=/usr/sbin/modinfo

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
echo 1 >/proc/sys/kernel/printk 2>/dev/null

CMDLINE=$(cat /proc/cmdline)
KVER=$(uname -r)
LOG=/run/remaster-init.log
: >"$LOG"

# cmdline_value KEY: every value of KEY=... on the kernel command line, one per line.
cmdline_value() {
    for word in $CMDLINE; do
        case "$word" in "$1"=*) echo "${word#*=}" ;; esac
    done
}
cmdline_has() {
    for word in $CMDLINE; do
        [ "$word" = "$1" ] && return 0
    done
    return 1
}

# load NAME SOURCE: modprobe NAME with kmod, log the result for the report.
load() {
    out=$("$MODPROBE" "$1" 2>&1)
    rc=$?
    echo "modprobe=$1 source=$2 rc=$rc${out:+ msg=$(echo "$out" | tr '\n' ' ')}" >>"$LOG"
}

# 1. rd.driver.pre=a,b (may be given more than once)
for list in $(cmdline_value rd.driver.pre); do
    for m in $(echo "$list" | tr ',' ' '); do load "$m" rd.driver.pre; done
done

# 2. modules-load.d, systemd semantics: one name per line, # and ; start comments, a file in
# /etc overrides the same-named file in /usr/lib.
for f in /etc/modules-load.d/*.conf /usr/lib/modules-load.d/*.conf; do
    [ -f "$f" ] || continue
    case "$f" in
        /usr/lib/*) [ -f "/etc/modules-load.d/${f##*/}" ] && continue ;;
    esac
    while read -r m _; do
        case "$m" in '' | '#'* | ';'*) continue ;; esac
        load "$m" "modules-load:$f"
    done <"$f"
done

# 3. coldplug: modprobe every device's new modalias (USB and SCSI devices only show up after
# their host driver is bound). Failures are expected (no driver for that device).
echo "remaster-fixture-no-alias" >/run/aliases.old # grep -f with an empty file matches nothing
coldplug_round() { # returns 0 if new aliases appeared
    find /sys/devices -name modalias -type f 2>/dev/null | while read -r f; do cat "$f"; done |
        sort -u >/run/aliases.new
    grep -vxF -f /run/aliases.old /run/aliases.new >/run/aliases.added || return 1
    while read -r a; do "$MODPROBE" -b -q "$a" 2>/dev/null; done </run/aliases.added
    cat /run/aliases.added >>/run/aliases.old
    return 0
}
# settle N: coldplug until N quiet rounds (0.25 s apart) in a row, at most 10 s.
settle() {
    quiet=0 round=0
    while [ $round -lt 40 ] && [ $quiet -lt "$1" ]; do
        round=$((round + 1))
        if coldplug_round; then quiet=0; else quiet=$((quiet + 1)); fi
        sleep 0.25
    done
}
settle 3

# The boot medium: the device whose ISO 9660 volume id equals inst.stage2=hd:LABEL=<L>
# (udev escaping \x20 undone). Whole disks are preferred over partitions, as the installer
# checks the whole stick.
"$MODPROBE" -q isofs
stage2=$(cmdline_value inst.stage2 | head -n1)
label=
case "$stage2" in
    hd:LABEL=*) label=$(echo "${stage2#hd:LABEL=}" | sed 's/\\x20/ /g') ;;
esac
label=${label%%:*}
volid_of() {
    dd if="$1" bs=1 skip=32808 count=32 2>/dev/null | tr -d '\000' | sed 's/ *$//'
}
find_medium() {
    for part in 0 1; do
        for d in /sys/class/block/*; do
            n=${d##*/}
            if [ -e "$d/partition" ]; then [ $part = 1 ] || continue; else [ $part = 0 ] || continue; fi
            [ -b "/dev/$n" ] || continue
            [ "$(volid_of "/dev/$n")" = "$label" ] && { echo "$n"; return 0; }
        done
    done
    return 1
}
medium=
if [ -n "$label" ]; then
    tries=0
    while [ $tries -lt 60 ]; do
        medium=$(find_medium) && break
        medium=
        tries=$((tries + 1))
        coldplug_round
        sleep 0.25
    done
fi
# Late devices (disks behind an HBA, more USB) before reporting.
settle 4

mediacheck=SKIPPED
if cmdline_has rd.live.check || cmdline_has check; then
    if [ -z "$medium" ]; then
        mediacheck=FAIL
        echo "mediacheck-detail=no boot medium found" >>"$LOG"
    elif checkisomd5 --verbose "/dev/$medium" >/run/checkisomd5.out 2>&1; then
        mediacheck=PASS
    else
        mediacheck=FAIL
    fi
fi

# Files of interest: fixed ones, anything a remaster adds to the places a driver update lands,
# and any path listed in /etc/remaster-report.d/*.files (an overlay may add such a list).
report_files() {
    echo /dd.iso
    for d in /etc/modules-load.d /usr/lib/modules-load.d "/usr/lib/modules/$KVER/updates" \
        "/usr/lib/modules/$KVER/extra"; do
        [ -d "$d" ] && find "$d" -type f
    done
    cat /etc/remaster-report.d/*.files 2>/dev/null
}

{
    echo
    echo "REMASTER-REPORT-BEGIN"
    echo "kernel=$KVER"
    echo "cmdline=$CMDLINE"
    if [ -d /sys/firmware/efi ]; then echo "firmware=uefi"; else echo "firmware=bios"; fi
    if dmesg | grep -q 'Secure boot enabled'; then echo "secureboot=on"; else echo "secureboot=off"; fi
    echo "sig_enforce=$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)"
    echo "lockdown=$(cat /sys/kernel/security/lockdown 2>/dev/null)"
    echo "tainted=$(cat /proc/sys/kernel/tainted)"
    cat "$LOG"
    while read -r name _ _ _ _ _ flags; do
        path=$("$MODINFO" -n "$name" 2>/dev/null)
        echo "module=$name ${path:-/sys/module/$name}${flags:+ $flags}"
    done </proc/modules
    for d in /sys/class/block/*; do
        n=${d##*/}
        sectors=$(cat "$d/size" 2>/dev/null)
        echo "blockdev=$n $((${sectors:-0} * 512))"
    done
    for d in /sys/bus/pci/devices/*; do
        [ -e "$d/vendor" ] || continue
        v=$(cat "$d/vendor"); p=$(cat "$d/device"); c=$(cat "$d/class")
        drv=none
        [ -L "$d/driver" ] && drv=$(basename "$(readlink "$d/driver")")
        echo "pci=${d##*/} ${v#0x}:${p#0x} class=${c#0x} driver=$drv"
    done
    echo "bootmedium=${medium:-none}"
    [ -n "$medium" ] && echo "volid=$(volid_of "/dev/$medium")"
    report_files | sort -u | while read -r f; do
        [ -z "$f" ] && continue
        if [ -e "$f" ]; then echo "file=$f present"; else echo "file=$f absent"; fi
    done
    for l in /bin /sbin /lib /lib64; do
        if [ -L "$l" ]; then
            echo "symlink=$l -> $(readlink "$l")"
        elif [ -d "$l" ]; then
            echo "symlink=$l NOT-A-SYMLINK directory"
        else
            echo "symlink=$l MISSING"
        fi
    done
    echo "mediacheck=$mediacheck"
    [ -s /run/checkisomd5.out ] && tr '\r' '\n' </run/checkisomd5.out | grep -v '^Checking:' |
        grep -v '^$' | sed 's/^/mediacheck-output: /'
    dmesg | grep -iE 'module|unknown symbol|signature|lockdown|version magic|disagrees|taint|Initramfs|unpack' |
        sed 's/^/dmesg-module: /'
    echo "REMASTER-REPORT-END"
} >/dev/console 2>&1

sync
poweroff -f
