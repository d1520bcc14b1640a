// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken: a misc device whose timer re-arms itself every 200 ms; its exit forgets to stop
 * it. rmmod returns, then the timer fires into the unloaded module: an oops in the timer softirq.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/timer.h>
#include <linux/uaccess.h>

static struct timer_list tick;
static unsigned long ticks;

static void tau_tick(struct timer_list *t)
{
	ticks++;
	mod_timer(&tick, jiffies + HZ / 5);
}

static ssize_t tau_read(struct file *f, char __user *buf, size_t len, loff_t *off)
{
	char text[32];
	int n = scnprintf(text, sizeof(text), "%lu\n", ticks);

	return simple_read_from_buffer(buf, len, off, text, n);
}

static const struct file_operations tau_fops = {
	.owner = THIS_MODULE,
	.read = tau_read,
};

static struct miscdevice tau_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "timer_after_unload",
	.fops = &tau_fops,
};

static int __init tau_init(void)
{
	int err = misc_register(&tau_dev);

	if (err)
		return err;
	timer_setup(&tick, tau_tick, 0);
	mod_timer(&tick, jiffies + HZ / 5);
	return 0;
}

static void __exit tau_exit(void)
{
	misc_deregister(&tau_dev);
}

module_init(tau_init);
module_exit(tau_exit);
MODULE_LICENSE("GPL");
