// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: frees the same buffer twice on unload. */
#include <linux/module.h>
#include <linux/slab.h>

static char *buffer;

static int __init double_free_init(void)
{
	buffer = kmalloc(96, GFP_KERNEL);
	return buffer ? 0 : -ENOMEM;
}

static void __exit double_free_exit(void)
{
	char *again = READ_ONCE(buffer);

	kfree(buffer);
	kfree(again);
}

module_init(double_free_init);
module_exit(double_free_exit);
MODULE_LICENSE("GPL");
