// SPDX-License-Identifier: GPL-2.0
/*
 * VexFS k-nearest query: VEXFS_IOC_QUERY on a directory ranks the files of that
 * directory carrying a vector by squared L2 distance or by dot product, in integers.
 *
 * Every vector of the mount is on one list; a query walks it and keeps the inodes
 * with a name in the directory. That costs one pass over the mount's vectors per
 * query, which is what a small filesystem can afford, and needs no index to keep
 * coherent with rename and link. The directory's lock (shared) keeps its entries
 * still meanwhile; vec_lock keeps the vectors still.
 */
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>

#include "vexfs.h"

/* key orders hits for both metrics: smaller is nearer (a dot product is negated) */
struct vexfs_hit {
	s64 key;
	u64 ino;
};

struct vexfs_topk {
	struct vexfs_hit *heap;	/* max-heap: heap[0] is the farthest hit kept */
	u32 n;
	u32 k;
};

static bool vexfs_nearer(const struct vexfs_hit *a, const struct vexfs_hit *b)
{
	return a->key < b->key || (a->key == b->key && a->ino < b->ino);
}

static void vexfs_heap_down(struct vexfs_hit *heap, u32 n, u32 i)
{
	for (;;) {
		u32 far = i, l = 2 * i + 1, r = 2 * i + 2;

		if (l < n && vexfs_nearer(&heap[far], &heap[l]))
			far = l;
		if (r < n && vexfs_nearer(&heap[far], &heap[r]))
			far = r;
		if (far == i)
			return;
		swap(heap[i], heap[far]);
		i = far;
	}
}

static void vexfs_heap_up(struct vexfs_hit *heap, u32 i)
{
	while (i > 0) {
		u32 parent = (i - 1) / 2;

		if (!vexfs_nearer(&heap[parent], &heap[i]))
			return;
		swap(heap[i], heap[parent]);
		i = parent;
	}
}

static void vexfs_topk_offer(struct vexfs_topk *top, s64 key, u64 ino)
{
	struct vexfs_hit hit = { .key = key, .ino = ino };

	if (top->n < top->k) {
		top->heap[top->n] = hit;
		vexfs_heap_up(top->heap, top->n++);
	} else if (vexfs_nearer(&hit, &top->heap[0])) {
		top->heap[0] = hit;
		vexfs_heap_down(top->heap, top->n, 0);
	}
}

static int vexfs_hit_cmp(const void *a, const void *b)
{
	return vexfs_nearer(a, b) ? -1 : vexfs_nearer(b, a) ? 1 : 0;
}

/* Component i of a vector stored as the mount's vtype, little-endian. */
static s32 vexfs_component(const void *vec, u32 i, u32 vtype)
{
	if (vtype == VEXFS_VTYPE_INT8)
		return ((const s8 *)vec)[i];
	return (s16)le16_to_cpu(((const __le16 *)vec)[i]);
}

/*
 * 4096 components of at most 2^16 squared stay far below 2^63, so neither sum
 * can overflow.
 */
static s64 vexfs_key(const void *a, const void *b, const struct vexfs_opts *opts, u32 metric)
{
	s64 acc = 0;
	u32 i;

	for (i = 0; i < opts->dim; i++) {
		s64 x = vexfs_component(a, i, opts->vtype);
		s64 y = vexfs_component(b, i, opts->vtype);

		acc += metric == VEXFS_METRIC_L2 ? (x - y) * (x - y) : x * y;
	}
	return metric == VEXFS_METRIC_L2 ? acc : -acc;
}

/* Is inode linked into dir? Unlinked-but-open files keep an unhashed alias. */
static bool vexfs_in_dir(struct inode *inode, struct dentry *dir)
{
	struct dentry *alias;
	bool found = false;

	spin_lock(&inode->i_lock);
	vexfs_for_each_alias(alias, inode) {
		if (READ_ONCE(alias->d_parent) == dir && !d_unhashed(alias)) {
			found = true;
			break;
		}
	}
	spin_unlock(&inode->i_lock);
	return found;
}

static void vexfs_scan(struct vexfs_sb_info *sbi, struct dentry *dir, const void *query,
		       u32 metric, struct vexfs_topk *top)
{
	struct vexfs_inode *vi;

	mutex_lock(&sbi->vec_lock);
	list_for_each_entry(vi, &sbi->vectors, vec_node) {
		if (vexfs_in_dir(&vi->vfs_inode, dir))
			vexfs_topk_offer(top, vexfs_key(query, vi->vec, &sbi->opts, metric),
					 vi->vfs_inode.i_ino);
		cond_resched();
	}
	mutex_unlock(&sbi->vec_lock);
}

/* Nearest first, with the metric's own sign restored. */
static int vexfs_copy_results(struct vexfs_topk *top, u32 metric, void __user *to)
{
	struct vexfs_result res;
	u32 i;

	sort(top->heap, top->n, sizeof(*top->heap), vexfs_hit_cmp, NULL);
	for (i = 0; i < top->n; i++) {
		res.ino = top->heap[i].ino;
		res.score = metric == VEXFS_METRIC_L2 ? top->heap[i].key : -top->heap[i].key;
		if (copy_to_user(to + i * sizeof(res), &res, sizeof(res)))
			return -EFAULT;
	}
	return 0;
}

static long vexfs_query(struct file *file, struct vexfs_query __user *uq)
{
	struct inode *dir = file_inode(file);
	struct vexfs_sb_info *sbi = VEXFS_SB(dir->i_sb);
	struct vexfs_topk top = {};
	struct vexfs_query q;
	void *query;
	long err;

	if (copy_from_user(&q, uq, sizeof(q)))
		return -EFAULT;
	if (q.dim != sbi->opts.dim || q.k < 1 || q.k > VEXFS_MAX_K ||
	    (q.metric != VEXFS_METRIC_L2 && q.metric != VEXFS_METRIC_DOT))
		return -EINVAL;

	query = memdup_user(u64_to_user_ptr(q.query), vexfs_vec_bytes(sbi));
	if (IS_ERR(query))
		return PTR_ERR(query);
	top.k = q.k;
	top.heap = kmalloc_array(q.k, sizeof(*top.heap), GFP_KERNEL);
	if (!top.heap) {
		err = -ENOMEM;
		goto out;
	}

	inode_lock_shared(dir);
	vexfs_scan(sbi, file->f_path.dentry, query, q.metric, &top);
	inode_unlock_shared(dir);

	err = vexfs_copy_results(&top, q.metric, u64_to_user_ptr(q.results));
	if (!err && put_user(top.n, &uq->count))
		err = -EFAULT;
	if (!err)
		atomic64_inc(&sbi->queries);
out:
	kfree(top.heap);
	kfree(query);
	return err;
}

long vexfs_dir_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case VEXFS_IOC_QUERY:
		return vexfs_query(file, (struct vexfs_query __user *)arg);
	default:
		return -ENOTTY;
	}
}
