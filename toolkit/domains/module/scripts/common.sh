# shellcheck shell=sh
# Sourced by the module scripts (these and the kernel_module domain's). Environment:
#   MODULE       the module's name          KO           its .ko in the guest
#   FILESYSTEMS  filesystem types it registered, space-separated (may be empty)
#   MOUNT_POINT  where to mount them
#   IOCTLS       the JSON file of the ioctl commands its sources define (for exercise.py)
#   SURFACE      the JSON file of what it exposes (found_surface); SURFACE.before: the system before insmod
#   WORKLOAD     a command that uses the module instead of the mounts below (optional; the filesystem domain's;
#                exercise prints use_failed=STATUS when it fails)
#   WORKLOAD_SCRIPT  the user's workload (--workload), run by run_workload (optional)
# Arguments of the script that sources this file: the module's parameters, for insmod.

SCRIPTS=$(dirname "$0")

# exercise.py with these arguments, imported rather than run as a script: its bytecode is compiled once per
# guest, not at every run (a quarter of a second under TCG).
exercise_py() {
    PYTHONPATH=$SCRIPTS python3 -c 'import sys, exercise; sys.exit(exercise.main(sys.argv))' "$@"
}

# Sets now to the guest's uptime in hundredths of a second, without starting a process (date would: each
# exec is slow under emulation). The fraction is read as 1xx - 100 so that "08" is not octal.
# shellcheck disable=SC2034  # now is read by the scripts that source this file
clock() {
    read -r up _ </proc/uptime
    now=$((${up%.*} * 100 + 1${up#*.} - 100))
}

# Hundredths of a second as seconds with two decimals (0.00 for less than none).
seconds() {
    if [ "$1" -gt 0 ]; then printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); else printf 0.00; fi
}

# Mount each of the module's filesystems, list and read everything in it, unmount it.
exercise() {
    if [ -n "${WORKLOAD:-}" ]; then
        sh -c "$WORKLOAD" || { echo "use_failed=$?"; return 1; }
        return 0
    fi
    for fs in $FILESYSTEMS; do
        mount -t "$fs" vexfs-vmtest "$MOUNT_POINT" || return 1
        used=0
        find "$MOUNT_POINT" -ls -type f -exec cat {} + >/dev/null || used=1  # -ls: what ls -la asks, one exec less
        umount "$MOUNT_POINT" || return 1
        [ "$used" -eq 0 ] || return 1
    done
}

# Prints "jiffies N": the kernel's clock now, so that kmemleak's objects allocated before can be told apart
# (another module's leaks, whose code addresses this module's load may have taken); "jiffies " when unreadable.
note_jiffies() {
    echo "jiffies $(awk '/^jiffies:/ { print $2; exit }' /proc/timer_list 2>/dev/null)"
}

# Before insmod: what the system exposes, so that what the module adds can be told apart after it.
note_surface() {
    exercise_py snapshot "$SURFACE.before"
}

# After insmod: what the module added since note_surface (its devices, /proc, sysfs and debugfs files...).
found_surface() {
    exercise_py surface "$SURFACE.before" "$MODULE" "$SURFACE"
}

# Use everything the module exposes with good input for $1 seconds (one round at least), by $2 users at once
# (1); prints a line "exercised JSON" for each: the rounds done and the operations on each path.
use_surface() {
    exercise_py use "$SURFACE" "$IOCTLS" "$1" "${2:-1}"
}

# The user's workload, once, if there is one: prints "workload_ok" or "workload_failed" (its output to stderr).
run_workload() {
    [ -n "${WORKLOAD_SCRIPT:-}" ] || return 0
    if MODULE="$MODULE" SURFACE="$SURFACE" sh "$WORKLOAD_SCRIPT" >&2; then
        echo workload_ok
    else
        echo workload_failed
    fi
}
