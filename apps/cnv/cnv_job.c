/* SPDX-License-Identifier: MIT */
/* cnv_job.c - classification requests: load the model, cut the input into batches of whole
 * records, and turn each batch's classes into lines (or arrays) in input order; and the
 * synchronous calls of the public API. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime/rt.h"
#include "cnv_app.h"

/* A request's state. The lines of a batch are written into its chunk's output buffer, behind
 * the classes, so they live until they are written out. */
struct cnv_frame {
	struct cnv_params p;
	enum ory_cnv_format format;
	uint64_t first_index;
	struct ory_cnv_result *res;
	uint64_t index;           /* of the next image */
	uint8_t *classes;         /* ory_cnv_classify's arrays, or NULL */
	uint16_t *scores;
	struct cnv_model *model;  /* the request's */
	uint64_t t0;
	char header[160];
	struct ory_cnv_result local;
};
_Static_assert(sizeof(struct cnv_frame) <= sizeof(struct req_frame_store), "frame too big");

static size_t put_line(char *b, const struct cnv_frame *f, uint64_t idx, unsigned cls, int label,
		       const uint16_t *sc)
{
	const char *name = ory_cnv_class_name(cls);
	int n = 0;
	switch (f->format) {
	case ORY_CNV_CSV:
		n = sprintf(b, "%llu,%u,%s", (unsigned long long)idx, cls, name);
		if (label >= 0)
			n += sprintf(b + n, ",%d", label);
		for (int i = 0; sc && i < CNV_CLASSES; i++)
			n += sprintf(b + n, ",%u", sc[i]);
		break;
	case ORY_CNV_JSON:
		n = sprintf(b, "{\"index\":%llu,\"class\":%u,\"name\":\"%s\"", (unsigned long long)idx,
			    cls, name);
		if (label >= 0)
			n += sprintf(b + n, ",\"label\":%d", label);
		if (sc) {
			n += sprintf(b + n, ",\"scores\":[");
			for (int i = 0; i < CNV_CLASSES; i++)
				n += sprintf(b + n, i ? ",%u" : "%u", sc[i]);
			n += sprintf(b + n, "]");
		}
		n += sprintf(b + n, "}");
		break;
	default:
		n = sprintf(b, "%llu %u %s", (unsigned long long)idx, cls, name);
		if (label >= 0)
			n += sprintf(b + n, " label %d", label);
		for (int i = 0; sc && i < CNV_CLASSES; i++)
			n += sprintf(b + n, i ? ",%u" : " scores %u", sc[i]);
		break;
	}
	b[n++] = '\n';
	return (size_t)n;
}

static int emit(struct req *r, struct ory_chunk *c, const uint8_t **data, size_t *len)
{
	struct cnv_frame *f = r->spec.frame;
	const struct cnv_params *p = &f->p;
	size_t n = c->in_len / p->stride;
	*len = 0;
	if (c->in_len % p->stride)
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -EINVAL,
				    "input is not a whole number of %zu-byte %s (%zu bytes left over)",
				    p->stride, p->offset ? "CIFAR-10 records" : "images",
				    c->in_len % p->stride);
	const uint16_t *sc = c->out_len >= cnv_out_bound(n) && n
				     ? (const uint16_t *)(c->out + cnv_scores_offset(n))
				     : NULL;
	char *text = (char *)c->out + cnv_out_bound(n);
	size_t tlen = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned cls = c->out[i];
		uint64_t idx = f->index + i;
		if (cls >= CNV_CLASSES) /* a device's bug, not the input's */
			return ory_req_fail(r, ORY_ORIGIN_DEVICE, -EBADMSG,
					    "image %llu: class %u out of range",
					    (unsigned long long)idx, cls);
		int label = -1;
		if (p->offset) {
			label = c->in[i * p->stride];
			if (label >= CNV_CLASSES)
				return ory_req_fail(r, ORY_ORIGIN_INPUT, -EINVAL,
						    "record %llu has label %d (CIFAR-10 labels are 0..9)",
						    (unsigned long long)idx, label);
			f->res->labelled++;
			f->res->correct += (unsigned)label == cls;
			f->res->confusion[label][cls]++;
		}
		const uint16_t *s = sc && p->scores ? sc + 10 * i : NULL;
		if (f->classes) {
			f->classes[idx - f->first_index] = (uint8_t)cls;
			if (f->scores && sc)
				memcpy(f->scores + 10 * (idx - f->first_index), sc + 10 * i, 20);
		} else if (f->format != ORY_CNV_NONE) {
			tlen += put_line(text + tlen, f, idx, cls, label, s);
		}
	}
	f->index += n;
	f->res->images += n;
	*data = (const uint8_t *)text;
	*len = tlen;
	return 0;
}

static void finish(struct req *r)
{
	struct cnv_frame *f = r->spec.frame;
	f->res->seconds += (double)(ory_now_ns() - f->t0) * 1e-9;
	cnv_model_free(f->model);
	f->model = NULL;
}

static int load_model(struct req *r, const struct ory_cnv_opts *o, struct cnv_model **m)
{
	char err[512] = "";
	int rc = o->model_path	? cnv_model_load_file(o->model_path, m, err, sizeof(err))
		 : o->weights_dir ? cnv_model_load_dir(o->weights_dir, m, err, sizeof(err))
				  : cnv_model_load_default(m, err, sizeof(err));
	if (rc < 0)
		return ory_req_fail(r, ORY_ORIGIN_NONE, rc, "%s", err[0] ? err : ory_strerror(rc));
	return 0;
}

int ory_cnv_prepare(struct req *r)
{
	const struct ory_request *pub = r->pub;
	struct ory_runtime *rt = r->rt;
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	if (pub->cnv && !ory_take_struct(&o, sizeof(o), pub->cnv, offsetof(struct ory_cnv_opts, batch)))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "cnv options struct too small");
	if (o.batch < 1 || o.batch > 65536 || o.input > ORY_CNV_RAW || o.format > ORY_CNV_NONE)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "bad cnv options (batch 1 .. 65536)");
	size_t stride = o.input == ORY_CNV_CIFAR ? CNV_CIFAR_RECORD : CNV_IMAGE_BYTES;
	if ((size_t)o.batch * stride > rt->opts.chunk_size)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL,
				    "a batch of %u images (%zu bytes) exceeds the runtime's chunk size "
				    "(%zu bytes): fewer images, or a larger chunk_size",
				    o.batch, (size_t)o.batch * stride, rt->opts.chunk_size);
	bool arrays = pub->cnv_classes != NULL;
	int rc = ory_req_endpoints(r, !arrays && o.format != ORY_CNV_NONE);
	if (rc < 0)
		return rc;
	if (arrays || o.format == ORY_CNV_NONE)
		r->sink = (struct ory_sink){ .fd = -1 };

	struct cnv_frame *f = r->spec.frame;
	memset(f, 0, sizeof(*f));
	f->format = arrays ? ORY_CNV_NONE : o.format;
	f->first_index = o.first_index;
	f->index = o.first_index;
	f->classes = pub->cnv_classes;
	f->scores = pub->cnv_scores;
	f->local.struct_size = sizeof(f->local);
	f->res = pub->cnv_result && pub->cnv_result->struct_size >= sizeof(*pub->cnv_result)
			 ? pub->cnv_result
			 : &f->local;
	f->p.stride = stride;
	f->p.offset = o.input == ORY_CNV_CIFAR ? 1 : 0;
	f->p.layout = o.input == ORY_CNV_CIFAR ? CNV_CHW : CNV_HWC;
	f->p.scores = o.scores || f->scores;
	f->t0 = ory_now_ns();

	/* A regular file's size can be checked before any line is written. */
	struct stat st;
	if (r->src.fd >= 0 && fstat(r->src.fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t pos = r->src.has_offset ? (off_t)r->src.offset : lseek(r->src.fd, 0, SEEK_CUR);
		size_t len = (size_t)(st.st_size - (pos > 0 ? pos : 0));
		if (r->src.len && r->src.len < len)
			len = r->src.len;
		if (len % stride)
			return ory_req_fail(r, ORY_ORIGIN_INPUT, -EINVAL,
					    "input size %zu is not a whole number of %zu-byte %s", len,
					    stride, f->p.offset ? "CIFAR-10 records" : "images");
	}
	rc = load_model(r, &o, &f->model);
	if (rc < 0)
		return rc;
	f->p.model = f->model;
	if (!arrays && f->format == ORY_CNV_CSV && o.header)
		snprintf(f->header, sizeof(f->header), "index,class,name%s%s\n",
			 o.input == ORY_CNV_CIFAR ? ",label" : "",
			 o.scores ? ",s0,s1,s2,s3,s4,s5,s6,s7,s8,s9" : "");
	r->spec = (struct ory_job_spec){
		.app = &ory_cnv_app,
		.params = &f->p,
		.chunk_size = (size_t)o.batch * stride,
		.out_bound = cnv_out_bound(o.batch) + (size_t)o.batch * CNV_LINE_MAX,
		.header = (const uint8_t *)f->header,
		.header_len = strlen(f->header),
		.emit = emit,
		.finish = finish,
		.frame = f,
	};
	r->aq = ory_app_queues(rt, &ory_cnv_app);
	return 0;
}

/* Either request's progress: the caller's struct may be shorter (an older one). */
static void progress_of(const struct ory_cnv_opts *opts, ory_progress_fn *fn, void **arg)
{
	bool ok = opts && opts->struct_size >= offsetof(struct ory_cnv_opts, progress_arg) +
							sizeof(opts->progress_arg);
	*fn = ok ? opts->progress : NULL;
	*arg = ok ? opts->progress_arg : NULL;
}

int ory_cnv_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_cnv_opts *opts,
	       struct ory_cnv_result *result)
{
	if (!rt || in_fd < 0 || (out_fd < 0 && (!opts || opts->format != ORY_CNV_NONE)))
		return -EINVAL;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_CNV);
	req.in_fd = in_fd;
	req.out_fd = out_fd;
	req.cnv = opts;
	req.cnv_result = result;
	ory_progress_fn fn;
	void *arg;
	progress_of(opts, &fn, &arg);
	return ory_sync(rt, &req, fn, arg, NULL);
}

int ory_cnv_classify(struct ory_runtime *rt, const void *images, size_t n,
		     const struct ory_cnv_opts *opts, uint8_t *classes, uint16_t *scores,
		     struct ory_cnv_result *result)
{
	if (!rt || (n && (!images || !classes)))
		return -EINVAL;
	uint8_t none;
	size_t stride = opts && opts->input == ORY_CNV_RAW ? CNV_IMAGE_BYTES : CNV_CIFAR_RECORD;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_CNV);
	req.in = images;
	req.in_len = n * stride;
	req.cnv = opts;
	req.cnv_classes = classes ? classes : &none;
	req.cnv_scores = scores;
	req.cnv_result = result;
	ory_progress_fn fn;
	void *arg;
	progress_of(opts, &fn, &arg);
	return ory_sync(rt, &req, fn, arg, NULL);
}
