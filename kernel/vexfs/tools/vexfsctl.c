// SPDX-License-Identifier: GPL-2.0
/*
 * vexfsctl: give a VexFS file its vector, and ask a directory for its nearest files.
 *
 *   vexfsctl set FILE v1,v2,...
 *   vexfsctl query DIR K l2|dot v1,v2,...
 *
 * Components are integers, encoded as the mount's vtype (int8 or int16, read from
 * /proc/self/mountinfo) in little-endian. query prints one "ino score name" line per
 * result, nearest first. Exit status: 0 done, 1 the kernel refused, 2 bad usage.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../include/uapi/vexfs.h"

static const char *prog = "vexfsctl";

static void usage(void)
{
	fprintf(stderr, "usage: %s set FILE v1,v2,...\n"
			"       %s query DIR K l2|dot v1,v2,...\n", prog, prog);
	exit(2);
}

static void die(const char *what, const char *path)
{
	fprintf(stderr, "%s: %s %s: %s\n", prog, what, path, strerror(errno));
	exit(1);
}

/* Bytes per component of the vexfs mount holding path: 1 (int8) or 2 (int16). */
static int mount_vtype_size(const char *path)
{
	char *line = NULL, *sep, *opt;
	unsigned int major, minor;
	size_t cap = 0;
	struct stat st;
	int size = 0;
	FILE *f;

	if (stat(path, &st))
		die("cannot stat", path);
	f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		die("cannot read", "/proc/self/mountinfo");
	/* ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS */
	while (!size && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*u %*u %u:%u", &major, &minor) != 2 ||
		    makedev(major, minor) != st.st_dev)
			continue;
		sep = strstr(line, " - vexfs ");
		if (!sep)
			continue;
		opt = strstr(sep, "vtype=");
		if (opt)
			size = strncmp(opt, "vtype=int16", 11) ? 1 : 2;
	}
	free(line);
	fclose(f);
	if (!size) {
		fprintf(stderr, "%s: %s is not on a vexfs mount\n", prog, path);
		exit(1);
	}
	return size;
}

/* "v1,v2,..." into little-endian components of size bytes; returns their count. */
static uint32_t parse_vector(const char *text, int size, unsigned char *out)
{
	long lo = size == 1 ? INT8_MIN : INT16_MIN;
	long hi = size == 1 ? INT8_MAX : INT16_MAX;
	const char *p = text;
	uint32_t n = 0;
	char *end;
	long v;

	for (;;) {
		errno = 0;
		v = strtol(p, &end, 10);
		if (end == p || errno || v < lo || v > hi || n == VEXFS_MAX_DIM) {
			fprintf(stderr, "%s: bad vector '%s' (integers in %ld..%ld, at most %d)\n",
				prog, text, lo, hi, VEXFS_MAX_DIM);
			exit(2);
		}
		out[n * size] = (unsigned long)v & 0xff;
		if (size == 2)
			out[n * size + 1] = ((unsigned long)v >> 8) & 0xff;
		n++;
		if (*end == '\0')
			return n;
		if (*end != ',')
			usage();
		p = end + 1;
	}
}

static int cmd_set(const char *path, const char *text)
{
	unsigned char vec[VEXFS_MAX_DIM * 2];
	int size = mount_vtype_size(path);
	uint32_t n = parse_vector(text, size, vec);

	if (setxattr(path, VEXFS_VEC_XATTR, vec, (size_t)n * size, 0))
		die("cannot set the vector of", path);
	return 0;
}

/* The first name dir has for ino, or "?" if it went away meanwhile. */
static const char *name_of(DIR *dir, uint64_t ino)
{
	struct dirent *d;

	rewinddir(dir);
	while ((d = readdir(dir))) {
		if (d->d_ino == ino)
			return d->d_name;
	}
	return "?";
}

static int cmd_query(const char *path, const char *k_text, const char *metric,
		     const char *text)
{
	unsigned char vec[VEXFS_MAX_DIM * 2];
	int size = mount_vtype_size(path);
	struct vexfs_result *res;
	struct vexfs_query q;
	unsigned long k;
	char *end;
	uint32_t i;
	DIR *dir;

	memset(&q, 0, sizeof(q));
	errno = 0;
	k = strtoul(k_text, &end, 10);
	if (end == k_text || *end || errno || k > UINT32_MAX)
		usage();
	if (!strcmp(metric, "l2"))
		q.metric = VEXFS_METRIC_L2;
	else if (!strcmp(metric, "dot"))
		q.metric = VEXFS_METRIC_DOT;
	else
		usage();
	q.dim = parse_vector(text, size, vec);
	/* k is passed as given: the kernel is the one to judge it */
	q.k = k;
	res = calloc(k ? k : 1, sizeof(*res));
	if (!res)
		die("out of memory for", "results");
	q.query = (uintptr_t)vec;
	q.results = (uintptr_t)res;

	dir = opendir(path);
	if (!dir)
		die("cannot open", path);
	if (ioctl(dirfd(dir), VEXFS_IOC_QUERY, &q))
		die("query failed on", path);
	for (i = 0; i < q.count; i++)
		printf("%llu %lld %s\n", (unsigned long long)res[i].ino,
		       (long long)res[i].score, name_of(dir, res[i].ino));
	closedir(dir);
	free(res);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "set"))
		return cmd_set(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "query"))
		return cmd_query(argv[2], argv[3], argv[4], argv[5]);
	usage();
	return 2;
}
