// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken, now and then: about every other load leaks a 64-byte buffer (a race-like bug). */
#include <linux/module.h>
#include <linux/random.h>
#include <linux/slab.h>

static void *buffer;

static int __init flaky_leak_init(void)
{
	buffer = kmalloc(64, GFP_KERNEL);
	return buffer ? 0 : -ENOMEM;
}

static void __exit flaky_leak_exit(void)
{
	if (get_random_u32() & 1)
		kfree(buffer);
}

module_init(flaky_leak_init);
module_exit(flaky_leak_exit);
MODULE_LICENSE("GPL");
