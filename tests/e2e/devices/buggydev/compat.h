/* SPDX-License-Identifier: GPL-2.0 */
/*
 * buggydev compatibility from 5.10 to 7.x: every kernel-version test of the driver lives here.
 *
 * What needs none, checked in each line's headers: misc_register with a dynamic minor and
 * miscdevice.groups, proc_create with struct proc_ops (5.6), seq_file's single_open and
 * DEFINE_SHOW_ATTRIBUTE, debugfs_create_dir/_file (a _Generic macro on 7.x, same call),
 * debugfs_remove_recursive, sysfs_emit (5.10), fixed_size_llseek, compat_ptr_ioctl (5.5),
 * vm_insert_page and file_operations.mmap (7.x adds mmap_prepare beside it), no symbol
 * namespace to import.
 */
#ifndef BUGGYDEV_COMPAT_H
#define BUGGYDEV_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>

/* vma->vm_flags became read-only in 6.3: vm_flags_set takes the VMA write lock. */
static inline void buggydev_vm_flags_set(struct vm_area_struct *vma, vm_flags_t flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

#endif /* BUGGYDEV_COMPAT_H */
