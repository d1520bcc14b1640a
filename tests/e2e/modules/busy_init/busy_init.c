// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: its init keeps the CPU busy for 16 s without ever yielding. */
#include <linux/delay.h>
#include <linux/module.h>

static int __init busy_init_init(void)
{
	unsigned int ms;

	for (ms = 0; ms < 16000; ms++)
		mdelay(1);
	return 0;
}

static void __exit busy_init_exit(void)
{
}

module_init(busy_init_init);
module_exit(busy_init_exit);
MODULE_LICENSE("GPL");
