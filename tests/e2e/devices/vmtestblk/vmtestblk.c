// SPDX-License-Identifier: GPL-2.0
/*
 * vmtestblk: an 8 MiB RAM disk on blk-mq that plants one bug on request, the fixture the block
 * device exerciser is proven on. Without bug= (or with bug=none) it is correct.
 *
 *   insmod vmtestblk.ko [bug=write_end]
 *
 * /dev/vmtestblk0 holds 8 MiB of memory, zeroed but for an MBR partition table of one Linux
 * partition, /dev/vmtestblk0p1, from 1 MiB to the end. Reads and writes go through one hardware
 * queue whose requests are served at once, in the submitter's context (BLK_MQ_F_BLOCKING: it
 * may sleep to allocate). Each write segment is staged in a page of a cache of its own before it
 * is stored, as a driver for a device that takes data from its own buffers would.
 *
 * bug=write_end: a write segment that lands in the last 64 KiB stamps an 8-byte end marker past
 * its staging page. Only a write there reaches it: the partition scan and udev's probes only
 * read. SLUB debugging (slub_debug=FZ) finds the right red zone overwritten when the page is
 * freed, at the end of the same request: "BUG vmtestblk_stage (...): Right Redzone overwritten"
 * on 6.1, "[Right Redzone overwritten] ..." then "BUG vmtestblk_stage (...): Object corrupt" on
 * 7.x; KFENCE, when it samples the page, "BUG: KFENCE: out-of-bounds write in
 * vmtestblk_queue_rq".
 */
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/init.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "compat.h"

#define VMTESTBLK_BYTES		(8 << 20)
#define VMTESTBLK_SECTORS	(VMTESTBLK_BYTES >> SECTOR_SHIFT)
#define VMTESTBLK_MINORS	16	/* the disk and up to 15 partitions */
#define VMTESTBLK_PART_START	2048	/* the partition's first sector: 1 MiB in */
#define VMTESTBLK_END		(VMTESTBLK_SECTORS - 128)	/* the last 64 KiB start here */
#define VMTESTBLK_OVERRUN	8	/* bytes write_end writes past its page: its right red zone */

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "bug to plant: none, write_end");

static bool write_end;

static struct {
	u8 *data;				/* the contents, vzalloc'd */
	int major;
	struct blk_mq_tag_set tag_set;
	struct gendisk *disk;
	struct kmem_cache *stage_cache;		/* a write segment on its way: a page */
} dev;

/* One write segment (a page at most): staged, then stored at pos. */
static void vmtestblk_write(loff_t pos, struct bio_vec *bvec, u8 *stage)
{
	vmtestblk_from_bvec(stage, bvec);
	if (write_end && (pos >> SECTOR_SHIFT) >= VMTESTBLK_END) {
		/*
		 * write_end: an end marker after the segment's bytes, past the page when the
		 * segment fills it (VMTESTBLK_OVERRUN bytes: its red zone). The pointer is
		 * hidden from FORTIFY_SOURCE, which could stop the memset first.
		 */
		u8 *p = stage;

		OPTIMIZER_HIDE_VAR(p);
		memset(p + bvec->bv_len, 0xee, VMTESTBLK_OVERRUN);
	}
	memcpy(dev.data + pos, stage, bvec->bv_len);
}

static blk_status_t vmtestblk_queue_rq(struct blk_mq_hw_ctx *hctx, const struct blk_mq_queue_data *bd)
{
	struct request *rq = bd->rq;
	loff_t pos = (loff_t)blk_rq_pos(rq) << SECTOR_SHIFT;
	u8 *stage = NULL;
	blk_status_t status = BLK_STS_OK;
	struct req_iterator iter;
	struct bio_vec bvec;

	if (req_op(rq) == REQ_OP_WRITE) {
		stage = kmem_cache_alloc(dev.stage_cache, GFP_NOIO);
		if (!stage)
			return BLK_STS_RESOURCE;	/* blk-mq tries again */
	}
	blk_mq_start_request(rq);
	if (req_op(rq) != REQ_OP_READ && req_op(rq) != REQ_OP_WRITE) {
		status = BLK_STS_NOTSUPP;	/* no flush (no write cache), discard or zeroing is set up */
		goto end;
	}
	if (pos + blk_rq_bytes(rq) > VMTESTBLK_BYTES) {
		status = BLK_STS_IOERR;
		goto end;
	}
	rq_for_each_segment(bvec, rq, iter) {
		if (stage)
			vmtestblk_write(pos, &bvec, stage);
		else
			vmtestblk_to_bvec(&bvec, dev.data + pos);
		pos += bvec.bv_len;
	}
end:
	if (stage)
		kmem_cache_free(dev.stage_cache, stage);
	blk_mq_end_request(rq, status);
	return BLK_STS_OK;
}

static const struct blk_mq_ops vmtestblk_mq_ops = {
	.queue_rq	= vmtestblk_queue_rq,
};

static const struct block_device_operations vmtestblk_fops = {
	.owner		= THIS_MODULE,
};

/* An MBR with one Linux partition from VMTESTBLK_PART_START to the end. */
static void vmtestblk_partition(u8 *mbr)
{
	__le32 start = cpu_to_le32(VMTESTBLK_PART_START);
	__le32 sectors = cpu_to_le32(VMTESTBLK_SECTORS - VMTESTBLK_PART_START);
	u8 *entry = mbr + 446;

	entry[4] = 0x83;
	memcpy(entry + 8, &start, sizeof(start));
	memcpy(entry + 12, &sectors, sizeof(sectors));
	mbr[510] = 0x55;
	mbr[511] = 0xaa;
}

static void vmtestblk_free(void)
{
	if (dev.major > 0)
		unregister_blkdev(dev.major, "vmtestblk");
	kmem_cache_destroy(dev.stage_cache);
	vfree(dev.data);
}

static int __init vmtestblk_init(void)
{
	struct gendisk *disk;
	int err;

	if (bug && *bug && strcmp(bug, "none") && strcmp(bug, "write_end")) {
		pr_err("vmtestblk: unknown bug '%s'\n", bug);
		return -EINVAL;
	}
	write_end = bug && !strcmp(bug, "write_end");

	err = -ENOMEM;
	dev.data = vzalloc(VMTESTBLK_BYTES);
	dev.stage_cache = kmem_cache_create("vmtestblk_stage", PAGE_SIZE, 0, 0, NULL);
	if (!dev.data || !dev.stage_cache)
		goto free;
	vmtestblk_partition(dev.data);
	dev.major = register_blkdev(0, "vmtestblk");
	err = dev.major;
	if (dev.major < 0)
		goto free;

	dev.tag_set.ops = &vmtestblk_mq_ops;
	dev.tag_set.nr_hw_queues = 1;
	dev.tag_set.queue_depth = 16;
	dev.tag_set.numa_node = NUMA_NO_NODE;
	dev.tag_set.flags = BLK_MQ_F_BLOCKING;
	err = blk_mq_alloc_tag_set(&dev.tag_set);
	if (err)
		goto free;
	disk = vmtestblk_alloc_disk(&dev.tag_set, &dev, VMTESTBLK_MINORS);
	err = PTR_ERR_OR_ZERO(disk);
	if (err)
		goto free_tags;
	disk->major = dev.major;
	disk->first_minor = 0;
	disk->fops = &vmtestblk_fops;
	disk->private_data = &dev;
	strscpy(disk->disk_name, "vmtestblk0", sizeof(disk->disk_name));
	set_capacity(disk, VMTESTBLK_SECTORS);
	err = vmtestblk_add_disk(disk);
	if (err)
		goto free_disk;
	dev.disk = disk;
	if (write_end)
		pr_info("vmtestblk: bug write_end planted\n");
	return 0;

free_disk:
	vmtestblk_free_disk(disk);
free_tags:
	blk_mq_free_tag_set(&dev.tag_set);
free:
	vmtestblk_free();
	return err;
}

static void __exit vmtestblk_exit(void)
{
	del_gendisk(dev.disk);
	vmtestblk_free_disk(dev.disk);
	blk_mq_free_tag_set(&dev.tag_set);
	vmtestblk_free();
}

module_init(vmtestblk_init);
module_exit(vmtestblk_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmtestblk: an 8 MiB RAM disk with a bug planted on request (test fixture)");
