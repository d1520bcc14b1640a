#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# VexFS smoke test. Run it as root in a guest, never on a host you care about:
#
#   sh kernel/vexfs/tests/smoke.sh [path/to/vexfs.ko]
#
# Loads the module unless it is loaded already (and then unloads it at the end),
# takes vexfsctl and smoke-helper as `make -C tests` built them (else builds them
# with cc; VEXFSCTL=path gives another vexfsctl), mounts vexfs
# instances under a temporary directory and exercises every feature: mount options,
# page-cache files, the namespace, statfs, user.* xattrs, vectors and the k-nearest
# query, the limits, remount, debugfs statistics. The kernel log must stay free of
# warnings. Prints "ok: ..." per check and exits non-zero at the first failure.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
ko=${1:-$src/vexfs.ko}
work=$(mktemp -d /tmp/vexfs-smoke.XXXXXX)
m=$work/m
l=$work/lim
w=$work/v16
dbg=/sys/kernel/debug
loaded_here=no
checks=0

say() { printf '%s\n' "$*"; }
ok() { checks=$((checks + 1)); say "ok: $*"; }
fail() { say "FAIL: $*" >&2; exit 1; }

# same WHAT GOT WANT
same() { [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"; }

# must_fail TEXT CMD...: CMD fails, saying TEXT.
must_fail() {
	text=$1
	shift
	if out=$("$@" 2>&1); then
		fail "should have failed: $*"
	fi
	case $out in
	*"$text"*) ;;
	*) fail "$*: expected '$text', got '$out'" ;;
	esac
}

cleanup() {
	for d in "$m" "$l" "$w"; do
		if mountpoint -q "$d" 2>/dev/null; then umount "$d" || true; fi
	done
	if [ "$loaded_here" = yes ]; then rmmod vexfs || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

fs() { stat -f -c "$1" "$2"; }
used_bytes() { echo $(($(fs %b "$1") - $(fs %f "$1"))); }
used_files() { echo $(($(fs %c "$1") - $(fs %d "$1"))); }
ino() { stat -c %i "$1"; }
hexval() { getfattr --absolute-names --only-values -n "$1" "$2" | od -An -tx1 | tr -d ' \n'; }
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
# the "score name" part of a query, one result per ';'
ranked() { "$ctl" query "$@" | cut -d' ' -f2,3 | tr '\n' ';'; }

[ "$(id -u)" = 0 ] || fail "run me as root"
marker="vexfs-smoke-$$-$(date +%s)"
echo "$marker" >/dev/kmsg

# Tools and module

# built by `make -C tests` beside this script, else here
helper=$here/smoke-helper
if [ ! -x "$helper" ]; then
	helper=$work/smoke-helper
	cc -O2 -Wall -o "$helper" "$here/smoke-helper.c"
fi
ctl=${VEXFSCTL:-$here/vexfsctl}
if [ ! -x "$ctl" ]; then
	ctl=$work/vexfsctl
	cc -O2 -Wall -o "$ctl" "$src/tools/vexfsctl.c"
fi
if ! grep -q '^vexfs ' /proc/modules; then
	insmod "$ko"
	loaded_here=yes
fi
mountpoint -q "$dbg" || mount -t debugfs none "$dbg"
[ -d "$dbg/vexfs" ] || fail "no $dbg/vexfs"
mkdir "$m" "$l" "$w"
ok "module loaded, tools built"

# Mount options

for opts in dim=0 dim=4097 dim=x vtype=int32 max_bytes=12Q max_bytes= max_files=-1 bogus=1; do
	same "mount -o $opts" "$("$helper" mount "$m" "$opts")" "Invalid argument"
done
ok "bad mount options are refused with EINVAL"
mount -t vexfs vexfs-smoke "$m" -o max_files=64,max_bytes=1m,dim=4,vtype=int8
grep -q " $m vexfs [^ ]*max_files=64,max_bytes=1048576,dim=4,vtype=int8 " /proc/mounts ||
	fail "options missing from /proc/mounts"
grep -qx 'source=vexfs-smoke' "$m/info"
ok "mounted; /proc/mounts and info tell the options and source"

# Regular files

head -c 10000 /dev/urandom >"$work/data"
cp "$work/data" "$m/f"
cmp "$work/data" "$m/f"
same "size" "$(stat -c %s "$m/f")" 10000
printf XYZ | dd of="$m/f" bs=1 seek=5000 conv=notrunc 2>/dev/null
same "write at an offset" "$(dd if="$m/f" bs=1 skip=5000 count=3 2>/dev/null)" XYZ
printf tail >>"$m/f"
same "append" "$(stat -c %s "$m/f")" 10004
printf E | dd of="$m/sparse" bs=1 seek=20000 2>/dev/null
same "sparse size" "$(stat -c %s "$m/sparse")" 20001
same "hole reads zeros" "$(head -c 20000 "$m/sparse" | tr -d '\000' | wc -c)" 0
truncate -s 3000 "$m/f"
cmp -n 3000 "$work/data" "$m/f"
truncate -s 8000 "$m/f"
same "grown tail reads zeros" "$(tail -c 5000 "$m/f" | tr -d '\000' | wc -c)" 0
dd if="$work/data" of="$m/g" bs=4k conv=fsync 2>/dev/null
sync "$m/g"
cmp "$work/data" "$m/g"
same "mmap" "$("$helper" mmap "$m/mm")" ok
ok "read, write, seek, holes, truncate, fsync, mmap"
if command -v fio >/dev/null; then
	for engine in psync mmap; do
		fio --name=smoke --filename="$m/fio" --size=256k --bs=4k --rw=randwrite \
			--ioengine="$engine" --fallocate=none --fsync=8 --verify=crc32c \
			>"$work/fio.log" 2>&1 || { cat "$work/fio.log"; fail "fio $engine"; }
	done
	rm "$m/fio"
	ok "fio writes verify (psync, mmap)"
fi

# statfs and the statistics tell the truth

size_sum=$(find "$m" -type f -exec stat -c %s {} + | awk '{ s += $1 } END { print s + 0 }')
inodes=$(find "$m" -mindepth 1 ! -name info | wc -l)
same "f_frsize" "$(fs %S "$m")" 1
same "f_blocks" "$(fs %b "$m")" 1048576
same "f_files" "$(fs %c "$m")" 64
same "bytes used" "$(used_bytes "$m")" "$size_sum"
same "files used" "$(used_files "$m")" "$inodes"
stats=$dbg/vexfs/$(mountpoint -d "$m")/stats
same "debugfs bytes" "$(stat_of bytes "$stats")" "$size_sum"
same "debugfs files" "$(stat_of files "$stats")" "$inodes"
ok "statfs and debugfs count $inodes files, $size_sum bytes"

# Namespace

d=$m/d
mkdir "$d" "$d/sub"
echo one >"$d/one"
same "directory nlink" "$(stat -c %h "$d")" 3
must_fail "Directory not empty" rmdir "$d"
ln "$d/one" "$d/hard"
same "hard link nlink" "$(stat -c %h "$d/one")" 2
same "hard link inode" "$(ino "$d/hard")" "$(ino "$d/one")"
ln -s one "$d/sym"
same "readlink" "$(readlink "$d/sym")" one
same "through the symlink" "$(cat "$d/sym")" one
same "symlink size" "$(stat -c %s "$d/sym")" 3
mkfifo "$d/fifo"
[ -p "$d/fifo" ] || fail "mkfifo"
mv "$d/one" "$d/sub/moved"
[ ! -e "$d/one" ] || fail "rename left the old name"
same "renamed" "$(cat "$d/sub/moved")" one
echo two >"$d/two"
mv "$d/two" "$d/hard"
same "replaced target" "$(cat "$d/hard")" two
same "replaced inode lost a link" "$(stat -c %h "$d/sub/moved")" 1
echo three >"$d/three"
same "RENAME_NOREPLACE" "$("$helper" rename "$d/three" "$d/hard" noreplace)" "File exists"
same "RENAME_NOREPLACE kept the target" "$(cat "$d/hard")" two
release=$(uname -r)
major=${release%%.*}
minor=${release#*.}
minor=${minor%%.*}
if [ "$major" -lt 5 ] || { [ "$major" -eq 5 ] && [ "$minor" -lt 11 ]; }; then
	same "RENAME_EXCHANGE (no libfs support)" \
		"$("$helper" rename "$d/three" "$d/hard" exchange)" "Invalid argument"
else
	same "RENAME_EXCHANGE" "$("$helper" rename "$d/three" "$d/hard" exchange)" ok
	same "exchanged" "$(cat "$d/three") $(cat "$d/hard")" "two three"
	if mv --help 2>&1 | grep -q -e '--exchange'; then
		mv --exchange "$d/three" "$d/hard"
		same "mv --exchange" "$(cat "$d/three") $(cat "$d/hard")" "three two"
	else
		say "skip: this mv has no --exchange"
	fi
fi
rm -r "$d"
[ ! -e "$d" ] || fail "rm -r"
ok "mkdir, rmdir, link, symlink, mkfifo, rename, noreplace, exchange, unlink"

# Extended attributes

x=$m/x
touch "$x"
setfattr -n user.color -v blue "$x"
same "getxattr" "$(getfattr --absolute-names --only-values -n user.color "$x")" blue
setfattr -n user.color -v red "$x"
same "replaced xattr" "$(getfattr --absolute-names --only-values -n user.color "$x")" red
setfattr -n user.empty "$x"
same "listxattr" "$(getfattr --absolute-names -m - "$x" | grep -c '^user\.')" 2
same "XATTR_CREATE on an existing name" "$("$helper" setxattr "$x" user.color 01 create)" "File exists"
same "XATTR_REPLACE on a missing name" "$("$helper" setxattr "$x" user.none 01 replace)" "No data available"
setfattr -x user.color "$x"
must_fail "No such attribute" getfattr --absolute-names -n user.color "$x"
must_fail "Operation not supported" setfattr -n trusted.t -v 1 "$x"
ln -s x "$m/xl"
must_fail "Operation not permitted" setfattr -h -n user.s -v 1 "$m/xl"
setfattr -n user.dir -v 1 "$m"
before=$(used_bytes "$m")
setfattr -n user.big -v "$(head -c 100 /dev/zero | tr '\000' a)" "$x"
same "xattr bytes charged" "$(($(used_bytes "$m") - before))" 108
setfattr -x user.big "$x"
same "xattr bytes given back" "$(used_bytes "$m")" "$before"
ok "user.* xattrs: get, set, replace, list, remove, flags, bytes charged"

# Vectors

v=$m/vec
mkdir "$v" "$v/sub"
for f in a b c d e plain sub/x; do touch "$v/$f"; done
"$ctl" set "$v/a" 1,0,0,0
"$ctl" set "$v/b" 0,1,0,0
"$ctl" set "$v/c" 2,0,0,0
"$ctl" set "$v/d" -1,0,0,0
"$ctl" set "$v/e" 0,1,0,0
"$ctl" set "$v/sub/x" 1,0,0,0
same "vector bytes" "$(hexval user.vexfs.vec "$v/d")" ff000000
getfattr --absolute-names -m - "$v/a" | grep -qx user.vexfs.vec || fail "vector not listed"
must_fail "Invalid argument" "$ctl" set "$v/a" 1,2,3
must_fail "Invalid argument" setfattr -n user.vexfs.vec -v 0x0102 "$v/a"
must_fail "Operation not permitted" setfattr -n user.vexfs.vec -v 0x01020304 "$v/sub"
must_fail "bad vector" "$ctl" set "$v/a" 200,0,0,0
same "XATTR_CREATE on a vector" "$("$helper" setxattr "$v/a" user.vexfs.vec 05000000 create)" "File exists"
same "XATTR_REPLACE without a vector" "$("$helper" setxattr "$v/plain" user.vexfs.vec 05000000 replace)" "No data available"
same "debugfs vectors" "$(stat_of vectors "$stats")" 6
ok "vectors: set, get, list, length and type checks, flags"

# b and e tie from (1,0,0,0): the lower inode number comes first
if [ "$(ino "$v/b")" -lt "$(ino "$v/e")" ]; then tie=b; else tie=e; fi
want=$(printf '%s 0 a\n%s 1 c\n%s 2 %s' "$(ino "$v/a")" "$(ino "$v/c")" "$(ino "$v/$tie")" "$tie")
same "l2, k=3" "$("$ctl" query "$v" 3 l2 1,0,0,0)" "$want"
same "dot, k=2" "$(ranked "$v" 2 dot 1,0,0,0)" "2 c;1 a;"
# b, c and e tie at 2 on (1,2,0,0), then a, then d
want=$(for f in b c e; do echo "$(ino "$v/$f") $f"; done | sort -n | awk '{ printf "2 %s;", $2 }')
same "dot, all" "$(ranked "$v" 1024 dot 1,2,0,0)" "${want}1 a;-1 d;"
same "k beyond the candidates" "$("$ctl" query "$v" 100 l2 0,0,0,0 | wc -l)" 5
must_fail "Invalid argument" "$ctl" query "$v" 0 l2 1,0,0,0
must_fail "Invalid argument" "$ctl" query "$v" 1025 l2 1,0,0,0
must_fail "Invalid argument" "$ctl" query "$v" 3 l2 1,0,0
same "bad metric" "$("$helper" ioctl "$v" 3 7 4 ok)" "Invalid argument"
same "NULL argument" "$("$helper" ioctl "$v" 3 0 4 null-arg)" "Bad address"
same "bad query pointer" "$("$helper" ioctl "$v" 3 0 4 bad-query)" "Bad address"
same "bad results pointer" "$("$helper" ioctl "$v" 3 0 4 bad-results)" "Bad address"
same "ioctl on a file" "$("$helper" ioctl "$v/a" 3 0 4 ok)" "Inappropriate ioctl for device"
rm "$v/c"
same "unlinked file leaves the ranking" "$(ranked "$v" 2 l2 1,0,0,0)" "0 a;2 $tie;"
mv "$v/a" "$v/sub/a"
same "renamed file leaves the old directory" "$(ranked "$v" 1 l2 1,0,0,0)" "2 $tie;"
same "and joins the new one" "$(ranked "$v/sub" 2 l2 1,0,0,0 | cut -c1-2)" "0 "
ln "$v/sub/a" "$v/a2"
same "a hard link brings it back" "$(ranked "$v" 1 l2 1,0,0,0)" "0 a2;"
setfattr -x user.vexfs.vec "$v/sub/a"
same "removed vector" "$(ranked "$v" 1 l2 1,0,0,0)" "2 $tie;"
ok "k-nearest: L2 and dot order, ties by inode, bad arguments, namespace changes"

mount -t vexfs none "$w" -o dim=2,vtype=int16
touch "$w/p" "$w/q"
"$ctl" set "$w/p" 1000,-1000
"$ctl" set "$w/q" -32768,32767
same "int16 bytes" "$(hexval user.vexfs.vec "$w/p")" e80318fc
same "int16 l2" "$(ranked "$w" 2 l2 0,0)" "2000000 p;2147418113 q;"
same "int16 dot" "$(ranked "$w" 2 dot 32767,-32768)" "65535000 p;-2147418112 q;"
same "int16 far l2" "$(ranked "$w" 2 l2 32767,-32768 | cut -d';' -f2)" "8589672450 q"
umount "$w"
ok "int16 vectors, 64-bit scores"

# Limits

mount -t vexfs none "$l" -o max_files=3,max_bytes=10000
touch "$l/1" "$l/2"
mkdir "$l/d"
must_fail "No space left on device" touch "$l/4"
must_fail "No space left on device" mkdir "$l/e"
must_fail "No space left on device" ln -s 1 "$l/s"
must_fail "No space left on device" mkfifo "$l/p"
ln "$l/1" "$l/hard"
same "free inodes" "$(fs %d "$l")" 0
head -c 10000 /dev/zero >"$l/1"
same "bytes used" "$(used_bytes "$l")" 10000
must_fail "No space left on device" dd if=/dev/zero of="$l/2" bs=1 count=1 conv=notrunc
must_fail "No space left on device" truncate -s 1 "$l/2"
must_fail "No space left on device" setfattr -n user.a -v x "$l/d"
truncate -s 5000 "$l/1"
head -c 5000 /dev/zero >"$l/2"
must_fail "No space left on device" truncate -s +1 "$l/2"
rm "$l/1"
same "a linked file keeps its bytes" "$(used_bytes "$l")" 10000
rm "$l/hard"
same "bytes given back" "$(used_bytes "$l")" 5000
same "file given back" "$(used_files "$l")" 2
ok "max_files and max_bytes give ENOSPC at the limit, and come back"
if mount -o remount,max_bytes=100 "$l" 2>/dev/null; then fail "remount below use"; fi
if mount -o remount,dim=5 "$l" 2>/dev/null; then fail "remount changed dim"; fi
mount -o remount,max_files=10,max_bytes=20000 "$l"
same "remounted f_files" "$(fs %c "$l")" 10
same "remounted f_blocks" "$(fs %b "$l")" 20000
umount "$l"
ok "remount moves the limits, not below use, never dim"

# Statistics and teardown

same "debugfs queries" "$(stat_of queries "$stats")" 9
statsdir=$(dirname "$stats")
umount "$m"
[ ! -e "$statsdir" ] || fail "$statsdir outlived the mount"
if [ "$loaded_here" = yes ]; then
	rmmod vexfs
	loaded_here=no
	[ ! -e "$dbg/vexfs" ] || fail "$dbg/vexfs outlived the module"
fi
ok "debugfs statistics counted the queries and went away on umount/rmmod"

if dmesg | sed -n "/$marker/,\$p" | grep -E 'WARNING|BUG|Oops|Call Trace|general protection'; then
	fail "the kernel complained"
fi
ok "kernel log clean"
say "PASS: $checks checks"
