// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken: a settings table behind a misc device. SET stores a value in a slot; RESET frees
 * the table but keeps the pointer, so every SET after a RESET writes into freed memory.
 */
#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#define CFG_SLOTS 6

struct cfg_entry {
	__u32 slot;
	__u32 value;
};

#define CFG_SET _IOW('c', 1, struct cfg_entry)
#define CFG_RESET _IO('c', 2)

static u32 *table;
static bool table_dropped;
static DEFINE_MUTEX(table_lock);

static long cfg_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct cfg_entry e;

	switch (cmd) {
	case CFG_SET:
		if (copy_from_user(&e, (void __user *)arg, sizeof(e)))
			return -EFAULT;
		if (e.slot >= CFG_SLOTS)
			return -EINVAL;
		mutex_lock(&table_lock);
		table[e.slot] = e.value;	/* still the old table after RESET */
		mutex_unlock(&table_lock);
		return 0;
	case CFG_RESET:
		mutex_lock(&table_lock);
		if (!table_dropped) {
			kfree(table);
			table_dropped = true;
		}
		mutex_unlock(&table_lock);
		return 0;
	}
	return -ENOTTY;
}

static const struct file_operations cfg_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = cfg_ioctl,
};

static struct miscdevice cfg_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "ioctl_after_free",
	.fops = &cfg_fops,
};

static int __init cfg_init(void)
{
	int err;

	table = kcalloc(CFG_SLOTS, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	err = misc_register(&cfg_dev);
	if (err)
		kfree(table);
	return err;
}

static void __exit cfg_exit(void)
{
	misc_deregister(&cfg_dev);
	if (!table_dropped)
		kfree(table);
}

module_init(cfg_init);
module_exit(cfg_exit);
MODULE_LICENSE("GPL");
