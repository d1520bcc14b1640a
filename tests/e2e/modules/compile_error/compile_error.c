// SPDX-License-Identifier: GPL-2.0
/* Deliberately broken: does not compile. */
#include <linux/module.h>

static int __init compile_error_init(void)
{
	return undefined_thing;
}

module_init(compile_error_init);
MODULE_LICENSE("GPL");
