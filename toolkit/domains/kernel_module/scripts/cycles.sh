#!/bin/sh
# CYCLES rounds of insmod, use, rmmod; reports cycles=N, slab_kib=GROWTH and failed=STEP if one failed.
# usage: MODULE=m KO=m.ko CYCLES=20 FILESYSTEMS="..." MOUNT_POINT=/mnt/x cycles.sh [PARAM=VALUE ...]
# shellcheck source=../../module/scripts/common.sh
. "$(dirname "$0")/common.sh"
slab() { awk '/^SUnreclaim:/{print $2}' /proc/meminfo; }
before=$(slab)
i=0
while [ "$i" -lt "$CYCLES" ]; do
    i=$((i + 1))
    insmod "$KO" "$@" || { echo failed=insmod; break; }
    exercise || { echo failed=exercise; rmmod "$MODULE"; break; }
    rmmod "$MODULE" || { echo failed=rmmod; break; }
done
echo "cycles=$i"
echo "slab_kib=$(($(slab) - before))"
