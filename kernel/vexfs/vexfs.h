/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VexFS internals shared by super.c (mount, limits, statistics), inode.c (namespace
 * and page-cache files), xattr.c (user.* attributes and the vector) and vector.c
 * (the k-nearest query).
 */
#ifndef VEXFS_H
#define VEXFS_H

#include <linux/atomic.h>
#include <linux/fs.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>

#include "compat.h"
#include "include/uapi/vexfs.h"

#define VEXFS_MAGIC 0x56455846 /* "VEXF" */

enum vexfs_vtype {
	VEXFS_VTYPE_INT8 = 1,
	VEXFS_VTYPE_INT16 = 2,	/* the values double as component sizes */
};

struct vexfs_opts {
	u32 max_files;
	u64 max_bytes;
	u32 dim;
	u32 vtype;
};

struct vexfs_sb_info {
	/* lock protects files, bytes and opts.max_*; opts.dim and opts.vtype never change */
	spinlock_t lock;
	u64 files;		/* inodes created by users (root and info are free) */
	u64 bytes;		/* file sizes, symlink targets, xattr names and values */
	struct vexfs_opts opts;

	/* vec_lock protects vectors, nr_vectors and every inode's vec */
	struct mutex vec_lock;
	struct list_head vectors;
	u64 nr_vectors;
	atomic64_t queries;

	struct dentry *debugfs;
	char *info;		/* contents of the read-only "info" file */
	size_t info_len;
};

struct vexfs_inode {
	spinlock_t xattr_lock;		/* protects xattrs */
	struct list_head xattrs;	/* struct vexfs_xattr: user.* but the vector */
	void *vec;			/* opts.dim components as set, or NULL */
	struct list_head vec_node;	/* on sbi->vectors while vec is set */
	bool charged;			/* counted in sbi->files */
	struct inode vfs_inode;
};

static inline struct vexfs_sb_info *VEXFS_SB(struct super_block *sb)
{
	return sb->s_fs_info;
}

static inline struct vexfs_inode *VEXFS_I(struct inode *inode)
{
	return container_of(inode, struct vexfs_inode, vfs_inode);
}

static inline size_t vexfs_vec_bytes(const struct vexfs_sb_info *sbi)
{
	return (size_t)sbi->opts.dim * sbi->opts.vtype;
}

/* super.c */
int vexfs_charge(struct vexfs_sb_info *sbi, u64 files, u64 bytes);
void vexfs_uncharge(struct vexfs_sb_info *sbi, u64 files, u64 bytes);

/* inode.c */
extern struct kmem_cache *vexfs_inode_cachep;
extern const struct file_operations vexfs_dir_fops;
struct inode *vexfs_new_inode(VEXFS_IDMAP_PARAM struct super_block *sb,
			      const struct inode *dir, umode_t mode, dev_t dev, bool charge);
struct inode *vexfs_alloc_inode(struct super_block *sb);
void vexfs_free_inode(struct inode *inode);
void vexfs_evict_inode(struct inode *inode);

/* xattr.c */
extern const struct xattr_handler *VEXFS_XATTR_HANDLERS_CONST vexfs_xattr_handlers[];
ssize_t vexfs_listxattr(struct dentry *dentry, char *buf, size_t size);
void vexfs_xattrs_drop(struct vexfs_sb_info *sbi, struct vexfs_inode *vi);

/* vector.c */
long vexfs_dir_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

#endif /* VEXFS_H */
