/* SPDX-License-Identifier: GPL-2.0 */
/*
 * buggyfs compatibility with the VFS from 5.10 to 7.x, after kernel/vexfs/compat.h:
 * every kernel-version test of the module lives here.
 */
#ifndef BUGGYFS_COMPAT_H
#define BUGGYFS_COMPAT_H

#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/version.h>

/* The caller's idmapping: user_namespace in 5.12, mnt_idmap in 6.3. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
#define BUGGYFS_IDMAP_PARAM	struct mnt_idmap *idmap,
#define BUGGYFS_IDMAP_ARG	idmap,
#define BUGGYFS_NOP_IDMAP	&nop_mnt_idmap,
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 12, 0)
#define BUGGYFS_IDMAP_PARAM	struct user_namespace *idmap,
#define BUGGYFS_IDMAP_ARG	idmap,
#define BUGGYFS_NOP_IDMAP	&init_user_ns,
#else
#define BUGGYFS_IDMAP_PARAM
#define BUGGYFS_IDMAP_ARG
#define BUGGYFS_NOP_IDMAP
#endif

/* ->mkdir returns a dentry (or an error pointer) since 6.15. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 15, 0)
#define BUGGYFS_MKDIR_RET		struct dentry *
#define BUGGYFS_MKDIR_RETURN(err)	ERR_PTR(err)
#else
#define BUGGYFS_MKDIR_RET		int
#define BUGGYFS_MKDIR_RETURN(err)	(err)
#endif

/* Linked dentries stay pinned: d_make_persistent since 6.19, dget before. */
static inline void buggyfs_make_persistent(struct dentry *dentry, struct inode *inode)
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

/* kill_litter_super is gone in 6.19: libfs drops the persistent dentries itself. */
static inline void buggyfs_kill_litter(struct super_block *sb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 19, 0)
	kill_anon_super(sb);
#else
	kill_litter_super(sb);
#endif
}

static inline void buggyfs_inode_init_ts(struct inode *inode)
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

static inline void buggyfs_touch_dir(struct inode *dir)
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

/*
 * write_begin/write_end: flags dropped in 5.19, folios in 6.12, a const kiocb instead
 * of the file in 6.17. libfs exposes simple_write_end and simple_read_folio through
 * ram_aops since 5.19. BUGGYFS_WE_PAGE names the page or folio write_end was given.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define BUGGYFS_WRITE_BEGIN_PARAMS const struct kiocb *iocb, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct folio **foliop, void **fsdata
#define BUGGYFS_WRITE_BEGIN_ARGS iocb, mapping, pos, len, foliop, fsdata
#define BUGGYFS_WRITE_END_PARAMS const struct kiocb *iocb, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct folio *folio, void *fsdata
#define BUGGYFS_WRITE_END_ARGS	iocb, mapping, pos, len, copied, folio, fsdata
#define BUGGYFS_WE_PAGE		folio
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define BUGGYFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct folio **foliop, void **fsdata
#define BUGGYFS_WRITE_BEGIN_ARGS file, mapping, pos, len, foliop, fsdata
#define BUGGYFS_WRITE_END_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct folio *folio, void *fsdata
#define BUGGYFS_WRITE_END_ARGS	file, mapping, pos, len, copied, folio, fsdata
#define BUGGYFS_WE_PAGE		folio
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
#define BUGGYFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, struct page **pagep, void **fsdata
#define BUGGYFS_WRITE_BEGIN_ARGS file, mapping, pos, len, pagep, fsdata
#define BUGGYFS_WRITE_END_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct page *page, void *fsdata
#define BUGGYFS_WRITE_END_ARGS	file, mapping, pos, len, copied, page, fsdata
#define BUGGYFS_WE_PAGE		page
#else
#define BUGGYFS_WRITE_BEGIN_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int flags, struct page **pagep, void **fsdata
#define BUGGYFS_WRITE_BEGIN_ARGS file, mapping, pos, len, flags, pagep, fsdata
#define BUGGYFS_WRITE_END_PARAMS struct file *file, struct address_space *mapping, \
	loff_t pos, unsigned int len, unsigned int copied, struct page *page, void *fsdata
#define BUGGYFS_WRITE_END_ARGS	file, mapping, pos, len, copied, page, fsdata
#define BUGGYFS_WE_PAGE		page
#endif

static inline int buggyfs_lib_write_end(BUGGYFS_WRITE_END_PARAMS)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
	return ram_aops.write_end(BUGGYFS_WRITE_END_ARGS);
#else
	return simple_write_end(BUGGYFS_WRITE_END_ARGS);
#endif
}

/* Flip the byte at file position pos inside the page or folio write_end was given. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
static inline void buggyfs_flip_byte(struct folio *folio, loff_t pos)
{
	char *kaddr = kmap_local_folio(folio, offset_in_folio(folio, pos));

	*kaddr ^= 0xff;
	kunmap_local(kaddr);
	flush_dcache_folio(folio);
}
#else
static inline void buggyfs_flip_byte(struct page *page, loff_t pos)
{
	char *kaddr = kmap_atomic(page);

	kaddr[offset_in_page(pos)] ^= 0xff;
	kunmap_atomic(kaddr);
	flush_dcache_page(page);
}
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 19, 0)
static inline int buggyfs_read_folio(struct file *file, struct folio *folio)
{
	return ram_aops.read_folio(file, folio);
}

#define BUGGYFS_AOPS_READ	.read_folio = buggyfs_read_folio
#else
#define BUGGYFS_AOPS_READ	.readpage = simple_readpage
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 18, 0)
#define BUGGYFS_AOPS_DIRTY	.dirty_folio = noop_dirty_folio
#else
/* ramfs' __set_page_dirty_no_writeback, which 5.10 does not export */
static inline int buggyfs_set_page_dirty(struct page *page)
{
	if (!PageDirty(page))
		return !TestSetPageDirty(page);
	return 0;
}

#define BUGGYFS_AOPS_DIRTY	.set_page_dirty = buggyfs_set_page_dirty
#endif

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
#define BUGGYFS_SPLICE_READ	filemap_splice_read
#else
#define BUGGYFS_SPLICE_READ	generic_file_splice_read
#endif

#endif /* BUGGYFS_COMPAT_H */
