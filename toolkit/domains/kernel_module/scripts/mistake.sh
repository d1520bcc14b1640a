#!/bin/sh
# One deliberate mistake: run MISTAKE (its output and errors together), then report whether it left the
# module loaded ("vexfs-vmtest: loaded=0|1", the last line) and unload it if so, so that the next mistake
# starts clean. Exits with MISTAKE's status. Shell builtins after MISTAKE: no process to wait for.
# usage: MODULE=m FILESYSTEMS="..." MISTAKE='insmod m.ko && insmod m.ko' mistake.sh
(eval "$MISTAKE") 2>&1
status=$?
loaded=0
while read -r name rest; do
    if [ "$name" = "$MODULE" ]; then loaded=1; break; fi
done </proc/modules
echo "vexfs-vmtest: loaded=$loaded"
if [ "$loaded" -eq 1 ]; then
    for fs in $FILESYSTEMS; do umount -a -t "$fs" 2>/dev/null; done
    rmmod "$MODULE"
fi
exit "$status"
