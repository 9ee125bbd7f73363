/* SPDX-License-Identifier: MIT */
/* test_engine.c - the engine with a transparent app: order, chunk boundaries, dictionary
 * priming, sources (memory, file, pipe), retries, device and I/O failures, bounded memory. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "runtime/internal.h"
#include "util.h"

#define CHUNK (64 * 1024)

/* ---- the "frame" app: each chunk becomes [dict_len u64][in_len u64][dict][in] ------------- */

static int frame_open(void **st)
{
	*st = NULL;
	return 0;
}

static int frame_run(void *st, struct ory_chunk *c)
{
	(void)st;
	uint64_t h[2] = { c->dict_len, c->in_len };
	if (16 + c->dict_len + c->in_len > c->out_cap)
		return -EOVERFLOW;
	memcpy(c->out, h, 16);
	memcpy(c->out + 16, c->dict, c->dict_len);
	memcpy(c->out + 16 + c->dict_len, c->in, c->in_len);
	c->out_len = 16 + c->dict_len + c->in_len;
	c->check = (uint32_t)crc32(0, c->in, (uInt)c->in_len);
	return 0;
}

static void frame_close(void *st)
{
	(void)st;
}

static size_t frame_bound(size_t chunk)
{
	return 16 + ORY_DICT_MAX + chunk;
}

static const struct ory_kernel_ops frame_ops = { frame_open, frame_run, frame_close };
static const struct ory_app frame_app = { .name = "frame", .sw = &frame_ops,
					  .out_bound = frame_bound };

/* ---- test devices --------------------------------------------------------------------------
 * "jitter": two chunks in flight, each finished after a random delay, the later one first.
 * "flaky": fails about a third of its chunks. "broken": fails every chunk. */

struct tdev {
	const struct ory_kernel_ops *k;
	void *ks;
	struct ory_chunk *q[2];
	unsigned n;
	unsigned seed;
	int mode; /* 0 jitter, 1 flaky, 2 broken */
};

static int t_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *d,
		   unsigned max)
{
	(void)t;
	unsigned n = args ? (unsigned)atoi(args) : 1;
	if (n < 1 || n > max)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		d[i].core = -1;
		d[i].numa_node = -1;
		d[i].index = i;
	}
	return (int)n;
}

static int t_open(int mode, const struct ory_device_desc *desc, void **dev)
{
	struct tdev *t = calloc(1, sizeof(*t));
	t->mode = mode;
	t->seed = 1234 + desc->index;
	*dev = t;
	return 0;
}

static int open_jitter(const struct ory_device_desc *d, void **dev) { return t_open(0, d, dev); }
static int open_flaky(const struct ory_device_desc *d, void **dev) { return t_open(1, d, dev); }
static int open_broken(const struct ory_device_desc *d, void **dev) { return t_open(2, d, dev); }
static void t_close(void *dev) { free(dev); }
static unsigned t_inflight(void *dev) { return ((struct tdev *)dev)->mode == 0 ? 2 : 1; }

/* Test devices run the frame app only. */
static int t_attach(void *dev, const struct ory_app *app, size_t chunk_size)
{
	struct tdev *t = dev;
	(void)chunk_size;
	if (app != &frame_app)
		return -ENOTSUP;
	t->k = app->sw;
	return t->k->open(&t->ks);
}

static void t_detach(void *dev, const struct ory_app *app)
{
	struct tdev *t = dev;
	(void)app;
	t->k->close(t->ks);
}

static int t_submit(void *dev, struct ory_chunk *c)
{
	struct tdev *t = dev;
	t->q[t->n++] = c;
	return 0;
}

static struct ory_chunk *t_reap(void *dev)
{
	struct tdev *t = dev;
	struct ory_chunk *c = t->q[--t->n]; /* newest first: out of order on purpose */
	if (t->mode == 0) {
		struct timespec ts = { 0, (long)(rand_r(&t->seed) % 300) * 1000 };
		nanosleep(&ts, NULL);
	}
	if (t->mode == 2 || (t->mode == 1 && rand_r(&t->seed) % 3 == 0)) {
		c->out_len = 0;
		c->status = -EIO;
	} else {
		c->status = t->k->run(t->ks, c);
	}
	return c;
}

#define TDEV(name, opener)                                                                    \
	static const struct ory_device_ops name##_ops = {                                     \
		.kind = #name, .priority = -1, .probe = t_probe, .open = opener,              \
		.close = t_close, .max_inflight = t_inflight, .attach = t_attach,             \
		.detach = t_detach, .submit = t_submit, .reap = t_reap,                       \
	}
TDEV(jitter, open_jitter);
TDEV(flaky, open_flaky);
TDEV(broken, open_broken);

/* A job of a test's own spec through the runtime, as the synchronous calls run theirs. */
static int engine_run(struct ory_runtime *rt, const struct ory_job_spec *spec,
		      const struct ory_source *src, struct ory_sink *sink, struct ory_job_stats *st)
{
	struct ory_request req;
	ory_request_init(&req, ORY_OP_DEFLATE);
	return ory_run_spec(rt, &req, spec, src, sink, NULL, NULL, st);
}

static struct ory_runtime *make_rt(const char *devices)
{
	ory_register_app(&frame_app);
	ory_register_device_kind(&jitter_ops);
	ory_register_device_kind(&flaky_ops);
	ory_register_device_kind(&broken_ops);
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = CHUNK;
	o.max_tries = 20;
	o.quarantine_after = 20;
	o.fallback_cpu = false;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	cr_assert_eq(rc, 0, "runtime %s: %s", devices, err);
	return rt;
}

static struct ory_job_spec frame_spec(size_t dict)
{
	static const uint8_t hdr[] = "HDR";
	return (struct ory_job_spec){
		.app = &frame_app,
		.dict_size = dict,
		.out_bound = 16 + ORY_DICT_MAX + CHUNK,
		.header = hdr,
		.header_len = 3,
	};
}

/* The output must be the header, then every chunk of `in` in order, each carrying exactly the
 * min(dict, offset) bytes of input before it. */
static void check_frames(const uint8_t *out, size_t out_len, const uint8_t *in, size_t in_len,
			 size_t dict)
{
	cr_assert_geq(out_len, 3);
	cr_assert_eq(memcmp(out, "HDR", 3), 0);
	size_t o = 3, off = 0;
	while (o < out_len) {
		uint64_t h[2];
		cr_assert_leq(o + 16, out_len);
		memcpy(h, out + o, 16);
		size_t want_dict = off < dict ? off : dict;
		size_t want_len = in_len - off < CHUNK ? in_len - off : CHUNK;
		cr_assert_eq(h[0], want_dict, "chunk at %zu: dict %llu, want %zu", off,
			     (unsigned long long)h[0], want_dict);
		cr_assert_eq(h[1], want_len, "chunk at %zu: len %llu, want %zu", off,
			     (unsigned long long)h[1], want_len);
		cr_assert_eq(memcmp(out + o + 16, in + off - want_dict, want_dict), 0,
			     "dictionary of the chunk at %zu", off);
		cr_assert_eq(memcmp(out + o + 16 + want_dict, in + off, want_len), 0,
			     "data of the chunk at %zu", off);
		o += 16 + want_dict + want_len;
		off += want_len;
	}
	cr_assert_eq(off, in_len, "output covers %zu of %zu input bytes", off, in_len);
}

static size_t frames_bound(size_t len)
{
	return 3 + (len / CHUNK + 1) * (16 + ORY_DICT_MAX + CHUNK);
}

static void run_mem(const char *devices, size_t len, size_t dict)
{
	struct ory_runtime *rt = make_rt(devices);
	uint8_t *in = tu_random(len, len);
	size_t cap = frames_bound(len);
	uint8_t *out = malloc(cap);
	struct ory_source src = { .fd = -1, .mem = in, .mem_len = len };
	struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = cap };
	struct ory_job_spec spec = frame_spec(dict);
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	int rc = engine_run(rt, &spec, &src, &sink, &st);
	cr_assert_eq(rc, 0, "%s", ory_runtime_errmsg(rt));
	check_frames(out, sink.mem_len, in, len, dict);
	cr_expect_eq(st.bytes_in, len);
	cr_expect_eq(st.chunks, (len + CHUNK - 1) / CHUNK);
	free(in);
	free(out);
	ory_runtime_destroy(rt);
}

Test(engine, memory_input_comes_out_whole_and_in_order_at_every_boundary_size)
{
	size_t sizes[] = { 0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 7 * CHUNK + 5 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (size_t d = 0; d <= ORY_DICT_MAX; d += ORY_DICT_MAX)
			run_mem("cpu:3", sizes[i], d);
}

Test(engine, out_of_order_completions_are_committed_in_input_order)
{
	run_mem("jitter:4", 41 * CHUNK + 17, ORY_DICT_MAX);
	run_mem("jitter:2+cpu:1", 23 * CHUNK, 0);
}

Test(engine, failed_chunks_are_retried_until_they_succeed)
{
	struct ory_runtime *rt = make_rt("flaky:2"); /* alone, so they cannot avoid work */
	size_t len = 30 * CHUNK;
	uint8_t *in = tu_random(len, 7);
	uint8_t *out = malloc(frames_bound(len));
	struct ory_source src = { .fd = -1, .mem = in, .mem_len = len };
	struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = frames_bound(len) };
	struct ory_job_spec spec = frame_spec(0);
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	cr_assert_eq(engine_run(rt, &spec, &src, &sink, &st), 0, "%s", ory_runtime_errmsg(rt));
	check_frames(out, sink.mem_len, in, len, 0);
	uint64_t failures = 0;
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		ory_runtime_device_info(rt, i, &d);
		failures += d.failures;
	}
	cr_expect_gt(st.retries, 0, "a flaky device should have forced retries");
	cr_expect_eq(failures, st.retries);
	free(in);
	free(out);
	ory_runtime_destroy(rt);
}

Test(engine, a_device_that_always_fails_fails_the_job_with_a_device_error)
{
	struct ory_runtime *rt = make_rt("broken:1");
	uint8_t in[100] = { 1 };
	uint8_t out[1000];
	struct ory_source src = { .fd = -1, .mem = in, .mem_len = sizeof(in) };
	struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = sizeof(out) };
	struct ory_job_spec spec = frame_spec(0);
	int rc = engine_run(rt, &spec, &src, &sink, NULL);
	cr_expect_lt(rc, 0);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_DEVICE);
	cr_expect(strstr(ory_runtime_errmsg(rt), "broken0"), "message: %s",
		  ory_runtime_errmsg(rt));
	ory_runtime_destroy(rt);
}

static void run_fd(int in_fd, const uint8_t *in, size_t len, size_t dict, const char *devices)
{
	struct ory_runtime *rt = make_rt(devices);
	char *dir = tu_mkdtemp();
	const char *op = tu_path(dir, "out");
	int out_fd = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct ory_source src = { .fd = in_fd };
	struct ory_sink sink = { .fd = out_fd };
	struct ory_job_spec spec = frame_spec(dict);
	int rc = engine_run(rt, &spec, &src, &sink, NULL);
	close(out_fd);
	cr_assert_eq(rc, 0, "%s", ory_runtime_errmsg(rt));
	size_t n;
	uint8_t *out = tu_read_file(op, &n);
	check_frames(out, n, in, len, dict);
	free(out);
	tu_rmtree(dir);
	free(dir);
	ory_runtime_destroy(rt);
}

Test(engine, a_file_is_read_at_every_boundary_size_with_and_without_dictionary)
{
	char *dir = tu_mkdtemp();
	size_t sizes[] = { 0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 13 * CHUNK + 999 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *in = tu_random(sizes[i], i);
		const char *p = tu_path(dir, "in");
		tu_write_file(p, in, sizes[i]);
		for (size_t d = 0; d <= ORY_DICT_MAX; d += ORY_DICT_MAX) {
			int fd = open(p, O_RDONLY);
			run_fd(fd, in, sizes[i], d, "jitter:3");
			close(fd);
		}
		free(in);
	}
	tu_rmtree(dir);
	free(dir);
}

/* A regular file may hold more than its size said at open (here st_size is 0: /proc): reads
 * go on past the size until one comes back short, one at a time. */
Test(engine, a_file_longer_than_its_size_says_is_read_to_its_end, .timeout = 60)
{
	const char *p = "/proc/kallsyms"; /* megabytes of stable text, st_size 0 */
	size_t len;
	uint8_t *in = tu_read_file(p, &len); /* to its end */
	cr_assert(in, "%s: %s", p, strerror(errno));
	cr_assert_gt(len, 3 * CHUNK, "%s: %zu bytes", p, len);
	int fd = open(p, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", p, strerror(errno));
	run_fd(fd, in, len, 0, "cpu:2");
	close(fd);
	free(in);
}

Test(engine, a_file_is_read_from_its_current_offset)
{
	char *dir = tu_mkdtemp();
	size_t len = 5 * CHUNK + 3, skip = 1000;
	uint8_t *in = tu_random(len, 99);
	const char *p = tu_path(dir, "in");
	tu_write_file(p, in, len);
	int fd = open(p, O_RDONLY);
	lseek(fd, (off_t)skip, SEEK_SET);
	run_fd(fd, in + skip, len - skip, ORY_DICT_MAX, "cpu:2");
	close(fd);
	free(in);
	tu_rmtree(dir);
	free(dir);
}

struct pipe_writer {
	int fd;
	const uint8_t *buf;
	size_t len;
};

/* Writes in uneven pieces with pauses, so reads come back short and chunks fill up slowly. */
static void *write_pipe(void *p)
{
	struct pipe_writer *w = p;
	unsigned seed = 5;
	size_t off = 0;
	while (off < w->len) {
		size_t n = 1 + (size_t)rand_r(&seed) % 50000;
		if (n > w->len - off)
			n = w->len - off;
		ssize_t r = write(w->fd, w->buf + off, n);
		if (r <= 0)
			break;
		off += (size_t)r;
		if (rand_r(&seed) % 8 == 0)
			usleep(200);
	}
	close(w->fd);
	return NULL;
}

Test(engine, a_pipe_fills_every_chunk_whatever_the_writes_look_like)
{
	size_t len = 9 * CHUNK + 12345;
	uint8_t *in = tu_random(len, 3);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	struct pipe_writer w = { fds[1], in, len };
	pthread_t t;
	pthread_create(&t, NULL, write_pipe, &w);
	run_fd(fds[0], in, len, ORY_DICT_MAX, "jitter:2");
	pthread_join(t, NULL);
	close(fds[0]);
	free(in);
}

Test(engine, a_read_error_fails_the_job_on_the_input_side)
{
	struct ory_runtime *rt = make_rt("cpu:1");
	char *dir = tu_mkdtemp();
	const char *p = tu_path(dir, "in");
	tu_write_file(p, "abc", 3);
	int fd = open(p, O_WRONLY); /* reads fail with EBADF */
	uint8_t out[1000];
	struct ory_source src = { .fd = fd };
	struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = sizeof(out) };
	struct ory_job_spec spec = frame_spec(0);
	int rc = engine_run(rt, &spec, &src, &sink, NULL);
	cr_expect_eq(rc, -EIO);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_INPUT);
	cr_expect(strstr(ory_runtime_errmsg(rt), "read error"), "%s", ory_runtime_errmsg(rt));
	close(fd);
	tu_rmtree(dir);
	free(dir);
	ory_runtime_destroy(rt);
}

Test(engine, a_write_error_fails_the_job_on_the_output_side)
{
	struct ory_runtime *rt = make_rt("cpu:2");
	size_t len = 4 * CHUNK;
	uint8_t *in = tu_random(len, 1);
	int fd = open("/dev/full", O_WRONLY);
	struct ory_source src = { .fd = -1, .mem = in, .mem_len = len };
	struct ory_sink sink = { .fd = fd };
	struct ory_job_spec spec = frame_spec(0);
	int rc = engine_run(rt, &spec, &src, &sink, NULL);
	cr_expect_eq(rc, -ENOSPC);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_OUTPUT);
	close(fd);
	free(in);
	ory_runtime_destroy(rt);
}

Test(engine, working_memory_does_not_grow_with_the_input)
{
	struct ory_runtime *rt = make_rt("cpu:2");
	size_t small = 2 * CHUNK, big = 300 * CHUNK;
	size_t pool[2];
	size_t lens[2] = { small, big };
	for (int i = 0; i < 2; i++) {
		uint8_t *in = tu_random(lens[i], 11);
		uint8_t *out = malloc(frames_bound(lens[i]));
		struct ory_source src = { .fd = -1, .mem = in, .mem_len = lens[i] };
		struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = frames_bound(lens[i]) };
		struct ory_job_spec spec = frame_spec(0);
		struct ory_job_stats st = { .struct_size = sizeof(st) };
		cr_assert_eq(engine_run(rt, &spec, &src, &sink, &st), 0);
		pool[i] = st.pool_bytes;
		free(in);
		free(out);
	}
	cr_expect_gt(pool[0], 0);
	cr_expect_eq(pool[0], pool[1], "pool %zu bytes for %zu, %zu bytes for %zu", pool[0], small,
		     pool[1], big);
	ory_runtime_destroy(rt);
}
