// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: frees a buffer in init, then writes into it. Nothing crashes at once. */
#include <linux/module.h>
#include <linux/slab.h>

static int __init write_after_free_init(void)
{
	char *buffer = kmalloc(64, GFP_KERNEL);

	if (!buffer)
		return -ENOMEM;
	kfree(buffer);
	/* the compiler must not drop the store: buffer is dead to it */
	WRITE_ONCE(buffer[8], 0x42);
	return 0;
}

static void __exit write_after_free_exit(void)
{
}

module_init(write_after_free_init);
module_exit(write_after_free_exit);
MODULE_LICENSE("GPL");
