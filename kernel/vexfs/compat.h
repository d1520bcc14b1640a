/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VexFS compatibility with the VFS from 5.10 to 7.x: every kernel-version test of the
 * module lives here. Versions verified against Debian's headers: 5.10, 6.1, 6.12, 7.2;
 * the thresholds in between follow the upstream commits that changed each interface.
 */
#ifndef VEXFS_COMPAT_H
#define VEXFS_COMPAT_H

#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/pagemap.h>
#include <linux/version.h>

/*
 * Inode operations gained the caller's idmapping: a struct user_namespace * in 5.12,
 * replaced by struct mnt_idmap * in 6.3. VEXFS_IDMAP_PARAM starts a parameter list,
 * VEXFS_IDMAP_ARG passes it on, VEXFS_NOP_IDMAP is the identity for internal inodes.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define VEXFS_IDMAP_PARAM	struct mnt_idmap *idmap,
#define VEXFS_IDMAP_ARG		idmap,
#define VEXFS_NOP_IDMAP		&nop_mnt_idmap,
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 12, 0)
#define VEXFS_IDMAP_PARAM	struct user_namespace *idmap,
#define VEXFS_IDMAP_ARG		idmap,
#define VEXFS_NOP_IDMAP		&init_user_ns,
#else
#define VEXFS_IDMAP_PARAM
#define VEXFS_IDMAP_ARG
#define VEXFS_NOP_IDMAP
#endif

/* ->mkdir returns the dentry it used (or an error pointer) since 6.15. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define VEXFS_MKDIR_RET			struct dentry *
#define VEXFS_MKDIR_RETURN(err)		ERR_PTR(err)
#else
#define VEXFS_MKDIR_RET			int
#define VEXFS_MKDIR_RETURN(err)		(err)
#endif

/*
 * Dentries of an in-memory filesystem are pinned while linked. 6.19 made that
 * explicit (d_make_persistent, undone by libfs' unlink/rmdir/rename) and dropped
 * kill_litter_super, whose d_genocide used to drop the extra references.
 */
static inline void vexfs_make_persistent(struct dentry *dentry, struct inode *inode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
	d_make_persistent(dentry, inode);
#else
	if (d_unhashed(dentry))
		d_add(dentry, inode);
	else
		d_instantiate(dentry, inode);
	dget(dentry);
#endif
}

static inline void vexfs_kill_litter(struct super_block *sb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
	kill_anon_super(sb);
#else
	kill_litter_super(sb);
#endif
}

/*
 * Timestamps: ctime accessors in 6.6, atime/mtime accessors and simple_inode_init_ts
 * in 6.7; plain fields before.
 */
static inline void vexfs_inode_init_ts(struct inode *inode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	simple_inode_init_ts(inode);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	struct timespec64 now = inode_set_ctime_current(inode);

	inode->i_atime = now;
	inode->i_mtime = now;
#else
	struct timespec64 now = current_time(inode);

	inode->i_atime = now;
	inode->i_mtime = now;
	inode->i_ctime = now;
#endif
}

/* A directory gained or lost an entry: mtime and ctime move. */
static inline void vexfs_touch_dir(struct inode *dir)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
	inode_set_mtime_to_ts(dir, inode_set_ctime_current(dir));
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	dir->i_mtime = inode_set_ctime_current(dir);
#else
	struct timespec64 now = current_time(dir);

	dir->i_mtime = now;
	dir->i_ctime = now;
#endif
}

static inline void vexfs_touch_ctime(struct inode *inode)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	inode_set_ctime_current(inode);
#else
	inode->i_ctime = current_time(inode);
#endif
}

/*
 * Address space operations. write_begin lost its flags in 5.19, took folios instead
 * of pages in 6.12 and a const struct kiocb * instead of the file in 6.17. Since
 * 5.19 libfs keeps simple_write_end and simple_read_folio static and exposes them
 * through ram_aops; readpage became read_folio then, set_page_dirty dirty_folio in 5.18.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define VEXFS_WRITE_BEGIN_PARAMS const struct kiocb *iocb, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct folio **foliop, void **fsdata
#define VEXFS_WRITE_BEGIN_ARGS	iocb, mapping, pos, len, foliop, fsdata
#define VEXFS_WRITE_END_PARAMS	const struct kiocb *iocb, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct folio *folio, void *fsdata
#define VEXFS_WRITE_END_ARGS	iocb, mapping, pos, len, copied, folio, fsdata
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define VEXFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct folio **foliop, void **fsdata
#define VEXFS_WRITE_BEGIN_ARGS	file, mapping, pos, len, foliop, fsdata
#define VEXFS_WRITE_END_PARAMS	struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct folio *folio, void *fsdata
#define VEXFS_WRITE_END_ARGS	file, mapping, pos, len, copied, folio, fsdata
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
#define VEXFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct page **pagep, void **fsdata
#define VEXFS_WRITE_BEGIN_ARGS	file, mapping, pos, len, pagep, fsdata
#define VEXFS_WRITE_END_PARAMS	struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct page *page, void *fsdata
#define VEXFS_WRITE_END_ARGS	file, mapping, pos, len, copied, page, fsdata
#else
#define VEXFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int flags, struct page **pagep, void **fsdata
#define VEXFS_WRITE_BEGIN_ARGS	file, mapping, pos, len, flags, pagep, fsdata
#define VEXFS_WRITE_END_PARAMS	struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct page *page, void *fsdata
#define VEXFS_WRITE_END_ARGS	file, mapping, pos, len, copied, page, fsdata
#endif

static inline int vexfs_lib_write_end(VEXFS_WRITE_END_PARAMS)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
	return ram_aops.write_end(VEXFS_WRITE_END_ARGS);
#else
	return simple_write_end(VEXFS_WRITE_END_ARGS);
#endif
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
static inline int vexfs_read_folio(struct file *file, struct folio *folio)
{
	return ram_aops.read_folio(file, folio);
}

#define VEXFS_AOPS_READ		.read_folio = vexfs_read_folio
#else
#define VEXFS_AOPS_READ		.readpage = simple_readpage
#endif

/* Pages have nowhere to be written back to: dirtying them only sets the flag. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
#define VEXFS_AOPS_DIRTY	.dirty_folio = noop_dirty_folio
#else
/* ramfs' __set_page_dirty_no_writeback, which 5.10 does not export */
static inline int vexfs_set_page_dirty(struct page *page)
{
	if (!PageDirty(page))
		return !TestSetPageDirty(page);
	return 0;
}

#define VEXFS_AOPS_DIRTY	.set_page_dirty = vexfs_set_page_dirty
#endif

/* generic_file_splice_read gave way to filemap_splice_read in 6.5. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define VEXFS_SPLICE_READ	filemap_splice_read
#else
#define VEXFS_SPLICE_READ	generic_file_splice_read
#endif

/* The handler array itself became const in 6.7. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 7, 0)
#define VEXFS_XATTR_HANDLERS_CONST	const
#else
#define VEXFS_XATTR_HANDLERS_CONST
#endif

/*
 * Walking an inode's dentries: the d_u union of struct dentry went anonymous with
 * the for_each_alias() helper (7.x), which is the reliable sign of that change.
 */
#ifdef for_each_alias
#define vexfs_for_each_alias(dentry, inode)	for_each_alias(dentry, inode)
#else
#define vexfs_for_each_alias(dentry, inode) \
	hlist_for_each_entry(dentry, &(inode)->i_dentry, d_u.d_alias)
#endif

#endif /* VEXFS_COMPAT_H */
