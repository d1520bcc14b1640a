/* vexfs-vmtest guest agent: runs the host's commands and moves its files over a virtio-serial port.
 *
 * Started by the box's init, so it is already running in every ready snapshot. It serves one
 * request at a time: the host says hello (a nonce it wants echoed), then asks to run a command
 * (as a user, under a timeout), to write or read a file, or to set the clock. Frames are
 * "VX", a kind byte, a zero byte, the payload's length and CRC-32 (both big-endian), then the
 * payload; toolkit/machines/qemu/agent_frames.py is the host's side of the same format.
 *
 * A command runs in its own session and process group; past its timeout the whole group is
 * killed and the reply says so. When the host goes away mid-request (the port hangs up, or
 * new bytes arrive while a command runs) the request is abandoned: its command killed, its
 * reply dropped. While no host is connected the agent sleeps until SIGIO says one came.
 *
 * Built in the box's root tree at box build: gcc -O2 -o agent agent.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

#define HEADER 12
#define MAX_PAYLOAD (1 << 20)
#define CHUNK 65536
#define MAX_PENDING (64 << 20) /* reply bytes held while the host reads slowly; pipes wait beyond */
#define PATIENCE_MS 2000       /* how long a reply waits for a host that said hello to show up */

/* A growable byte buffer. */
struct buffer {
	char *data;
	size_t length, capacity;
};

static void append(struct buffer *b, const void *data, size_t length)
{
	if (b->length + length > b->capacity) {
		size_t capacity = b->capacity ? b->capacity : 4096;
		while (capacity < b->length + length)
			capacity *= 2;
		char *grown = realloc(b->data, capacity);
		if (!grown) {
			perror("vexfs-agent: out of memory");
			exit(1);
		}
		b->data = grown;
		b->capacity = capacity;
	}
	memcpy(b->data + b->length, data, length);
	b->length += length;
}

static void consume(struct buffer *b, size_t length)
{
	memmove(b->data, b->data + length, b->length - length);
	b->length -= length;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
}

static uint32_t crc32(const char *data, size_t length)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < length; i++)
		c = crc_table[(c ^ (unsigned char)data[i]) & 0xff] ^ (c >> 8);
	return c ^ 0xffffffffu;
}

static void put32(unsigned char *out, uint32_t value)
{
	out[0] = value >> 24;
	out[1] = value >> 16;
	out[2] = value >> 8;
	out[3] = value;
}

static uint32_t get32(const char *in)
{
	const unsigned char *u = (const unsigned char *)in;
	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static void frame(struct buffer *out, char kind, const void *payload, size_t length)
{
	unsigned char header[HEADER] = {'V', 'X', (unsigned char)kind, 0};
	put32(header + 4, length);
	put32(header + 8, crc32(payload, length));
	append(out, header, HEADER);
	append(out, payload, length);
}

static int port = -1;
static struct buffer input;   /* bytes read from the port, not yet a whole frame */
static struct buffer pending; /* framed reply bytes, written to the port up to `sent` */
static size_t sent;

static size_t unsent(void)
{
	return pending.length - sent;
}

static void drop_pending(void)
{
	pending.length = sent = 0;
}

/* Write what the port takes of the pending reply now; -1 (errno) when it takes nothing. */
static ssize_t send_some(void)
{
	ssize_t wrote = write(port, pending.data + sent, unsent());
	if (wrote > 0 && (sent += wrote) == pending.length)
		drop_pending();
	return wrote;
}

struct request {
	char kind;
	char *payload; /* NUL-terminated copy */
	size_t length;
};

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void reap(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

/* No host connected: sleep until SIGIO (a connection, or data) or ms pass. */
static void sleep_for_host(long ms)
{
	sigset_t io;
	struct timespec wait = {ms / 1000, ms % 1000 * 1000000};
	sigemptyset(&io);
	sigaddset(&io, SIGIO);
	sigtimedwait(&io, NULL, &wait);
	reap();
}

/* The next whole frame in input, past bytes that are not a whole, intact frame. 1 when one was
 * taken out, 0 when more bytes are needed. */
static int take_frame(struct request *request)
{
	while (input.length >= 2) {
		if (input.data[0] != 'V' || input.data[1] != 'X' || (input.length >= HEADER && input.data[3] != 0) ||
		    (input.length >= HEADER && get32(input.data + 4) > MAX_PAYLOAD)) {
			consume(&input, 1);
			continue;
		}
		if (input.length < HEADER)
			return 0;
		size_t length = get32(input.data + 4);
		if (input.length < HEADER + length)
			return 0;
		if (crc32(input.data + HEADER, length) != get32(input.data + 8)) {
			consume(&input, 1);
			continue;
		}
		free(request->payload);
		request->kind = input.data[2];
		request->length = length;
		request->payload = malloc(length + 1);
		if (!request->payload) {
			perror("vexfs-agent: out of memory");
			exit(1);
		}
		memcpy(request->payload, input.data + HEADER, length);
		request->payload[length] = 0;
		consume(&input, HEADER + length);
		return 1;
	}
	if (input.length == 1 && input.data[0] != 'V')
		input.length = 0;
	return 0;
}

/* Read what the port has into input. 1 when bytes came, 0 when none yet, -1 when the host is gone
 * (no bytes left and nobody connected: what is left of a frame is dropped). */
static int fill(void)
{
	char chunk[CHUNK];
	ssize_t got = read(port, chunk, sizeof chunk);
	if (got > 0) {
		append(&input, chunk, got);
		return 1;
	}
	if (got == 0) {
		input.length = 0;
		return -1;
	}
	return errno == EAGAIN || errno == EINTR ? 0 : -1;
}

/* Wait for the next request from whoever is connected, sleeping while nobody is. */
static void next_request(struct request *request)
{
	while (!take_frame(request)) {
		struct pollfd p = {port, POLLIN, 0};
		if (poll(&p, 1, -1) < 0)
			continue;
		/* With nobody connected the port polls readable and hung up, and reads as end of file. */
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && fill() < 0)
			sleep_for_host(1000);
	}
}

/* Write the pending reply, as slowly as a connected host reads it; a host that is not there
 * gets patience_ms to connect (its hello may overtake the news that it did). 0 when all was
 * written, -1 when the host is gone and what was left is dropped. */
static int flush(int patience_ms)
{
	long long give_up = now_ms() + patience_ms;
	while (unsent()) {
		ssize_t wrote = send_some();
		if (wrote > 0) {
			give_up = now_ms() + patience_ms;
			continue;
		}
		if (wrote < 0 && errno != EAGAIN && errno != EINTR)
			break;
		struct pollfd p = {port, POLLOUT, 0};
		poll(&p, 1, 100);
		if (!(p.revents & POLLHUP))
			give_up = now_ms() + patience_ms;
		else if (now_ms() > give_up)
			break;
		else
			sleep_for_host(50);
	}
	if (unsent()) {
		drop_pending();
		return -1;
	}
	return 0;
}

static void reply_done(int status, int timed_out)
{
	char text[32];
	int length = snprintf(text, sizeof text, "%d %d", status, timed_out);
	frame(&pending, 'Z', text, length);
	flush(PATIENCE_MS);
}

static void reply_failure(const char *format, ...)
{
	char text[4200];
	va_list values;
	va_start(values, format);
	int length = vsnprintf(text, sizeof text, format, values);
	va_end(values);
	frame(&pending, 'F', text, length < (int)sizeof text ? length : (int)sizeof text - 1);
	flush(PATIENCE_MS);
}

/* Split a payload "a\0b\0rest" into fields; the last takes whatever remains. */
static int fields(struct request *request, char **out, int count)
{
	char *at = request->payload, *end = request->payload + request->length;
	for (int i = 0; i < count - 1; i++) {
		char *nul = memchr(at, 0, end - at);
		if (!nul)
			return -1;
		out[i] = at;
		at = nul + 1;
	}
	out[count - 1] = at;
	return 0;
}

/* What a login over SSH gives a command: its user's shell, home, groups and sshd's PATH, all
 * made ready before vfork so that the child only makes system calls. */
struct login {
	const struct passwd *user;
	const char *shell;
	gid_t groups[64];
	int group_count;
	char *argv[4];
	char *envp[7];
	char text[6][512];
};

static void prepare(struct login *login, const struct passwd *user, char *command)
{
	const char *path = user->pw_uid == 0 ? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
					     : "/usr/local/bin:/usr/bin:/bin:/usr/games";
	const char *shell = user->pw_shell[0] ? user->pw_shell : "/bin/sh";
	const char *name = strrchr(shell, '/');
	login->user = user;
	login->shell = shell;
	login->group_count = 64;
	if (getgrouplist(user->pw_name, user->pw_gid, login->groups, &login->group_count) < 0)
		login->group_count = 64;
	snprintf(login->text[0], 512, "HOME=%s", user->pw_dir);
	snprintf(login->text[1], 512, "USER=%s", user->pw_name);
	snprintf(login->text[2], 512, "LOGNAME=%s", user->pw_name);
	snprintf(login->text[3], 512, "SHELL=%s", shell);
	snprintf(login->text[4], 512, "PATH=%s", path);
	snprintf(login->text[5], 512, "MAIL=/var/mail/%s", user->pw_name);
	for (int i = 0; i < 6; i++)
		login->envp[i] = login->text[i];
	login->envp[6] = NULL;
	login->argv[0] = (char *)(name ? name + 1 : shell);
	login->argv[1] = "-c";
	login->argv[2] = command;
	login->argv[3] = NULL;
}

/* Set this process's OOM score adjustment; best effort (where it cannot be written it stays). */
static void oom_score_adj(const char *value)
{
	int adjust = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (adjust < 0)
		return;
	ssize_t wrote = write(adjust, value, strlen(value));
	(void)wrote;
	close(adjust);
}

static void say(const char *message)
{
	if (write(2, message, strlen(message)) < 0)
		_exit(127);
}

/* Start the command in its own session, output to the pipes, input from /dev/null. vfork: no
 * page tables copied, nothing of the agent's made copy-on-write (both cost under TCG). */
static pid_t start(const struct login *login, int out, int err)
{
	pid_t pid = vfork();
	if (pid != 0)
		return pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	struct sigaction reset = {.sa_handler = SIG_DFL};
	sigaction(SIGPIPE, &reset, NULL);
	setsid();
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	dup2(null, 0);
	dup2(out, 1);
	dup2(err, 2);
	oom_score_adj("0");
	const struct passwd *user = login->user;
	if (user->pw_uid != getuid() &&
	    (setgroups(login->group_count, login->groups) || setgid(user->pw_gid) || setuid(user->pw_uid))) {
		say("vexfs-agent: cannot become the user\n");
		_exit(126);
	}
	if (chdir(user->pw_dir) < 0 && chdir("/") < 0)
		_exit(126);
	umask(022);
	execve(login->shell, login->argv, login->envp);
	say("vexfs-agent: cannot run the user's shell\n");
	_exit(127);
}

/* Run a command: 'X' "user\0timeout_ms\0command", answered with its output as 'O' and 'E'
 * frames as it comes, then 'Z' "status timed_out"; nothing when the host gave up on it. */
static void run(struct request *request)
{
	char *part[3];
	if (fields(request, part, 3) < 0)
		return reply_failure("bad request");
	struct passwd *user = getpwnam(part[0]);
	if (!user)
		return reply_failure("no user %s in the guest", part[0]);
	long long deadline = now_ms() + atoll(part[1]);
	int out[2], err[2];
	if (pipe2(out, O_CLOEXEC) < 0)
		return reply_failure("pipe: %s", strerror(errno));
	if (pipe2(err, O_CLOEXEC) < 0) {
		close(out[0]);
		close(out[1]);
		return reply_failure("pipe: %s", strerror(errno));
	}
	struct login login;
	prepare(&login, user, part[2]);
	pid_t pid = start(&login, out[1], err[1]);
	close(out[1]);
	close(err[1]);
	int exited = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (exited < 0) {
		int error = errno;
		if (pid > 0)
			kill(pid, SIGKILL);
		close(out[0]);
		close(err[0]);
		return reply_failure("cannot start the command: %s", strerror(error));
	}
	int streams[2] = {out[0], err[0]};
	const char kinds[2] = {'O', 'E'};
	int status = 0, done = 0, timed_out = 0, abandoned = 0;
	while (!(done && streams[0] < 0 && streams[1] < 0)) {
		long long left = deadline - now_ms();
		if (left <= 0) {
			timed_out = 1;
			break;
		}
		struct pollfd p[4] = {{port, POLLIN | (unsent() ? POLLOUT : 0), 0}};
		int what[4] = {-1, -1, -1, -1}; /* 0, 1: a stream; 2: the exit */
		int n = 1;
		for (int i = 0; i < 2; i++)
			if (streams[i] >= 0 && unsent() < MAX_PENDING) {
				what[n] = i;
				p[n++] = (struct pollfd){streams[i], POLLIN, 0};
			}
		if (!done) {
			what[n] = 2;
			p[n++] = (struct pollfd){exited, POLLIN, 0};
		}
		if (poll(p, n, left > 1000 ? 1000 : (int)left) < 0)
			continue;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			abandoned = 1; /* the host hung up, or spoke before the reply: it gave up */
			break;
		}
		if (p[0].revents & POLLOUT)
			send_some();
		for (int k = 1; k < n; k++) {
			if (!p[k].revents)
				continue;
			if (what[k] == 2) {
				done = waitpid(pid, &status, 0) == pid;
				continue;
			}
			int i = what[k];
			char chunk[CHUNK];
			ssize_t got = read(streams[i], chunk, sizeof chunk);
			if (got > 0) {
				frame(&pending, kinds[i], chunk, got);
			} else if (got == 0 || errno != EINTR) {
				close(streams[i]);
				streams[i] = -1;
			}
		}
	}
	if (!done || timed_out || abandoned) {
		kill(-pid, SIGKILL); /* its process group (the command called setsid), what it left running too */
		kill(pid, SIGKILL);  /* in case it had not called it yet */
	}
	for (int i = 0; i < 2; i++)
		if (streams[i] >= 0)
			close(streams[i]);
	close(exited);
	if (abandoned) {
		drop_pending();
		return;
	}
	int code = !done ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	reply_done(code, timed_out);
}

/* Open path as user would over SFTP (effective ids switched for the open, a relative path from
 * the user's home), or -1 with errno. */
static int open_as(const struct passwd *user, const char *given, int flags, mode_t mode)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof path, "%s%s%s", given[0] == '/' ? "" : user->pw_dir, given[0] == '/' ? "" : "/",
		     given) >= (int)sizeof path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (user->pw_uid == geteuid())
		return open(path, flags | O_CLOEXEC, mode);
	gid_t groups[64];
	int count = 64;
	if (getgrouplist(user->pw_name, user->pw_gid, groups, &count) < 0)
		count = 64;
	if (setgroups(count, groups) || setegid(user->pw_gid) || seteuid(user->pw_uid))
		return -1;
	int fd = open(path, flags | O_CLOEXEC, mode);
	int error = errno;
	if (seteuid(0) || setegid(0) || setgroups(0, NULL)) { /* the agent is root whenever it switches */
		perror("vexfs-agent: cannot return to root");
		exit(1);
	}
	errno = error;
	return fd;
}

/* A file from the host: 'P' "user\0mode\0path", then 'D' chunks ending with an empty one,
 * answered with 'Z' or 'F'. 1 when request holds a frame that is not part of it (the host gave
 * up on this transfer and asked for something else). */
static int put(struct request *request)
{
	char *part[3];
	if (fields(request, part, 3) < 0) {
		reply_failure("bad request");
		return 0;
	}
	struct passwd *user = getpwnam(part[0]);
	mode_t mode = strtol(part[1], NULL, 8) & 07777;
	char *path = strdup(part[2]);
	int fd = user ? open_as(user, path, O_WRONLY | O_CREAT | O_TRUNC, mode) : -1;
	int error = user ? errno : ENOENT;
	for (;;) {
		next_request(request);
		if (request->kind != 'D') {
			free(path);
			if (fd >= 0)
				close(fd);
			return 1;
		}
		if (!request->length)
			break;
		if (fd >= 0 && write(fd, request->payload, request->length) != (ssize_t)request->length) {
			error = errno ? errno : EIO;
			close(fd);
			fd = -1;
		}
	}
	if (fd >= 0 && (fchmod(fd, mode) || close(fd))) {
		error = errno;
		fd = -1;
	}
	if (fd < 0)
		reply_failure("cannot write %s: %s", path, strerror(error));
	else
		reply_done(0, 0);
	free(path);
	return 0;
}

/* A file for the host: 'G' "user\0path", answered with 'D' chunks and 'Z', or 'F'. */
static void get(struct request *request)
{
	char *part[2];
	if (fields(request, part, 2) < 0)
		return reply_failure("bad request");
	struct passwd *user = getpwnam(part[0]);
	int fd = user ? open_as(user, part[1], O_RDONLY, 0) : -1;
	if (fd < 0)
		return reply_failure("cannot read %s: %s", part[1], strerror(user ? errno : ENOENT));
	char chunk[CHUNK];
	ssize_t got;
	while ((got = read(fd, chunk, sizeof chunk)) > 0) {
		frame(&pending, 'D', chunk, got);
		if (flush(PATIENCE_MS) < 0) {
			close(fd);
			return;
		}
	}
	int error = errno;
	close(fd);
	if (got < 0)
		return reply_failure("cannot read %s: %s", part[1], strerror(error));
	reply_done(0, 0);
}

/* The host's time after a restore: 'T' "seconds nanoseconds", answered with 'Z'. */
static void set_clock(struct request *request)
{
	long long seconds;
	long nanoseconds;
	if (sscanf(request->payload, "%lld %ld", &seconds, &nanoseconds) != 2)
		return reply_failure("bad time %s", request->payload);
	struct timespec when = {seconds, nanoseconds};
	if (clock_settime(CLOCK_REALTIME, &when) < 0)
		return reply_failure("cannot set the clock: %s", strerror(errno));
	reply_done(0, 0);
}

/* The device of the virtio-serial port called name (/dev/vportNpM), as udev would link it. */
static int open_port(const char *name)
{
	DIR *ports = opendir("/sys/class/virtio-ports");
	struct dirent *entry;
	while (ports && (entry = readdir(ports))) {
		char path[512], found[256] = "";
		snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", entry->d_name);
		FILE *file = fopen(path, "r");
		if (!file)
			continue;
		if (fgets(found, sizeof found, file))
			found[strcspn(found, "\n")] = 0;
		fclose(file);
		if (strcmp(found, name) == 0) {
			snprintf(path, sizeof path, "/dev/%s", entry->d_name);
			closedir(ports);
			return open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		}
	}
	if (ports)
		closedir(ports);
	errno = ENOENT;
	return -1;
}

/* argv[1]: the port's name, or fd:N to serve a descriptor already open (the host's unit tests). */
int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "vexfs.agent";
	crc_init();
	port = strncmp(name, "fd:", 3) == 0 ? atoi(name + 3) : open_port(name);
	if (port < 0) {
		fprintf(stderr, "vexfs-agent: no virtio-serial port %s: %s\n", name, strerror(errno));
		sleep(10); /* init starts it again: not in a tight loop */
		return 1;
	}
	oom_score_adj("-1000"); /* the OOM killer takes a test's processes, never the way to the host */
	sigset_t io;
	sigemptyset(&io);
	sigaddset(&io, SIGIO);
	sigprocmask(SIG_BLOCK, &io, NULL);
	signal(SIGPIPE, SIG_IGN);
	fcntl(port, F_SETOWN, getpid());
	fcntl(port, F_SETFL, O_RDWR | O_NONBLOCK | O_ASYNC);
	struct request request = {0, NULL, 0};
	int taken = 0; /* request already holds the next frame */
	for (;;) {
		if (!taken)
			next_request(&request);
		taken = 0;
		reap();
		switch (request.kind) {
		case 'H':
			frame(&pending, 'H', request.payload, request.length);
			flush(PATIENCE_MS);
			break;
		case 'X':
			run(&request);
			break;
		case 'P':
			taken = put(&request);
			break;
		case 'G':
			get(&request);
			break;
		case 'T':
			set_clock(&request);
			break;
		default:
			break; /* what is left of a request the host gave up on */
		}
	}
}
