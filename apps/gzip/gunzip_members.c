/* SPDX-License-Identifier: MIT */
/*
 * gunzip_members.c - a file or buffer of many gzip members (bgzip's BGZF, concatenated .gz
 * files, the original Octoray's member per chunk) inflates member-parallel. Once the streaming
 * reader has read the first member of a regular file and another follows (a buffer: from its
 * start), the rest is cut at member starts into groups of up to a chunk, the groups inflate on
 * the CPU workers at once, and their output is written in order (into a buffer: each group
 * straight into its place, known from the members' ISIZE).
 *
 * Member starts come from BGZF's BSIZE or, without it, from a scan for gzip headers: either way
 * guesses (a header's bytes can occur inside deflate data, BSIZE can lie) until the group
 * before has inflated as whole members, each with its CRC-32 and ISIZE right, to exactly that
 * byte. The first group that does not stops the parallel part: nothing of it or after it is
 * written, and the streaming reader goes on from its first byte, which the group before proved
 * to be where a member ends. So the output, the messages and the exit status are the streaming
 * reader's, whatever the file holds; a group costs at most a wasted inflate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

struct group {
	uint64_t off; /* in the file */
	size_t len;
	uint64_t at;  /* its output's place, if every group before is whole */
	size_t out;   /* its output, by the members' ISIZE */
};

struct plan {
	struct group *g;
	size_t n, cap;
	uint64_t end; /* where the streaming reader takes over if every group is whole */
};

/* Length of the member header at p (avail bytes readable), 0 if it is none we cut at. *bsize:
 * BGZF's member size, 0 without one. Strict beyond RFC 1952 (XFL and OS values writers use)
 * to make a header inside deflate data unlikely; members with FHCRC are left to the streaming
 * reader, which checks it. */
static size_t header_len(const uint8_t *p, size_t avail, size_t *bsize)
{
	*bsize = 0;
	if (avail < 10 || p[0] != 0x1f || p[1] != 0x8b || p[2] != 8 || (p[3] & 0xe2) ||
	    (p[8] != 0 && p[8] != 2 && p[8] != 4) || (p[9] > 13 && p[9] != 255))
		return 0;
	size_t n = 10;
	if (p[3] & 0x04) { /* FEXTRA */
		if (avail < 12)
			return 0;
		size_t xlen = gz_get16(p + 10), bclen = 0;
		if (avail < 12 + xlen)
			return 0;
		const uint8_t *bc = gzip_extra_find(p + 12, xlen, 'B', 'C', &bclen);
		if (bc && bclen == 2)
			*bsize = gz_get16(bc) + 1;
		n = 12 + xlen;
	}
	for (unsigned flag = 0x08; flag <= 0x10; flag <<= 1) { /* FNAME, FCOMMENT */
		if (!(p[3] & flag))
			continue;
		const uint8_t *z = n < avail ? memchr(p + n, 0, avail - n) : NULL;
		if (!z)
			return 0;
		n = (size_t)(z - p) + 1;
	}
	return n;
}

/* The file read forward through a window (mapping it costs a page fault per page touched,
 * which on some virtual machines is more than reading it), or a buffer. */
#define WIN (1u << 20)
#define HEAD_MAX 4096u /* a longer header ends the plan: the streaming reader reads it */

struct win {
	int fd;
	const uint8_t *mem; /* a buffer instead of fd: all of it in view */
	uint64_t size, base;
	size_t len;
	uint8_t *buf; /* WIN + HEAD_MAX */
};

/* Bytes from off on, at least min(want, what the file has) of them (*got: how many are
 * there), reading `fill` (>= want, <= WIN + HEAD_MAX - 8) when it must read; off never goes
 * back more than 8 bytes. NULL on a read error. */
static const uint8_t *view(struct win *w, uint64_t off, size_t want, size_t fill, size_t *got)
{
	if (w->mem) {
		*got = (size_t)(w->size - off);
		return w->mem + off;
	}
	if (off < w->base || off + ORY_MIN(want, w->size - off) > w->base + w->len) {
		uint64_t from = off >= 8 ? off - 8 : 0;
		size_t n = (size_t)ORY_MIN((uint64_t)fill + 8, w->size - from);
		if (ory_pread_full(w->fd, w->buf, n, from) < 0)
			return NULL;
		w->base = from;
		w->len = n;
	}
	*got = (size_t)(w->base + w->len - off);
	return w->buf + (off - w->base);
}

/* The first plausible member start in [from, to), w->size if none; UINT64_MAX on a read
 * error. */
static uint64_t next_header(struct win *w, uint64_t from, uint64_t to)
{
	size_t bsize, got;
	to = ORY_MIN(to, w->size);
	while (from < to) {
		const uint8_t *p = view(w, from, HEAD_MAX, WIN, &got);
		if (!p)
			return UINT64_MAX;
		/* headers starting past got - HEAD_MAX are looked at from the next window */
		size_t span = from + got == w->size || got <= HEAD_MAX ? got : got - HEAD_MAX;
		span = (size_t)ORY_MIN((uint64_t)span, to - from);
		for (const uint8_t *q = p; (q = memchr(q, 0x1f, span - (size_t)(q - p))); q++)
			if (header_len(q, got - (size_t)(q - p), &bsize))
				return from + (uint64_t)(q - p);
		from += span;
	}
	return w->size;
}

static int add_group(struct plan *pl, uint64_t off, size_t len, size_t out)
{
	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? 2 * pl->cap : 64;
		struct group *g = realloc(pl->g, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		pl->g = g;
		pl->cap = cap;
	}
	uint64_t at = pl->n ? pl->g[pl->n - 1].at + pl->g[pl->n - 1].out : 0;
	pl->g[pl->n++] = (struct group){ off, len, at, out };
	return 0;
}

/* Cut the file from p (a member start) into groups of whole members of at most `cap` bytes in
 * and out, by their trailers' ISIZE, with at most max_out bytes of output in all. The last
 * member, and whatever follows one that is too big or not followed by a header, is left out. */
static int make_plan(struct win *w, uint64_t p, size_t cap, uint64_t max_out, struct plan *pl)
{
	uint64_t g0 = p, graw = 0, out = 0;
	for (;;) {
		size_t bsize, got, h;
		const uint8_t *m = view(w, p, HEAD_MAX, WIN, &got);
		if (!m || !(h = header_len(m, got, &bsize)))
			break;
		/* a member longer than cap ends the plan: no need to look further for its end */
		uint64_t end = bsize ? p + bsize : next_header(w, p + h + 10, p + cap + 1);
		if (end >= w->size || end < p + h + 10)
			break; /* the last member, or a doubtful one: the streaming reader's */
		/* the trailer and the next header: a jump by BSIZE reads only them */
		const uint8_t *t = view(w, end - 8, 8 + HEAD_MAX, bsize ? 8 + HEAD_MAX : WIN, &got);
		if (!t || (bsize && !header_len(t + 8, got - 8, &h)))
			break;
		uint32_t isize = gz_get32(t + 4);
		if (isize > cap || end - p > cap || out + isize > max_out)
			break;
		if (graw + isize > cap || end - g0 > cap) {
			if (add_group(pl, g0, (size_t)(p - g0), (size_t)graw) < 0)
				return -ENOMEM;
			g0 = p;
			graw = 0;
		}
		graw += isize;
		out += isize;
		p = end;
	}
	if (p > g0 && add_group(pl, g0, (size_t)(p - g0), (size_t)graw) < 0)
		return -ENOMEM;
	pl->end = p;
	return 0;
}

/* ---- the request: one chunk per group, written until the first that is not whole ---------- */

struct gm_result {
	size_t stop;            /* the first group not written (pl->n: none) */
	uint64_t out, members;  /* written by the groups before it */
};

struct gm_frame {
	struct inflate_params p;
	const struct plan *pl;
	struct gm_result *res;  /* the caller's, read once the request is complete */
};
_Static_assert(sizeof(struct gm_frame) <= sizeof(struct req_frame_store), "frame too big");

static void gm_cut(struct req *r, uint64_t seq, uint64_t *off, size_t *len)
{
	struct gm_frame *f = r->spec.frame;
	*off = f->pl->g[seq].off;
	*len = f->pl->g[seq].len;
}

static int gm_emit(struct req *r, struct ory_chunk *c, const uint8_t **data, size_t *len)
{
	struct gm_result *res = ((struct gm_frame *)r->spec.frame)->res;
	if (c->seq >= res->stop || INFLATE_WHY(c->check2)) {
		if (res->stop > c->seq)
			res->stop = (size_t)c->seq;
		*len = 0; /* the streaming reader reads this group again, and says what is wrong */
		return 0;
	}
	*data = c->out;
	*len = c->out_len;
	res->out += c->out_len;
	res->members += INFLATE_MEMBERS(c->check2);
	return 0;
}

/* Into a buffer, each group inflates in its place (what a group that is not whole leaves
 * there, the streaming reader overwrites). */
static uint64_t gm_place(struct req *r, uint64_t seq, size_t *len)
{
	const struct group *g = &((struct gm_frame *)r->spec.frame)->pl->g[seq];
	*len = g->out;
	return g->at;
}

struct gm_args {
	const struct plan *pl;
	int in_fd, out_fd;         /* or, with in_fd -1, buffers: */
	const uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_cap;
	struct gm_result *res;
};

static int gm_prepare(struct req *r, const void *arg)
{
	const struct gm_args *a = arg;
	struct gm_frame *f = r->spec.frame;
	*f = (struct gm_frame){ .p = { .framing = ORY_FRAMING_GZIP, .members = true },
				.pl = a->pl, .res = a->res };
	*a->res = (struct gm_result){ .stop = a->pl->n };
	if (a->in_fd >= 0) {
		r->src = (struct ory_source){ .fd = a->in_fd };
		r->sink = (struct ory_sink){ .fd = a->out_fd }; /* -1: tested only */
	} else {
		r->src = (struct ory_source){ .fd = -1, .mem = a->in, .mem_len = a->in_len };
		r->sink = (struct ory_sink){ .fd = -1, .mem = a->out, .mem_cap = a->out_cap };
	}
	r->spec = (struct ory_job_spec){
		.app = &ory_inflate_app,
		.params = &f->p,
		.chunk_size = r->rt->opts.chunk_size,
		.header = (const uint8_t *)"",
		.cut = gm_cut,
		.cut_n = a->pl->n,
		.place = a->in_fd < 0 ? gm_place : NULL,
		.emit = gm_emit,
		.frame = f,
	};
	r->aq = ory_app_queues(r->rt, &ory_inflate_app);
	return 0;
}

/* Worth it from a few chunks on; below, the streaming reader is as fast. */
static bool worth_it(const struct ory_runtime *rt, uint64_t bytes)
{
	return bytes >= 4 * (uint64_t)rt->opts.chunk_size;
}

/* Plan from pos, inflate the groups, and say how far that went. */
static int run_plan(struct ory_runtime *rt, struct win *w, uint64_t pos, uint64_t max_out,
		    struct gm_args *a, uint64_t *resume, struct ory_gunzip_result *done)
{
	struct plan pl = { 0 };
	int rc = make_plan(w, pos, rt->opts.chunk_size, max_out, &pl);
	if (rc < 0 || pl.n < 2) {
		free(pl.g);
		return rc;
	}
	struct gm_result res;
	a->pl = &pl;
	a->res = &res;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_INFLATE);
	rc = ory_sync_with(rt, &req, gm_prepare, a, NULL, NULL, NULL);
	if (rc == 0) {
		*resume = res.stop < pl.n ? pl.g[res.stop].off : pl.end;
		done->bytes_out += res.out;
		done->members += (unsigned)res.members;
		done->chunks += res.stop;
	}
	free(pl.g);
	return rc;
}

int gunzip_members_fd(struct ory_runtime *rt, int in_fd, uint64_t pos, int out_fd,
		      uint64_t *resume, struct ory_gunzip_result *done)
{
	*resume = pos;
	struct stat st;
	if (fstat(in_fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < pos ||
	    !worth_it(rt, (uint64_t)st.st_size - pos))
		return 0;
	struct win w = { .fd = in_fd, .size = (uint64_t)st.st_size, .buf = malloc(WIN + HEAD_MAX) };
	struct gm_args a = { .in_fd = in_fd, .out_fd = out_fd };
	int rc = w.buf ? run_plan(rt, &w, pos, UINT64_MAX, &a, resume, done) : -ENOMEM;
	free(w.buf);
	return rc;
}

int gunzip_members_buf(struct ory_runtime *rt, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_cap, uint64_t *resume, struct ory_gunzip_result *done)
{
	*resume = 0;
	if (!worth_it(rt, in_len))
		return 0;
	struct win w = { .fd = -1, .mem = in, .size = in_len };
	struct gm_args a = { .in_fd = -1, .in = in, .in_len = in_len, .out = out,
			     .out_cap = out_cap };
	return run_plan(rt, &w, 0, out_cap, &a, resume, done);
}
