// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: dereferences a NULL pointer when it is unloaded. */
#include <linux/module.h>

struct thing {
	int value;
};

static struct thing *missing;

static int __init oops_exit_init(void)
{
	return 0;
}

static void __exit oops_exit_exit(void)
{
	pr_info("oops_exit: value is %d\n", READ_ONCE(missing)->value);
}

module_init(oops_exit_init);
module_exit(oops_exit_exit);
MODULE_LICENSE("GPL");
