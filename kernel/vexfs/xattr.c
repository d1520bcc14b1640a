// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS extended attributes: the user.* namespace, kept in memory on each inode.
 *
 * libfs' simple_xattr would do, but no Debian kernel (5.10 to 7.x) exports it to
 * modules, so this is the same idea in a few lines: a list per inode under a
 * spinlock, one allocation per attribute. user.vexfs.vec, the file's vector, is
 * kept apart in the inode's vec so that queries read it without parsing.
 *
 * The VFS only lets user.* attributes onto regular files and directories (and
 * sockets since 7.1); the vector is for regular files only. Names and values are
 * charged to max_bytes like file data.
 */
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xattr.h>

#include "vexfs.h"

struct vexfs_xattr {
	struct list_head node;
	size_t name_len;	/* full name ("user." included), without the NUL */
	size_t size;		/* of the value */
	char data[];		/* name, NUL, value */
};

static u64 vexfs_xattr_cost(const struct vexfs_xattr *x)
{
	return x->name_len + x->size;
}

static const char *vexfs_xattr_value(const struct vexfs_xattr *x)
{
	return x->data + x->name_len + 1;
}

static struct vexfs_xattr *vexfs_xattr_alloc(const char *name, const void *value, size_t size)
{
	size_t name_len = strlen(name);
	struct vexfs_xattr *x;

	/* values reach XATTR_SIZE_MAX (64 KiB): vmalloc may serve them */
	x = kvmalloc(struct_size(x, data, name_len + 1 + size), GFP_KERNEL);
	if (!x)
		return NULL;
	x->name_len = name_len;
	x->size = size;
	memcpy(x->data, name, name_len + 1);
	memcpy(x->data + name_len + 1, value, size);
	return x;
}

/* Called with vi->xattr_lock held. */
static struct vexfs_xattr *vexfs_xattr_find(struct vexfs_inode *vi, const char *name)
{
	struct vexfs_xattr *x;

	list_for_each_entry(x, &vi->xattrs, node) {
		if (!strcmp(x->data, name))
			return x;
	}
	return NULL;
}

/* user.* */

static int vexfs_user_get(const struct xattr_handler *handler, struct dentry *unused,
			  struct inode *inode, const char *name, void *buf, size_t size)
{
	struct vexfs_inode *vi = VEXFS_I(inode);
	struct vexfs_xattr *x;
	int ret;

	name = xattr_full_name(handler, name);
	spin_lock(&vi->xattr_lock);
	x = vexfs_xattr_find(vi, name);
	if (!x) {
		ret = -ENODATA;
	} else if (buf && size < x->size) {
		ret = -ERANGE;
	} else {
		if (buf)
			memcpy(buf, vexfs_xattr_value(x), x->size);
		ret = x->size;
	}
	spin_unlock(&vi->xattr_lock);
	return ret;
}

/*
 * value NULL removes the attribute. The new entry is allocated and charged before
 * the lock is taken; whichever entry loses (the old one, or the new one on error)
 * is freed and given back after it is released.
 */
static int vexfs_user_set(const struct xattr_handler *handler, VEXFS_IDMAP_PARAM
			  struct dentry *unused, struct inode *inode, const char *name,
			  const void *value, size_t size, int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode *vi = VEXFS_I(inode);
	struct vexfs_xattr *new = NULL, *old;
	int err = 0;

	name = xattr_full_name(handler, name);
	if (value) {
		new = vexfs_xattr_alloc(name, value, size);
		if (!new)
			return -ENOMEM;
		if (vexfs_charge(sbi, 0, vexfs_xattr_cost(new))) {
			kvfree(new);
			return -ENOSPC;
		}
	}

	spin_lock(&vi->xattr_lock);
	old = vexfs_xattr_find(vi, name);
	if ((flags & XATTR_CREATE) && old)
		err = -EEXIST;
	else if (((flags & XATTR_REPLACE) || !new) && !old)
		err = -ENODATA;
	else if (old && new)
		list_replace(&old->node, &new->node);
	else if (old)
		list_del(&old->node);
	else
		list_add_tail(&new->node, &vi->xattrs);
	spin_unlock(&vi->xattr_lock);

	if (err)
		old = new;
	if (old) {
		vexfs_uncharge(sbi, 0, vexfs_xattr_cost(old));
		kvfree(old);
	}
	if (!err)
		vexfs_touch_ctime(inode);
	return err;
}

static const struct xattr_handler vexfs_user_xattr_handler = {
	.prefix	= XATTR_USER_PREFIX,
	.get	= vexfs_user_get,
	.set	= vexfs_user_set,
};

/* The vector */

static int vexfs_vec_get(const struct xattr_handler *handler, struct dentry *unused,
			 struct inode *inode, const char *name, void *buf, size_t size)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode *vi = VEXFS_I(inode);
	size_t len = vexfs_vec_bytes(sbi);
	int ret;

	mutex_lock(&sbi->vec_lock);
	if (!vi->vec) {
		ret = -ENODATA;
	} else if (buf && size < len) {
		ret = -ERANGE;
	} else {
		if (buf)
			memcpy(buf, vi->vec, len);
		ret = len;
	}
	mutex_unlock(&sbi->vec_lock);
	return ret;
}

/* Like vexfs_user_set, but exactly dim components and on regular files only. */
static int vexfs_vec_set(const struct xattr_handler *handler, VEXFS_IDMAP_PARAM
			 struct dentry *unused, struct inode *inode, const char *name,
			 const void *value, size_t size, int flags)
{
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode *vi = VEXFS_I(inode);
	size_t len = vexfs_vec_bytes(sbi);
	void *vec = NULL;
	int err = 0;

	if (!S_ISREG(inode->i_mode))
		return -EPERM;
	if (value) {
		if (size != len)
			return -EINVAL;
		vec = kmemdup(value, len, GFP_KERNEL);
		if (!vec)
			return -ENOMEM;
	}

	mutex_lock(&sbi->vec_lock);
	if ((flags & XATTR_CREATE) && vi->vec)
		err = -EEXIST;
	else if (((flags & XATTR_REPLACE) || !vec) && !vi->vec)
		err = -ENODATA;
	/* a first vector costs len bytes; replacing one costs nothing more */
	else if (vec && !vi->vec && vexfs_charge(sbi, 0, len))
		err = -ENOSPC;
	if (!err) {
		if (vec && !vi->vec) {
			list_add_tail(&vi->vec_node, &sbi->vectors);
			sbi->nr_vectors++;
		} else if (!vec) {
			list_del_init(&vi->vec_node);
			sbi->nr_vectors--;
			vexfs_uncharge(sbi, 0, len);
		}
		/* the old vector, if any, is what gets freed below */
		swap(vec, vi->vec);
	}
	mutex_unlock(&sbi->vec_lock);

	kfree(vec);
	if (!err)
		vexfs_touch_ctime(inode);
	return err;
}

static const struct xattr_handler vexfs_vec_xattr_handler = {
	.name	= VEXFS_VEC_XATTR,
	.get	= vexfs_vec_get,
	.set	= vexfs_vec_set,
};

/* The exact-name vector handler must come before the user.* prefix handler. */
const struct xattr_handler *VEXFS_XATTR_HANDLERS_CONST vexfs_xattr_handlers[] = {
	&vexfs_vec_xattr_handler,
	&vexfs_user_xattr_handler,
	NULL,
};

ssize_t vexfs_listxattr(struct dentry *dentry, char *buf, size_t size)
{
	struct inode *inode = d_inode(dentry);
	struct vexfs_sb_info *sbi = VEXFS_SB(inode->i_sb);
	struct vexfs_inode *vi = VEXFS_I(inode);
	struct vexfs_xattr *x;
	size_t len = 0;
	bool has_vec;

	spin_lock(&vi->xattr_lock);
	list_for_each_entry(x, &vi->xattrs, node) {
		if (buf && len + x->name_len + 1 <= size)
			memcpy(buf + len, x->data, x->name_len + 1);
		len += x->name_len + 1;
	}
	spin_unlock(&vi->xattr_lock);

	mutex_lock(&sbi->vec_lock);
	has_vec = vi->vec;
	mutex_unlock(&sbi->vec_lock);
	if (has_vec) {
		if (buf && len + sizeof(VEXFS_VEC_XATTR) <= size)
			memcpy(buf + len, VEXFS_VEC_XATTR, sizeof(VEXFS_VEC_XATTR));
		len += sizeof(VEXFS_VEC_XATTR);
	}
	if (buf && len > size)
		return -ERANGE;
	return len;
}

/* Eviction: every attribute and the vector go, and their bytes come back. */
void vexfs_xattrs_drop(struct vexfs_sb_info *sbi, struct vexfs_inode *vi)
{
	struct vexfs_xattr *x, *next;
	u64 bytes = 0;

	list_for_each_entry_safe(x, next, &vi->xattrs, node) {
		bytes += vexfs_xattr_cost(x);
		kvfree(x);
	}
	INIT_LIST_HEAD(&vi->xattrs);

	mutex_lock(&sbi->vec_lock);
	if (vi->vec) {
		list_del_init(&vi->vec_node);
		sbi->nr_vectors--;
		bytes += vexfs_vec_bytes(sbi);
		kfree(vi->vec);
		vi->vec = NULL;
	}
	mutex_unlock(&sbi->vec_lock);
	vexfs_uncharge(sbi, 0, bytes);
}
