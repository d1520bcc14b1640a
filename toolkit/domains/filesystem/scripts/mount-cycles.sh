#!/bin/sh
# CYCLES mounts and unmounts, each writing and reading a file; then a mount with each of
# BAD_OPTIONS, which must be refused. Prints cycles=N, failed=STEP when one failed, and
# "bad OPTION RESULT" per bad option (RESULT: ok, or errno:NAME). A filesystem that refuses to create
# the first file by design (no permission, read-only, not supported) prints refused=WHY (the error's
# words), and each cycle lists its root instead.
# usage: CYCLES=10 BAD_OPTIONS="a=1 b=2" FS_TYPE=... (see common.sh) mount-cycles.sh [PARAM=VALUE ...]
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
fs_clean
fs_load "$@" || { echo failed=insmod; exit 3; }
fs_device || { echo failed=mkfs; fs_release; exit 3; }
i=0
writes=1
while [ "$i" -lt "$CYCLES" ]; do
    i=$((i + 1))
    fs_mount "" || { fs_mount_failed; break; }
    if [ "$i" -eq 1 ] && ! refusal=$( (: >"$MOUNT_POINT/cycle") 2>&1); then
        case $refusal in
        *"Permission denied" | *"Operation not permitted" | *"Read-only file system" | *"Operation not supported" | *"Function not implemented")
            echo "refused=${refusal##*: }"
            writes=0
            ;;
        esac
    fi
    if [ "$writes" -eq 0 ]; then
        ls -a "$MOUNT_POINT" >/dev/null || { echo failed=use; umount "$MOUNT_POINT"; break; }
    elif ! { echo "$i" >"$MOUNT_POINT/cycle" && [ "$(cat "$MOUNT_POINT/cycle")" = "$i" ]; }; then
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
