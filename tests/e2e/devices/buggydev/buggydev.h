/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * buggydev's ioctl interface, written as a uapi header: user space includes it as is.
 * Every structure has the same layout on 32- and 64-bit (no holes, 8-byte aligned).
 */
#ifndef BUGGYDEV_H
#define BUGGYDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define BUGGYDEV_SIZE		4096	/* bytes the device holds (one page, also what mmap maps) */
#define BUGGYDEV_PATTERN_LEN	16	/* size of buggydev_fill.pattern, its NUL included */
#define BUGGYDEV_SLOTS		8	/* slots BUGGYDEV_IOC_XCHG exchanges values with */

/* buggydev_fill.flags */
#define BUGGYDEV_FILL_CLEAR_REST	0x1	/* zero the bytes outside the range first */
#define BUGGYDEV_FILL_FLAGS		0x1	/* every flag; any other bit: -EINVAL */

/* Repeat pattern over [offset, offset + length); length 0: up to the end of the buffer. */
struct buggydev_fill {
	__u64 offset;				/* <= BUGGYDEV_SIZE */
	__u32 length;				/* <= BUGGYDEV_SIZE - offset */
	__u32 flags;				/* BUGGYDEV_FILL_* */
	char pattern[BUGGYDEV_PATTERN_LEN];	/* NUL-terminated, not empty */
};

/* Put value in a slot and get back what the slot held (0 the first time). */
struct buggydev_xchg {
	__u64 value;	/* in: the new value; out: the old one */
	__u32 slot;	/* < BUGGYDEV_SLOTS */
	__u32 flags;	/* 0 */
};

/* Zero the buffer, forget the pattern, the fill history and every slot. */
#define BUGGYDEV_IOC_RESET	_IO('b', 0)
/* The buffer's size, BUGGYDEV_SIZE. */
#define BUGGYDEV_IOC_GET_SIZE	_IOR('b', 1, __u32)
/* Fill a range of the buffer; the fill is kept in a history of the last 16. */
#define BUGGYDEV_IOC_SET_FILL	_IOW('b', 2, struct buggydev_fill)
/* Exchange a slot's value. */
#define BUGGYDEV_IOC_XCHG	_IOWR('b', 3, struct buggydev_xchg)

#endif /* BUGGYDEV_H */
