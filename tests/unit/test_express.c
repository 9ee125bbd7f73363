/* SPDX-License-Identifier: MIT */
/* test_express.c - one-chunk requests that go from the submitting thread to a device's worker
 * and back (runtime/express.c): the worker completes them, anything unusual (a failure, a
 * hang, a cancel, destroy) the service thread adopts, and every request still completes exactly
 * once with the right bytes. Also runs under ThreadSanitizer (tests/tsan/). */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u

static struct ory_runtime *make_rt(const char *devices, unsigned max_requests,
				   unsigned watchdog_ms)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = 64 * KiB;
	o.max_requests = max_requests;
	o.watchdog_ms = watchdog_ms;
	o.quarantine_after = 1000; /* a failing card stays in service: more faults per test */
	struct ory_runtime *rt;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "runtime %s: %s", devices,
		     err);
	return rt;
}

/* A callback that records the thread it ran on and counts its calls. */
struct seen {
	_Atomic int calls;
	char thread[16];
};

static void note_done(struct ory_request *req)
{
	struct seen *s = req->cookie;
	pthread_getname_np(pthread_self(), s->thread, sizeof(s->thread));
	atomic_fetch_add(&s->calls, 1);
}

static void wait_calls(_Atomic int *calls, int n)
{
	for (int i = 0; i < 10000 && atomic_load(calls) < n; i++)
		usleep(1000);
}

/* Where the callback runs says which path the request took: the card's worker completed it
 * (express), or the service thread did, having adopted it after its card failed it. */
static void one_request(const char *devices, const char *want_thread)
{
	struct ory_runtime *rt = make_rt(devices, 8, 0);
	size_t len = 40 * KiB, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 3), *out = malloc(cap);
	struct seen s = { 0 };
	struct ory_request req;
	tu_deflate_request(&req, in, len, out, cap);
	req.done = note_done;
	req.cookie = &s;
	cr_assert_eq(ory_submit(rt, NULL, &req), 0, "%s", req.errmsg);
	wait_calls(&s.calls, 1);
	ory_runtime_destroy(rt);
	cr_expect_eq(atomic_load(&s.calls), 1, "%s: completions", devices);
	cr_expect_eq(req.status, 0, "%s: %s", devices, req.errmsg);
	cr_expect(tu_inflates_to(out, req.bytes_out, in, len), "%s: wrong bytes", devices);
	cr_expect_str_eq(s.thread, want_thread, "%s: completed on %s", devices, s.thread);
	free(in);
	free(out);
}

Test(express, a_card_completes_a_one_chunk_request_on_its_worker_and_a_failed_one_on_the_service_thread)
{
	one_request("sim:1", "ory:sim0");
	/* Fails every try: the reserve CPU workers run it last, and the service thread commits */
	one_request("fault:sim:1?fail=1,seed=1", "ory:service");
}

/* ---- many threads through faulty cards, with cancels ------------------------------------- */

struct client {
	struct ory_runtime *rt;
	unsigned id, n;
	int bad;
	char why[400];
	unsigned cancelled, ok, failed;
};

struct one {
	struct ory_request req;
	uint8_t *in, *out;
	size_t len;
	bool cancel;
	int polled;
};

static void check(struct client *cl, struct one *o)
{
	struct ory_request *r = &o->req;
	const char *bad = NULL;
	if (++o->polled != 1)
		bad = "completed twice";
	else if (r->status == 0 && !tu_inflates_to(o->out, r->bytes_out, o->in, o->len))
		bad = "output does not inflate to the input";
	else if (r->status == -ECANCELED && !o->cancel)
		bad = "cancelled without a cancel";
	else if (r->status < 0 && r->status != -ECANCELED && r->origin != ORY_ORIGIN_DEVICE)
		bad = "failed, not for its devices";
	if (bad && !cl->bad++)
		snprintf(cl->why, sizeof(cl->why), "%zu bytes: %s (%d %s)", o->len, bad, r->status,
			 r->errmsg);
	cl->ok += r->status == 0;
	cl->cancelled += r->status == -ECANCELED;
	cl->failed += r->status < 0 && r->status != -ECANCELED;
}

static void *client_main(void *arg)
{
	enum { DEPTH = 3 };
	struct client *cl = arg;
	struct ory_queue *q;
	if (ory_queue_create(cl->rt, &q) < 0) {
		cl->bad++;
		return NULL;
	}
	struct one *all = calloc(cl->n, sizeof(*all));
	unsigned seed = cl->id * 7919 + 11, sent = 0, done = 0;
	while (done < cl->n) {
		while (sent < cl->n && sent - done < DEPTH) {
			struct one *o = &all[sent];
			o->len = (size_t)(rand_r(&seed) % (64 * KiB)) + 1;
			o->in = tu_text(o->len, cl->id * 1000 + sent);
			size_t cap = ory_gzip_bound(cl->rt, o->len);
			o->out = malloc(cap);
			o->cancel = sent % 5 == 2;
			tu_deflate_request(&o->req, o->in, o->len, o->out, cap);
			o->req.cookie = o;
			int rc;
			while ((rc = ory_submit(cl->rt, q, &o->req)) == -EAGAIN)
				usleep(100);
			if (rc < 0 && !cl->bad++)
				snprintf(cl->why, sizeof(cl->why), "submit: %d %s", rc, o->req.errmsg);
			if (o->cancel)
				ory_cancel(cl->rt, &o->req);
			sent++;
		}
		struct ory_request *got[DEPTH];
		int n = ory_queue_poll(q, got, DEPTH, 5000);
		if (n <= 0) {
			if (!cl->bad++)
				snprintf(cl->why, sizeof(cl->why), "no completion in 5 s (%u of %u)",
					 done, sent);
			break;
		}
		for (int i = 0; i < n; i++)
			check(cl, got[i]->cookie);
		done += (unsigned)n;
	}
	struct ory_request *extra;
	if (ory_queue_poll(q, &extra, 1, 0) != 0 && !cl->bad++)
		snprintf(cl->why, sizeof(cl->why), "a completion more than requests");
	ory_queue_destroy(q);
	for (unsigned i = 0; i < cl->n; i++) {
		free(all[i].in);
		free(all[i].out);
	}
	free(all);
	return NULL;
}

Test(express, many_threads_through_failing_hanging_lying_cards_with_cancels_complete_each_request_once,
     .timeout = 300)
{
	/* A hang only times out (200 ms): at 64 KiB a card takes well under 1 ms, even under TSan */
	struct ory_runtime *rt =
		make_rt("fault:sim:4?fail=0.1,corrupt=0.05,truncate=0.05,hang=0.03,seed=5+sim:1",
			32, 200);
	enum { THREADS = 4 };
	pthread_t t[THREADS];
	struct client cl[THREADS];
	for (unsigned i = 0; i < THREADS; i++) {
		cl[i] = (struct client){ .rt = rt, .id = i, .n = 60 };
		pthread_create(&t[i], NULL, client_main, &cl[i]);
	}
	unsigned ok = 0, cancelled = 0, failed = 0;
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		cr_expect_eq(cl[i].bad, 0, "client %u: %d bad, first: %s", i, cl[i].bad, cl[i].why);
		ok += cl[i].ok;
		cancelled += cl[i].cancelled;
		failed += cl[i].failed;
	}
	uint64_t failures = 0, timeouts = 0;
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		cr_assert_eq(ory_runtime_device_info(rt, i, &d), 0);
		failures += d.failures;
		timeouts += d.timeouts;
	}
	ory_runtime_destroy(rt);
	cr_expect_gt(ok, 120u, "%u of %u succeeded", ok, THREADS * 60);
	cr_expect_gt(failures, 0u, "the faulty cards never failed: the test tests nothing");
	cr_log_info("express under faults: %u ok, %u cancelled, %u failed; cards: %llu failures, "
		    "%llu timeouts", ok, cancelled, failed, (unsigned long long)failures,
		    (unsigned long long)timeouts);
}

/* n requests to deflate in[0, len), each into out[i] (allocated here) with its completions
 * counted in s[i]. */
static void submit_counted(struct ory_runtime *rt, int n, const uint8_t *in, size_t len,
			   uint8_t **out, struct ory_request *req, struct seen *s)
{
	size_t cap = ory_gzip_bound(rt, len);
	for (int i = 0; i < n; i++) {
		out[i] = malloc(cap);
		memset(&s[i], 0, sizeof(s[i]));
		tu_deflate_request(&req[i], in, len, out[i], cap);
		req[i].done = note_done;
		req[i].cookie = &s[i];
		cr_assert_eq(ory_submit(rt, NULL, &req[i]), 0, "%s", req[i].errmsg);
	}
}

/* A slow card: 16 MB/s, so 64 KiB takes 4 ms. */
#define SLOW "sim:1?mbps=16,dma_mbps=0,latency_us=0"

Test(express, cancel_and_destroy_end_one_chunk_requests_on_a_busy_card_exactly_once)
{
	enum { N = 12 };
	struct ory_runtime *rt = make_rt(SLOW, 16, 0);
	size_t len = 64 * KiB;
	uint8_t *in = tu_random(len, 9), *out[N];
	struct ory_request req[N];
	struct seen s[N];
	submit_counted(rt, N, in, len, out, req, s);
	/* The card's two slots hold the first two; the next two wait in its queue, express
	 * too (four slots set aside), and must end without ever reaching the card. */
	cr_expect_eq(ory_cancel(rt, &req[2]), 0);
	cr_expect_eq(ory_cancel(rt, &req[3]), 0);
	wait_calls(&s[3].calls, 1);
	wait_calls(&s[0].calls, 1);
	ory_runtime_destroy(rt);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(atomic_load(&s[i].calls), 1, "request %d: completions", i);
		if (i == 2 || i == 3)
			cr_expect_eq(req[i].status, -ECANCELED, "request %d: %d %s", i, req[i].status,
				     req[i].errmsg);
		else if (req[i].status == 0)
			cr_expect(tu_inflates_to(out[i], req[i].bytes_out, in, len), "request %d", i);
		else
			cr_expect_eq(req[i].status, -ECANCELED, "request %d: %s", i, req[i].errmsg);
		free(out[i]);
	}
	cr_expect_eq(req[0].status, 0, "the first request was on the card: %s", req[0].errmsg);
	free(in);
}

/* A card that hangs on everything: destroy aborts it, and every request, on the card or queued
 * behind it, completes once, cancelled, without waiting for a watchdog. */
Test(express, destroy_ends_one_chunk_requests_held_by_a_hung_card_at_once)
{
	enum { N = 6 };
	struct ory_runtime *rt = make_rt("fault:sim:1?hang=1,seed=1", 16, 60000);
	size_t len = 32 * KiB;
	uint8_t *in = tu_text(len, 4), *out[N];
	struct ory_request req[N];
	struct seen s[N];
	submit_counted(rt, N, in, len, out, req, s);
	usleep(20000); /* the card takes its two and hangs */
	double t0 = tu_now_s();
	ory_runtime_destroy(rt);
	double took = tu_now_s() - t0;
	cr_expect_lt(took, 10.0, "destroy took %.1f s: it waited for a watchdog of 60 s", took);
	for (int i = 0; i < N; i++) {
		cr_expect_eq(atomic_load(&s[i].calls), 1, "request %d: completions", i);
		cr_expect_eq(req[i].status, -ECANCELED, "request %d: %d %s", i, req[i].status,
			     req[i].errmsg);
		free(out[i]);
	}
	free(in);
}
