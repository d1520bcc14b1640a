#!/bin/sh
# CYCLES mounts and unmounts, each writing and reading a file; then a mount with each of
# BAD_OPTIONS, which must be refused. Prints cycles=N, failed=STEP when one failed, and
# "bad OPTION RESULT" per bad option (RESULT: ok, or errno:NAME).
# usage: CYCLES=10 BAD_OPTIONS="a=1 b=2" FS_TYPE=... (see common.sh) mount-cycles.sh [PARAM=VALUE ...]
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
fs_clean
fs_load "$@" || { echo failed=insmod; exit 3; }
fs_device || { echo failed=mkfs; fs_release; exit 3; }
i=0
while [ "$i" -lt "$CYCLES" ]; do
    i=$((i + 1))
    fs_mount "" || { echo failed=mount; break; }
    if ! { echo "$i" >"$MOUNT_POINT/cycle" && [ "$(cat "$MOUNT_POINT/cycle")" = "$i" ]; }; then
        echo failed=use
        umount "$MOUNT_POINT"
        break
    fi
    umount "$MOUNT_POINT" || { echo failed=umount; break; }
done
echo "cycles=$i"
for option in $BAD_OPTIONS; do
    echo "bad $option $(python3 "$FSOPS" mount "$SOURCE" "$MOUNT_POINT" "$FS_TYPE" "${MOUNT_OPTIONS:+$MOUNT_OPTIONS,}$option")"
done
fs_release || echo failed=rmmod
