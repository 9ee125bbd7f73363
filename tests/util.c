/* SPDX-License-Identifier: MIT */
/* util.c - test helpers: scratch directories, generated data, running commands. */
#include <criterion/criterion.h>
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

extern char **environ;

/* The tests link liboctoray statically, so the runtime cannot find the XRT module beside
 * itself (runtime/module.c), and must not load an installed one: every test, and every command
 * a test runs, uses the build's. A test of how the module is found unsets it. */
__attribute__((constructor)) static void use_the_builds_module(void)
{
	setenv("ORY_MODULE_DIR", ORY_BUILD_DIR, 1);
}

struct ory_runtime *tu_runtime(const char *devices, size_t chunk)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	if (chunk)
		o.chunk_size = chunk;
	struct ory_runtime *rt;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s: %s", devices, err);
	return rt;
}

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	char *t = malloc(4096);
	snprintf(t, 4096, "%s/octoray-test.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(t)) {
		free(t);
		return NULL;
	}
	return t;
}

void tu_rmtree(const char *dir)
{
	if (dir)
		tu_sh("rm -rf '%s'", dir);
}

const char *tu_path(const char *dir, const char *name)
{
	static char bufs[16][4096];
	static unsigned next;
	char *b = bufs[next++ % 16];
	snprintf(b, 4096, "%s/%s", dir, name);
	return b;
}

static uint64_t rng(uint64_t *s)
{
	/* splitmix64: cheap, deterministic across platforms */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint8_t *tu_random(size_t len, uint64_t seed)
{
	uint8_t *b = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i += 8) {
		uint64_t v = rng(&seed);
		memcpy(b + i, &v, len - i < 8 ? len - i : 8);
	}
	return b;
}

uint8_t *tu_text(size_t len, uint64_t seed)
{
	static const char *words[] = {
		"the", "chunk", "device", "runtime", "of", "and", "a", "compress", "octoray",
		"gzip", "card", "to", "in", "order", "buffer", "queue", "is", "data", "fast",
		"pool", "thread", "numa", "window", "deflate", "with", "stream", "block",
	};
	uint8_t *b = malloc(len ? len : 1);
	size_t i = 0;
	while (i < len) {
		uint64_t r = rng(&seed);
		const char *w = words[r % (sizeof(words) / sizeof(words[0]))];
		for (const char *p = w; *p && i < len; p++)
			b[i++] = (uint8_t)*p;
		if (i < len)
			b[i++] = (r >> 32) % 13 == 0 ? '\n' : ' ';
	}
	return b;
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t n = len ? fwrite(buf, 1, len, f) : 0;
	return fclose(f) == 0 && n == len ? 0 : -1;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0, got;
	uint8_t *b = malloc(cap);
	while (b && (got = fread(b + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *bigger = realloc(b, cap *= 2);
			if (!bigger)
				free(b);
			b = bigger;
		}
	}
	fclose(f);
	*len = n;
	return b;
}

bool tu_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int tu_count_hidden(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		if (e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int tu_run(char *const argv[], const char *in_path, const char *out_path, const char *err_path)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, in_path ? in_path : "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out_path ? out_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, err_path ? err_path : "/dev/null",
					 O_WRONLY | O_CREAT | O_TRUNC, 0644);
	pid_t pid;
	int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -rc;
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void *pipe_writer(void *arg)
{
	struct tu_pipe *p = arg;
	for (size_t off = 0; off < p->len;) {
		ssize_t n = write(p->fd, p->in + off, p->len - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(p->fd);
	return NULL;
}

int tu_pipe_open(struct tu_pipe *p, const uint8_t *in, size_t len)
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	*p = (struct tu_pipe){ .fd = fds[1], .in = in, .len = len };
	cr_assert_eq(pthread_create(&p->thread, NULL, pipe_writer, p), 0);
	return fds[0];
}

void tu_pipe_join(struct tu_pipe *p)
{
	pthread_join(p->thread, NULL);
}

int tu_sh(const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	return tu_run(argv, NULL, NULL, NULL);
}

char *tu_slurp(const char *path)
{
	size_t n = 0;
	uint8_t *b = tu_read_file(path, &n);
	if (!b)
		return calloc(1, 1);
	b = realloc(b, n + 1);
	b[n] = 0;
	return (char *)b;
}

/* Are these bytes Octoray's index members (docs/format.md): empty gzip members whose extra
 * field starts with an "OX" subfield? */
static bool only_index_members(const uint8_t *p, size_t n)
{
	while (n) {
		if (n < 18 || p[0] != 0x1f || p[1] != 0x8b || !(p[3] & 0x04) || p[12] != 'O' ||
		    p[13] != 'X')
			return false;
		z_stream z;
		memset(&z, 0, sizeof(z));
		uint8_t none[1];
		if (inflateInit2(&z, 16 + 15) != Z_OK)
			return false;
		z.next_in = (uint8_t *)p;
		z.avail_in = (uInt)n;
		z.next_out = none;
		z.avail_out = sizeof(none);
		int rc = inflate(&z, Z_FINISH);
		bool empty = rc == Z_STREAM_END && z.total_out == 0;
		size_t used = n - z.avail_in;
		inflateEnd(&z);
		if (!empty)
			return false;
		p += used;
		n -= used;
	}
	return true;
}

bool tu_gzip_is_member_of(const uint8_t *gz, size_t gz_len, const uint8_t *want,
			  size_t want_len, char *why, size_t why_len)
{
	if (gz_len < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8) {
		snprintf(why, why_len, "not a gzip header (%zu bytes)", gz_len);
		return false;
	}
	z_stream z;
	memset(&z, 0, sizeof(z));
	uint8_t *out = malloc(want_len + 1);
	if (!out || inflateInit2(&z, 16 + 15) != Z_OK) {
		free(out);
		snprintf(why, why_len, "cannot set up zlib");
		return false;
	}
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)gz_len;
	z.next_out = out;
	z.avail_out = (uInt)want_len + 1;
	int rc = inflate(&z, Z_FINISH);
	bool ok = false;
	if (rc != Z_STREAM_END)
		snprintf(why, why_len, "inflate: %d (%s)", rc, z.msg ? z.msg : "");
	else if (z.avail_in && !only_index_members(z.next_in, z.avail_in))
		snprintf(why, why_len, "%u bytes after the first member", z.avail_in);
	else if (z.total_out != want_len)
		snprintf(why, why_len, "%lu bytes, want %zu", z.total_out, want_len);
	else if (memcmp(out, want, want_len))
		snprintf(why, why_len, "data differs");
	else
		ok = true;
	inflateEnd(&z);
	free(out);
	return ok;
}

bool tu_inflates_to(const uint8_t *gz, size_t gz_len, const uint8_t *want, size_t want_len)
{
	char why[256];
	return tu_gzip_is_member_of(gz, gz_len, want, want_len, why, sizeof(why));
}

void tu_deflate_request(struct ory_request *req, const void *in, size_t len, void *out,
			size_t cap)
{
	ory_request_init(req, ORY_OP_DEFLATE);
	req->in = in;
	req->in_len = len;
	req->out = out;
	req->out_cap = cap;
}

double tu_now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
