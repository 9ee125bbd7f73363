/* SPDX-License-Identifier: MIT */
/* errors.c - error text, the per-runtime error message and the log hook. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *ory_version(void)
{
	return "0.1.0";
}

const char *ory_strerror(int rc)
{
	if (rc == 0)
		return "Success";
	/* INT_MIN has no negation in int; no errno is that large anyway. */
	if (rc > 0 || rc < -INT_MAX)
		return "Unknown error";
	/* strerrordesc_np is thread-safe and never formats into a buffer (glibc >= 2.32). */
	const char *s = strerrordesc_np(-rc);
	return s ? s : "Unknown error";
}

int ory_fail(struct ory_runtime *rt, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rt->errmsg, sizeof(rt->errmsg), fmt, ap);
	va_end(ap);
	rt->origin = ORY_ORIGIN_NONE;
	return rc;
}

int ory_fail_at(struct ory_runtime *rt, enum ory_error_origin origin, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rt->errmsg, sizeof(rt->errmsg), fmt, ap);
	va_end(ap);
	rt->origin = origin;
	return rc;
}

enum ory_error_origin ory_runtime_error_origin(const struct ory_runtime *rt)
{
	return rt ? rt->origin : ORY_ORIGIN_NONE;
}

void ory_log(const struct ory_runtime *rt, enum ory_log_level lvl, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!rt->opts.log || lvl > rt->opts.log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rt->opts.log(rt->opts.log_arg, lvl, line);
}

const char *ory_runtime_errmsg(const struct ory_runtime *rt)
{
	return rt ? rt->errmsg : "";
}

int ory_job_enter(struct ory_runtime *rt)
{
	if (atomic_flag_test_and_set_explicit(&rt->busy, memory_order_acquire))
		return -EBUSY;
	rt->errmsg[0] = '\0';
	rt->origin = ORY_ORIGIN_NONE;
	return 0;
}

void ory_job_leave(struct ory_runtime *rt)
{
	atomic_flag_clear_explicit(&rt->busy, memory_order_release);
}
