#!/bin/sh
# Use the loaded module for WATCH_S seconds, once a second, while the kernel's watchdogs look on.
# usage: WATCH_S=12 FILESYSTEMS="..." MOUNT_POINT=/mnt/x watch.sh
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
end=$(($(date +%s) + WATCH_S))
while [ "$(date +%s)" -lt "$end" ]; do
    exercise || exit 1
    sleep 1
done
