#!/bin/sh
# Load, use and unload the module with the kmem tracepoints on; the trace goes to TRACE_OUT. Use: one
# round of everything it exposes (exercise.py use; prints "exercised JSON"), its filesystems, the user's
# workload once (prints "workload_ok" or "workload_failed").
# Prints "jiffies N" as it begins (note_jiffies), "section NAME ADDRESS" for each code section while loaded and
# "overrun N" (events lost).
# usage: MODULE=m KO=m.ko EVENTS="kmalloc kfree ..." SECTIONS=".text .init.text" TRACE_OUT=/tmp/t
#        FILESYSTEMS="..." MOUNT_POINT=/mnt/x IOCTLS=f SURFACE=f leak-trace.sh [PARAM=VALUE ...]
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
tracing=/sys/kernel/tracing
events() {
    for event in $EVENTS; do
        control=$tracing/events/kmem/$event/enable
        if [ -e "$control" ]; then echo "$1" >"$control"; fi
    done
}
note_jiffies
note_surface || exit 2
echo 0 >$tracing/tracing_on
echo >$tracing/trace
echo 16384 >$tracing/buffer_size_kb
events 1
echo 1 >$tracing/tracing_on
if ! insmod "$KO" "$@"; then
    echo 0 >$tracing/tracing_on
    events 0
    exit 3
fi
for section in $SECTIONS; do
    echo "section $section $(cat "/sys/module/$MODULE/sections/$section" 2>/dev/null)"
done
found_surface && use_surface 0
run_workload
exercise
rmmod "$MODULE"
status=$?
echo 0 >$tracing/tracing_on
events 0
cat $tracing/trace >"$TRACE_OUT"
chmod 644 "$TRACE_OUT"
cat $tracing/per_cpu/cpu*/stats | awk '/^overrun/ { lost += $2 } END { print "overrun " lost + 0 }'
echo >$tracing/trace
exit $status
