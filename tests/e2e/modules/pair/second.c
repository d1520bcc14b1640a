// SPDX-License-Identifier: GPL-2.0
/* One of two well-behaved modules built by the same Kbuild. */
#include <linux/module.h>

static int __init second_init(void)
{
	pr_info("second: loaded\n");
	return 0;
}

static void __exit second_exit(void)
{
}

module_init(second_init);
module_exit(second_exit);
MODULE_LICENSE("GPL");
