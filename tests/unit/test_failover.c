/* SPDX-License-Identifier: MIT */
/* test_failover.c - devices that fail, hang, lie or die: every chunk is committed exactly once
 * and the output equals the fault-free output, or the job fails cleanly. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define CHUNK (32 * 1024)
#define LEN (24 * CHUNK + 1000)

static uint8_t *input;
static uint8_t *reference;
static size_t reference_len;

struct job_result {
	int rc;
	uint8_t *out;
	size_t len;
	struct ory_job_stats st;
	struct ory_device_info dev[16];
	unsigned ndev;
	char msg[512];
	enum ory_error_origin origin;
};

static struct job_result run(const char *devices, unsigned watchdog_ms, bool fallback,
			     enum ory_verify verify)
{
	struct job_result r;
	memset(&r, 0, sizeof(r));
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = CHUNK;
	o.watchdog_ms = watchdog_ms;
	o.fallback_cpu = fallback;
	o.verify = verify;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s: %s", devices, err);
	size_t cap = ory_gzip_bound(rt, LEN);
	r.out = malloc(cap);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	r.st.struct_size = sizeof(r.st);
	r.rc = ory_gzip_buf(rt, input, LEN, r.out, cap, &r.len, &g, &r.st);
	snprintf(r.msg, sizeof(r.msg), "%s", ory_runtime_errmsg(rt));
	r.origin = ory_runtime_error_origin(rt);
	r.ndev = ory_runtime_device_count(rt);
	for (unsigned i = 0; i < r.ndev && i < 16; i++) {
		r.dev[i].struct_size = sizeof(r.dev[i]);
		ory_runtime_device_info(rt, i, &r.dev[i]);
	}
	ory_runtime_destroy(rt);
	return r;
}

static bool same_as_reference(const struct job_result *r)
{
	return r->len == reference_len && !memcmp(r->out, reference, reference_len);
}

static void setup(void)
{
	input = tu_text(LEN, 2024);
	struct job_result r = run("cpu:1", 0, true, ORY_VERIFY_NONE);
	cr_assert_eq(r.rc, 0);
	reference = r.out;
	reference_len = r.len;
}

static void teardown(void)
{
	free(input);
	free(reference);
}

TestSuite(failover, .init = setup, .fini = teardown, .timeout = 300);

static const struct ory_device_info *dev(const struct job_result *r, const char *name)
{
	for (unsigned i = 0; i < r->ndev; i++)
		if (!strcmp(r->dev[i].name, name))
			return &r->dev[i];
	cr_assert_fail("no device %s", name);
	return NULL;
}

Test(failover, failed_chunks_go_to_another_device_and_the_output_is_unchanged)
{
	/* fault0 is the only device until it is quarantined; then the reserve CPUs take over */
	struct job_result r = run("fault:cpu:1?fail=1", 0, true, ORY_VERIFY_AUTO);
	cr_assert_eq(r.rc, 0, "%s", r.msg);
	cr_expect(same_as_reference(&r));
	const struct ory_device_info *f = dev(&r, "fault0");
	cr_expect_eq(f->chunks, 0);
	cr_expect(f->quarantined, "a device failing every chunk is quarantined");
	/* the device may take a few chunks more while its failures are on their way */
	cr_expect_geq(f->failures, 3);
	uint64_t cpu = dev(&r, "cpu0")->chunks + dev(&r, "cpu1")->chunks;
	uint64_t retried = dev(&r, "cpu0")->retries + dev(&r, "cpu1")->retries;
	cr_expect_eq(cpu, 25);
	cr_expect_geq(retried, 1);
	cr_expect_leq(retried, f->failures);
	free(r.out);
}

Test(failover, verification_catches_corrupt_and_truncated_output)
{
	const char *specs[] = { "fault:cpu:1?corrupt=1", "fault:cpu:1?truncate=1" };
	for (int i = 0; i < 2; i++) {
		struct job_result r = run(specs[i], 0, true, ORY_VERIFY_AUTO);
		cr_assert_eq(r.rc, 0, "%s: %s", specs[i], r.msg);
		cr_expect(same_as_reference(&r), "%s", specs[i]);
		cr_expect(dev(&r, "fault0")->quarantined, "%s: %llu failures, %llu chunks", specs[i],
			  (unsigned long long)dev(&r, "fault0")->failures,
			  (unsigned long long)dev(&r, "fault0")->chunks);
		free(r.out);
	}
}

Test(failover, without_verification_a_lying_device_corrupts_the_output)
{
	/* the control for the test above: it is verification that saves the output */
	struct job_result r = run("fault:cpu:1?corrupt=1", 0, false, ORY_VERIFY_NONE);
	cr_assert_eq(r.rc, 0, "%s", r.msg);
	cr_expect_not(same_as_reference(&r));
	free(r.out);
}

Test(failover, a_hung_chunk_is_rescued_by_the_watchdog_and_its_device_quarantined)
{
	struct job_result r = run("fault:cpu:1?hang=1", 50, true, ORY_VERIFY_AUTO);
	cr_assert_eq(r.rc, 0, "%s", r.msg);
	cr_expect(same_as_reference(&r));
	const struct ory_device_info *f = dev(&r, "fault0");
	cr_expect_eq(f->timeouts, 1);
	cr_expect(f->quarantined);
	cr_expect_eq(f->chunks, 0);
	cr_expect_eq(r.st.chunks, 25);
	free(r.out);
}

Test(failover, a_late_answer_after_a_timeout_is_dropped_and_nothing_is_committed_twice)
{
	struct job_result r = run("fault:cpu:1?slow=1,slow_ms=300", 40, true, ORY_VERIFY_AUTO);
	cr_assert_eq(r.rc, 0, "%s", r.msg);
	cr_expect(same_as_reference(&r));
	cr_expect_eq(r.st.chunks, 25, "each chunk committed once");
	cr_expect_eq(dev(&r, "fault0")->chunks, 0, "the late answer must not be committed");
	cr_expect_eq(dev(&r, "fault0")->timeouts, 1);
	free(r.out);
}

Test(failover, cpu_workers_finish_when_every_card_is_gone)
{
	struct job_result r = run("fault:cpu:2?die_after=2", 0, true, ORY_VERIFY_AUTO);
	cr_assert_eq(r.rc, 0, "%s", r.msg);
	cr_expect(same_as_reference(&r));
	cr_expect(dev(&r, "fault0")->quarantined && dev(&r, "fault1")->quarantined);
	cr_expect(dev(&r, "cpu0")->reserve);
	cr_expect_gt(dev(&r, "cpu0")->chunks + dev(&r, "cpu1")->chunks, 0);
	free(r.out);
}

Test(failover, without_fallback_the_job_fails_cleanly_when_every_device_is_gone)
{
	struct job_result r = run("fault:cpu:2?die_after=2", 0, false, ORY_VERIFY_AUTO);
	cr_expect_lt(r.rc, 0);
	cr_expect_eq(r.origin, ORY_ORIGIN_DEVICE);
	cr_expect(strstr(r.msg, "no healthy device left"), "%s", r.msg);
	free(r.out);
}

Test(failover, bad_fault_specs_are_rejected)
{
	const char *bad[] = { "fault:", "fault:nope", "fault:cpu?fail=x", "fault:cpu?fail=0.6,hang=0.6",
			      "fault:cpu?color=red", "fault:fault:cpu" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ory_runtime_opts o;
		ory_runtime_opts_init(&o);
		o.devices = bad[i];
		struct ory_runtime *rt;
		cr_expect_eq(ory_runtime_create(&o, &rt, NULL, 0), -EINVAL, "%s", bad[i]);
	}
}

/* Many seeded schedules over mixed specs and device counts: the job either produces exactly
 * the fault-free bytes or fails with a device error. ORY_FAULT_SCHEDULES overrides the count
 * (bench/stress-faults runs 10,000). */
Test(failover, random_fault_schedules_never_change_the_output)
{
	static const char *specs[] = {
		"fault:cpu:2?fail=0.2,seed=%u",
		"fault:cpu:3?corrupt=0.15,truncate=0.1,seed=%u",
		"fault:cpu:2?hang=0.04,fail=0.1,seed=%u",
		"fault:cpu:1?die_after=4,seed=%u+fault:cpu:2?fail=0.15,corrupt=0.1,seed=%u",
		"fault:cpu:4?fail=0.4,hang=0.02,corrupt=0.1,truncate=0.05,seed=%u",
		"fault:cpu:2?slow=0.05,slow_ms=60,fail=0.1,seed=%u+cpu:1",
		"fault:cpu:8?fail=0.5,seed=%u",
	};
	const char *env = getenv("ORY_FAULT_SCHEDULES");
	unsigned n = env ? (unsigned)atoi(env) : 500, ok = 0, failed = 0;
	for (unsigned seed = 0; seed < n; seed++) {
		char spec[256];
		const char *fmt = specs[seed % (sizeof(specs) / sizeof(specs[0]))];
		snprintf(spec, sizeof(spec), fmt, seed, seed);
		bool fallback = (seed / 7) % 2 == 0;
		struct job_result r = run(spec, 30, fallback, ORY_VERIFY_AUTO);
		if (r.rc == 0) {
			if (!same_as_reference(&r)) {
				size_t at = 0;
				while (at < r.len && at < reference_len && r.out[at] == reference[at])
					at++;
				char why[160] = "the data is right: the same data encoded otherwise";
				tu_gzip_is_member_of(r.out, r.len, input, LEN, why, sizeof(why));
				cr_assert_fail("seed %u, %s: output differs: %zu bytes (want %zu), first "
					       "difference at byte %zu; %s", seed, spec, r.len,
					       reference_len, at, why);
			}
			cr_assert_eq(r.st.chunks, 25, "seed %u: %llu chunks committed", seed,
				     (unsigned long long)r.st.chunks);
			ok++;
		} else {
			cr_assert_eq(r.origin, ORY_ORIGIN_DEVICE, "seed %u, %s: %s", seed, spec, r.msg);
			cr_assert(r.msg[0], "seed %u: a failure without a message", seed);
			failed++;
		}
		free(r.out);
	}
	cr_expect_gt(ok, n / 2, "%u of %u schedules succeeded", ok, n);
	cr_log_info("%u schedules: %u identical outputs, %u clean failures", n, ok, failed);
}

/* The same on simulated cards (two slots each, so a worker waits in reap_or_work for its
 * free slot while a chunk runs, hangs or fails): without CPU workers every chunk is a card's,
 * so the output equals the fault-free cards' or the job fails cleanly. */
Test(failover, random_fault_schedules_on_cards_with_a_free_slot_never_change_the_output)
{
	static const char *specs[] = {
		"fault:sim:2?fail=0.2,seed=%u",
		"fault:sim:3?corrupt=0.15,truncate=0.1,seed=%u",
		"fault:sim:2?hang=0.05,fail=0.1,seed=%u",
		"fault:sim:2?fail=0.15,corrupt=0.1,seed=%u+sim:1",
		"fault:sim:4?fail=0.3,hang=0.03,corrupt=0.1,seed=%u",
	};
	struct job_result want = run("sim:1", 30, false, ORY_VERIFY_AUTO);
	cr_assert_eq(want.rc, 0, "%s", want.msg);
	unsigned n = 100, ok = 0;
	for (unsigned seed = 0; seed < n; seed++) {
		char spec[256];
		snprintf(spec, sizeof(spec), specs[seed % (sizeof(specs) / sizeof(specs[0]))], seed);
		struct job_result r = run(spec, 30, false, ORY_VERIFY_AUTO);
		if (r.rc == 0) {
			cr_assert(r.len == want.len && !memcmp(r.out, want.out, want.len),
				  "seed %u, %s: output differs from the fault-free cards'", seed, spec);
			ok++;
		} else {
			cr_assert_eq(r.origin, ORY_ORIGIN_DEVICE, "seed %u, %s: %s", seed, spec, r.msg);
		}
		free(r.out);
	}
	free(want.out);
	cr_expect_gt(ok, n / 2, "%u of %u schedules succeeded", ok, n);
	cr_log_info("%u schedules on cards: %u identical outputs", n, ok);
}

/* A one-chunk input at level 6 ends in libdeflate's final block (gzip_chunk_ends): a chunk that
 * fails, hangs or lies and runs again elsewhere must still end the stream, and the bytes must
 * not change. Exactly one chunk, and one chunk less a byte. */
Test(failover, a_one_chunk_input_ends_alike_through_faults)
{
	static const char *specs[] = {
		"fault:cpu:2?fail=0.5,seed=%u",
		"fault:cpu:2?corrupt=0.3,truncate=0.2,seed=%u",
		"fault:cpu:2?hang=0.3,fail=0.2,seed=%u",
	};
	size_t lens[] = { CHUNK, CHUNK - 1 };
	uint64_t failures = 0;
	for (unsigned k = 0; k < 2; k++) {
		uint8_t *want = NULL;
		size_t want_len = 0;
		for (unsigned seed = 0; seed <= 60; seed++) {
			char spec[128];
			snprintf(spec, sizeof(spec), specs[seed % 3], seed);
			struct ory_runtime_opts o;
			ory_runtime_opts_init(&o);
			o.devices = seed ? spec : "cpu:1"; /* seed 0: the fault-free reference */
			o.chunk_size = CHUNK;
			o.watchdog_ms = 30;
			struct ory_runtime *rt;
			char err[256];
			cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
			size_t cap = ory_gzip_bound(rt, lens[k]), n;
			uint8_t *out = malloc(cap);
			int rc = ory_gzip_buf(rt, input, lens[k], out, cap, &n, NULL, NULL);
			cr_assert_eq(rc, 0, "seed %u, %s: %s", seed, spec, ory_runtime_errmsg(rt));
			for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
				struct ory_device_info d = { .struct_size = sizeof(d) };
				ory_runtime_device_info(rt, i, &d);
				failures += d.failures;
			}
			ory_runtime_destroy(rt);
			if (!want) {
				want = out;
				want_len = n;
				char why[160];
				cr_assert(tu_gzip_is_member_of(out, n, input, lens[k], why, sizeof(why)),
					  "%s", why);
				continue;
			}
			cr_expect(n == want_len && !memcmp(out, want, n),
				  "%zu bytes, seed %u, %s: %zu bytes of output, not the %zu without faults",
				  lens[k], seed, spec, n, want_len);
			free(out);
		}
		free(want);
	}
	cr_log_info("%llu chunk failures", (unsigned long long)failures);
	cr_expect_gt(failures, 20, "%llu chunks failed: the faults did not reach the chunks",
		     (unsigned long long)failures);
}
