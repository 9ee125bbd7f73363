/* SPDX-License-Identifier: MIT */
/* util.h - test helpers: scratch directories, generated data, running commands. */
#ifndef ORY_TEST_UTIL_H
#define ORY_TEST_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ory_runtime;
struct ory_request;

/* A runtime on `devices` with chunks of `chunk` bytes (0: the default), all else default; the
 * test fails if it cannot be made. */
struct ory_runtime *tu_runtime(const char *devices, size_t chunk);

/* A fresh directory under $TMPDIR for this test; removed by tu_rmtree. */
char *tu_mkdtemp(void);
void tu_rmtree(const char *dir);
/* "dir/name" in a static ring of buffers (valid for the next 16 calls). */
const char *tu_path(const char *dir, const char *name);

/* Deterministic data: random bytes, base64-like text, or English-ish words. Caller frees. */
uint8_t *tu_random(size_t len, uint64_t seed);
uint8_t *tu_text(size_t len, uint64_t seed);

/* CLOCK_MONOTONIC in seconds. */
double tu_now_s(void);

int tu_write_file(const char *path, const void *buf, size_t len);
/* Whole file into a malloc'd buffer (NULL on error); *len gets its size. */
uint8_t *tu_read_file(const char *path, size_t *len);
bool tu_exists(const char *path);
/* Is gz exactly one gzip member (zlib stops after one) holding want, followed by nothing but
 * Octoray's index members (empty, docs/format.md)? If not, why says how it differs. */
bool tu_gzip_is_member_of(const uint8_t *gz, size_t gz_len, const uint8_t *want,
			  size_t want_len, char *why, size_t why_len);
/* tu_gzip_is_member_of without the reason. */
bool tu_inflates_to(const uint8_t *gz, size_t gz_len, const uint8_t *want, size_t want_len);
/* A deflate request of in[0, len) into out[0, cap), everything else default. */
void tu_deflate_request(struct ory_request *req, const void *in, size_t len, void *out,
			size_t cap);
/* A pipe that a thread fills with in[0..len) and closes: tu_pipe_open returns its read end,
 * tu_pipe_join waits for the writer (after the reader is done or closed). */
struct tu_pipe {
	int fd;
	const uint8_t *in;
	size_t len;
	pthread_t thread;
};
int tu_pipe_open(struct tu_pipe *p, const uint8_t *in, size_t len);
void tu_pipe_join(struct tu_pipe *p);
/* Files in dir whose name starts with '.' (our temporary outputs), counted. */
int tu_count_hidden(const char *dir);

/* Run argv (argv[0] a path or a name on PATH) with stdin from in_path (NULL: /dev/null),
 * stdout to out_path and stderr to err_path (NULL: discard). Returns the exit status, or
 * 128 + signal. */
int tu_run(char *const argv[], const char *in_path, const char *out_path, const char *err_path);
/* Run a shell command line (sh -c); returns the exit status as tu_run. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The file's text (NUL-terminated), "" when missing; caller frees. */
char *tu_slurp(const char *path);

#endif
