#!/bin/sh
# USERS parallel users of what the loaded module exposes, round after round for USE_S seconds (at
# least one round each): everything it added (devices, /proc, sysfs and debugfs files, its parameters:
# exercise.py use), and each filesystem it registers (read at a shared mount, plus a mount and unmount
# of their own), and the user's workload if there is one. Prints "exercised JSON" for each user, "COUNT
# error" when filesystem operations failed, "COUNT what" for each kind done on them (filesystem_walk,
# extra_mount), "COUNT workload_ok" and "COUNT workload_failed" for the workload's runs and "watched_s=N":
# the seconds the module was loaded and used without a break. Exit 2: the module could not be set up.
# usage: MODULE=m KO=m.ko USERS=8 USE_S=12 FILESYSTEMS="..." MOUNT_POINT=/mnt/x IOCTLS=f users.sh [PARAM=VALUE ...]
# shellcheck source=../../module/scripts/common.sh
. "$(dirname "$0")/common.sh"
rm -f "$SURFACE.users"
note_surface || exit 2
insmod "$KO" "$@" || exit 2
clock
loaded=$now
end=$((loaded + USE_S * 100))
found_surface || exit 2
index=0
for fs in $FILESYSTEMS; do
    point=$MOUNT_POINT-$index
    points=$point
    user=0
    while [ "$user" -lt "$USERS" ]; do
        points="$points $point-x$user"
        user=$((user + 1))
    done
    # shellcheck disable=SC2086  # one mkdir for all (each exec is slow under emulation); no spaces in them
    mkdir -p $points || exit 2
    mount -t "$fs" vexfs-vmtest "$point" || exit 2
    index=$((index + 1))
done

use_filesystems() {
    round=0
    while [ "$round" -eq 0 ] || { clock && [ "$now" -lt "$end" ]; }; do
        round=$((round + 1))
        index=0
        for fs in $FILESYSTEMS; do
            point=$MOUNT_POINT-$index
            if find "$point" -ls -type f -exec cat {} + >/dev/null; then echo filesystem_walk; else echo error; fi
            if mount -t "$fs" vexfs-vmtest "$point-x$1" 2>/dev/null && umount "$point-x$1"; then
                echo extra_mount
            else
                echo error
            fi
            index=$((index + 1))
        done
    done
}

run_workloads() {
    run_workload
    while clock && [ "$now" -lt "$end" ]; do run_workload; done
}

(
    clock
    use_surface "$(seconds $((end - now)))" "$USERS" >"$SURFACE.users" &
    user=0
    while [ "$user" -lt "$USERS" ]; do
        [ -z "$FILESYSTEMS" ] || use_filesystems "$user" &
        [ -z "${WORKLOAD_SCRIPT:-}" ] || run_workloads &
        user=$((user + 1))
    done
    wait
) | sort | uniq -c
clock
echo "watched_s=$(seconds $((now - loaded)))"
cat "$SURFACE.users"
index=0
for fs in $FILESYSTEMS; do
    umount "$MOUNT_POINT-$index" || exit 1
    index=$((index + 1))
done
rmmod "$MODULE"
