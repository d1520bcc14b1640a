#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The loaded module as the kernel lists it, as TAP; a device it does not make is a skip. Run as
# root with the module loaded:
#
#   MODULE=taptest sh tests/modules.sh
set -u

module=${MODULE:-taptest}

echo "TAP version 13"
echo "1..3"
if grep -q "^$module [0-9]* 0 - Live " /proc/modules; then
	echo "ok 1 - $module is live in /proc/modules"
else
	echo "not ok 1 - $module is live in /proc/modules"
	grep "^$module " /proc/modules | sed 's/^/# /'
fi
case $(cat "/sys/module/$module/taint") in
*O*) echo "ok 2 - its taint says out of tree (O)" ;;
*) echo "not ok 2 - its taint says out of tree (O)" ;;
esac
if [ -e "/dev/$module" ]; then
	if : <"/dev/$module"; then echo "ok 3 - device /dev/$module opens"; else echo "not ok 3 - device /dev/$module opens"; fi
else
	echo "ok 3 - device /dev/$module opens # SKIP $module makes no device node"
fi
