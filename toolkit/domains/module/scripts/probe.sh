#!/bin/sh
# The module's and the kernel's state, the guest's vitals, and where the module's code sections are while it is
# loaded (sections=NAME:ADDRESS ...), as key=value lines.   usage: probe.sh MODULE
# Shell builtins where they can: under emulation every fork and exec costs tens of milliseconds. The taint
# is read by cat: a sysctl file read a byte at a time, as the shell reads, ends after its first byte.
name=$1
module=/sys/module/$name
first() { value=; read -r value rest 2>/dev/null <"$1"; }
echo "taint=$(cat /proc/sys/kernel/tainted)"
loaded=0
while read -r module_name rest; do
    if [ "$module_name" = "$name" ]; then loaded=1; break; fi
done </proc/modules
echo "loaded=$loaded"
first "$module/initstate" || value=absent
echo "state=$value"
first "$module/refcnt"
echo "refcnt=$value"
holders=
for holder in "$module"/holders/*; do
    [ -e "$holder" ] && holders="$holders${holder##*/} "
done
echo "holders=$holders"
filesystems=
while read -r first_field second_field; do
    filesystems="$filesystems${second_field:-$first_field} "
done </proc/filesystems
echo "filesystems=$filesystems"
while read -r key amount _; do
    case $key in
    MemAvailable:) echo "mem_available_kib=$amount" ;;
    SUnreclaim:) echo "slab_unreclaimable_kib=$amount" ;;
    esac
done </proc/meminfo
first /proc/loadavg && echo "load_1m=$value"
first "$module/coresize"
echo "module_core_bytes=$value"
# each section file holds its address, which the shell cannot read (one grep: PATH:ADDRESS lines)
sections=
if [ "$loaded" = 1 ]; then
    listed=$(grep -H . "$module"/sections/.*text* 2>/dev/null)
    for entry in $listed; do
        sections="$sections${entry##*/} "
    done
fi
echo "sections=$sections"
