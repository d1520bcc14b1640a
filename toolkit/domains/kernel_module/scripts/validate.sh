#!/bin/sh
# Have SLUB check every object of every slab cache now (on a slub_debug boot), so corruption is
# reported in the kernel log when it happened, not whenever the object is next used.
# usage: validate.sh
for cache in /sys/kernel/slab/*; do
    [ -L "$cache" ] && continue # an alias of a merged cache
    if [ -w "$cache/validate" ]; then echo 1 >"$cache/validate"; fi
done
true
