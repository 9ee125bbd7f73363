/* SPDX-License-Identifier: MIT */
/* cnv_job.c - the CNV jobs of the public API: load the model, cut the input into batches of
 * whole records, and turn each batch's classes into lines (or arrays) in input order. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime/internal.h"
#include "cnv_app.h"

#define LINE_MAX_BYTES 160 /* the longest line: JSON with a label and ten scores */

struct cnv_frame {
	struct cnv_params p;
	const struct ory_cnv_opts *o;
	struct ory_cnv_result *res;
	uint64_t index;           /* of the next image */
	char *text;               /* one batch of lines */
	size_t text_cap;
	uint8_t *classes;         /* ory_cnv_classify's arrays, or NULL */
	uint16_t *scores;
};

static size_t put_line(char *b, const struct cnv_frame *f, uint64_t idx, unsigned cls, int label,
		       const uint16_t *sc)
{
	const char *name = ory_cnv_class_name(cls);
	int n = 0;
	switch (f->o->format) {
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

static int emit(void *arg, struct ory_runtime *rt, struct ory_sink *sink, const struct ory_chunk *c)
{
	struct cnv_frame *f = arg;
	const struct cnv_params *p = &f->p;
	size_t n = c->in_len / p->stride;
	if (c->in_len % p->stride)
		return ory_fail_at(rt, ORY_ORIGIN_INPUT, -EINVAL,
				   "input is not a whole number of %zu-byte %s (%zu bytes left over)",
				   p->stride, p->offset ? "CIFAR-10 records" : "images",
				   c->in_len % p->stride);
	const uint16_t *sc = c->out_len >= cnv_out_bound(n) && n
				     ? (const uint16_t *)(c->out + cnv_scores_offset(n))
				     : NULL;
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned cls = c->out[i];
		uint64_t idx = f->index + i;
		if (cls >= CNV_CLASSES) /* a device's bug, not the input's */
			return ory_fail_at(rt, ORY_ORIGIN_DEVICE, -EBADMSG,
					   "image %llu: class %u out of range",
					   (unsigned long long)idx, cls);
		int label = -1;
		if (p->offset) {
			label = c->in[i * p->stride];
			if (label >= CNV_CLASSES)
				return ory_fail_at(rt, ORY_ORIGIN_INPUT, -EINVAL,
						   "record %llu has label %d (CIFAR-10 labels are 0..9)",
						   (unsigned long long)idx, label);
			f->res->labelled++;
			f->res->correct += (unsigned)label == cls;
			f->res->confusion[label][cls]++;
		}
		const uint16_t *s = sc && p->scores ? sc + 10 * i : NULL;
		if (f->classes) {
			f->classes[idx - f->o->first_index] = (uint8_t)cls;
			if (f->scores && sc)
				memcpy(f->scores + 10 * (idx - f->o->first_index), sc + 10 * i, 20);
		} else if (f->o->format != ORY_CNV_NONE) {
			len += put_line(f->text + len, f, idx, cls, label, s);
		}
	}
	f->index += n;
	f->res->images += n;
	return len ? ory_sink_write(rt, sink, f->text, len) : 0;
}

static int load_model(struct ory_runtime *rt, const struct ory_cnv_opts *o, struct cnv_model **m)
{
	char err[512] = "";
	int rc = o->model_path	? cnv_model_load_file(o->model_path, m, err, sizeof(err))
		 : o->weights_dir ? cnv_model_load_dir(o->weights_dir, m, err, sizeof(err))
				  : cnv_model_load_default(m, err, sizeof(err));
	if (rc < 0)
		return ory_fail(rt, rc, "%s", err[0] ? err : ory_strerror(rc));
	return 0;
}

static int run_cnv(struct ory_runtime *rt, const struct ory_source *src, struct ory_sink *sink,
		   const struct ory_cnv_opts *in_opts, struct ory_cnv_result *result,
		   uint8_t *classes, uint16_t *scores)
{
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	if (in_opts &&
	    !ory_take_struct(&o, sizeof(o), in_opts, offsetof(struct ory_cnv_opts, batch)))
		return ory_fail(rt, -EINVAL, "cnv options struct too small");
	if (o.batch < 1 || o.batch > 65536 || o.input > ORY_CNV_RAW || o.format > ORY_CNV_NONE)
		return ory_fail(rt, -EINVAL, "bad cnv options (batch 1 .. 65536)");
	struct cnv_frame f = { .o = &o, .index = o.first_index, .classes = classes,
			       .scores = scores };
	struct ory_cnv_result local = { .struct_size = sizeof(local) };
	f.res = result && result->struct_size >= sizeof(*result) ? result : &local;
	f.p.stride = o.input == ORY_CNV_CIFAR ? CNV_CIFAR_RECORD : CNV_IMAGE_BYTES;
	f.p.offset = o.input == ORY_CNV_CIFAR ? 1 : 0;
	f.p.layout = o.input == ORY_CNV_CIFAR ? CNV_CHW : CNV_HWC;
	f.p.scores = o.scores || scores;

	/* A regular file's size can be checked before any line is written. */
	struct stat st;
	if (src->fd >= 0 && fstat(src->fd, &st) == 0 && S_ISREG(st.st_mode)) {
		off_t pos = lseek(src->fd, 0, SEEK_CUR);
		size_t len = (size_t)(st.st_size - (pos > 0 ? pos : 0));
		if (len % f.p.stride)
			return ory_fail_at(rt, ORY_ORIGIN_INPUT, -EINVAL,
					   "input size %zu is not a whole number of %zu-byte %s", len,
					   f.p.stride, f.p.offset ? "CIFAR-10 records" : "images");
	}
	struct cnv_model *model;
	int rc = load_model(rt, &o, &model);
	if (rc < 0)
		return rc;
	f.p.model = model;
	f.text_cap = (size_t)o.batch * LINE_MAX_BYTES;
	f.text = classes ? NULL : malloc(f.text_cap);
	if (!classes && !f.text) {
		cnv_model_free(model);
		return ory_fail(rt, -ENOMEM, "out of memory");
	}

	static const char csv_head[] = "index,class,name";
	char header[160] = "";
	if (!classes && o.format == ORY_CNV_CSV && o.header) {
		snprintf(header, sizeof(header), "%s%s%s\n", csv_head,
			 o.input == ORY_CNV_CIFAR ? ",label" : "",
			 o.scores ? ",s0,s1,s2,s3,s4,s5,s6,s7,s8,s9" : "");
	}
	struct ory_job_spec spec = {
		.app = &ory_cnv_app,
		.params = &f.p,
		.chunk_size = (size_t)o.batch * f.p.stride,
		.out_bound = cnv_out_bound(o.batch),
		.header = (const uint8_t *)header,
		.header_len = strlen(header),
		.emit = emit,
		.frame_arg = &f,
		.progress = o.progress,
		.progress_arg = o.progress_arg,
	};
	struct ory_job_stats st_job = { .struct_size = sizeof(st_job) };
	rc = ory_engine_run(rt, &spec, src, sink, &st_job);
	f.res->seconds += st_job.seconds;
	free(f.text);
	cnv_model_free(model);
	return rc;
}

int ory_cnv_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_cnv_opts *opts,
	       struct ory_cnv_result *result)
{
	if (!rt || in_fd < 0 || (out_fd < 0 && (!opts || opts->format != ORY_CNV_NONE)))
		return -EINVAL;
	int rc = ory_job_enter(rt);
	if (rc < 0)
		return rc;
	struct ory_source src = { .fd = in_fd };
	struct ory_sink sink = { .fd = out_fd };
	if (out_fd < 0) /* nothing is written: a memory sink that takes nothing */
		sink = (struct ory_sink){ .fd = -1 };
	rc = run_cnv(rt, &src, &sink, opts, result, NULL, NULL);
	ory_job_leave(rt);
	return rc;
}

int ory_cnv_classify(struct ory_runtime *rt, const void *images, size_t n,
		     const struct ory_cnv_opts *opts, uint8_t *classes, uint16_t *scores,
		     struct ory_cnv_result *result)
{
	if (!rt || (n && (!images || !classes)))
		return -EINVAL;
	int rc = ory_job_enter(rt);
	if (rc < 0)
		return rc;
	size_t stride = opts && opts->input == ORY_CNV_RAW ? CNV_IMAGE_BYTES : CNV_CIFAR_RECORD;
	struct ory_source src = { .fd = -1, .mem = images, .mem_len = n * stride };
	struct ory_sink sink = { .fd = -1 };
	rc = run_cnv(rt, &src, &sink, opts, result, classes, scores);
	ory_job_leave(rt);
	return rc;
}
