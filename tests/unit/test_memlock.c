/* SPDX-License-Identifier: MIT */
/* test_memlock.c - a runtime under a small RLIMIT_MEMLOCK (a non-root user's `ulimit -l`) still
 * round-trips, unlocked, and says once why. Each case runs in a child with the limit set and,
 * when we are root, CAP_IPC_LOCK dropped: with it, mlock ignores the limit (CI runs as root). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u

/* Every line the runtime logs, kept to be counted. */
static struct {
	_Atomic unsigned n;
	char line[64][256];
} logged;

static void keep_line(void *arg, enum ory_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	unsigned i = atomic_fetch_add(&logged.n, 1);
	if (i < 64)
		snprintf(logged.line[i], sizeof(logged.line[i]), "%s", msg);
}

static unsigned count_lines(const char *needle)
{
	unsigned n = 0, all = atomic_load(&logged.n);
	for (unsigned i = 0; i < all && i < 64; i++)
		n += strstr(logged.line[i], needle) != NULL;
	return n;
}

/* Take CAP_IPC_LOCK out of this thread's sets (threads created later inherit them). */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	unsigned i = CAP_TO_INDEX(CAP_IPC_LOCK);
	d[i].effective &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	d[i].permitted &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	d[i].inheritable &= ~CAP_TO_MASK(CAP_IPC_LOCK);
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

/* The child: "" when all was well, else what was not, into why. */
static void child_case(rlim_t limit, const char *dir, char *why, size_t len)
{
	struct rlimit rl = { limit, limit };
	if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 || drop_ipc_lock() < 0) {
		snprintf(why, len, "cannot set the limit or drop CAP_IPC_LOCK: %s",
			 strerror(errno));
		return;
	}
	/* The limit must bite, or the test proves nothing (the system call itself: a sanitizer
	 * may stand in for mlock). */
	void *probe = aligned_alloc(4096, 256 * KiB);
	if (probe && syscall(SYS_mlock, probe, 256 * KiB) == 0) {
		snprintf(why, len, "mlock of 256 KiB succeeded under a %lu-byte limit",
			 (unsigned long)limit);
		return;
	}
	free(probe);

	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:2";
	o.chunk_size = 256 * KiB;
	o.log = keep_line;
	o.log_level = ORY_LOG_INFO;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	if (rc < 0) {
		snprintf(why, len, "runtime: %s", err);
		return;
	}
	/* Several jobs, through the pool both ways: file to file, then memory to memory. */
	size_t n = 3 * 1024 * KiB + 77, cap = ory_gzip_bound(rt, n), got = 0;
	uint8_t *in = tu_text(n, limit + 1), *out = malloc(cap);
	tu_write_file(tu_path(dir, "in"), in, n);
	for (int round = 0; round < 3 && !*why; round++) {
		int fi = open(tu_path(dir, "in"), O_RDONLY);
		int fo = open(tu_path(dir, "in.gz"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
		rc = ory_gzip_fd(rt, fi, fo, NULL, NULL);
		close(fi);
		close(fo);
		size_t gz_len;
		uint8_t *gz = tu_read_file(tu_path(dir, "in.gz"), &gz_len);
		if (rc < 0 || !gz || !tu_gzip_is_member_of(gz, gz_len, in, n, why, len))
			snprintf(why + strlen(why), len - strlen(why), " (file round %d: %s)",
				 round, rc < 0 ? ory_runtime_errmsg(rt) : "bad output");
		free(gz);
		if (*why)
			break;
		rc = ory_gzip_buf(rt, in, n, out, cap, &got, NULL, NULL);
		if (rc < 0 || !tu_gzip_is_member_of(out, got, in, n, why, len))
			snprintf(why + strlen(why), len - strlen(why), " (buffer round %d: %s)",
				 round, rc < 0 ? ory_runtime_errmsg(rt) : "bad output");
	}
	ory_runtime_destroy(rt);
	free(in);
	free(out);
	if (*why)
		return;
	unsigned pool = count_lines("not locked"), all = atomic_load(&logged.n);
	if (pool != 1) {
		snprintf(why, len, "%u lines say the chunk buffers are not locked (want 1)", pool);
		return;
	}
	/* Nothing said twice: a line per request would flood an appliance's log. */
	for (unsigned i = 0; i < all && i < 64; i++)
		for (unsigned j = i + 1; j < all && j < 64; j++)
			if (!strcmp(logged.line[i], logged.line[j])) {
				snprintf(why, len, "logged twice: %s", logged.line[i]);
				return;
			}
}

static void round_trips_under(rlim_t limit)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* Their mlock does nothing and succeeds, so the runtime never meets the limit. */
	cr_skip_test("the sanitizer's mlock always succeeds");
#endif
	char *dir = tu_mkdtemp();
	int p[2];
	cr_assert_eq(pipe(p), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char why[512] = "";
		close(p[0]);
		child_case(limit, dir, why, sizeof(why));
		ssize_t w = write(p[1], why, strlen(why));
		(void)w;
		_exit(0);
	}
	close(p[1]);
	char why[512] = "";
	ssize_t got = read(p[0], why, sizeof(why) - 1);
	close(p[0]);
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child died: status %#x", status);
	cr_expect_eq(got, 0, "RLIMIT_MEMLOCK %lu: %s", (unsigned long)limit, why);
	tu_rmtree(dir);
	free(dir);
}

Test(memlock, a_runtime_with_no_lockable_memory_round_trips_and_says_why_once, .timeout = 120)
{
	round_trips_under(0);
}

Test(memlock, a_runtime_under_a_64_kib_memlock_limit_round_trips_and_says_why_once,
     .timeout = 120)
{
	round_trips_under(64 * KiB);
}

/* The process's locked memory (VmLck), in KiB. */
static long locked_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	cr_assert(f);
	char line[256];
	long kib = -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* A shell user gzips many small files: each buffer is locked (and registered with io_uring,
 * which pins it) for what its chunk is expected to hold, not read_depth whole chunks of 4 MiB
 * for a file of 1,000 bytes (before: 32 MiB locked, ~1,500 page faults a process). */
Test(memlock, a_small_file_locks_the_pages_it_needs_not_whole_chunks)
{
	char *dir = tu_mkdtemp();
	const char *in = tu_path(dir, "in"), *out = tu_path(dir, "in.gz");
	uint8_t *data = tu_text(1000, 5);
	tu_write_file(in, data, 1000);
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:1";
	o.chunk_size = 4 * 1024 * KiB;
	struct ory_runtime *rt;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
	long before = locked_kib();
	for (int empty = 0; empty < 2; empty++) {
		int ifd = open(in, O_RDONLY), ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (empty)
			cr_assert_eq(truncate(in, 0), 0);
		struct ory_gzip_opts g;
		ory_gzip_opts_init(&g);
		cr_assert_eq(ory_gzip_fd(rt, ifd, ofd, &g, NULL), 0, "%s", ory_runtime_errmsg(rt));
		close(ifd);
		close(ofd);
		size_t n;
		uint8_t *gz = tu_read_file(out, &n);
		char why[256];
		cr_expect(tu_gzip_is_member_of(gz, n, data, empty ? 0 : 1000, why, sizeof(why)), "%s",
			  why);
		free(gz);
	}
	long after = locked_kib();
	ory_runtime_destroy(rt);
	cr_expect_lt(after - before, 256, "%ld KiB locked for a file of 1,000 bytes and an empty one",
		     after - before);
	free(data);
	tu_rmtree(dir);
	free(dir);
}
