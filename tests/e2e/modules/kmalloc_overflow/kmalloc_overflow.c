// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: writes one byte past the end of a 64-byte kmalloc buffer, then frees it. */
#include <linux/module.h>
#include <linux/slab.h>

static int length = 64;
module_param(length, int, 0444);
MODULE_PARM_DESC(length, "bytes to allocate; one more is written");

static int __init kmalloc_overflow_init(void)
{
	char *buffer = kmalloc(length, GFP_KERNEL);

	if (!buffer)
		return -ENOMEM;
	memset(buffer, 'x', length);
	WRITE_ONCE(buffer[length], 'y');
	kfree(buffer);
	return 0;
}

static void __exit kmalloc_overflow_exit(void)
{
}

module_init(kmalloc_overflow_init);
module_exit(kmalloc_overflow_exit);
MODULE_LICENSE("GPL");
