/* SPDX-License-Identifier: MIT */
/*
 * inflate.c - decompression of a buffer (ORY_OP_INFLATE, ory_gunzip_buf): the whole input is
 * one chunk, inflated by ISA-L straight into the caller's buffer on a CPU worker (or on the
 * calling thread, when small).
 *
 * gzip framing follows GNU gzip: members one after another, each with its CRC-32 and ISIZE
 * checked; zero bytes after the last member are padding, anything else is trailing garbage (a
 * warning, not an error). When a member ends, ISA-L may hold bytes of what follows in its bit
 * buffer: they are still in the input, so the next look starts that many bytes back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

#define PIECE (1u << 30) /* ISA-L counts in 32 bits */

enum { STREAM_DONE, STREAM_OUT_FULL, STREAM_IN_END };

const char *inflate_why_text(unsigned why)
{
	switch (why) {
	case WHY_NOT_GZIP: return "not in gzip format";
	case WHY_METHOD: return "unknown compression method";
	case WHY_CHECK: return "invalid compressed data--crc or length error";
	case WHY_EOF: return "unexpected end of file";
	case WHY_FLAGS: return "reserved header flags set (RFC 1952): not a gzip file this reads";
	default: return "invalid compressed data--format violated";
	}
}

static unsigned why_of(int isal_rc)
{
	switch (isal_rc) {
	case ISAL_INVALID_WRAPPER: return WHY_NOT_GZIP;
	case ISAL_UNSUPPORTED_METHOD: return WHY_METHOD;
	case ISAL_INCORRECT_CHECKSUM: return WHY_CHECK;
	default: return WHY_FORMAT;
	}
}

/* Inflate one stream from *in into out + *total; returns STREAM_* or a negative ISA-L code. */
static int stream(struct inflate_state *st, const uint8_t **in, size_t *in_left, uint8_t *out,
		  size_t cap, size_t *total)
{
	for (;;) {
		uint32_t ain = (uint32_t)ORY_MIN(*in_left, PIECE);
		uint32_t aout = (uint32_t)ORY_MIN(cap - *total, PIECE);
		st->next_in = (uint8_t *)*in;
		st->avail_in = ain;
		st->next_out = out + *total;
		st->avail_out = aout;
		int rc = isal_inflate(st);
		size_t used = ain - st->avail_in, made = aout - st->avail_out;
		*in += used;
		*in_left -= used;
		*total += made;
		if (rc < 0)
			return rc;
		if (st->block_state == ISAL_BLOCK_FINISH)
			return STREAM_DONE;
		if (used || made)
			continue; /* a full buffer may still let ISA-L read the trailer: once more */
		if (*total == cap)
			return STREAM_OUT_FULL;
		if (*in_left == 0)
			return STREAM_IN_END;
		return ISAL_INVALID_BLOCK; /* input and room left, yet no progress */
	}
}

static int k_open(void **state)
{
	*state = malloc(sizeof(struct inflate_state));
	return *state ? 0 : -ENOMEM;
}

static void k_close(void *state)
{
	free(state);
}

static int fail_why(struct ory_chunk *c, unsigned why)
{
	c->check2 = why << 24;
	return -EBADMSG;
}

/* One chunk of one of our files: raw deflate that must take every byte given, end between two
 * blocks on a byte boundary without a final block, and fit (docs/format.md). The caller then
 * compares size and CRC with the index. */
static int run_chunk(struct inflate_state *st, struct ory_chunk *c)
{
	isal_inflate_init(st);
	st->crc_flag = ISAL_DEFLATE;
	st->next_in = (uint8_t *)c->in;
	st->avail_in = (uint32_t)c->in_len;
	st->next_out = c->out;
	st->avail_out = (uint32_t)ORY_MIN(c->out_cap, (size_t)UINT32_MAX);
	int rc = isal_inflate(st);
	/* An output buffer of exactly the chunk's size fills before the empty stored block that
	 * ends the chunk is read: one more call, with no room, reads it. */
	for (uint32_t in = UINT32_MAX; rc == ISAL_DECOMP_OK && st->avail_in && st->avail_in < in;) {
		in = st->avail_in;
		rc = isal_inflate(st);
	}
	if (rc != ISAL_DECOMP_OK)
		return fail_why(c, why_of(rc));
	if (st->avail_in || st->read_in_length >= 8 || st->bfinal ||
	    st->block_state == ISAL_BLOCK_FINISH || st->block_state == ISAL_BLOCK_INPUT_DONE)
		return fail_why(c, WHY_FORMAT);
	c->out_len = st->total_out;
	c->check = crc32_gzip_refl(0, c->out, c->out_len);
	return 0;
}

/* Members one after another from c->in (gzip framing: GNU gzip's rules, see top); *left: the
 * bytes after the last. 0 (output, CRC and counts in c) or a negative errno. For_members
 * (gunzip_members.c) refuses headers with a CRC (gunzip.c checks those, ISA-L does not) and
 * skips the CRC of the whole output, which nobody reads there (ISA-L checked each member's). */
static int k_members(struct inflate_state *st, struct ory_chunk *c, enum ory_framing framing,
		     bool for_members, size_t *left_out)
{
	const uint8_t *in = c->in;
	size_t left = c->in_len, total = 0;
	unsigned members = 0;
	bool garbage = false;
	static const uint16_t flags[] = { [ORY_FRAMING_GZIP] = ISAL_GZIP,
					  [ORY_FRAMING_ZLIB] = ISAL_ZLIB,
					  [ORY_FRAMING_RAW] = ISAL_DEFLATE };
	c->out_len = 0;
	for (;;) {
		if (framing == ORY_FRAMING_GZIP && left >= 4 && in[0] == 0x1f && in[1] == 0x8b &&
		    (in[3] & 0xe0)) /* a field we would not know how to skip may follow */
			return fail_why(c, WHY_FLAGS);
		if (for_members && left >= 4 && (in[3] & 0x02))
			return fail_why(c, WHY_FORMAT);
		isal_inflate_init(st);
		st->crc_flag = flags[framing];
		int rc = stream(st, &in, &left, c->out, c->out_cap, &total);
		if (rc == STREAM_OUT_FULL)
			return -ENOSPC;
		if (rc == STREAM_IN_END)
			return fail_why(c, WHY_EOF);
		if (rc < 0)
			return fail_why(c, members && rc == ISAL_INVALID_WRAPPER ? WHY_FORMAT
										    : why_of(rc));
		members++;
		/* Bytes ISA-L read past the member are still in the input: step back over them. */
		size_t back = st->read_in_length / 8;
		in -= back;
		left += back;
		if (framing != ORY_FRAMING_GZIP)
			break;
		if (left >= 2 && in[0] == 0x1f && in[1] == 0x8b)
			continue;
		if (left == 1 && in[0] == 0x1f)
			return fail_why(c, WHY_EOF);
		break;
	}
	*left_out = left;
	for (size_t i = 0; i < left && !garbage; i++)
		garbage = in[i] != 0; /* zeros are padding (tape blocks, dd) */
	c->out_len = total;
	c->check = for_members ? 0 : crc32_gzip_refl(0, c->out, total);
	c->check2 = ORY_MIN(members, 0xffffffu) | (garbage ? INFLATE_GARBAGE : 0);
	return 0;
}

static int k_run(void *state, struct ory_chunk *c)
{
	const struct inflate_params *p = c->params;
	struct inflate_state *st = state;
	if (p->chunk)
		return run_chunk(st, c);
	size_t left = 0;
	int rc = k_members(st, c, p->framing, p->members, &left);
	if (p->members && (rc < 0 || left)) { /* not whole members: the caller reads it again */
		c->out_len = 0;
		c->check2 = (uint32_t)WHY_FORMAT << 24;
		return 0;
	}
	return rc;
}

static const char *k_final_error(const struct ory_chunk *c, int *origin)
{
	if (c->status == -ENOSPC) {
		*origin = ORY_ORIGIN_OUTPUT;
		return "output buffer too small";
	}
	if (c->status != -EBADMSG)
		return NULL;
	*origin = ORY_ORIGIN_INPUT;
	return inflate_why_text(INFLATE_WHY(c->check2));
}

static const struct ory_kernel_ops inflate_ops = {
	.open = k_open,
	.run = k_run,
	.close = k_close,
};

const struct ory_app ory_inflate_app = {
	.name = "inflate",
	.sw = &inflate_ops,
	.final_error = k_final_error,
};

/* ---- requests ---------------------------------------------------------------------------- */

struct inflate_frame {
	struct inflate_params p;
	struct ory_gunzip_result *result; /* ory_gunzip_buf's, or NULL */
	struct ory_gunzip_result res;
};
_Static_assert(sizeof(struct inflate_frame) <= sizeof(struct req_frame_store), "frame too big");

static int frame_committed(struct req *r, const struct ory_chunk *c)
{
	struct inflate_frame *f = r->spec.frame;
	f->res.members = INFLATE_MEMBERS(c->check2);
	f->res.trailing_garbage = c->check2 & INFLATE_GARBAGE;
	r->pub->crc32 = c->check;
	return 0;
}

static void frame_finish(struct req *r)
{
	struct inflate_frame *f = r->spec.frame;
	f->res.bytes_in = r->error ? 0 : r->src.mem_len;
	f->res.bytes_out = r->error ? 0 : r->bytes_out;
	gunzip_result_give(f->result, &f->res);
}

static int prepare(struct req *r, struct ory_gunzip_result *result)
{
	const struct ory_request *pub = r->pub;
	struct ory_gunzip_opts o;
	ory_gunzip_opts_init(&o);
	if (pub->gunzip && !ory_take_struct(&o, sizeof(o), pub->gunzip, sizeof(size_t)))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "gunzip options struct too small");
	if (o.framing > ORY_FRAMING_RAW)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "unknown framing %d", (int)o.framing);
	if (pub->in_fd >= 0 || pub->in_iov || pub->out_fd >= 0)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -ENOTSUP,
				    "decompression requests take memory in and out "
				    "(ory_gunzip_fd streams files)");
	int rc = ory_req_endpoints(r, true);
	if (rc < 0)
		return rc;
	struct inflate_frame *f = r->spec.frame;
	memset(f, 0, sizeof(*f));
	f->p.framing = o.framing;
	f->result = result;
	r->spec = (struct ory_job_spec){
		.app = &ory_inflate_app,
		.params = &f->p,
		.chunk_size = r->rt->opts.chunk_size,
		.whole = true,
		.committed = frame_committed,
		.finish = frame_finish,
		.frame = f,
	};
	r->aq = ory_app_queues(r->rt, &ory_inflate_app);
	return 0;
}

int ory_inflate_prepare(struct req *r)
{
	return prepare(r, NULL);
}

static int prepare_sync(struct req *r, const void *arg)
{
	return prepare(r, (struct ory_gunzip_result *)arg);
}

int ory_gunzip_buf(struct ory_runtime *rt, const void *in, size_t in_len, void *out,
		   size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *opts,
		   struct ory_gunzip_result *result)
{
	if (!rt || (!in && in_len) || !out_len || (!out && out_cap))
		return -EINVAL;
	struct ory_gunzip_result ires = { .struct_size = sizeof(ires) };
	bool gzip = !opts || opts->struct_size < offsetof(struct ory_gunzip_opts, framing) +
							sizeof(opts->framing) ||
		    opts->framing == ORY_FRAMING_GZIP;
	int rc = gzip && out ? gunzip_indexed_buf(rt, in, in_len, out, out_cap, out_len, opts, &ires)
			     : -ENOENT;
	if (rc != -ENOENT) {
		gunzip_result_give(result, &ires);
		return rc;
	}
	/* Many members: as many as can be, member-parallel; the rest as one chunk. */
	uint64_t skip = 0;
	struct ory_gunzip_result done = { .struct_size = sizeof(done) };
	rc = gzip && out ? gunzip_members_buf(rt, in, in_len, out, out_cap, &skip, &done) : 0;
	if (rc < 0)
		return rc;
	uint8_t none;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_INFLATE);
	req.in = (const uint8_t *)in + skip;
	req.in_len = in_len - (size_t)skip;
	req.out = out ? (uint8_t *)out + done.bytes_out : &none;
	req.out_cap = out_cap - (size_t)done.bytes_out;
	req.gunzip = opts;
	bool progress = opts && opts->struct_size >= offsetof(struct ory_gunzip_opts, progress_arg);
	rc = ory_sync_with(rt, &req, prepare_sync, &ires, progress ? opts->progress : NULL,
			   progress ? opts->progress_arg : NULL, NULL);
	*out_len = rc == 0 ? (size_t)(done.bytes_out + req.bytes_out) : 0;
	if (rc == 0) {
		ires.bytes_in += skip;
		ires.bytes_out += done.bytes_out;
		ires.members += done.members;
		ires.chunks = done.chunks;
	}
	gunzip_result_give(result, &ires);
	return rc;
}
