// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken: uses the page __get_free_page returned without checking it. Slab fault
 * injection never reaches it: only failing the page allocator (fail_page_alloc) shows the bug.
 */
#include <linux/gfp.h>
#include <linux/module.h>
#include <linux/string.h>

static unsigned long ring;

static int __init unchecked_page_init(void)
{
	ring = __get_free_page(GFP_KERNEL);
	memset((void *)ring, 0, PAGE_SIZE);
	return 0;
}

static void __exit unchecked_page_exit(void)
{
	free_page(ring);
}

module_init(unchecked_page_init);
module_exit(unchecked_page_exit);
MODULE_LICENSE("GPL");
