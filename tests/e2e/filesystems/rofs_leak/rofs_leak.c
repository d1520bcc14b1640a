// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken: a read-only pseudo filesystem (one file, "hello"; its root can create nothing)
 * whose superblock info is allocated at each mount and never freed.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/version.h>

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 18, 0)
#define kill_litter_super kill_anon_super
#endif

struct rofs_leak_info {
	unsigned long mounted_at;
	char name[48];
};

static ssize_t hello_read(struct file *f, char __user *buf, size_t len, loff_t *off)
{
	static const char text[] = "hello from rofs_leak\n";

	return simple_read_from_buffer(buf, len, off, text, sizeof(text) - 1);
}

static const struct file_operations hello_fops = {
	.read = hello_read,
	.llseek = default_llseek,
};

static int rofs_leak_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr files[] = {
		[2] = { "hello", &hello_fops, 0444 },
		{ "" },
	};
	struct rofs_leak_info *info = kzalloc(sizeof(*info), GFP_KERNEL);

	if (!info)
		return -ENOMEM;
	info->mounted_at = jiffies;
	strscpy(info->name, fc->source ? fc->source : "none", sizeof(info->name));
	sb->s_fs_info = info;
	return simple_fill_super(sb, 0x5b1eaf, files);
}

static int rofs_leak_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, rofs_leak_fill_super);
}

static const struct fs_context_operations rofs_leak_context_ops = {
	.get_tree = rofs_leak_get_tree,
};

static int rofs_leak_init_fs_context(struct fs_context *fc)
{
	fc->ops = &rofs_leak_context_ops;
	return 0;
}

static struct file_system_type rofs_leak_type = {
	.owner = THIS_MODULE,
	.name = "rofs_leak",
	.init_fs_context = rofs_leak_init_fs_context,
	.kill_sb = kill_litter_super,	/* s_fs_info is never freed */
};

static int __init rofs_leak_init(void)
{
	return register_filesystem(&rofs_leak_type);
}

static void __exit rofs_leak_exit(void)
{
	unregister_filesystem(&rofs_leak_type);
}

module_init(rofs_leak_init);
module_exit(rofs_leak_exit);
MODULE_LICENSE("GPL");
