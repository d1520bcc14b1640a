// SPDX-License-Identifier: GPL-2.0
/* A clean module whose build takes a minute (see Kbuild): something to interrupt mid-build. */
#include <linux/module.h>

static int __init slow_build_init(void)
{
	return 0;
}

static void __exit slow_build_exit(void)
{
}

module_init(slow_build_init);
module_exit(slow_build_exit);
MODULE_LICENSE("GPL");
