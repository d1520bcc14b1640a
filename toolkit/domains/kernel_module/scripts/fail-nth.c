// SPDX-License-Identifier: GPL-2.0
/*
 * Load a module with the Nth failable allocation of the load failing, for N = 1, 2, ...
 * until a load completes without an injected failure (or LIMIT attempts).
 * usage: fail-nth KO MODULE LIMIT [PARAM=VALUE ...]
 * Prints "attempt N injected=0|1 result=loaded|errno E: <message>" per load, then
 * "complete N" or "limit N"; a load that succeeds is undone with delete_module.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void set_fail_nth(int control, int n)
{
	char text[16];
	int length = snprintf(text, sizeof(text), "%d", n);

	if (pwrite(control, text, length, 0) != length) {
		perror("fail-nth");
		exit(2);
	}
}

static int fault_injected(int control)
{
	char text[16] = "";

	if (pread(control, text, sizeof(text) - 1, 0) < 0) {
		perror("fail-nth");
		exit(2);
	}
	return atoi(text) == 0;
}

static char *joined(int count, char **words)
{
	size_t size = 1;
	char *text;
	int i;

	for (i = 0; i < count; i++)
		size += strlen(words[i]) + 1;
	text = calloc(1, size);
	for (i = 0; text && i < count; i++) {
		strcat(text, words[i]);
		strcat(text, i + 1 < count ? " " : "");
	}
	return text;
}

int main(int argc, char **argv)
{
	int control, limit, n;
	char *params;

	if (argc < 4) {
		fprintf(stderr, "usage: %s KO MODULE LIMIT [PARAM=VALUE ...]\n", argv[0]);
		return 2;
	}
	limit = atoi(argv[3]);
	params = joined(argc - 4, argv + 4);
	control = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (control < 0 || !params) {
		perror("/proc/thread-self/fail-nth");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (n = 1; n <= limit; n++) {
		int ko = open(argv[1], O_RDONLY | O_CLOEXEC);
		long loaded;
		int error, injected;

		if (ko < 0) {
			perror(argv[1]);
			return 2;
		}
		set_fail_nth(control, n);
		loaded = syscall(SYS_finit_module, ko, params, 0);
		error = errno;
		injected = fault_injected(control);
		set_fail_nth(control, 0);
		close(ko);
		if (loaded == 0)
			printf("attempt %d injected=%d result=loaded\n", n, injected);
		else
			printf("attempt %d injected=%d result=errno %d: %s\n", n, injected, error, strerror(error));
		if (loaded == 0 && syscall(SYS_delete_module, argv[2], O_NONBLOCK) != 0) {
			printf("unload failed: %s\n", strerror(errno));
			return 5;
		}
		if (!injected) {
			printf("complete %d\n", n);
			return 0;
		}
	}
	printf("limit %d\n", limit);
	return 0;
}
