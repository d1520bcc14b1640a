#!/bin/sh
# Load the module again and again with its Nth allocation failing (failslab, and fail_page_alloc where
# the kernel has it, through /proc/thread-self/fail-nth), N = 1, 2, ... until a load makes fewer than
# N allocations.
# Exit 3 when the kernel has no fault injection; the attempts are fail-nth's lines.
# usage: MODULE=m KO=m.ko LIMIT=400 fault-sweep.sh [PARAM=VALUE ...]
failslab=/sys/kernel/debug/failslab
if [ ! -e /proc/self/fail-nth ] || [ ! -d $failslab ]; then exit 3; fi
# count every slab allocation, not only those that cannot sleep; one line per injection, no stack
echo N >$failslab/ignore-gfp-wait
echo 0 >$failslab/verbose
# pages too, of every order and kind: a module's own page allocations, vmalloc's, large kmallocs
pages=/sys/kernel/debug/fail_page_alloc
if [ -d $pages ]; then
    echo N >$pages/ignore-gfp-wait
    echo N >$pages/ignore-gfp-highmem
    echo 0 >$pages/min-order
    echo 0 >$pages/verbose
fi
helper=/tmp/vexfs-vmtest-fail-nth
if [ ! -x $helper ]; then
    gcc -O2 -Wall -o $helper "$(dirname "$0")/fail-nth.c" || exit 4
fi
exec $helper "$KO" "$MODULE" "$LIMIT" "$@"
