#!/bin/sh
# Run a command in a chroot of a Debian root tree, from the private mount namespace user_namespace.py makes:
# /proc, the usual /dev nodes (bound from the host's: a user namespace may not make device nodes) and the
# folders given with --bind are mounted there, and vanish with the namespace.
#   chroot.sh ROOT [--bind HOST_FOLDER FOLDER_IN_ROOT]... -- COMMAND [ARGUMENT]...
set -e
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin  # chroot, for an ordinary user's PATH too
root=$1
shift
mount -t proc proc "$root/proc"
mount -t tmpfs -o mode=755 dev "$root/dev"
for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
done
mkdir "$root/dev/pts" "$root/dev/shm"
ln -s /proc/self/fd "$root/dev/fd"
while [ "$1" = --bind ]; do
    mkdir -p "$root$3"
    mount --bind "$2" "$root$3"
    shift 3
done
shift
exec chroot "$root" "$@"
