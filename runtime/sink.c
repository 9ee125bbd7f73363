/* SPDX-License-Identifier: MIT */
/* sink.c - where committed output goes: a file descriptor or the caller's buffer. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

int ory_sink_write(struct ory_runtime *rt, struct ory_sink *s, const void *buf, size_t len)
{
	if (len == 0)
		return 0;
	if (s->fd < 0) {
		if (len > s->mem_cap - s->mem_len)
			return ory_fail_at(rt, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
		memcpy(s->mem + s->mem_len, buf, len);
		s->mem_len += len;
		return 0;
	}
	const uint8_t *p = buf;
	while (len) {
		ssize_t n = write(s->fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			/* Keep the errno the caller can act on (ENOSPC, EPIPE); the rest is I/O. */
			int rc = (e == ENOSPC || e == EPIPE || e == EDQUOT || e == EFBIG) ? -e : -EIO;
			return ory_fail_at(rt, ORY_ORIGIN_OUTPUT, rc, "write error: %s", strerror(e));
		}
		if (n == 0)
			return ory_fail_at(rt, ORY_ORIGIN_OUTPUT, -EIO, "write error: device accepts no more data");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
