// SPDX-License-Identifier: GPL-2.0
/*
 * Deliberately broken: loads cleanly, then, a second later, a kernel thread of its spins on one
 * CPU with preemption off and never gives it back, nor stops when asked. insmod has returned by
 * then; the watchdog reports a soft lockup, RCU stalls follow, rmmod waits forever in
 * kthread_stop(), and the guest answers less and less.
 */
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/preempt.h>

static struct task_struct *spinner;

static int wedge_after_load_spin(void *unused)
{
	msleep(1000);
	preempt_disable();
	for (;;)
		cpu_relax();
	return 0;
}

static int __init wedge_after_load_init(void)
{
	spinner = kthread_run(wedge_after_load_spin, NULL, "wedge_after_load");
	return PTR_ERR_OR_ZERO(spinner);
}

static void __exit wedge_after_load_exit(void)
{
	kthread_stop(spinner);
}

module_init(wedge_after_load_init);
module_exit(wedge_after_load_exit);
MODULE_LICENSE("GPL");
