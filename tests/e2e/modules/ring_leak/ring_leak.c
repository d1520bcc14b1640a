// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: a helper fills a ring of buffers, and when one allocation fails it returns without freeing
 * the buffers it allocated before, so each of the ring's allocations but the first leaks on its error path. */
#include <linux/module.h>
#include <linux/slab.h>

#define RING 4

static void *ring[RING];

static noinline int ring_fill(void)
{
	int i;

	for (i = 0; i < RING; i++) {
		ring[i] = kzalloc(64 << i, GFP_KERNEL);
		if (!ring[i])
			return -ENOMEM;
	}
	return 0;
}

static int __init ring_leak_init(void)
{
	return ring_fill();
}

static void __exit ring_leak_exit(void)
{
	int i;

	for (i = 0; i < RING; i++)
		kfree(ring[i]);
}

module_init(ring_leak_init);
module_exit(ring_leak_exit);
MODULE_LICENSE("GPL");
