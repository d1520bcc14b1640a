#!/bin/sh
# Load the module again and again with its Nth allocation of one kind failing (through
# /proc/thread-self/fail-nth), N = 1, 2, ... until a load makes fewer than N allocations of it.
# SITE=slab: slab allocations (failslab); SITE=pages: page allocations of every order (fail_page_alloc:
# a module's own pages, vmalloc, large kmallocs). Only one kind counts at a time, so the Nth call is
# the same allocation from load to load. Exit 3 when the kernel cannot fail that kind; the attempts
# are fail-nth's lines.
# usage: SITE=slab|pages MODULE=m KO=m.ko LIMIT=400 fault-sweep.sh [PARAM=VALUE ...]
failslab=/sys/kernel/debug/failslab
pages=/sys/kernel/debug/fail_page_alloc
if [ ! -e /proc/self/fail-nth ] || [ ! -d $failslab ]; then exit 3; fi
if [ "$SITE" = pages ] && [ ! -d $pages ]; then exit 3; fi
# every allocation of the kind counts, not only those that cannot sleep; one line per injection, no stack
echo N >$failslab/ignore-gfp-wait
echo 0 >$failslab/verbose
if [ "$SITE" = pages ]; then
    echo Y >$failslab/cache-filter  # no cache is marked for failslab: slab allocations never count
    echo N >$pages/ignore-gfp-wait
    echo N >$pages/ignore-gfp-highmem
    echo 0 >$pages/min-order
    echo 0 >$pages/verbose
else
    echo N >$failslab/cache-filter
    if [ -d $pages ]; then echo 32 >$pages/min-order; fi  # no page allocation has that order: none counts
fi
helper=/tmp/vexfs-vmtest-fail-nth
if [ ! -x $helper ]; then
    gcc -O2 -Wall -o $helper "$(dirname "$0")/fail-nth.c" || exit 4
fi
exec $helper "$KO" "$MODULE" "$LIMIT" "$@"
