#!/bin/sh
# stress-ng's filesystem stressors that this version has, WORKERS each, for STRESS_S seconds,
# in MOUNT_POINT. Prints "stressors A B ..." and then stress-ng's own summary; exits with its status.
# usage: STRESSORS="dentry dir ..." WORKERS=2 STRESS_S=20 MOUNT_POINT=/mnt/x stress.sh
available=$(stress-ng --stressors 2>/dev/null || stress-ng --help 2>&1)
chosen=
for stressor in $STRESSORS; do
    if echo " $available " | tr '\n' ' ' | grep -q " $stressor "; then chosen="$chosen $stressor"; fi
done
echo "stressors$chosen"
[ -n "$chosen" ] || exit 0
set --
for stressor in $chosen; do set -- "$@" "--$stressor" "$WORKERS"; done
cd "$MOUNT_POINT" || exit 1
stress-ng "$@" --temp-path "$MOUNT_POINT" --timeout "${STRESS_S}s" --metrics-brief 2>&1
