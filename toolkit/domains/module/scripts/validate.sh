#!/bin/sh
# Have SLUB check every object of every slab cache now (on a slub_debug boot), so corruption is
# reported in the kernel log when it happened, not whenever the object is next used.
# SLUB's own bootstrap caches are left out: no module allocates from them, and 7.x reports their
# objects made before debugging was on as "Freepointer corrupt" on every boot.
# usage: validate.sh
for cache in /sys/kernel/slab/*; do
    [ -L "$cache" ] && continue # an alias of a merged cache
    case ${cache##*/} in kmem_cache | kmem_cache_node) continue ;; esac
    if [ -w "$cache/validate" ]; then echo 1 >"$cache/validate"; fi
done
true
