// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: when its second allocation fails, init returns -ENOMEM without freeing the first. */
#include <linux/module.h>
#include <linux/slab.h>

static void *table;
static void *lookup;

static int __init unwind_leak_init(void)
{
	table = kmalloc(128, GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	lookup = kmalloc(256, GFP_KERNEL);
	if (!lookup)
		return -ENOMEM;
	return 0;
}

static void __exit unwind_leak_exit(void)
{
	kfree(lookup);
	kfree(table);
}

module_init(unwind_leak_init);
module_exit(unwind_leak_exit);
MODULE_LICENSE("GPL");
