// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: its init never returns, waiting uninterruptibly for a completion nobody signals. */
#include <linux/completion.h>
#include <linux/module.h>

static DECLARE_COMPLETION(never);

static int __init hang_init_init(void)
{
	wait_for_completion(&never);
	return 0;
}

module_init(hang_init_init);
MODULE_LICENSE("GPL");
