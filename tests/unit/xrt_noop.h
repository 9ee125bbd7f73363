/* SPDX-License-Identifier: MIT */
/* xrt_noop.h - what the XRT tests share: XRT's noop shim set up in the test's own process, a
 * runtime whose log is kept, and gzip output checked with zlib. */
#ifndef ORY_TEST_XRT_NOOP_H
#define ORY_TEST_XRT_NOOP_H

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define GZ_XCLBIN ORY_XCLBIN_DIR "/gzip.xclbin"

/* Criterion runs every test in a process of its own, so the environment set here is the
 * test's alone; it must be in place before the first XRT call. */
static inline void xrt_noop_env(void)
{
	if (!ORY_XRT_NOOP_ROOT[0])
		cr_skip_test("XRT's libxrt_noop.so.2 was not found at configure time");
	setenv("XILINX_XRT", ORY_XRT_NOOP_ROOT, 1);
	setenv("XCL_EMULATION_MODE", "noop", 1);
	unsetenv("ORY_XRT_CONFIG");
}

/* The runtime of the current test: destroyed in the suite's fini even when an assertion
 * ended the test, because XRT 2.13 crashes at exit over handles left open. */
static struct ory_runtime *xrt_rt;
static char xrt_logbuf[1 << 16];
static size_t xrt_loglen;
static pthread_mutex_t xrt_loglock = PTHREAD_MUTEX_INITIALIZER;

static inline void xrt_log_line(void *arg, enum ory_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	pthread_mutex_lock(&xrt_loglock);
	int n = snprintf(xrt_logbuf + xrt_loglen, sizeof(xrt_logbuf) - xrt_loglen, "%s\n", msg);
	if (n > 0 && (size_t)n < sizeof(xrt_logbuf) - xrt_loglen)
		xrt_loglen += (size_t)n;
	pthread_mutex_unlock(&xrt_loglock);
}

static inline bool xrt_log_has(const char *text)
{
	pthread_mutex_lock(&xrt_loglock);
	bool has = strstr(xrt_logbuf, text) != NULL;
	pthread_mutex_unlock(&xrt_loglock);
	return has;
}

static inline void xrt_rt_destroy(void)
{
	ory_runtime_destroy(xrt_rt);
	xrt_rt = NULL;
}

/* Create xrt_rt for `devices`; returns the code and leaves the one-line reason in err. */
static inline int xrt_rt_try(const char *devices, size_t chunk, unsigned max_tries, char *err,
			     size_t err_len)
{
	xrt_rt_destroy();
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = chunk ? chunk : o.chunk_size;
	o.max_tries = max_tries ? max_tries : o.max_tries;
	o.fallback_cpu = false; /* the tests count devices and name the ones that run chunks */
	o.log = xrt_log_line;
	o.log_level = ORY_LOG_DEBUG;
	return ory_runtime_create(&o, &xrt_rt, err, err_len);
}

static inline void xrt_rt_make(const char *devices, size_t chunk, unsigned max_tries)
{
	char err[256];
	int rc = xrt_rt_try(devices, chunk, max_tries, err, sizeof(err));
	cr_assert_eq(rc, 0, "runtime '%s': %s (%s)\nlog:\n%s", devices, err, ory_strerror(rc),
		     xrt_logbuf);
}

/* gzip in[0..len) with xrt_rt at `level`; caller frees. */
static inline uint8_t *xrt_gzip_level(const uint8_t *in, size_t len, int level, size_t *out_len,
				      struct ory_job_stats *st)
{
	size_t cap = ory_gzip_bound(xrt_rt, len);
	uint8_t *out = malloc(cap);
	cr_assert_not_null(out);
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = level;
	int rc = ory_gzip_buf(xrt_rt, in, len, out, cap, out_len, &o, st);
	cr_assert_eq(rc, 0, "gzip_buf: %s\nlog:\n%s", ory_runtime_errmsg(xrt_rt), xrt_logbuf);
	return out;
}

static inline uint8_t *xrt_gzip(const uint8_t *in, size_t len, size_t *out_len,
				struct ory_job_stats *st)
{
	return xrt_gzip_level(in, len, 1, out_len, st);
}

/* The documented format: exactly one gzip member holding `want`. */
static inline void xrt_expect_member(const uint8_t *gz, size_t gz_len, const uint8_t *want,
				     size_t want_len)
{
	char why[256];
	cr_expect(tu_gzip_is_member_of(gz, gz_len, want, want_len, why, sizeof(why)), "%s", why);
}

/* Device `name`'s counters of the last job. */
static inline struct ory_device_info xrt_dev_info(const char *name)
{
	struct ory_device_info d = { .struct_size = sizeof(d) };
	for (unsigned i = 0; i < ory_runtime_device_count(xrt_rt); i++) {
		ory_runtime_device_info(xrt_rt, i, &d);
		if (!strcmp(d.name, name))
			return d;
	}
	cr_assert_fail("no device %s", name);
	return d;
}

#endif
