#!/bin/sh
# Load the module again and again with its Nth allocation of one kind failing, N = 1, 2, ... until a
# load makes fewer than N allocations of it. SITE=slab: slab allocations (failslab); SITE=pages: page
# allocations of every order (fail_page_alloc: a module's own pages, vmalloc, large kmallocs). One kind
# counts at a time, so the Nth call is the same allocation from load to load.
# Where the kernel filters faults by stack (x86_64 from 6.2, whose fail-nth heeds the filter too), only
# allocations made by module code count: the sweep is the module's own. Without the filter (5.10, 6.1)
# slab allocations are swept over the whole load, which repeats itself; page allocations are not (the
# load's vmalloc and KASAN shadow pages come and go from load to load).
# The loader's allocations vary in number from load to load, so there a tracing instance records module
# code's slab allocations and the helper tries again those of the module's it passed over.
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
# compiled once per guest and version of its source
helper=/tmp/vexfs-vmtest-fail-nth-$(cksum <"$(dirname "$0")/fail-nth.c" | cut -d' ' -f1)
if [ ! -x "$helper" ]; then
    gcc -O2 -Wall -o "$helper" "$(dirname "$0")/fail-nth.c" || exit 4
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

# Prints a new tracing instance recording the slab allocations module code makes in this shell and its children.
trace_own_allocations() {
    tracing=/sys/kernel/tracing
    [ -d $tracing/instances ] || tracing=/sys/kernel/debug/tracing
    instance=$tracing/instances/vexfs-vmtest-fault-sweep
    rmdir $instance 2>/dev/null
    mkdir $instance || return 1
    own="call_site >= $module_start && call_site < $module_end"
    for event in kmalloc kmalloc_node kmem_cache_alloc kmem_cache_alloc_node; do
        [ -d $instance/events/kmem/$event ] || continue
        case $event in
        kmalloc*) echo "$own && bytes_req <= 8192" ;;  # larger ones come from the page allocator: never failslab's
        *) echo "$own" ;;
        esac >$instance/events/kmem/$event/filter
        echo 1 >$instance/events/kmem/$event/enable
    done
    echo 1 >$instance/options/event-fork
    echo $$ >$instance/set_event_pid
    echo $instance
}

note_jiffies
if [ $mode = module-nth ] || ! instance=$(trace_own_allocations); then
    exec "$helper" "$KO" "$MODULE" "$LIMIT" "$@"
fi
OWN_TRACE=$instance/trace "$helper" "$KO" "$MODULE" "$LIMIT" "$@"
status=$?
rmdir "$instance"
exit $status
