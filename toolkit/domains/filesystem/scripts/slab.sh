#!/bin/sh
# Active objects of each slab cache in CACHES after the reclaimable caches were dropped:
# prints CACHE=N per cache (0 when the kernel has no such cache).
# usage: CACHES="shmem_inode_cache dentry" slab.sh
sync
echo 3 >/proc/sys/vm/drop_caches
for cache in $CACHES; do
    echo "$cache=$(awk -v c="$cache" '$1 == c { n = $2 } END { print n + 0 }' /proc/slabinfo)"
done
