// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS inodes: page-cache regular files, directories, symlinks and special files,
 * built from libfs the way ramfs is, with the mount's limits charged on the way:
 * one file per inode a user creates, and every byte a file or symlink grows by.
 */
#include <linux/fs.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "vexfs.h"

struct kmem_cache *vexfs_inode_cachep;

static const struct inode_operations vexfs_dir_iops;
static const struct inode_operations vexfs_file_iops;
static const struct inode_operations vexfs_symlink_iops;
static const struct file_operations vexfs_file_fops;
static const struct address_space_operations vexfs_aops;

/* Inode life cycle */

struct inode *vexfs_alloc_inode(struct super_block *sb)
{
	struct vexfs_inode *vi;

	vi = kmem_cache_alloc(vexfs_inode_cachep, GFP_KERNEL);
	if (!vi)
		return NULL;
	spin_lock_init(&vi->xattr_lock);
	INIT_LIST_HEAD(&vi->xattrs);
	vi->vec = NULL;
	INIT_LIST_HEAD(&vi->vec_node);
	vi->charged = false;
	return &vi->vfs_inode;
}

/* Runs after an RCU grace period: path walk may still have been reading i_link. */
void vexfs_free_inode(struct inode *inode)
{
	if (S_ISLNK(inode->i_mode))
		kfree(inode->i_link);
	kmem_cache_free(vexfs_inode_cachep, VEXFS_I(inode));
}

void vexfs_evict_inode(struct inode *inode)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode *vi = VEXFS_I(inode);
	u64 bytes = 0;

	truncate_inode_pages_final(&inode->i_data);
	clear_inode(inode);
	vexfs_xattrs_drop(sbi, vi);
	if (S_ISREG(inode->i_mode) || S_ISLNK(inode->i_mode))
		bytes = inode->i_size;
	vexfs_uncharge(sbi, vi->charged ? 1 : 0, bytes);
}

/*
 * A new inode of any type. charge counts it against max_files; the root directory
 * and the info file are the filesystem's own and do not count.
 */
struct inode *vexfs_new_inode(VEXFS_IDMAP_PARAM struct super_block *sb,
			      const struct inode *dir, umode_t mode, dev_t dev, bool charge)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(sb);
	struct inode *inode;

	if (charge && vexfs_charge(sbi, 1, 0))
		return ERR_PTR(-ENOSPC);
	inode = new_inode(sb);
	if (!inode) {
		if (charge)
			vexfs_uncharge(sbi, 1, 0);
		return ERR_PTR(-ENOMEM);
	}
	VEXFS_I(inode)->charged = charge;
	inode->i_ino = get_next_ino();
	inode_init_owner(VEXFS_IDMAP_ARG inode, dir, mode);
	inode->i_mapping->a_ops = &vexfs_aops;
	mapping_set_gfp_mask(inode->i_mapping, GFP_HIGHUSER);
	/* there is no backing store: the page cache is the data */
	mapping_set_unevictable(inode->i_mapping);
	vexfs_inode_init_ts(inode);

	switch (mode & S_IFMT) {
	case S_IFREG:
		inode->i_op = &vexfs_file_iops;
		inode->i_fop = &vexfs_file_fops;
		break;
	case S_IFDIR:
		inode->i_op = &vexfs_dir_iops;
		inode->i_fop = &vexfs_dir_fops;
		/* "." */
		inc_nlink(inode);
		break;
	case S_IFLNK:
		inode->i_op = &vexfs_symlink_iops;
		break;
	default:
		inode->i_op = &vexfs_file_iops;
		init_special_inode(inode, mode, dev);
		break;
	}
	return inode;
}

/* Namespace */

static int vexfs_mknod(VEXFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
		       umode_t mode, dev_t dev)
{
	struct inode *inode;

	inode = vexfs_new_inode(VEXFS_IDMAP_ARG dir->i_sb, dir, mode, dev, true);
	if (IS_ERR(inode))
		return PTR_ERR(inode);
	vexfs_make_persistent(dentry, inode);
	vexfs_touch_dir(dir);
	return 0;
}

static int vexfs_create(VEXFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
			umode_t mode, bool excl)
{
	return vexfs_mknod(VEXFS_IDMAP_ARG dir, dentry, mode | S_IFREG, 0);
}

static VEXFS_MKDIR_RET vexfs_mkdir(VEXFS_IDMAP_PARAM struct inode *dir,
				   struct dentry *dentry, umode_t mode)
{
	int err;

	err = vexfs_mknod(VEXFS_IDMAP_ARG dir, dentry, mode | S_IFDIR, 0);
	if (!err)
		inc_nlink(dir);	/* the new directory's ".." */
	return VEXFS_MKDIR_RETURN(err);
}

/* The target is kept in i_link, so path walk follows it without calling us. */
static int vexfs_symlink(VEXFS_IDMAP_PARAM struct inode *dir, struct dentry *dentry,
			 const char *target)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	size_t len = strlen(target);
	struct inode *inode;
	char *link;
	int err;

	err = vexfs_charge(sbi, 0, len);
	if (err)
		return err;
	link = kmemdup(target, len + 1, GFP_KERNEL);
	if (!link) {
		vexfs_uncharge(sbi, 0, len);
		return -ENOMEM;
	}
	inode = vexfs_new_inode(VEXFS_IDMAP_ARG dir->i_sb, dir, S_IFLNK | 0777, 0, true);
	if (IS_ERR(inode)) {
		kfree(link);
		vexfs_uncharge(sbi, 0, len);
		return PTR_ERR(inode);
	}
	inode->i_link = link;
	/* from here eviction gives the bytes back */
	i_size_write(inode, len);
	vexfs_make_persistent(dentry, inode);
	vexfs_touch_dir(dir);
	return 0;
}

static const struct inode_operations vexfs_dir_iops = {
	.create		= vexfs_create,
	.lookup		= simple_lookup,
	.link		= simple_link,
	.unlink		= simple_unlink,
	.symlink	= vexfs_symlink,
	.mkdir		= vexfs_mkdir,
	.rmdir		= simple_rmdir,
	.mknod		= vexfs_mknod,
	/* RENAME_NOREPLACE always, RENAME_EXCHANGE where libfs has it (5.11+) */
	.rename		= simple_rename,
	.listxattr	= vexfs_listxattr,
};

static const struct inode_operations vexfs_symlink_iops = {
	.get_link	= simple_get_link,
	.listxattr	= vexfs_listxattr,
};

/* Regular files */

/* Size changes go through here (truncate, O_TRUNC): growth is charged first. */
static int vexfs_setattr(VEXFS_IDMAP_PARAM struct dentry *dentry, struct iattr *attr)
{
	struct inode *inode = d_inode(dentry);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	loff_t old_size = i_size_read(inode);
	loff_t delta = 0;
	int err;

	if ((attr->ia_valid & ATTR_SIZE) && S_ISREG(inode->i_mode))
		delta = attr->ia_size - old_size;
	if (delta > 0 && vexfs_charge(sbi, 0, delta))
		return -ENOSPC;
	err = simple_setattr(VEXFS_IDMAP_ARG dentry, attr);
	if (err) {
		if (delta > 0)
			vexfs_uncharge(sbi, 0, delta);
		return err;
	}
	if (delta < 0)
		vexfs_uncharge(sbi, 0, -delta);
	return 0;
}

static const struct inode_operations vexfs_file_iops = {
	.setattr	= vexfs_setattr,
	.listxattr	= vexfs_listxattr,
};

/*
 * A write that may grow the file reserves the growth before the page is prepared;
 * write_end keeps what the copy really added and returns the rest. The inode lock
 * is held across both, so i_size cannot move in between.
 */
static int vexfs_write_begin(VEXFS_WRITE_BEGIN_PARAMS)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(mapping->host->i_sb);
	loff_t grow = pos + len - i_size_read(mapping->host);
	int err;

	if (grow > 0 && vexfs_charge(sbi, 0, grow))
		return -ENOSPC;
	err = simple_write_begin(VEXFS_WRITE_BEGIN_ARGS);
	if (err && grow > 0)
		vexfs_uncharge(sbi, 0, grow);
	return err;
}

static int vexfs_write_end(VEXFS_WRITE_END_PARAMS)
{
	struct inode *inode = mapping->host;
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	loff_t old_size = i_size_read(inode);
	loff_t reserved = max_t(loff_t, pos + len - old_size, 0);
	int ret;

	ret = vexfs_lib_write_end(VEXFS_WRITE_END_ARGS);
	reserved -= i_size_read(inode) - old_size;
	if (reserved > 0)
		vexfs_uncharge(sbi, 0, reserved);
	return ret;
}

static const struct address_space_operations vexfs_aops = {
	VEXFS_AOPS_READ,
	VEXFS_AOPS_DIRTY,
	.write_begin	= vexfs_write_begin,
	.write_end	= vexfs_write_end,
};

static const struct file_operations vexfs_file_fops = {
	.read_iter	= generic_file_read_iter,
	.write_iter	= generic_file_write_iter,
	.mmap		= generic_file_mmap,
	.fsync		= noop_fsync,
	.splice_read	= VEXFS_SPLICE_READ,
	.splice_write	= iter_file_splice_write,
	.llseek		= generic_file_llseek,
};

/* Directories: libfs' dcache-based readdir, plus the vector query. */
const struct file_operations vexfs_dir_fops = {
	.open		= dcache_dir_open,
	.release	= dcache_dir_close,
	.llseek		= dcache_dir_lseek,
	.read		= generic_read_dir,
	.iterate_shared	= dcache_readdir,
	.fsync		= noop_fsync,
	.unlocked_ioctl	= vexfs_dir_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};
