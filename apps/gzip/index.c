/* SPDX-License-Identifier: MIT */
/*
 * index.c - finding and checking the chunk index of one of our gzip files (docs/format.md),
 * from a file or from memory.
 *
 * Nothing in it is trusted: the entries must add up to the data member exactly (its header,
 * the chunks, the final block, its trailer), every chunk must fit the bounds a chunk of its
 * size can have, the index's CRC must match, and the index members (when the index is at the
 * end) must follow the data member exactly and be what the format says. A file that fails any
 * of this is not read through the index: the caller then says why or reads it sequentially.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "../../runtime/internal.h"
#include "gzip_internal.h"

#define ENTRY 12u
#define OE_LEN 24u
#define HEAD_MAX (10 + 2 + 65535)

/* Bytes at `off` of the source (a file, or memory when fd < 0); 0 or -EIO/-EBADMSG (short). */
static int fetch(int fd, const uint8_t *mem, uint64_t size, uint64_t off, void *buf, size_t len)
{
	if (off > size || len > size - off)
		return -EBADMSG;
	if (fd < 0) {
		memcpy(buf, mem + off, len);
		return 0;
	}
	return ory_pread_full(fd, buf, len, off) < 0 ? -EIO : 0;
}

static void get_entries(struct gzip_index *x, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++, p += ENTRY) {
		struct ory_chunk_info *e = &x->e[x->n++];
		e->out_len = gz_get32(p);
		e->in_len = gz_get32(p + 4);
		e->crc32 = gz_get32(p + 8);
	}
}

static int bad(char *why, size_t len, const char *text)
{
	snprintf(why, len, "%s", text);
	return -EBADMSG;
}

/* The index members from the end of the file: *start gets where the first one begins. */
static int load_at_end(struct gzip_index *x, int fd, const uint8_t *mem, uint64_t size,
		       uint64_t *start, char *why, size_t wlen)
{
	uint8_t tail[4 + OE_LEN + 10];
	if (size < sizeof(tail) || fetch(fd, mem, size, size - sizeof(tail), tail, sizeof(tail)))
		return bad(why, wlen, "the index the header announces is missing at the end");
	const uint8_t *oe = tail;
	if (oe[0] != 'O' || oe[1] != 'E' || gz_get16(oe + 2) != OE_LEN ||
	    memcmp(oe + 4 + 20, "ORYX", 4) || memcmp(tail + 4 + OE_LEN, "\x03\x00\0\0\0\0\0\0\0\0", 10))
		return bad(why, wlen, "the index the header announces is missing at the end");
	uint64_t count = gz_get64(oe + 4), bytes = gz_get64(oe + 12);
	uint32_t crc = gz_get32(oe + 20);
	/* 12 bytes an entry, and each member at least 22 bytes around its part */
	if (count == 0 || count > (bytes / ENTRY) || bytes > size || bytes < 22 + 4 + OE_LEN)
		return bad(why, wlen, "the index at the end is damaged (sizes)");
	uint8_t *buf = malloc(bytes);
	x->e = malloc(count * sizeof(*x->e));
	if (!buf || !x->e) {
		free(buf);
		return -ENOMEM;
	}
	int rc = fetch(fd, mem, size, size - bytes, buf, bytes);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	/* Walk the members: header, XLEN, OX (and OE in the last), final block, zero trailer. */
	static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255 };
	uint64_t p = 0;
	while (p < bytes) {
		if (bytes - p < 12 + 10 || memcmp(buf + p, head, 10))
			break;
		uint32_t xlen = gz_get16(buf + p + 10);
		if (xlen < 4 || bytes - p < 12 + (uint64_t)xlen + 10)
			break;
		const uint8_t *s = buf + p + 12;
		uint32_t ox = gz_get16(s + 2);
		if (s[0] != 'O' || s[1] != 'X' || ox % ENTRY || 4 + ox > xlen ||
		    x->n + ox / ENTRY > count)
			break;
		get_entries(x, s + 4, ox / ENTRY);
		bool last = 4 + ox < xlen;
		if (last && (xlen != 4 + ox + 4 + OE_LEN || p + 12 + xlen + 10 != bytes))
			break;
		if (memcmp(buf + p + 12 + xlen, "\x03\x00\0\0\0\0\0\0\0\0", 10))
			break;
		p += 12 + xlen + 10;
		if (last)
			break;
	}
	free(buf);
	if (p != bytes || x->n != count)
		return bad(why, wlen, "the index at the end is damaged (members)");
	if (gzip_index_crc(x->e, x->n) != crc)
		return bad(why, wlen, "the index at the end is damaged (CRC)");
	*start = size - bytes;
	return 0;
}

int gzip_index_load(struct gzip_index *x, int fd, const uint8_t *mem, uint64_t base,
		    uint64_t size, char *why, size_t wlen)
{
	memset(x, 0, sizeof(*x));
	uint8_t h[12];
	if (size - base < 18 || fetch(fd, mem, size, base, h, sizeof(h)) || h[0] != 0x1f ||
	    h[1] != 0x8b || h[2] != 8 || !(h[3] & 0x04) || (h[3] & 0xe0))
		return -ENOENT; /* not ours: read it sequentially */
	uint32_t xlen = gz_get16(h + 10);
	uint8_t *extra = malloc(xlen ? xlen : 1);
	if (!extra)
		return -ENOMEM;
	int rc = fetch(fd, mem, size, base + 12, extra, xlen);
	/* The OC subfield, wherever it is among the extra field's subfields. */
	size_t oclen = 0;
	const uint8_t *oc = rc == 0 ? gzip_extra_find(extra, xlen, 'O', 'C', &oclen) : NULL;
	if (rc < 0 || !oc || oclen < 14 || oc[0] != 1) {
		free(extra);
		/* an extra field past the end is not ours to explain: the member reader says */
		return rc == -EIO ? rc : -ENOENT;
	}
	/* The rest of the header: FNAME, FCOMMENT, FHCRC, as gzip_header and others may write. */
	uint64_t hend = base + 12 + xlen;
	for (int f = 0x08; f <= 0x10; f <<= 1) {
		if (!(h[3] & f))
			continue;
		uint8_t c = 1;
		while (c && !fetch(fd, mem, size, hend, &c, 1))
			hend++;
		if (c) {
			free(extra);
			return bad(why, wlen, "header ends early");
		}
	}
	hend += h[3] & 0x02 ? 2 : 0;
	x->header_len = hend - base;
	x->chunk_size = gz_get32(oc + 2);
	uint32_t flags = oc[1], count = gz_get32(oc + 6), crc = gz_get32(oc + 10);
	uint64_t index_start = size;
	if (flags == 1) {
		if (count == 0 || 14 + (uint64_t)count * ENTRY > oclen) {
			free(extra);
			return bad(why, wlen, "the header's index is damaged (count)");
		}
		if (!(x->e = malloc(count * sizeof(*x->e)))) {
			free(extra);
			return -ENOMEM;
		}
		get_entries(x, oc + 14, count);
		rc = gzip_index_crc(x->e, x->n) == crc ? 0
						       : bad(why, wlen, "the header's index is damaged (CRC)");
	} else if (flags == 2) {
		rc = load_at_end(x, fd, mem, size, &index_start, why, wlen);
	} else {
		rc = bad(why, wlen, "unknown index flags");
	}
	free(extra);
	if (rc < 0)
		return rc;

	/* The entries must make up the data member exactly. */
	uint64_t off = base + x->header_len, total = 0;
	x->coff = malloc(x->n * sizeof(*x->coff));
	x->uoff = malloc(x->n * sizeof(*x->uoff));
	if (!x->coff || !x->uoff)
		return -ENOMEM;
	/* chunk_size 0: sizes vary (--rsyncable); the largest one is what a reader must hold */
	bool varies = x->chunk_size == 0;
	for (size_t i = 0; varies && i < x->n; i++)
		x->chunk_size = ORY_MAX(x->chunk_size, x->e[i].in_len);
	for (size_t i = 0; i < x->n; i++) {
		const struct ory_chunk_info *e = &x->e[i];
		if (e->in_len == 0 || e->in_len > x->chunk_size || e->out_len < 5 ||
		    e->out_len > gzip_chunk_bound(e->in_len))
			return bad(why, wlen, "an index entry is impossible");
		x->coff[i] = off;
		x->uoff[i] = total;
		off += e->out_len;
		total += e->in_len;
	}
	x->total = total;
	x->data_end = off + GZIP_FINAL_BLOCK_LEN + 8;
	if (x->data_end > index_start || (flags == 2 && x->data_end != index_start))
		return bad(why, wlen, "the index does not match the data");
	uint8_t t[10];
	if (fetch(fd, mem, size, off, t, sizeof(t)) || t[0] != 3 || t[1] != 0 ||
	    gz_get32(t + 6) != (uint32_t)total)
		return bad(why, wlen, "the data member does not end where the index says");
	x->crc = gz_get32(t + 2);
	x->rest = index_start - x->data_end; /* bytes after the data member that are not index */
	return 0;
}

void gzip_index_free(struct gzip_index *x)
{
	free(x->e);
	free(x->coff);
	free(x->uoff);
	memset(x, 0, sizeof(*x));
}

size_t gzip_index_chunk_at(const struct gzip_index *x, uint64_t pos)
{
	size_t lo = 0, hi = x->n; /* the last chunk starting at or before pos */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->uoff[mid] <= pos)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}
