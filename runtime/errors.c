/* SPDX-License-Identifier: MIT */
/* errors.c - error text, a request's failure message, the calling thread's last synchronous
 * failure, and the log hook. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

const char *ory_version(void)
{
	return "0.2.0";
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

int ory_req_fail(struct req *r, enum ory_error_origin origin, int rc, const char *fmt, ...)
{
	if (r->error)
		return rc;
	r->error = rc;
	struct ory_request *pub = r->pub;
	pub->origin = origin;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(pub->errmsg, sizeof(pub->errmsg), fmt, ap);
	va_end(ap);
	return rc;
}

/* A synchronous call's failure, for ory_runtime_errmsg on the thread that made it. */
static __thread const struct ory_runtime *tls_rt;
static __thread char tls_msg[ORY_ERRMSG_LEN];
static __thread enum ory_error_origin tls_origin;

void ory_tls_set_error(const struct ory_runtime *rt, enum ory_error_origin origin,
		       const char *msg)
{
	tls_rt = rt;
	tls_origin = origin;
	snprintf(tls_msg, sizeof(tls_msg), "%s", msg);
}

int ory_tls_fail(const struct ory_runtime *rt, enum ory_error_origin origin, int rc,
		 const char *fmt, ...)
{
	char msg[ORY_ERRMSG_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ory_tls_set_error(rt, origin, msg);
	return rc;
}

const char *ory_runtime_errmsg(const struct ory_runtime *rt)
{
	return rt && tls_rt == rt ? tls_msg : "";
}

enum ory_error_origin ory_runtime_error_origin(const struct ory_runtime *rt)
{
	return rt && tls_rt == rt ? tls_origin : ORY_ORIGIN_NONE;
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
