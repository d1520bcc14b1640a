// SPDX-License-Identifier: GPL-2.0
/* A well-behaved module: allocates on load, frees on unload, exposes one parameter. */
#include <linux/module.h>
#include <linux/slab.h>

static int depth = 4;
module_param(depth, int, 0644);
MODULE_PARM_DESC(depth, "how many buffers to allocate");

static void *buffers[16];

static int __init clean_init(void)
{
	int i;

	if (depth < 0 || depth > 16)
		return -EINVAL;
	for (i = 0; i < depth; i++) {
		buffers[i] = kmalloc(128, GFP_KERNEL);
		if (!buffers[i])
			goto fail;
	}
	return 0;
fail:
	while (i--)
		kfree(buffers[i]);
	return -ENOMEM;
}

static void __exit clean_exit(void)
{
	int i;

	for (i = 0; i < depth; i++)
		kfree(buffers[i]);
}

module_init(clean_init);
module_exit(clean_exit);
MODULE_LICENSE("GPL");
