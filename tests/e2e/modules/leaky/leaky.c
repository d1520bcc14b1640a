// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: allocates four 64-byte buffers on load and never frees them. */
#include <linux/module.h>
#include <linux/slab.h>

static void *buffers[4];

static int __init leaky_init(void)
{
	int i;

	for (i = 0; i < 4; i++)
		buffers[i] = kmalloc(64, GFP_KERNEL);
	return 0;
}

static void __exit leaky_exit(void)
{
}

module_init(leaky_init);
module_exit(leaky_exit);
MODULE_LICENSE("GPL");
