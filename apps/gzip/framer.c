/* SPDX-License-Identifier: MIT */
/*
 * framer.c - the bytes around the chunks: header (with the chunk index or room for it), final
 * block, check values and index members (docs/format.md). One implementation for the runtime's
 * own requests, streams, and pieces compressed elsewhere (the public ory_gzip_framer).
 *
 * The index goes in the header when the input's size is known, the header can be written again
 * at the end (a file or a buffer, not a pipe) and the entries fit; room is reserved for the
 * chunks expected and filled at the end. Otherwise it follows the data member, in empty
 * members that every gzip reader skips.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../../runtime/internal.h"
#include "gzip_internal.h"

#define XLEN_MAX 65535u
#define SUB_HDR 4u          /* SI1, SI2, LEN */
#define OC_FIXED 14u        /* version, flags, chunk_size, count, index crc */
#define ENTRY 12u
#define OE_LEN 24u
#define HDR_ENTRIES ((XLEN_MAX - SUB_HDR - OC_FIXED) / ENTRY)
#define MEMBER_ENTRIES ((XLEN_MAX - SUB_HDR) / ENTRY)
#define LAST_MEMBER_ENTRIES ((XLEN_MAX - 2 * SUB_HDR - OE_LEN) / ENTRY)

enum { OC_HERE = 1, OC_AT_END = 2 };

struct ory_gzip_framer {
	enum ory_framing framing;
	int level;
	bool unterminated;
	bool ended;             /* the data ends in the final block (gzip_framer_ended) */
	bool indexed;           /* an index is written (here or at the end) */
	uint32_t reserved;      /* entries the header has room for (0: the index goes at the end) */
	size_t chunk_size;
	uint8_t *header;
	size_t header_len;
	size_t oc;              /* offset of the OC subfield's data in the header */
	struct ory_chunk_info *e;
	size_t n, cap;
	uint32_t crc, adler;
	uint64_t total;
	uint8_t *tail;          /* what finish returns */
	size_t tail_len;
};

size_t gzip_index_bound(uint64_t chunks)
{
	/* the header's room, or members at the end: each one's header, XLEN, subfields, trailer */
	size_t members = (size_t)(chunks / LAST_MEMBER_ENTRIES) + 1;
	return SUB_HDR + OC_FIXED + ENTRY * (size_t)chunks + members * (12 + 2 * SUB_HDR + OE_LEN + 10);
}

static void put_entries(uint8_t *p, const struct ory_chunk_info *e, size_t n)
{
	for (size_t i = 0; i < n; i++, p += ENTRY) {
		gz_put32(p, e[i].out_len);
		gz_put32(p + 4, e[i].in_len);
		gz_put32(p + 8, e[i].crc32);
	}
}

uint32_t gzip_index_crc(const struct ory_chunk_info *e, size_t n)
{
	uint8_t buf[ENTRY * 64];
	uint32_t crc = 0;
	for (size_t i = 0; i < n; i += 64) {
		size_t k = n - i < 64 ? n - i : 64;
		put_entries(buf, e + i, k);
		crc = (uint32_t)crc32(crc, buf, (uInt)(k * ENTRY));
	}
	return crc;
}

/* The OC subfield's data: flags, and the entries when they are here. */
static void put_oc(struct ory_gzip_framer *f, uint8_t *p, int flags, size_t count)
{
	p[0] = 1;
	p[1] = (uint8_t)flags;
	gz_put32(p + 2, (uint32_t)f->chunk_size);
	gz_put32(p + 6, (uint32_t)count);
	gz_put32(p + 10, count ? gzip_index_crc(f->e, count) : 0);
	put_entries(p + OC_FIXED, f->e, count);
}

int gzip_framer_new(const struct ory_gzip_opts *o, size_t chunk_size, uint64_t in_len,
		    bool rewritable, struct ory_gzip_framer **out)
{
	struct ory_gzip_framer *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->framing = o->framing;
	f->level = o->level;
	f->unterminated = o->unterminated;
	f->chunk_size = chunk_size;
	f->adler = 1;
	uint64_t expect = in_len == UINT64_MAX ? UINT64_MAX : (in_len + chunk_size - 1) / chunk_size;
	if (o->rsyncable) {
		/* A window of chunk_size bytes may end in two chunks. The index goes at the end:
		 * an edit changes an entry and the index CRC, and at the end those bytes usually
		 * fall in the rsync block the trailer's new CRC-32 costs anyway, where in the
		 * header they cost the first block too. chunk_size 0: sizes vary. */
		expect = in_len == UINT64_MAX || in_len >= chunk_size ? UINT64_MAX : in_len > 0;
		f->chunk_size = 0;
		rewritable = false;
	}
	/* Only chunks that do not depend on each other can be found and inflated alone; one chunk
	 * needs no index. */
	f->indexed = o->framing == ORY_FRAMING_GZIP && o->index && o->independent && expect > 1;
	if (f->indexed && rewritable && expect <= HDR_ENTRIES)
		f->reserved = (uint32_t)expect;
	size_t nlen = o->name ? strlen(o->name) + 1 : 0;
	size_t extra = f->indexed ? 2 + SUB_HDR + OC_FIXED + ENTRY * (size_t)f->reserved : 0;
	f->header = malloc(10 + extra + nlen + 6);
	if (!f->header) {
		free(f);
		return -ENOMEM;
	}
	if (o->framing == ORY_FRAMING_ZLIB) {
		f->header_len = zlib_header(f->header, o->level, o->dict, o->dict_len);
	} else if (o->framing == ORY_FRAMING_GZIP) {
		gzip_header(f->header, 10, o->level, NULL, o->mtime);
		uint8_t *p = f->header + 10;
		if (extra) {
			f->header[3] |= 0x04; /* FEXTRA, which comes before FNAME */
			gz_put16(p, (uint32_t)(extra - 2));
			p[2] = 'O';
			p[3] = 'C';
			gz_put16(p + 4, (uint32_t)(extra - 2 - SUB_HDR));
			f->oc = 10 + 2 + SUB_HDR;
			memset(p + 2 + SUB_HDR, 0, extra - 2 - SUB_HDR);
			put_oc(f, p + 2 + SUB_HDR, f->reserved ? OC_HERE : OC_AT_END, 0);
			p += extra;
		}
		if (nlen) {
			f->header[3] |= 0x08;
			memcpy(p, o->name, nlen);
			p += nlen;
		}
		f->header_len = (size_t)(p - f->header);
	}
	*out = f;
	return 0;
}

void gzip_framer_one_chunk(struct ory_gzip_framer *f)
{
	if (!f->indexed || f->n > 1)
		return;
	/* Without the extra field: take it out of the header, FNAME moves up. */
	size_t extra = 2 + SUB_HDR + OC_FIXED + ENTRY * (size_t)f->reserved;
	memmove(f->header + 10, f->header + 10 + extra, f->header_len - 10 - extra);
	f->header_len -= extra;
	f->header[3] &= (uint8_t)~0x04;
	f->indexed = false;
	f->reserved = 0;
}

void gzip_framer_ended(struct ory_gzip_framer *f)
{
	f->ended = true;
}

const uint8_t *gzip_framer_header(const struct ory_gzip_framer *f, size_t *len)
{
	*len = f->header_len;
	return f->header;
}

int gzip_framer_add(struct ory_gzip_framer *f, const struct ory_chunk_info *c, uint32_t adler)
{
	if (f->indexed) {
		if (f->n == f->cap) {
			size_t cap = f->cap ? 2 * f->cap : 64;
			struct ory_chunk_info *e = realloc(f->e, cap * sizeof(*e));
			if (!e)
				return -ENOMEM;
			f->e = e;
			f->cap = cap;
		}
		f->e[f->n++] = *c;
	}
	f->crc = (uint32_t)crc32_combine64(f->crc, c->crc32, (z_off64_t)c->in_len);
	if (f->framing == ORY_FRAMING_ZLIB)
		f->adler = (uint32_t)adler32_combine64(f->adler, adler, (z_off64_t)c->in_len);
	f->total += c->in_len;
	return 0;
}

uint32_t gzip_framer_crc(const struct ory_gzip_framer *f)
{
	return f->crc;
}

uint32_t gzip_framer_adler(const struct ory_gzip_framer *f)
{
	return f->adler;
}

/* Index members with every entry, after the data member (see docs/format.md). */
static uint8_t *put_index_members(struct ory_gzip_framer *f, uint8_t *p)
{
	uint8_t *first = p;
	size_t done = 0;
	do {
		size_t left = f->n - done;
		bool last = left <= LAST_MEMBER_ENTRIES;
		size_t k = last ? left : ORY_MIN(left, (size_t)MEMBER_ENTRIES);
		size_t xlen = SUB_HDR + ENTRY * k + (last ? SUB_HDR + OE_LEN : 0);
		static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0x04, 0, 0, 0, 0, 0, 255 };
		memcpy(p, head, 10);
		gz_put16(p + 10, (uint32_t)xlen);
		p[12] = 'O';
		p[13] = 'X';
		gz_put16(p + 14, (uint32_t)(ENTRY * k));
		put_entries(p + 16, f->e + done, k);
		p += 16 + ENTRY * k;
		done += k;
		if (last) {
			p[0] = 'O';
			p[1] = 'E';
			gz_put16(p + 2, OE_LEN);
			gz_put64(p + 4, f->n);
			/* the members' length, this one's included: its last 22 bytes are still to come */
			gz_put64(p + 12, (uint64_t)(p - first) + SUB_HDR + OE_LEN + 10);
			gz_put32(p + 20, gzip_index_crc(f->e, f->n));
			memcpy(p + 24, "ORYX", 4);
			p += SUB_HDR + OE_LEN;
		}
		memcpy(p, "\x03\x00\0\0\0\0\0\0\0\0", 10); /* empty final block, CRC 0, ISIZE 0 */
		p += 10;
	} while (done < f->n);
	return p;
}

const uint8_t *gzip_framer_finish(struct ory_gzip_framer *f, size_t *len, const uint8_t **header,
				  size_t *header_len)
{
	*header = NULL;
	*header_len = 0;
	free(f->tail);
	bool at_end = f->indexed && f->n > f->reserved;
	size_t cap = 16 + (at_end ? gzip_index_bound(f->n) : 0);
	f->tail = malloc(cap);
	if (!f->tail)
		return NULL;
	uint8_t *p = f->tail;
	if (!f->ended && !(f->framing == ORY_FRAMING_RAW && f->unterminated)) {
		memcpy(p, GZIP_FINAL_BLOCK, GZIP_FINAL_BLOCK_LEN);
		p += GZIP_FINAL_BLOCK_LEN;
	}
	switch (f->framing) {
	case ORY_FRAMING_ZLIB:
		p += zlib_trailer(p, f->adler);
		break;
	case ORY_FRAMING_RAW:
		break;
	default:
		p += gzip_trailer(p, f->crc, f->total);
		if (at_end)
			p = put_index_members(f, p);
		if (f->reserved) { /* the header again: entries in place, or a pointer to the end */
			put_oc(f, f->header + f->oc, at_end ? OC_AT_END : OC_HERE, at_end ? 0 : f->n);
			*header = f->header;
			*header_len = f->header_len;
		}
	}
	f->tail_len = (size_t)(p - f->tail);
	*len = f->tail_len;
	return f->tail;
}

void gzip_framer_free(struct ory_gzip_framer *f)
{
	if (!f)
		return;
	free(f->header);
	free(f->e);
	free(f->tail);
	free(f);
}

/* ---- the public face --------------------------------------------------------------------- */

int ory_gzip_framer_create(const struct ory_gzip_opts *opts, uint64_t in_len,
			   struct ory_gzip_framer **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	if (opts && !ory_take_struct(&o, sizeof(o), opts, offsetof(struct ory_gzip_opts, independent)))
		return -EINVAL;
	if (o.framing != ORY_FRAMING_GZIP || o.level < 1 || o.level > 9 || o.chunk_size < 32768 ||
	    o.chunk_size > (64u << 20) || (o.name && strlen(o.name) > 1023))
		return -EINVAL;
	return gzip_framer_new(&o, o.chunk_size, in_len, in_len != UINT64_MAX, out);
}

const void *ory_gzip_framer_header(struct ory_gzip_framer *f, size_t *len)
{
	return gzip_framer_header(f, len);
}

int ory_gzip_framer_add(struct ory_gzip_framer *f, const struct ory_chunk_info *chunks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = gzip_framer_add(f, &chunks[i], 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

const void *ory_gzip_framer_finish(struct ory_gzip_framer *f, size_t *len, const void **header,
				   size_t *header_len)
{
	const uint8_t *h;
	const uint8_t *t = gzip_framer_finish(f, len, &h, header_len);
	*header = h;
	return t;
}

void ory_gzip_framer_destroy(struct ory_gzip_framer *f)
{
	gzip_framer_free(f);
}
