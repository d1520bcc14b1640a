/* kmsg-after [--follows] MARKER: print the kernel's messages logged after the first one holding MARKER,
 * as dmesg prints them ("[seconds.micros] text"). One small program instead of `dmesg | awk`: every
 * guest step ends with this read, and under emulation each exec costs tens of milliseconds.
 * --follows: first a line saying "MARKER: kernel log follows" (after an empty line), which parts a
 * step's own output from the log printed after it (toolkit/domains/guest.py).
 *
 * Reads /dev/kmsg without blocking from its oldest record to its newest; records the ring
 * overwrote while it read are skipped (EPIPE), as dmesg skips them.
 *
 * Built in the box's root tree at box build: gcc -O2 -o kmsg-after kmsg-after.c
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RECORD_MAX 8192 /* the kernel's CONSOLE_EXT_LOG_MAX */

/* The kernel writes bytes other than printable ASCII as \xNN: decode those dmesg decodes (printable
 * characters and white space), in place; the others stay escaped, as dmesg shows them. */
static void unescape(char *text)
{
	char *out = text;
	for (char *in = text; *in; out++) {
		unsigned int byte;
		if (in[0] == '\\' && in[1] == 'x' && sscanf(in + 2, "%2x", &byte) == 1 &&
		    (isprint(byte) || isspace(byte))) {
			*out = (char)byte;
			in += 4;
		} else {
			*out = *in++;
		}
	}
	*out = '\0';
}

/* One message as dmesg prints it: its time, then its text, each line after the first indented to the text. */
static void print(unsigned long long micros, const char *text)
{
	int indent = printf("[%5llu.%06llu] ", micros / 1000000, micros % 1000000);
	for (const char *line = text;;) {
		size_t length = strcspn(line, "\n");
		fwrite(line, 1, length, stdout);
		putchar('\n');
		if (!line[length])
			break;
		line += length + 1;
		printf("%*s", indent, "");
	}
}

int main(int argc, char **argv)
{
	int follows = argc == 3 && strcmp(argv[1], "--follows") == 0;
	if (argc != 2 + follows) {
		fputs("usage: kmsg-after [--follows] MARKER\n", stderr);
		return 2;
	}
	const char *marker = argv[argc - 1];
	if (follows)
		printf("\n%s: kernel log follows\n", marker);
	int kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg < 0) {
		perror("kmsg-after: /dev/kmsg");
		return 1;
	}
	static char record[RECORD_MAX + 1];
	int found = 0;
	for (;;) {
		ssize_t length = read(kmsg, record, RECORD_MAX);
		if (length < 0 && (errno == EPIPE || errno == EINTR))
			continue;
		if (length < 0 && errno == EAGAIN)
			break;
		if (length < 0) {
			perror("kmsg-after: reading /dev/kmsg");
			return 1;
		}
		if (length == 0)
			break;
		record[length] = '\0';
		char *text = strchr(record, ';');
		unsigned long long micros;
		if (!text || sscanf(record, "%*u,%*u,%llu", &micros) != 1)
			continue;
		text++;
		text[strcspn(text, "\n")] = '\0'; /* the dictionary's " KEY=value" lines follow */
		unescape(text);
		if (found)
			print(micros, text);
		else if (strstr(text, marker))
			found = 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}
