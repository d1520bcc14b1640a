# shellcheck shell=sh
# Sourced by the kernel_module scripts. Environment:
#   MODULE       the module's name          KO           its .ko in the guest
#   FILESYSTEMS  filesystem types it registered, space-separated (may be empty)
#   MOUNT_POINT  where to mount them
#   WORKLOAD     a command that uses the module instead of the mounts below (optional; the filesystem domain's)
# Arguments of the script that sources this file: the module's parameters, for insmod.

# Mount each of the module's filesystems, list and read everything in it, unmount it.
exercise() {
    if [ -n "${WORKLOAD:-}" ]; then
        sh -c "$WORKLOAD"
        return
    fi
    for fs in $FILESYSTEMS; do
        mount -t "$fs" vexfs-vmtest "$MOUNT_POINT" || return 1
        used=0
        find "$MOUNT_POINT" -ls -type f -exec cat {} + >/dev/null || used=1  # -ls: what ls -la asks, one exec less
        umount "$MOUNT_POINT" || return 1
        [ "$used" -eq 0 ] || return 1
    done
}
