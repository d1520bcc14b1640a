// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: reads one byte past a kmalloc'ed buffer (KASAN sees it; slab red zones only see writes). */
#include <linux/module.h>
#include <linux/slab.h>

static int __init oob_read_init(void)
{
	size_t size = 61;
	char *buffer = kmalloc(size, GFP_KERNEL);
	char past;

	if (!buffer)
		return -ENOMEM;
	past = READ_ONCE(buffer[size]);
	pr_info("oob_read: byte past the end is %d\n", past);
	kfree(buffer);
	return 0;
}

static void __exit oob_read_exit(void)
{
}

module_init(oob_read_init);
module_exit(oob_read_exit);
MODULE_LICENSE("GPL");
