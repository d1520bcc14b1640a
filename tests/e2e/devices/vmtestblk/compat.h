/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmtestblk compatibility from 5.10 to 7.x: every kernel-version test of the driver lives here.
 *
 * What needs none, checked in each line's headers: register_blkdev, blk_mq_alloc_tag_set and
 * blk_mq_free_tag_set, BLK_MQ_F_BLOCKING, queue_rq's signature, blk_mq_start_request and
 * blk_mq_end_request, rq_for_each_segment (single-page segments), set_capacity, del_gendisk,
 * kmem_cache_create with its five arguments (a macro taking them too on 6.12 and 7.x).
 */
#ifndef VMTESTBLK_COMPAT_H
#define VMTESTBLK_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/highmem.h>
#include <linux/version.h>
#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 18, 0)
#include <linux/genhd.h>
#endif

/*
 * The disk and its queue: alloc_disk and blk_mq_init_queue before 5.14, blk_mq_alloc_disk from
 * then, which takes the queue's limits from 6.9 (NULL: the defaults, 512-byte sectors).
 */
static inline struct gendisk *vmtestblk_alloc_disk(struct blk_mq_tag_set *set, void *data, int minors)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct gendisk *disk = blk_mq_alloc_disk(set, NULL, data);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
	struct gendisk *disk = blk_mq_alloc_disk(set, data);
#else
	struct request_queue *q = blk_mq_init_queue(set);
	struct gendisk *disk;

	if (IS_ERR(q))
		return ERR_CAST(q);
	disk = alloc_disk(minors);
	if (!disk) {
		blk_cleanup_queue(q);
		return ERR_PTR(-ENOMEM);
	}
	q->queuedata = data;
	disk->queue = q;
#endif
	if (!IS_ERR(disk))
		disk->minors = minors;
	return disk;
}

/* The disk and its queue gone: put_disk does both from 6.0, blk_cleanup_disk from 5.14. */
static inline void vmtestblk_free_disk(struct gendisk *disk)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 0, 0)
	put_disk(disk);
#elif LINUX_VERSION_CODE >= KERNEL_VERSION(5, 14, 0)
	blk_cleanup_disk(disk);
#else
	blk_cleanup_queue(disk->queue);
	put_disk(disk);
#endif
}

/* add_disk returns an error from 5.15. */
static inline int vmtestblk_add_disk(struct gendisk *disk)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
	return add_disk(disk);
#else
	add_disk(disk);
	return 0;
#endif
}

/* Copies between a single-page segment and memory: memcpy_{to,from}_bvec from 5.15. */
static inline void vmtestblk_to_bvec(struct bio_vec *bvec, const void *from)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
	memcpy_to_bvec(bvec, from);
#else
	char *to = kmap_atomic(bvec->bv_page);

	memcpy(to + bvec->bv_offset, from, bvec->bv_len);
	kunmap_atomic(to);
#endif
}

static inline void vmtestblk_from_bvec(void *to, struct bio_vec *bvec)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(5, 15, 0)
	memcpy_from_bvec(to, bvec);
#else
	char *from = kmap_atomic(bvec->bv_page);

	memcpy(to, from + bvec->bv_offset, bvec->bv_len);
	kunmap_atomic(from);
#endif
}

#endif /* VMTESTBLK_COMPAT_H */
