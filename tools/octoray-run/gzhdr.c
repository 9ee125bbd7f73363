/* SPDX-License-Identifier: MIT */
/* gzhdr.c - read a gzip member's header (RFC 1952 §2.3): what -N restores (the stored name and
 * time) and what -l shows and counts (the time, the header's length). */
#include <string.h>

#include "gzip.h"

enum { FHCRC = 0x02, FEXTRA = 0x04, FNAME = 0x08, FCOMMENT = 0x10 };

/* The end of a NUL-terminated field starting at buf[i], or 0 if it does not end in buf. */
static size_t field_end(const uint8_t *buf, size_t n, size_t i)
{
	const uint8_t *z = i < n ? memchr(buf + i, 0, n - i) : NULL;
	return z ? (size_t)(z - buf) + 1 : 0;
}

int gz_header_parse(const uint8_t *buf, size_t n, struct gz_header *h)
{
	memset(h, 0, sizeof(*h));
	if (n >= 1 && buf[0] != 0x1f)
		return -1;
	if (n >= 2 && buf[1] != 0x8b)
		return -1;
	if (n < 10)
		return 0;
	uint8_t flags = buf[3];
	h->mtime = (uint32_t)buf[4] | (uint32_t)buf[5] << 8 | (uint32_t)buf[6] << 16 |
		   (uint32_t)buf[7] << 24;
	size_t i = 10;
	if (flags & FEXTRA) {
		if (n < i + 2)
			return 0;
		i += 2 + ((size_t)buf[i] | (size_t)buf[i + 1] << 8);
	}
	if (flags & FNAME) {
		size_t end = field_end(buf, n, i);
		if (!end)
			return 0;
		h->has_name = true;
		size_t len = end - 1 - i;
		if (len >= sizeof(h->name))
			len = sizeof(h->name) - 1; /* gzip stops at 1 KiB as well */
		memcpy(h->name, buf + i, len);
		h->name[len] = 0;
		i = end;
	}
	if (flags & FCOMMENT) {
		size_t end = field_end(buf, n, i);
		if (!end)
			return 0;
		i = end;
	}
	if (flags & FHCRC)
		i += 2;
	if (i > n)
		return 0;
	h->len = i;
	return 1;
}
