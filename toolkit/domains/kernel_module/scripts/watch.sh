#!/bin/sh
# Use the loaded module for WATCH_S seconds while the kernel's watchdogs look on: everything it exposes
# (exercise.py use, as one user; prints "exercised JSON"), its filesystems once a second, and the user's
# workload round after round (prints "workload_ok" or "workload_failed" for each run).
# SURFACE.before: the system before insmod (note_surface).
# usage: WATCH_S=12 FILESYSTEMS="..." MOUNT_POINT=/mnt/x IOCTLS=f SURFACE=f watch.sh
# shellcheck source=../../module/scripts/common.sh
. "$(dirname "$0")/common.sh"
clock
end=$((now + WATCH_S * 100))
found_surface || exit 1
use_surface "$WATCH_S" >"$SURFACE.0" &
if [ -n "${WORKLOAD_SCRIPT:-}" ]; then
    { run_workload; while clock && [ "$now" -lt "$end" ]; do run_workload; done; } >"$SURFACE.workload" &
fi
while clock && [ "$now" -lt "$end" ]; do
    exercise || { wait; exit 1; }
    sleep 1
done
wait
cat "$SURFACE.0"
[ -z "${WORKLOAD_SCRIPT:-}" ] || cat "$SURFACE.workload"
