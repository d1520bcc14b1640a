#!/bin/sh
# The module's and the kernel's state, and the guest's vitals, as key=value lines.   usage: probe.sh MODULE
name=$1
echo "taint=$(cat /proc/sys/kernel/tainted)"
if grep -q "^$name " /proc/modules; then echo loaded=1; else echo loaded=0; fi
echo "state=$(cat "/sys/module/$name/initstate" 2>/dev/null || echo absent)"
echo "refcnt=$(cat "/sys/module/$name/refcnt" 2>/dev/null)"
echo "holders=$(find "/sys/module/$name/holders" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null)"
echo "filesystems=$(awk '{print $NF}' /proc/filesystems | tr '\n' ' ')"
echo "mem_available_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)"
echo "slab_unreclaimable_kib=$(awk '/^SUnreclaim:/ { print $2 }' /proc/meminfo)"
echo "load_1m=$(cut -d' ' -f1 /proc/loadavg)"
echo "module_core_bytes=$(cat "/sys/module/$name/coresize" 2>/dev/null)"
