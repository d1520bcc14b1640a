// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: takes two mutexes in one order, then in the other (lockdep: circular dependency). */
#include <linux/module.h>
#include <linux/mutex.h>

static DEFINE_MUTEX(first);
static DEFINE_MUTEX(second);

static int __init lock_inversion_init(void)
{
	mutex_lock(&first);
	mutex_lock(&second);
	mutex_unlock(&second);
	mutex_unlock(&first);

	mutex_lock(&second);
	mutex_lock(&first);
	mutex_unlock(&first);
	mutex_unlock(&second);
	return 0;
}

static void __exit lock_inversion_exit(void)
{
}

module_init(lock_inversion_init);
module_exit(lock_inversion_exit);
MODULE_LICENSE("GPL");
