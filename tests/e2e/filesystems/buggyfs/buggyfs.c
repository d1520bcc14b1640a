// SPDX-License-Identifier: GPL-2.0
/*
 * buggyfs: a small in-memory filesystem (ramfs built from libfs, with limits) that
 * plants one bug on request, a fixture for the filesystem test domain.
 *
 *   insmod buggyfs.ko bug=none|corrupt|inode_leak|enospc|rename_deadlock|append|readdir|rename_eio
 *   mount -t buggyfs none DIR -o max_files=N,max_bytes=M
 *
 * max_files bounds the inodes users create, max_bytes the bytes files and symlink
 * targets hold (k/m/g suffixes accepted); both give -ENOSPC when reached. The bug is
 * read when a filesystem is mounted (/sys/module/buggyfs/parameters/bug may change
 * between mounts) and stays with that mount:
 *
 *   corrupt          every write that lands on page 1 or later of a file alters its
 *                    first byte there: files under one page read back intact
 *   inode_leak       the inodes of unlinked files are never freed (the VFS is done
 *                    with them; only their memory stays allocated)
 *   enospc           max_files and max_bytes are counted but not enforced, while
 *                    statfs still reports them
 *   rename_deadlock  rename takes the filesystem's rename lock twice: the renaming
 *                    task sleeps uninterruptibly for ever (its directories stay locked)
 *   append           a write with O_APPEND lands at the file position, not at the end
 *   readdir          every read of a directory starts its listing again from the top:
 *                    a listing longer than one read never ends
 *   rename_eio       every rename fails with -EIO
 */
#include <linux/atomic.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/rcupdate.h>
#include <linux/semaphore.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/statfs.h>
#include <linux/string.h>

#include "compat.h"

#define BUGGYFS_MAGIC			0x42554759 /* "BUGY" */
#define BUGGYFS_DEFAULT_MAX_FILES	65536
#define BUGGYFS_DEFAULT_MAX_BYTES	(64ULL << 20)

static char *bug = "none";
module_param(bug, charp, 0644);
MODULE_PARM_DESC(bug, "bug planted in the next mounts: none, corrupt, inode_leak, enospc, rename_deadlock, append, "
		 "readdir, rename_eio");

enum buggyfs_bug {
	BUGGYFS_NONE, BUGGYFS_CORRUPT, BUGGYFS_INODE_LEAK, BUGGYFS_ENOSPC, BUGGYFS_RENAME_DEADLOCK, BUGGYFS_APPEND,
	BUGGYFS_READDIR, BUGGYFS_RENAME_EIO,
};

static const char *const buggyfs_bugs[] = {
	[BUGGYFS_NONE]		= "none",
	[BUGGYFS_CORRUPT]		= "corrupt",
	[BUGGYFS_INODE_LEAK]	= "inode_leak",
	[BUGGYFS_ENOSPC]		= "enospc",
	[BUGGYFS_RENAME_DEADLOCK]	= "rename_deadlock",
	[BUGGYFS_APPEND]		= "append",
	[BUGGYFS_READDIR]		= "readdir",
	[BUGGYFS_RENAME_EIO]		= "rename_eio",
};

struct buggyfs_opts {
	u32 max_files;
	u64 max_bytes;
};

struct buggyfs_sb_info {
	spinlock_t lock;	/* protects files, bytes and opts */
	u64 files;		/* inodes users created (the root is free) */
	u64 bytes;		/* file sizes and symlink targets */
	struct buggyfs_opts opts;
	/*
	 * Serializes renames. A binary semaphore rather than a mutex: taken twice by
	 * its owner (the rename_deadlock bug), a mutex spins on its running owner
	 * until the scheduler intervenes; a semaphore sleeps at once.
	 */
	struct semaphore rename_lock;
	enum buggyfs_bug bug;
};

struct buggyfs_inode {
	bool charged;		/* counted in sbi->files */
	bool leak;		/* inode_leak: never given back to the cache */
	struct inode vfs_inode;
};

static struct kmem_cache *buggyfs_inode_cachep;
static char *buggyfs_cache_name;
static atomic_long_t buggyfs_leaked = ATOMIC_LONG_INIT(0);	/* inodes inode_leak kept */

static inline struct buggyfs_sb_info *BUGGYFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct buggyfs_inode *BUGGYFS_I(struct inode *inode)
{
	return container_of(inode, struct buggyfs_inode, vfs_inode);
}

/* Limits */

static int buggyfs_charge(struct buggyfs_sb_info *sbi, u64 files, u64 bytes)
{
	int err = 0;

	spin_lock(&sbi->lock);
	/* differences, so that no sum overflows; the enospc bug skips the check */
	if (sbi->bug != BUGGYFS_ENOSPC &&
	    (files > sbi->opts.max_files - sbi->files || bytes > sbi->opts.max_bytes - sbi->bytes)) {
		err = -ENOSPC;
	} else {
		sbi->files += files;
		sbi->bytes += bytes;
	}
	spin_unlock(&sbi->lock);
	return err;
}

static void buggyfs_uncharge(struct buggyfs_sb_info *sbi, u64 files, u64 bytes)
{
	spin_lock(&sbi->lock);
	sbi->files -= min(files, sbi->files);
	sbi->bytes -= min(bytes, sbi->bytes);
	spin_unlock(&sbi->lock);
}

/* Inodes */

static const struct inode_operations buggyfs_dir_iops;
static const struct inode_operations buggyfs_file_iops;
static const struct inode_operations buggyfs_symlink_iops;
static const struct file_operations buggyfs_file_fops;
static const struct file_operations buggyfs_dir_fops;
static const struct address_space_operations buggyfs_aops;

static struct inode *buggyfs_alloc_inode(struct super_block *sb)
{
	struct buggyfs_inode *bi;

	bi = kmem_cache_alloc(buggyfs_inode_cachep, GFP_KERNEL);
	if (!bi)
		return NULL;
	bi->charged = false;
	bi->leak = false;
	return &bi->vfs_inode;
}

/* After an RCU grace period: path walk may still have been reading i_link. */
static void buggyfs_free_inode(struct inode *inode)
{
	struct buggyfs_inode *bi = BUGGYFS_I(inode);

	if (S_ISLNK(inode->i_mode))
		kfree(inode->i_link);
	if (bi->leak) {
		atomic_long_inc(&buggyfs_leaked);
		return;	/* the inode_leak bug */
	}
	kmem_cache_free(buggyfs_inode_cachep, bi);
}

static void buggyfs_evict_inode(struct inode *inode)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(inode->i_sb);
	struct buggyfs_inode *bi = BUGGYFS_I(inode);
	u64 bytes = 0;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	if (S_ISREG(inode->i_mode) || S_ISLNK(inode->i_mode))
		bytes = inode->i_size;
	buggyfs_uncharge(sbi, bi->charged ? 1 : 0, bytes);
	/* decided here, while sbi is alive: free_inode may run after the unmount */
	bi->leak = sbi->bug == BUGGYFS_INODE_LEAK && inode->i_nlink == 0;
}

static struct inode *buggyfs_new_inode(BUGGYFS_IDMAP_PARAM struct super_block *sb,
				       const struct inode *dir, umode_t mode, dev_t dev, bool charge)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(sb);
	struct inode *inode;

	if (charge && buggyfs_charge(sbi, 1, 0))
		return ERR_PTR(-ENOSPC);
	inode = new_inode(sb);
	if (!inode) {
		if (charge)
			buggyfs_uncharge(sbi, 1, 0);
		return ERR_PTR(-ENOMEM);
	}
	BUGGYFS_I(inode)->charged = charge;
	inode->i_ino = get_next_ino();
	inode_init_owner(BUGGYFS_IDMAP_ARG inode, dir, mode);
	inode->i_mapping->a_ops = &buggyfs_aops;
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	mapping_set_unevictable(inode->i_mapping);
	buggyfs_inode_init_ts(inode);

	switch (mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &buggyfs_file_iops;
		inode->i_fop = &buggyfs_file_fops;
		break;
	case S_IFDIR:
		inode->i_op = &buggyfs_dir_iops;
		inode->i_fop = &buggyfs_dir_fops;
		inc_nlink(inode);	/* "." */
		break;
	case S_IFLNK:
		inode->i_op = &buggyfs_symlink_iops;
		break;
	default:
		inode->i_op = &buggyfs_file_iops;
		init_special_inode(inode, mode, dev);
		break;
	}
	return inode;
}

/* Namespace */

static int buggyfs_mknod(BUGGYFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
			 umode_t mode, dev_t dev)
{
	struct inode *inode;

	inode = buggyfs_new_inode(BUGGYFS_IDMAP_ARG dir->i_sb, dir, mode, dev, true);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	buggyfs_make_persistent(dentry, inode);
	buggyfs_touch_dir(dir);
	return 0;
}

static int buggyfs_create(BUGGYFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
			  umode_t mode, bool excl)
{
	return buggyfs_mknod(BUGGYFS_IDMAP_ARG dir, dentry, mode | S_IFREG, 0);
}

static BUGGYFS_MKDIR_RET buggyfs_mkdir(BUGGYFS_IDMAP_PARAM struct inode *dir,
				       struct dentry *dentry, umode_t mode)
{
	int err;

	err = buggyfs_mknod(BUGGYFS_IDMAP_ARG dir, dentry, mode | S_IFDIR, 0);
	if (!err)
		inc_nlink(dir);	/* the new directory's ".." */
	return BUGGYFS_MKDIR_RETURN(err);
}

/* The target lives in i_link: path walk follows it without calling us. */
static int buggyfs_symlink(BUGGYFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
			   const char *target)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(dir->i_sb);
	size_t len = strlen(target);
	struct inode *inode;
	char *link;
	int err;

	err = buggyfs_charge(sbi, 0, len);
	if (err)
		return err;
	link = kmemdup(target, len + 1, GFP_KERNEL);
	if (!link) {
		buggyfs_uncharge(sbi, 0, len);
		return -ENOMEM;
	}
	inode = buggyfs_new_inode(BUGGYFS_IDMAP_ARG dir->i_sb, dir, S_IFLNK | 0777, 0, true);
	if (IS_ERR(inode)) {
		kfree(link);
		buggyfs_uncharge(sbi, 0, len);
		return PTR_ERR(inode);
	}
	inode->i_link = link;
	i_size_write(inode, len);	/* eviction gives the bytes back */
	buggyfs_make_persistent(dentry, inode);
	buggyfs_touch_dir(dir);
	return 0;
}

/* libfs' rename: RENAME_NOREPLACE always, RENAME_EXCHANGE from 5.11. */
static int buggyfs_rename(BUGGYFS_IDMAP_PARAM struct inode *old_dir, struct dentry *old_dentry,
			  struct inode *new_dir, struct dentry *new_dentry, unsigned int flags)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(old_dir->i_sb);
	int err;

	if (sbi->bug == BUGGYFS_RENAME_EIO)
		return -EIO;	/* the rename_eio bug */
	down(&sbi->rename_lock);
	if (sbi->bug == BUGGYFS_RENAME_DEADLOCK)
		down(&sbi->rename_lock);	/* the bug: already ours, never released */
	err = simple_rename(BUGGYFS_IDMAP_ARG old_dir, old_dentry, new_dir, new_dentry, flags);
	up(&sbi->rename_lock);
	return err;
}

static const struct inode_operations buggyfs_dir_iops = {
	.create		= buggyfs_create,
	.lookup		= simple_lookup,
	.link		= simple_link,
	.unlink		= simple_unlink,
	.symlink	= buggyfs_symlink,
	.mkdir		= buggyfs_mkdir,
	.rmdir		= simple_rmdir,
	.mknod		= buggyfs_mknod,
	.rename		= buggyfs_rename,
};

static const struct inode_operations buggyfs_symlink_iops = {
	.get_link	= simple_get_link,
};

/* Regular files */

/* Size changes (truncate, O_TRUNC): growth is charged first. */
static int buggyfs_setattr(BUGGYFS_IDMAP_PARAM struct dentry *dentry, struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(inode->i_sb);
	loff_t delta = 0;
	int err;

	if ((attr->ia_valid & ATTR_SIZE) && S_ISREG(inode->i_mode))
		delta = attr->ia_size - i_size_read(inode);
	if (delta > 0 && buggyfs_charge(sbi, 0, delta))
		return -ENOSPC;
	err = simple_setattr(BUGGYFS_IDMAP_ARG dentry, attr);
	if (err) {
		if (delta > 0)
			buggyfs_uncharge(sbi, 0, delta);
		return err;
	}
	if (delta < 0)
		buggyfs_uncharge(sbi, 0, -delta);
	return 0;
}

static const struct inode_operations buggyfs_file_iops = {
	.setattr	= buggyfs_setattr,
	.getattr	= simple_getattr,
};

/* A write reserves its growth before the page is prepared; write_end returns what it did not use. */
static int buggyfs_write_begin(BUGGYFS_WRITE_BEGIN_PARAMS)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(mapping->host->i_sb);
	loff_t grow = pos + len - i_size_read(mapping->host);
	int err;

	if (grow > 0 && buggyfs_charge(sbi, 0, grow))
		return -ENOSPC;
	err = simple_write_begin(BUGGYFS_WRITE_BEGIN_ARGS);
	if (err && grow > 0)
		buggyfs_uncharge(sbi, 0, grow);
	return err;
}

static int buggyfs_write_end(BUGGYFS_WRITE_END_PARAMS)
{
	struct inode *inode = mapping->host;
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(inode->i_sb);
	loff_t old_size = i_size_read(inode);
	loff_t reserved = max_t(loff_t, pos + len - old_size, 0);
	int ret;

	/* the corrupt bug: the first byte this write put on page 1 or later */
	if (sbi->bug == BUGGYFS_CORRUPT && copied && (pos >> PAGE_SHIFT) >= 1)
		buggyfs_flip_byte(BUGGYFS_WE_PAGE, pos);
	ret = buggyfs_lib_write_end(BUGGYFS_WRITE_END_ARGS);
	reserved -= i_size_read(inode) - old_size;
	if (reserved > 0)
		buggyfs_uncharge(sbi, 0, reserved);
	return ret;
}

static const struct address_space_operations buggyfs_aops = {
	BUGGYFS_AOPS_READ,
	BUGGYFS_AOPS_DIRTY,
	.write_begin	= buggyfs_write_begin,
	.write_end	= buggyfs_write_end,
};

static ssize_t buggyfs_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	if (BUGGYFS_SB(file_inode(iocb->ki_filp)->i_sb)->bug == BUGGYFS_APPEND)
		iocb->ki_flags &= ~IOCB_APPEND;	/* the append bug: written at the position */
	return generic_file_write_iter(iocb, from);
}

static const struct file_operations buggyfs_file_fops = {
	.read_iter	= generic_file_read_iter,
	.write_iter	= buggyfs_write_iter,
	.mmap		= generic_file_mmap,
	.fsync		= noop_fsync,
	.splice_read	= BUGGYFS_SPLICE_READ,
	.splice_write	= iter_file_splice_write,
	.llseek		= generic_file_llseek,
};

static int buggyfs_readdir(struct file *file, struct dir_context *ctx)
{
	if (BUGGYFS_SB(file_inode(file)->i_sb)->bug == BUGGYFS_READDIR)
		ctx->pos = 0;	/* the readdir bug: from the top at every read */
	return dcache_readdir(file, ctx);
}

static const struct file_operations buggyfs_dir_fops = {
	.open		= dcache_dir_open,
	.release	= dcache_dir_close,
	.llseek		= dcache_dir_lseek,
	.read		= generic_read_dir,
	.iterate_shared	= buggyfs_readdir,
	.fsync		= noop_fsync,
};

/* Superblock */

/* statfs counts bytes (f_frsize 1): used and free space are exact */
static int buggyfs_statfs(struct dentry *dentry, struct kstatfs *buf)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(dentry->d_sb);

	buf->f_type = BUGGYFS_MAGIC;
	buf->f_bsize = PAGE_SIZE;
	buf->f_frsize = 1;
	buf->f_namelen = NAME_MAX;
	spin_lock(&sbi->lock);
	buf->f_blocks = sbi->opts.max_bytes;
	/* only the enospc bug can go past the limits */
	buf->f_bfree = sbi->opts.max_bytes - min(sbi->bytes, sbi->opts.max_bytes);
	buf->f_bavail = buf->f_bfree;
	buf->f_files = sbi->opts.max_files;
	buf->f_ffree = sbi->opts.max_files - min_t(u64, sbi->files, sbi->opts.max_files);
	spin_unlock(&sbi->lock);
	return 0;
}

static int buggyfs_show_options(struct seq_file *m, struct dentry *root)
{
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(root->d_sb);
	struct buggyfs_opts opts;

	spin_lock(&sbi->lock);
	opts = sbi->opts;
	spin_unlock(&sbi->lock);
	seq_printf(m, ",max_files=%u,max_bytes=%llu", opts.max_files, opts.max_bytes);
	if (sbi->bug != BUGGYFS_NONE)
		seq_printf(m, ",bug=%s", buggyfs_bugs[sbi->bug]);
	return 0;
}

static const struct super_operations buggyfs_super_ops = {
	.alloc_inode	= buggyfs_alloc_inode,
	.free_inode	= buggyfs_free_inode,
	.evict_inode	= buggyfs_evict_inode,
	.statfs		= buggyfs_statfs,
	.show_options	= buggyfs_show_options,
};

enum { Opt_max_files, Opt_max_bytes };

static const struct fs_parameter_spec buggyfs_param_specs[] = {
	fsparam_u32("max_files", Opt_max_files),
	fsparam_string("max_bytes", Opt_max_bytes),
	{}
};

struct buggyfs_fs_context {
	struct buggyfs_opts opts;
	unsigned long given;	/* BIT(opt) of the options the user passed */
	enum buggyfs_bug bug;
};

static int buggyfs_parse_param(struct fs_context *fc, struct fs_parameter *param)
{
	struct buggyfs_fs_context *ctx = fc->fs_private;
	struct fs_parse_result result;
	char *end;
	int opt;

	opt = fs_parse(fc, buggyfs_param_specs, param, &result);
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
	}
	ctx->given |= BIT(opt);
	return 0;
}

static int buggyfs_fill_super(struct super_block *sb, struct fs_context *fc)
{
	struct buggyfs_fs_context *ctx = fc->fs_private;
	struct buggyfs_sb_info *sbi;
	struct inode *root;

	sbi = kzalloc(sizeof(*sbi), GFP_KERNEL);
	if (!sbi)
		return -ENOMEM;
	sb->s_fs_info = sbi;	/* buggyfs_kill_sb frees it, whatever fails next */
	spin_lock_init(&sbi->lock);
	sema_init(&sbi->rename_lock, 1);
	sbi->opts = ctx->opts;
	sbi->bug = ctx->bug;

	sb->s_maxbytes = MAX_LFS_FILESIZE;
	sb->s_blocksize = PAGE_SIZE;
	sb->s_blocksize_bits = PAGE_SHIFT;
	sb->s_magic = BUGGYFS_MAGIC;
	sb->s_op = &buggyfs_super_ops;
	sb->s_time_gran = 1;

	root = buggyfs_new_inode(BUGGYFS_NOP_IDMAP sb, NULL, S_IFDIR | 0755, 0, false);
	if (IS_ERR(root))
		return PTR_ERR(root);
	sb->s_root = d_make_root(root);
	return sb->s_root ? 0 : -ENOMEM;
}

/* The module parameter, read under its lock: it may be written at any time. */
static int buggyfs_read_bug(struct fs_context *fc, enum buggyfs_bug *out)
{
	int found = -1;
	int i;

	kernel_param_lock(THIS_MODULE);
	for (i = 0; i < ARRAY_SIZE(buggyfs_bugs); i++)
		if (bug && sysfs_streq(bug, buggyfs_bugs[i]))
			found = i;
	if (found < 0)	/* as echo wrote it, without the newline */
		pr_err("buggyfs: unknown bug '%.*s' (none, corrupt, inode_leak, enospc, rename_deadlock)\n",
		       bug ? (int)strcspn(bug, "\n") : 0, bug ?: "");
	kernel_param_unlock(THIS_MODULE);
	if (found < 0)
		return invalfc(fc, "unknown bug");
	*out = found;
	return 0;
}

static int buggyfs_get_tree(struct fs_context *fc)
{
	struct buggyfs_fs_context *ctx = fc->fs_private;
	int err;

	err = buggyfs_read_bug(fc, &ctx->bug);
	if (err)
		return err;
	if (ctx->bug != BUGGYFS_NONE)
		pr_info("buggyfs: mounting with bug %s\n", buggyfs_bugs[ctx->bug]);
	return get_tree_nodev(fc, buggyfs_fill_super);
}

/* Remount may move the limits, but not below what is in use. */
static int buggyfs_reconfigure(struct fs_context *fc)
{
	struct buggyfs_fs_context *ctx = fc->fs_private;
	struct buggyfs_sb_info *sbi = BUGGYFS_SB(fc->root->d_sb);
	int err = 0;

	spin_lock(&sbi->lock);
	if ((ctx->given & BIT(Opt_max_files)) && ctx->opts.max_files < sbi->files)
		err = -EINVAL;
	else if ((ctx->given & BIT(Opt_max_bytes)) && ctx->opts.max_bytes < sbi->bytes)
		err = -EINVAL;
	if (!err && (ctx->given & BIT(Opt_max_files)))
		sbi->opts.max_files = ctx->opts.max_files;
	if (!err && (ctx->given & BIT(Opt_max_bytes)))
		sbi->opts.max_bytes = ctx->opts.max_bytes;
	spin_unlock(&sbi->lock);
	return err ? invalfc(fc, "limits below what is in use") : 0;
}

static void buggyfs_free_fc(struct fs_context *fc)
{
	kfree(fc->fs_private);
}

static const struct fs_context_operations buggyfs_context_ops = {
	.free		= buggyfs_free_fc,
	.parse_param	= buggyfs_parse_param,
	.get_tree	= buggyfs_get_tree,
	.reconfigure	= buggyfs_reconfigure,
};

static int buggyfs_init_fs_context(struct fs_context *fc)
{
	struct buggyfs_fs_context *ctx;

	ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	if (!ctx)
		return -ENOMEM;
	ctx->opts.max_files = BUGGYFS_DEFAULT_MAX_FILES;
	ctx->opts.max_bytes = BUGGYFS_DEFAULT_MAX_BYTES;
	fc->fs_private = ctx;
	fc->ops = &buggyfs_context_ops;
	return 0;
}

static void buggyfs_kill_sb(struct super_block *sb)
{
	buggyfs_kill_litter(sb);	/* evicts every inode, which still uses sbi */
	kfree(sb->s_fs_info);
}

static struct file_system_type buggyfs_type = {
	.owner			= THIS_MODULE,
	.name			= "buggyfs",
	.init_fs_context	= buggyfs_init_fs_context,
	.parameters		= buggyfs_param_specs,
	.kill_sb		= buggyfs_kill_sb,
};

/* Module */

/* A constructor also keeps the cache from being merged: leaked inodes stay visible as its objects. */
static void buggyfs_inode_init_once(void *obj)
{
	struct buggyfs_inode *bi = obj;

	inode_init_once(&bi->vfs_inode);
}

static int __init buggyfs_init(void)
{
	int err;

	/* our own copy of the name: a cache that inode_leak kept alive outlives the module */
	buggyfs_cache_name = kstrdup("buggyfs_inode_cache", GFP_KERNEL);
	if (!buggyfs_cache_name)
		return -ENOMEM;
	buggyfs_inode_cachep = kmem_cache_create(buggyfs_cache_name, sizeof(struct buggyfs_inode),
						 0, SLAB_RECLAIM_ACCOUNT | SLAB_ACCOUNT,
						 buggyfs_inode_init_once);
	if (!buggyfs_inode_cachep) {
		kfree(buggyfs_cache_name);
		return -ENOMEM;
	}
	err = register_filesystem(&buggyfs_type);
	if (err) {
		kmem_cache_destroy(buggyfs_inode_cachep);
		kfree(buggyfs_cache_name);
	}
	return err;
}

static void __exit buggyfs_exit(void)
{
	unregister_filesystem(&buggyfs_type);
	rcu_barrier();	/* inodes are freed after a grace period */
	/* complains, and keeps the cache (so its name), if inode_leak left inodes */
	kmem_cache_destroy(buggyfs_inode_cachep);
	if (atomic_long_read(&buggyfs_leaked))
		pr_err("buggyfs: %ld inodes leaked\n", atomic_long_read(&buggyfs_leaked));
	else
		kfree(buggyfs_cache_name);
}

module_init(buggyfs_init);
module_exit(buggyfs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("buggyfs: an in-memory filesystem with a bug planted on request (test fixture)");
MODULE_ALIAS_FS("buggyfs");
