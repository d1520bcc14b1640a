// SPDX-License-Identifier: GPL-2.0
/*
 * System calls smoke.sh cannot make from the shell. Each command prints "ok" or the
 * strerror() of what failed, for the script to compare; the exit status is 0 either
 * way unless the usage is wrong (2).
 *
 *   smoke-helper mount DIR OPTIONS             mount(2) vexfs, then unmount
 *   smoke-helper rename FROM TO noreplace|exchange
 *   smoke-helper setxattr FILE NAME HEX create|replace
 *   smoke-helper mmap FILE                     write through a shared mapping, read back
 *   smoke-helper ioctl DIR K METRIC DIM null-arg|bad-query|bad-results|ok
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "../include/uapi/vexfs.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int report(int failed)
{
	puts(failed ? strerror(errno) : "ok");
	return 0;
}

static int do_mount(char **argv)
{
	if (mount("smoke", argv[0], "vexfs", 0, argv[1]))
		return report(1);
	umount(argv[0]);
	return report(0);
}

static int do_rename(char **argv)
{
	unsigned int flags = strcmp(argv[2], "exchange") ? RENAME_NOREPLACE : RENAME_EXCHANGE;

	return report(syscall(SYS_renameat2, AT_FDCWD, argv[0], AT_FDCWD, argv[1], flags) != 0);
}

static int do_setxattr(char **argv)
{
	unsigned char value[256];
	size_t n = 0;
	const char *p;
	int flags = strcmp(argv[3], "create") ? XATTR_REPLACE : XATTR_CREATE;

	for (p = argv[2]; p[0] && p[1] && n < sizeof(value); p += 2) {
		if (sscanf(p, "%2hhx", &value[n++]) != 1)
			return 2;
	}
	return report(setxattr(argv[0], argv[1], value, n, flags) != 0);
}

static int do_mmap(char **argv)
{
	const size_t len = 3 * 4096 + 100;
	char *map, *back;
	size_t i;
	int fd;

	fd = open(argv[0], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, len))
		return report(1);
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		return report(1);
	for (i = 0; i < len; i++)
		map[i] = (char)(i * 7 + 3);
	if (msync(map, len, MS_SYNC) || munmap(map, len) || fsync(fd))
		return report(1);
	back = malloc(len);
	if (!back || pread(fd, back, len, 0) != (ssize_t)len)
		return report(1);
	for (i = 0; i < len; i++) {
		if (back[i] != (char)(i * 7 + 3)) {
			puts("mismatch");
			return 0;
		}
	}
	free(back);
	close(fd);
	return report(0);
}

/* One VEXFS_IOC_QUERY with a zero query vector, broken in the way asked. */
static int do_ioctl(char **argv)
{
	struct vexfs_result res[4];
	int16_t vec[VEXFS_MAX_DIM];
	struct vexfs_query q = {
		.k = strtoul(argv[1], NULL, 0),
		.metric = strtoul(argv[2], NULL, 0),
		.dim = strtoul(argv[3], NULL, 0),
		.query = (uintptr_t)vec,
		.results = (uintptr_t)res,
	};
	void *arg = &q;
	int fd;

	memset(vec, 0, sizeof(vec));
	if (!strcmp(argv[4], "null-arg"))
		arg = NULL;
	else if (!strcmp(argv[4], "bad-query"))
		q.query = 16;
	else if (!strcmp(argv[4], "bad-results"))
		q.results = (uintptr_t)-4096;
	fd = open(argv[0], O_RDONLY);
	if (fd < 0)
		return report(1);
	return report(ioctl(fd, VEXFS_IOC_QUERY, arg) != 0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int args;
		int (*run)(char **argv);
	} cmds[] = {
		{ "mount", 2, do_mount },
		{ "rename", 3, do_rename },
		{ "setxattr", 4, do_setxattr },
		{ "mmap", 1, do_mmap },
		{ "ioctl", 5, do_ioctl },
	};
	size_t i;

	for (i = 0; argc > 1 && i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!strcmp(argv[1], cmds[i].name) && argc == cmds[i].args + 2)
			return cmds[i].run(argv + 2);
	}
	fprintf(stderr, "usage: see the comment at the top of smoke-helper.c\n");
	return 2;
}
