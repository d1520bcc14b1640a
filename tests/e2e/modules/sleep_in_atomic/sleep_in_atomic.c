// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: a GFP_KERNEL allocation (which may sleep) under a spinlock. */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

static DEFINE_SPINLOCK(lock);
static void *held;

static int __init sleep_in_atomic_init(void)
{
	spin_lock(&lock);
	held = kmalloc(64, GFP_KERNEL);
	spin_unlock(&lock);
	return held ? 0 : -ENOMEM;
}

static void __exit sleep_in_atomic_exit(void)
{
	kfree(held);
}

module_init(sleep_in_atomic_init);
module_exit(sleep_in_atomic_exit);
MODULE_LICENSE("GPL");
