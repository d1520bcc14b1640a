#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# What the loaded module shows in sysfs, as TAP. Run as root with the module loaded:
#
#   MODULE=taptest sh tests/sysfs.sh
set -u

module=${MODULE:-taptest}
sys=/sys/module/$module
count=0
failed=0

# check DESCRIPTION COMMAND...: one test, passed when COMMAND succeeds
check() {
	count=$((count + 1))
	description=$1
	shift
	if "$@"; then
		echo "ok $count - $description"
	else
		echo "not ok $count - $description"
		failed=$((failed + 1))
	fi
}

echo "TAP version 13"
echo "1..4"
check "it is in $sys" test -d "$sys"
check "its refcnt is 0" test "$(cat "$sys/refcnt")" = 0
answer=$(cat "$sys/parameters/answer")
check "parameter answer reads 42" test "$answer" = 42
[ "$answer" = 42 ] || echo "# answer reads $answer"
echo 7 >"$sys/parameters/answer"
check "parameter answer takes 7" test "$(cat "$sys/parameters/answer")" = 7
echo "$answer" >"$sys/parameters/answer"
[ "$failed" = 0 ]
