// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: its init never returns, sleeping uninterruptibly forever. */
#include <linux/delay.h>
#include <linux/module.h>

static int __init hang_init_init(void)
{
	for (;;)
		msleep(1000);
	return 0;
}

module_init(hang_init_init);
MODULE_LICENSE("GPL");
