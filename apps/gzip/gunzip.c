/* SPDX-License-Identifier: MIT */
/*
 * gunzip.c - decompress and test gzip data with ISA-L's inflate, one member after another.
 *
 * The member header is parsed here, byte by byte as the input arrives, so that a header of any
 * length (a 1 MiB file name) split over any number of reads is read as GNU gzip reads it: the
 * reserved flag bits refused, FEXTRA, FNAME and FCOMMENT skipped, and the header CRC (FHCRC)
 * checked over every byte before it. ISA-L then inflates the deflate data and checks the
 * trailer's CRC-32 and ISIZE (crc_flag ISAL_GZIP_NO_HDR_VER).
 * When a member ends, the bytes ISA-L has pulled into its bit buffer but not used belong to
 * whatever follows, so they are put back in front of next_in (the input buffer keeps headroom
 * for this) before looking for the next member. What may follow is GNU gzip's list: another
 * member, zero padding (accepted silently), or anything else (ignored with a warning).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

#define IN_SIZE (1u << 20)
#define OUT_SIZE (2u << 20)
#define HEADROOM 16u /* >= the 8 bytes ISA-L's bit buffer can hold */

/* RFC 1952 FLG bits; 0xe0 are reserved (GNU gzip: 0x20 "encrypted", 0xc0 "reserved"). */
#define FLG_FHCRC    0x02
#define FLG_FEXTRA   0x04
#define FLG_FNAME    0x08
#define FLG_FCOMMENT 0x10
#define FLG_RESERVED 0xe0

void ory_gunzip_opts_init(struct ory_gunzip_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
}

struct gunzip {
	struct ory_runtime *rt;
	int in_fd;
	int out_fd;
	bool test_only;
	uint8_t *in;            /* HEADROOM bytes, then IN_SIZE */
	uint8_t *out;
	bool eof;
	struct inflate_state st;
	struct ory_gunzip_result res;
	ory_progress_fn progress;
	void *progress_arg;
};

/* Move what is left of the input to the front and read more behind it. */
static int refill(struct gunzip *g)
{
	uint8_t *data = g->in + HEADROOM;
	size_t left = g->st.avail_in;
	memmove(data, g->st.next_in, left);
	g->st.next_in = data;
	while (!g->eof && left < IN_SIZE) {
		ssize_t n = read(g->in_fd, data + left, IN_SIZE - left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EIO, "read error: %s", strerror(errno));
		}
		if (n == 0) {
			g->eof = true;
			break;
		}
		left += (size_t)n;
		g->res.bytes_in += (uint64_t)n;
		break; /* enough to go on; avoid waiting on a pipe for a full buffer */
	}
	g->st.avail_in = (uint32_t)left;
	return 0;
}

static int flush_out(struct gunzip *g)
{
	size_t n = (size_t)(g->st.next_out - g->out);
	if (n && !g->test_only) {
		int rc = ory_write_full(g->out_fd, g->out, n);
		if (rc < 0) {
			int e = -rc;
			/* Keep the errno the caller can act on (ENOSPC, EPIPE); the rest is I/O. */
			int code = (e == ENOSPC || e == EPIPE || e == EDQUOT || e == EFBIG) ? rc : -EIO;
			return ory_tls_fail(g->rt, ORY_ORIGIN_OUTPUT, code, "write error: %s",
					    strerror(e));
		}
	}
	g->res.bytes_out += n;
	g->st.next_out = g->out;
	g->st.avail_out = OUT_SIZE;
	if (n && g->progress)
		g->progress(g->progress_arg, g->res.bytes_in - g->st.avail_in, g->res.bytes_out);
	return 0;
}

static int corrupt(struct gunzip *g, int isal_rc)
{
	const char *why;
	switch (isal_rc) {
	case ISAL_INVALID_WRAPPER:
		why = "not in gzip format";
		break;
	case ISAL_UNSUPPORTED_METHOD:
		why = "unknown compression method";
		break;
	case ISAL_INCORRECT_CHECKSUM:
		why = "invalid compressed data--crc or length error";
		break;
	default:
		why = "invalid compressed data--format violated";
		break;
	}
	return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EBADMSG, "%s", why);
}

/* n bytes of the header into dst (NULL: skip them), whatever the reads deliver, with the
 * header CRC running over them. */
static int header_take(struct gunzip *g, uint8_t *dst, size_t n, uint32_t *crc)
{
	while (n) {
		if (g->st.avail_in == 0) {
			if (g->eof)
				return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EBADMSG,
						   "unexpected end of file");
			int rc = refill(g);
			if (rc < 0)
				return rc;
			continue;
		}
		uint32_t k = (uint32_t)ORY_MIN(n, (size_t)g->st.avail_in);
		*crc = crc32_gzip_refl(*crc, g->st.next_in, k);
		if (dst) {
			memcpy(dst, g->st.next_in, k);
			dst += k;
		}
		g->st.next_in += k;
		g->st.avail_in -= k;
		n -= k;
	}
	return 0;
}

/* A NUL-terminated header field (FNAME, FCOMMENT) of any length, skipped. */
static int header_string(struct gunzip *g, uint32_t *crc)
{
	for (;;) {
		if (g->st.avail_in == 0) {
			uint8_t b; /* nothing buffered: one byte, which reads more */
			int rc = header_take(g, &b, 1, crc);
			if (rc < 0 || b == 0)
				return rc;
			continue;
		}
		const uint8_t *nul = memchr(g->st.next_in, 0, g->st.avail_in);
		size_t k = nul ? (size_t)(nul - g->st.next_in) + 1 : g->st.avail_in;
		int rc = header_take(g, NULL, k, crc);
		if (rc < 0 || nul)
			return rc;
	}
}

/* The member header (RFC 1952 2.3), up to the first byte of deflate data. */
static int header(struct gunzip *g)
{
	uint8_t h[10], x[2];
	uint32_t crc = 0;
	int rc = header_take(g, h, 2, &crc);
	if (rc < 0)
		return rc;
	if (h[0] != 0x1f || h[1] != 0x8b)
		return corrupt(g, ISAL_INVALID_WRAPPER);
	if ((rc = header_take(g, h + 2, 8, &crc)) < 0)
		return rc;
	if (h[2] != 8)
		return corrupt(g, ISAL_UNSUPPORTED_METHOD);
	if (h[3] & FLG_RESERVED)
		return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EBADMSG,
				   "has flags 0x%02x -- not supported", h[3]);
	if (h[3] & FLG_FEXTRA) {
		if ((rc = header_take(g, x, 2, &crc)) < 0 ||
		    (rc = header_take(g, NULL, (size_t)(x[0] | x[1] << 8), &crc)) < 0)
			return rc;
	}
	if ((h[3] & FLG_FNAME) && (rc = header_string(g, &crc)) < 0)
		return rc;
	if ((h[3] & FLG_FCOMMENT) && (rc = header_string(g, &crc)) < 0)
		return rc;
	if (h[3] & FLG_FHCRC) {
		uint32_t want = crc & 0xffff, ignored = 0;
		if ((rc = header_take(g, x, 2, &ignored)) < 0)
			return rc;
		if ((uint32_t)(x[0] | x[1] << 8) != want)
			return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EBADMSG,
					   "header checksum 0x%04x != computed checksum 0x%04x",
					   (unsigned)(x[0] | x[1] << 8), (unsigned)want);
	}
	return 0;
}

/* Decode one member from its first byte to the end of its trailer. */
static int member(struct gunzip *g)
{
	int hrc = header(g);
	if (hrc < 0)
		return hrc;
	isal_inflate_reset(&g->st);
	g->st.crc_flag = ISAL_GZIP_NO_HDR_VER;
	for (unsigned stuck = 0;;) {
		uint32_t in0 = g->st.avail_in, out0 = g->st.avail_out;
		int rc = isal_inflate(&g->st);
		if (rc < 0)
			return corrupt(g, rc);
		if (g->st.block_state == ISAL_BLOCK_FINISH)
			break;
		if (g->st.avail_out == 0) {
			rc = flush_out(g);
		} else if (g->st.avail_in == 0) {
			if (g->eof)
				return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EBADMSG, "unexpected end of file");
			rc = refill(g);
		} else if (g->st.avail_in == in0 && g->st.avail_out == out0 && ++stuck > 2) {
			/* Input and room left, yet no progress: never loop on bad data. */
			return corrupt(g, ISAL_INVALID_BLOCK);
		}
		if (rc < 0)
			return rc;
	}
	/* Give back the whole bytes left in ISA-L's bit buffer (see top). */
	uint32_t back = (uint32_t)g->st.read_in_length / 8;
	uint64_t bits = g->st.read_in >> (g->st.read_in_length % 8);
	g->st.next_in -= back;
	for (uint32_t i = 0; i < back; i++)
		g->st.next_in[i] = (uint8_t)(bits >> (8 * i));
	g->st.avail_in += back;
	g->st.read_in = 0;
	g->st.read_in_length = 0;
	g->res.members++;
	return flush_out(g);
}

/* After the first member, when another follows in a regular file: as many of the rest as can
 * be inflated member-parallel (gunzip_members.c), then on from wherever that stopped. */
static int members_parallel(struct gunzip *g)
{
	off_t at = lseek(g->in_fd, 0, SEEK_CUR);
	if (at < 0 || (uint64_t)at < g->st.avail_in)
		return 0;
	uint64_t pos = (uint64_t)at - g->st.avail_in, resume;
	int rc = gunzip_members_fd(g->rt, g->in_fd, pos, g->test_only ? -1 : g->out_fd, &resume,
				   &g->res);
	if (rc < 0 || resume == pos)
		return rc;
	if (lseek(g->in_fd, (off_t)resume, SEEK_SET) < 0)
		return ory_tls_fail(g->rt, ORY_ORIGIN_INPUT, -EIO, "seek error: %s", strerror(errno));
	g->res.bytes_in = g->res.bytes_in + resume - (uint64_t)at; /* read again from resume */
	g->st.next_in = g->in + HEADROOM;
	g->st.avail_in = 0;
	return refill(g);
}

/* After a member: 1 if another member follows, 0 at the end (zero padding included). */
static int next_member(struct gunzip *g)
{
	for (;;) {
		if (g->st.avail_in < 2 && !g->eof) {
			int rc = refill(g);
			if (rc < 0)
				return rc;
			continue;
		}
		if (g->st.avail_in == 0)
			return 0;
		if (g->st.next_in[0] == 0x1f && (g->st.avail_in == 1 || g->st.next_in[1] == 0x8b))
			return 1; /* a lone 1f at the very end: the member will report the truncation */
		break;
	}
	/* Not a member: zeros are padding (tape blocks, dd), anything else is garbage. */
	for (;;) {
		for (uint32_t i = 0; i < g->st.avail_in; i++) {
			if (g->st.next_in[i]) {
				g->res.trailing_garbage = true;
				return 0;
			}
		}
		g->st.next_in += g->st.avail_in;
		g->st.avail_in = 0;
		if (g->eof)
			return 0;
		int rc = refill(g);
		if (rc < 0)
			return rc;
	}
}

int ory_gunzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gunzip_opts *opts,
		  struct ory_gunzip_result *result)
{
	if (!rt || in_fd < 0)
		return -EINVAL;
	ory_tls_set_error(rt, ORY_ORIGIN_NONE, "");
	struct ory_gunzip_result ires = { .struct_size = sizeof(ires) };
	int rc = gunzip_indexed_fd(rt, in_fd, out_fd, opts, &ires);
	if (rc != -ENOENT) { /* ours, read through the index (or failed there) */
		gunzip_result_give(result, &ires);
		return rc;
	}
	struct gunzip *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->rt = rt;
	g->in_fd = in_fd;
	g->out_fd = out_fd;
	g->test_only = out_fd < 0;
	if (opts && opts->struct_size >= offsetof(struct ory_gunzip_opts, progress_arg) +
						 sizeof(opts->progress_arg)) {
		g->progress = opts->progress;
		g->progress_arg = opts->progress_arg;
	}
	g->in = malloc(HEADROOM + IN_SIZE);
	g->out = malloc(OUT_SIZE);
	if (!g->in || !g->out) {
		rc = ory_tls_fail(rt, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
		goto out;
	}
	isal_inflate_init(&g->st);
	g->st.next_in = g->in + HEADROOM;
	g->st.avail_in = 0;
	g->st.next_out = g->out;
	g->st.avail_out = OUT_SIZE;

	rc = refill(g);
	if (rc == 0 && g->st.avail_in == 0 && g->eof)
		rc = ory_tls_fail(rt, ORY_ORIGIN_INPUT, -EBADMSG, "unexpected end of file");
	while (rc == 0) {
		rc = member(g);
		if (rc == 0)
			rc = next_member(g);
		if (rc <= 0)
			break;
		rc = g->res.members == 1 ? members_parallel(g) : 0;
	}
out:
	gunzip_result_give(result, &g->res);
	free(g->in);
	free(g->out);
	free(g);
	return rc;
}
