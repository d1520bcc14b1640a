// SPDX-License-Identifier: GPL-2.0
/*
 * buggydev: a misc character device that plants one bug on request, the fixture the
 * device exercisers are proven on. Without bug= (or with bug=none) it is correct.
 *
 *   insmod buggydev.ko [bug=open_uaf|open_leak|read_oob|write_overflow|ioctl_uaf|
 *                           ioctl_race|proc_read|sysfs_store]
 *
 * /dev/buggydev holds 4 KiB, one page: read and written at the file position (lseek
 * within [0, 4096], SEEK_END from 4096), mapped by mmap (MAP_SHARED, one page, offset 0).
 * A write that crosses the end is short; one that starts at the end gets -ENOSPC. poll
 * always reports readable and writable. The ioctls are in buggydev.h. Beside the node:
 *
 *   /proc/buggydev                        counters (read-only)
 *   /sys/class/misc/buggydev/fill         the fill pattern; writing text (1 to 15 bytes,
 *                                         a newline dropped) repeats it over the buffer
 *   /sys/kernel/debug/buggydev/stats      state (read-only), when debugfs is built in
 *
 * dev.lock guards all the state. Bytes go between user space and the page through a
 * kmalloc'd bounce buffer, so that the lock is never held while user memory faults: mmap
 * takes the lock under mmap_lock, and a fault on a mapping takes mmap_lock.
 *
 * Each bug is reached only through the path it names; see the comment at its code, which
 * says what a detector sees (SLUB's words differ: 6.1 prints "BUG <cache> (...): Poison
 * overwritten", 7.x "[Poison overwritten] ..." then "BUG <cache> (...): Object corrupt").
 * The objects the use-after-free bugs write to come from caches of their own that hold
 * only short-lived objects: on 6.1, when SLUB finds a free object corrupted as it allocates
 * it, it takes the slab off its lists ("Marking all objects used"), and freeing any other
 * object of that slab later is a kernel BUG (list_del corruption in free_to_partial_list;
 * a panic when an RCU callback frees it). This way each bug reports and the guest goes on.
 */
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/proc_fs.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "buggydev.h"
#include "compat.h"

#define BUGGYDEV_HISTORY	16	/* fills remembered */
#define BUGGYDEV_STORE_MAX	64	/* the sysfs store's scratch buffer: longer input is refused */
/* bytes a planted overflow writes past its buffer: its right red zone, no further */
#define BUGGYDEV_OVERRUN	8

static char *bug = "none";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "bug to plant: none, open_uaf, open_leak, read_oob, write_overflow, ioctl_uaf, ioctl_race, proc_read, sysfs_store");

enum buggydev_bug {
	BUGGYDEV_NONE,
	BUGGYDEV_OPEN_UAF,
	BUGGYDEV_OPEN_LEAK,
	BUGGYDEV_READ_OOB,
	BUGGYDEV_WRITE_OVERFLOW,
	BUGGYDEV_IOCTL_UAF,
	BUGGYDEV_IOCTL_RACE,
	BUGGYDEV_PROC_READ,
	BUGGYDEV_SYSFS_STORE,
};

static const char *const buggydev_bugs[] = {
	[BUGGYDEV_NONE]			= "none",
	[BUGGYDEV_OPEN_UAF]		= "open_uaf",
	[BUGGYDEV_OPEN_LEAK]		= "open_leak",
	[BUGGYDEV_READ_OOB]		= "read_oob",
	[BUGGYDEV_WRITE_OVERFLOW]	= "write_overflow",
	[BUGGYDEV_IOCTL_UAF]		= "ioctl_uaf",
	[BUGGYDEV_IOCTL_RACE]		= "ioctl_race",
	[BUGGYDEV_PROC_READ]		= "proc_read",
	[BUGGYDEV_SYSFS_STORE]		= "sysfs_store",
};

static enum buggydev_bug buggydev_bug;

struct buggydev_stats {
	u64 opens;
	u64 releases;
	u64 reads;
	u64 bytes_read;
	u64 writes;
	u64 bytes_written;
	u64 polls;
	u64 mmaps;
	u64 ioctls;
	u64 fills;
	u64 xchgs;
	u64 resets;
	u64 proc_reads;
	u64 sysfs_stores;
};

struct buggydev_fill_rec {
	struct list_head node;
	struct buggydev_fill fill;
};

/* who opened the device: open_uaf's and open_leak's object */
struct buggydev_note {
	char text[64];
};

/* what each open file keeps */
struct buggydev_file {
	u64 bytes_read;
	u64 bytes_written;
};

static struct {
	struct mutex lock;			/* guards everything below */
	struct page *page;			/* the contents, also what mmap maps */
	char *data;				/* page_address(page) */
	char pattern[BUGGYDEV_PATTERN_LEN];	/* of the last fill, "" before any */
	struct list_head fills;			/* the last fills, oldest first */
	unsigned int nfills;
	u64 slots[BUGGYDEV_SLOTS];
	struct buggydev_stats stats;
	struct proc_dir_entry *proc;
	struct dentry *debugfs;
} dev = {
	.lock	= __MUTEX_INITIALIZER(dev.lock),
	.fills	= LIST_HEAD_INIT(dev.fills),
};

/* caches of their own: see the top of the file */
static struct kmem_cache *buggydev_note_cache;	/* open_uaf and open_leak only */
static struct kmem_cache *buggydev_stats_cache;	/* /proc/buggydev's snapshots */
static struct kmem_cache *buggydev_xchg_cache;	/* BUGGYDEV_IOC_XCHG's requests */

/* File operations */

static int buggydev_open(struct inode *inode, struct file *file)
{
	struct buggydev_file *f;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return -ENOMEM;

	if (buggydev_bug == BUGGYDEV_OPEN_UAF) {
		/*
		 * open_uaf: a note of who opened the device, written just after it was freed.
		 * slub_debug=P: "BUG buggydev_note (...): Poison overwritten" when the object
		 * is next allocated (by the next open), with "Freed in buggydev_open"; KASAN
		 * or a KFENCE sample: use-after-free write in buggydev_open.
		 */
		struct buggydev_note *note = kmem_cache_alloc(buggydev_note_cache, GFP_KERNEL);

		if (note) {
			kmem_cache_free(buggydev_note_cache, note);
			snprintf(note->text, sizeof(note->text), "opened by %d", task_pid_nr(current));
		}
	}
	if (buggydev_bug == BUGGYDEV_OPEN_LEAK) {
		/*
		 * open_leak: the same note, never freed: one object per open. The kmem
		 * tracepoints: a kmem_cache_alloc from buggydev_open that no free pairs;
		 * kmemleak: "unreferenced object ... (size 64)", buggydev_open in its
		 * backtrace; at rmmod (slub_debug): "BUG buggydev_note (...): Objects
		 * remaining in buggydev_note on __kmem_cache_shutdown()" and a WARNING
		 * "kmem_cache_destroy buggydev_note: Slab cache still has objects".
		 */
		struct buggydev_note *note = kmem_cache_alloc(buggydev_note_cache, GFP_KERNEL);

		if (note)
			snprintf(note->text, sizeof(note->text), "opened by %d", task_pid_nr(current));
	}

	file->private_data = f;
	mutex_lock(&dev.lock);
	dev.stats.opens++;
	mutex_unlock(&dev.lock);
	return 0;
}

static int buggydev_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	mutex_lock(&dev.lock);
	dev.stats.releases++;
	mutex_unlock(&dev.lock);
	return 0;
}

static ssize_t buggydev_read(struct file *file, char __user *buf, size_t count, loff_t *ppos)
{
	struct buggydev_file *f = file->private_data;
	loff_t pos = *ppos;
	size_t n, out, left;
	char *bounce;

	if (pos < 0)
		return -EINVAL;
	if (pos >= BUGGYDEV_SIZE || !count)
		return 0;
	n = min_t(size_t, count, BUGGYDEV_SIZE - pos);
	bounce = kmalloc(n, GFP_KERNEL);	/* as many bytes as are read */
	if (!bounce)
		return -ENOMEM;
	mutex_lock(&dev.lock);
	memcpy(bounce, dev.data + pos, n);
	mutex_unlock(&dev.lock);

	out = n;
	if (buggydev_bug == BUGGYDEV_READ_OOB && pos >= BUGGYDEV_SIZE / 2) {
		/*
		 * read_oob: a read starting in the upper 2 KiB copies out the length asked
		 * for (up to 4 KiB) instead of what the bounce buffer holds. When that is
		 * more than the buffer's slab object (a 4 KiB read at 3 KiB: 4096 bytes from
		 * kmalloc-1k), CONFIG_HARDENED_USERCOPY (every Debian kernel, any debug tier)
		 * stops the copy: "usercopy: Kernel memory exposure attempt detected from
		 * SLUB object 'kmalloc-1k' (offset 0, size 4096)!" and a kernel BUG in
		 * buggydev_read. SLUB debugging does not check reads; an overrun that stays
		 * inside the object's slack (a 2000-byte read at 2100) takes KASAN.
		 */
		out = min_t(size_t, count, BUGGYDEV_SIZE);
	}
	left = copy_to_user(buf, bounce, out);
	kfree(bounce);
	if (left == out)
		return -EFAULT;
	out -= left;

	mutex_lock(&dev.lock);
	dev.stats.reads++;
	dev.stats.bytes_read += out;
	f->bytes_read += out;
	mutex_unlock(&dev.lock);
	*ppos = pos + out;
	return out;
}

static ssize_t buggydev_write(struct file *file, const char __user *buf, size_t count, loff_t *ppos)
{
	struct buggydev_file *f = file->private_data;
	loff_t pos = *ppos;
	size_t n, left;
	char *bounce;

	if (pos < 0)
		return -EINVAL;
	if (!count)
		return 0;
	if (pos >= BUGGYDEV_SIZE)
		return -ENOSPC;
	n = min_t(size_t, count, BUGGYDEV_SIZE - pos);	/* a write across the end is short */
	bounce = kmalloc(BUGGYDEV_SIZE, GFP_KERNEL);	/* room for any write */
	if (!bounce)
		return -ENOMEM;
	left = copy_from_user(bounce, buf, n);
	if (left == n) {
		kfree(bounce);
		return -EFAULT;
	}
	n -= left;

	if (buggydev_bug == BUGGYDEV_WRITE_OVERFLOW && count > BUGGYDEV_SIZE) {
		/*
		 * write_overflow: what did not fit is cleared in the bounce buffer, up to
		 * the length written: a write longer than 4 KiB runs past the buffer's end
		 * (by BUGGYDEV_OVERRUN bytes at most, its red zone). slub_debug=Z, at the
		 * kfree below: "BUG kmalloc-4k (...): Right Redzone overwritten"; KASAN:
		 * slab-out-of-bounds write in buggydev_write. The pointer is hidden from
		 * FORTIFY_SOURCE, which could stop the memset first.
		 */
		char *p = bounce;
		size_t end = min_t(size_t, count, BUGGYDEV_SIZE + BUGGYDEV_OVERRUN);

		OPTIMIZER_HIDE_VAR(p);
		memset(p + n, 0, end - n);
	}

	mutex_lock(&dev.lock);
	memcpy(dev.data + pos, bounce, n);
	dev.stats.writes++;
	dev.stats.bytes_written += n;
	f->bytes_written += n;
	mutex_unlock(&dev.lock);
	kfree(bounce);
	*ppos = pos + n;
	return n;
}

static loff_t buggydev_llseek(struct file *file, loff_t offset, int whence)
{
	return fixed_size_llseek(file, offset, whence, BUGGYDEV_SIZE);
}

static __poll_t buggydev_poll(struct file *file, poll_table *wait)
{
	mutex_lock(&dev.lock);
	dev.stats.polls++;
	mutex_unlock(&dev.lock);
	return EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM;
}

static int buggydev_mmap(struct file *file, struct vm_area_struct *vma)
{
	int err;

	if (vma->vm_pgoff || vma->vm_end - vma->vm_start != PAGE_SIZE)
		return -EINVAL;
	if (!(vma->vm_flags & VM_SHARED))	/* a private copy of a device makes no sense */
		return -EINVAL;
	buggydev_vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	err = vm_insert_page(vma, vma->vm_start, dev.page);
	if (err)
		return err;
	mutex_lock(&dev.lock);
	dev.stats.mmaps++;
	mutex_unlock(&dev.lock);
	return 0;
}

/* Fills */

/* dev.lock held; fill checked */
static void buggydev_apply_fill(const struct buggydev_fill *fill)
{
	size_t len = strlen(fill->pattern);
	size_t end = fill->length ? fill->offset + fill->length : BUGGYDEV_SIZE;
	size_t i;

	if (fill->flags & BUGGYDEV_FILL_CLEAR_REST)
		memset(dev.data, 0, BUGGYDEV_SIZE);
	for (i = fill->offset; i < end; i++)
		dev.data[i] = fill->pattern[(i - fill->offset) % len];
	strscpy(dev.pattern, fill->pattern, sizeof(dev.pattern));
	dev.stats.fills++;
}

static bool buggydev_fill_valid(const struct buggydev_fill *fill)
{
	size_t len = strnlen(fill->pattern, sizeof(fill->pattern));

	return !(fill->flags & ~BUGGYDEV_FILL_FLAGS) && fill->offset <= BUGGYDEV_SIZE &&
	       fill->length <= BUGGYDEV_SIZE - fill->offset && len && len < sizeof(fill->pattern);
}

/*
 * Apply a fill and remember it among the last BUGGYDEV_HISTORY. racy is the ioctl_race
 * bug, for BUGGYDEV_IOC_SET_FILL only.
 */
static int buggydev_fill(const struct buggydev_fill *fill, bool racy)
{
	struct buggydev_fill_rec *rec, *oldest = NULL;

	rec = kmalloc(sizeof(*rec), GFP_KERNEL);
	if (!rec)
		return -ENOMEM;
	rec->fill = *fill;
	if (racy) {
		/*
		 * ioctl_race: the record is linked without dev.lock, at the tail, in two
		 * steps with a pause between them (standing for work done between looking
		 * at the list and changing it). One caller at a time: harmless. Two callers
		 * take the same tail, and the second to link finds it changed:
		 * CONFIG_DEBUG_LIST (every Debian kernel) reports "list_add corruption.
		 * next->prev should be prev (...), but was (...). (next=...)." and, with
		 * BUG_ON_DATA_CORRUPTION (Debian's too), a kernel BUG in the ioctl.
		 */
		struct list_head *tail = dev.fills.prev;

		usleep_range(100, 200);
		__list_add(&rec->node, tail, &dev.fills);
	}
	mutex_lock(&dev.lock);
	buggydev_apply_fill(fill);
	if (!racy)
		list_add_tail(&rec->node, &dev.fills);
	if (++dev.nfills > BUGGYDEV_HISTORY) {
		oldest = list_first_entry(&dev.fills, struct buggydev_fill_rec, node);
		list_del(&oldest->node);
		dev.nfills--;
	}
	mutex_unlock(&dev.lock);
	kfree(oldest);
	return 0;
}

/* ioctls */

static long buggydev_set_fill(void __user *argp)
{
	struct buggydev_fill fill;

	if (copy_from_user(&fill, argp, sizeof(fill)))
		return -EFAULT;
	if (!buggydev_fill_valid(&fill))
		return -EINVAL;
	return buggydev_fill(&fill, buggydev_bug == BUGGYDEV_IOCTL_RACE);
}

static long buggydev_xchg(void __user *argp)
{
	struct buggydev_xchg *x;	/* the request, in an object of its own */
	long err = 0;
	u64 old;

	x = kmem_cache_alloc(buggydev_xchg_cache, GFP_KERNEL);
	if (!x)
		return -ENOMEM;
	if (copy_from_user(x, argp, sizeof(*x))) {
		err = -EFAULT;
		goto out;
	}
	if (x->slot >= BUGGYDEV_SLOTS || x->flags) {
		err = -EINVAL;
		goto out;
	}
	mutex_lock(&dev.lock);
	old = dev.slots[x->slot];
	dev.slots[x->slot] = x->value;
	dev.stats.xchgs++;
	mutex_unlock(&dev.lock);

	if (buggydev_bug == BUGGYDEV_IOCTL_UAF) {
		/*
		 * ioctl_uaf: the request is freed before the answer is written into it and
		 * copied out. slub_debug=P: "BUG buggydev_xchg (...): Poison overwritten"
		 * when the object is next allocated (by the next exchange), with "Freed in
		 * buggydev_xchg"; user space gets the poison back in slot and flags
		 * (0x6b6b6b6b, 0xa56b6b6b); KASAN or a KFENCE sample: use-after-free in
		 * buggydev_xchg.
		 */
		kmem_cache_free(buggydev_xchg_cache, x);
		x->value = old;
		return copy_to_user(argp, x, sizeof(*x)) ? -EFAULT : 0;
	}
	x->value = old;
	if (copy_to_user(argp, x, sizeof(*x)))
		err = -EFAULT;
out:
	kmem_cache_free(buggydev_xchg_cache, x);
	return err;
}

static void buggydev_reset(void)
{
	struct buggydev_fill_rec *rec, *next;
	LIST_HEAD(fills);

	mutex_lock(&dev.lock);
	memset(dev.data, 0, BUGGYDEV_SIZE);
	dev.pattern[0] = '\0';
	list_splice_init(&dev.fills, &fills);
	dev.nfills = 0;
	memset(dev.slots, 0, sizeof(dev.slots));
	dev.stats.resets++;
	mutex_unlock(&dev.lock);

	list_for_each_entry_safe(rec, next, &fills, node)
		kfree(rec);
}

static long buggydev_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	long ret;

	switch (cmd) {
	case BUGGYDEV_IOC_RESET:
		buggydev_reset();
		ret = 0;
		break;
	case BUGGYDEV_IOC_GET_SIZE:
		ret = put_user((__u32)BUGGYDEV_SIZE, (__u32 __user *)argp) ? -EFAULT : 0;
		break;
	case BUGGYDEV_IOC_SET_FILL:
		ret = buggydev_set_fill(argp);
		break;
	case BUGGYDEV_IOC_XCHG:
		ret = buggydev_xchg(argp);
		break;
	default:
		return -ENOTTY;
	}
	mutex_lock(&dev.lock);
	dev.stats.ioctls++;
	mutex_unlock(&dev.lock);
	return ret;
}

static const struct file_operations buggydev_fops = {
	.owner		= THIS_MODULE,
	.open		= buggydev_open,
	.release	= buggydev_release,
	.read		= buggydev_read,
	.write		= buggydev_write,
	.llseek		= buggydev_llseek,
	.poll		= buggydev_poll,
	.mmap		= buggydev_mmap,
	.unlocked_ioctl	= buggydev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

/* /proc/buggydev */

static int buggydev_proc_show(struct seq_file *m, void *v)
{
	struct buggydev_stats *s;

	s = kmem_cache_alloc(buggydev_stats_cache, GFP_KERNEL);	/* printed without the lock */
	if (!s)
		return -ENOMEM;
	mutex_lock(&dev.lock);
	*s = dev.stats;
	dev.stats.proc_reads++;
	mutex_unlock(&dev.lock);

	if (buggydev_bug == BUGGYDEV_PROC_READ) {
		/*
		 * proc_read: the snapshot is freed before it is printed. Counting this read
		 * in it writes freed memory, printing it reads freed memory. slub_debug=P:
		 * "BUG buggydev_stats (...): Poison overwritten" when the object is next
		 * allocated (by the next read), with "Freed in buggydev_proc_show"; the
		 * counters print as the poison (7740398493674204011 = 0x6b6b6b6b6b6b6b6b);
		 * KASAN or a KFENCE sample: use-after-free in buggydev_proc_show.
		 */
		kmem_cache_free(buggydev_stats_cache, s);
	}
	s->proc_reads++;	/* this read counts in what it prints */
	seq_printf(m, "opens %llu\nreleases %llu\n", s->opens, s->releases);
	seq_printf(m, "reads %llu\nbytes_read %llu\n", s->reads, s->bytes_read);
	seq_printf(m, "writes %llu\nbytes_written %llu\n", s->writes, s->bytes_written);
	seq_printf(m, "polls %llu\nmmaps %llu\nioctls %llu\n", s->polls, s->mmaps, s->ioctls);
	seq_printf(m, "fills %llu\nxchgs %llu\nresets %llu\n", s->fills, s->xchgs, s->resets);
	seq_printf(m, "proc_reads %llu\nsysfs_stores %llu\n", s->proc_reads, s->sysfs_stores);
	if (buggydev_bug != BUGGYDEV_PROC_READ)
		kmem_cache_free(buggydev_stats_cache, s);
	return 0;
}

static int buggydev_proc_open(struct inode *inode, struct file *file)
{
	return single_open(file, buggydev_proc_show, NULL);
}

static const struct proc_ops buggydev_proc_ops = {
	.proc_open	= buggydev_proc_open,
	.proc_read	= seq_read,
	.proc_lseek	= seq_lseek,
	.proc_release	= single_release,
};

/* /sys/class/misc/buggydev/fill */

static ssize_t fill_show(struct device *d, struct device_attribute *attr, char *buf)
{
	ssize_t len;

	mutex_lock(&dev.lock);
	len = sysfs_emit(buf, "%s\n", dev.pattern);
	mutex_unlock(&dev.lock);
	return len;
}

static ssize_t fill_store(struct device *d, struct device_attribute *attr, const char *buf, size_t count)
{
	struct buggydev_fill fill = {};	/* the whole buffer */
	size_t copy = count;
	char *text;
	int err;

	if (count >= BUGGYDEV_STORE_MAX && buggydev_bug != BUGGYDEV_SYSFS_STORE)
		return -EINVAL;
	text = kmalloc(BUGGYDEV_STORE_MAX, GFP_KERNEL);
	if (!text)
		return -ENOMEM;
	if (count >= BUGGYDEV_STORE_MAX) {
		/*
		 * sysfs_store: text of 64 bytes or more is copied into the 64-byte scratch
		 * buffer anyway (by BUGGYDEV_OVERRUN bytes past its end at most, its red
		 * zone). slub_debug=Z, at the kfree below: "BUG kmalloc-64 (...): Right
		 * Redzone overwritten"; KASAN: slab-out-of-bounds write in fill_store. The
		 * pointer is hidden from FORTIFY_SOURCE, which would stop the memcpy first.
		 */
		char *p = text;

		copy = min_t(size_t, count, BUGGYDEV_STORE_MAX + BUGGYDEV_OVERRUN);
		OPTIMIZER_HIDE_VAR(p);
		memcpy(p, buf, copy);
		copy = BUGGYDEV_STORE_MAX - 1;
	} else {
		memcpy(text, buf, copy);
	}
	text[copy] = '\0';
	text[strcspn(text, "\n")] = '\0';

	err = -EINVAL;
	if (text[0] && strscpy(fill.pattern, text, sizeof(fill.pattern)) > 0) {
		err = buggydev_fill(&fill, false);
		mutex_lock(&dev.lock);
		dev.stats.sysfs_stores++;
		mutex_unlock(&dev.lock);
	}
	kfree(text);
	return err ? err : count;
}

static DEVICE_ATTR_RW(fill);

static struct attribute *buggydev_attrs[] = {
	&dev_attr_fill.attr,
	NULL,
};
ATTRIBUTE_GROUPS(buggydev);

static struct miscdevice buggydev_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "buggydev",
	.fops	= &buggydev_fops,
	.groups	= buggydev_groups,
};

/* /sys/kernel/debug/buggydev/stats */

static int buggydev_stats_show(struct seq_file *m, void *v)
{
	unsigned int slots = 0;
	int i;

	mutex_lock(&dev.lock);
	for (i = 0; i < BUGGYDEV_SLOTS; i++)
		slots += dev.slots[i] != 0;
	seq_printf(m, "bug %s\nsize %d\npattern %s\nfills_kept %u\nslots_nonzero %u\n",
		   buggydev_bugs[buggydev_bug], BUGGYDEV_SIZE, dev.pattern, dev.nfills, slots);
	mutex_unlock(&dev.lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(buggydev_stats);

/* Module */

static void buggydev_free_state(void)
{
	struct buggydev_fill_rec *rec, *next;

	list_for_each_entry_safe(rec, next, &dev.fills, node)
		kfree(rec);
	INIT_LIST_HEAD(&dev.fills);
	if (dev.page)
		__free_page(dev.page);
	/* open_leak's notes, if any, make the first one complain (and stay) */
	kmem_cache_destroy(buggydev_note_cache);
	kmem_cache_destroy(buggydev_stats_cache);
	kmem_cache_destroy(buggydev_xchg_cache);
}

static int __init buggydev_init(void)
{
	int index, err;

	BUILD_BUG_ON(BUGGYDEV_SIZE != PAGE_SIZE);
	index = match_string(buggydev_bugs, ARRAY_SIZE(buggydev_bugs), bug && *bug ? bug : "none");
	if (index < 0) {
		pr_err("buggydev: unknown bug '%s'\n", bug);
		return -EINVAL;
	}
	buggydev_bug = index;

	buggydev_note_cache = KMEM_CACHE(buggydev_note, 0);
	buggydev_stats_cache = KMEM_CACHE(buggydev_stats, 0);
	/* whole requests go to and from user space */
	buggydev_xchg_cache = kmem_cache_create_usercopy("buggydev_xchg", sizeof(struct buggydev_xchg),
							 0, 0, 0, sizeof(struct buggydev_xchg), NULL);
	dev.page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	err = -ENOMEM;
	if (!buggydev_note_cache || !buggydev_stats_cache || !buggydev_xchg_cache || !dev.page)
		goto free;
	dev.data = page_address(dev.page);
	dev.proc = proc_create("buggydev", 0444, NULL, &buggydev_proc_ops);
	if (!dev.proc)
		goto free;
	/* an error pointer when debugfs is off: the calls below take it and do nothing */
	dev.debugfs = debugfs_create_dir("buggydev", NULL);
	debugfs_create_file("stats", 0444, dev.debugfs, NULL, &buggydev_stats_fops);
	err = misc_register(&buggydev_misc);
	if (err)
		goto remove;
	if (buggydev_bug != BUGGYDEV_NONE)
		pr_info("buggydev: bug %s planted\n", buggydev_bugs[buggydev_bug]);
	return 0;

remove:
	debugfs_remove_recursive(dev.debugfs);
	proc_remove(dev.proc);
free:
	buggydev_free_state();
	return err;
}

static void __exit buggydev_exit(void)
{
	misc_deregister(&buggydev_misc);	/* no file is open: each holds the module */
	debugfs_remove_recursive(dev.debugfs);
	proc_remove(dev.proc);
	buggydev_free_state();
}

module_init(buggydev_init);
module_exit(buggydev_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("buggydev: a misc character device with a bug planted on request (test fixture)");
