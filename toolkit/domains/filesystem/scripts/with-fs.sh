#!/bin/sh
# Set the filesystem up (module, device, mount), run RUN with MOUNT_POINT in its environment,
# unmount and tear down. RUN's output is the script's; setup or teardown trouble prints
# failed=insmod|mkfs|mount|unformatted|umount|rmmod and exits 3 (setup) or 4 (teardown); else RUN's status.
# (unformatted: the mount of a blank device, the guest having no mkfs for the type)
# usage: FS_TYPE=t MOUNT_OPTIONS=o [EXTRA_OPTIONS=o] MODULE=m KO=m.ko IMAGE=f IMAGE_MIB=n
#        MOUNT_POINT=/mnt/x RUN="command" with-fs.sh [PARAM=VALUE ...]
# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"
fs_clean
fs_load "$@" || { echo failed=insmod; exit 3; }
fs_device || { echo failed=mkfs; fs_release; exit 3; }
fs_mount "${EXTRA_OPTIONS:-}" || { fs_mount_failed; fs_release; exit 3; }
export MOUNT_POINT
sh -c "$RUN"
status=$?
if mountpoint -q "$MOUNT_POINT"; then umount "$MOUNT_POINT" || { echo failed=umount; exit 4; }; fi
fs_release || { echo failed=rmmod; exit 4; }
exit $status
