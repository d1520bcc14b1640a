/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * VexFS user-space ABI: the vector extended attribute and the k-nearest query ioctl.
 *
 * A regular file carries an embedding as the xattr VEXFS_VEC_XATTR: exactly `dim`
 * components of the mount's `vtype` (int8 or int16), little-endian, no header.
 * VEXFS_IOC_QUERY on a directory returns the k files of that directory nearest to a
 * query vector given in the same encoding.
 */
#ifndef _UAPI_VEXFS_H
#define _UAPI_VEXFS_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VEXFS_VEC_XATTR		"user.vexfs.vec"
#define VEXFS_MAX_DIM		4096
#define VEXFS_MAX_K		1024

/* Squared Euclidean distance: smaller is nearer. */
#define VEXFS_METRIC_L2		0
/* Dot product: larger is nearer. */
#define VEXFS_METRIC_DOT	1

struct vexfs_result {
	__u64 ino;
	__s64 score;		/* squared distance (L2) or dot product (DOT) */
};

struct vexfs_query {
	__u32 dim;		/* in: components in the query; must equal the mount's dim */
	__u32 k;		/* in: results wanted, 1..VEXFS_MAX_K */
	__u32 metric;		/* in: VEXFS_METRIC_* */
	__u32 count;		/* out: results written, <= k, nearest first */
	__u64 query;		/* in: user pointer to dim components in the mount's vtype */
	__u64 results;		/* in: user pointer to k struct vexfs_result */
};

#define VEXFS_IOC_MAGIC		0xE8
#define VEXFS_IOC_QUERY		_IOWR(VEXFS_IOC_MAGIC, 1, struct vexfs_query)

#endif /* _UAPI_VEXFS_H */
