// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: its init fails with -ENODEV. */
#include <linux/module.h>

static int __init init_fail_init(void)
{
	pr_err("init_fail: no device here\n");
	return -ENODEV;
}

static void __exit init_fail_exit(void)
{
}

module_init(init_fail_init);
module_exit(init_fail_exit);
MODULE_LICENSE("GPL");
