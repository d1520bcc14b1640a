#!/bin/sh
# Load the module again and again with its Nth allocation of one kind failing, N = 1, 2, ... until a
# load makes fewer than N allocations of it. SITE=slab: slab allocations (failslab); SITE=pages: page
# allocations of every order (fail_page_alloc: a module's own pages, vmalloc, large kmallocs). One kind
# counts at a time, so the Nth call is the same allocation from load to load.
# Where the kernel filters faults by stack (x86_64 from 6.2, whose fail-nth heeds the filter too), only
# allocations made by module code count: the sweep is the module's own. Without the filter (5.10, 6.1)
# slab allocations are swept over the whole load, which repeats itself; page allocations are not (the
# load's vmalloc and KASAN shadow pages come and go from load to load).
# Exit 3 when the kernel cannot fail that kind (with an `unavailable:` line when it has fault injection
# but not for this kind). The attempts are fail-nth's lines, after "jiffies N" (note_jiffies).
# usage: SITE=slab|pages MODULE=m KO=m.ko LIMIT=400 fault-sweep.sh [PARAM=VALUE ...]
# shellcheck source=../../module/scripts/common.sh
. "$(dirname "$0")/common.sh"
failslab=/sys/kernel/debug/failslab
pages=/sys/kernel/debug/fail_page_alloc
# where x86_64 maps modules (MODULES_VADDR with KASLR .. MODULES_END): a caller there is module code
module_start=0xffffffffc0000000
module_end=0xffffffffff000000
if [ ! -e /proc/self/fail-nth ] || [ ! -d $failslab ]; then exit 3; fi
if [ "$SITE" = pages ]; then attr=$pages; else attr=$failslab; fi
if [ ! -d $attr ]; then echo "unavailable: this kernel has no $(basename $attr)"; exit 3; fi
if [ "$SITE" = pages ] && [ ! -e $attr/require-start ]; then
    # a whole-load page sweep would fail the loader's own vmalloc and KASAN shadow, differently each load
    echo "unavailable: this kernel cannot tell module code's page allocations from the loader's" \
        "(no FAULT_INJECTION_STACKTRACE_FILTER; x86_64 has it from 6.2)"
    exit 3
fi
helper=/tmp/vexfs-vmtest-fail-nth
if [ ! -x $helper ]; then
    gcc -O2 -Wall -o $helper "$(dirname "$0")/fail-nth.c" || exit 4
fi

# every allocation of the kind counts, not only those that cannot sleep; one line per injection, no stack
echo N >$failslab/ignore-gfp-wait
echo 0 >$failslab/verbose
if [ -d $pages ]; then
    echo N >$pages/ignore-gfp-wait
    echo N >$pages/ignore-gfp-highmem
    echo 0 >$pages/verbose
    echo 32 >$pages/min-order  # no page allocation has that order: none counts, until pages are swept
fi
echo N >$failslab/cache-filter
if [ -e $failslab/require-start ]; then
    for each in $failslab $pages; do
        [ -e "$each"/require-start ] || continue
        echo $module_start >"$each"/require-start
        echo $module_end >"$each"/require-end
        echo 32 >"$each"/stacktrace-depth
    done
    mode=module-nth
else
    mode=load-nth
fi
if [ "$SITE" = pages ]; then
    echo Y >$failslab/cache-filter  # no cache is marked for failslab: slab allocations never count
    echo 0 >$pages/min-order
fi
echo "mode=$mode"
note_jiffies
exec $helper "$KO" "$MODULE" "$LIMIT" "$@"
