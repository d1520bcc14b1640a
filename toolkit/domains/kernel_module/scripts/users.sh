#!/bin/sh
# USERS parallel users of what the loaded module exposes, round after round for USE_S seconds (at
# least one round each): its parameters, and each filesystem it registers (read at a shared mount,
# plus a mount and unmount of their own). Prints "COUNT error" when operations failed, "COUNT what"
# for each kind of operation done (parameters_read, filesystem_walk, extra_mount), "parameters=N"
# and "watched_s=N": the seconds the module was loaded and used without a break. Exit 2: the module
# could not be set up.
# usage: MODULE=m KO=m.ko USERS=8 USE_S=12 FILESYSTEMS="..." MOUNT_POINT=/mnt/x users.sh [PARAM=VALUE ...]
parameters=/sys/module/$MODULE/parameters
insmod "$KO" "$@" || exit 2
loaded=$(date +%s)
end=$((loaded + USE_S))
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

use() {
    round=0
    while [ "$round" -eq 0 ] || [ "$(date +%s)" -lt "$end" ]; do
        round=$((round + 1))
        if [ -d "$parameters" ]; then
            if cat "$parameters"/* >/dev/null; then echo parameters_read; else echo error; fi
        fi
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
        [ -n "$FILESYSTEMS" ] || sleep 1  # only parameters to read: a round a second
    done
}

(
    user=0
    while [ "$user" -lt "$USERS" ]; do
        use "$user" &
        user=$((user + 1))
    done
    wait
) | sort | uniq -c
echo "watched_s=$(($(date +%s) - loaded))"
set -- "$parameters"/*
[ -e "$1" ] && echo "parameters=$#" || echo "parameters=0"
index=0
for fs in $FILESYSTEMS; do
    umount "$MOUNT_POINT-$index" || exit 1
    index=$((index + 1))
done
rmmod "$MODULE"
