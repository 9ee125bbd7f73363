/* SPDX-License-Identifier: MIT */
/* test_requests.c - the resident runtime from many threads: asynchronous requests into queues
 * and callbacks, exactly one completion each whatever happens (success, failure, cancel,
 * destroy, a full runtime), the same bytes as the synchronous calls, and fault schedules with
 * many requests at once. Also runs under ThreadSanitizer (tests/tsan/). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u

static struct ory_runtime *make_rt(const char *devices, size_t chunk, unsigned max_requests)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = chunk;
	o.max_requests = max_requests;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	cr_assert_eq(rc, 0, "runtime %s: %s", devices, err);
	return rt;
}

static size_t sync_gzip(struct ory_runtime *rt, const uint8_t *in, size_t len, uint8_t *out,
			size_t cap, int level)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = level;
	size_t n = 0;
	cr_assert_eq(ory_gzip_buf(rt, in, len, out, cap, &n, &g, NULL), 0, "%s",
		     ory_runtime_errmsg(rt));
	return n;
}

Test(requests, an_async_request_completes_once_into_its_queue_with_the_synchronous_bytes)
{
	struct ory_runtime *rt = make_rt("cpu:2", 64 * KiB, 16);
	size_t len = 700 * KiB + 3, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 1), *a = malloc(cap), *b = malloc(cap);
	size_t want = sync_gzip(rt, in, len, a, cap, 1);
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	struct ory_request req;
	tu_deflate_request(&req, in, len, b, cap);
	req.gzip = &g;
	req.cookie = &req;
	cr_assert_eq(ory_submit(rt, q, &req), 0, "%s", req.errmsg);
	struct ory_request *got[4];
	cr_assert_eq(ory_queue_poll(q, got, 4, -1), 1);
	cr_expect_eq(got[0], &req);
	cr_expect_eq(req.status, 0, "%s", req.errmsg);
	cr_expect_eq(req.bytes_out, want);
	cr_expect_eq(req.bytes_in, len);
	cr_expect_eq(req.chunks, (len + 64 * KiB - 1) / (64 * KiB));
	cr_expect_eq(memcmp(a, b, want), 0, "async bytes differ from ory_gzip_buf's");
	cr_expect_eq(req.crc32, (uint32_t)crc32(0, in, (uInt)len));
	cr_expect_eq(ory_queue_poll(q, got, 4, 50), 0, "a second completion");
	ory_queue_destroy(q);
	free(in);
	free(a);
	free(b);
	ory_runtime_destroy(rt);
}

struct counted {
	_Atomic int calls;
	_Atomic bool during_submit;
	bool submitting;
};

static void count_done(struct ory_request *req)
{
	struct counted *c = req->cookie;
	if (c->submitting)
		atomic_store(&c->during_submit, true);
	atomic_fetch_add(&c->calls, 1);
}

static void wait_calls(struct counted *c, int n)
{
	for (int i = 0; i < 5000 && atomic_load(&c->calls) < n; i++)
		usleep(1000);
}

Test(requests, a_small_request_runs_inline_and_its_callback_runs_before_submit_returns)
{
	struct ory_runtime *rt = make_rt("cpu:2", 1024 * KiB, 16);
	uint8_t in[4096], out[8192];
	memset(in, 'a', sizeof(in));
	struct counted c = { 0 };
	struct ory_request req;
	tu_deflate_request(&req, in, sizeof(in), out, sizeof(out));
	req.done = count_done;
	req.cookie = &c;
	c.submitting = true;
	cr_assert_eq(ory_submit(rt, NULL, &req), 0, "%s", req.errmsg);
	c.submitting = false;
	cr_expect(atomic_load(&c.during_submit), "4 KiB on CPU workers should run inline");
	cr_expect_eq(atomic_load(&c.calls), 1);
	cr_expect(tu_inflates_to(out, req.bytes_out, in, sizeof(in)));
	ory_runtime_destroy(rt);
	cr_expect_eq(atomic_load(&c.calls), 1, "destroy completed it again");
}

/* Chunks the runtime's devices ran, all of them. */
static uint64_t device_chunks(struct ory_runtime *rt)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		cr_assert_eq(ory_runtime_device_info(rt, i, &d), 0);
		n += d.chunks;
	}
	return n;
}

Test(requests, a_synchronous_call_of_one_chunk_runs_on_its_caller_and_a_submission_on_a_worker)
{
	/* 1 MiB, one chunk: the synchronous caller would only sleep while a worker ran it. An
	 * asynchronous submission must not block its caller that long; with inline_max 0 the
	 * synchronous call goes to the workers too. Same bytes every way. */
	size_t len = 1024 * KiB;
	uint8_t *in = tu_text(len, 21);
	size_t cap = len + len / 8 + 4096;
	uint8_t *out[3];
	size_t n[3];
	for (int way = 0; way < 3; way++) {
		struct ory_runtime_opts o;
		ory_runtime_opts_init(&o);
		o.devices = "cpu:2";
		if (way == 2)
			o.inline_max = 0;
		struct ory_runtime *rt;
		char err[256];
		cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
		out[way] = malloc(cap);
		if (way == 1) {
			struct ory_queue *q;
			cr_assert_eq(ory_queue_create(rt, &q), 0);
			struct ory_request req, *got;
			tu_deflate_request(&req, in, len, out[way], cap);
			cr_assert_eq(ory_submit(rt, q, &req), 0, "%s", req.errmsg);
			cr_assert_eq(ory_queue_poll(q, &got, 1, -1), 1);
			cr_assert_eq(got->status, 0, "%s", got->errmsg);
			n[way] = got->bytes_out;
			ory_queue_destroy(q);
		} else {
			struct ory_gzip_opts g;
			ory_gzip_opts_init(&g);
			cr_assert_eq(ory_gzip_buf(rt, in, len, out[way], cap, &n[way], &g, NULL), 0,
				     "%s", ory_runtime_errmsg(rt));
		}
		uint64_t ran = device_chunks(rt);
		cr_expect_eq(ran, way == 0 ? 0 : 1, "way %d: %llu chunks on the workers", way,
			     (unsigned long long)ran);
		ory_runtime_destroy(rt);
		cr_expect(tu_inflates_to(out[way], n[way], in, len));
	}
	cr_expect(n[0] == n[1] && n[1] == n[2] && !memcmp(out[0], out[1], n[0]) &&
		  !memcmp(out[1], out[2], n[0]), "the three ways wrote different bytes");
	for (int way = 0; way < 3; way++)
		free(out[way]);
	free(in);
}

/* ---- many threads ----------------------------------------------------------------------- */

struct client {
	struct ory_runtime *rt;
	unsigned id, n;
	bool use_sync;
	int failures;
	char why[400]; /* the first failure */
};

static void *client_main(void *arg)
{
	struct client *cl = arg;
	struct ory_queue *q = NULL;
	if (!cl->use_sync && ory_queue_create(cl->rt, &q) < 0) {
		cl->failures++;
		return NULL;
	}
	unsigned seed = cl->id * 7919 + 1;
	for (unsigned i = 0; i < cl->n; i++) {
		size_t len = (size_t)(rand_r(&seed) % (300 * KiB)) + 1;
		uint8_t *in = tu_text(len, cl->id * 1000 + i);
		size_t cap = ory_gzip_bound(cl->rt, len);
		uint8_t *out = malloc(cap);
		size_t n = 0;
		int rc;
		char err[320] = "";
		if (cl->use_sync) {
			rc = ory_gzip_buf(cl->rt, in, len, out, cap, &n, NULL, NULL);
			if (rc)
				snprintf(err, sizeof(err), "%d %s", rc, ory_runtime_errmsg(cl->rt));
		} else {
			struct ory_request req;
			tu_deflate_request(&req, in, len, out, cap);
			while ((rc = ory_submit(cl->rt, q, &req)) == -EAGAIN)
				usleep(100);
			struct ory_request *got;
			if (rc == 0 && ory_queue_poll(q, &got, 1, -1) == 1 && got == &req)
				rc = req.status;
			else if (rc == 0)
				rc = -EPROTO;
			if (rc)
				snprintf(err, sizeof(err), "%d %s", rc, req.errmsg);
			n = req.bytes_out;
		}
		if ((rc != 0 || !tu_inflates_to(out, n, in, len)) && !cl->failures++)
			snprintf(cl->why, sizeof(cl->why), "object %u (%zu bytes): %s", i, len,
				 rc ? err : "output does not inflate to the input");
		free(in);
		free(out);
	}
	ory_queue_destroy(q);
	return NULL;
}

static void run_clients(const char *devices, unsigned threads, unsigned per_thread)
{
	struct ory_runtime *rt = make_rt(devices, 64 * KiB, 8);
	pthread_t t[16];
	struct client cl[16];
	for (unsigned i = 0; i < threads; i++) {
		cl[i] = (struct client){ .rt = rt, .id = i, .n = per_thread, .use_sync = i % 2 };
		pthread_create(&t[i], NULL, client_main, &cl[i]);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(cl[i].failures, 0, "client %u (%s) on %s: %d failures, first: %s", i,
			     cl[i].use_sync ? "synchronous" : "queue", devices, cl[i].failures,
			     cl[i].why);
	}
	ory_runtime_destroy(rt);
}

Test(requests, eight_threads_share_one_runtime_and_every_object_round_trips, .timeout = 300)
{
	run_clients("cpu:2", 8, 25);
}

Test(requests, many_requests_at_once_survive_a_fault_schedule, .timeout = 300)
{
	run_clients("fault:cpu:2?fail=0.2,corrupt=0.1,truncate=0.05,seed=3+cpu:1", 6, 12);
}

/* ---- full, cancel, destroy --------------------------------------------------------------- */

/* A slow card: 16 MB/s, so a MiB takes 60 ms. */
#define SLOW "sim:1?mbps=16,dma_mbps=0,latency_us=0"

Test(requests, a_full_runtime_answers_eagain_and_takes_requests_again_after_a_completion)
{
	struct ory_runtime *rt = make_rt(SLOW, 1024 * KiB, 2);
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	size_t len = 1024 * KiB, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_random(len, 5), *out[3];
	struct ory_request req[3];
	for (int i = 0; i < 3; i++) {
		out[i] = malloc(cap);
		tu_deflate_request(&req[i], in, len, out[i], cap);
	}
	cr_assert_eq(ory_submit(rt, q, &req[0]), 0);
	cr_assert_eq(ory_submit(rt, q, &req[1]), 0);
	cr_expect_eq(ory_submit(rt, q, &req[2]), -EAGAIN, "max_requests is 2");
	struct ory_request *got;
	cr_assert_eq(ory_queue_poll(q, &got, 1, -1), 1);
	cr_expect_eq(ory_submit(rt, q, &req[2]), 0, "room after a completion was taken");
	int done = 1;
	while (done < 3)
		done += ory_queue_poll(q, &got, 1, -1);
	for (int i = 0; i < 3; i++) {
		cr_expect_eq(req[i].status, 0, "%s", req[i].errmsg);
		cr_expect(tu_inflates_to(out[i], req[i].bytes_out, in, len));
		free(out[i]);
	}
	ory_queue_destroy(q);
	free(in);
	ory_runtime_destroy(rt);
}

/* Pipes whose first chunk is full wait for their second before the first may leave (its
 * header, and at level 6 its end, depend on it): more of them at once than the pool has
 * buffers all complete, into buffers and files, sizes around one chunk. */
Test(requests, pipes_whose_first_chunk_waits_share_the_pool_and_all_complete, .timeout = 300)
{
	enum { N = 24 };
	size_t chunk = 64 * KiB, lens[] = { 64 * KiB, 64 * KiB - 1, 2 * 64 * KiB + 1 };
	struct ory_runtime *rt = make_rt("cpu:2", chunk, N);
	uint8_t *in = tu_text(3 * chunk, 21);
	size_t cap = ory_gzip_bound(rt, 3 * chunk);
	struct ory_request req[N];
	struct tu_pipe feed[N];
	uint8_t *out[N];
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	for (int i = 0; i < N; i++) {
		out[i] = malloc(cap);
		ory_request_init(&req[i], ORY_OP_DEFLATE);
		req[i].in_fd = tu_pipe_open(&feed[i], in, lens[i % 3]);
		if (i % 2) {
			req[i].out_fd = memfd_create("out", 0);
		} else {
			req[i].out = out[i];
			req[i].out_cap = cap;
		}
		cr_assert_eq(ory_submit(rt, q, &req[i]), 0, "%s", req[i].errmsg);
	}
	for (int done = 0; done < N;) {
		struct ory_request *got[N];
		int n = ory_queue_poll(q, got, N, 60000);
		cr_assert_gt(n, 0, "%d of %d requests stuck for 60 s", N - done, N);
		done += n;
	}
	for (int i = 0; i < N; i++) {
		tu_pipe_join(&feed[i]);
		close(req[i].in_fd);
		cr_expect_eq(req[i].status, 0, "%d: %s", i, req[i].errmsg);
		size_t n = req[i].bytes_out;
		if (i % 2) {
			cr_assert_eq(pread(req[i].out_fd, out[i], cap, 0), (ssize_t)n);
			close(req[i].out_fd);
		}
		cr_expect(tu_inflates_to(out[i], n, in, lens[i % 3]), "request %d", i);
		free(out[i]);
	}
	ory_queue_destroy(q);
	free(in);
	ory_runtime_destroy(rt);
}

/* Seconds from submitting a second one-chunk request, 10 ms after a first one, to its
 * completion, on one card whose every call takes 40 ms (all of it latency, which overlaps the
 * other slot's work). */
static double second_request_seconds(void)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "sim:1?mbps=0,dma_mbps=0,latency_us=40000";
	o.fallback_cpu = false;
	o.verify = ORY_VERIFY_NONE;
	struct ory_runtime *rt;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	uint8_t *in = tu_text(2000, 7);
	static uint8_t out[2][4096];
	struct ory_request req[2];
	for (int i = 0; i < 2; i++) {
		ory_request_init(&req[i], ORY_OP_DEFLATE);
		req[i].in = in + 1000 * i;
		req[i].in_len = 1000;
		req[i].out = out[i];
		req[i].out_cap = sizeof(out[i]);
	}
	cr_assert_eq(ory_submit(rt, q, &req[0]), 0, "%s", req[0].errmsg);
	nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	double t0 = tu_now_s(), t1 = 0;
	cr_assert_eq(ory_submit(rt, q, &req[1]), 0, "%s", req[1].errmsg);
	for (int done = 0; done < 2;) {
		struct ory_request *got;
		cr_assert_eq(ory_queue_poll(q, &got, 1, -1), 1);
		cr_assert_eq(got->status, 0, "%s", got->errmsg);
		if (got == &req[1])
			t1 = tu_now_s();
		done++;
	}
	ory_queue_destroy(q);
	ory_runtime_destroy(rt);
	free(in);
	return t1 - t0;
}

Test(requests, a_chunk_queued_while_a_card_is_busy_starts_in_its_free_slot)
{
	/* In its free slot at once: done 40 ms after it came. After the first chunk's end (the
	 * worker sleeping in reap meanwhile): 30 + 40 = 70 ms. Three tries on a shared host. */
	double s = 0;
	for (int try = 0; try < 3; try++)
		if ((s = second_request_seconds()) < 0.055)
			break;
	cr_expect_geq(s, 0.040 * 0.99, "%.4f s", s);
	cr_expect_lt(s, 0.055, "%.4f s: the chunk waited for the other slot's chunk", s);
}

Test(requests, the_runtime_threads_are_named_after_their_devices)
{
	struct ory_runtime *rt = make_rt("cpu:2", 64 * KiB, 8);
	unsigned service = 0, cpu0 = 0, cpu1 = 0;
	DIR *d = opendir("/proc/self/task");
	cr_assert(d);
	for (struct dirent *e; (e = readdir(d));) {
		char path[300], name[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		service += !strcmp(name, "ory:service");
		cpu0 += !strcmp(name, "ory:cpu0");
		cpu1 += !strcmp(name, "ory:cpu1");
	}
	closedir(d);
	ory_runtime_destroy(rt);
	cr_expect_eq(service, 1);
	cr_expect_eq(cpu0, 1);
	cr_expect_eq(cpu1, 1);
}

Test(requests, cancel_ends_a_request_with_ecanceled_exactly_once)
{
	struct ory_runtime *rt = make_rt(SLOW, 1024 * KiB, 4);
	size_t len = 8 * 1024 * KiB, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_random(len, 6), *out = malloc(cap);
	struct counted c = { 0 };
	struct ory_request req;
	tu_deflate_request(&req, in, len, out, cap);
	req.done = count_done;
	req.cookie = &c;
	cr_assert_eq(ory_submit(rt, NULL, &req), 0);
	usleep(20000);
	cr_expect_eq(ory_cancel(rt, &req), 0);
	wait_calls(&c, 1);
	cr_expect_eq(atomic_load(&c.calls), 1);
	cr_expect_eq(req.status, -ECANCELED, "%s", req.errmsg);
	cr_expect_eq(ory_cancel(rt, &req), -ENOENT, "cancel after completion");
	usleep(20000);
	cr_expect_eq(atomic_load(&c.calls), 1);
	free(in);
	free(out);
	ory_runtime_destroy(rt);
}

Test(requests, destroy_completes_every_request_in_flight_with_ecanceled)
{
	struct ory_runtime *rt = make_rt(SLOW, 1024 * KiB, 8);
	size_t len = 4 * 1024 * KiB, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_random(len, 7), *out[4];
	struct counted c = { 0 };
	struct ory_request req[4];
	for (int i = 0; i < 4; i++) {
		out[i] = malloc(cap);
		tu_deflate_request(&req[i], in, len, out[i], cap);
		req[i].done = count_done;
		req[i].cookie = &c;
		cr_assert_eq(ory_submit(rt, NULL, &req[i]), 0);
	}
	ory_runtime_destroy(rt);
	cr_expect_eq(atomic_load(&c.calls), 4, "every request completes once, before destroy returns");
	for (int i = 0; i < 4; i++) {
		cr_expect(req[i].status == -ECANCELED || req[i].status == 0, "request %d: %d %s", i,
			  req[i].status, req[i].errmsg);
		free(out[i]);
	}
	free(in);
}

Test(requests, destroy_posts_every_queued_request_once_and_the_queue_can_still_be_polled)
{
	struct ory_runtime *rt = make_rt(SLOW, 1024 * KiB, 8);
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	size_t len = 4 * 1024 * KiB, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_random(len, 8), *out[4];
	struct ory_request req[4];
	for (int i = 0; i < 4; i++) {
		out[i] = malloc(cap);
		tu_deflate_request(&req[i], in, len, out[i], cap);
		cr_assert_eq(ory_submit(rt, q, &req[i]), 0);
	}
	ory_runtime_destroy(rt);
	struct ory_request *got[8];
	int n = ory_queue_poll(q, got, 8, 0);
	cr_expect_eq(n, 4, "every request is in the queue once after destroy");
	for (int i = 0; i < n; i++)
		cr_expect(got[i]->status == -ECANCELED || got[i]->status == 0, "%d %s",
			  got[i]->status, got[i]->errmsg);
	cr_expect_eq(ory_queue_poll(q, got, 8, 0), 0, "a request posted twice");
	ory_queue_destroy(q);
	for (int i = 0; i < 4; i++)
		free(out[i]);
	free(in);
}

Test(requests, malformed_requests_are_refused_with_a_reason_and_never_complete)
{
	struct ory_runtime *rt = make_rt("cpu:1", 64 * KiB, 4);
	uint8_t buf[64];
	struct ory_request req;
	tu_deflate_request(&req, buf, sizeof(buf), buf, sizeof(buf));
	cr_expect_eq(ory_submit(rt, NULL, &req), -EINVAL, "no queue and no callback");
	cr_expect(strstr(req.errmsg, "callback"), "%s", req.errmsg);

	struct counted c = { 0 };
	req.done = count_done;
	req.cookie = &c;
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 12;
	req.gzip = &g;
	cr_expect_eq(ory_submit(rt, NULL, &req), -EINVAL);
	cr_expect(strstr(req.errmsg, "level 12"), "%s", req.errmsg);
	g.level = 1;
	g.dict = buf;
	g.dict_len = 10;
	cr_expect_eq(ory_submit(rt, NULL, &req), -EINVAL, "a dictionary with gzip framing");
	cr_expect(strstr(req.errmsg, "dictionary"), "%s", req.errmsg);

	ory_request_init(&req, ORY_OP_INFLATE);
	req.in_fd = 0;
	req.out = buf;
	req.out_cap = sizeof(buf);
	req.done = count_done;
	req.cookie = &c;
	cr_expect_eq(ory_submit(rt, NULL, &req), -ENOTSUP, "decompression of a file as a request");
	cr_expect_eq(atomic_load(&c.calls), 0, "a refused request completed");
	ory_runtime_destroy(rt);
}
