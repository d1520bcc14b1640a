// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS: a small in-memory filesystem. Mount it with `mount -t vexfs none DIR`; the root
 * directory holds `info`, a read-only file describing the mount.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>

#define VEXFS_MAGIC 0x56455846 /* "VEXF" */

static char *greeting = "hello from vexfs";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "text the info file starts with");

static unsigned int info_size = 256;
module_param(info_size, uint, 0444);
MODULE_PARM_DESC(info_size, "size of the info buffer in bytes (16..4096)");

struct vexfs_mount {
	char *info;
	size_t len;
};

static ssize_t vexfs_info_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	struct vexfs_mount *mount = file_inode(file)->i_sb->s_fs_info;

	return simple_read_from_buffer(buf, count, pos, mount->info, mount->len);
}

static const struct file_operations vexfs_info_fops = {
	.owner = THIS_MODULE,
	.read = vexfs_info_read,
	.llseek = default_llseek,
};

static int vexfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	static const struct tree_descr files[] = {
		[2] = { "info", &vexfs_info_fops, 0444 },
		{ "" },
	};
	struct vexfs_mount *mount;

	mount = kzalloc(sizeof(*mount), GFP_KERNEL);
	if (!mount)
		return -ENOMEM;
	mount->info = kmalloc(info_size, GFP_KERNEL);
	if (!mount->info) {
		kfree(mount);
		return -ENOMEM;
	}
	mount->len = scnprintf(mount->info, info_size, "%s\nsource=%s\n", greeting, fc->source ?: "none");
	sb->s_fs_info = mount;
	return simple_fill_super(sb, VEXFS_MAGIC, files);
}

static int vexfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, vexfs_fill_super);
}

static const struct fs_context_operations vexfs_context_ops = {
	.get_tree = vexfs_get_tree,
};

static int vexfs_init_fs_context(struct fs_context *fc)
{
	fc->ops = &vexfs_context_ops;
	return 0;
}

static void vexfs_kill_sb(struct super_block *sb)
{
	struct vexfs_mount *mount = sb->s_fs_info;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
	/* simple_fill_super's dentries are persistent now; kill_litter_super is gone */
	kill_anon_super(sb);
#else
	kill_litter_super(sb);
#endif
	if (mount) {
		kfree(mount->info);
		kfree(mount);
	}
}

static struct file_system_type vexfs_type = {
	.owner = THIS_MODULE,
	.name = "vexfs",
	.init_fs_context = vexfs_init_fs_context,
	.kill_sb = vexfs_kill_sb,
};

static int __init vexfs_init(void)
{
	if (info_size < 16 || info_size > 4096) {
		pr_err("vexfs: info_size=%u is outside 16..4096\n", info_size);
		return -EINVAL;
	}
	return register_filesystem(&vexfs_type);
}

static void __exit vexfs_exit(void)
{
	unregister_filesystem(&vexfs_type);
}

module_init(vexfs_init);
module_exit(vexfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VexFS: a small in-memory filesystem");
MODULE_ALIAS_FS("vexfs");
