// SPDX-License-Identifier: GPL-2.0
/*
 * Load a module with the Nth failable allocation of the load failing, for N = 1, 2, ...
 * until a load completes without an injected failure (or LIMIT loads).
 * usage: [OWN_TRACE=trace] fail-nth KO MODULE LIMIT [PARAM=VALUE ...]
 * Prints "attempt N injected=0|1 result=loaded|errno E: <message>" per load, then
 * "complete N" or "limit N"; a load that succeeds is undone with delete_module.
 * OWN_TRACE names the trace of a tracing instance that records the slab allocations module code makes (for
 * kernels whose fault injection cannot tell module code from the loader, so that N counts the whole load).
 * Each attempt line then says which of the module's own allocations failed and how many it made
 * ("own=F/T", F = 0: none of them), and each of the module's allocations the sweep passed over is tried
 * again with the N around it: the loader makes a few allocations more in one load than in another (kernfs
 * ids, per-CPU preloads), so the Nth is not the same allocation from load to load. "unreached K of T" says
 * that the module's allocation K was never failed.
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

#define RETRIES 24 /* loads per passed-over allocation */

struct load {
	long loaded;
	int error;
	int injected;
	int own_failed; /* which of the module's own allocations failed, from 1; 0: none */
	int own_total; /* how many the module made */
};

struct sweep {
	int control; /* this thread's fail-nth */
	const char *ko;
	const char *module;
	const char *params;
	const char *trace; /* OWN_TRACE, or NULL */
	int *failed_at; /* failed_at[K]: an N that failed the module's allocation K, K <= limit */
	int limit;
	int loads;
};

static void clear(const char *trace)
{
	int file = open(trace, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (file >= 0)
		close(file);
}

/* The module's allocations the trace recorded since it was cleared, and which of them failed. */
static void count_own(const char *trace, struct load *load)
{
	FILE *file = fopen(trace, "re");
	char *line = NULL;
	size_t size = 0;

	load->own_failed = 0;
	load->own_total = 0;
	if (!file)
		return;
	while (getline(&line, &size, file) > 0) {
		if (line[0] == '#' || !strstr(line, " call_site="))
			continue;
		load->own_total++;
		if (strstr(line, " ptr=0000000000000000 "))
			load->own_failed = load->own_total;
	}
	free(line);
	fclose(file);
	clear(trace);
}

/* Load with the Nth allocation failing, print the attempt line, unload what loaded; 0 or the exit status. */
static int attempt(struct sweep *sweep, int n, struct load *load)
{
	int ko = open(sweep->ko, O_RDONLY | O_CLOEXEC);

	if (ko < 0) {
		perror(sweep->ko);
		return 2;
	}
	set_fail_nth(sweep->control, n);
	load->loaded = syscall(SYS_finit_module, ko, sweep->params, 0);
	load->error = errno;
	load->injected = fault_injected(sweep->control);
	set_fail_nth(sweep->control, 0);
	close(ko);
	sweep->loads++;
	printf("attempt %d injected=%d", n, load->injected);
	if (sweep->trace) {
		count_own(sweep->trace, load);
		if (load->own_failed && load->own_failed <= sweep->limit)
			sweep->failed_at[load->own_failed] = n;
		printf(" own=%d/%d", load->own_failed, load->own_total);
	}
	if (load->loaded == 0)
		printf(" result=loaded\n");
	else
		printf(" result=errno %d: %s\n", load->error, strerror(load->error));
	if (load->loaded == 0 && syscall(SYS_delete_module, sweep->module, O_NONBLOCK) != 0) {
		printf("unload failed: %s\n", strerror(errno));
		return 5;
	}
	if (sweep->trace)
		clear(sweep->trace); /* what the module's exit allocated */
	return 0;
}

/* Try the module's allocation k again with each N from the last that failed one before it to the first that
 * failed one after it (or the complete load), widened by 2 either way: kmemleak's own allocation follows each. */
static int retry(struct sweep *sweep, int k, int total, int complete)
{
	int low = 1, high = complete, i, tries, status;
	struct load load;

	for (i = k - 1; i >= 1; i--) {
		if (sweep->failed_at[i]) {
			low = sweep->failed_at[i];
			break;
		}
	}
	for (i = k + 1; i <= total; i++) {
		if (sweep->failed_at[i]) {
			high = sweep->failed_at[i];
			break;
		}
	}
	if (high < low) { /* the loads that failed them were shifted apart */
		i = low;
		low = high;
		high = i;
	}
	low = low > 2 ? low - 2 : 1;
	high = high + 2 < complete ? high + 2 : complete;
	for (tries = 0; !sweep->failed_at[k] && tries < RETRIES && sweep->loads < sweep->limit; tries++) {
		status = attempt(sweep, low + tries % (high - low + 1), &load);
		if (status)
			return status;
	}
	if (!sweep->failed_at[k])
		printf("unreached %d of %d\n", k, total);
	return 0;
}

int main(int argc, char **argv)
{
	struct sweep sweep = { .trace = getenv("OWN_TRACE") };
	struct load load = { 0 };
	int n, k, total, status;

	if (argc < 4) {
		fprintf(stderr, "usage: %s KO MODULE LIMIT [PARAM=VALUE ...]\n", argv[0]);
		return 2;
	}
	sweep.limit = atoi(argv[3]);
	sweep.ko = argv[1];
	sweep.module = argv[2];
	sweep.params = joined(argc - 4, argv + 4);
	sweep.failed_at = calloc(sweep.limit > 0 ? sweep.limit + 1 : 1, sizeof(int));
	sweep.control = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (sweep.control < 0 || !sweep.params || !sweep.failed_at) {
		perror("/proc/thread-self/fail-nth");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sweep.trace)
		clear(sweep.trace);
	for (n = 1; n <= sweep.limit; n++) {
		status = attempt(&sweep, n, &load);
		if (status)
			return status;
		if (!load.injected)
			break;
	}
	if (n > sweep.limit) {
		printf("limit %d\n", sweep.limit);
		return 0;
	}
	total = load.own_total < sweep.limit ? load.own_total : sweep.limit; /* failed_at's bound */
	for (k = 1; sweep.trace && k <= total; k++) {
		if (!sweep.failed_at[k]) {
			status = retry(&sweep, k, total, n);
			if (status)
				return status;
		}
	}
	printf("complete %d\n", n);
	return 0;
}
