/* SPDX-License-Identifier: MIT */
/*
 * gunzip.c - decompress and test gzip data with ISA-L's inflate, one member after another.
 *
 * ISA-L parses each member's header and checks its CRC-32 and ISIZE (crc_flag ISAL_GZIP).
 * When a member ends, the bytes ISA-L has pulled into its bit buffer but not used belong to
 * whatever follows, so they are put back in front of next_in (the input buffer keeps headroom
 * for this) before looking for the next member. What may follow is GNU gzip's list: another
 * member, zero padding (accepted silently), or anything else (ignored with a warning).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#include "../../runtime/rt.h"

#define IN_SIZE (1u << 20)
#define OUT_SIZE (2u << 20)
#define HEADROOM 16u /* >= the 8 bytes ISA-L's bit buffer can hold */

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

/* Decode one member from its first byte to the end of its trailer. */
static int member(struct gunzip *g)
{
	isal_inflate_reset(&g->st);
	g->st.crc_flag = ISAL_GZIP;
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
	int rc;
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
		rc = 0;
	}
out:
	if (result && result->struct_size >= sizeof(result->struct_size)) {
		size_t n = ORY_MIN(result->struct_size, sizeof(g->res));
		g->res.struct_size = n;
		memcpy(result, &g->res, n);
	}
	free(g->in);
	free(g->out);
	free(g);
	return rc;
}
