// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS: a small in-memory filesystem whose files may carry integer vectors.
 *
 *   mount -t vexfs none DIR -o max_files=N,max_bytes=M,dim=D,vtype=int8|int16
 *
 * max_files bounds the inodes users create, max_bytes what they store: file sizes,
 * symlink targets, extended attribute names and values, vectors (k/m/g suffixes
 * accepted). Both give -ENOSPC when reached and can change on remount. dim and
 * vtype describe the vectors (xattr user.vexfs.vec, see include/uapi/vexfs.h) and
 * are fixed for the life of the mount. Defaults: max_files=65536, max_bytes=64m,
 * dim=8, vtype=int8. The root directory holds "info", a read-only file describing
 * the mount; per-mount statistics live in debugfs under vexfs/<major>:<minor>/stats.
 */
#include <linux/debugfs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/init.h>
#include <linux/kdev_t.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/statfs.h>
#include <linux/string.h>

#include "vexfs.h"

static char *greeting = "hello from vexfs";
module_param(greeting, charp, 0444);
MODULE_PARM_DESC(greeting, "text the info file starts with");

static unsigned int info_size = 256;
module_param(info_size, uint, 0444);
MODULE_PARM_DESC(info_size, "size of the info buffer in bytes (16..4096)");

#define VEXFS_DEFAULT_MAX_FILES	65536
#define VEXFS_DEFAULT_MAX_BYTES	(64ULL << 20)
#define VEXFS_DEFAULT_DIM	8

static struct dentry *vexfs_debugfs_root;

/* Limits */

int vexfs_charge(struct vexfs_sb_info *sbi, u64 files, u64 bytes)
{
	int err = 0;

	spin_lock(&sbi->lock);
	/* written as differences so that no sum can overflow */
	if (files > sbi->opts.max_files - sbi->files ||
	    bytes > sbi->opts.max_bytes - sbi->bytes) {
		err = -ENOSPC;
	} else {
		sbi->files += files;
		sbi->bytes += bytes;
	}
	spin_unlock(&sbi->lock);
	return err;
}

void vexfs_uncharge(struct vexfs_sb_info *sbi, u64 files, u64 bytes)
{
	spin_lock(&sbi->lock);
	WARN_ON_ONCE(files > sbi->files || bytes > sbi->bytes);
	sbi->files -= min(files, sbi->files);
	sbi->bytes -= min(bytes, sbi->bytes);
	spin_unlock(&sbi->lock);
}

/* Mount options */

enum { Opt_max_files, Opt_max_bytes, Opt_dim, Opt_vtype };

#define VEXFS_GIVEN(opt)	BIT(opt)

static const struct constant_table vexfs_vtypes[] = {
	{ "int8",	VEXFS_VTYPE_INT8 },
	{ "int16",	VEXFS_VTYPE_INT16 },
	{}
};

static const struct fs_parameter_spec vexfs_param_specs[] = {
	fsparam_u32("max_files", Opt_max_files),
	fsparam_string("max_bytes", Opt_max_bytes),
	fsparam_u32("dim", Opt_dim),
	fsparam_enum("vtype", Opt_vtype, vexfs_vtypes),
	{}
};

struct vexfs_fs_context {
	struct vexfs_opts opts;
	unsigned long given;	/* VEXFS_GIVEN() bits of the options the user passed */
};

static int vexfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	char *end;
	int opt;

	/* unknown keys come back as -ENOPARAM: the VFS takes "source" and rejects the rest */
	opt = fs_parse(fc, vexfs_param_specs, param, &result);
	if (opt < 0)
		return opt;

	switch (opt) {
	case Opt_max_files:
		ctx->opts.max_files = result.uint_32;
		break;
	case Opt_max_bytes:
		ctx->opts.max_bytes = memparse(param->string, &end);
		if (end == param->string || *end)
			return invalfc(fc, "max_bytes: '%s' is not a size", param->string);
		break;
	case Opt_dim:
		if (result.uint_32 < 1 || result.uint_32 > VEXFS_MAX_DIM)
			return invalfc(fc, "dim must be 1..%u", VEXFS_MAX_DIM);
		ctx->opts.dim = result.uint_32;
		break;
	case Opt_vtype:
		ctx->opts.vtype = result.uint_32;
		break;
	}
	ctx->given |= VEXFS_GIVEN(opt);
	return 0;
}

static const char *vexfs_vtype_name(u32 vtype)
{
	return vtype == VEXFS_VTYPE_INT16 ? "int16" : "int8";
}

static int vexfs_show_options(struct seq_file *m, struct dentry *root)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(root->d_sb);
	struct vexfs_opts opts;

	spin_lock(&sbi->lock);
	opts = sbi->opts;
	spin_unlock(&sbi->lock);
	seq_printf(m, ",max_files=%u,max_bytes=%llu,dim=%u,vtype=%s", opts.max_files,
		   opts.max_bytes, opts.dim, vexfs_vtype_name(opts.vtype));
	return 0;
}

/* statfs counts in bytes (f_frsize 1) so that used and free space are exact */
static int vexfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dentry->d_sb);

	buf->f_type = VEXFS_MAGIC;
	buf->f_bsize = PAGE_SIZE;
	buf->f_frsize = 1;
	buf->f_namelen = NAME_MAX;
	spin_lock(&sbi->lock);
	buf->f_blocks = sbi->opts.max_bytes;
	buf->f_bfree = sbi->opts.max_bytes - sbi->bytes;
	buf->f_bavail = buf->f_bfree;
	buf->f_files = sbi->opts.max_files;
	buf->f_ffree = sbi->opts.max_files - sbi->files;
	spin_unlock(&sbi->lock);
	return 0;
}

static const struct super_operations vexfs_super_ops = {
	.alloc_inode	= vexfs_alloc_inode,
	.free_inode	= vexfs_free_inode,
	.evict_inode	= vexfs_evict_inode,
	.statfs		= vexfs_statfs,
	.show_options	= vexfs_show_options,
};

/* Statistics */

static int vexfs_stats_show(struct seq_file *m, void *unused)
{
	struct vexfs_sb_info *sbi = m->private;
	u64 files, bytes, max_bytes;
	u32 max_files;

	spin_lock(&sbi->lock);
	files = sbi->files;
	bytes = sbi->bytes;
	max_files = sbi->opts.max_files;
	max_bytes = sbi->opts.max_bytes;
	spin_unlock(&sbi->lock);
	seq_printf(m, "files %llu\nmax_files %u\nbytes %llu\nmax_bytes %llu\n",
		   files, max_files, bytes, max_bytes);
	seq_printf(m, "vectors %llu\nqueries %lld\n", READ_ONCE(sbi->nr_vectors),
		   (long long)atomic64_read(&sbi->queries));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vexfs_stats);

/* Statistics are a convenience: a mount without them (no debugfs) still works. */
static void vexfs_debugfs_add(struct super_block *sb)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	char name[32];

	snprintf(name, sizeof(name), "%u:%u", MAJOR(sb->s_dev), MINOR(sb->s_dev));
	sbi->debugfs = debugfs_create_dir(name, vexfs_debugfs_root);
	debugfs_create_file("stats", 0444, sbi->debugfs, sbi, &vexfs_stats_fops);
}

/* Superblock */

static const struct file_operations vexfs_info_fops;

static int vexfs_add_info(struct super_block *sb)
{
	struct dentry *dentry;
	struct inode *inode;

	inode = vexfs_new_inode(VEXFS_NOP_IDMAP sb, d_inode(sb->s_root), S_IFREG | 0444, 0, false);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	inode->i_fop = &vexfs_info_fops;
	dentry = d_alloc_name(sb->s_root, "info");
	if (!dentry) {
		iput(inode);
		return -ENOMEM;
	}
	vexfs_make_persistent(dentry, inode);
	dput(dentry);
	return 0;
}

static int vexfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	struct vexfs_sb_info *sbi;
	struct inode *root;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	/* from here on vexfs_kill_sb cleans up whatever fails */
	sb->s_fs_info = sbi;
	spin_lock_init(&sbi->lock);
	mutex_init(&sbi->vec_lock);
	INIT_LIST_HEAD(&sbi->vectors);
	atomic64_set(&sbi->queries, 0);
	sbi->opts = ctx->opts;

	sbi->info = kmalloc(info_size, GFP_KERNEL);
	if (!sbi->info)
		return -ENOMEM;
	sbi->info_len = scnprintf(sbi->info, info_size, "%s\nsource=%s\n", greeting,
				  fc->source ?: "none");

	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_magic = VEXFS_MAGIC;
	sb->s_op = &vexfs_super_ops;
	sb->s_xattr = vexfs_xattr_handlers;
	sb->s_time_gran = 1;

	root = vexfs_new_inode(VEXFS_NOP_IDMAP sb, NULL, S_IFDIR | 0755, 0, false);
	if (IS_ERR(root))
		return PTR_ERR(root);
	sb->s_root = d_make_root(root);
	if (!sb->s_root)
		return -ENOMEM;
	vexfs_debugfs_add(sb);
	return vexfs_add_info(sb);
}

static int vexfs_get_tree(struct fs_context *fc)
{
	return get_tree_nodev(fc, vexfs_fill_super);
}

/* Remount may move the limits, but not below what is in use; dim and vtype stay. */
static int vexfs_reconfigure(struct fs_context *fc)
{
	struct vexfs_fs_context *ctx = fc->fs_private;
	struct vexfs_sb_info *sbi = VEXFS_SB(fc->root->d_sb);
	struct vexfs_opts *want = &ctx->opts;
	int err = 0;

	if (((ctx->given & VEXFS_GIVEN(Opt_dim)) && want->dim != sbi->opts.dim) ||
	    ((ctx->given & VEXFS_GIVEN(Opt_vtype)) && want->vtype != sbi->opts.vtype))
		return invalfc(fc, "dim and vtype cannot change on remount");

	spin_lock(&sbi->lock);
	if ((ctx->given & VEXFS_GIVEN(Opt_max_files)) && want->max_files < sbi->files)
		err = -EINVAL;
	else if ((ctx->given & VEXFS_GIVEN(Opt_max_bytes)) && want->max_bytes < sbi->bytes)
		err = -EINVAL;
	if (!err && (ctx->given & VEXFS_GIVEN(Opt_max_files)))
		sbi->opts.max_files = want->max_files;
	if (!err && (ctx->given & VEXFS_GIVEN(Opt_max_bytes)))
		sbi->opts.max_bytes = want->max_bytes;
	spin_unlock(&sbi->lock);
	if (err)
		return invalfc(fc, "limits below what is in use");
	return 0;
}

static void vexfs_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations vexfs_context_ops = {
	.free		= vexfs_free_fc,
	.parse_param	= vexfs_parse_param,
	.get_tree	= vexfs_get_tree,
	.reconfigure	= vexfs_reconfigure,
};

static int vexfs_init_fs_context(struct fs_context *fc)
{
	struct vexfs_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->opts.max_files = VEXFS_DEFAULT_MAX_FILES;
	ctx->opts.max_bytes = VEXFS_DEFAULT_MAX_BYTES;
	ctx->opts.dim = VEXFS_DEFAULT_DIM;
	ctx->opts.vtype = VEXFS_VTYPE_INT8;
	fc->fs_private = ctx;
	fc->ops = &vexfs_context_ops;
	return 0;
}

static void vexfs_kill_sb(struct super_block *sb)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);

	/* first, so that no reader of stats outlives sbi */
	if (sbi)
		debugfs_remove_recursive(sbi->debugfs);
	/* evicts every inode, which still uses sbi */
	vexfs_kill_litter(sb);
	if (sbi) {
		kfree(sbi->info);
		kfree(sbi);
	}
}

static struct file_system_type vexfs_type = {
	.owner			= THIS_MODULE,
	.name			= "vexfs",
	.init_fs_context	= vexfs_init_fs_context,
	.parameters		= vexfs_param_specs,
	.kill_sb		= vexfs_kill_sb,
};

/* The info file */

static ssize_t vexfs_info_read(struct file *file, char __user *buf, size_t count, loff_t *pos)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(file_inode(file)->i_sb);

	return simple_read_from_buffer(buf, count, pos, sbi->info, sbi->info_len);
}

static const struct file_operations vexfs_info_fops = {
	.owner	= THIS_MODULE,
	.read	= vexfs_info_read,
	.llseek	= default_llseek,
};

/* Module */

static void vexfs_inode_init_once(void *obj)
{
	struct vexfs_inode *vi = obj;

	inode_init_once(&vi->vfs_inode);
}

static int __init vexfs_init(void)
{
	int err;

	if (info_size < 16 || info_size > 4096) {
		pr_err("vexfs: info_size=%u is outside 16..4096\n", info_size);
		return -EINVAL;
	}
	vexfs_inode_cachep = kmem_cache_create("vexfs_inode_cache", sizeof(struct vexfs_inode),
					       0, SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
					       vexfs_inode_init_once);
	if (!vexfs_inode_cachep)
		return -ENOMEM;
	vexfs_debugfs_root = debugfs_create_dir("vexfs", NULL);
	err = register_filesystem(&vexfs_type);
	if (err) {
		debugfs_remove_recursive(vexfs_debugfs_root);
		kmem_cache_destroy(vexfs_inode_cachep);
	}
	return err;
}

static void __exit vexfs_exit(void)
{
	unregister_filesystem(&vexfs_type);
	/* inodes are freed after an RCU grace period: wait for them */
	rcu_barrier();
	kmem_cache_destroy(vexfs_inode_cachep);
	debugfs_remove_recursive(vexfs_debugfs_root);
}

module_init(vexfs_init);
module_exit(vexfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("VexFS: a small in-memory filesystem with integer vectors");
MODULE_ALIAS_FS("vexfs");
