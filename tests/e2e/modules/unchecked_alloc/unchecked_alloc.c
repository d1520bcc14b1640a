// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: uses what kmalloc returned without checking it for NULL. */
#include <linux/module.h>
#include <linux/slab.h>

struct settings {
	int verbose;
	int retries;
};

static struct settings *settings;

static int __init unchecked_alloc_init(void)
{
	settings = kmalloc(sizeof(*settings), GFP_KERNEL);
	settings->verbose = 1;
	settings->retries = 3;
	return 0;
}

static void __exit unchecked_alloc_exit(void)
{
	kfree(settings);
}

module_init(unchecked_alloc_init);
module_exit(unchecked_alloc_exit);
MODULE_LICENSE("GPL");
