# shellcheck shell=sh
# Sourced by the filesystem scripts. Environment:
#   FS_TYPE        the filesystem type            MOUNT_POINT    where it is mounted
#   MOUNT_OPTIONS  options for every mount (may be empty)
#   MODULE, KO     its module and the .ko in the guest (both empty for a filesystem built into the kernel)
#   IMAGE, IMAGE_MIB  the file behind the loop device of a filesystem that needs a device, and its size
# Arguments of the script that sources this file: the module's parameters, for insmod.
FSOPS="$(dirname "$0")/fsops.py"
export FSOPS
SOURCE=vexfs-vmtest
LOOP=
BLANK=
LOADED_HERE=

# Insert the module unless it is in already (then it is left for whoever loaded it).
fs_load() {
    [ -n "${KO:-}" ] || return 0
    grep -q "^$MODULE " /proc/modules && return 0
    insmod "$KO" "$@" || return 1
    LOADED_HERE=1
}

# A filesystem that needs a block device gets a loop device on a fresh image, formatted by its mkfs; left blank
# (BLANK=1) when the guest has none.
fs_device() {
    if grep -q "^nodev[[:space:]]*$FS_TYPE\$" /proc/filesystems; then return 0; fi
    rm -f "$IMAGE"
    truncate -s "${IMAGE_MIB}M" "$IMAGE" || return 1
    modprobe -q loop 2>/dev/null # a module on Debian kernels
    LOOP=$(losetup -f --show "$IMAGE") || return 1
    SOURCE=$LOOP
    if ! command -v "mkfs.$FS_TYPE" >/dev/null; then
        BLANK=1
        return 0
    fi
    mkfs -t "$FS_TYPE" -q "$LOOP" >/dev/null
}

# What failed when a mount did: the mount, or a blank device nothing formatted (unformatted).
fs_mount_failed() {
    if [ -n "$BLANK" ]; then echo failed=unformatted; else echo failed=mount; fi
}

# mount [EXTRA_OPTIONS]: the filesystem at MOUNT_POINT with MOUNT_OPTIONS and EXTRA_OPTIONS.
fs_mount() {
    options=$MOUNT_OPTIONS
    if [ -n "${1:-}" ]; then options=${options:+$options,}$1; fi
    if [ -n "$options" ]; then
        mount -t "$FS_TYPE" -o "$options" "$SOURCE" "$MOUNT_POINT"
    else
        mount -t "$FS_TYPE" "$SOURCE" "$MOUNT_POINT"
    fi
}

# The loop device gone, and the module when this script loaded it.
fs_release() {
    released=0 # not "status": the scripts that source this file keep their command's status in it
    if [ -n "$LOOP" ]; then losetup -d "$LOOP" || released=1; fi
    if [ -n "$LOADED_HERE" ]; then rmmod "$MODULE" || released=1; fi
    return $released
}

# Whatever an earlier, interrupted test left: its mount, its loop device.
fs_clean() {
    while mountpoint -q "$MOUNT_POINT"; do umount "$MOUNT_POINT" || break; done
    losetup -j "$IMAGE" 2>/dev/null | cut -d: -f1 | while read -r device; do losetup -d "$device"; done
    rm -f "$IMAGE"
}
