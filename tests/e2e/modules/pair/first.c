// SPDX-License-Identifier: GPL-2.0
/* One of two well-behaved modules built by the same Kbuild. */
#include <linux/module.h>

static int __init first_init(void)
{
	pr_info("first: loaded\n");
	return 0;
}

static void __exit first_exit(void)
{
}

module_init(first_init);
module_exit(first_exit);
MODULE_LICENSE("GPL");
